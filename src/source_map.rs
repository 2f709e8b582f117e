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
        let upto = &text[..(span.start as usize).min(text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }
}
