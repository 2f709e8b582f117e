//! The decide step: for a mapped record, what the target needs — a create,
//! an update (with the fields it changes), nothing (unchanged), or a
//! failure because the record does not fit the target. Deciding reads the
//! ledger and the target but writes nothing; the sink acts on the decision.

use std::sync::Arc;

use super::index::Found;
use super::payload::{self, hash, Change};
use super::{Engine, EngineError};
use crate::connectors::Connector;
use crate::eval::Mapped;
use crate::program::Schema;
use crate::types::validate::{validate, Violation};
use crate::value::{Record, Value};

/// What the target needs for one record.
#[derive(Debug, Clone)]
pub(crate) enum Decided {
    /// Nothing to write. `learn`: the record was found in the target as it
    /// should be, and the ledger learns its id.
    Unchanged {
        id: String,
        reason: &'static str,
        learn: bool,
    },
    /// `current` is the record as read, when it was (a PUT that replaces
    /// the whole record merges the changes into it).
    Update {
        id: String,
        current: Option<Record>,
        changes: Vec<Change>,
    },
    Create,
    Invalid(Violation),
    /// Not written: the key is another record's (in another case, or
    /// claimed by another source record of this run); the reason says whose.
    Collision(String),
}

/// The flow's target resource, resolved once per record.
pub(super) struct Target<'p> {
    pub connector: Arc<dyn Connector>,
    pub resource: String,
    pub schema: &'p Schema,
    /// The field that holds a record's id.
    pub id_field: Arc<str>,
    /// The target field the flow's key is written to (a dotted path), and its value.
    pub key_field: String,
    pub key_value: Value,
}

impl Target<'_> {
    /// The key is the record's own id: the flow updates records that exist.
    pub(super) fn updates_only(&self) -> bool {
        self.key_field == *self.id_field
    }

    pub(super) fn id_of(&self, record: &Record) -> String {
        record
            .get(&self.id_field)
            .and_then(Value::to_text)
            .unwrap_or_default()
    }
}

/// Decides what the flow's own target record needs.
pub(super) fn target(
    engine: &Engine,
    target: &Target,
    source_key: &str,
    mapped: &Mapped,
) -> Result<Decided, EngineError> {
    let decided = decide_target(engine, target, source_key, mapped)?;
    Ok(seeded(engine, decided))
}

/// Tests of the tests replace the decision with a wrong one here, to show
/// that `flowc test` runs this step.
fn seeded(_engine: &Engine, decided: Decided) -> Decided {
    #[cfg(test)]
    if let Some(bug) = _engine.seeded_bug {
        return bug(decided);
    }
    decided
}

fn decide_target(
    engine: &Engine,
    target: &Target,
    source_key: &str,
    mapped: &Mapped,
) -> Result<Decided, EngineError> {
    let ledger = engine.store.ledger_get(&engine.flow.name, source_key)?;
    if let Some(entry) = &ledger {
        if entry.payload_hash == hash(&mapped.payload) {
            return Ok(Decided::Unchanged {
                id: entry.target_id.clone(),
                reason: "written before with the same data",
                learn: false,
            });
        }
    }
    // Known target record (ledger), or one found by its key (written by an
    // earlier run whose state was lost, or by hand). A key that is the
    // target's own id names the record to update: read it by that id.
    let by_id = target.updates_only();
    let key_text = target.key_value.to_text().unwrap_or_default();
    let existing = match &ledger {
        Some(entry) => Some((entry.target_id.clone(), None)),
        None if by_id => target
            .connector
            .get(&target.resource, &key_text)?
            .and_then(|v| v.as_record().cloned())
            .map(|r| (key_text.clone(), Some(r))),
        None => match engine.indexes.find_key(
            &*target.connector,
            &target.resource,
            &target.key_field,
            &engine.key_normaliser,
            &key_text,
        )? {
            Some(Found::Exact(r)) => Some((target.id_of(&r), Some(r))),
            Some(Found::OtherCase(r)) => {
                return Ok(Decided::Collision(format!(
                    "{} {} already has {} {:?}, which {} does not tell apart from {key_text:?}; this record is not written",
                    target.resource,
                    target.id_of(&r),
                    target.key_field,
                    r.get_path(&path_of(&target.key_field))
                        .and_then(Value::to_text)
                        .unwrap_or_default(),
                    target.connector.kind(),
                )))
            }
            None => None,
        },
    };
    let Some((id, current)) = existing else {
        if by_id {
            return Ok(Decided::Invalid(Violation {
                field: target.key_field.clone(),
                message: format!(
                    "there is no {} with {} {}",
                    target.schema.name, target.key_field, target.key_value
                ),
                help: "this flow updates records that exist and never creates one".into(),
            }));
        }
        if let Some((other_key, other)) =
            engine.claims.claim(&target.resource, &key_text, source_key)
        {
            return Ok(Decided::Collision(format!(
                "record {other} of this run is written as {} {other_key:?}, which {} does not tell apart from {key_text:?}; this record is not written",
                target.key_field,
                target.connector.kind(),
            )));
        }
        return Ok(
            match validate(&mapped.payload.create, &target.schema.record, true) {
                Ok(()) => Decided::Create,
                Err(v) => Decided::Invalid(v),
            },
        );
    };
    if let Err(v) = validate(&mapped.payload.update, &target.schema.record, false) {
        return Ok(Decided::Invalid(v));
    }
    // The record as it is now: an update that changes nothing is not sent,
    // a service whose update replaces the whole record gets the rest from
    // it (eAccounting's PUT; the connector would read it otherwise), and
    // what the write changed is known (see `echo`). A record that cannot
    // be read is updated blind, and the update reports why it failed.
    let current = match current {
        Some(c) => Some(c),
        None => target
            .connector
            .get(&target.resource, &id)
            .ok()
            .flatten()
            .and_then(|v| v.as_record().cloned()),
    };
    Ok(update_or_unchanged(id, current, &mapped.payload.update))
}

fn path_of(field: &str) -> Vec<std::sync::Arc<str>> {
    field.split('.').map(std::sync::Arc::from).collect()
}

/// An update, or nothing when the record already holds every field.
pub(super) fn update_or_unchanged(id: String, current: Option<Record>, update: &Record) -> Decided {
    match &current {
        Some(c) => {
            let changes = payload::diff(c, update);
            if changes.is_empty() {
                Decided::Unchanged {
                    id,
                    reason: "the target already holds this data",
                    learn: true,
                }
            } else {
                Decided::Update {
                    id,
                    current,
                    changes,
                }
            }
        }
        None => Decided::Update {
            id,
            current: None,
            changes: payload::diff(&Record::new(), update),
        },
    }
}

/// Decides what a related record (an upsert) needs, given what the target
/// holds for its match value (if anything).
pub(super) fn related(
    engine: &Engine,
    schema: &Schema,
    id_field: &str,
    existing: Option<Record>,
    payload: &crate::eval::Payload,
) -> Decided {
    let decided = match existing {
        Some(current) => {
            let id = current
                .get(id_field)
                .and_then(Value::to_text)
                .unwrap_or_default();
            update_or_unchanged(id, Some(current), &payload.update)
        }
        None => match validate(&payload.create, &schema.record, true) {
            Ok(()) => Decided::Create,
            Err(v) => Decided::Invalid(v),
        },
    };
    seeded(engine, decided)
}

/// Whether the ledger holds this record as written with exactly this payload.
pub(super) fn ledger_holds(
    engine: &Engine,
    source_key: &str,
    mapped: &Mapped,
) -> Result<bool, EngineError> {
    let ledger = engine.store.ledger_get(&engine.flow.name, source_key)?;
    Ok(ledger.is_some_and(|entry| entry.payload_hash == hash(&mapped.payload)))
}
