//! What the dashboard needs from the running server (the `Backend` of
//! `serve::dashboard`, see docs/serve.md): every configured flow with its
//! last run, next run and health; the state folder; retrying a dead letter.
//! The types mirror the dashboard's interface so that its `Backend` trait
//! is implemented by forwarding to [`ServeBackend`].

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{lock, Server};
use crate::engine::Options;
use crate::state::{RunInfo, Store};

pub struct FlowStatus {
    pub name: String,
    pub last_run: Option<RunInfo>,
    pub next_run: Option<DateTime<Utc>>,
    pub health: Health,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    Failing(String),
    /// Not run yet.
    Idle,
}

/// The running server, as the dashboard sees it.
#[derive(Clone)]
pub struct ServeBackend(pub Arc<Server>);

impl ServeBackend {
    pub fn flows(&self) -> Vec<FlowStatus> {
        let server = &self.0;
        server
            .flows
            .values()
            .map(|slot| {
                let last_run = server.store.last_run(&slot.name).ok().flatten();
                let failure = lock(&slot.last_failure).clone();
                let health = match (&last_run, failure) {
                    (_, Some(why)) => Health::Failing(why),
                    (None, None) => Health::Idle,
                    (Some(r), None) if r.status == "failed" => {
                        Health::Failing(format!("run {} failed", r.id))
                    }
                    (Some(r), None) if r.counts.failed > 0 => Health::Failing(format!(
                        "run {} left {} records failed",
                        r.id, r.counts.failed
                    )),
                    (Some(_), None) => Health::Ok,
                };
                FlowStatus {
                    name: slot.name.clone(),
                    last_run,
                    next_run: *lock(&slot.next_run),
                    health,
                }
            })
            .collect()
    }

    pub fn state_dir(&self) -> &Path {
        &self.0.state_dir
    }

    /// Runs the dead letter's record again now, through the engine, under
    /// the flow's lock (blocking: call it on a blocking thread).
    pub fn retry_dead_letter(&self, id: i64) -> Result<String, String> {
        let server = &self.0;
        let letter = server
            .store
            .dead_letter(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("dead letter #{id} does not exist (any more)"))?;
        let slot = server.flows.get(&letter.flow).ok_or_else(|| {
            format!(
                "flow `{}` is not served here; retry it with `flowc dlq retry`",
                letter.flow
            )
        })?;
        let _busy = slot.busy.blocking_lock();
        let loaded = &server.files[slot.file];
        let program = &loaded.checked.program;
        let options = Options {
            full: true,
            overlap: std::time::Duration::ZERO,
            only_keys: Some(vec![letter.source_key.clone()]),
            ..Options::default()
        };
        let engine = loaded
            .session
            .engine(program, &program.flows[slot.index], options);
        let report = engine
            .run(&loaded.session.flow_hash)
            .map_err(|e| crate::engine::engine_diagnostic(&e).message)?;
        if report.failed > 0 {
            let why = report
                .failures
                .first()
                .map(|(_, d)| d.message.clone())
                .unwrap_or_default();
            return Err(format!("record {} failed again: {why}", letter.source_key));
        }
        Ok(format!(
            "record {}: {}",
            letter.source_key,
            report.human().lines().next().unwrap_or_default()
        ))
    }
}
