//! Source files and spans. Every span names its file, so a diagnostic found
//! while checking an imported module points into the right text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FileId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to users (relative where possible).
    pub name: String,
    /// The path on disk, or `None` for built-in and in-memory sources.
    pub path: Option<PathBuf>,
    pub text: Arc<str>,
}

/// All texts loaded in one invocation.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Hides the text of `span` (a secret written in a file) from every
    /// excerpt a report shows: its characters become `*`, quotes kept, byte
    /// offsets unchanged.
    pub fn mask(&mut self, span: Span) {
        let Some(file) = self.files.get_mut(span.file.0 as usize) else {
            return;
        };
        let text = &file.text;
        let (mut start, mut end) = (span.start as usize, (span.end as usize).min(text.len()));
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) || start >= end {
            return;
        }
        let inner = &text[start..end];
        if inner.len() >= 2 && inner.starts_with('"') && inner.ends_with('"') {
            start += 1;
            end -= 1;
        }
        let mut masked = String::with_capacity(text.len());
        masked.push_str(&text[..start]);
        masked.extend(std::iter::repeat_n('*', end - start));
        masked.push_str(&text[end..]);
        file.text = masked.into();
    }

    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(
        &mut self,
        name: impl Into<String>,
        path: Option<PathBuf>,
        text: impl Into<Arc<str>>,
    ) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            path,
            text: text.into(),
        });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find_path(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path.as_deref() == Some(path))
            .map(|i| FileId(i as u32))
    }

    pub fn find_name(&self, name: &str) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .map(|i| FileId(i as u32))
    }

    pub fn slice(&self, span: Span) -> &str {
        self.get(span.file).text.get(span.range()).unwrap_or("")
    }

    /// 1-based line and column of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let text = &self.get(span.file).text;
        line_col_after(&text[..(span.start as usize).min(text.len())])
    }
}

/// The 1-based line and column (in characters) just after `upto`.
fn line_col_after(upto: &str) -> (usize, usize) {
    let line = upto.matches('\n').count() + 1;
    let col = upto
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// What some editors and tools put before UTF-8 text.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads a text file that people edit (a `.flow` file, a table file,
/// `flowc.toml`): UTF-8, past a byte order mark if it starts with one
/// (Windows editors write them). Text that is not UTF-8 is an
/// `InvalidData` error that says where.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let mut bytes = std::fs::read(path)?;
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
        let (line, column) = line_col_after(valid);
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (byte 0x{:02X} at line {line}, column {column}); save the file as UTF-8",
                bytes[good]
            ),
        )
    })
}

#[cfg(test)]
mod read_text_tests {
    use super::read_text;

    #[test]
    fn skips_a_byte_order_mark_and_says_where_text_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let bom = dir.path().join("bom.flow");
        std::fs::write(&bom, b"\xEF\xBB\xBFflow f {}\n").unwrap();
        assert_eq!(read_text(&bom).unwrap(), "flow f {}\n");
        let latin1 = dir.path().join("latin1.flow");
        std::fs::write(&latin1, b"flow f {\n  \"Caf\xE9\" -> Name\n}\n").unwrap();
        let err = read_text(&latin1).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "not UTF-8 text (byte 0xE9 at line 2, column 7); save the file as UTF-8"
        );
    }
}
