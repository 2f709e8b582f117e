//! [`Store`] on SQLite: one `state.sqlite` file per state directory.
//!
//! * WAL journal, `synchronous = FULL` (a committed ledger row survives a
//!   power cut: losing it would mean a duplicate invoice), `busy_timeout`,
//!   foreign keys on.
//! * Every write is a `BEGIN IMMEDIATE` transaction, so two processes never
//!   deadlock upgrading a read lock to a write lock.
//! * The per-flow run lock is an OS file lock on `locks/<flow>.lock` in the
//!   state directory, held by the [`RunLock`] for the run's lifetime. The
//!   operating system releases it when the process dies, however it dies, so a
//!   dead holder never blocks and nothing has to guess whether a pid is alive.
//!   Next to it, a row in `locks` says who holds the lock (pid, host, start)
//!   for the [`StateError::Locked`] message; a row found when the file lock is
//!   free was left by a process that died holding it, and is taken over.
//!   Taking, releasing and breaking the file lock all happen inside an
//!   immediate transaction that also writes the row, so every process sees the
//!   file lock and the row change together (but for a moment after a release,
//!   see `UNNAMED_PATIENCE`).
//! * A store in memory has no state directory and is private to its process:
//!   there the row alone is the lock.
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::*;
use super::{lockfile, migrations, private, targets};

/// The database file inside the state directory.
pub const DB_FILE: &str = "state.sqlite";

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Store::lock_flow`] waits for a lock file that is held while no
/// row names its holder, and how often it looks again. A holder lets go by
/// deleting its row and then closing the file; but a child process forked
/// meanwhile (by any thread of that process) shares the open file until it
/// execs, so the lock can outlive the row for a moment.
const UNNAMED_PATIENCE: Duration = Duration::from_secs(2);
const UNNAMED_RETRY: Duration = Duration::from_millis(10);

/// What one try at a flow's lock found (when it is not simply `Locked`).
enum Attempt {
    Taken {
        /// The OS file lock; `None` in memory.
        file: Option<fs::File>,
        taken_over_from: Option<LockHolder>,
    },
    /// The lock file is held, but no row names a holder.
    Unnamed { path: PathBuf },
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The SQLite state store. `Send + Sync`; clones of the inner connection are
/// shared with the [`RunLock`]s it hands out.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    clock: Clock,
    /// Who this store is when it claims target records.
    pub(super) holder: targets::Holder,
    #[cfg(test)]
    fault: Mutex<Option<&'static str>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StateError::Corrupt {
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Busy {
                detail: e.to_string(),
            },
            _ => StateError::Database(e.to_string()),
        }
    }
}

impl SqliteStore {
    /// A skip's activity row, and the cursor when given, in one transaction.
    fn skip_row(&self, row: Activity<'_>, cursor: Option<&str>) -> Result<(), StateError> {
        self.write(|tx| {
            let (flow, source_key, decision, at) = (row.flow, row.source_key, row.decision, row.at);
            insert_activity(tx, row)?;
            self.fault("record_skip:after_activity")?;
            // Unchanged: the target holds what the ledger says was written,
            // so a failure noted for the record since (a service that did
            // not answer a lookup in between) no longer stands.
            if decision == Decision::Unchanged {
                tx.execute(
                    "DELETE FROM dead_letters WHERE flow = ?1 AND source_key = ?2",
                    params![flow, source_key],
                )?;
            }
            if let Some(c) = cursor {
                put_cursor(tx, flow, c, at)?;
            }
            Ok(())
        })
    }

    /// Opens (creating if needed) `dir/state.sqlite`. The directory is created
    /// with mode 0700 and the file with mode 0600; the schema is migrated.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        if !dir.is_dir() {
            private::create_dir(dir)?;
        }
        let path = dir.join(DB_FILE);
        // Create the file ourselves so it never exists with a wider mode;
        // SQLite gives the -wal and -shm files the same mode. Only when it
        // is missing: closing any descriptor of the file drops every POSIX
        // lock this process holds on it, those of SQLite connections opened
        // before (another store in this process, as `flowc serve` has) too.
        if !path.exists() {
            private::open_file(&path)?;
        }
        let conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching to WAL needs the file to itself for a moment, and SQLite
        // answers busy at once, without the busy timeout, when another
        // connection (a process opening the same new folder) is in the way.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                mode => break mode?,
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Database(format!(
                "could not switch `{}` to WAL mode (got `{mode}`)",
                path.display()
            )));
        }
        Self::setup(conn, Some(path))
    }

    /// A private, empty store for tests and dry runs.
    pub fn open_in_memory() -> Result<Self, StateError> {
        Self::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StateError> {
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Deleted rows (purged activity, dead letters, learned ids) are
        // overwritten, not left readable in free pages.
        conn.pragma_update(None, "secure_delete", true)?;
        migrations::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
            clock: Arc::new(Utc::now),
            holder: targets::Holder::default(),
            #[cfg(test)]
            fault: Mutex::new(None),
        })
    }

    /// Replaces the clock used for every timestamp the store writes (for
    /// deterministic tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The state directory, or `None` in memory.
    pub(super) fn dir(&self) -> Option<&Path> {
        self.path.as_deref().and_then(Path::parent)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StateError> {
        migrations::current_version(&self.lock_conn())
    }

    pub(super) fn lock_conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the guard cannot leave a transaction open
        // (rusqlite rolls back on drop), so a poisoned connection is usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn now(&self) -> String {
        ts((self.clock)())
    }

    /// Test-only fault injection: fails with `Database("injected fault")`
    /// when `point` is the armed one.
    #[cfg(test)]
    fn fault(&self, point: &'static str) -> Result<(), StateError> {
        let mut armed = self.fault.lock().unwrap();
        if *armed == Some(point) {
            *armed = None;
            return Err(StateError::Database(format!("injected fault at {point}")));
        }
        Ok(())
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn fault(&self, _point: &'static str) -> Result<(), StateError> {
        Ok(())
    }

    #[cfg(test)]
    fn arm_fault(&self, point: &'static str) {
        *self.fault.lock().unwrap() = Some(point);
    }

    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut conn = self.lock_conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// One activity row to insert.
struct Activity<'a> {
    run: RunId,
    flow: &'a str,
    source_key: &'a str,
    decision: Decision,
    target_id: Option<&'a str>,
    duration_ms: u64,
    error: Option<&'a str>,
    at: &'a str,
}

fn insert_activity(tx: &rusqlite::Transaction<'_>, a: Activity<'_>) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO activity (run, flow, source_key, decision, target_id, duration_ms, error, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            a.run.0,
            a.flow,
            a.source_key,
            a.decision.as_str(),
            a.target_id,
            to_i64(a.duration_ms),
            a.error,
            a.at
        ],
    )
    .map_err(|e| unknown_run(e, a.run))?;
    Ok(())
}

fn put_cursor(
    tx: &rusqlite::Transaction<'_>,
    flow: &str,
    cursor: &str,
    at: &str,
) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO cursors (flow, cursor, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        params![flow, cursor, at],
    )?;
    Ok(())
}

/// A foreign-key failure on `run` means the caller passed a run id that does not exist.
fn unknown_run(e: rusqlite::Error, run: RunId) -> StateError {
    if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
        && e.to_string().contains("FOREIGN KEY")
    {
        StateError::UnknownRun(run.0)
    } else {
        e.into()
    }
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StateError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StateError::Corrupt {
            detail: format!("bad timestamp `{s}`: {e}"),
        })
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Runs a query and converts each row with `convert`, which may fail with
/// our own errors (a timestamp that does not parse), not only rusqlite's.
pub(super) fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    convert: impl Fn(&Row<'_>) -> Result<T, StateError>,
) -> Result<Vec<T>, StateError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(convert(row)?);
    }
    Ok(out)
}

/// The first row of [`query_rows`], if any.
pub(super) fn query_first<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    convert: impl Fn(&Row<'_>) -> Result<T, StateError>,
) -> Result<Option<T>, StateError> {
    Ok(query_rows(conn, sql, params, convert)?.into_iter().next())
}

pub(super) fn timestamp(r: &Row<'_>, column: usize) -> Result<DateTime<Utc>, StateError> {
    parse_ts(&r.get::<_, String>(column)?)
}

/// Who the `locks` table says holds a flow's lock.
fn lock_row(conn: &Connection, flow: &str) -> Result<Option<LockHolder>, StateError> {
    query_first(
        conn,
        "SELECT pid, host, started_at FROM locks WHERE flow = ?1",
        [flow],
        |r| {
            Ok(LockHolder {
                pid: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                host: r.get(1)?,
                started_at: timestamp(r, 2)?,
            })
        },
    )
}

pub(super) const RUN_COLUMNS: &str =
    "id, flow, started_at, ended_at, flowc_version, flow_hash, status, \
     n_read, n_created, n_updated, n_unchanged, n_skipped, n_failed";

pub(super) fn run_info(r: &Row<'_>) -> Result<RunInfo, StateError> {
    let count = |column| r.get::<_, i64>(column).map(to_u64);
    Ok(RunInfo {
        id: r.get(0)?,
        flow: r.get(1)?,
        started_at: timestamp(r, 2)?,
        ended_at: r
            .get::<_, Option<String>>(3)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        flowc_version: r.get(4)?,
        flow_hash: r.get(5)?,
        status: r.get(6)?,
        counts: RunCounts {
            read: count(7)?,
            created: count(8)?,
            updated: count(9)?,
            unchanged: count(10)?,
            skipped: count(11)?,
            failed: count(12)?,
        },
    })
}

/// The columns [`activity_row`] reads, in its order.
pub(super) const ACTIVITY_COLUMNS: &str =
    "run, flow, source_key, decision, target_id, duration_ms, error, at";

pub(super) fn activity_row(r: &Row<'_>) -> Result<ActivityRow, StateError> {
    Ok(ActivityRow {
        run: r.get(0)?,
        flow: r.get(1)?,
        source_key: r.get(2)?,
        decision: r.get::<_, String>(3)?.parse()?,
        target_id: r.get(4)?,
        duration_ms: to_u64(r.get(5)?),
        error: r.get(6)?,
        at: timestamp(r, 7)?,
    })
}

const LETTER_COLUMNS: &str = "id, flow, source_key, run, error_class, error_code, http_status, \
     message, api_error_body, payload, source_record, attempts, first_failed_at, last_failed_at";

fn dead_letter(r: &Row<'_>) -> Result<DeadLetter, StateError> {
    Ok(DeadLetter {
        id: r.get(0)?,
        flow: r.get(1)?,
        source_key: r.get(2)?,
        run: r.get(3)?,
        error_class: r.get(4)?,
        error_code: r.get(5)?,
        http_status: r
            .get::<_, Option<i64>>(6)?
            .and_then(|s| u16::try_from(s).ok()),
        message: r.get(7)?,
        api_error_body: r.get(8)?,
        payload: r.get(9)?,
        source_record: r.get(10)?,
        attempts: u32::try_from(r.get::<_, i64>(11)?).unwrap_or(u32::MAX),
        first_failed_at: timestamp(r, 12)?,
        last_failed_at: timestamp(r, 13)?,
    })
}

impl Store for SqliteStore {
    fn lock_flow(&self, flow: &str) -> Result<RunLock, StateError> {
        let me = LockHolder {
            pid: std::process::id(),
            host: lockfile::hostname(),
            // As stored: microsecond precision, so the holder compares equal to what others read.
            started_at: truncate_micros((self.clock)()),
        };
        let token = uuid::Uuid::new_v4().to_string();
        let mut waited = Duration::ZERO;
        let (file, taken_over_from) = loop {
            match self.write(|tx| self.attempt_lock(tx, flow, &me, &token))? {
                Attempt::Taken {
                    file,
                    taken_over_from,
                } => break (file, taken_over_from),
                Attempt::Unnamed { path } if waited >= UNNAMED_PATIENCE => {
                    // The holder writes its row in the transaction that takes
                    // the file lock, so this lasting needs the database to have
                    // been replaced under a running flowc.
                    return Err(StateError::Database(format!(
                        "the lock file `{}` of flow `{flow}` is held by a process this state \
                         database does not name (was `{DB_FILE}` replaced during a run?); \
                         stop that process, or free the lock with `flowc state unlock --flow {flow}`",
                        path.display()
                    )));
                }
                Attempt::Unnamed { .. } => {
                    std::thread::sleep(UNNAMED_RETRY);
                    waited += UNNAMED_RETRY;
                }
            }
        };
        let conn = Arc::clone(&self.conn);
        let flow_owned = flow.to_string();
        let release = move || -> Result<(), StateError> {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            // If the row cannot be deleted, `file` still closes when this
            // returns: the lock is free and the next run takes the row over.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM locks WHERE flow = ?1 AND token = ?2",
                params![flow_owned, token],
            )?;
            // Unlock before the commit: a process that sees the file free
            // (it looks inside its own write transaction) then also sees the
            // row gone. (One that still finds the file held, see
            // UNNAMED_PATIENCE, finds no row and tries again.)
            drop(file);
            tx.commit()?;
            Ok(())
        };
        Ok(RunLock::new(flow.to_string(), me, taken_over_from, release))
    }

    fn break_lock(&self, flow: &str) -> Result<bool, StateError> {
        self.write(|tx| {
            let had = tx.execute("DELETE FROM locks WHERE flow = ?1", [flow])? > 0;
            // A holder that is alive but stuck keeps its lock on the removed
            // file; the next run locks a new one.
            if let Some(dir) = self.dir() {
                lockfile::remove(dir, flow)?;
            }
            Ok(had)
        })
    }

    fn begin_run(
        &self,
        flow: &str,
        flow_hash: &str,
        flowc_version: &str,
    ) -> Result<RunId, StateError> {
        let now = self.now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO runs (flow, started_at, flowc_version, flow_hash, status)
                 VALUES (?1, ?2, ?3, ?4, 'running')",
                params![flow, now, flowc_version, flow_hash],
            )?;
            Ok(RunId(tx.last_insert_rowid()))
        })
    }

    fn finish_run(&self, run: RunId, status: &str, counts: &RunCounts) -> Result<(), StateError> {
        if !RUN_STATUSES.contains(&status) {
            return Err(StateError::Invalid(format!(
                "unknown run status `{status}` (expected one of {})",
                RUN_STATUSES.join(", ")
            )));
        }
        let now = self.now();
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE runs SET status = ?2, ended_at = ?3, n_read = ?4, n_created = ?5,
                        n_updated = ?6, n_unchanged = ?7, n_skipped = ?8, n_failed = ?9
                 WHERE id = ?1",
                params![
                    run.0,
                    status,
                    if status == "running" { None } else { Some(now) },
                    to_i64(counts.read),
                    to_i64(counts.created),
                    to_i64(counts.updated),
                    to_i64(counts.unchanged),
                    to_i64(counts.skipped),
                    to_i64(counts.failed)
                ],
            )?;
            if n == 0 {
                return Err(StateError::UnknownRun(run.0));
            }
            Ok(())
        })
    }

    fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunInfo>, StateError> {
        let conn = self.lock_conn();
        let limit = if limit == 0 { -1 } else { to_i64(limit as u64) };
        query_rows(
            &conn,
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR flow = ?1)
                 ORDER BY id DESC LIMIT ?2"
            ),
            params![flow, limit],
            run_info,
        )
    }

    fn last_run(&self, flow: &str) -> Result<Option<RunInfo>, StateError> {
        Ok(self.runs(Some(flow), 1)?.into_iter().next())
    }

    fn ledger_get(&self, flow: &str, source_key: &str) -> Result<Option<LedgerEntry>, StateError> {
        query_first(
            &self.lock_conn(),
            "SELECT source_key, target_id, payload_hash, updated_at FROM ledger
             WHERE flow = ?1 AND source_key = ?2",
            params![flow, source_key],
            |r| {
                Ok(LedgerEntry {
                    source_key: r.get(0)?,
                    target_id: r.get(1)?,
                    payload_hash: r.get(2)?,
                    updated_at: timestamp(r, 3)?,
                })
            },
        )
    }

    fn record_success(&self, success: &Success<'_>) -> Result<(), StateError> {
        let &Success {
            run,
            flow,
            source_key,
            decision,
            target_id,
            payload_hash,
            duration_ms,
            cursor,
        } = success;
        // `Unchanged` here means: the record was found in the target as it
        // should be (a write whose response was lost), so the ledger learns it.
        if !matches!(
            decision,
            Decision::Create | Decision::Update | Decision::Unchanged
        ) {
            return Err(StateError::Invalid(format!(
                "record_success needs decision create, update or unchanged, not `{decision}`"
            )));
        }
        let now = self.now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO ledger (flow, source_key, target_id, payload_hash, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (flow, source_key) DO UPDATE SET target_id = excluded.target_id,
                    payload_hash = excluded.payload_hash, updated_at = excluded.updated_at",
                params![flow, source_key, target_id, payload_hash, now],
            )?;
            self.fault("record_success:after_ledger")?;
            tx.execute(
                "DELETE FROM dead_letters WHERE flow = ?1 AND source_key = ?2",
                params![flow, source_key],
            )?;
            // Written: whatever was left uncertain on its behalf is settled
            // (each of its related records was found or created on the way).
            tx.execute(
                "DELETE FROM claims WHERE flow = ?1 AND source_key = ?2",
                params![flow, source_key],
            )?;
            insert_activity(
                tx,
                Activity {
                    run,
                    flow,
                    source_key,
                    decision,
                    target_id: Some(target_id),
                    duration_ms,
                    error: None,
                    at: &now,
                },
            )?;
            if let Some(c) = cursor {
                put_cursor(tx, flow, c, &now)?;
            }
            self.fault("record_success:before_commit")?;
            Ok(())
        })
    }

    fn record_skip(
        &self,
        run: RunId,
        flow: &str,
        source_key: &str,
        decision: Decision,
        target_id: Option<&str>,
        duration_ms: u64,
        cursor: Option<&str>,
    ) -> Result<(), StateError> {
        if !matches!(decision, Decision::Skip | Decision::Unchanged) {
            return Err(StateError::Invalid(format!(
                "record_skip needs decision skip or unchanged, not `{decision}`"
            )));
        }
        let now = self.now();
        self.skip_row(
            Activity {
                run,
                flow,
                source_key,
                decision,
                target_id,
                duration_ms,
                error: None,
                at: &now,
            },
            cursor,
        )
    }

    fn record_skip_reason(
        &self,
        run: RunId,
        flow: &str,
        source_key: &str,
        reason: &str,
        duration_ms: u64,
    ) -> Result<(), StateError> {
        let now = self.now();
        self.skip_row(
            Activity {
                run,
                flow,
                source_key,
                decision: Decision::Skip,
                target_id: None,
                duration_ms,
                error: Some(reason),
                at: &now,
            },
            None,
        )
    }

    fn record_failure(
        &self,
        run: RunId,
        flow: &str,
        letter: &NewDeadLetter,
        duration_ms: u64,
    ) -> Result<(), StateError> {
        let now = self.now();
        // Error texts are kept without URLs and e-mail addresses, whoever
        // wrote them (see the module docs of `state`).
        let scrub = crate::connectors::redact::scrub;
        let letter = &NewDeadLetter {
            message: scrub(&letter.message),
            api_error_body: letter.api_error_body.as_deref().map(scrub),
            ..letter.clone()
        };
        let summary = letter.summary();
        self.write(|tx| {
            insert_activity(
                tx,
                Activity {
                    run,
                    flow,
                    source_key: &letter.source_key,
                    decision: Decision::Fail,
                    target_id: None,
                    duration_ms,
                    error: Some(&summary),
                    at: &now,
                },
            )?;
            self.fault("record_failure:after_activity")?;
            tx.execute(
                "INSERT INTO dead_letters (flow, source_key, run, error_class, error_code,
                    http_status, message, api_error_body, payload, source_record, attempts,
                    first_failed_at, last_failed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?11)
                 ON CONFLICT (flow, source_key) DO UPDATE SET
                    run = excluded.run, error_class = excluded.error_class,
                    error_code = excluded.error_code, http_status = excluded.http_status,
                    message = excluded.message, api_error_body = excluded.api_error_body,
                    payload = excluded.payload, source_record = excluded.source_record,
                    attempts = dead_letters.attempts + 1, last_failed_at = excluded.last_failed_at",
                params![
                    flow,
                    letter.source_key,
                    run.0,
                    letter.error_class,
                    letter.error_code,
                    letter.http_status,
                    letter.message,
                    letter.api_error_body,
                    letter.payload,
                    letter.source_record,
                    now
                ],
            )
            .map_err(|e| unknown_run(e, run))?;
            Ok(())
        })
    }

    fn cursor(&self, flow: &str) -> Result<Option<String>, StateError> {
        let conn = self.lock_conn();
        Ok(conn
            .query_row("SELECT cursor FROM cursors WHERE flow = ?1", [flow], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_cursor(&self, flow: &str, cursor: &str) -> Result<(), StateError> {
        let now = self.now();
        self.write(|tx| put_cursor(tx, flow, cursor, &now))
    }

    fn learned(&self, at: TargetKey<'_>) -> Result<Option<Learned>, StateError> {
        self.get_learned(at)
    }

    fn learn(&self, flow: &str, at: TargetKey<'_>, learned: &Learned) -> Result<(), StateError> {
        self.put_learned(flow, at, learned)
    }

    fn forget(&self, at: TargetKey<'_>) -> Result<bool, StateError> {
        self.delete_learned(at)
    }

    fn reserve(
        &self,
        flow: &str,
        source_key: &str,
        at: TargetKey<'_>,
        searched: bool,
    ) -> Result<Reservation, StateError> {
        self.reserve_target(flow, source_key, at, searched)
    }

    fn release(&self, at: TargetKey<'_>, uncertain: bool) -> Result<(), StateError> {
        self.release_target(at, uncertain)
    }

    fn uncertain_creates(&self, flow: Option<&str>) -> Result<Vec<UncertainCreate>, StateError> {
        self.list_uncertain(flow)
    }

    fn activity(&self, filter: &ActivityFilter) -> Result<Vec<ActivityRow>, StateError> {
        let limit = filter.limit.map_or(-1, |l| to_i64(l as u64));
        query_rows(
            &self.lock_conn(),
            &format!(
                "SELECT {ACTIVITY_COLUMNS} FROM activity
             WHERE (?1 IS NULL OR flow = ?1) AND (?2 IS NULL OR run = ?2)
               AND (?3 = 0 OR decision = 'fail')
             ORDER BY id DESC LIMIT ?4"
            ),
            params![filter.flow, filter.run, filter.only_failed, limit],
            activity_row,
        )
    }

    fn dead_letters(&self, flow: Option<&str>) -> Result<Vec<DeadLetter>, StateError> {
        query_rows(
            &self.lock_conn(),
            &format!(
                "SELECT {LETTER_COLUMNS} FROM dead_letters WHERE (?1 IS NULL OR flow = ?1) ORDER BY id"
            ),
            [flow],
            dead_letter,
        )
    }

    fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StateError> {
        query_first(
            &self.lock_conn(),
            &format!("SELECT {LETTER_COLUMNS} FROM dead_letters WHERE id = ?1"),
            [id],
            dead_letter,
        )
    }

    fn drop_dead_letter(&self, id: i64) -> Result<bool, StateError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])? > 0))
    }

    fn purge_older_than(&self, cutoff: DateTime<Utc>) -> Result<PurgeCounts, StateError> {
        let cutoff = ts(cutoff);
        let counts = self.write(|tx| {
            let activity = tx.execute("DELETE FROM activity WHERE at < ?1", [&cutoff])?;
            let dead_letters = tx.execute(
                "DELETE FROM dead_letters WHERE last_failed_at < ?1",
                [&cutoff],
            )?;
            let runs = tx.execute(
                "DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?1
                   AND id <> (SELECT max(r.id) FROM runs r WHERE r.flow = runs.flow)
                   AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.run = runs.id)
                   AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.run = runs.id)",
                [&cutoff],
            )?;
            let learned = tx.execute("DELETE FROM learned WHERE updated_at < ?1", [&cutoff])?;
            Ok(PurgeCounts {
                activity: activity as u64,
                dead_letters: dead_letters as u64,
                learned: learned as u64,
                runs: runs as u64,
            })
        })?;
        self.compact()?;
        Ok(counts)
    }

    fn reset_flow(&self, flow: &str) -> Result<(), StateError> {
        self.write(|tx| {
            for sql in [
                "DELETE FROM activity WHERE flow = ?1",
                "DELETE FROM dead_letters WHERE flow = ?1",
                "DELETE FROM ledger WHERE flow = ?1",
                "DELETE FROM cursors WHERE flow = ?1",
                "DELETE FROM learned WHERE flow = ?1",
                "DELETE FROM runs WHERE flow = ?1",
                // Counted from the runs just forgotten.
                "DELETE FROM zero_streaks WHERE flow = ?1",
            ] {
                tx.execute(sql, [flow])?;
            }
            Ok(())
        })?;
        self.compact()
    }
}

impl SqliteStore {
    /// One try at a flow's lock, inside the caller's immediate transaction.
    fn attempt_lock(
        &self,
        tx: &rusqlite::Transaction<'_>,
        flow: &str,
        me: &LockHolder,
        token: &str,
    ) -> Result<Attempt, StateError> {
        let recorded = lock_row(tx, flow)?;
        let file = match self.dir() {
            Some(dir) => match lockfile::try_lock(dir, flow)? {
                Some(file) => Some(file),
                None => {
                    return match recorded {
                        Some(holder) => Err(StateError::Locked {
                            flow: flow.to_string(),
                            holder,
                        }),
                        None => Ok(Attempt::Unnamed {
                            path: lockfile::path(dir, flow),
                        }),
                    }
                }
            },
            None => {
                // In memory the store is private to this process and a
                // RunLock deletes its row when it goes: a row is a live holder.
                if let Some(holder) = recorded {
                    return Err(StateError::Locked {
                        flow: flow.to_string(),
                        holder,
                    });
                }
                None
            }
        };
        // The file lock is ours, so a row still there belongs to a process
        // that died holding it: that is the lock taken over.
        tx.execute(
            "INSERT OR REPLACE INTO locks (flow, token, pid, host, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![flow, token, i64::from(me.pid), me.host, ts(me.started_at)],
        )?;
        // Whoever ran this flow before us is gone; its unfinished runs were interrupted.
        tx.execute(
            "UPDATE runs SET status = 'interrupted', ended_at = ?2
             WHERE flow = ?1 AND status = 'running'",
            params![flow, ts(me.started_at)],
        )?;
        Ok(Attempt::Taken {
            file,
            taken_over_from: recorded,
        })
    }

    /// Rewrites the database without free pages and empties the WAL, so
    /// that nothing deleted stays readable in either file. A run in another
    /// process may keep the file busy: then the deleted rows are already
    /// overwritten (`secure_delete`), and only the file's size waits for
    /// the next purge.
    fn compact(&self) -> Result<(), StateError> {
        let conn = self.lock_conn();
        match conn.execute_batch("VACUUM") {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
            other => other?,
        }
        if self.path.is_some() {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let dir = self.dir().map(Path::to_path_buf);
        self.holder.close(dir.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (SqliteStore, RunId) {
        let s = SqliteStore::open_in_memory().unwrap();
        let run = s.begin_run("orders", "h1", "0.1.0").unwrap();
        (s, run)
    }

    fn letter(key: &str) -> NewDeadLetter {
        NewDeadLetter {
            source_key: key.into(),
            error_class: "http".into(),
            error_code: Some("E0908".into()),
            http_status: Some(400),
            message: "bad".into(),
            ..Default::default()
        }
    }

    fn count(s: &SqliteStore, table: &str) -> i64 {
        s.lock_conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_record_found_unchanged_settles_a_failure_noted_since_it_was_written() {
        let (s, run) = store();
        s.record_failure(run, "orders", &letter("o1"), 1).unwrap();
        s.record_skip(run, "orders", "o1", Decision::Skip, None, 1, None)
            .unwrap();
        assert_eq!(
            s.dead_letters(Some("orders")).unwrap().len(),
            1,
            "a skip settles nothing"
        );
        s.record_skip(
            run,
            "orders",
            "o1",
            Decision::Unchanged,
            Some("inv-1"),
            1,
            None,
        )
        .unwrap();
        assert!(s.dead_letters(Some("orders")).unwrap().is_empty());
    }

    #[test]
    fn a_fault_after_the_ledger_insert_commits_nothing() {
        let (s, run) = store();
        s.set_cursor("orders", "c0").unwrap();
        s.record_failure(run, "orders", &letter("o1"), 1).unwrap();
        let create = || {
            s.record_success(&Success {
                run,
                flow: "orders",
                source_key: "o1",
                decision: Decision::Create,
                target_id: "inv-1",
                payload_hash: "ph",
                duration_ms: 5,
                cursor: Some("c1"),
            })
        };
        for point in [
            "record_success:after_ledger",
            "record_success:before_commit",
        ] {
            s.arm_fault(point);
            let err = create().unwrap_err();
            assert!(err.to_string().contains(point), "{err}");
            assert_eq!(s.ledger_get("orders", "o1").unwrap(), None, "{point}");
            assert_eq!(
                s.cursor("orders").unwrap().as_deref(),
                Some("c0"),
                "{point}"
            );
            assert_eq!(s.dead_letters(Some("orders")).unwrap().len(), 1, "{point}");
            assert_eq!(count(&s, "activity"), 1, "{point}");
        }
        // And without the fault, everything lands at once.
        create().unwrap();
        assert_eq!(
            s.ledger_get("orders", "o1").unwrap().unwrap().target_id,
            "inv-1"
        );
        assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c1"));
        assert!(s.dead_letters(None).unwrap().is_empty());
        assert_eq!(count(&s, "activity"), 2);
    }

    #[test]
    fn a_fault_in_record_failure_or_record_skip_commits_nothing() {
        let (s, run) = store();
        s.arm_fault("record_failure:after_activity");
        assert!(s.record_failure(run, "orders", &letter("o1"), 1).is_err());
        assert_eq!(count(&s, "activity"), 0);
        assert_eq!(count(&s, "dead_letters"), 0);

        s.arm_fault("record_skip:after_activity");
        assert!(s
            .record_skip(run, "orders", "o2", Decision::Skip, None, 1, Some("c9"))
            .is_err());
        assert_eq!(count(&s, "activity"), 0);
        assert_eq!(s.cursor("orders").unwrap(), None);
    }

    #[test]
    fn the_store_stays_usable_after_a_failed_transaction() {
        let (s, run) = store();
        s.arm_fault("record_success:after_ledger");
        let _ = s.record_success(&Success {
            run,
            flow: "orders",
            source_key: "o1",
            decision: Decision::Update,
            target_id: "t",
            payload_hash: "h",
            duration_ms: 1,
            cursor: None,
        });
        s.set_cursor("orders", "x").unwrap();
        assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("x"));
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = ts(DateTime::from_timestamp(1_700_000_000, 5_000).unwrap());
        let b = ts(DateTime::from_timestamp(1_700_000_000, 50_000_000).unwrap());
        assert_eq!(a.len(), b.len());
        assert!(a < b);
        assert_eq!(parse_ts(&a).unwrap().timestamp_subsec_micros(), 5);
    }
}
