//! Read-only questions about the state that the dashboard asks and the
//! engine never does: one run by id, activity found by a record's key, and
//! activity counted per day. They read the SQLite file directly (no
//! [`super::Store`] method: a PostgreSQL store would answer them in its own
//! SQL, and nothing in the engine depends on them).

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::sqlite::{
    activity_row, query_first, query_rows, run_info, to_i64, to_u64, ts, SqliteStore,
    ACTIVITY_COLUMNS, RUN_COLUMNS,
};
use super::targets::key_hash;
use super::{ActivityRow, RunInfo, StateError};

/// Activity of one day (UTC), by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounts {
    pub day: NaiveDate,
    /// Records created or updated in the target.
    pub written: u64,
    /// Records found unchanged or left out (filtered, skipped).
    pub unchanged: u64,
    pub failed: u64,
}

impl SqliteStore {
    /// One run, if it exists.
    pub fn run(&self, id: i64) -> Result<Option<RunInfo>, StateError> {
        query_first(
            &self.lock_conn(),
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_info,
        )
    }

    /// Activity rows about the record a user names, newest first: rows
    /// whose source key or target id is `query`, and rows about the target
    /// record learned under the match key `query` (an order's reference
    /// such as `CCV-1001`, a product's SKU, a customer's e-mail address —
    /// compared as typed, in lower case and in upper case). Match keys are stored only as
    /// hashes, so a key matches exactly or not at all; an e-mail address
    /// is found without ever being stored.
    pub fn search_activity(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ActivityRow>, StateError> {
        let query = query.trim();
        let (exact, lower, upper) = (
            key_hash(query),
            key_hash(&query.to_lowercase()),
            key_hash(&query.to_uppercase()),
        );
        query_rows(
            &self.lock_conn(),
            &format!(
                "SELECT {ACTIVITY_COLUMNS} FROM activity
                 WHERE source_key = ?1 OR target_id = ?1
                    OR target_id IN (SELECT id FROM learned WHERE key_hash IN (?2, ?3, ?4))
                 ORDER BY id DESC LIMIT ?5"
            ),
            params![query, exact, lower, upper, to_i64(limit as u64)],
            activity_row,
        )
    }

    /// Activity per UTC day since `since`, oldest day first; days without
    /// activity are left out.
    pub fn activity_per_day(&self, since: DateTime<Utc>) -> Result<Vec<DayCounts>, StateError> {
        query_rows(
            &self.lock_conn(),
            "SELECT substr(at, 1, 10) AS day,
                    sum(decision IN ('create', 'update')),
                    sum(decision IN ('unchanged', 'skip')),
                    sum(decision = 'fail')
             FROM activity WHERE at >= ?1 GROUP BY day ORDER BY day",
            [ts(since)],
            |r| {
                let day: String = r.get(0)?;
                Ok(DayCounts {
                    day: day.parse().map_err(|e| StateError::Corrupt {
                        detail: format!("bad activity date `{day}`: {e}"),
                    })?,
                    written: to_u64(r.get(1)?),
                    unchanged: to_u64(r.get(2)?),
                    failed: to_u64(r.get(3)?),
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Decision, NewDeadLetter, Store, Success, TargetKey};

    fn filled() -> SqliteStore {
        let store = SqliteStore::open_in_memory().unwrap();
        let run = store.begin_run("orders", "h", "t").unwrap();
        store
            .record_success(&Success {
                run,
                flow: "orders",
                source_key: "17",
                decision: Decision::Create,
                target_id: "draft-1",
                payload_hash: "p",
                duration_ms: 3,
                cursor: None,
            })
            .unwrap();
        let at = TargetKey {
            target: "books",
            resource: "drafts",
            key: "CCV-1001",
        };
        let learned = crate::state::Learned {
            id: "draft-1".into(),
            ..Default::default()
        };
        store.learn("orders", at, &learned).unwrap();
        let letter = NewDeadLetter {
            source_key: "18".into(),
            error_class: "validation".into(),
            message: "too long".into(),
            ..Default::default()
        };
        store.record_failure(run, "orders", &letter, 1).unwrap();
        store
    }

    #[test]
    fn finds_a_record_by_source_key_target_id_or_match_key() {
        let store = filled();
        for query in ["17", "draft-1", "CCV-1001", " ccv-1001 "] {
            let rows = store.search_activity(query, 10).unwrap();
            assert_eq!(rows.len(), 1, "{query}");
            assert_eq!(rows[0].source_key, "17");
        }
        assert!(store.search_activity("CCV-100", 10).unwrap().is_empty());
        assert_eq!(
            store.search_activity("18", 10).unwrap()[0].decision,
            Decision::Fail
        );
    }

    #[test]
    fn counts_activity_per_day() {
        let store = filled();
        let days = store
            .activity_per_day(Utc::now() - chrono::Duration::days(1))
            .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(
            (days[0].written, days[0].unchanged, days[0].failed),
            (1, 0, 1)
        );
        assert!(store
            .activity_per_day(Utc::now() + chrono::Duration::days(1))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn reads_one_run() {
        let store = filled();
        assert_eq!(store.run(1).unwrap().unwrap().flow, "orders");
        assert_eq!(store.run(2).unwrap(), None);
    }
}
