//! What `flowc serve` keeps besides runs: when each scheduled flow runs
//! next, the webhooks registered in a shop with the key that signs their
//! deliveries, the alerts that are firing and how many runs in a row read
//! no record. Run history itself is the `runs` table.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::sqlite::{query_rows, timestamp, SqliteStore};
use super::StateError;

/// A webhook registered in a service, as the service returned it.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredWebhook {
    /// The connector whose service holds it ("ccvshop").
    pub connector: String,
    /// The service's id of the webhook.
    pub id: String,
    pub event: String,
    /// Where the service delivers, exactly as registered (it is signed).
    pub address: String,
    /// The secret the service signs deliveries with. Never printed.
    pub key: String,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for RegisteredWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredWebhook")
            .field("connector", &self.connector)
            .field("id", &self.id)
            .field("event", &self.event)
            .field("address", &self.address)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SqliteStore {
    /// When `flow` runs next, as last scheduled.
    pub fn next_run(&self, flow: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        let conn = self.lock_conn();
        let rows = query_rows(
            &conn,
            "SELECT next_run FROM schedules WHERE flow = ?1",
            [flow],
            |r| timestamp(r, 0),
        )?;
        Ok(rows.into_iter().next())
    }

    /// Remembers when `flow` runs next.
    pub fn set_next_run(&self, flow: &str, at: DateTime<Utc>) -> Result<(), StateError> {
        let now = self.now();
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO schedules (flow, next_run, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (flow) DO UPDATE SET next_run = excluded.next_run,
                                                  updated_at = excluded.updated_at",
                params![flow, at, now],
            )?;
            Ok(())
        })
    }

    /// Stores a webhook the service registered (replacing one with its id).
    pub fn save_webhook(&self, hook: &RegisteredWebhook) -> Result<(), StateError> {
        let created = hook
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO webhooks (connector, id, event, address, key, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    hook.connector,
                    hook.id,
                    hook.event,
                    hook.address,
                    hook.key,
                    created
                ],
            )?;
            Ok(())
        })
    }

    /// The webhooks registered in `connector`'s service, by event and id.
    pub fn webhooks(&self, connector: &str) -> Result<Vec<RegisteredWebhook>, StateError> {
        let conn = self.lock_conn();
        query_rows(
            &conn,
            "SELECT connector, id, event, address, key, created_at FROM webhooks
             WHERE connector = ?1 ORDER BY event, id",
            [connector],
            |r| {
                Ok(RegisteredWebhook {
                    connector: r.get(0)?,
                    id: r.get(1)?,
                    event: r.get(2)?,
                    address: r.get(3)?,
                    key: r.get(4)?,
                    created_at: timestamp(r, 5)?,
                })
            },
        )
    }

    /// The alerts that are firing: (flow, cause, when last sent).
    pub fn open_alerts(&self) -> Result<Vec<(String, String, DateTime<Utc>)>, StateError> {
        let conn = self.lock_conn();
        query_rows(
            &conn,
            "SELECT flow, cause, last_sent FROM alerts ORDER BY flow, cause",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, timestamp(r, 2)?)),
        )
    }

    /// Remembers that the alert for `cause` of `flow` was sent at `at`.
    pub fn alert_sent(&self, flow: &str, cause: &str, at: DateTime<Utc>) -> Result<(), StateError> {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO alerts (flow, cause, last_sent) VALUES (?1, ?2, ?3)",
                params![flow, cause, at],
            )?;
            Ok(())
        })
    }

    /// Forgets the alert for `cause` of `flow` (its recovery was sent).
    pub fn alert_cleared(&self, flow: &str, cause: &str) -> Result<(), StateError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM alerts WHERE flow = ?1 AND cause = ?2",
                params![flow, cause],
            )?;
            Ok(())
        })
    }

    /// How many runs of `flow` in a row read no record (0 if none did).
    pub fn zero_streak(&self, flow: &str) -> Result<u32, StateError> {
        let conn = self.lock_conn();
        let rows = query_rows(
            &conn,
            "SELECT runs FROM zero_streaks WHERE flow = ?1",
            [flow],
            |r| Ok(r.get::<_, i64>(0)?),
        )?;
        Ok(rows
            .first()
            .map_or(0, |&n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// Remembers how many runs of `flow` in a row read no record.
    pub fn set_zero_streak(&self, flow: &str, runs: u32) -> Result<(), StateError> {
        self.write(|tx| {
            if runs == 0 {
                tx.execute("DELETE FROM zero_streaks WHERE flow = ?1", [flow])?;
            } else {
                tx.execute(
                    "INSERT OR REPLACE INTO zero_streaks (flow, runs) VALUES (?1, ?2)",
                    params![flow, runs],
                )?;
            }
            Ok(())
        })
    }

    /// Forgets a webhook; returns whether it was stored.
    pub fn forget_webhook(&self, connector: &str, id: &str) -> Result<bool, StateError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM webhooks WHERE connector = ?1 AND id = ?2",
                params![connector, id],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Store;

    #[test]
    fn next_runs_and_webhooks_round_trip() {
        let s = SqliteStore::open_in_memory().unwrap();
        assert_eq!(s.next_run("orders").unwrap(), None);
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .to_utc();
        s.set_next_run("orders", at).unwrap();
        s.set_next_run("orders", at).unwrap();
        assert_eq!(s.next_run("orders").unwrap(), Some(at));
        let hook = RegisteredWebhook {
            connector: "ccvshop".into(),
            id: "7".into(),
            event: "orders.created".into(),
            address: "https://sync.example.com/webhooks/ccvshop".into(),
            key: "k".repeat(32),
            created_at: at,
        };
        s.save_webhook(&hook).unwrap();
        assert_eq!(s.webhooks("ccvshop").unwrap(), vec![hook.clone()]);
        assert!(!format!("{hook:?}").contains("kkkk"));
        assert!(s.forget_webhook("ccvshop", "7").unwrap());
        assert!(!s.forget_webhook("ccvshop", "7").unwrap());
        assert!(s.webhooks("ccvshop").unwrap().is_empty());
    }

    #[test]
    fn zero_streaks_round_trip() {
        let s = SqliteStore::open_in_memory().unwrap();
        assert_eq!(s.zero_streak("stock").unwrap(), 0);
        s.set_zero_streak("stock", 3).unwrap();
        s.set_zero_streak("orders", 1).unwrap();
        assert_eq!(s.zero_streak("stock").unwrap(), 3);
        s.set_zero_streak("stock", 0).unwrap();
        assert_eq!(s.zero_streak("stock").unwrap(), 0);
        assert_eq!(s.zero_streak("orders").unwrap(), 1);
        s.reset_flow("orders").unwrap();
        assert_eq!(
            s.zero_streak("orders").unwrap(),
            0,
            "forgotten with the runs"
        );
    }

    #[test]
    fn open_alerts_round_trip() {
        let s = SqliteStore::open_in_memory().unwrap();
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        s.alert_sent("orders", "run_failed", at).unwrap();
        s.alert_sent("orders", "run_failed", at).unwrap();
        s.alert_sent("stock", "zero_records", at).unwrap();
        assert_eq!(
            s.open_alerts().unwrap(),
            [
                ("orders".into(), "run_failed".into(), at),
                ("stock".into(), "zero_records".into(), at)
            ]
        );
        s.alert_cleared("orders", "run_failed").unwrap();
        assert_eq!(s.open_alerts().unwrap().len(), 1);
    }
}
