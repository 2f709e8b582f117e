//! `flowc serve`: one long-running process that keeps every configured flow
//! current. Flows run on their schedules (never two runs of one flow at
//! once: a per-flow mutex here, the state store's run lock across
//! processes), CCV Shop webhooks trigger a sync of the one record they
//! name, alerts go out when something breaks, and `/metrics` and
//! `/healthz` tell how it goes. Every run goes through the one engine, on a
//! blocking thread (the engine is synchronous).
//!
//! Next-run times and run history live in the state store, so a restart
//! (even after SIGKILL) keeps the schedule; SIGTERM makes the run in
//! progress checkpoint and stop (`Options::cancel`) before the process ends.

pub mod alerts;
pub mod config;
pub mod dashboard;
pub mod http;
pub mod metrics;
pub mod schedule;
pub mod status;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::check::Checked;
use crate::connectors::{Connector, ErrorClass};
use crate::diag::{codes, Diagnostic};
use crate::engine::{engine_diagnostic, EngineError, Options, Report, Session};
use crate::program::Flow;
use crate::source_map::SourceMap;
use crate::state::{SqliteStore, StateError, Store};

pub use config::Config;

/// Why serve could not start: what to print, and the text it points into.
#[derive(Debug)]
pub struct StartError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl StartError {
    fn plain(d: Diagnostic) -> StartError {
        StartError {
            diagnostics: vec![d],
            sources: SourceMap::new(),
        }
    }
}

/// One checked .flow file with the session its configured flows run in.
pub struct Loaded {
    pub checked: Checked,
    pub session: Session,
}

/// What serve keeps per configured flow.
pub struct FlowSlot {
    pub name: String,
    /// Which [`Loaded`] file, and which of its program's flows.
    file: usize,
    index: usize,
    pub config: config::FlowConfig,
    /// Held while the flow runs in this process.
    busy: tokio::sync::Mutex<()>,
    /// Record ids webhooks named, waiting for the next webhook sync.
    pending: Mutex<BTreeSet<String>>,
    next_run: Mutex<Option<DateTime<Utc>>>,
    /// The resource its source reads and whether that is a CCV Shop.
    source_resource: String,
}

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    /// A failed run tried again by itself.
    Retry,
    Webhook,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Retry => "retry",
            Trigger::Webhook => "webhook",
        }
    }
}

/// How a run ended, as serve sees it.
#[derive(Debug)]
pub enum Outcome {
    Done(Box<Report>),
    Failed(alerts::Cause, String),
    /// Another process runs this flow right now: nothing was done.
    Busy(String),
    /// Shutting down: not started.
    Stopped,
}

pub struct Server {
    pub config: Config,
    pub state_dir: PathBuf,
    /// Serve's own handle on the state: schedules, webhooks, run history.
    pub store: SqliteStore,
    pub files: Vec<Loaded>,
    pub flows: BTreeMap<String, FlowSlot>,
    pub metrics: metrics::Metrics,
    pub alerts: alerts::Alerts,
    /// Tells a running engine to checkpoint and stop (SIGTERM).
    cancel: Arc<AtomicBool>,
    shutdown: tokio::sync::Notify,
    started: Instant,
}

impl Server {
    /// Checks every .flow file the configuration names, finds each
    /// configured flow and opens the sessions they run in.
    pub fn load(
        config: Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Server, StartError> {
        let state_dir = config.state_dir(env);
        let files = crate::check::flow_files(&config.flows).map_err(|e| {
            StartError::plain(
                Diagnostic::new(&codes::E0010, format!("flowc.toml: {e}"))
                    .help("`flows` names .flow files or folders relative to flowc.toml"),
            )
        })?;
        let mut loaded = Vec::new();
        let mut flows = BTreeMap::new();
        let mut declared: Vec<String> = Vec::new();
        for file in files {
            let checked = crate::check::check_path(&file).map_err(StartError::plain)?;
            if checked.has_errors() {
                return Err(StartError {
                    diagnostics: checked.diagnostics,
                    sources: checked.sources,
                });
            }
            let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
            let root = checked.sources.find_path(&canonical).unwrap_or_default();
            let mut wanted: Vec<(usize, &Flow)> = Vec::new();
            for (i, flow) in checked.program.flows.iter().enumerate() {
                if flow.span.file != root {
                    continue;
                }
                declared.push(flow.name.to_string());
                if !config.flow.contains_key(&*flow.name) || flows.contains_key(&*flow.name) {
                    continue;
                }
                match crate::engine::flow_is_on(&checked.program, flow) {
                    Ok(true) => wanted.push((i, flow)),
                    Ok(false) => {
                        tracing::warn!(flow = %flow.name, "not scheduled: its `when` is false in the settings")
                    }
                    Err(why) => {
                        return Err(StartError::plain(Diagnostic::new(
                            &codes::E0905,
                            format!("flow {}: {why}", flow.name),
                        )))
                    }
                }
            }
            if wanted.is_empty() {
                continue;
            }
            let only: Vec<&Flow> = wanted.iter().map(|(_, f)| *f).collect();
            let session = Session::open(&checked, &only, &state_dir, env).map_err(|e| {
                StartError::plain(engine_diagnostic(&e).help(format!(
                    "flowc keeps its state in {} (set `state` in flowc.toml to move it)",
                    state_dir.display()
                )))
            })?;
            for (index, flow) in &wanted {
                let fc = config.flow[&*flow.name].clone();
                let resource = crate::engine::resource_of(&checked.program, &flow.source);
                let from_shop = session
                    .connections
                    .endpoint(&flow.source)
                    .is_some_and(|c| c.kind() == "ccvshop");
                for event in &fc.webhooks {
                    let of = event.0.split('.').next().unwrap_or_default();
                    if !from_shop || of != resource {
                        return Err(StartError {
                            diagnostics: vec![config.wrong_event(event, &resource)],
                            sources: config.sources.clone(),
                        });
                    }
                }
                flows.insert(
                    flow.name.to_string(),
                    FlowSlot {
                        name: flow.name.to_string(),
                        file: loaded.len(),
                        index: *index,
                        config: fc,
                        busy: tokio::sync::Mutex::new(()),
                        pending: Mutex::new(BTreeSet::new()),
                        next_run: Mutex::new(None),
                        source_resource: resource,
                    },
                );
            }
            loaded.push(Loaded { checked, session });
        }
        let names: Vec<&str> = declared.iter().map(String::as_str).collect();
        for fc in config.flow.values() {
            if !declared.contains(&fc.name) {
                return Err(StartError {
                    diagnostics: vec![config.unknown_flow(fc, &names)],
                    sources: config.sources.clone(),
                });
            }
        }
        let stored = |e: crate::state::StateError| {
            StartError::plain(Diagnostic::new(&codes::E0010, format!("state store: {e}")))
        };
        let store = SqliteStore::open(&state_dir).map_err(stored)?;
        let firing = store
            .open_alerts()
            .map_err(stored)?
            .into_iter()
            .filter_map(|(flow, cause, at)| Some((flow, alerts::Cause::parse(&cause)?, at)));
        let alerts = alerts::Alerts::new(config.alerts.clone(), firing);
        Ok(Server {
            config,
            state_dir,
            store,
            files: loaded,
            flows,
            metrics: metrics::Metrics::default(),
            alerts,
            cancel: Arc::new(AtomicBool::new(false)),
            shutdown: tokio::sync::Notify::new(),
            started: Instant::now(),
        })
    }

    pub fn is_stopping(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Starts stopping: running engines checkpoint and stop, schedulers end.
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
    }

    /// The connectors' call statistics, summed by connector kind.
    pub fn call_stats(&self) -> BTreeMap<String, crate::connectors::CallStats> {
        let mut out: BTreeMap<String, crate::connectors::CallStats> = BTreeMap::new();
        for f in &self.files {
            for c in f.session.connections.by_index.values() {
                out.entry(c.kind().to_string())
                    .or_default()
                    .merge(&c.stats());
            }
        }
        out
    }

    fn slot(&self, flow: &str) -> Option<&FlowSlot> {
        self.flows.get(flow)
    }

    /// The source connector of a configured flow.
    pub fn source_of(&self, slot: &FlowSlot) -> Option<&Arc<dyn Connector>> {
        let loaded = &self.files[slot.file];
        let flow = &loaded.checked.program.flows[slot.index];
        loaded.session.connections.endpoint(&flow.source)
    }

    /// Runs `flow` once (its whole source, or the records webhooks queued)
    /// on a blocking thread, after any run of it in this process ends.
    ///
    /// `retry_pending`: should it fail, it will be tried again by itself
    /// (alerts wait for that retry).
    pub async fn run(
        self: &Arc<Self>,
        flow: &str,
        trigger: Trigger,
        retry_pending: bool,
    ) -> Outcome {
        let Some(slot) = self.slot(flow) else {
            return Outcome::Stopped;
        };
        let _busy = slot.busy.lock().await;
        if self.is_stopping() {
            return Outcome::Stopped;
        }
        let ids: Vec<String> = match trigger {
            Trigger::Webhook => std::mem::take(&mut *lock(&slot.pending))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        if trigger == Trigger::Webhook && ids.is_empty() {
            // An earlier webhook sync took these ids along.
            return Outcome::Stopped;
        }
        let before = self.dead_letter_count(flow);
        let server = Arc::clone(self);
        let name = flow.to_string();
        let span = tracing::info_span!("run", flow = %name, trigger = trigger.as_str());
        let outcome = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            server.run_blocking(&name, trigger, ids)
        })
        .await
        .unwrap_or_else(|e| {
            Outcome::Failed(alerts::Cause::RunFailed, format!("the run panicked: {e}"))
        });
        self.after_run(slot, trigger, &outcome, before, retry_pending)
            .await;
        outcome
    }

    fn run_blocking(&self, flow: &str, trigger: Trigger, ids: Vec<String>) -> Outcome {
        let Some(slot) = self.slot(flow) else {
            return Outcome::Stopped;
        };
        let loaded = &self.files[slot.file];
        let program = &loaded.checked.program;
        let f = &program.flows[slot.index];
        let options = Options {
            cancel: Some(Arc::clone(&self.cancel)),
            ..Options::default()
        };
        let engine = loaded.session.engine(program, f, options);
        let result = match trigger {
            Trigger::Webhook => {
                let records = self.reread(slot, &ids);
                match records {
                    Ok(records) if records.is_empty() => return Outcome::Stopped,
                    Ok(records) => engine.run_fetched(&loaded.session.flow_hash, records),
                    Err(e) => Err(EngineError::Connector(e)),
                }
            }
            _ => engine.run(&loaded.session.flow_hash),
        };
        match result {
            Ok(report) => {
                tracing::info!(
                    run = report.run,
                    status = %report.status,
                    read = report.read,
                    created = report.created,
                    updated = report.updated,
                    unchanged = report.unchanged,
                    skipped = report.skipped,
                    failed = report.failed,
                    elapsed_ms = report.elapsed_ms as u64,
                    "run finished"
                );
                Outcome::Done(Box::new(report))
            }
            Err(EngineError::State(e)) if matches!(*e, StateError::Locked { .. }) => {
                tracing::info!("skipped: {e}");
                Outcome::Busy(e.to_string())
            }
            Err(e) => {
                let cause = match &e {
                    EngineError::Connector(c) if c.class == ErrorClass::Auth => {
                        alerts::Cause::SignIn
                    }
                    _ => alerts::Cause::RunFailed,
                };
                let message = engine_diagnostic(&e).message;
                tracing::error!(cause = cause.as_str(), "run failed: {message}");
                Outcome::Failed(cause, message)
            }
        }
    }

    /// The records webhooks named, read again from the source now (so that
    /// deliveries out of order or repeated sync the record as it is).
    fn reread(
        &self,
        slot: &FlowSlot,
        ids: &[String],
    ) -> Result<Vec<crate::value::Value>, crate::connectors::ConnectorError> {
        let Some(source) = self.source_of(slot) else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for id in ids {
            match source.get(&slot.source_resource, id)? {
                Some(record) => records.push(record),
                None => {
                    tracing::warn!(id = %id, "{} {id} no longer exists in the shop; nothing to sync", slot.source_resource)
                }
            }
        }
        Ok(records)
    }

    fn dead_letter_count(&self, flow: &str) -> u64 {
        self.store
            .dead_letters(Some(flow))
            .map(|l| l.len() as u64)
            .unwrap_or(0)
    }

    /// Metrics, health and alerts after a run.
    async fn after_run(
        &self,
        slot: &FlowSlot,
        trigger: Trigger,
        outcome: &Outcome,
        before: u64,
        retry_pending: bool,
    ) {
        let report = match outcome {
            Outcome::Done(r) => Some(&**r),
            Outcome::Failed(..) => None,
            Outcome::Busy(_) | Outcome::Stopped => return,
        };
        self.metrics.run(&slot.name, trigger.as_str(), report);
        let after = self.dead_letter_count(&slot.name);
        self.metrics.dead_letters(&slot.name, after);
        let zero_streak = self.count_zero_runs(slot, trigger, report);
        let failure = match outcome {
            Outcome::Failed(cause, message) => Some((*cause, message.clone())),
            _ => None,
        };
        let observation = alerts::Observation {
            retry_pending: failure.is_some() && retry_pending,
            failure,
            zero_streak,
            dead_letters: (before, after),
        };
        let now = Utc::now();
        let alerts = self.alerts.observe(&slot.name, &observation, now);
        self.alerts.send(&alerts).await;
        self.remember(&alerts, now);
    }

    /// How many runs of the flow in a row have now read no record. The
    /// count lives only in the state store (runs of one flow never overlap),
    /// so a restart goes on counting and `state reset` starts it again.
    fn count_zero_runs(&self, slot: &FlowSlot, trigger: Trigger, report: Option<&Report>) -> u32 {
        let before = self.store.zero_streak(&slot.name).unwrap_or_else(|e| {
            tracing::error!(flow = %slot.name, "cannot read the count of runs reading nothing: {e}");
            0
        });
        // Webhook syncs read one record by design: they say nothing about
        // whether the source still yields records.
        if trigger == Trigger::Webhook {
            return before;
        }
        let streak = match report {
            Some(r) if r.read == 0 && !r.stopped_early => before.saturating_add(1),
            _ => 0,
        };
        if streak == before {
            return streak;
        }
        if let Err(e) = self.store.set_zero_streak(&slot.name, streak) {
            tracing::error!(flow = %slot.name, "cannot store the count of runs reading nothing: {e}");
        }
        streak
    }

    /// Keeps which alerts are firing in the state store, for a restart.
    fn remember(&self, alerts: &[alerts::Alert], now: chrono::DateTime<Utc>) {
        for a in alerts {
            let kept = if a.firing {
                self.store.alert_sent(&a.flow, a.cause.as_str(), now)
            } else {
                self.store.alert_cleared(&a.flow, a.cause.as_str())
            };
            if let Err(e) = kept {
                tracing::error!(flow = %a.flow, "cannot store the alert's state: {e}");
            }
        }
    }

    /// A flow's schedule, forever (until shutdown): wait for the next run
    /// time (kept in the state store), run, work out the next.
    pub async fn schedule(self: Arc<Self>, flow: String) {
        let Some(slot) = self.slot(&flow) else { return };
        let stored = self.store.next_run(&flow).unwrap_or_else(|e| {
            tracing::error!(flow = %flow, "cannot read the stored schedule: {e}");
            None
        });
        let mut next = schedule::first_run(stored, Utc::now());
        let mut trigger = Trigger::Schedule;
        let mut retries_left = slot.config.retries;
        loop {
            self.remember_next(slot, next);
            let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.notified() => return,
            }
            if self.is_stopping() {
                return;
            }
            let outcome = self.run(&flow, trigger, retries_left > 0).await;
            if self.is_stopping() {
                return;
            }
            let now = Utc::now();
            match outcome {
                Outcome::Failed(..) if retries_left > 0 => {
                    retries_left -= 1;
                    trigger = Trigger::Retry;
                    next = now
                        + chrono::Duration::from_std(slot.config.retry_after).unwrap_or_default();
                    tracing::info!(flow = %flow, at = %next, "retrying by itself");
                }
                _ => {
                    retries_left = slot.config.retries;
                    trigger = Trigger::Schedule;
                    next = slot.config.schedule.next_with_jitter(
                        now,
                        slot.config.jitter,
                        &mut rand::thread_rng(),
                    );
                }
            }
        }
    }

    /// Every `sign_in_check`, signs in to each service the configured flows
    /// use with one small read, so that credentials that stopped working
    /// (a refresh token eAccounting refuses) alert before a run needs them,
    /// however far away the next run is. Also keeps rotating refresh tokens
    /// in use.
    pub async fn check_sign_ins(self: Arc<Self>) {
        let Some(every) = self.config.sign_in_check() else {
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.shutdown.notified() => return,
            }
            if self.is_stopping() {
                return;
            }
            let server = Arc::clone(&self);
            let checked = tokio::task::spawn_blocking(move || server.sign_ins())
                .await
                .unwrap_or_default();
            let now = Utc::now();
            for (flow, sign_in) in checked {
                let refused = match &sign_in {
                    SignIn::Works => None,
                    SignIn::Refused(why) => Some(why.as_str()),
                    SignIn::Unknown => continue,
                };
                let alerts = self.alerts.sign_in_checked(&flow, refused, now);
                self.alerts.send(&alerts).await;
                self.remember(&alerts, now);
            }
        }
    }

    /// Each configured flow with how signing in to the services it reads
    /// and writes went. One read per connection.
    fn sign_ins(&self) -> Vec<(String, SignIn)> {
        let mut probed: BTreeMap<usize, SignIn> = BTreeMap::new();
        let mut out = Vec::new();
        for slot in self.flows.values() {
            let loaded = &self.files[slot.file];
            let flow = &loaded.checked.program.flows[slot.index];
            let mut worst = SignIn::Works;
            for endpoint in [&flow.source, &flow.target] {
                let Some(c) = loaded.session.connections.endpoint(endpoint) else {
                    continue;
                };
                let at = Arc::as_ptr(c).cast::<()>() as usize;
                let answer = probed.entry(at).or_insert_with(|| sign_in(&**c));
                worst = match (worst, answer) {
                    (SignIn::Refused(why), _) => SignIn::Refused(why),
                    (_, SignIn::Refused(why)) => SignIn::Refused(why.clone()),
                    (SignIn::Unknown, _) | (_, SignIn::Unknown) => SignIn::Unknown,
                    (SignIn::Works, SignIn::Works) => SignIn::Works,
                };
            }
            out.push((slot.name.clone(), worst));
        }
        out
    }

    fn remember_next(&self, slot: &FlowSlot, next: DateTime<Utc>) {
        *lock(&slot.next_run) = Some(next);
        if let Err(e) = self.store.set_next_run(&slot.name, next) {
            tracing::error!(flow = %slot.name, "cannot store the next run time: {e}");
        }
    }

    /// Queues a record id for a webhook sync of `flow` and starts one.
    pub fn queue(self: &Arc<Self>, flow: &str, id: String) {
        let Some(slot) = self.slot(flow) else { return };
        lock(&slot.pending).insert(id);
        let server = Arc::clone(self);
        let flow = flow.to_string();
        tokio::spawn(async move {
            server.run(&flow, Trigger::Webhook, false).await;
        });
    }

    /// Waits for every run in progress to end (they were told to stop).
    pub async fn drain(&self) {
        for slot in self.flows.values() {
            let _ = slot.busy.lock().await;
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// How a sign-in check went.
#[derive(Debug, Clone)]
enum SignIn {
    Works,
    /// The service refused the credentials: why.
    Refused(String),
    /// No answer either way (the service is down, a timeout): the runs
    /// report that.
    Unknown,
}

fn sign_in(c: &dyn Connector) -> SignIn {
    match crate::connectors::sign_in_probe(c) {
        Ok(_) => SignIn::Works,
        Err(e) if e.class == ErrorClass::Auth => {
            let message = e.diagnostic().message;
            tracing::warn!(
                connector = c.kind(),
                "the sign-in check was refused: {message}"
            );
            SignIn::Refused(message)
        }
        Err(e) => {
            tracing::info!(connector = c.kind(), "the sign-in check got no answer: {e}");
            SignIn::Unknown
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
