//! Creating a target record once: the one way the engine creates anything
//! in a service (a flow's own records and the related records its upserts
//! create alike).
//!
//! Before a create, the record (target service, resource, match value) is
//! reserved in the state store, so that two workers, two flows or two
//! processes sharing the state never both create it: the second one waits,
//! then finds the id the first one learned. A create whose outcome is
//! unknown (timeout, dropped connection, 5xx) is followed by a search for
//! the match value; when that search fails too, the record stays
//! *uncertain* in the state store, and nothing creates it again — in this
//! run or a later one — until a search has found it or shown it absent.

use std::time::{Duration, Instant};

use super::{Engine, EngineError};
use crate::connectors::{Connector, ConnectorError, ErrorClass};
use crate::state::{Learned, Reservation, TargetKey};
use crate::value::{Record, Value};

/// What the message of a record left uncertain says (and how a dead letter
/// is told to be one).
pub(super) const UNCERTAIN: &str = "a create may have happened";

/// Attempts at a create whose outcome was unknown or transient.
const CREATE_ATTEMPTS: u32 = 4;

/// How long to wait for another worker or process to finish creating a
/// record before giving up on this one (it is retried later).
const BUSY_PATIENCE: Duration = Duration::from_secs(120);
const BUSY_POLL: Duration = Duration::from_millis(20);

/// A record to create.
pub(super) struct Creation<'a> {
    pub connector: &'a dyn Connector,
    pub resource: &'a str,
    pub record: &'a Record,
    /// The field the match value is written to (a dotted path), and the value.
    pub find: (&'a str, &'a Value),
    /// The source record on whose behalf it is created.
    pub source_key: &'a str,
    /// The payload hash to learn with the new record's id.
    pub payload: Option<&'a str>,
    /// The field that holds a stored record's id.
    pub id_field: &'a str,
}

/// What [`create_once`] did.
pub(super) enum Created {
    /// Created now, as the service stored it; its id is learned.
    New(Record),
    /// It exists already (another worker, flow or process created it, or an
    /// earlier create whose answer was lost did), as the service holds it.
    Exists(Record),
}

/// Creates `c.record` unless it exists; see the module docs. The outer
/// error stops the run (the state store failed); the inner one is this
/// record's failure, with `outcome_unknown` set when the record is left
/// uncertain.
pub(super) fn create_once(
    engine: &Engine,
    c: &Creation,
) -> Result<Result<Created, ConnectorError>, EngineError> {
    let identity = c.connector.target_identity();
    let key = c.find.1.to_text().unwrap_or_default();
    let at = TargetKey {
        target: &identity,
        resource: c.resource,
        key: &key,
    };
    let flow = &*engine.flow.name;
    let mut searched = false;
    let waiting = Instant::now();
    loop {
        match engine.store.reserve(flow, c.source_key, at, searched)? {
            Reservation::Granted => break,
            Reservation::Learned(learned) => match c.connector.get(c.resource, &learned.id) {
                Ok(Some(v)) => return Ok(Ok(Created::Exists(record_of(v, c.record)))),
                // Deleted since (by hand, or another company): forget it.
                Ok(None) => {
                    engine.store.forget(at)?;
                }
                Err(e) => return Ok(Err(e)),
            },
            Reservation::Uncertain => match search(c) {
                Ok(Some(found)) => {
                    learn(engine, c, at, &found, None)?;
                    return Ok(Ok(Created::Exists(found)));
                }
                Ok(None) => searched = true,
                Err(e) => return Ok(Err(uncertain(c, &key, e))),
            },
            Reservation::Busy if waiting.elapsed() < BUSY_PATIENCE => {
                std::thread::sleep(BUSY_POLL)
            }
            Reservation::Busy => {
                return Ok(Err(ConnectorError::new(
                    ErrorClass::Timeout,
                    format!(
                        "{} {key:?} has been being created by another run for {}s; it is tried again on the next run",
                        c.resource,
                        BUSY_PATIENCE.as_secs()
                    ),
                )))
            }
        }
    }
    match attempts(engine, c) {
        Ok(stored) => {
            learn(engine, c, at, &stored, c.payload)?;
            Ok(Ok(Created::New(stored)))
        }
        Err(e) => {
            engine.store.release(at, e.outcome_unknown)?;
            Ok(Err(if e.outcome_unknown {
                uncertain(c, &key, e)
            } else {
                e
            }))
        }
    }
}

/// Creates the record, searching for it before trying again when an answer
/// was lost. An error with `outcome_unknown` means the record may exist.
fn attempts(engine: &Engine, c: &Creation) -> Result<Record, ConnectorError> {
    let mut attempt = 0;
    loop {
        engine.wrote();
        match c.connector.create(c.resource, c.record) {
            Ok(v) => return Ok(record_of(v, c.record)),
            Err(e) if (e.outcome_unknown || e.is_transient()) && attempt + 1 < CREATE_ATTEMPTS => {
                attempt += 1;
                if e.outcome_unknown {
                    match search(c) {
                        Ok(Some(found)) => return Ok(found),
                        Ok(None) => {}
                        // Whether the create happened stays unknown.
                        Err(_) => return Err(e),
                    }
                }
                std::thread::sleep(
                    crate::connectors::http::RetryPolicy::default().backoff(attempt),
                );
            }
            Err(e) => return Err(e),
        }
    }
}

/// The record holding the match value, straight from the service (never
/// from a run-wide index, which may be older than the create).
fn search(c: &Creation) -> Result<Option<Record>, ConnectorError> {
    let found = c.connector.find(c.resource, c.find.0, c.find.1)?;
    Ok(found.into_iter().find_map(|v| v.as_record().cloned()))
}

fn learn(
    engine: &Engine,
    c: &Creation,
    at: TargetKey<'_>,
    stored: &Record,
    payload: Option<&str>,
) -> Result<(), EngineError> {
    let Some(id) = stored.get(c.id_field).and_then(Value::to_text) else {
        // Without an id nothing can be learned; the reservation ends here.
        engine.store.release(at, false)?;
        return Ok(());
    };
    let learned = Learned {
        id,
        // A company that cannot be told now is checked before the id is used.
        company: c.connector.company().ok().flatten(),
        payloads: payload.map(str::to_string).into_iter().collect(),
    };
    engine.store.learn(&engine.flow.name, at, &learned)?;
    Ok(())
}

/// A record left uncertain: the error says so, and what happens next.
fn uncertain(c: &Creation, key: &str, e: ConnectorError) -> ConnectorError {
    let mut err = e.clone();
    err.outcome_unknown = true;
    err.message = format!(
        "{} {}: {UNCERTAIN}, and searching for it failed ({e}); flowc does not create it again until a search finds it or shows it absent (next run or `flowc dlq retry`)",
        c.resource,
        crate::connectors::redact::scrub(&format!("{key:?}"))
    );
    err
}

/// A created record as the service answered it (or as sent, when the
/// answer has no body).
fn record_of(v: Value, sent: &Record) -> Record {
    v.as_record().cloned().unwrap_or_else(|| sent.clone())
}
