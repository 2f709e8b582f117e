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
