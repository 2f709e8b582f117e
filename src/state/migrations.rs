//! Versioned schema migrations of the SQLite state database.
//!
//! The schema version is `PRAGMA user_version`; migration `n` (1-based) takes
//! the database from version `n - 1` to `n`. Each migration runs in its own
//! `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
//! leaves the database at a whole version, and two processes opening a fresh
//! database at once do not both migrate. Never edit a migration that has
//! shipped: append a new one.
//!
//! Timestamps are stored as RFC 3339 UTC text with microseconds
//! (`2024-05-01T12:00:00.000000Z`), which sorts correctly as text.

use rusqlite::{Connection, TransactionBehavior};

use super::StateError;

/// `PRAGMA application_id` of a flowc state database ("flow").
pub const APPLICATION_ID: i32 = 0x666C_6F77;

/// The migrations, in order. `MIGRATIONS[i]` produces version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        flow          TEXT    NOT NULL,
        started_at    TEXT    NOT NULL,
        ended_at      TEXT,
        flowc_version TEXT    NOT NULL,
        flow_hash     TEXT    NOT NULL,
        status        TEXT    NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running','succeeded','partial','failed','interrupted')),
        n_read        INTEGER NOT NULL DEFAULT 0,
        n_created     INTEGER NOT NULL DEFAULT 0,
        n_updated     INTEGER NOT NULL DEFAULT 0,
        n_unchanged   INTEGER NOT NULL DEFAULT 0,
        n_skipped     INTEGER NOT NULL DEFAULT 0,
        n_failed      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_flow ON runs (flow, id);

    CREATE TABLE ledger (
        flow         TEXT NOT NULL,
        source_key   TEXT NOT NULL,
        target_id    TEXT NOT NULL,
        payload_hash TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (flow, source_key)
    ) WITHOUT ROWID;

    CREATE TABLE cursors (
        flow       TEXT PRIMARY KEY,
        cursor     TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE activity (
        id          INTEGER PRIMARY KEY,
        run         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        flow        TEXT    NOT NULL,
        source_key  TEXT    NOT NULL,
        decision    TEXT    NOT NULL
                    CHECK (decision IN ('create','update','unchanged','skip','fail')),
        target_id   TEXT,
        duration_ms INTEGER NOT NULL,
        error       TEXT,
        at          TEXT    NOT NULL
    );
    CREATE INDEX activity_by_flow ON activity (flow, id);
    CREATE INDEX activity_by_run  ON activity (run, id);
    CREATE INDEX activity_by_at   ON activity (at);

    CREATE TABLE dead_letters (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        flow            TEXT    NOT NULL,
        source_key      TEXT    NOT NULL,
        run             INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        error_class     TEXT    NOT NULL,
        error_code      TEXT,
        http_status     INTEGER,
        message         TEXT    NOT NULL,
        api_error_body  TEXT,
        payload         TEXT,
        source_record   TEXT,
        attempts        INTEGER NOT NULL DEFAULT 1,
        first_failed_at TEXT    NOT NULL,
        last_failed_at  TEXT    NOT NULL,
        UNIQUE (flow, source_key)
    );
    CREATE INDEX dead_letters_by_last_failed ON dead_letters (last_failed_at);
    CREATE INDEX dead_letters_by_run ON dead_letters (run);

    CREATE TABLE xrefs (
        namespace  TEXT NOT NULL,
        key        TEXT NOT NULL,
        id         TEXT NOT NULL,
        flow       TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    CREATE INDEX xrefs_by_flow ON xrefs (flow) WHERE flow IS NOT NULL;

    CREATE TABLE locks (
        flow        TEXT PRIMARY KEY,
        token       TEXT    NOT NULL,
        pid         INTEGER NOT NULL,
        host        TEXT    NOT NULL,
        boot_id     TEXT,
        proc_start  INTEGER,
        started_at  TEXT    NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: a run lock is an OS file lock now, which dies with its process; the
    // columns for telling whether a pid was still the same process go. The
    // version bump also makes an older flowc, which knows nothing of the file
    // locks, refuse this database instead of running beside a newer one.
    r#"
    ALTER TABLE locks DROP COLUMN boot_id;
    ALTER TABLE locks DROP COLUMN proc_start;
    "#,
    // 3: learned ids belong to a target service (connector and address), a
    // resource and the company signed in there, not to a schema name; their
    // keys (e-mail addresses, SKUs) are stored only as hashes. The old rows
    // are a cache without that scope (and with e-mail addresses in clear):
    // they go. Claims reserve a record while it is created, across workers,
    // flows and processes, and remember creates whose outcome is unknown.
    r#"
    DROP TABLE xrefs;
    CREATE TABLE learned (
        target     TEXT NOT NULL,
        resource   TEXT NOT NULL,
        key_hash   TEXT NOT NULL,
        id         TEXT NOT NULL,
        company    TEXT,
        payloads   TEXT NOT NULL DEFAULT '',
        flow       TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (target, resource, key_hash)
    ) WITHOUT ROWID;
    CREATE INDEX learned_by_flow ON learned (flow);
    CREATE INDEX learned_by_updated ON learned (updated_at);

    CREATE TABLE claims (
        target     TEXT NOT NULL,
        resource   TEXT NOT NULL,
        key_hash   TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('creating','uncertain')),
        holder     TEXT NOT NULL,
        flow       TEXT NOT NULL,
        source_key TEXT NOT NULL,
        since      TEXT NOT NULL,
        PRIMARY KEY (target, resource, key_hash)
    ) WITHOUT ROWID;
    "#,
    // 4: `flowc serve`. When each scheduled flow runs next (so a restart
    // keeps the schedule instead of running everything at once), and the
    // webhooks registered in a shop with the key it returned, which signs
    // its deliveries.
    r#"
    CREATE TABLE schedules (
        flow       TEXT PRIMARY KEY,
        next_run   TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE webhooks (
        connector  TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        event      TEXT    NOT NULL,
        address    TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        created_at TEXT    NOT NULL,
        PRIMARY KEY (connector, id)
    ) WITHOUT ROWID;
    "#,
    // 5: `flowc serve`'s open alerts: which cause of which flow is firing
    // and when it was last sent, so that a restart neither sends it again
    // within its period nor forgets to send the recovery.
    r#"
    CREATE TABLE alerts (
        flow      TEXT NOT NULL,
        cause     TEXT NOT NULL,
        last_sent TEXT NOT NULL,
        PRIMARY KEY (flow, cause)
    ) WITHOUT ROWID;
    "#,
    // 6: `flowc serve`'s count of runs in a row that read no record, per
    // flow, so that a restart does not start the `zero_records` alert's
    // count again (a flow restarted daily would never alert).
    r#"
    CREATE TABLE zero_streaks (
        flow TEXT PRIMARY KEY,
        runs INTEGER NOT NULL CHECK (runs >= 0)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this binary creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads the schema version of an open database.
pub fn current_version(conn: &Connection) -> Result<u32, StateError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Brings the database up to [`SCHEMA_VERSION`]; returns the version found
/// before migrating. A database newer than this binary is refused, and so is
/// a database that belongs to another application.
pub fn migrate(conn: &mut Connection) -> Result<u32, StateError> {
    // One read transaction, so both reads see the same snapshot: read apart,
    // another process migrating in between could make a fresh database look
    // like someone else's (tables, but version 0 and no application id).
    let tx = conn.transaction()?;
    let found = current_version(&tx)?;
    check_application(&tx, found)?;
    tx.commit()?;
    if found > SCHEMA_VERSION {
        return Err(StateError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as u32 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now = current_version(&tx)?;
        if now > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                found: now,
                supported: SCHEMA_VERSION,
            });
        }
        if now >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(|e| StateError::Migration {
            version,
            detail: e.to_string(),
        })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(found)
}

fn check_application(conn: &Connection, version: u32) -> Result<(), StateError> {
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app == APPLICATION_ID {
        return Ok(());
    }
    if app != 0 {
        return Err(StateError::Corrupt {
            detail: format!("application id {app:#x} is not flowc's"),
        });
    }
    // A fresh database has no tables; anything else is someone else's file.
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if tables > 0 || version != 0 {
        return Err(StateError::Corrupt {
            detail: "the file holds tables but no flowc application id".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        for table in [
            "runs",
            "ledger",
            "cursors",
            "activity",
            "dead_letters",
            "learned",
            "claims",
            "locks",
            "schedules",
            "webhooks",
        ] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name=?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{table}");
        }
    }

    #[test]
    fn version_2_keeps_the_lock_rows_of_version_1_without_the_liveness_columns() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute(
            "INSERT INTO locks (flow, token, pid, host, boot_id, proc_start, started_at)
             VALUES ('orders', 't', 42, 'h', 'boot', 7, '2024-05-01T00:00:00.000000Z')",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 1);
        let row: (String, i64, String) = conn
            .query_row("SELECT token, pid, host FROM locks", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(row, ("t".into(), 42, "h".into()));
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('locks')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(columns, ["flow", "token", "pid", "host", "started_at"]);
    }

    #[test]
    fn refuses_a_newer_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, StateError::TooNew { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
            "{err}"
        );
        assert!(err.to_string().contains("newer flowc"), "{err}");
    }

    #[test]
    fn refuses_a_foreign_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StateError::Corrupt { .. })
        ));
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 42).unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StateError::Corrupt { .. })
        ));
    }
}
