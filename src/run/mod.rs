//! Running a flow end to end. This module drives flows whose source and
//! target are files; flows against services go through the sync engine.

use std::io::Write as _;
use std::time::{Duration, Instant};

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::sync::mpsc;
use std::sync::Arc;

use crate::connectors::file::{read_records_projected, RecordWriter};
use crate::diag::{codes, Diagnostic};
use crate::eval::{NoUpserts, Outcome, Runtime};
use crate::program::FileFormat;
use crate::program::{Endpoint, Flow, Program};
use crate::types::validate;
use crate::value::json::{self, Decoder};
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
    let mut summary = Summary {
        flow: flow.name.to_string(),
        ..Summary::default()
    };
    let ctx = ItemContext {
        program,
        flow,
        target_schema: target_schema.map(|s| &*s.record),
        key_field: source_schema.and_then(|s| s.key.clone()),
        in_display,
    };
    let fields = flow.input_fields();
    let mut io_error = None;
    let mut take = |outcome: ItemOutcome, summary: &mut Summary| -> bool {
        summary.read += 1;
        match outcome {
            ItemOutcome::Skipped => summary.skipped_by_filter += 1,
            ItemOutcome::Written(json) => {
                if let Err(e) = writer.write_raw(&json) {
                    io_error = Some(e);
                    return false;
                }
                summary.written += 1;
            }
            ItemOutcome::Failed(failure) => {
                summary.failed += 1;
                on_failure(failure);
            }
        }
        true
    };
    let read = if *in_format == FileFormat::Ndjson && workers() > 1 {
        parallel_ndjson(in_path, &ctx, fields.as_ref(), |outcome| {
            take(outcome, &mut summary)
        })
    } else {
        let runtime = Runtime::new(program);
        read_records_projected(
            in_path,
            *in_format,
            source_schema.map(|s| &*s.record),
            fields.as_ref(),
            |item| {
                take(
                    ctx.process(&runtime, item.position, item.record),
                    &mut summary,
                )
            },
        )
    };
    read.map_err(|e| {
        Diagnostic::new(&codes::E0010, format!("cannot read {in_display}: {e}"))
            .help("check the path in the flow's `source file(…)`")
    })?;
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

/// What one input record became.
enum ItemOutcome {
    Skipped,
    /// The record as JSON, ready to write.
    Written(String),
    Failed(Failure),
}

/// Everything needed to process one record, shareable between threads.
struct ItemContext<'a> {
    program: &'a Program,
    flow: &'a Flow,
    target_schema: Option<&'a crate::types::RecordType>,
    key_field: Option<Arc<str>>,
    in_display: &'a str,
}

impl ItemContext<'_> {
    fn process(
        &self,
        runtime: &Runtime,
        position: usize,
        record: Result<Value, String>,
    ) -> ItemOutcome {
        let record =
            match record {
                Ok(r) => r,
                Err(message) => return ItemOutcome::Failed(Failure {
                    record: format!("#{position}"),
                    diagnostic: Diagnostic::new(
                        &codes::E0906,
                        format!("record #{position} of {}: {message}", self.in_display),
                    )
                    .help(
                        "fix or remove this record in the input; the other records were processed",
                    ),
                }),
            };
        let result = runtime
            .run_flow(self.flow, &record, &mut NoUpserts)
            .and_then(|outcome| match outcome {
                Outcome::Skipped => Ok(None),
                Outcome::Mapped(m) => {
                    if let Some(schema) = self.target_schema {
                        validate::validate(&m.payload.create, schema, true)?;
                    }
                    Ok(Some(m.payload.create))
                }
            });
        match result {
            Ok(None) => ItemOutcome::Skipped,
            Ok(Some(payload)) => ItemOutcome::Written(json::to_string(&Value::record(payload))),
            Err(e) => {
                // Named only on failure: formatting it for every record costs time.
                let name = record_name(&record, position, self.key_field.as_deref());
                ItemOutcome::Failed(Failure {
                    diagnostic: e.to_diagnostic(&name),
                    record: name,
                })
            }
        }
    }
}

/// Threads that decode and map records; the machine's cores, at most 8.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// Lines per unit of work: large enough to amortise the hand-over between
/// threads, small enough to keep memory flat.
const CHUNK_LINES: usize = 512;

type Chunk = (u64, Vec<(usize, Vec<u8>)>);

/// NDJSON on all cores: one thread reads lines, workers decode and map them,
/// and the caller receives the outcomes in input order, so the output file
/// and the failure reports are exactly as a sequential run would make them.
fn parallel_ndjson(
    path: &std::path::Path,
    ctx: &ItemContext<'_>,
    fields: Option<&HashSet<Arc<str>>>,
    mut take: impl FnMut(ItemOutcome) -> bool,
) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let n = workers();
    let (work_tx, work_rx) = mpsc::sync_channel::<Chunk>(n * 2);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Vec<ItemOutcome>)>(n * 2);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> std::io::Result<()> {
        let stop = &stop;
        // The reader owns the sending side: when it ends, the workers do too.
        let reader = scope.spawn(move || -> std::io::Result<()> {
            let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
            let mut chunk = Vec::with_capacity(CHUNK_LINES);
            let (mut seq, mut position) = (0u64, 0usize);
            loop {
                let mut line = Vec::new();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                position += 1;
                if line.trim_ascii().is_empty() {
                    continue;
                }
                chunk.push((position, line));
                if chunk.len() == CHUNK_LINES {
                    if stop.load(std::sync::atomic::Ordering::Relaxed)
                        || work_tx.send((seq, std::mem::take(&mut chunk))).is_err()
                    {
                        return Ok(());
                    }
                    seq += 1;
                }
            }
            if !chunk.is_empty() {
                let _ = work_tx.send((seq, chunk));
            }
            Ok(())
        });
        for _ in 0..n {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                let runtime = Runtime::new(ctx.program);
                let mut decoder = Decoder::new();
                let keep = |k: &str| fields.is_none_or(|set| set.contains(k));
                loop {
                    let next = work_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((seq, lines)) = next else { break };
                    let outcomes = lines
                        .into_iter()
                        .map(|(position, line)| {
                            let record = decoder
                                .decode_projected(line.trim_ascii(), &keep)
                                .map_err(|e| format!("line {position} is not valid JSON: {e}"));
                            ctx.process(&runtime, position, record)
                        })
                        .collect();
                    if done_tx.send((seq, outcomes)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Hand outcomes over in input order.
        let mut pending: BTreeMap<u64, Vec<ItemOutcome>> = BTreeMap::new();
        let mut next = 0u64;
        'receive: for (seq, outcomes) in done_rx.iter() {
            pending.insert(seq, outcomes);
            while let Some(outcomes) = pending.remove(&next) {
                next += 1;
                for outcome in outcomes {
                    if !take(outcome) {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        break 'receive;
                    }
                }
            }
        }
        // Stopped early (a write failed): unblock the workers by closing
        // their way back, and the reader by emptying its queue until it sees
        // the stop flag.
        drop(done_rx);
        while !reader.is_finished() {
            while work_rx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_recv()
                .is_ok()
            {}
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        reader.join().unwrap_or(Ok(()))
    })
}
