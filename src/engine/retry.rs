//! Retrying dead letters: the records that failed are processed again, once
//! the flow, the data or the service is fixed. `flowc dlq retry` and the
//! dashboard's retry button both come here, so a retry is the same run
//! whoever asks for it: the named records are read again in full from the
//! source (the cursor does not limit them) and go through the whole
//! pipeline, exactly-once rules included; a record that succeeds loses its
//! dead letter in the same transaction that records the write.

use std::path::Path;

use super::{EngineError, Options, Report, Session};
use crate::check::Checked;
use crate::program::{Flow, Program};
use crate::state::{SqliteStore, StateError, Store};

/// Which dead letters of a flow to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letters {
    All,
    /// One dead letter by its id (`flowc dlq list` shows them).
    One(i64),
}

/// What a retry did.
#[derive(Debug)]
pub struct Retried {
    pub flow: String,
    /// The source keys of the records retried.
    pub keys: Vec<String>,
    /// The run's report; `None` when there was nothing to retry.
    pub report: Option<Report>,
    /// How many of the records retried still have a dead letter after the
    /// run: they failed again, or the source no longer has them.
    pub still_dead: usize,
}

impl Retried {
    /// One line for a person: how many records were retried and how they
    /// fared.
    pub fn summary(&self) -> String {
        let Some(report) = &self.report else {
            return format!("flow {}: no dead letters to retry", self.flow);
        };
        let n = self.keys.len();
        let verdict = match (self.still_dead, report.failed) {
            (0, _) => "succeeded".to_string(),
            (n, 0) => format!(
                "{n} not found in the source any more (drop the dead letter if the record is gone for good)"
            ),
            (n, _) => format!("{n} still failing (its dead letter says why)"),
        };
        format!(
            "flow {}: retried {n} record{} (run {}): created {}, updated {}, unchanged {}, skipped {}; {verdict}",
            self.flow,
            if n == 1 { "" } else { "s" },
            report.run.map_or_else(|| "-".to_string(), |r| r.to_string()),
            report.created,
            report.updated,
            report.unchanged,
            report.skipped,
        )
    }
}

/// The options of a retry run: the records named by `keys`, read whatever
/// the cursor says, a few at a time.
pub fn options(keys: Vec<String>) -> Options {
    Options {
        full: true,
        concurrency: 4,
        overlap: std::time::Duration::ZERO,
        only_keys: Some(keys),
        ..Options::default()
    }
}

/// Retries dead letters of `flow` through the session's engine.
pub fn retry(
    program: &Program,
    session: &Session,
    flow: &Flow,
    which: Letters,
) -> Result<Retried, EngineError> {
    let keys: Vec<String> = match which {
        Letters::All => session
            .store
            .dead_letters(Some(&flow.name))?
            .into_iter()
            .map(|l| l.source_key)
            .collect(),
        Letters::One(id) => session
            .store
            .dead_letter(id)?
            .filter(|l| *l.flow == *flow.name)
            .map(|l| l.source_key)
            .into_iter()
            .collect(),
    };
    if keys.is_empty() {
        return Ok(Retried {
            flow: flow.name.to_string(),
            keys,
            report: None,
            still_dead: 0,
        });
    }
    let report = session
        .engine(program, flow, options(keys.clone()))
        .run(&session.flow_hash)?;
    let still_dead = session
        .store
        .dead_letters(Some(&flow.name))?
        .iter()
        .filter(|l| keys.contains(&l.source_key))
        .count();
    Ok(Retried {
        flow: flow.name.to_string(),
        keys,
        report: Some(report),
        still_dead,
    })
}

/// Why one dead letter could not be retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("there is no dead letter #{0} (it was retried, dropped or purged)")]
    NoSuchLetter(i64),
    #[error("dead letter #{id} belongs to flow `{flow}`, which the checked program does not have")]
    UnknownFlow { id: i64, flow: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StateError> for RetryError {
    fn from(e: StateError) -> Self {
        RetryError::Engine(e.into())
    }
}

/// Retries one dead letter of a checked program whose state is in
/// `state_dir`: opens a session for the letter's flow (connections with
/// settings from `env`) and runs it for that one record. What a server
/// holding a checked program calls for the dashboard's retry button.
pub fn retry_dead_letter(
    checked: &Checked,
    state_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    id: i64,
) -> Result<Retried, RetryError> {
    let letter = SqliteStore::open(state_dir)?
        .dead_letter(id)?
        .ok_or(RetryError::NoSuchLetter(id))?;
    let flow = checked
        .program
        .flow(&letter.flow)
        .ok_or_else(|| RetryError::UnknownFlow {
            id,
            flow: letter.flow.clone(),
        })?;
    let session = Session::open(checked, &[flow], state_dir, env)?;
    Ok(retry(&checked.program, &session, flow, Letters::One(id))?)
}
