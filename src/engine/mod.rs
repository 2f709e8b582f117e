//! The engine: the one pipeline every way of running a flow goes through —
//! `flowc run` on files and on services, `flowc plan` and `flowc test`.
//!
//! Per record: read → `where` → map (resolving upserts) → key → decide
//! (create / update with its field diff / unchanged / skip / fail) → a sink:
//! *apply* writes through the target's connector and records the outcome in
//! the ledger; *plan* writes nothing and lists the decisions; a test
//! (`expect`) applies to in-memory connectors and compares the decisions with
//! its expectations. A create whose outcome is unknown (timeout, dropped
//! connection, 5xx) is followed by a search for the key before anything is
//! written again, so a write whose response was lost is found, never
//! duplicated. A record that fails goes to the dead letters; the run goes on.
//!
//! Targets whose records have no identity (files) are appended to in input
//! order; nothing is looked up or remembered for them.

mod apply;
mod create;
mod decide;
mod diagnostic;
mod echo;
pub mod expect;
mod index;
mod keys;
pub mod payload;
pub mod plan;
mod read;
mod references;
mod report;
mod resolver;
pub mod retry;
pub mod session;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::connectors::{CallStats, Connector, ConnectorError, Raw, ReadItem};
use crate::diag::{codes, Diagnostic};
use crate::eval::{Outcome, Runtime};
use crate::program::{Endpoint, Flow, Program};
use crate::state::{Decision, NewDeadLetter, RunCounts, RunId, StateError, Store};
use crate::value::json::{self, Decoder};
use crate::value::Value;

pub use diagnostic::{engine_diagnostic, state_diagnostic};
pub use payload::Change;
pub use plan::PlanEntry;
pub use references::{existing_help, Unresolved};
pub use report::{Progress, Report};
pub use session::{connections_used, Session};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read, map and look up, but write nothing (`flowc plan`).
    pub dry_run: bool,
    /// Keep every decision in the report (plans and tests).
    pub record_decisions: bool,
    /// Stop starting new records after this long; the next run resumes.
    pub max_duration: Option<Duration>,
    /// Records processed at the same time (services; files use every core).
    pub concurrency: usize,
    /// Records per checkpoint of the cursor.
    pub batch_size: usize,
    /// How far before the saved cursor an incremental read starts again.
    pub overlap: Duration,
    /// How long a record the `where` rejects on a field that can still
    /// change (its schema's `mutable` fields) keeps the cursor from moving
    /// past it, counted from its cursor value (a creation time).
    pub reread_window: Duration,
    /// Ignore the cursor and read everything.
    pub full: bool,
    /// Keep unredacted payloads and the source record in dead letters.
    pub keep_payloads: bool,
    /// Process only these source keys (`flowc dlq retry`).
    pub only_keys: Option<Vec<String>>,
    /// Crash on purpose after this many target writes (tests of recovery).
    pub crash_after_writes: Option<u64>,
    /// Set from outside (`flowc serve` on SIGTERM): start no new record,
    /// finish those begun, checkpoint and stop, as when out of time.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            record_decisions: false,
            max_duration: None,
            concurrency: 4,
            batch_size: 64,
            overlap: Duration::from_secs(7 * 24 * 3600),
            reread_window: Duration::from_secs(30 * 24 * 3600),
            full: false,
            keep_payloads: false,
            only_keys: None,
            crash_after_writes: None,
            cancel: None,
        }
    }
}

/// Why a run stopped as a whole (a record's own failure never stops it).
#[derive(Debug, Clone)]
pub enum EngineError {
    /// A service or file: unreachable, misconfigured, refused credentials.
    Connector(ConnectorError),
    /// The state store (ledger, cursor, runs): nothing more can be recorded safely.
    State(Arc<StateError>),
    /// Settings name reference data the target does not have (E0910); the
    /// run stopped before reading a record.
    Unresolved(Box<Diagnostic>),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Connector(e) => write!(f, "{e}"),
            EngineError::State(e) => write!(f, "state store: {e}"),
            EngineError::Unresolved(d) => write!(f, "{}", d.message),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<ConnectorError> for EngineError {
    fn from(e: ConnectorError) -> Self {
        EngineError::Connector(e)
    }
}

impl From<StateError> for EngineError {
    fn from(e: StateError) -> Self {
        EngineError::State(Arc::new(e))
    }
}

type Result<T> = std::result::Result<T, EngineError>;

/// Open connections: by connection index in the program, and per file.
#[derive(Clone, Default)]
pub struct Connections {
    pub by_index: HashMap<usize, Arc<dyn Connector>>,
    /// Files a flow reads or writes, by path.
    pub files: HashMap<std::path::PathBuf, Arc<dyn Connector>>,
    /// What endpoints without a connection of their own use (`flowc test`:
    /// one in-memory service stands in for every file).
    pub fallback: Option<Arc<dyn Connector>>,
}

impl Connections {
    pub fn get(&self, index: Option<usize>) -> Option<&Arc<dyn Connector>> {
        match index {
            Some(i) => self.by_index.get(&i),
            None => self.fallback.as_ref(),
        }
    }

    /// The connector of a flow's source or target.
    pub fn endpoint(&self, endpoint: &Endpoint) -> Option<&Arc<dyn Connector>> {
        match endpoint {
            Endpoint::Resource { connection, .. } => self.get(*connection),
            Endpoint::File { path, .. } => self.files.get(path).or(self.fallback.as_ref()),
        }
    }

    pub fn stats(&self) -> CallStats {
        let mut total = CallStats::default();
        for c in self.by_index.values().chain(self.files.values()) {
            total.merge(&c.stats());
        }
        if let Some(c) = &self.fallback {
            total.merge(&c.stats());
        }
        total
    }
}

/// Whether a flow is on: its `when` condition (settings only) holds. A
/// flow without one is always on.
pub fn flow_is_on(program: &Program, flow: &Flow) -> std::result::Result<bool, String> {
    let Some((expr, frame)) = &flow.when else {
        return Ok(true);
    };
    match Runtime::new(program).eval_standalone(expr, *frame) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "`when` gave {} instead of true or false",
            crate::value::describe(&other)
        )),
        Err(e) => Err(e.message),
    }
}

/// The resource an endpoint names: a schema's resource (or the schema's
/// name), or for a file its typed schema's name (`flowc test` keeps `given`
/// records under it) or its path.
pub fn resource_of(program: &Program, endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Resource { schema, .. } => program
            .schemas
            .iter()
            .find(|s| s.name == *schema)
            .and_then(|s| s.resource.clone())
            .unwrap_or_else(|| schema.clone())
            .to_string(),
        Endpoint::File {
            schema, display, ..
        } => schema.as_deref().unwrap_or(display).to_string(),
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
    duplicates: AtomicU64,
    held: AtomicU64,
}

pub struct Engine<'a> {
    pub program: &'a Program,
    pub flow: &'a Flow,
    pub store: &'a (dyn Store + Sync),
    pub connections: Connections,
    pub options: Options,
    counters: Counters,
    upserts: resolver::Shared,
    indexes: index::Indexes,
    /// How the flow's key matches the target's values, and the keys this
    /// run decided to create (see `keys`).
    key_normaliser: keys::Normaliser,
    claims: keys::Claims,
    decisions: Mutex<Vec<PlanEntry>>,
    /// Why records were left out on purpose, and how many for each reason.
    skip_reasons: Mutex<BTreeMap<String, u64>>,
    /// (position in the source, record key, what went wrong).
    failures: Mutex<Vec<(usize, String, Diagnostic)>>,
    stop: AtomicBool,
    /// The target's connector, and whether it appends (a file).
    target: Option<Arc<dyn Connector>>,
    appends: bool,
    /// The top-level source fields the flow reads (`None`: all).
    input_fields: Option<crate::value::names::NameSet>,
    /// The source schema's fields that the flow reads: each record is
    /// checked against these as it is read.
    checked_fields: Vec<usize>,
    /// Source keys taken up in this run: each is processed once.
    seen: Mutex<HashSet<String>>,
    /// The `where` reads a field that can change after the record was
    /// created: a record it rejects may qualify later (see [`Options::reread_window`]).
    filter_on_mutable: bool,
    /// The service and resource of a source whose records have ids, where
    /// flowc's own writes may be read back (see `echo`).
    source_service: Option<(String, String)>,
    /// The source schema's fields the service sets itself.
    source_readonly: HashSet<Arc<str>>,
    /// Tests of the tests: a deliberate bug in the decide step.
    #[cfg(test)]
    pub(crate) seeded_bug: Option<fn(decide::Decided) -> decide::Decided>,
}

/// One record read, with its position in the source.
struct Work {
    position: usize,
    raw: Raw,
    /// A test's input: it may leave out fields (only what it gives is checked).
    partial: bool,
}

/// What a worker keeps for the next record: the interpreter's globals and a
/// JSON decoder's buffers.
struct Worker<'p> {
    runtime: Runtime<'p>,
    decoder: Decoder,
}

impl<'a> Engine<'a> {
    pub fn new(
        program: &'a Program,
        flow: &'a Flow,
        store: &'a (dyn Store + Sync),
        connections: Connections,
        mut options: Options,
    ) -> Self {
        // A plan is its list of decisions.
        options.record_decisions |= options.dry_run;
        let target = connections.endpoint(&flow.target).cloned();
        let appends = target.as_ref().is_some_and(|t| t.appender().is_some());
        let source_service = source_service(program, flow, &connections);
        Engine {
            target,
            appends,
            program,
            flow,
            store,
            connections,
            options,
            counters: Counters::default(),
            upserts: resolver::Shared::default(),
            indexes: index::Indexes::default(),
            key_normaliser: flow
                .key
                .as_ref()
                .map(|(k, _)| keys::Normaliser::of(k))
                .unwrap_or_default(),
            claims: keys::Claims::default(),
            decisions: Mutex::new(Vec::new()),
            skip_reasons: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            input_fields: flow.input_fields(),
            source_service,
            source_readonly: flow
                .source_schema
                .map(|i| {
                    program.schemas[i]
                        .record
                        .fields
                        .iter()
                        .filter(|f| f.readonly)
                        .map(|f| f.name.clone())
                        .collect()
                })
                .unwrap_or_default(),
            checked_fields: {
                let reads = flow.input_fields();
                flow.source_schema.map_or_else(Vec::new, |i| {
                    let fields = &program.schemas[i].record.fields;
                    (0..fields.len())
                        .filter(|&f| reads.as_ref().is_none_or(|r| r.contains(&fields[f].name)))
                        .collect()
                })
            },
            seen: Mutex::new(HashSet::new()),
            filter_on_mutable: filter_on_mutable(program, flow),
            #[cfg(test)]
            seeded_bug: None,
        }
    }

    /// Runs the flow over its source: one run in the state store, under the flow's lock.
    pub fn run(&self, flow_hash: &str) -> Result<Report> {
        self.run_with(flow_hash, |run, started| self.process_source(run, started))
    }

    /// Runs the flow over the given records instead of its source (`flowc test`).
    pub fn run_records(&self, flow_hash: &str, records: Vec<Value>) -> Result<Report> {
        self.run_given(flow_hash, records, true)
    }

    /// Runs the flow over records just read from its source one by one (the
    /// records a webhook named): checked in full like records it reads
    /// itself; the cursor does not move.
    pub fn run_fetched(&self, flow_hash: &str, records: Vec<Value>) -> Result<Report> {
        self.run_given(flow_hash, records, false)
    }

    /// `partial`: a test's input, which may leave out fields.
    fn run_given(&self, flow_hash: &str, records: Vec<Value>, partial: bool) -> Result<Report> {
        self.run_with(flow_hash, |run, _| {
            self.pipeline(run, None, |push| {
                for (i, record) in records.into_iter().enumerate() {
                    let work = Work {
                        position: i + 1,
                        raw: Raw::Record(record),
                        partial,
                    };
                    if !push(work) {
                        break;
                    }
                }
                Ok(())
            })
        })
    }

    fn run_with(
        &self,
        flow_hash: &str,
        process: impl FnOnce(Option<RunId>, Instant) -> Result<()>,
    ) -> Result<Report> {
        let started = Instant::now();
        let calls_before = self.connections.stats();
        let lock = self.store.lock_flow(&self.flow.name)?;
        let previous = self.store.last_run(&self.flow.name)?;
        let run = if self.options.dry_run {
            None
        } else {
            Some(
                self.store
                    .begin_run(&self.flow.name, flow_hash, env!("CARGO_PKG_VERSION"))?,
            )
        };
        let result = self
            .resolve_references()
            .and_then(|()| self.start_target())
            .and_then(|()| process(run, started));
        let result = result.and_then(|()| self.finish_target());
        let mut report = self.report(started);
        report.calls = report.calls.since(&calls_before);
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
            self.store.finish_run(run, &report.status, &counts)?;
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
        let mut plan = std::mem::take(&mut *lock(&self.decisions));
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
            skipped_because: std::mem::take(&mut *lock(&self.skip_reasons)),
            failed: c.failed.load(Ordering::SeqCst),
            related_writes: c.related.load(Ordering::SeqCst),
            duplicates: c.duplicates.load(Ordering::SeqCst),
            held: c.held.load(Ordering::SeqCst),
            calls: self.connections.stats(),
            elapsed_ms: started.elapsed().as_millis(),
            stopped_early: self.stop.load(Ordering::SeqCst),
            warning: None,
            plan,
            appends: self.appender().is_some(),
            failures: {
                // In input order, however the workers interleaved.
                let mut failures = std::mem::take(&mut *lock(&self.failures));
                failures.sort_by_key(|(position, _, _)| *position);
                failures.into_iter().map(|(_, k, d)| (k, d)).collect()
            },
        }
    }

    /// The target's appender, when its records have no identity (a file).
    fn appender(&self) -> Option<&dyn crate::connectors::Appender> {
        self.target.as_deref()?.appender()
    }

    fn start_target(&self) -> Result<()> {
        match self.appender() {
            Some(a) if !self.options.dry_run => Ok(a.start()?),
            _ => Ok(()),
        }
    }

    fn finish_target(&self) -> Result<()> {
        match self.appender() {
            Some(a) if !self.options.dry_run => a.finish().map(|_| ()).map_err(Into::into),
            _ => Ok(()),
        }
    }

    fn process_source(&self, run: Option<RunId>, started: Instant) -> Result<()> {
        let cursor_field = self
            .flow
            .source_schema
            .and_then(|i| self.program.schemas[i].cursor.clone());
        // A flow that sums or counts over other resources' records (`[* …]`)
        // may map a source record differently when only those changed, which
        // the source's cursor does not show: it reads its whole source.
        let aggregates = self.program.lookups(self.flow).lists;
        let resume = match (
            &cursor_field,
            self.options.full || self.options.only_keys.is_some() || aggregates,
        ) {
            (Some(_), false) => self.store.cursor(&self.flow.name)?,
            _ => None,
        };
        let Some(source) = self.connections.endpoint(&self.flow.source) else {
            return Err(no_connection(&self.flow.source).into());
        };
        let query = read::query(
            self.program,
            self.flow,
            resume.as_deref(),
            self.options.overlap,
            self.filter_on_mutable.then_some(self.reread_window()),
        );
        let resource = resource_of(self.program, &self.flow.source);
        self.pipeline(run, cursor_field.as_deref(), |push| {
            source.read(&resource, &query, &mut |item: ReadItem| {
                !self.out_of_time(started)
                    && push(Work {
                        position: item.position,
                        raw: item.raw,
                        partial: false,
                    })
            })?;
            Ok(())
        })
    }

    /// How long records the filter rejects on fields that can still change
    /// are read again: the flow's `reread DAYS` (a setting), else the run's
    /// window (`--reread-window`).
    fn reread_window(&self) -> Duration {
        let Some((expr, frame)) = &self.flow.reread else {
            return self.options.reread_window;
        };
        // The checker made it a number that needs no record.
        match Runtime::new(self.program).eval_standalone(expr, *frame) {
            Ok(Value::Num(days)) if days >= rust_decimal::Decimal::ZERO => {
                let seconds = (days * rust_decimal::Decimal::from(86_400))
                    .round()
                    .try_into()
                    .unwrap_or(u64::MAX);
                Duration::from_secs(seconds)
            }
            _ => self.options.reread_window,
        }
    }

    fn out_of_time(&self, started: Instant) -> bool {
        if let Some(budget) = self.options.max_duration {
            if started.elapsed() >= budget {
                self.stop.store(true, Ordering::SeqCst);
            }
        }
        if self
            .options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
        {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.stop.load(Ordering::SeqCst)
    }

    /// Records per unit of work and workers: for files, chunks large enough
    /// that handing them over costs nothing next to mapping them, on every
    /// core (the limit is the CPU); for services one record at a time on the
    /// configured number of workers (the limit is the API).
    fn shape(&self) -> (usize, usize) {
        if self.appends {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (FILE_CHUNK, cores.min(8))
        } else {
            (1, self.options.concurrency.clamp(1, 32))
        }
    }

    /// The pipeline: `feed` (on this thread) pushes records in source order;
    /// workers process chunks of them concurrently; a sequencer takes the
    /// finished chunks back in source order, appends their records (file
    /// targets) and moves the cursor past every record that is done. A
    /// failure that stops the run stops the feed, and the threads drain.
    fn pipeline(
        &self,
        run: Option<RunId>,
        cursor_field: Option<&str>,
        feed: impl FnOnce(&mut dyn FnMut(Work) -> bool) -> Result<()>,
    ) -> Result<()> {
        let (chunk_size, workers) = self.shape();
        let fatal = Fatal::default();
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<Work>)>(workers * 2);
        let work_rx = Mutex::new(work_rx);
        let fed = std::thread::scope(|scope| {
            let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Chunk)>(workers * 2);
            for _ in 0..workers {
                let done_tx = done_tx.clone();
                let (work_rx, fatal) = (&work_rx, &fatal);
                scope.spawn(move || {
                    let mut worker = Worker {
                        runtime: Runtime::with_references(self.program, self),
                        decoder: Decoder::new(),
                    };
                    loop {
                        let next = lock(work_rx).recv();
                        let Ok((seq, items)) = next else { break };
                        // Stopped by a failure: drain what the feed already sent.
                        if fatal.is_set() {
                            continue;
                        }
                        match self.process_chunk(&mut worker, run, cursor_field, &items) {
                            Ok(chunk) => {
                                if done_tx.send((seq, chunk)).is_err() {
                                    break;
                                }
                            }
                            Err(e) => fatal.set(e),
                        }
                    }
                });
            }
            drop(done_tx);
            scope.spawn(|| self.sequence(run, cursor_field, done_rx, &fatal));
            let mut chunk = Vec::with_capacity(chunk_size);
            let mut seq = 0u64;
            let fed = feed(&mut |work| {
                if fatal.is_set() {
                    return false;
                }
                chunk.push(work);
                if chunk.len() < chunk_size {
                    return true;
                }
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_size));
                seq += 1;
                work_tx.send((seq, full)).is_ok()
            });
            if !chunk.is_empty() && !fatal.is_set() {
                let _ = work_tx.send((seq + 1, chunk));
            }
            // The workers end when the work runs out, then the sequencer.
            drop(work_tx);
            fed
        });
        if let Some(e) = fatal.take() {
            return Err(e);
        }
        fed
    }

    /// Takes finished chunks back in source order: appends their records
    /// (file targets) and checkpoints the cursor every batch of records.
    fn sequence(
        &self,
        run: Option<RunId>,
        cursor_field: Option<&str>,
        done: mpsc::Receiver<(u64, Chunk)>,
        fatal: &Fatal,
    ) {
        let mut pending: BTreeMap<u64, Chunk> = BTreeMap::new();
        let mut next = 1u64;
        let mut newest: Option<String> = None;
        // The oldest record held back in this run: the cursor never passes it.
        let mut held: Option<String> = None;
        let mut since_checkpoint = 0usize;
        let appender = self.appender().filter(|_| !self.options.dry_run);
        for (seq, chunk) in done.iter() {
            if fatal.is_set() {
                continue;
            }
            pending.insert(seq, chunk);
            while let Some(chunk) = pending.remove(&next) {
                next += 1;
                let applied = self.apply_chunk(appender, &chunk, &mut newest);
                if let Some(h) = &chunk.hold {
                    keep_oldest(&mut held, h);
                }
                since_checkpoint += chunk.records;
                let checkpoint = applied.and_then(|()| {
                    if since_checkpoint >= self.options.batch_size {
                        since_checkpoint = 0;
                        self.checkpoint(run, cursor_field, newest.take(), held.as_deref())
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = checkpoint {
                    fatal.set(e);
                    break;
                }
            }
        }
        if !fatal.is_set() {
            if let Err(e) = self.checkpoint(run, cursor_field, newest, held.as_deref()) {
                fatal.set(e);
            }
        }
    }

    fn apply_chunk(
        &self,
        appender: Option<&dyn crate::connectors::Appender>,
        chunk: &Chunk,
        newest: &mut Option<String>,
    ) -> Result<()> {
        if let Some(appender) = appender {
            for encoded in &chunk.appends {
                appender.append(encoded)?;
                self.counters.created.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(c) = &chunk.newest {
            keep_newest(newest, c);
        }
        Ok(())
    }

    /// Every record up to here is written, skipped or dead-lettered: the
    /// cursor may move past all of them, but not past a record held back
    /// (`held`: rejected on a field that can still change), so that the next
    /// read sees it again. (A plan moves nothing.)
    fn checkpoint(
        &self,
        run: Option<RunId>,
        cursor_field: Option<&str>,
        newest: Option<String>,
        held: Option<&str>,
    ) -> Result<()> {
        let (Some(_), Some(_), Some(mut c)) = (run, cursor_field, newest) else {
            return Ok(());
        };
        if let Some(h) = held {
            if read::compare_cursor(h, &c).is_lt() {
                c = h.to_string();
            }
        }
        let saved = self.store.cursor(&self.flow.name)?;
        if saved
            .as_deref()
            .is_none_or(|s| read::compare_cursor(&c, s).is_gt())
        {
            self.store.set_cursor(&self.flow.name, &c)?;
        }
        Ok(())
    }

    fn process_chunk(
        &self,
        worker: &mut Worker<'_>,
        run: Option<RunId>,
        cursor_field: Option<&str>,
        items: &[Work],
    ) -> Result<Chunk> {
        let mut chunk = Chunk {
            records: items.len(),
            ..Chunk::default()
        };
        for work in items {
            let done = self.process(worker, run, work, cursor_field)?;
            if let Some(encoded) = done.append {
                chunk.appends.push(encoded);
            }
            if let Some(c) = &done.cursor {
                keep_newest(&mut chunk.newest, c);
            }
            if let Some(h) = &done.hold {
                keep_oldest(&mut chunk.hold, h);
            }
        }
        Ok(chunk)
    }

    /// Processes one record; only a failure of the state store, of the
    /// target as a whole, or of the source stops the run.
    fn process(
        &self,
        worker: &mut Worker<'_>,
        run: Option<RunId>,
        work: &Work,
        cursor_field: Option<&str>,
    ) -> Result<Done> {
        let started = Instant::now();
        let keep = |k: &str| self.reads_field(k);
        let record = match &work.raw {
            Raw::Record(v) => self
                .check_source(v, !work.partial)
                .map(|()| v.clone())
                .map_err(|e| match e.help {
                    None => InputError {
                        message: format!("the record {}", e.message),
                        help: None,
                    },
                    Some(_) => e,
                }),
            Raw::Json(line) => {
                decode_json(&mut worker.decoder, line, &keep)
                    .and_then(|v| self.check_source(&v, true).map(|()| v))
                    .map_err(|e| match e.help {
                        // Not JSON, or not an object: the line (or the
                        // element of a JSON array) is what is wrong.
                        None => InputError {
                            message: format!("{} {} {}", self.unit(), work.position, e.message),
                            help: None,
                        },
                        Some(_) => e,
                    })
            }
            Raw::Unreadable(why) => Err(InputError {
                message: why.clone(),
                help: None,
            }),
        };
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                self.counters.read.fetch_add(1, Ordering::Relaxed);
                return self.unreadable(run, work.position, e, started);
            }
        };
        let key = self.source_key(&record, work.position);
        if let Some(only) = &self.options.only_keys {
            if !only.contains(&key) {
                return Ok(Done::default());
            }
        }
        self.counters.read.fetch_add(1, Ordering::Relaxed);
        // A source that pages over a changing list (an order paid during the
        // read moves across a page boundary) can return a record twice; two
        // workers must never both write it.
        if !self.appends && !lock(&self.seen).insert(key.clone()) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            self.decision(
                &key,
                "skip",
                None,
                vec![],
                Some("read twice in this run; processed once"),
                None,
                false,
            );
            return Ok(Done::default());
        }
        let ctx = RecordCtx {
            run,
            key: &key,
            position: work.position,
            record: &record,
            started,
            failed: std::cell::Cell::new(false),
        };
        let reads = self.source_reads();
        let seen = match (&reads, record.as_record()) {
            (Some(reads), Some(r)) => Some(reads.see(&key, r)?),
            _ => None,
        };
        let echo = match (&reads, &seen) {
            (Some(reads), Some(seen)) => reads.echo(&key, seen)?,
            _ => None,
        };
        let cursor = cursor_field.and_then(|f| record.as_record()?.get(f)?.to_text());
        let mut hold = None;
        let outcome = match &echo {
            Some(reason) => Ok(Outcome::Skipped(Some(reason.clone()))),
            None => self.evaluate(&worker.runtime, &ctx)?,
        };
        let append = match outcome {
            Err(e) => {
                self.mapping_failed(&ctx, &e)?;
                None
            }
            Ok(Outcome::Skipped(reason)) => {
                self.skipped(&ctx, reason.as_deref())?;
                hold = cursor.clone().filter(|c| self.holds(c));
                if hold.is_some() {
                    self.counters.held.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            Ok(Outcome::Mapped(mapped)) => match self.appender() {
                Some(appender) => self.append(&ctx, appender, mapped)?,
                None => {
                    self.write_target(&ctx, mapped)?;
                    None
                }
            },
        };
        if let (Some(reads), Some(seen)) = (&reads, &seen) {
            if !ctx.failed.get() && !self.options.dry_run {
                reads.done(&key, seen, echo.is_some())?;
            }
        }
        Ok(Done {
            append,
            cursor,
            hold,
        })
    }

    /// What the flow reads of its source records, when they can be flowc's
    /// own writes read back.
    fn source_reads(&self) -> Option<echo::Reads<'_>> {
        let (service, resource) = self.source_service.as_ref()?;
        Some(echo::Reads {
            store: self.store,
            flow: &self.flow.name,
            service,
            resource,
            fields: self.input_fields.as_ref(),
            readonly: &self.source_readonly,
        })
    }

    /// Whether a record the `where` rejected, with this cursor value, keeps
    /// the cursor from passing it: the filter reads a field that can still
    /// change, and the record is younger than the re-read window (a cursor
    /// that is not a time has no age: such records always hold).
    fn holds(&self, cursor: &str) -> bool {
        if !self.filter_on_mutable || self.appends {
            return false;
        }
        match crate::value::parse::datetime_of(&Value::str(cursor)) {
            Some(at) => {
                let window = chrono::Duration::from_std(self.reread_window())
                    .unwrap_or(chrono::Duration::MAX);
                chrono::Utc::now()
                    .signed_duration_since(at.to_utc())
                    .le(&window)
            }
            None => true,
        }
    }

    /// Maps the record, upserting related records on the way. Related
    /// records taken to hold payloads that earlier runs wrote (so that a
    /// rerun replays none of them) must really hold them once this record
    /// is written: then it is mapped again, trusting only their current state.
    fn evaluate(
        &self,
        runtime: &Runtime,
        ctx: &RecordCtx,
    ) -> Result<std::result::Result<Outcome, crate::eval::EvalError>> {
        let mut resolver = resolver::EngineResolver::new(self, ctx.key, false);
        let mut outcome = runtime.run_flow(self.flow, ctx.record, &mut resolver);
        let mut related = resolver.finish()?;
        if resolver.assumed() {
            if let Ok(Outcome::Mapped(mapped)) = &outcome {
                if !decide::ledger_holds(self, ctx.key, mapped)? {
                    let mut strict = resolver::EngineResolver::new(self, ctx.key, true);
                    outcome = runtime.run_flow(self.flow, ctx.record, &mut strict);
                    related += strict.finish()?;
                }
            }
        }
        self.counters.related.fetch_add(related, Ordering::Relaxed);
        Ok(outcome)
    }

    /// Checks a source record against the schema fields the flow reads.
    fn check_source(&self, value: &Value, complete: bool) -> std::result::Result<(), InputError> {
        let record = as_object(value)?;
        if let Some(schema) = self.flow.source_schema.map(|i| &self.program.schemas[i]) {
            let fields = self
                .checked_fields
                .iter()
                .map(|&i| &schema.record.fields[i]);
            crate::types::validate::validate_fields(record, &schema.record, fields, complete)?;
        }
        Ok(())
    }

    /// What a position in the source counts: elements of a JSON array,
    /// else lines.
    fn unit(&self) -> &'static str {
        match &self.flow.source {
            Endpoint::File {
                format: crate::program::FileFormat::Json,
                ..
            } => "element",
            _ => "line",
        }
    }

    /// Whether the flow reads this top-level source field (JSON lines are
    /// decoded only as far as the flow reads them).
    fn reads_field(&self, name: &str) -> bool {
        self.input_fields
            .as_ref()
            .is_none_or(|set| set.contains(name))
    }

    /// The source record's key (its schema's key field), else its position.
    fn source_key(&self, record: &Value, position: usize) -> String {
        let key_field = self
            .flow
            .source_schema
            .and_then(|i| self.program.schemas[i].key.as_deref());
        key_field
            .and_then(|f| record.as_record()?.get(f)?.to_text())
            .unwrap_or_else(|| format!("#{position}"))
    }

    /// How diagnostics name a record: a file's by position (and key), a
    /// service's by key.
    fn record_name(&self, ctx: &RecordCtx) -> String {
        match &self.flow.source {
            Endpoint::File { .. } => {
                let key_field = self
                    .flow
                    .source_schema
                    .and_then(|i| self.program.schemas[i].key.as_deref());
                match key_field.and_then(|f| Some((f, ctx.record.as_record()?.get(f)?.to_text()?)))
                {
                    Some((f, k)) => format!("#{} ({f}={k})", ctx.position),
                    None => format!("#{}", ctx.position),
                }
            }
            Endpoint::Resource { .. } => ctx.key.to_string(),
        }
    }

    fn unreadable(
        &self,
        run: Option<RunId>,
        position: usize,
        error: InputError,
        started: Instant,
    ) -> Result<Done> {
        let InputError { message, help } = error;
        let source = match &self.flow.source {
            Endpoint::File { display, .. } => display.clone(),
            Endpoint::Resource { schema, .. } => schema.to_string(),
        };
        let key = format!("#{position}");
        let diag = Diagnostic::new(
            &codes::E0906,
            format!("record #{position} of {source}: {message}"),
        )
        .help(match help {
            Some(h) => format!("{h}; the other records were processed"),
            None => {
                "fix or remove this record in the input; the other records were processed".into()
            }
        });
        let letter = NewDeadLetter {
            source_key: key.clone(),
            error_class: "input".into(),
            error_code: Some("E0906".into()),
            message,
            ..NewDeadLetter::default()
        };
        self.fail(run, position, &key, letter, diag, started)?;
        Ok(Done::default())
    }

    fn mapping_failed(&self, ctx: &RecordCtx, e: &crate::eval::EvalError) -> Result<()> {
        ctx.failed.set(true);
        let diag = e.to_diagnostic(&self.record_name(ctx));
        let letter = NewDeadLetter {
            source_key: ctx.key.to_string(),
            error_class: if resolver::is_uncertain(e) {
                "uncertain".into()
            } else if resolver::is_connector_error(e) {
                "http".into()
            } else {
                "mapping".into()
            },
            error_code: Some(e.code.id.to_string()),
            message: diag.message.clone(),
            source_record: self
                .options
                .keep_payloads
                .then(|| json::to_string(ctx.record)),
            ..NewDeadLetter::default()
        };
        self.fail(ctx.run, ctx.position, ctx.key, letter, diag, ctx.started)
    }

    /// A record left out: by the `where` filter (no reason), or on purpose
    /// with a reason (`skip("…")`, a key that collides with another record's).
    fn skipped(&self, ctx: &RecordCtx, reason: Option<&str>) -> Result<()> {
        self.counters.skipped.fetch_add(1, Ordering::Relaxed);
        self.decision(
            ctx.key,
            "skip",
            None,
            vec![],
            Some(reason.unwrap_or(FILTERED)),
            None,
            false,
        );
        if let Some(reason) = reason {
            *lock(&self.skip_reasons)
                .entry(reason.to_string())
                .or_default() += 1;
        }
        let (Some(run), None) = (ctx.run, self.appender()) else {
            return Ok(());
        };
        let ms = elapsed_ms(ctx.started);
        match reason {
            Some(reason) => {
                self.store
                    .record_skip_reason(run, &self.flow.name, ctx.key, reason, ms)?
            }
            None => self.store.record_skip(
                run,
                &self.flow.name,
                ctx.key,
                Decision::Skip,
                None,
                ms,
                None,
            )?,
        }
        Ok(())
    }

    /// A record for a target without identity: validated, then encoded here
    /// (on the worker) and appended in input order after the batch.
    fn append(
        &self,
        ctx: &RecordCtx,
        appender: &dyn crate::connectors::Appender,
        mapped: crate::eval::Mapped,
    ) -> Result<Option<String>> {
        if let Some(schema) = self.flow.target_schema.map(|i| &self.program.schemas[i]) {
            if let Err(v) =
                crate::types::validate::validate(&mapped.payload.create, &schema.record, true)
            {
                self.mapping_failed(ctx, &v.into())?;
                return Ok(None);
            }
        }
        if self.options.record_decisions {
            let changes = payload::diff(&crate::value::Record::new(), &mapped.payload.create);
            self.decision(
                ctx.key,
                "create",
                None,
                changes,
                None,
                Some(mapped.payload.create.clone()),
                false,
            );
        }
        if self.options.dry_run {
            self.counters.created.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(appender.encode(&mapped.payload.create)))
    }

    #[allow(clippy::too_many_arguments)]
    fn fail(
        &self,
        run: Option<RunId>,
        position: usize,
        key: &str,
        letter: NewDeadLetter,
        diag: Diagnostic,
        started: Instant,
    ) -> Result<()> {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        self.decision(key, "fail", None, vec![], Some(&diag.message), None, false);
        lock(&self.failures).push((position, key.to_string(), diag));
        // Files keep no state: their failures are reported, not remembered.
        if let (Some(run), None) = (run, self.appender()) {
            self.store
                .record_failure(run, &self.flow.name, &letter, elapsed_ms(started))?;
        }
        Ok(())
    }

    /// Notes one decision, for plans and tests.
    #[allow(clippy::too_many_arguments)]
    fn decision(
        &self,
        source: &str,
        action: &'static str,
        target: Option<(&str, Option<String>)>,
        changes: Vec<Change>,
        reason: Option<&str>,
        payload: Option<crate::value::Record>,
        related: bool,
    ) {
        if !self.options.record_decisions {
            return;
        }
        let changes = changes
            .into_iter()
            .map(|mut c| {
                c.to =
                    c.to.replace(plan::PLANNED_ID, "(id of the record created above)");
                c
            })
            .collect();
        let (resource, target_id) = match target {
            Some((r, id)) => (r.to_string(), id),
            None => (self.target_name(), None),
        };
        lock(&self.decisions).push(PlanEntry {
            source: source.to_string(),
            action,
            resource,
            target_id,
            changes,
            reason: reason.map(str::to_string),
            payload,
            related,
        });
    }

    fn target_name(&self) -> String {
        match &self.flow.target {
            Endpoint::Resource { schema, .. } => schema.to_string(),
            Endpoint::File {
                display, schema, ..
            } => schema.as_deref().unwrap_or(display).to_string(),
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

/// The reason a plan gives for a record the `where` filter left out.
pub(crate) const FILTERED: &str = "filtered out by `where`";

/// Why a source record could not be read: the message names the field,
/// its value and what the schema expects; the help says how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub message: String,
    /// `None`: the record as a whole is broken (not JSON, not an object).
    pub help: Option<String>,
}

/// Decodes one line of JSON into a source record the way a run does: strict
/// JSON (a key twice in one object is refused, not "last one wins"), a JSON
/// object (not an array, number or null), and every field the flow reads
/// (`keep`) fitting the source schema (E0906 otherwise). Fields the flow does
/// not read are only checked to be well-formed JSON.
pub fn decode_record(
    program: &Program,
    flow: &Flow,
    decoder: &mut Decoder,
    line: &[u8],
    keep: &dyn Fn(&str) -> bool,
) -> std::result::Result<Value, InputError> {
    let value = decode_json(decoder, line, keep)?;
    check_record(program, flow, &value, keep, true)?;
    Ok(value)
}

/// One line of strict JSON, projected onto the fields `keep` accepts.
fn decode_json(
    decoder: &mut Decoder,
    line: &[u8],
    keep: &dyn Fn(&str) -> bool,
) -> std::result::Result<Value, InputError> {
    decoder
        .decode_projected(line.trim_ascii(), keep)
        .map_err(|e| InputError {
            // Valid JSON, but which of the two values is meant is anyone's guess.
            message: if e.message.starts_with("the key ") {
                format!("is refused: {e}")
            } else {
                format!("is not valid JSON: {e}")
            },
            help: None,
        })
}

/// The record a JSON value is, or why it is none.
fn as_object(value: &Value) -> std::result::Result<&crate::value::Record, InputError> {
    match value {
        Value::Record(r) => Ok(r),
        other => Err(InputError {
            message: format!(
                "is {}, not a JSON object",
                match other {
                    Value::List(_) => "an array".to_string(),
                    other => crate::value::describe(other),
                }
            ),
            help: None,
        }),
    }
}

impl From<crate::types::validate::Violation> for InputError {
    fn from(v: crate::types::validate::Violation) -> Self {
        InputError {
            message: v.message,
            help: Some(v.help),
        }
    }
}

/// A source record that arrived decoded (a service's, a CSV row, an item of a
/// JSON array): an object whose fields that the flow reads fit the schema.
/// `complete`: a required field may not be missing (a test's input may
/// leave fields out).
pub fn check_record(
    program: &Program,
    flow: &Flow,
    value: &Value,
    keep: &dyn Fn(&str) -> bool,
    complete: bool,
) -> std::result::Result<(), InputError> {
    let record = as_object(value)?;
    if let Some(schema) = flow.source_schema.map(|i| &program.schemas[i]) {
        crate::types::validate::validate_source(record, &schema.record, keep, complete)?;
    }
    Ok(())
}

/// Records per chunk of work for files.
const FILE_CHUNK: usize = 512;

/// A chunk of records processed: what the sequencer needs of it.
#[derive(Default)]
struct Chunk {
    records: usize,
    /// Records encoded for an appending target, in source order.
    appends: Vec<String>,
    /// The newest cursor value among its records.
    newest: Option<String>,
    /// The oldest cursor value of a record held back.
    hold: Option<String>,
}

/// The first failure that stops a run, seen by the feed, the workers and
/// the sequencer, which then stop or drain.
#[derive(Default)]
struct Fatal(Mutex<Option<EngineError>>);

impl Fatal {
    fn set(&self, e: EngineError) {
        lock(&self.0).get_or_insert(e);
    }
    fn is_set(&self) -> bool {
        lock(&self.0).is_some()
    }
    fn take(self) -> Option<EngineError> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// What processing one record leaves for the end of its batch.
#[derive(Default)]
struct Done {
    /// The record encoded for an appending target.
    append: Option<String>,
    /// The record's cursor value (a time or an increasing number).
    cursor: Option<String>,
    /// Set to the cursor value when the record holds the cursor back.
    hold: Option<String>,
}

/// One source record on its way through the engine.
struct RecordCtx<'r> {
    run: Option<RunId>,
    key: &'r str,
    position: usize,
    record: &'r Value,
    started: Instant,
    /// Set when the record failed (it is then not "read" for `echo`).
    failed: std::cell::Cell<bool>,
}

fn no_connection(endpoint: &Endpoint) -> ConnectorError {
    let name = match endpoint {
        Endpoint::File { display, .. } => display.clone(),
        Endpoint::Resource { schema, .. } => schema.to_string(),
    };
    ConnectorError::new(
        crate::connectors::ErrorClass::Config,
        format!("no connection is open for {name}"),
    )
}

/// The service and resource of a flow's source, when its records have ids.
/// A flow that writes back to its own source (an order's status) reads its
/// own writes, which its ledger knows: they are no echo of another flow's.
fn source_service(
    program: &Program,
    flow: &Flow,
    connections: &Connections,
) -> Option<(String, String)> {
    let keyed = flow
        .source_schema
        .is_some_and(|i| program.schemas[i].key.is_some());
    let service = |e: &Endpoint| {
        let connector = connections.endpoint(e)?;
        Some((connector.target_identity(), resource_of(program, e)))
    };
    match &flow.source {
        Endpoint::Resource { .. } if keyed => {
            let source = service(&flow.source)?;
            (service(&flow.target).as_ref() != Some(&source)).then_some(source)
        }
        _ => None,
    }
}

/// Keeps the older of two cursor values.
fn keep_oldest(oldest: &mut Option<String>, candidate: &str) {
    if oldest
        .as_deref()
        .is_none_or(|o| read::compare_cursor(candidate, o).is_lt())
    {
        *oldest = Some(candidate.to_string());
    }
}

/// Whether the flow's `where` reads a field its source schema declares
/// `mutable` (or reads the whole record of such a schema).
fn filter_on_mutable(program: &Program, flow: &Flow) -> bool {
    let Some(schema) = flow.source_schema.map(|i| &program.schemas[i]) else {
        return false;
    };
    if schema.mutable.is_empty() || flow.filter.is_none() {
        return false;
    }
    match flow.filter_fields() {
        Some(fields) => schema.mutable.iter().any(|m| fields.contains(m)),
        None => true,
    }
}

/// Keeps the newer of two cursor values.
fn keep_newest(newest: &mut Option<String>, candidate: &str) {
    if newest
        .as_deref()
        .is_none_or(|n| read::compare_cursor(candidate, n).is_gt())
    {
        *newest = Some(candidate.to_string());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sorts "10" after "9": numeric keys by number, others as text.
fn natural(key: &str) -> (u8, rust_decimal::Decimal, &str) {
    match key.trim_start_matches('#').parse::<rust_decimal::Decimal>() {
        Ok(n) => (0, n, key),
        Err(_) => (1, rust_decimal::Decimal::ZERO, key),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}
