//! Running a flow end to end. This module drives flows whose source and
//! target are files; flows against services go through the sync engine.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::connectors::file::{read_records_projected, RecordWriter};
use crate::diag::{codes, Diagnostic};
use crate::eval::{validate, NoUpserts, Outcome, Runtime};
use crate::program::{Endpoint, Flow, Program};
use crate::value::Value;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub flow: String,
    pub read: usize,
    pub written: usize,
    pub skipped_by_filter: usize,
    pub failed: usize,
    #[serde(skip)]
    pub elapsed: Duration,
    pub elapsed_ms: u128,
}

impl Summary {
    pub fn human(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "flow {}: read {}, written {}, skipped by filter {}, failed {} ({:.0} records/s)",
            self.flow,
            self.read,
            self.written,
            self.skipped_by_filter,
            self.failed,
            self.read as f64 / secs
        )
    }
}

/// A record that could not be processed, with what is needed to report it.
pub struct Failure {
    pub record: String,
    pub diagnostic: Diagnostic,
}

/// Runs a file → file flow. Failures are handed to `on_failure` as they
/// happen (the run goes on); the summary counts them.
pub fn run_file_flow(
    program: &Program,
    flow: &Flow,
    mut on_failure: impl FnMut(Failure),
) -> Result<Summary, Diagnostic> {
    let started = Instant::now();
    let (
        Endpoint::File {
            path: in_path,
            format: in_format,
            display: in_display,
            ..
        },
        Endpoint::File {
            path: out_path,
            format: out_format,
            display: out_display,
            ..
        },
    ) = (&flow.source, &flow.target)
    else {
        return Err(Diagnostic::new(&codes::E0402, format!("flow `{}` reads or writes a service, not files", flow.name))
            .help("run it with the sync engine (`flowc run` against a configured connection or `flowc sandbox`)"));
    };
    let source_schema = flow.source_schema.map(|i| &program.schemas[i]);
    let target_schema = flow.target_schema.map(|i| &program.schemas[i]);
    let mut writer = RecordWriter::create(out_path, *out_format).map_err(|e| {
        Diagnostic::new(&codes::E0010, format!("cannot write {out_display}: {e}"))
            .help("check that the folder exists and is writable")
    })?;
    let runtime = Runtime::new(program);
    let mut summary = Summary {
        flow: flow.name.to_string(),
        ..Summary::default()
    };
    let key_field = source_schema.and_then(|s| s.key.clone());
    let mut io_error = None;
    let fields = flow.input_fields();
    read_records_projected(in_path, *in_format, source_schema.map(|s| &*s.record), fields.as_ref(), |item| {
        summary.read += 1;
        let record = match item.record {
            Ok(r) => r,
            Err(message) => {
                summary.failed += 1;
                on_failure(Failure {
                    record: format!("#{}", item.position),
                    diagnostic: Diagnostic::new(&codes::E0906, format!("record #{} of {in_display}: {message}", item.position))
                        .help("fix or remove this record in the input; the other records were processed"),
                });
                return true;
            }
        };
        let result = runtime.run_flow(flow, &record, &mut NoUpserts).and_then(|outcome| match outcome {
            Outcome::Skipped => Ok(None),
            Outcome::Mapped(m) => {
                if let Some(schema) = target_schema {
                    validate::validate(&m.payload.create, &schema.record, true)?;
                }
                Ok(Some(m.payload.create))
            }
        });
        match result {
            Ok(None) => summary.skipped_by_filter += 1,
            Ok(Some(payload)) => {
                if let Err(e) = writer.write(&Value::record(payload)) {
                    io_error = Some(e);
                    return false;
                }
                summary.written += 1;
            }
            Err(e) => {
                summary.failed += 1;
                // Named only on failure: formatting it for every record costs time.
                let name = record_name(&record, item.position, key_field.as_deref());
                on_failure(Failure { diagnostic: e.to_diagnostic(&name), record: name });
            }
        }
        true
    })
    .map_err(|e| Diagnostic::new(&codes::E0010, format!("cannot read {in_display}: {e}")).help("check the path in the flow's `source file(…)`"))?;
    if let Some(e) = io_error {
        return Err(Diagnostic::new(
            &codes::E0010,
            format!("cannot write {out_display}: {e}"),
        ));
    }
    writer
        .finish()
        .map_err(|e| Diagnostic::new(&codes::E0010, format!("cannot finish {out_display}: {e}")))?;
    summary.elapsed = started.elapsed();
    summary.elapsed_ms = summary.elapsed.as_millis();
    let _ = std::io::stderr().flush();
    Ok(summary)
}

/// How a record is named in errors: its key field, else its position.
pub fn record_name(record: &Value, position: usize, key_field: Option<&str>) -> String {
    let key = key_field.and_then(|k| record.as_record()?.get(k)?.to_text());
    match key {
        Some(k) => format!("#{position} ({}={k})", key_field.unwrap_or_default()),
        None => format!("#{position}"),
    }
}
