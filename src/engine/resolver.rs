//! Upserts on behalf of the interpreter: find the related record (a
//! customer by e-mail, an article by SKU), create or update it, and hand
//! its stored form back to the mapping. Each distinct record is resolved
//! once per run, and across runs an unchanged one costs no API call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::decide::{self, Decided};
use super::payload::{self, hash};
use super::plan::PLANNED_ID;
use super::{Engine, EngineError};
use crate::connectors::{Connector, ConnectorError, ErrorClass};
use crate::diag::codes;
use crate::eval::{EvalError, Resolver, UpsertRequest};
use crate::program::Schema;
use crate::value::{Record, Value};

/// A schema and a related record's match value.
type Slot = (Arc<str>, String);

/// Per-run state shared by all workers.
#[derive(Default)]
pub(super) struct Shared {
    /// (schema, match value) → (payload hash, stored record).
    resolved: Mutex<HashMap<Slot, (String, Record)>>,
    /// One lock per related record, so two orders of one new customer never both create it.
    locks: Mutex<HashMap<Slot, Arc<Mutex<()>>>>,
}

const XREF_SEPARATOR: char = '|';

pub(super) struct EngineResolver<'e, 'a> {
    engine: &'e Engine<'a>,
    source: String,
    writes: u64,
    /// Trust only what is known to be a related record's current state.
    strict: bool,
    /// A related record was taken to hold a payload written by an earlier
    /// run that may since have been overwritten (see [`Self::assumed`]).
    assumed: bool,
    /// A failure that concerns the whole run (the state store), kept until
    /// the interpreter hands control back.
    fatal: Option<EngineError>,
}

impl<'e, 'a> EngineResolver<'e, 'a> {
    /// `strict`: a payload written before is not taken as written unless it
    /// was the last one written to that record.
    pub(super) fn new(engine: &'e Engine<'a>, source: &str, strict: bool) -> Self {
        EngineResolver {
            engine,
            source: source.to_string(),
            writes: 0,
            strict,
            assumed: false,
            fatal: None,
        }
    }

    /// Related records written while mapping this record, or the failure
    /// that stops the run.
    pub(super) fn finish(&mut self) -> Result<u64, EngineError> {
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(self.writes),
        }
    }

    /// Whether a related record was taken to hold a payload that an earlier
    /// run wrote but that a later write may have replaced (one article, two
    /// orders with different data). That is right for a record that is not
    /// written again (a rerun replays nothing), wrong for one that is: the
    /// target record would then refer to a related record in another state
    /// than the one its mapping asked for. Such a record is mapped again
    /// with a strict resolver before it is written.
    pub(super) fn assumed(&self) -> bool {
        self.assumed
    }
}

/// Errors from connectors travel through the interpreter as E0905 with this prefix.
const CONNECTOR_PREFIX: &str = "the service said: ";

pub(super) fn is_connector_error(e: &EvalError) -> bool {
    e.message.contains(CONNECTOR_PREFIX)
}

fn connector_failure(schema: &Schema, connector: &dyn Connector, e: &ConnectorError) -> EvalError {
    let code = if e.class == ErrorClass::Validation {
        &codes::E0908
    } else {
        &codes::E0905
    };
    let mut err = EvalError::new(
        code,
        format!("{} upsert failed; {CONNECTOR_PREFIX}{e}", schema.name),
        None,
    );
    err.field = e.field.clone();
    if e.class == ErrorClass::Auth {
        err = err.help(connector.spec().auth_help);
    }
    err
}

fn state_failure(schema: &Schema, e: &crate::state::StateError) -> EvalError {
    EvalError::new(
        &codes::E0905,
        format!(
            "{} upsert could not be recorded: state store: {e}",
            schema.name
        ),
        None,
    )
}

impl Resolver for EngineResolver<'_, '_> {
    fn upsert(&mut self, request: UpsertRequest<'_>) -> Result<Value, EvalError> {
        let engine = self.engine;
        let schema = request.schema;
        let Some(match_text) = request.match_value.to_text() else {
            return Err(EvalError::new(
                &codes::E0902,
                format!("cannot match {} on a list or record", schema.name),
                None,
            ));
        };
        let match_field = request
            .match_field
            .iter()
            .map(|s| &**s)
            .collect::<Vec<_>>()
            .join(".");
        let slot = (schema.name.clone(), match_text.clone());
        let lock = {
            let mut locks = engine
                .upserts
                .locks
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            locks.entry(slot.clone()).or_default().clone()
        };
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let digest = hash(&request.payload);
        let earlier = engine
            .upserts
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&slot)
            .cloned();
        if let Some((h, stored)) = &earlier {
            if *h == digest {
                return Ok(Value::record(stored.clone()));
            }
        }
        let connector = engine
            .connections
            .get(schema.connection)
            .ok_or_else(|| {
                EvalError::new(
                    &codes::E0905,
                    format!("no connection is open for {}", schema.name),
                    None,
                )
            })?
            .clone();
        let Some(key_field) = schema
            .key
            .clone()
            .or_else(|| connector.spec().id_field.map(Arc::from))
        else {
            let e = super::apply::no_id(&schema.name, connector.kind());
            return Err(connector_failure(schema, &*connector, &e));
        };
        // Across runs: the id learned before, if what we would write now was
        // written then. Several payloads may have been written for one
        // record in a run (two orders of one customer with different
        // addresses); remembering each keeps a rerun from replaying them.
        let learned = engine
            .store
            .xref_get(&schema.name, &match_text)
            .ok()
            .flatten();
        let learned = learned
            .as_deref()
            .and_then(|e| e.split_once(XREF_SEPARATOR))
            .map(|(id, hashes)| (id.to_string(), hashes.to_string()));
        if let Some((id, hashes)) = &learned {
            // The last payload written is the record's state, as far as
            // flowc knows, unless this run already wrote another one.
            let current = earlier.is_none() && hashes.rsplit(',').next() == Some(digest.as_str());
            if current || (!self.strict && hashes.split(',').any(|h| h == digest)) {
                let mut stored = request.payload.update.clone();
                stored.insert(key_field.clone(), Value::str(id));
                if current {
                    remember(engine, &slot, &digest, &stored);
                } else {
                    // Not known to be its state now: not for other records to rely on.
                    self.assumed = true;
                }
                return Ok(Value::record(stored));
            }
        }
        let resource = schema
            .resource
            .as_deref()
            .unwrap_or(&schema.name)
            .to_string();
        let existing = match earlier {
            // Resolved earlier in this run with other data: update that record.
            Some((_, stored)) => Some(stored),
            None => engine
                .indexes
                .find(&*connector, &resource, &match_field, &match_text)
                .map_err(|e| connector_failure(schema, &*connector, &e))?,
        };
        let stored = match decide::related(
            engine,
            schema,
            &key_field,
            existing.clone(),
            &request.payload,
        ) {
            Decided::Invalid(v) => {
                let mut e = EvalError::from(v);
                e.message = format!("{}: {}", schema.name, e.message);
                return Err(e);
            }
            // Related records are matched by the upsert, never claimed.
            Decided::Collision(reason) => {
                return Err(EvalError::new(
                    &codes::E0908,
                    format!("{}: {reason}", schema.name),
                    None,
                ))
            }
            Decided::Unchanged { id, .. } => {
                self.note(
                    schema,
                    "unchanged",
                    Some(id),
                    vec![],
                    &request.payload.update,
                );
                existing.unwrap_or_default()
            }
            Decided::Update {
                id,
                current,
                changes,
            } => {
                let current = current.unwrap_or_default();
                self.note(
                    schema,
                    "update",
                    Some(id.clone()),
                    changes,
                    &request.payload.update,
                );
                if engine.options.dry_run {
                    merged(&current, &request.payload.update)
                } else {
                    self.writes += 1;
                    engine.wrote();
                    let v = connector
                        .update(&resource, &id, &request.payload.update, Some(&current))
                        .map_err(|e| connector_failure(schema, &*connector, &e))?;
                    let stored = v
                        .as_record()
                        .cloned()
                        .unwrap_or_else(|| merged(&current, &request.payload.update));
                    self.note_write(
                        schema,
                        &*connector,
                        &resource,
                        (&id, Some(&current)),
                        &request.payload.update,
                        &stored,
                    )?;
                    stored
                }
            }
            Decided::Create => {
                let changes = payload::diff(&Record::new(), &request.payload.create);
                self.note(schema, "create", None, changes, &request.payload.create);
                if engine.options.dry_run {
                    // A stand-in id of the right shape, so the rest of the
                    // mapping checks as it will once the record exists.
                    let mut placeholder = request.payload.create.clone();
                    placeholder.insert(key_field.clone(), Value::str(PLANNED_ID));
                    placeholder
                } else {
                    self.writes += 1;
                    let stored = super::apply::create(
                        engine,
                        &*connector,
                        &resource,
                        &request.payload.create,
                        (&match_field, &request.match_value),
                    )
                    .map_err(|e| connector_failure(schema, &*connector, &e))?;
                    let id = stored
                        .get(&key_field)
                        .and_then(Value::to_text)
                        .unwrap_or_default();
                    self.note_write(
                        schema,
                        &*connector,
                        &resource,
                        (&id, None),
                        &request.payload.create,
                        &stored,
                    )?;
                    stored
                }
            }
        };
        if !engine.options.dry_run {
            if let Some(id) = stored.get(&key_field).and_then(Value::to_text) {
                let mut hashes: Vec<String> = match &learned {
                    Some((old_id, old)) if *old_id == id => {
                        old.split(',').map(str::to_string).collect()
                    }
                    _ => Vec::new(),
                };
                hashes.retain(|h| *h != digest);
                hashes.push(digest.clone());
                let keep = hashes.len().saturating_sub(8);
                let value = format!("{id}{XREF_SEPARATOR}{}", hashes[keep..].join(","));
                if let Err(e) = engine.store.xref_put(&schema.name, &match_text, &value) {
                    let err = state_failure(schema, &e);
                    self.fatal = Some(e.into());
                    return Err(err);
                }
            }
        }
        remember(engine, &slot, &digest, &stored);
        Ok(Value::record(stored))
    }
}

impl EngineResolver<'_, '_> {
    /// Remembers what a related write stored (see `echo`); a state store
    /// that cannot record it stops the run.
    fn note_write(
        &mut self,
        schema: &Schema,
        connector: &dyn Connector,
        resource: &str,
        (id, before): (&str, Option<&Record>),
        sent: &Record,
        stored: &Record,
    ) -> Result<(), EvalError> {
        let after = Value::record(stored.clone());
        match self
            .engine
            .note_write(connector, resource, id, before, sent, &after)
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = EvalError::new(
                    &codes::E0905,
                    format!("{} upsert could not be recorded: {e}", schema.name),
                    None,
                );
                self.fatal = Some(e);
                Err(err)
            }
        }
    }

    /// Notes a related record's decision, for plans and tests.
    fn note(
        &self,
        schema: &Schema,
        action: &'static str,
        id: Option<String>,
        changes: Vec<payload::Change>,
        payload: &Record,
    ) {
        self.engine.decision(
            &self.source,
            action,
            Some((&schema.name, id)),
            changes,
            None,
            Some(payload.clone()),
            true,
        );
    }
}

fn remember(engine: &Engine, slot: &Slot, digest: &str, stored: &Record) {
    engine
        .upserts
        .resolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(slot.clone(), (digest.to_string(), stored.clone()));
}

fn merged(current: &Record, changes: &Record) -> Record {
    let mut r = current.clone();
    for (k, v) in changes.iter() {
        r.insert(k.clone(), v.clone());
    }
    r
}
