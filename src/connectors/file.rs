//! The file connector: records from JSON arrays, NDJSON and CSV; records to
//! NDJSON or a JSON array. Reading streams record by record (NDJSON and CSV
//! never hold more than one record; a JSON array holds the file's bytes but
//! decodes one element at a time), so memory does not grow with the count.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

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
    fields: Option<&std::collections::HashSet<Arc<str>>>,
    mut f: impl FnMut(SourceItem) -> bool,
) -> std::io::Result<()> {
    let keep = |k: &str| fields.is_none_or(|set| set.contains(k));
    let file = File::open(path)?;
    match format {
        FileFormat::Ndjson => {
            let mut reader = BufReader::with_capacity(1 << 16, file);
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
            let bytes = std::fs::read(path)?;
            let mut n = 0;
            let mut decoder = Decoder::new();
            let result = decoder.decode_array_stream(&bytes, |v| {
                n += 1;
                f(SourceItem {
                    position: n,
                    record: Ok(v),
                })
            });
            if let Err(e) = result {
                f(SourceItem {
                    position: n + 1,
                    record: Err(format!("the JSON array is malformed: {e}")),
                });
            }
        }
        FileFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(BufReader::new(file));
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
    out: BufWriter<Box<dyn Write>>,
    format: FileFormat,
    count: usize,
    buf: String,
}

impl RecordWriter {
    pub fn create(path: &Path, format: FileFormat) -> std::io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file: Box<dyn Write> = Box::new(File::create(path)?);
        Self::new(file, format)
    }

    pub fn new(out: Box<dyn Write>, format: FileFormat) -> std::io::Result<Self> {
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
    doc: "Records in one local file: read from JSON, NDJSON or CSV; new records appended to NDJSON",
    settings: &[super::registry::SettingSpec::new(
        "path",
        super::registry::SettingType::Text,
        "the file, relative to the working folder; its extension says the format (.json, .ndjson/.jsonl, .csv)",
    )
    .required()],
    schema_module: None,
    id_field: "id",
    auth_help: "check that flowc may read and write the file at `path`",
    open: open_file,
    auth: None,
};

/// One file as a service: every resource of the connection is the file's
/// records. Reads stream through [`read_records`]; creates append one line
/// through [`RecordWriter`], so only NDJSON can take new records, and a
/// record once written is never changed.
pub struct FileConnector {
    path: std::path::PathBuf,
    format: FileFormat,
    schemas: std::collections::HashMap<String, Arc<RecordType>>,
    /// One append at a time, so that concurrent workers never interleave lines.
    appending: std::sync::Mutex<()>,
    stats: super::http::StatsCell,
}

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
    Ok(Box::new(FileConnector {
        path: std::path::PathBuf::from(path),
        format,
        schemas: ctx.schemas.clone(),
        appending: std::sync::Mutex::new(()),
        stats: Default::default(),
    }))
}

impl FileConnector {
    fn io_error(&self, what: &str, e: std::io::Error) -> super::ConnectorError {
        super::ConnectorError::new(
            super::ErrorClass::Config,
            format!("cannot {what} {}: {e}", self.path.display()),
        )
    }

    /// Every record of the file matching `filters`, in file order, until `each` says stop.
    fn scan(
        &self,
        resource: &str,
        filters: &[super::Filter],
        each: &mut dyn FnMut(Value) -> Result<bool, super::ConnectorError>,
    ) -> Result<u64, super::ConnectorError> {
        self.stats.call(&format!("read {resource}"));
        let schema = self.schemas.get(resource).map(|s| &**s);
        let mut outcome = Ok(0u64);
        read_records(&self.path, self.format, schema, |item| {
            let record = match item.record {
                Ok(r) => r,
                Err(why) => {
                    outcome = Err(super::ConnectorError::new(
                        super::ErrorClass::Protocol,
                        format!("{} (record {}): {why}", self.path.display(), item.position),
                    ));
                    return false;
                }
            };
            if !filters.iter().all(|f| f.matches(&record)) {
                return true;
            }
            let Ok(n) = &mut outcome else { return false };
            *n += 1;
            match each(record) {
                Ok(go_on) => go_on,
                Err(e) => {
                    outcome = Err(e);
                    false
                }
            }
        })
        .map_err(|e| self.io_error("read", e))?;
        outcome
    }
}

impl super::Connector for FileConnector {
    fn spec(&self) -> &'static super::ConnectorSpec {
        &SPEC
    }

    fn list(
        &self,
        resource: &str,
        query: &super::ListQuery,
        each: &mut dyn FnMut(Value) -> Result<bool, super::ConnectorError>,
    ) -> Result<super::ListStats, super::ConnectorError> {
        let Some(order) = &query.order_by else {
            let records = self.scan(resource, &query.filters, each)?;
            return Ok(super::ListStats { pages: 1, records });
        };
        // Sorting needs every record first.
        let mut all = Vec::new();
        self.scan(resource, &query.filters, &mut |v| {
            all.push(v);
            Ok(true)
        })?;
        let (field, desc) = match order.strip_prefix('-') {
            Some(f) => (f, true),
            None => (order.as_str(), false),
        };
        super::sort_by_field(&mut all, field, desc, Value::compare);
        let mut records = 0;
        for v in all {
            records += 1;
            if !each(v)? {
                break;
            }
        }
        Ok(super::ListStats { pages: 1, records })
    }

    fn get(&self, resource: &str, id: &str) -> Result<Option<Value>, super::ConnectorError> {
        let mut found = None;
        self.scan(resource, &[], &mut |v| {
            let hit = super::field_at(&v, SPEC.id_field)
                .and_then(Value::to_text)
                .is_some_and(|t| t == id);
            if hit {
                found = Some(v);
            }
            Ok(!hit)
        })?;
        Ok(found)
    }

    fn find(
        &self,
        resource: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Value>, super::ConnectorError> {
        let filter = super::Filter {
            field: field.to_string(),
            op: super::FilterOp::Eq,
            value: value.clone(),
        };
        let mut found = Vec::new();
        self.scan(resource, std::slice::from_ref(&filter), &mut |v| {
            found.push(v);
            Ok(true)
        })?;
        Ok(found)
    }

    fn create(&self, resource: &str, record: &Record) -> Result<Value, super::ConnectorError> {
        if self.format != FileFormat::Ndjson {
            return Err(super::ConnectorError::new(
                super::ErrorClass::Config,
                format!(
                    "records can only be appended to an .ndjson or .jsonl file, not to {}",
                    self.path.display()
                ),
            ));
        }
        if let Some(schema) = self.schemas.get(resource) {
            crate::types::validate::validate(record, schema, true).map_err(|e| {
                super::ConnectorError::new(
                    super::ErrorClass::Validation,
                    format!("{resource}: {}", e.message),
                )
                .with_field(e.field)
            })?;
        }
        let stored = Value::record(record.clone());
        let _one_at_a_time = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        self.stats.call(&format!("append {resource}"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io_error("open", e))?;
        let mut writer = RecordWriter::new(Box::new(file), self.format)
            .map_err(|e| self.io_error("write", e))?;
        writer
            .write(&stored)
            .and_then(|()| writer.finish().map(drop))
            .map_err(|e| self.io_error("write", e).unknown_outcome())?;
        Ok(stored)
    }

    fn update(
        &self,
        resource: &str,
        id: &str,
        _changes: &Record,
        _current: Option<&Record>,
    ) -> Result<Value, super::ConnectorError> {
        Err(super::ConnectorError::new(
            super::ErrorClass::Validation,
            format!(
                "{resource} {id}: the file connector only appends; records in {} are never changed",
                self.path.display()
            ),
        ))
    }

    fn stats(&self) -> super::CallStats {
        self.stats.snapshot()
    }
}

#[cfg(test)]
mod connector_tests {
    use super::*;
    use crate::connectors::{Connector, Filter, FilterOp, ListQuery, Settings};

    fn opened(path: &Path) -> Box<dyn Connector> {
        let text = path.display().to_string();
        let settings = Settings::from_pairs(&SPEC, "archive", &[("path", &text)]).unwrap();
        let connection = crate::program::Connection {
            name: Arc::from("archive"),
            connector: Arc::from("file"),
            settings: vec![],
        };
        (SPEC.open)(&crate::connectors::OpenContext {
            connection: &connection,
            settings: &settings,
            state_dir: path.parent().unwrap(),
            schemas: &Default::default(),
        })
        .unwrap()
    }

    #[test]
    fn appends_then_lists_gets_and_finds() {
        let dir = tempfile::tempdir().unwrap();
        let c = opened(&dir.path().join("log.ndjson"));
        for (id, name) in [(2, "b"), (1, "a"), (3, "c")] {
            let mut r = Record::new();
            r.insert("id", Value::int(id));
            r.insert("name", Value::str(name));
            c.create("rows", &r).unwrap();
        }
        let query = ListQuery {
            filters: vec![Filter {
                field: "id".into(),
                op: FilterOp::Ge,
                value: Value::int(2),
            }],
            order_by: Some("-name".into()),
            page_size: None,
        };
        let mut names = Vec::new();
        let stats = c
            .list("rows", &query, &mut |v| {
                names.push(json::to_string(&v));
                Ok(true)
            })
            .unwrap();
        assert_eq!(names, [r#"{"id":3,"name":"c"}"#, r#"{"id":2,"name":"b"}"#]);
        assert_eq!(stats.records, 2);
        let got = c.get("rows", "1").unwrap().unwrap();
        assert_eq!(json::to_string(&got), r#"{"id":1,"name":"a"}"#);
        assert!(c.get("rows", "9").unwrap().is_none());
        assert_eq!(c.find("rows", "name", &Value::str("c")).unwrap().len(), 1);
        let err = c.update("rows", "1", &Record::new(), None).unwrap_err();
        assert_eq!(err.class, crate::connectors::ErrorClass::Validation);
    }

    #[test]
    fn only_ndjson_takes_new_records_and_bad_lines_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let json_file = dir.path().join("in.json");
        std::fs::write(&json_file, "[{\"id\":1}]").unwrap();
        let c = opened(&json_file);
        assert!(c.get("x", "1").unwrap().is_some());
        let err = c.create("x", &Record::new()).unwrap_err();
        assert_eq!(err.class, crate::connectors::ErrorClass::Config);
        let bad = dir.path().join("bad.ndjson");
        std::fs::write(&bad, "{\"id\":1}\nnot json\n").unwrap();
        let err = opened(&bad).get("x", "2").unwrap_err();
        assert_eq!(err.class, crate::connectors::ErrorClass::Protocol);
        assert!(err.message.contains("record 2"), "{}", err.message);
    }
}
