//! The file connector: records from JSON arrays, NDJSON and CSV; records to
//! NDJSON or a JSON array. Reading streams record by record (NDJSON and CSV
//! never hold more than one record, nor does a JSON array: its elements are
//! cut out of the file one at a time), so memory does not grow with the
//! count or the file's size.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use super::{Appender, Connector, ConnectorError, ErrorClass, ListQuery, ListStats};
use crate::program::FileFormat;
use crate::types::{Kind, RecordType};
use crate::value::json::{self, Decoder};
use crate::value::{Record, Value};

/// One input record, or the reason it could not be read.
pub struct SourceItem {
    /// 1-based line (NDJSON, CSV) or element number (JSON array).
    pub position: usize,
    pub record: Result<Value, String>,
}

/// Reads every record of a file, calling `f` for each; `f` returns false to stop.
pub fn read_records(
    path: &Path,
    format: FileFormat,
    schema: Option<&RecordType>,
    f: impl FnMut(SourceItem) -> bool,
) -> std::io::Result<()> {
    read_records_projected(path, format, schema, None, f)
}

/// Like [`read_records`], decoding only the top-level fields in `fields`
/// from JSON input (`None`: all). Error positions and messages are unchanged.
pub fn read_records_projected(
    path: &Path,
    format: FileFormat,
    schema: Option<&RecordType>,
    fields: Option<&crate::value::names::NameSet>,
    mut f: impl FnMut(SourceItem) -> bool,
) -> std::io::Result<()> {
    let keep = |k: &str| fields.is_none_or(|set| set.contains(k));
    let mut reader = open_text(path)?;
    match format {
        FileFormat::Ndjson => {
            let mut decoder = Decoder::new();
            let mut line = Vec::new();
            let mut n = 0;
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                n += 1;
                let trimmed = line.trim_ascii();
                if trimmed.is_empty() {
                    continue;
                }
                let record = decoder
                    .decode_projected(trimmed, &keep)
                    .map_err(|e| format!("line {n} is not valid JSON: {e}"));
                if !f(SourceItem {
                    position: n,
                    record,
                }) {
                    break;
                }
            }
        }
        FileFormat::Json => {
            let mut decoder = Decoder::new();
            array_elements(reader, |position, element| {
                let record = element.and_then(|bytes| {
                    decoder
                        .decode_projected(&bytes, &keep)
                        .map_err(|e| format!("element {position} is not valid JSON: {e}"))
                });
                f(SourceItem { position, record })
            })?;
        }
        FileFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(reader);
            let headers: Vec<Arc<str>> = match reader.headers() {
                Ok(h) => h.iter().map(Arc::from).collect(),
                Err(e) => {
                    f(SourceItem {
                        position: 1,
                        record: Err(format!("the CSV header is unreadable: {e}")),
                    });
                    return Ok(());
                }
            };
            for (i, row) in reader.records().enumerate() {
                let position = i + 2;
                let record = row
                    .map_err(|e| format!("line {position}: {e}"))
                    .and_then(|row| {
                        let mut r = Record::with_capacity(headers.len());
                        for (h, cell) in headers.iter().zip(row.iter()) {
                            r.insert(
                                h.clone(),
                                csv_cell(
                                    cell,
                                    schema.and_then(|s| s.field(h)).map(|f| &f.ty.kind),
                                    h,
                                )?,
                            );
                        }
                        Ok(Value::record(r))
                    });
                if !f(SourceItem { position, record }) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Opens a text file for reading, past a UTF-8 byte order mark if it
/// starts with one (Windows tools write them; they are not part of the
/// first record).
pub fn open_text(path: &Path) -> std::io::Result<BufReader<File>> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    if reader.fill_buf()?.starts_with(crate::source_map::UTF8_BOM) {
        reader.consume(crate::source_map::UTF8_BOM.len());
    }
    Ok(reader)
}

/// Cuts a JSON array out of `file` one element at a time, handing each
/// element's bytes (or why the array is malformed there, after which
/// reading stops) with its 1-based position to `each`, which returns false
/// to stop. Only one element is in memory at a time.
pub fn array_elements(
    file: impl BufRead,
    mut each: impl FnMut(usize, Result<Vec<u8>, String>) -> bool,
) -> std::io::Result<()> {
    let mut bytes = std::io::Read::bytes(file);
    let mut next = || bytes.next().transpose();
    fn skip_ws(
        mut b: Option<u8>,
        next: &mut impl FnMut() -> std::io::Result<Option<u8>>,
    ) -> std::io::Result<Option<u8>> {
        while b.is_some_and(|c| c.is_ascii_whitespace()) {
            b = next()?;
        }
        Ok(b)
    }
    let first = next()?;
    if skip_ws(first, &mut next)? != Some(b'[') {
        each(
            1,
            Err("a JSON file must hold one array of records (`[{…}, {…}]`)".into()),
        );
        return Ok(());
    }
    let mut position = 0;
    let mut element = Vec::new();
    // Nesting inside the element, and whether we are inside a string.
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut empty_array = true;
    loop {
        let Some(b) = next()? else {
            each(
                position + 1,
                Err("the JSON array is not closed with `]`".into()),
            );
            return Ok(());
        };
        if in_string {
            element.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b',' | b']' if depth == 0 => {
                let trimmed = element.trim_ascii();
                let closing_empty = b == b']' && empty_array && trimmed.is_empty();
                if !closing_empty {
                    position += 1;
                    let item = if trimmed.is_empty() {
                        Err(format!("element {position} of the JSON array is empty"))
                    } else {
                        Ok(trimmed.to_vec())
                    };
                    let failed = item.is_err();
                    if !each(position, item) || failed {
                        return Ok(());
                    }
                }
                element.clear();
                empty_array = false;
                if b == b']' {
                    let rest = next()?;
                    if skip_ws(rest, &mut next)?.is_some() {
                        each(
                            position + 1,
                            Err("unexpected text after the JSON array".into()),
                        );
                    }
                    return Ok(());
                }
            }
            b'{' | b'[' => {
                depth += 1;
                element.push(b);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                element.push(b);
            }
            b'"' => {
                in_string = true;
                element.push(b);
            }
            _ => element.push(b),
        }
    }
}

/// CSV cells are text; the source schema says which ones are numbers or booleans.
fn csv_cell(cell: &str, kind: Option<&Kind>, column: &str) -> Result<Value, String> {
    if cell.is_empty() {
        return Ok(Value::Null);
    }
    match kind {
        Some(Kind::Int | Kind::Decimal) => crate::value::parse::parse_decimal(cell)
            .map(Value::Num)
            .map_err(|e| format!("column `{column}`: {e}")),
        Some(Kind::Bool) => match cell.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            other => Err(format!("column `{column}`: {other:?} is not a boolean")),
        },
        _ => Ok(Value::str(cell)),
    }
}

/// Writes records as they are produced.
pub struct RecordWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    format: FileFormat,
    count: usize,
    buf: String,
}

impl RecordWriter {
    pub fn create(path: &Path, format: FileFormat) -> std::io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file: Box<dyn Write + Send> = Box::new(File::create(path)?);
        Self::new(file, format)
    }

    pub fn new(out: Box<dyn Write + Send>, format: FileFormat) -> std::io::Result<Self> {
        if format == FileFormat::Csv {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "writing CSV is not supported; use .ndjson or .json",
            ));
        }
        let mut w = RecordWriter {
            out: BufWriter::with_capacity(1 << 16, out),
            format,
            count: 0,
            buf: String::new(),
        };
        if format == FileFormat::Json {
            w.out.write_all(b"[")?;
        }
        Ok(w)
    }

    pub fn write(&mut self, record: &Value) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        json::write(record, &mut buf);
        let r = self.write_raw(&buf);
        self.buf = buf;
        r
    }

    /// Writes a record already serialised as compact JSON.
    pub fn write_raw(&mut self, json: &str) -> std::io::Result<()> {
        if self.format == FileFormat::Json {
            self.out
                .write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
            self.out.write_all(json.as_bytes())?;
        } else {
            self.out.write_all(json.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.count += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<usize> {
        if self.format == FileFormat::Json {
            self.out
                .write_all(if self.count == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.count)
    }
}

/// A file as a connector: read as a source (NDJSON lines are handed to the
/// engine undecoded, so its workers decode them in parallel), appended to as
/// a target (a fresh output every run: file records have no identity).
pub struct FileConnector {
    path: std::path::PathBuf,
    display: String,
    format: FileFormat,
    /// Types CSV cells (numbers and booleans) when the source is typed.
    schema: Option<Arc<RecordType>>,
    writer: std::sync::Mutex<Option<RecordWriter>>,
}

impl FileConnector {
    pub fn new(
        path: std::path::PathBuf,
        display: String,
        format: FileFormat,
        schema: Option<Arc<RecordType>>,
    ) -> Self {
        FileConnector {
            path,
            display,
            format,
            schema,
            writer: std::sync::Mutex::new(None),
        }
    }

    fn io_error(&self, verb: &str, e: std::io::Error) -> ConnectorError {
        ConnectorError::new(
            ErrorClass::Io,
            format!("cannot {verb} {}: {e}", self.display),
        )
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Option<RecordWriter>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unsupported(&self, what: &str) -> ConnectorError {
        ConnectorError::new(
            ErrorClass::Config,
            format!(
                "{} is a file: records in it have no id to {what}",
                self.display
            ),
        )
    }
}

impl Connector for FileConnector {
    fn spec(&self) -> &'static super::ConnectorSpec {
        &SPEC
    }

    fn list(
        &self,
        _resource: &str,
        query: &ListQuery,
        each: &mut dyn FnMut(Value) -> Result<bool, ConnectorError>,
    ) -> Result<ListStats, ConnectorError> {
        let mut stats = ListStats {
            pages: 1,
            records: 0,
        };
        let mut failure = None;
        read_records(&self.path, self.format, self.schema.as_deref(), |item| {
            let Ok(record) = item.record else {
                return true;
            };
            if !query.filters.iter().all(|f| f.matches(&record)) {
                return true;
            }
            stats.records += 1;
            match each(record) {
                Ok(go_on) => go_on,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })
        .map_err(|e| self.io_error("read", e))?;
        failure.map_or(Ok(stats), Err)
    }

    fn read(
        &self,
        _resource: &str,
        _query: &ListQuery,
        each: &mut dyn FnMut(super::ReadItem) -> bool,
    ) -> Result<(), ConnectorError> {
        use super::{Raw, ReadItem};
        if self.format == FileFormat::Json {
            // Elements go to the workers undecoded, like NDJSON lines.
            let file = open_text(&self.path).map_err(|e| self.io_error("read", e))?;
            return array_elements(file, |position, element| {
                each(ReadItem {
                    position,
                    raw: match element {
                        Ok(bytes) => Raw::Json(bytes),
                        Err(why) => Raw::Unreadable(why),
                    },
                })
            })
            .map_err(|e| self.io_error("read", e));
        }
        if self.format == FileFormat::Ndjson {
            let mut reader = open_text(&self.path).map_err(|e| self.io_error("read", e))?;
            let mut position = 0;
            loop {
                let mut line = Vec::new();
                if reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| self.io_error("read", e))?
                    == 0
                {
                    return Ok(());
                }
                position += 1;
                if line.trim_ascii().is_empty() {
                    continue;
                }
                if !each(ReadItem {
                    position,
                    raw: Raw::Json(line),
                }) {
                    return Ok(());
                }
            }
        }
        read_records(&self.path, self.format, self.schema.as_deref(), |item| {
            each(ReadItem {
                position: item.position,
                raw: match item.record {
                    Ok(v) => Raw::Record(v),
                    Err(why) => Raw::Unreadable(why),
                },
            })
        })
        .map_err(|e| self.io_error("read", e))
    }

    fn get(&self, _resource: &str, _id: &str) -> Result<Option<Value>, ConnectorError> {
        Err(self.unsupported("read by"))
    }

    fn find(
        &self,
        _resource: &str,
        _field: &str,
        _value: &Value,
    ) -> Result<Vec<Value>, ConnectorError> {
        Err(self.unsupported("search by"))
    }

    fn create(&self, _resource: &str, record: &Record) -> Result<Value, ConnectorError> {
        self.append(&self.encode(record))?;
        Ok(Value::record(record.clone()))
    }

    fn update(
        &self,
        _resource: &str,
        _id: &str,
        _changes: &Record,
        _current: Option<&Record>,
    ) -> Result<Value, ConnectorError> {
        Err(self.unsupported("update by"))
    }

    fn stats(&self) -> super::CallStats {
        super::CallStats::default()
    }

    fn appender(&self) -> Option<&dyn Appender> {
        Some(self)
    }
}

impl Appender for FileConnector {
    fn start(&self) -> Result<(), ConnectorError> {
        let writer =
            RecordWriter::create(&self.path, self.format).map_err(|e| self.io_error("write", e))?;
        *self.writer() = Some(writer);
        Ok(())
    }

    fn encode(&self, record: &Record) -> String {
        let mut out = String::new();
        json::write(&Value::record(record.clone()), &mut out);
        out
    }

    fn append(&self, encoded: &str) -> Result<(), ConnectorError> {
        match self.writer().as_mut() {
            Some(w) => w.write_raw(encoded).map_err(|e| self.io_error("write", e)),
            None => Err(ConnectorError::new(
                ErrorClass::Config,
                format!("{} was not opened for writing", self.display),
            )),
        }
    }

    fn finish(&self) -> Result<u64, ConnectorError> {
        match self.writer().take() {
            Some(w) => w
                .finish()
                .map(|n| n as u64)
                .map_err(|e| self.io_error("finish", e)),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ndjson_with_bad_lines_reported_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.ndjson");
        std::fs::write(&p, "{\"a\":1}\n\nnot json\n{\"a\":0.1}\n").unwrap();
        let mut seen = vec![];
        read_records(&p, FileFormat::Ndjson, None, |item| {
            seen.push((item.position, item.record.map(|v| json::to_string(&v))));
            true
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (1, Ok("{\"a\":1}".to_string())));
        assert!(seen[1].1.as_ref().unwrap_err().starts_with("line 3"));
        assert_eq!(seen[2], (4, Ok("{\"a\":0.1}".to_string())));
    }

    #[test]
    fn writes_json_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        let mut w = RecordWriter::create(&p, FileFormat::Json).unwrap();
        w.write(&json::parse("{\"a\":1}").unwrap()).unwrap();
        w.write(&json::parse("{\"a\":2}").unwrap()).unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        let back = json::parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(json::to_string(&back), "[{\"a\":1},{\"a\":2}]");
    }
}

pub static SPEC: super::ConnectorSpec = super::ConnectorSpec {
    name: "file",
    doc: "Records in one local file: read from JSON, NDJSON or CSV; as a target, written afresh every run",
    settings: &[super::registry::SettingSpec::new(
        "path",
        super::registry::SettingType::Text,
        "the file, relative to the working folder; its extension says the format (.json, .ndjson/.jsonl, .csv)",
    )
    .required()],
    schema_module: None,
    id_field: None,
    auth_help: "check that flowc may read and write the file at `path`",
    sign_in_probe: None,
    open: open_file,
    auth: None,
    sandbox: None,
};

/// A `connector "file"` connection: the file at `path`, its CSV cells typed
/// by the connection's schema when the module declares exactly one (a
/// file holds one kind of record).
fn open_file(
    ctx: &super::OpenContext<'_>,
) -> Result<Box<dyn super::Connector>, super::ConnectorError> {
    let path = ctx.settings.require("path")?;
    let format = FileFormat::from_path(path).ok_or_else(|| {
        super::ConnectorError::new(
            super::ErrorClass::Config,
            format!(
                "connection `{}`: cannot tell the format of {path:?}; name it .json, .ndjson, .jsonl or .csv",
                ctx.connection.name
            ),
        )
    })?;
    let schema = match ctx.schemas.values().collect::<Vec<_>>().as_slice() {
        [one] => Some(Arc::clone(one)),
        _ => None,
    };
    Ok(Box::new(FileConnector::new(
        std::path::PathBuf::from(path),
        path.to_string(),
        format,
        schema,
    )))
}

#[cfg(test)]
mod connection_tests {
    use super::*;
    use crate::connectors::{Filter, FilterOp, ListQuery, Settings};

    fn open(path: &Path, schemas: &[(&str, Arc<RecordType>)]) -> Box<dyn Connector> {
        let text = path.display().to_string();
        let settings = Settings::from_pairs(&SPEC, "archive", &[("path", &text)]).unwrap();
        let connection = crate::program::Connection {
            name: Arc::from("archive"),
            connector: Arc::from("file"),
            settings: vec![],
        };
        let schemas = schemas
            .iter()
            .map(|(name, ty)| (name.to_string(), ty.clone()))
            .collect();
        (SPEC.open)(&crate::connectors::OpenContext {
            connection: &connection,
            settings: &settings,
            state_dir: path.parent().unwrap(),
            schemas: &schemas,
        })
        .unwrap()
    }

    #[test]
    fn a_file_connection_reads_its_file_typed_by_its_one_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stock.csv");
        std::fs::write(&path, "sku,count\nA,3\nB,12\n").unwrap();
        let field = |name: &str, ty: crate::types::Type| crate::types::FieldType {
            name: name.into(),
            ty,
            optional: false,
            readonly: false,
            range: None,
            span: crate::source_map::Span::default(),
        };
        let stock = Arc::new(RecordType {
            name: Some("stock".into()),
            fields: vec![
                field("sku", crate::types::Type::string()),
                field("count", crate::types::Type::INT),
            ],
            open: false,
            units: crate::types::LengthUnit::Chars,
        });
        let query = ListQuery {
            filters: vec![Filter {
                field: "count".into(),
                op: FilterOp::Gt,
                value: Value::int(5),
            }],
            ..ListQuery::default()
        };
        let mut seen = Vec::new();
        let c = open(&path, &[("stock", stock)]);
        assert_eq!(c.kind(), "file");
        c.list("stock", &query, &mut |v| {
            seen.push(json::to_string(&v));
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, [r#"{"sku":"B","count":12}"#]);
        // Untyped, the counts are text and compare as nothing.
        let mut untyped = 0;
        open(&path, &[])
            .list("stock", &query, &mut |_| {
                untyped += 1;
                Ok(true)
            })
            .unwrap();
        assert_eq!(untyped, 0);
        let bad = dir.path().join("stock.txt");
        let text = bad.display().to_string();
        let settings = Settings::from_pairs(&SPEC, "archive", &[("path", &text)]).unwrap();
        let connection = crate::program::Connection {
            name: Arc::from("archive"),
            connector: Arc::from("file"),
            settings: vec![],
        };
        let err = (SPEC.open)(&crate::connectors::OpenContext {
            connection: &connection,
            settings: &settings,
            state_dir: dir.path(),
            schemas: &Default::default(),
        })
        .err()
        .expect("no format");
        assert!(
            err.message.contains("cannot tell the format"),
            "{}",
            err.message
        );
    }
}
