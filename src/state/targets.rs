//! Target records in the SQLite store: ids learned from target services
//! (`learned`) and claims on records being created (`claims`).
//!
//! A claim is `creating` while its holder creates the record and `uncertain`
//! once a create's outcome could not be learned. Claims name their holder,
//! one per open store; a holder is alive while its holder file is locked
//! (see `lockfile::hold`), so a claim left `creating` by a process that died
//! is seen for what it is: a create that may or may not have happened.
//!
//! Match keys are stored as SHA-256 hashes (hex): lookups are by exact key
//! only, and an e-mail address never lands in the file.

use std::fs::File;
use std::sync::OnceLock;

use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::sqlite::{timestamp, SqliteStore};
use super::{lockfile, Learned, Reservation, StateError, TargetKey, UncertainCreate};

/// The name under which this store holds claims, and (on disk) the file
/// whose lock says it is alive.
#[derive(Default)]
pub(super) struct Holder(OnceLock<(String, Option<File>)>);

impl Holder {
    /// Releases the holder file (on drop of the store).
    pub(super) fn close(&mut self, state_dir: Option<&std::path::Path>) {
        if let (Some((name, Some(_))), Some(dir)) = (self.0.get(), state_dir) {
            lockfile::release_holder(dir, name);
        }
    }
}

pub(super) fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Hashes are hex: a comma never occurs in one.
fn join_payloads(payloads: &[String]) -> String {
    payloads.join(",")
}

fn split_payloads(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn learned_row(
    tx: &rusqlite::Connection,
    at: TargetKey<'_>,
) -> Result<Option<Learned>, StateError> {
    Ok(tx
        .query_row(
            "SELECT id, company, payloads FROM learned
             WHERE target = ?1 AND resource = ?2 AND key_hash = ?3",
            params![at.target, at.resource, key_hash(at.key)],
            |r| {
                Ok(Learned {
                    id: r.get(0)?,
                    company: r.get(1)?,
                    payloads: split_payloads(&r.get::<_, String>(2)?),
                })
            },
        )
        .optional()?)
}

/// The claim on a target record: its state and its holder.
fn claim_row(
    conn: &rusqlite::Connection,
    at: TargetKey<'_>,
) -> Result<Option<(String, String)>, StateError> {
    Ok(conn
        .query_row(
            "SELECT state, holder FROM claims
             WHERE target = ?1 AND resource = ?2 AND key_hash = ?3",
            params![at.target, at.resource, key_hash(at.key)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

impl SqliteStore {
    /// This store's holder name, creating (and, on disk, locking) its
    /// holder file the first time.
    fn holder(&self) -> Result<&str, StateError> {
        if let Some((name, _)) = self.holder.0.get() {
            return Ok(name);
        }
        let name = uuid::Uuid::new_v4().to_string();
        let file = match self.dir() {
            Some(dir) => {
                lockfile::sweep_holders(dir);
                Some(lockfile::hold(dir, &name)?)
            }
            None => None,
        };
        // Another thread may have won the race; its name is the one kept.
        let _ = self.holder.0.set((name, file));
        Ok(self
            .holder
            .0
            .get()
            .map(|(n, _)| n.as_str())
            .unwrap_or_default())
    }

    fn is_mine(&self, holder: &str) -> bool {
        self.holder.0.get().is_some_and(|(mine, _)| mine == holder)
    }

    fn holder_alive(&self, holder: &str) -> Result<bool, StateError> {
        if self.is_mine(holder) {
            return Ok(true);
        }
        match self.dir() {
            Some(dir) => lockfile::is_alive(dir, holder),
            // In memory only this store can hold claims.
            None => Ok(false),
        }
    }

    pub(super) fn get_learned(&self, at: TargetKey<'_>) -> Result<Option<Learned>, StateError> {
        learned_row(&self.lock_conn(), at)
    }

    pub(super) fn put_learned(
        &self,
        flow: &str,
        at: TargetKey<'_>,
        learned: &Learned,
    ) -> Result<(), StateError> {
        let now = self.now();
        let hash = key_hash(at.key);
        // A claim is settled by the id, unless a live process other than
        // this one holds it (then that one settles it).
        let claim = claim_row(&self.lock_conn(), at)?;
        let settles = match &claim {
            Some((state, holder)) => {
                state == "uncertain" || !self.holder_alive(holder)? || self.is_mine(holder)
            }
            None => false,
        };
        self.write(|tx| {
            tx.execute(
                "INSERT INTO learned (target, resource, key_hash, id, company, payloads, flow, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (target, resource, key_hash) DO UPDATE SET id = excluded.id,
                    company = excluded.company, payloads = excluded.payloads,
                    flow = excluded.flow, updated_at = excluded.updated_at",
                params![
                    at.target,
                    at.resource,
                    key_hash(at.key),
                    learned.id,
                    learned.company,
                    join_payloads(&learned.payloads),
                    flow,
                    now
                ],
            )?;
            if let (true, Some((_, holder))) = (settles, &claim) {
                tx.execute(
                    "DELETE FROM claims WHERE target = ?1 AND resource = ?2 AND key_hash = ?3
                       AND holder = ?4",
                    params![at.target, at.resource, hash, holder],
                )?;
            }
            Ok(())
        })
    }

    pub(super) fn delete_learned(&self, at: TargetKey<'_>) -> Result<bool, StateError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM learned WHERE target = ?1 AND resource = ?2 AND key_hash = ?3",
                params![at.target, at.resource, key_hash(at.key)],
            )? > 0)
        })
    }

    pub(super) fn reserve_target(
        &self,
        flow: &str,
        source_key: &str,
        at: TargetKey<'_>,
        searched: bool,
    ) -> Result<Reservation, StateError> {
        let me = self.holder()?.to_string();
        let now = self.now();
        let hash = key_hash(at.key);
        self.write(|tx| {
            let claim = claim_row(tx, at)?;
            let take = |tx: &Transaction<'_>| -> Result<Reservation, StateError> {
                tx.execute(
                    "INSERT OR REPLACE INTO claims
                       (target, resource, key_hash, state, holder, flow, source_key, since)
                     VALUES (?1, ?2, ?3, 'creating', ?4, ?5, ?6, ?7)",
                    params![at.target, at.resource, hash, me, flow, source_key, now],
                )?;
                Ok(Reservation::Granted)
            };
            match claim {
                Some((state, holder)) if state == "creating" => {
                    if self.holder_alive(&holder)? {
                        return Ok(Reservation::Busy);
                    }
                    // Its creator died while creating: the create may have happened.
                    tx.execute(
                        "UPDATE claims SET state = 'uncertain'
                         WHERE target = ?1 AND resource = ?2 AND key_hash = ?3",
                        params![at.target, at.resource, hash],
                    )?;
                    Ok(Reservation::Uncertain)
                }
                Some(_) if searched => take(tx),
                Some(_) => Ok(Reservation::Uncertain),
                None => match learned_row(tx, at)? {
                    Some(learned) => Ok(Reservation::Learned(learned)),
                    None => take(tx),
                },
            }
        })
    }

    pub(super) fn release_target(
        &self,
        at: TargetKey<'_>,
        uncertain: bool,
    ) -> Result<(), StateError> {
        let Some((me, _)) = self.holder.0.get() else {
            return Ok(());
        };
        let sql = if uncertain {
            "UPDATE claims SET state = 'uncertain'
             WHERE target = ?1 AND resource = ?2 AND key_hash = ?3 AND holder = ?4"
        } else {
            "DELETE FROM claims
             WHERE target = ?1 AND resource = ?2 AND key_hash = ?3 AND holder = ?4
               AND state = 'creating'"
        };
        self.write(|tx| {
            tx.execute(sql, params![at.target, at.resource, key_hash(at.key), me])?;
            Ok(())
        })
    }

    pub(super) fn list_uncertain(
        &self,
        flow: Option<&str>,
    ) -> Result<Vec<UncertainCreate>, StateError> {
        // Claims of dead creators are uncertain too, whatever their row says.
        let rows = super::sqlite::query_rows(
            &self.lock_conn(),
            "SELECT flow, source_key, target, resource, since, state, holder FROM claims
             WHERE (?1 IS NULL OR flow = ?1) ORDER BY since",
            [flow],
            |r| {
                Ok((
                    UncertainCreate {
                        flow: r.get(0)?,
                        source_key: r.get(1)?,
                        target: r.get(2)?,
                        resource: r.get(3)?,
                        since: timestamp(r, 4)?,
                    },
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for (claim, state, holder) in rows {
            if state == "uncertain" || !self.holder_alive(&holder)? {
                out.push(claim);
            }
        }
        Ok(out)
    }
}
