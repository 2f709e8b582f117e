//! Upserts on behalf of the interpreter: find the related record (a
//! customer by e-mail, an article by SKU), create or update it, and hand
//! its stored form back to the mapping. Each distinct record is resolved
//! once per run, and across runs an unchanged one costs no API call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::payload::{self, hash};
use super::Engine;
use crate::connectors::{Connector, ConnectorError, ErrorClass, ListQuery};
use crate::diag::codes;
use crate::eval::{EvalError, Payload, Resolver, UpsertRequest};
use crate::program::Schema;
use crate::types::validate;
use crate::value::{Record, Value};

/// A schema and a text: a related record by its match value, or an index by its field.
type Slot = (Arc<str>, String);
/// Match value → record.
type Index = Arc<HashMap<String, Record>>;
/// An index read at most once, however many workers ask at the same time.
type IndexCell = std::sync::OnceLock<Result<Index, ConnectorError>>;

/// Per-run state shared by all workers.
#[derive(Default)]
pub(super) struct Shared {
    /// (schema, match value) → (payload hash, stored record).
    resolved: Mutex<HashMap<Slot, (String, Record)>>,
    /// (schema, match field) → match value → record: read once per run, lazily
    /// (the cell makes concurrent first users wait for one read).
    indexes: Mutex<HashMap<Slot, Arc<IndexCell>>>,
    /// One lock per related record, so two orders of one new customer never both create it.
    locks: Mutex<HashMap<Slot, Arc<Mutex<()>>>>,
}

const XREF_SEPARATOR: char = '|';

/// The id a planned-but-not-created record stands in with (`flowc plan`).
pub(super) const PLANNED_ID: &str = "00000000-0000-0000-0000-000000000000";

pub(super) struct EngineResolver<'e, 'a> {
    engine: &'e Engine<'a>,
    source: String,
    writes: u64,
    /// Trust only what is known to be a related record's current state.
    strict: bool,
    /// A related record was taken to hold a payload written by an earlier
    /// run that may since have been overwritten (see [`Self::assumed`]).
    assumed: bool,
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
        }
    }

    /// Related records written while mapping this record.
    pub(super) fn finish(&self) -> u64 {
        self.writes
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
        let key_field = match &schema.key {
            Some(key) => key.clone(),
            None => Arc::from(self.connector_for(schema)?.spec().id_field),
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
        let connector = self.connector_for(schema)?;
        let resource = schema
            .resource
            .as_deref()
            .unwrap_or(&schema.name)
            .to_string();
        let existing = match earlier {
            // Resolved earlier in this run with other data: update that record.
            Some((_, stored)) => Some(stored),
            None => self.find(schema, &resource, &match_field, &match_text, &*connector)?,
        };
        let stored = match existing {
            Some(current) => {
                let changes = payload::diff(&current, &request.payload.update);
                let id = current
                    .get(&key_field)
                    .and_then(Value::to_text)
                    .unwrap_or_default();
                if changes.is_empty() {
                    current
                } else if engine.options.dry_run {
                    engine.plan_entry(
                        &self.source,
                        "update",
                        Some((&schema.name, Some(id))),
                        changes,
                        None,
                    );
                    merged(&current, &request.payload.update)
                } else {
                    self.writes += 1;
                    engine.wrote();
                    let v = connector
                        .update(&resource, &id, &request.payload.update, Some(&current))
                        .map_err(|e| connector_failure(schema, &*connector, &e))?;
                    v.as_record()
                        .cloned()
                        .unwrap_or_else(|| merged(&current, &request.payload.update))
                }
            }
            None => {
                if let Err(mut e) =
                    validate::validate(&request.payload.create, &schema.record, true)
                        .map_err(EvalError::from)
                {
                    e.message = format!("{}: {}", schema.name, e.message);
                    return Err(e);
                }
                if engine.options.dry_run {
                    let changes = payload::diff(&Record::new(), &request.payload.create);
                    engine.plan_entry(
                        &self.source,
                        "create",
                        Some((&schema.name, None)),
                        changes,
                        None,
                    );
                    // A stand-in id of the right shape, so the rest of the
                    // mapping checks as it will once the record exists.
                    let mut placeholder = request.payload.create.clone();
                    placeholder.insert(key_field.clone(), Value::str(PLANNED_ID));
                    placeholder
                } else {
                    self.writes += 1;
                    engine.wrote();
                    self.create(
                        schema,
                        &resource,
                        &match_field,
                        &request.match_value,
                        &request.payload,
                        &*connector,
                    )?
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
                let _ = engine.store.xref_put(&schema.name, &match_text, &value);
            }
        }
        remember(engine, &slot, &digest, &stored);
        Ok(Value::record(stored))
    }
}

impl EngineResolver<'_, '_> {
    fn connector_for(&self, schema: &Schema) -> Result<Arc<dyn Connector>, EvalError> {
        self.engine
            .connections
            .get(schema.connection)
            .cloned()
            .ok_or_else(|| {
                EvalError::new(
                    &codes::E0905,
                    format!("no connection is open for {}", schema.name),
                    None,
                )
            })
    }

    /// The related record with this match value, from a run-wide index
    /// (one paged read of the resource) so each lookup costs no call.
    fn find(
        &self,
        schema: &Schema,
        resource: &str,
        match_field: &str,
        match_text: &str,
        connector: &dyn crate::connectors::Connector,
    ) -> Result<Option<Record>, EvalError> {
        let index_key = (schema.name.clone(), match_field.to_string());
        let cell = self
            .engine
            .upserts
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(index_key)
            .or_default()
            .clone();
        let index = cell
            .get_or_init(|| {
                let mut map = HashMap::new();
                let path: Vec<Arc<str>> = match_field.split('.').map(Arc::from).collect();
                connector.list(resource, &ListQuery::default(), &mut |v| {
                    if let Some(r) = v.as_record() {
                        if let Some(k) = r.get_path(&path).and_then(Value::to_text) {
                            map.entry(k).or_insert_with(|| r.clone());
                        }
                    }
                    Ok(true)
                })?;
                Ok(Arc::new(map))
            })
            .clone()
            .map_err(|e| connector_failure(schema, connector, &e))?;
        if let Some(r) = index.get(match_text) {
            return Ok(Some(r.clone()));
        }
        // Records this run created are in `resolved`, checked before this;
        // one created by hand during the run is found by the next run.
        Ok(None)
    }

    /// Creates the related record; when the outcome is unknown, searches
    /// for it before trying again.
    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        schema: &Schema,
        resource: &str,
        match_field: &str,
        match_value: &Value,
        payload: &Payload,
        connector: &dyn crate::connectors::Connector,
    ) -> Result<Record, EvalError> {
        let mut attempt = 0;
        loop {
            match connector.create(resource, &payload.create) {
                Ok(v) => {
                    return Ok(v
                        .as_record()
                        .cloned()
                        .unwrap_or_else(|| payload.create.clone()))
                }
                Err(e) if (e.outcome_unknown || e.is_transient()) && attempt < 3 => {
                    attempt += 1;
                    if e.outcome_unknown {
                        let found = connector
                            .find(resource, match_field, match_value)
                            .map_err(|e| connector_failure(schema, connector, &e))?;
                        if let Some(r) = found
                            .into_iter()
                            .next()
                            .and_then(|v| v.as_record().cloned())
                        {
                            return Ok(r);
                        }
                    }
                    std::thread::sleep(
                        crate::connectors::http::RetryPolicy::default().backoff(attempt),
                    );
                }
                Err(e) => return Err(connector_failure(schema, connector, &e)),
            }
        }
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
