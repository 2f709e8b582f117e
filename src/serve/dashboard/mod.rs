//! The web dashboard of `flowc serve`: an axum [`Router`] that a server
//! mounts at `/`. Pages are rendered on the server from the state store
//! (flows, run history, one run, the activity log and its search, dead
//! letters, records per day) with every value escaped; there is no script
//! and nothing is loaded from elsewhere, so it works offline. The running
//! server gives what only it knows through [`Backend`]: the configured
//! flows with their schedules, where the state is, and retrying a dead
//! letter (through `engine::retry`, as `flowc dlq retry` does).
//!
//! Sign-in is from the environment ([`Auth`]); see docs/dashboard.md.

mod auth;
mod chart;
mod html;
mod pages;
mod routes;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Utc};

pub use auth::{Auth, PASSWORD_VAR, TOKEN_VAR, USER_VAR};

use crate::state::{RunInfo, StateError, Store};

/// What the dashboard needs from the running server; serve implements it,
/// tests may implement it too.
pub trait Backend: Send + Sync + 'static {
    /// Every configured flow with its last run, next run and health.
    fn flows(&self) -> Vec<FlowStatus>;
    /// The state folder (the dashboard opens the SQLite store itself, read-mostly).
    fn state_dir(&self) -> &Path;
    /// Retry one dead letter now (blocking; called on a blocking thread);
    /// Ok(summary) or Err(message). `engine::retry::retry_dead_letter` does it.
    fn retry_dead_letter(&self, id: i64) -> Result<String, String>;
}

/// One configured flow as the flows page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStatus {
    pub name: String,
    pub last_run: Option<RunInfo>,
    pub next_run: Option<DateTime<Utc>>,
    pub health: Health,
}

impl FlowStatus {
    /// A flow's status from its last run in `store`, scheduled next at `next_run`.
    pub fn of(
        store: &dyn Store,
        name: &str,
        next_run: Option<DateTime<Utc>>,
    ) -> Result<FlowStatus, StateError> {
        let last_run = store.last_run(name)?;
        Ok(FlowStatus {
            name: name.to_string(),
            health: Health::of_run(last_run.as_ref()),
            last_run,
            next_run,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Why, in a few words (e.g. "run failed", "3 records failed").
    Failing(String),
    /// Never run yet.
    Idle,
}

impl Health {
    /// The health a flow's last run shows.
    pub fn of_run(last: Option<&RunInfo>) -> Health {
        let Some(run) = last else {
            return Health::Idle;
        };
        match run.status.as_str() {
            "succeeded" | "running" => Health::Ok,
            "partial" => Health::Failing(format!(
                "{} record{} failed in run #{}",
                run.counts.failed,
                if run.counts.failed == 1 { "" } else { "s" },
                run.id
            )),
            other => Health::Failing(format!("run #{} {other}", run.id)),
        }
    }
}

/// The dashboard's routes, for `backend` and signed in with `auth`.
pub fn router(backend: Arc<dyn Backend>, auth: Auth) -> Router {
    routes::build(backend, auth)
}

#[cfg(test)]
mod tests;
