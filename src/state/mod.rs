//! The sync engine's embedded state: runs, the idempotency ledger, cursors,
//! the per-record activity log, dead letters, ids learned from target
//! services, and claims on target records being created.
//!
//! Everything lives behind the [`Store`] trait, so that a PostgreSQL store can
//! follow without touching the engine. The default implementation is
//! [`SqliteStore`] (one `state.sqlite` file per state directory, WAL mode).
//! No backend type appears in the trait.
//!
//! # Guarantees the engine relies on
//!
//! * **No duplicate writes after a crash.** [`Store::record_success`] writes
//!   the ledger row, the activity row and the removal of the key's dead
//!   letter in *one* transaction. Either all of it is committed or none of it
//!   is. (The engine moves the cursor separately, at checkpoints, once every
//!   record before it is recorded; see `engine::Engine::checkpoint`.)
//! * **The cursor moves only after a write is known to have succeeded.**
//!   [`Store::record_failure`] never touches the cursor; [`Store::record_skip`]
//!   may move it, together with its activity row.
//! * **One create per target record**, across the workers of a run, flows and
//!   processes sharing a state directory: [`Store::reserve`] hands a record
//!   (target service, resource, match key) to one creator at a time, and a
//!   create whose outcome stayed unknown leaves the record *uncertain*: nobody
//!   creates it again until a search has found it or shown it absent.
//! * **One run per flow at a time**, across processes sharing a state
//!   directory: [`Store::lock_flow`]. The lock dies with the process that holds
//!   it (for [`SqliteStore`] on disk it is an OS file lock, released by the
//!   operating system however the process ends), so a dead run never blocks
//!   the next one: the next run takes over what it left behind, and runs it
//!   left `running` are marked `interrupted` (so a crashed run never looks like
//!   a success or like it is still going). A holder that is alive but stuck
//!   keeps its lock until [`Store::break_lock`].
//! * **Retention.** [`Store::purge_older_than`] deletes old activity rows, dead
//!   letters and learned ids, and overwrites what it deleted;
//!   [`Store::reset_flow`] forgets a flow entirely.
//!
//! # Personal data
//!
//! The store keeps no e-mail address or other match key in clear: learned ids
//! and claims are stored under a SHA-256 hash of the key. Activity rows hold
//! only keys, ids, hashes, decisions and error messages, and the store scrubs
//! every error text it is given (`connectors::redact::scrub`: no URLs, no
//! e-mail addresses). Dead letters can also hold a payload and a source
//! record: **callers must pass payloads that are already redacted, and pass
//! `source_record` only when the user opted in.** Old rows are removed with
//! [`Store::purge_older_than`]; deleted content is overwritten
//! (`secure_delete`), and the file is vacuumed after a purge. The database
//! file is created with mode `0600` inside a `0700` directory.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

mod lockfile;
mod migrations;
mod private;
mod reports;
mod sqlite;
mod targets;

pub use migrations::SCHEMA_VERSION;
pub use reports::DayCounts;
pub use sqlite::{SqliteStore, DB_FILE};

/// The id of one run of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the engine decided (and did) for one source record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Create,
    Update,
    Unchanged,
    Skip,
    Fail,
}

impl Decision {
    pub const ALL: [Decision; 5] = [
        Decision::Create,
        Decision::Update,
        Decision::Unchanged,
        Decision::Skip,
        Decision::Fail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Create => "create",
            Decision::Update => "update",
            Decision::Unchanged => "unchanged",
            Decision::Skip => "skip",
            Decision::Fail => "fail",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Decision {
    type Err = StateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| StateError::Corrupt {
                detail: format!("unknown decision `{s}` in the activity log"),
            })
    }
}

/// The statuses a run can have. `finish_run` accepts any of these.
pub const RUN_STATUSES: [&str; 5] = ["running", "succeeded", "partial", "failed", "interrupted"];

/// A write to the target that succeeded, as [`Store::record_success`]
/// records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Success<'a> {
    pub run: RunId,
    pub flow: &'a str,
    pub source_key: &'a str,
    /// `Create` or `Update`, or `Unchanged` for a record found in the
    /// target already as it should be (the ledger learns it).
    pub decision: Decision,
    pub target_id: &'a str,
    pub payload_hash: &'a str,
    pub duration_ms: u64,
    /// The cursor to save with it, if any.
    pub cursor: Option<&'a str>,
}

/// What the ledger knows about one source record that was written to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub source_key: String,
    pub target_id: String,
    pub payload_hash: String,
    pub updated_at: DateTime<Utc>,
}

/// One line of the per-record activity log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub run: i64,
    pub flow: String,
    pub source_key: String,
    pub decision: Decision,
    pub target_id: Option<String>,
    pub duration_ms: u64,
    /// The error of a failed record, or why a skipped one was left out.
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A record that failed, kept until it succeeds, is dropped, or is purged.
/// There is at most one per (flow, source key); `attempts` counts failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub flow: String,
    pub source_key: String,
    /// The run of the latest failure.
    pub run: i64,
    /// e.g. "validation", "mapping", "http".
    pub error_class: String,
    /// e.g. "E0908", "2000".
    pub error_code: Option<String>,
    pub http_status: Option<u16>,
    pub message: String,
    pub api_error_body: Option<String>,
    /// JSON, already redacted by the caller.
    pub payload: Option<String>,
    /// JSON, only when the user opted in.
    pub source_record: Option<String>,
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

/// A failure to record; see [`Store::record_failure`]. The fields have the
/// same meaning as in [`DeadLetter`]; on a repeated failure of the same key
/// they replace the stored ones (so a payload no longer given is cleared).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewDeadLetter {
    pub source_key: String,
    pub error_class: String,
    pub error_code: Option<String>,
    pub http_status: Option<u16>,
    pub message: String,
    pub api_error_body: Option<String>,
    pub payload: Option<String>,
    pub source_record: Option<String>,
}

impl NewDeadLetter {
    /// The one-line error text stored in the activity log:
    /// `class [code] (HTTP status): message`.
    pub fn summary(&self) -> String {
        let mut s = self.error_class.clone();
        if let Some(code) = &self.error_code {
            s.push(' ');
            s.push_str(code);
        }
        if let Some(status) = self.http_status {
            s.push_str(&format!(" (HTTP {status})"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

/// One run of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: i64,
    pub flow: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub flowc_version: String,
    pub flow_hash: String,
    /// running | succeeded | partial | failed | interrupted
    pub status: String,
    pub counts: RunCounts,
}

/// Record counts of a run, for the summary (and against false success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Which activity rows to return. Rows come newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActivityFilter {
    pub flow: Option<String>,
    pub run: Option<i64>,
    /// Only rows with decision `fail`.
    pub only_failed: bool,
    /// At most this many rows (the newest); `None` for all.
    pub limit: Option<usize>,
}

/// What [`Store::purge_older_than`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeCounts {
    pub activity: u64,
    pub dead_letters: u64,
    /// Learned ids (their keys are e-mail addresses, among others).
    pub learned: u64,
    /// Finished runs older than the cutoff with nothing left that refers to
    /// them (the latest run of each flow is always kept).
    pub runs: u64,
}

/// One record of a target service, named by its match value: what learned
/// ids and create reservations are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetKey<'a> {
    /// The service: its connector and address, e.g. `eaccounting
    /// https://eaccountingapi.vismaonline.com/v2` (two flows or connections
    /// that name the same service share it).
    pub target: &'a str,
    pub resource: &'a str,
    /// The match value (an e-mail address, an SKU, a reference). Stored only
    /// as a SHA-256 hash.
    pub key: &'a str,
}

/// An id learned for a [`TargetKey`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Learned {
    pub id: String,
    /// The company signed in to the service when the id was learned (`None`:
    /// the service has only one, e.g. a shop's URL names it).
    pub company: Option<String>,
    /// Hashes of the payloads written to the record, oldest first (the last
    /// one is its state as far as flowc knows).
    pub payloads: Vec<String>,
}

/// What [`Store::reserve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// This store may create the record now; it must [`Store::learn`] its id
    /// or [`Store::release`] the reservation afterwards.
    Granted,
    /// The record exists: someone learned its id (perhaps after the caller
    /// last looked at the service).
    Learned(Learned),
    /// A create of it had an unknown outcome (or its creator died): search
    /// the service, then reserve again with `searched`.
    Uncertain,
    /// Another worker or process is creating it right now: wait and ask again.
    Busy,
}

/// A create whose outcome is unknown, left for a search to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncertainCreate {
    pub flow: String,
    /// The source record whose mapping tried to create it.
    pub source_key: String,
    pub target: String,
    pub resource: String,
    pub since: DateTime<Utc>,
}

/// Who holds (or held) a flow's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub started_at: DateTime<Utc>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on host `{}` since {}",
            self.pid,
            self.host,
            self.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

type Release = Box<dyn FnOnce() -> Result<(), StateError> + Send>;

/// The per-flow lock of a run; released when dropped (or with [`RunLock::release`]).
#[must_use = "the lock is released as soon as the RunLock is dropped"]
pub struct RunLock {
    flow: String,
    holder: LockHolder,
    taken_over_from: Option<LockHolder>,
    release: Option<Release>,
}

impl RunLock {
    /// For store implementations: `release` is called once, on drop or on
    /// [`RunLock::release`].
    pub fn new(
        flow: String,
        holder: LockHolder,
        taken_over_from: Option<LockHolder>,
        release: impl FnOnce() -> Result<(), StateError> + Send + 'static,
    ) -> Self {
        RunLock {
            flow,
            holder,
            taken_over_from,
            release: Some(Box::new(release)),
        }
    }

    pub fn flow(&self) -> &str {
        &self.flow
    }

    /// This process.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// The process that died holding this flow's lock, if any (worth a
    /// warning: its last run was interrupted).
    pub fn taken_over_from(&self) -> Option<&LockHolder> {
        self.taken_over_from.as_ref()
    }

    /// Releases the lock now, reporting errors (drop ignores them).
    pub fn release(mut self) -> Result<(), StateError> {
        match self.release.take() {
            Some(f) => f(),
            None => Ok(()),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(f) = self.release.take() {
            let _ = f();
        }
    }
}

impl fmt::Debug for RunLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunLock")
            .field("flow", &self.flow)
            .field("holder", &self.holder)
            .field("taken_over_from", &self.taken_over_from)
            .finish_non_exhaustive()
    }
}

/// Everything that can go wrong in the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot use state directory `{path}`: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the state database is corrupt or is not a flowc state database ({detail}); \
         move it away to start with an empty state (this forgets which records were already written)"
    )]
    Corrupt { detail: String },
    #[error(
        "flow `{flow}` is already being run by {holder}; wait for that run to finish \
         (if that process is stuck, stop it, or free the lock with `flowc state unlock --flow {flow}`)"
    )]
    Locked { flow: String, holder: LockHolder },
    #[error(
        "the state database is busy: another flowc process kept it locked for too long ({detail})"
    )]
    Busy { detail: String },
    #[error(
        "the state database has schema version {found}, but this flowc only knows up to version \
         {supported}; use a newer flowc"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("could not migrate the state database to schema version {version}: {detail}")]
    Migration { version: u32, detail: String },
    #[error("run {0} does not exist in the state database")]
    UnknownRun(i64),
    #[error("invalid use of the state store: {0}")]
    Invalid(String),
    #[error("state database error: {0}")]
    Database(String),
}

/// The engine's view of its state. See the module docs for the guarantees.
pub trait Store: Send {
    /// Takes the per-flow lock, held until the [`RunLock`] is dropped or its
    /// process ends; a second concurrent run of the same flow (in this process
    /// or another) gets [`StateError::Locked`] with who holds it. Taking the
    /// lock (fresh, or after a holder that died) marks runs of that flow still
    /// `running` as `interrupted`, so take it before [`Store::begin_run`].
    fn lock_flow(&self, flow: &str) -> Result<RunLock, StateError>;
    fn begin_run(
        &self,
        flow: &str,
        flow_hash: &str,
        flowc_version: &str,
    ) -> Result<RunId, StateError>;
    /// Sets the final status (one of [`RUN_STATUSES`]), the counts and the end time.
    fn finish_run(&self, run: RunId, status: &str, counts: &RunCounts) -> Result<(), StateError>;
    /// Newest first; `limit == 0` means all.
    fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunInfo>, StateError>;
    fn last_run(&self, flow: &str) -> Result<Option<RunInfo>, StateError>;

    fn ledger_get(&self, flow: &str, source_key: &str) -> Result<Option<LedgerEntry>, StateError>;
    /// Everything a successful write changes, in ONE transaction: the ledger row, the activity row,
    /// removal of a dead letter for this key (it succeeded now) and of claims left uncertain on its
    /// behalf, and optionally the cursor.
    /// `decision` must be `Create` or `Update`, or `Unchanged` for a record
    /// found in the target already as it should be (the ledger learns it).
    fn record_success(&self, success: &Success<'_>) -> Result<(), StateError>;
    /// A skip (filtered or unchanged): activity row (+ cursor) in one transaction; ledger untouched.
    /// `decision` must be `Skip` or `Unchanged`.
    #[allow(clippy::too_many_arguments)]
    fn record_skip(
        &self,
        run: RunId,
        flow: &str,
        source_key: &str,
        decision: Decision,
        target_id: Option<&str>,
        duration_ms: u64,
        cursor: Option<&str>,
    ) -> Result<(), StateError>;
    /// A record left out on purpose (`skip("…")` in the flow, a key that
    /// collides with another record's): a `Skip` activity row that keeps the
    /// reason, for `flowc log`. Ledger and cursor untouched.
    fn record_skip_reason(
        &self,
        run: RunId,
        flow: &str,
        source_key: &str,
        reason: &str,
        duration_ms: u64,
    ) -> Result<(), StateError>;
    /// A failure: activity row + upsert of the dead letter (attempts += 1) in one transaction.
    /// The cursor does NOT move.
    fn record_failure(
        &self,
        run: RunId,
        flow: &str,
        letter: &NewDeadLetter,
        duration_ms: u64,
    ) -> Result<(), StateError>;

    fn cursor(&self, flow: &str) -> Result<Option<String>, StateError>;
    fn set_cursor(&self, flow: &str, cursor: &str) -> Result<(), StateError>;

    /// The id learned for a target record, if any.
    fn learned(&self, at: TargetKey<'_>) -> Result<Option<Learned>, StateError>;
    /// Remembers a target record's id (on behalf of `flow`: [`Store::reset_flow`]
    /// forgets it) and, in the same transaction, ends this store's
    /// reservation of it.
    fn learn(&self, flow: &str, at: TargetKey<'_>, learned: &Learned) -> Result<(), StateError>;
    /// Forgets a learned id (the record no longer exists). Returns whether it existed.
    fn forget(&self, at: TargetKey<'_>) -> Result<bool, StateError>;
    /// Asks to create a target record: see [`Reservation`]. `searched`: the
    /// caller searched the service for it just now and found nothing, which
    /// resolves an uncertain create (the reservation is then granted).
    fn reserve(
        &self,
        flow: &str,
        source_key: &str,
        at: TargetKey<'_>,
        searched: bool,
    ) -> Result<Reservation, StateError>;
    /// Ends this store's reservation without an id: `uncertain` when the
    /// create may have happened (nothing creates the record again until a
    /// search resolves it), else the record certainly was not created.
    fn release(&self, at: TargetKey<'_>, uncertain: bool) -> Result<(), StateError>;
    /// Creates whose outcome is unknown, oldest first.
    fn uncertain_creates(&self, flow: Option<&str>) -> Result<Vec<UncertainCreate>, StateError>;

    /// Newest first.
    fn activity(&self, filter: &ActivityFilter) -> Result<Vec<ActivityRow>, StateError>;
    /// Oldest first.
    fn dead_letters(&self, flow: Option<&str>) -> Result<Vec<DeadLetter>, StateError>;
    fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StateError>;
    fn drop_dead_letter(&self, id: i64) -> Result<bool, StateError>;
    /// Retention: deletes activity rows (by `at`), dead letters (by `last_failed_at`) and learned
    /// ids (by when they were last written) older than the cutoff, and finished runs older than the
    /// cutoff that nothing refers to any more (keeping each flow's latest run); then overwrites
    /// what was deleted. Returns counts. Uncertain creates are kept: they prevent duplicates, and
    /// hold no personal data.
    fn purge_older_than(&self, cutoff: DateTime<Utc>) -> Result<PurgeCounts, StateError>;
    /// Forgets everything about one flow (ledger, cursor, runs, activity, dead letters, the ids
    /// it learned). The flow's lock, if held, is left alone; uncertain creates are kept.
    fn reset_flow(&self, flow: &str) -> Result<(), StateError>;
    /// Frees a flow's lock whoever holds it (for `flowc state unlock`, when the holder is stuck): the
    /// next [`Store::lock_flow`] succeeds even while the old holder lives, and that holder's
    /// release no longer touches the new lock. Returns whether a holder was recorded.
    fn break_lock(&self, flow: &str) -> Result<bool, StateError>;
}
