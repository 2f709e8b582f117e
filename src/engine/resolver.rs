//! Upserts on behalf of the interpreter: find the related record (a
//! customer by e-mail, an article by SKU), create or update it, and hand
//! its stored form back to the mapping. Each distinct record is resolved
//! once per run, and across runs an unchanged one costs no API call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::create::{create_once, Created, Creation};
use super::decide::{self, Decided};
use super::payload::{self, hash};
use super::plan::PLANNED_ID;
use super::{Engine, EngineError};
use crate::connectors::{Connector, ConnectorError, ErrorClass};
use crate::diag::codes;
use crate::eval::{EvalError, Resolver, UpsertRequest};
use crate::program::Schema;
use crate::state::{Learned, StateError, TargetKey};
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
pub(super) const CONNECTOR_PREFIX: &str = "the service said: ";

pub(super) fn is_connector_error(e: &EvalError) -> bool {
    e.message.contains(CONNECTOR_PREFIX)
}

/// A related record's create whose outcome is unknown failed this record.
pub(super) fn is_uncertain(e: &EvalError) -> bool {
    is_connector_error(e) && e.message.contains(super::create::UNCERTAIN)
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
            return Err(self.connector_failed(schema, &*connector, e));
        };
        let resource = schema
            .resource
            .as_deref()
            .unwrap_or(&schema.name)
            .to_string();
        let identity = connector.target_identity();
        let at = TargetKey {
            target: &identity,
            resource: &resource,
            key: &match_text,
        };
        // Across runs: the id learned before, if what we would write now was
        // written then. Several payloads may have been written for one
        // record in a run (two orders of one customer with different
        // addresses); remembering each keeps a rerun from replaying them.
        let learned = match engine.store.learned(at) {
            Ok(l) => l,
            Err(e) => return Err(self.state_failed(schema, e)),
        };
        let (learned, verified) = match learned {
            Some(l) if !same_company(&l, &*connector) => {
                // Learned while signed in to another company (or one that
                // cannot be told now): the service says whether it is there.
                match connector.get(&resource, &l.id) {
                    Ok(Some(v)) => (
                        None,
                        v.as_record()
                            .filter(|r| holds(r, request.match_field, &match_text))
                            .cloned(),
                    ),
                    Ok(None) => {
                        if let Err(e) = engine.store.forget(at) {
                            return Err(self.state_failed(schema, e));
                        }
                        (None, None)
                    }
                    Err(e) => return Err(self.connector_failed(schema, &*connector, e)),
                }
            }
            other => (other, None),
        };
        if let Some(l) = &learned {
            // The last payload written is the record's state, as far as
            // flowc knows, unless this run already wrote another one.
            let current = earlier.is_none() && l.payloads.last() == Some(&digest);
            if current || (!self.strict && l.payloads.contains(&digest)) {
                let mut stored = request.payload.update.clone();
                stored.insert(key_field.clone(), Value::str(&l.id));
                if current {
                    remember(engine, &slot, &digest, &stored);
                } else {
                    // Not known to be its state now: not for other records to rely on.
                    self.assumed = true;
                }
                return Ok(Value::record(stored));
            }
        }
        let mut existing = match (earlier, verified) {
            // Resolved earlier in this run with other data: update that record.
            (Some((_, stored)), _) => Some(stored),
            (None, Some(found)) => Some(found),
            (None, None) => engine
                .indexes
                .find(&*connector, &resource, &match_field, &match_text)
                .map_err(|e| self.connector_failed(schema, &*connector, e))?,
        };
        let mut learned_now = false;
        let stored = loop {
            match decide::related(
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
                    break existing.unwrap_or_default();
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
                        break merged(&current, &request.payload.update);
                    }
                    self.writes += 1;
                    engine.wrote();
                    let v = connector
                        .update(&resource, &id, &request.payload.update, Some(&current))
                        .map_err(|e| self.connector_failed(schema, &*connector, e))?;
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
                    break stored;
                }
                Decided::Create => {
                    let changes = payload::diff(&Record::new(), &request.payload.create);
                    self.note(schema, "create", None, changes, &request.payload.create);
                    if engine.options.dry_run {
                        // A stand-in id of the right shape, so the rest of the
                        // mapping checks as it will once the record exists.
                        let mut placeholder = request.payload.create.clone();
                        placeholder.insert(key_field.clone(), Value::str(PLANNED_ID));
                        break placeholder;
                    }
                    let creation = Creation {
                        connector: &*connector,
                        resource: &resource,
                        record: &request.payload.create,
                        find: (&match_field, &request.match_value),
                        source_key: &self.source,
                        payload: Some(&digest),
                        id_field: &key_field,
                    };
                    let created = match create_once(engine, &creation) {
                        Ok(created) => created,
                        Err(stop) => {
                            let err = EvalError::new(
                                &codes::E0905,
                                format!("{} upsert could not be recorded: {stop}", schema.name),
                                None,
                            );
                            self.fatal = Some(stop);
                            return Err(err);
                        }
                    };
                    match created.map_err(|e| self.connector_failed(schema, &*connector, e))? {
                        Created::New(stored) => {
                            self.writes += 1;
                            learned_now = true;
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
                            break stored;
                        }
                        // Created by someone else meanwhile: decide again on it.
                        Created::Exists(found) => existing = Some(found),
                    }
                }
            }
        };
        if !engine.options.dry_run && !learned_now {
            if let Some(id) = stored.get(&key_field).and_then(Value::to_text) {
                let mut payloads = match &learned {
                    Some(l) if l.id == id => l.payloads.clone(),
                    _ => Vec::new(),
                };
                payloads.retain(|h| *h != digest);
                payloads.push(digest.clone());
                let keep = payloads.len().saturating_sub(8);
                let learned = Learned {
                    id,
                    company: connector.company().ok().flatten(),
                    payloads: payloads.split_off(keep),
                };
                if let Err(e) = engine.store.learn(&engine.flow.name, at, &learned) {
                    return Err(self.state_failed(schema, e));
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
        let written = super::echo::Written {
            flow: &self.engine.flow.name,
            service: &connector.target_identity(),
            resource,
            id,
            sent,
        };
        super::echo::note_write(self.engine.store, &written, before, stored)
            .map_err(|e| self.state_failed(schema, e))
    }

    /// A service's failure for this record, or (authentication,
    /// configuration) for the whole run: then kept until the interpreter
    /// hands control back.
    fn connector_failed(
        &mut self,
        schema: &Schema,
        connector: &dyn Connector,
        e: ConnectorError,
    ) -> EvalError {
        let err = connector_failure(schema, connector, &e);
        if let Some(stop) = super::apply::fatal(&e) {
            self.fatal.get_or_insert(stop);
        }
        err
    }

    /// The state store failed: nothing more can be recorded safely.
    fn state_failed(&mut self, schema: &Schema, e: StateError) -> EvalError {
        let err = state_failure(schema, &e);
        self.fatal.get_or_insert(e.into());
        err
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

/// Whether a learned id may be used as it is: it was learned while signed
/// in to the company the connection reaches now.
fn same_company(learned: &Learned, connector: &dyn Connector) -> bool {
    match connector.company() {
        Ok(now) => learned.company == now,
        Err(_) => false,
    }
}

/// Whether `record` still holds the match value (a record found by a
/// learned id may have been changed by hand since).
fn holds(record: &Record, path: &[Arc<str>], value: &str) -> bool {
    record
        .get_path(path)
        .and_then(Value::to_text)
        .is_some_and(|v| v == value)
}

fn merged(current: &Record, changes: &Record) -> Record {
    let mut r = current.clone();
    for (k, v) in changes.iter() {
        r.insert(k.clone(), v.clone());
    }
    r
}
