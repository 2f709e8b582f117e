//! The sync engine: runs a flow against services, exactly once per record.
//!
//! Per record: read → `where` → map (resolving upserts) → key → if the
//! ledger knows the key and the payload hash is unchanged, skip → create or
//! update the target → ledger, activity and cursor in one transaction. A
//! create whose outcome is unknown (timeout, dropped connection, 5xx) is
//! followed by a search for the key before anything is written again, so a
//! write whose response was lost is found, never duplicated. A record that
//! fails goes to the dead letters; the run goes on.

pub mod payload;
pub mod read;
mod resolver;
mod target;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::connectors::{CallStats, Connector, ConnectorError, ErrorClass};
use crate::eval::{Outcome, Runtime};
use crate::program::{Endpoint, Flow, Program};
use crate::state::{Decision, NewDeadLetter, RunCounts, RunId, Store};
use crate::value::{json, Value};

pub use payload::Change;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read, map and look up, but write nothing (`flowc plan`).
    pub dry_run: bool,
    /// Stop starting new records after this long; the next run resumes.
    pub max_duration: Option<Duration>,
    /// Records processed at the same time.
    pub concurrency: usize,
    /// Records per checkpoint of the cursor.
    pub batch_size: usize,
    /// How far before the saved cursor an incremental read starts again.
    pub overlap: Duration,
    /// Ignore the cursor and read everything.
    pub full: bool,
    /// Keep unredacted payloads and the source record in dead letters.
    pub keep_payloads: bool,
    /// Process only these source keys (`flowc dlq retry`).
    pub only_keys: Option<Vec<String>>,
    /// Crash on purpose after this many target writes (tests of recovery).
    pub crash_after_writes: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            max_duration: None,
            concurrency: 4,
            batch_size: 64,
            overlap: Duration::from_secs(7 * 24 * 3600),
            full: false,
            keep_payloads: false,
            only_keys: None,
            crash_after_writes: None,
        }
    }
}

/// What `flowc plan` shows for one record (and `flowc run` does).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanEntry {
    /// The source record (`orders id=1001`).
    pub source: String,
    pub action: &'static str,
    /// The resource written (`eaccounting.customers`).
    pub resource: String,
    pub target_id: Option<String>,
    #[serde(serialize_with = "ser_changes")]
    pub changes: Vec<Change>,
    pub reason: Option<String>,
}

fn ser_changes<S: serde::Serializer>(changes: &[Change], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(changes.len()))?;
    for c in changes {
        seq.serialize_element(&serde_json::json!({"field": c.field, "from": c.from, "to": c.to}))?;
    }
    seq.end()
}

/// The result of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub flow: String,
    pub run: Option<i64>,
    pub status: String,
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Upserted records (customers, articles) created or updated on the way.
    pub related_writes: u64,
    pub calls: CallStats,
    pub elapsed_ms: u128,
    /// Set when the run stopped early (time budget) and will resume.
    pub stopped_early: bool,
    /// A warning against false success: this run read nothing but earlier ones did.
    pub warning: Option<String>,
    pub plan: Vec<PlanEntry>,
    /// Failures, for printing: (source, diagnostic text).
    #[serde(skip)]
    pub failures: Vec<(String, crate::diag::Diagnostic)>,
}

impl Report {
    pub fn calls_per_record(&self) -> f64 {
        if self.read == 0 {
            0.0
        } else {
            self.calls.total as f64 / self.read as f64
        }
    }

    pub fn human(&self) -> String {
        let mut s = format!(
            "flow {}: read {}, created {}, updated {}, unchanged {}, skipped by filter {}, failed {}",
            self.flow, self.read, self.created, self.updated, self.unchanged, self.skipped, self.failed
        );
        if self.related_writes > 0 {
            s.push_str(&format!(
                "; {} related records written",
                self.related_writes
            ));
        }
        s.push_str(&format!(
            "\n  {} API calls ({:.2} per record, {} retried, {} rate-limited) in {:.1}s",
            self.calls.total,
            self.calls_per_record(),
            self.calls.retries,
            self.calls.rate_limited,
            self.elapsed_ms as f64 / 1000.0
        ));
        if self.stopped_early {
            s.push_str(
                "\n  stopped at the time budget; the next run resumes where this one stopped",
            );
        }
        if let Some(w) = &self.warning {
            s.push_str(&format!("\n  warning: {w}"));
        }
        s
    }
}

/// Counts of a run in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub read: u64,
    pub written: u64,
    pub unchanged: u64,
    pub failed: u64,
}

/// Open connections, by connection index in the program.
#[derive(Clone, Default)]
pub struct Connections {
    pub by_index: HashMap<usize, Arc<dyn Connector>>,
}

impl Connections {
    pub fn get(&self, index: Option<usize>) -> Option<&Arc<dyn Connector>> {
        self.by_index.get(&index?)
    }
    pub fn stats(&self) -> CallStats {
        let mut total = CallStats::default();
        for c in self.by_index.values() {
            total.merge(&c.stats());
        }
        total
    }
}

/// Counters shared by the workers of one run.
#[derive(Default)]
struct Counters {
    read: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
    unchanged: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    related: AtomicU64,
    writes: AtomicU64,
}

pub struct Engine<'a> {
    pub program: &'a Program,
    pub flow: &'a Flow,
    pub store: &'a (dyn Store + Sync),
    pub connections: Connections,
    pub options: Options,
    counters: Counters,
    upserts: resolver::Shared,
    target: target::Shared,
    plan: Mutex<Vec<PlanEntry>>,
    failures: Mutex<Vec<(String, crate::diag::Diagnostic)>>,
    stop: AtomicBool,
}

/// One record with everything needed to process and report it.
struct Work {
    position: usize,
    record: Result<Value, String>,
}

impl<'a> Engine<'a> {
    pub fn new(
        program: &'a Program,
        flow: &'a Flow,
        store: &'a (dyn Store + Sync),
        connections: Connections,
        options: Options,
    ) -> Self {
        Engine {
            program,
            flow,
            store,
            connections,
            options,
            counters: Counters::default(),
            upserts: resolver::Shared::default(),
            target: target::Shared::default(),
            plan: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        }
    }

    /// Runs the flow: one run in the state store, under the flow's lock.
    pub fn run(&self, flow_hash: &str) -> Result<Report, ConnectorError> {
        let started = Instant::now();
        let lock = self.store.lock_flow(&self.flow.name).map_err(state_error)?;
        let previous = self.store.last_run(&self.flow.name).map_err(state_error)?;
        let run = if self.options.dry_run {
            None
        } else {
            Some(
                self.store
                    .begin_run(&self.flow.name, flow_hash, env!("CARGO_PKG_VERSION"))
                    .map_err(state_error)?,
            )
        };
        let result = self.process_all(run, started);
        let mut report = self.report(started);
        report.run = run.map(|r| r.0);
        report.status = match (&result, report.failed, report.stopped_early) {
            (Err(_), _, _) => "failed",
            (Ok(()), _, true) => "interrupted",
            (Ok(()), 0, false) => "succeeded",
            (Ok(()), _, false) => "partial",
        }
        .to_string();
        if report.read == 0 {
            if let Some(prev) = previous.filter(|p| p.counts.read > 0) {
                report.warning = Some(format!(
                    "this run read no records, but run {} read {}; check the source's filters, credentials and cursor",
                    prev.id, prev.counts.read
                ));
            }
        }
        if let Some(run) = run {
            let counts = RunCounts {
                read: report.read,
                created: report.created,
                updated: report.updated,
                unchanged: report.unchanged,
                skipped: report.skipped,
                failed: report.failed,
            };
            self.store
                .finish_run(run, &report.status, &counts)
                .map_err(state_error)?;
        }
        drop(lock);
        result.map(|()| report)
    }

    /// Counts so far, for a progress display while the run goes on.
    pub fn progress(&self) -> Progress {
        let c = &self.counters;
        Progress {
            read: c.read.load(Ordering::Relaxed),
            written: c.created.load(Ordering::Relaxed) + c.updated.load(Ordering::Relaxed),
            unchanged: c.unchanged.load(Ordering::Relaxed) + c.skipped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    fn report(&self, started: Instant) -> Report {
        let c = &self.counters;
        let mut plan = self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // By source record; within one, in the order the work was done
        // (related records before the record that refers to them).
        plan.sort_by(|a, b| natural(&a.source).cmp(&natural(&b.source)));
        Report {
            flow: self.flow.name.to_string(),
            run: None,
            status: String::new(),
            read: c.read.load(Ordering::SeqCst),
            created: c.created.load(Ordering::SeqCst),
            updated: c.updated.load(Ordering::SeqCst),
            unchanged: c.unchanged.load(Ordering::SeqCst),
            skipped: c.skipped.load(Ordering::SeqCst),
            failed: c.failed.load(Ordering::SeqCst),
            related_writes: c.related.load(Ordering::SeqCst),
            calls: self.connections.stats(),
            elapsed_ms: started.elapsed().as_millis(),
            stopped_early: self.stop.load(Ordering::SeqCst),
            warning: None,
            plan,
            failures: std::mem::take(&mut *self.failures.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    fn process_all(&self, run: Option<RunId>, started: Instant) -> Result<(), ConnectorError> {
        let source_schema = self.flow.source_schema.map(|i| &self.program.schemas[i]);
        let cursor_field = source_schema.and_then(|s| s.cursor.clone());
        let mut extra = Vec::new();
        if let (Some(field), false) = (
            &cursor_field,
            self.options.full || self.options.only_keys.is_some(),
        ) {
            let saved = self.store.cursor(&self.flow.name).map_err(state_error)?;
            if let Some(from) = read::resume_from(saved.as_deref(), self.options.overlap) {
                extra.push(crate::connectors::Filter {
                    field: field.to_string(),
                    op: crate::connectors::FilterOp::Ge,
                    value: Value::str(&from),
                });
            }
        }
        let source_conn = match &self.flow.source {
            Endpoint::Resource { connection, .. } => self.connections.get(*connection),
            Endpoint::File { .. } => None,
        };
        let mut batch: Vec<Work> = Vec::with_capacity(self.options.batch_size);
        let mut error = None;
        let read = read::read(self.program, self.flow, source_conn, extra, |item| {
            if self.out_of_time(started) {
                return false;
            }
            batch.push(Work {
                position: item.position,
                record: item.record,
            });
            if batch.len() >= self.options.batch_size {
                if let Err(e) =
                    self.process_batch(run, std::mem::take(&mut batch), cursor_field.as_deref())
                {
                    error = Some(e);
                    return false;
                }
            }
            true
        });
        read?;
        if let Some(e) = error {
            return Err(e);
        }
        if !batch.is_empty() && !self.out_of_time(started) {
            self.process_batch(run, batch, cursor_field.as_deref())?;
        }
        Ok(())
    }

    fn out_of_time(&self, started: Instant) -> bool {
        if let Some(budget) = self.options.max_duration {
            if started.elapsed() >= budget {
                self.stop.store(true, Ordering::SeqCst);
            }
        }
        self.stop.load(Ordering::SeqCst)
    }

    /// Processes one batch concurrently, then checkpoints the cursor.
    fn process_batch(
        &self,
        run: Option<RunId>,
        batch: Vec<Work>,
        cursor_field: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let next = AtomicU64::new(0);
        let fatal: Mutex<Option<ConnectorError>> = Mutex::new(None);
        let workers = self
            .options
            .concurrency
            .clamp(1, 32)
            .min(batch.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let runtime = Runtime::new(self.program);
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                        let Some(work) = batch.get(i) else { break };
                        if let Err(e) = self.process(&runtime, run, work) {
                            *fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        // Every record of the batch is written, skipped or dead-lettered:
        // the cursor may move past all of them.
        // (A plan, with no run, moves nothing.)
        if let (Some(_), Some(field)) = (run, cursor_field) {
            let newest = batch
                .iter()
                .filter_map(|w| w.record.as_ref().ok())
                .filter_map(|r| r.as_record()?.get(field)?.to_text())
                .max_by(|a, b| compare_cursor(a, b));
            if let Some(c) = newest {
                let saved = self.store.cursor(&self.flow.name).map_err(state_error)?;
                if saved
                    .as_deref()
                    .is_none_or(|s| compare_cursor(&c, s).is_gt())
                {
                    self.store
                        .set_cursor(&self.flow.name, &c)
                        .map_err(state_error)?;
                }
            }
        }
        Ok(())
    }

    /// The source record's name: its schema key, else its position.
    fn source_key(&self, work: &Work) -> String {
        let key_field = self
            .flow
            .source_schema
            .and_then(|i| self.program.schemas[i].key.clone());
        let key = match (&work.record, key_field) {
            (Ok(r), Some(field)) => r
                .as_record()
                .and_then(|r| r.get(&field))
                .and_then(Value::to_text),
            _ => None,
        };
        key.unwrap_or_else(|| format!("#{}", work.position))
    }

    /// Processes one record; only a failure of the state store is fatal.
    fn process(
        &self,
        runtime: &Runtime,
        run: Option<RunId>,
        work: &Work,
    ) -> Result<(), ConnectorError> {
        let started = Instant::now();
        let key = self.source_key(work);
        if let Some(only) = &self.options.only_keys {
            if !only.contains(&key) {
                return Ok(());
            }
        }
        self.counters.read.fetch_add(1, Ordering::SeqCst);
        let record = match &work.record {
            Ok(r) => r,
            Err(message) => {
                let letter = NewDeadLetter {
                    source_key: key.clone(),
                    error_class: "input".into(),
                    error_code: Some("E0906".into()),
                    message: message.clone(),
                    ..NewDeadLetter::default()
                };
                return self.fail(run, &key, letter, None, started);
            }
        };
        let mut resolver = resolver::EngineResolver::new(self, &key, false);
        let mut outcome = runtime.run_flow(self.flow, record, &mut resolver);
        let mut related = resolver.finish();
        // Related records taken to hold payloads that earlier runs wrote (so
        // that a rerun replays none of them) must really hold them once this
        // record is written: then map again, trusting only their current state.
        if resolver.assumed() {
            if let Ok(Outcome::Mapped(mapped)) = &outcome {
                if !target::unchanged(self, &key, mapped)? {
                    let mut strict = resolver::EngineResolver::new(self, &key, true);
                    outcome = runtime.run_flow(self.flow, record, &mut strict);
                    related += strict.finish();
                }
            }
        }
        self.counters.related.fetch_add(related, Ordering::SeqCst);
        match outcome {
            Err(e) => {
                let diag = e.to_diagnostic(&key);
                let letter = NewDeadLetter {
                    source_key: key.clone(),
                    error_class: if resolver::is_connector_error(&e) {
                        "http".into()
                    } else {
                        "mapping".into()
                    },
                    error_code: Some(e.code.id.to_string()),
                    message: diag.message.clone(),
                    source_record: self.options.keep_payloads.then(|| json::to_string(record)),
                    ..NewDeadLetter::default()
                };
                self.fail(run, &key, letter, Some(diag), started)
            }
            Ok(Outcome::Skipped) => {
                self.counters.skipped.fetch_add(1, Ordering::SeqCst);
                if self.options.dry_run {
                    self.plan_entry(
                        &key,
                        "skip",
                        None,
                        vec![],
                        Some("filtered out by `where`".into()),
                    );
                } else if let Some(run) = run {
                    self.store
                        .record_skip(
                            run,
                            &self.flow.name,
                            &key,
                            Decision::Skip,
                            None,
                            elapsed_ms(started),
                            None,
                        )
                        .map_err(state_error)?;
                }
                Ok(())
            }
            Ok(Outcome::Mapped(mapped)) => target::write(self, run, &key, record, mapped, started),
        }
    }

    fn fail(
        &self,
        run: Option<RunId>,
        key: &str,
        letter: NewDeadLetter,
        diag: Option<crate::diag::Diagnostic>,
        started: Instant,
    ) -> Result<(), ConnectorError> {
        self.counters.failed.fetch_add(1, Ordering::SeqCst);
        let diag = diag.unwrap_or_else(|| {
            let code = crate::diag::codes::ALL
                .iter()
                .find(|c| Some(c.id) == letter.error_code.as_deref())
                .copied()
                .unwrap_or(&crate::diag::codes::E0908);
            crate::diag::Diagnostic::new(code, format!("record {key}: {}", letter.summary()))
        });
        if self.options.dry_run {
            self.plan_entry(key, "fail", None, vec![], Some(diag.message.clone()));
        }
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key.to_string(), diag));
        if let Some(run) = run {
            self.store
                .record_failure(run, &self.flow.name, &letter, elapsed_ms(started))
                .map_err(state_error)?;
        }
        Ok(())
    }

    fn plan_entry(
        &self,
        source: &str,
        action: &'static str,
        target: Option<(&str, Option<String>)>,
        changes: Vec<Change>,
        reason: Option<String>,
    ) {
        let changes = changes
            .into_iter()
            .map(|mut c| {
                c.to =
                    c.to.replace(resolver::PLANNED_ID, "(id of the record created above)");
                c
            })
            .collect();
        let (resource, target_id) = match target {
            Some((r, id)) => (r.to_string(), id),
            None => (self.target_name(), None),
        };
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PlanEntry {
                source: source.to_string(),
                action,
                resource,
                target_id,
                changes,
                reason,
            });
    }

    fn target_name(&self) -> String {
        match &self.flow.target {
            Endpoint::Resource { schema, .. } => schema.to_string(),
            Endpoint::File { display, .. } => display.clone(),
        }
    }

    /// Counts a write, and crashes on purpose when a recovery test asks for it.
    fn wrote(&self) {
        let n = self.counters.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.options.crash_after_writes == Some(n) {
            // Simulates SIGKILL: no destructors, no flushing, no goodbye.
            std::process::abort();
        }
    }
}

/// Sorts "10" after "9": numeric keys by number, others as text.
fn natural(key: &str) -> (u8, rust_decimal::Decimal, &str) {
    match key.parse::<rust_decimal::Decimal>() {
        Ok(n) => (0, n, key),
        Err(_) => (1, rust_decimal::Decimal::ZERO, key),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Cursor values are date-times or numbers; compare them as such.
fn compare_cursor(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| crate::value::parse::datetime_of(&Value::str(s));
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => match (
            a.parse::<rust_decimal::Decimal>(),
            b.parse::<rust_decimal::Decimal>(),
        ) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
    }
}

pub(crate) fn state_error(e: crate::state::StateError) -> ConnectorError {
    ConnectorError::new(ErrorClass::Config, format!("state store: {e}"))
}
