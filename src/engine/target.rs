//! Writing the flow's own target record: create, update, or nothing, decided
//! by the ledger; lost responses resolved by searching for the key.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::payload::{self, hash};
use super::{elapsed_ms, state_error, Engine};
use crate::connectors::{Connector, ConnectorError, ErrorClass, ListQuery};
use crate::eval::Mapped;
use crate::program::Endpoint;
use crate::state::{Decision, NewDeadLetter, RunId};
use crate::types::validate;
use crate::value::{json, Record, Value};

/// Run-wide: key value → target record id, read once from the target.
#[derive(Default)]
pub(super) struct Shared {
    index: Mutex<Option<Arc<HashMap<String, Record>>>>,
}

pub(super) fn write(
    engine: &Engine,
    run: Option<RunId>,
    source_key: &str,
    source: &Value,
    mapped: Mapped,
    started: Instant,
) -> Result<(), ConnectorError> {
    let Endpoint::Resource {
        schema: schema_name,
        connection,
    } = &engine.flow.target
    else {
        return Err(ConnectorError::new(
            ErrorClass::Config,
            "file targets are written by `flowc run` on files, not by the sync engine",
        ));
    };
    let schema = &engine.program.schemas[engine.flow.target_schema.unwrap_or_default()];
    let resource = schema
        .resource
        .as_deref()
        .unwrap_or(schema_name)
        .to_string();
    let Some(connector) = engine.connections.get(*connection).cloned() else {
        return Err(ConnectorError::new(
            ErrorClass::Config,
            format!("no connection is open for {schema_name}"),
        ));
    };
    let id_field = schema
        .key
        .clone()
        .unwrap_or_else(|| Arc::from(connector.spec().id_field));
    let Some((key_path, key_value)) = &mapped.key else {
        return Err(ConnectorError::new(
            ErrorClass::Config,
            format!(
                "flow `{}` has no `key`: without one, every run would create its records again",
                engine.flow.name
            ),
        ));
    };
    let key_field = key_path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
    let key_text = key_value.to_text().unwrap_or_default();
    let digest = hash(&mapped.payload);
    let flow = &*engine.flow.name;
    let fail = |letter: NewDeadLetter| engine.fail(run, source_key, letter, None, started);
    let letter = |class: &str, e: &ConnectorError| NewDeadLetter {
        source_key: source_key.to_string(),
        error_class: class.to_string(),
        error_code: e.code.clone(),
        http_status: e.status,
        message: format!("{}: {}", schema_name, e),
        api_error_body: e.body.clone(),
        payload: Some(redacted(engine, &mapped.payload.create)),
        source_record: engine
            .options
            .keep_payloads
            .then(|| json::to_string(source)),
    };

    let ledger = engine
        .store
        .ledger_get(flow, source_key)
        .map_err(state_error)?;
    if let Some(entry) = &ledger {
        if entry.payload_hash == digest {
            engine.counters.unchanged.fetch_add(1, Ordering::SeqCst);
            if engine.options.dry_run {
                engine.plan_entry(
                    source_key,
                    "unchanged",
                    Some((schema_name, Some(entry.target_id.clone()))),
                    vec![],
                    Some("written before with the same data".into()),
                );
            } else if let Some(run) = run {
                engine
                    .store
                    .record_skip(
                        run,
                        flow,
                        source_key,
                        Decision::Unchanged,
                        Some(&entry.target_id),
                        elapsed_ms(started),
                        None,
                    )
                    .map_err(state_error)?;
            }
            return Ok(());
        }
    }
    // Known target record (ledger), or one found by its key (written by an
    // earlier run whose state was lost, or by hand).
    let existing: Option<(String, Option<Record>)> = match &ledger {
        Some(entry) => Some((entry.target_id.clone(), None)),
        None => lookup(engine, &*connector, &resource, &key_field, &key_text)?.map(|r| {
            (
                r.get(&id_field)
                    .and_then(Value::to_text)
                    .unwrap_or_default(),
                Some(r),
            )
        }),
    };
    if let Some((id, current)) = existing {
        if let Err(e) = validate::validate(&mapped.payload.update, &schema.record, false) {
            return fail(mapping_letter(source_key, &e.into(), engine, &mapped));
        }
        let current = match current {
            Some(c) => Some(c),
            None if engine.options.dry_run => connector
                .get(&resource, &id)
                .ok()
                .flatten()
                .and_then(|v| v.as_record().cloned()),
            None => None,
        };
        let changes = current
            .as_ref()
            .map(|c| payload::diff(c, &mapped.payload.update));
        if changes.as_ref().is_some_and(Vec::is_empty) {
            engine.counters.unchanged.fetch_add(1, Ordering::SeqCst);
            if engine.options.dry_run {
                engine.plan_entry(
                    source_key,
                    "unchanged",
                    Some((schema_name, Some(id))),
                    vec![],
                    Some("the target already holds this data".into()),
                );
            } else if let Some(run) = run {
                engine
                    .store
                    .record_success(
                        run,
                        flow,
                        source_key,
                        Decision::Unchanged,
                        &id,
                        &digest,
                        elapsed_ms(started),
                        None,
                    )
                    .map_err(state_error)?;
            }
            return Ok(());
        }
        if engine.options.dry_run {
            engine.counters.updated.fetch_add(1, Ordering::SeqCst);
            let changes =
                changes.unwrap_or_else(|| payload::diff(&Record::new(), &mapped.payload.update));
            engine.plan_entry(
                source_key,
                "update",
                Some((schema_name, Some(id))),
                changes,
                None,
            );
            return Ok(());
        }
        engine.wrote();
        return match connector.update(&resource, &id, &mapped.payload.update, current.as_ref()) {
            Ok(_) => {
                engine.counters.updated.fetch_add(1, Ordering::SeqCst);
                if let Some(run) = run {
                    engine
                        .store
                        .record_success(
                            run,
                            flow,
                            source_key,
                            Decision::Update,
                            &id,
                            &digest,
                            elapsed_ms(started),
                            None,
                        )
                        .map_err(state_error)?;
                }
                Ok(())
            }
            Err(e) if e.class == ErrorClass::NotFound => {
                let mut l = letter("not_found", &e);
                l.message = format!("{schema_name} {id} no longer exists (deleted, or converted in {}); flowc does not create it again. `flowc state reset --flow {flow}` forgets what was written", connector.kind());
                fail(l)
            }
            Err(e) => fail(letter(
                if e.class == ErrorClass::Validation {
                    "validation"
                } else {
                    "http"
                },
                &e,
            )),
        };
    }
    // A new record.
    if let Err(e) = validate::validate(&mapped.payload.create, &schema.record, true) {
        return fail(mapping_letter(source_key, &e.into(), engine, &mapped));
    }
    if engine.options.dry_run {
        engine.counters.created.fetch_add(1, Ordering::SeqCst);
        engine.plan_entry(
            source_key,
            "create",
            Some((schema_name, None)),
            payload::diff(&Record::new(), &mapped.payload.create),
            None,
        );
        return Ok(());
    }
    // Created (or found created after a lost response): count and record it.
    let created = |id: &str| -> Result<(), ConnectorError> {
        engine.counters.created.fetch_add(1, Ordering::SeqCst);
        if let Some(run) = run {
            let ms = elapsed_ms(started);
            engine
                .store
                .record_success(
                    run,
                    flow,
                    source_key,
                    Decision::Create,
                    id,
                    &digest,
                    ms,
                    None,
                )
                .map_err(state_error)?;
        }
        Ok(())
    };
    let mut attempt = 0;
    loop {
        engine.wrote();
        match connector.create(&resource, &mapped.payload.create) {
            Ok(stored) => {
                let id = stored
                    .as_record()
                    .and_then(|r| r.get(&id_field))
                    .and_then(Value::to_text)
                    .unwrap_or_default();
                return created(&id);
            }
            Err(e) if (e.outcome_unknown || e.is_transient()) && attempt < 4 => {
                attempt += 1;
                if e.outcome_unknown {
                    // The write may have happened: look before writing again.
                    if let Some(found) = find_by_key(&*connector, &resource, &key_field, key_value)?
                    {
                        let id = found
                            .get(&id_field)
                            .and_then(Value::to_text)
                            .unwrap_or_default();
                        return created(&id);
                    }
                }
                std::thread::sleep(
                    crate::connectors::http::RetryPolicy::default().backoff(attempt),
                );
            }
            Err(e) => {
                return fail(letter(
                    if e.class == ErrorClass::Validation {
                        "validation"
                    } else {
                        "http"
                    },
                    &e,
                ))
            }
        }
    }
}

/// Whether the ledger holds this record as written with exactly this payload.
pub(super) fn unchanged(
    engine: &Engine,
    source_key: &str,
    mapped: &Mapped,
) -> Result<bool, ConnectorError> {
    let ledger = engine
        .store
        .ledger_get(&engine.flow.name, source_key)
        .map_err(state_error)?;
    Ok(ledger.is_some_and(|entry| entry.payload_hash == hash(&mapped.payload)))
}

/// The target record holding this key, from a run-wide index read once.
fn lookup(
    engine: &Engine,
    connector: &dyn Connector,
    resource: &str,
    key_field: &str,
    key: &str,
) -> Result<Option<Record>, ConnectorError> {
    let mut guard = engine
        .target
        .index
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let path: Vec<Arc<str>> = key_field.split('.').map(Arc::from).collect();
        let mut map = HashMap::new();
        connector.list(resource, &ListQuery::default(), &mut |v| {
            if let Some(r) = v.as_record() {
                if let Some(k) = r.get_path(&path).and_then(Value::to_text) {
                    map.entry(k).or_insert_with(|| r.clone());
                }
            }
            Ok(true)
        })?;
        *guard = Some(Arc::new(map));
    }
    Ok(guard.as_ref().and_then(|m| m.get(key).cloned()))
}

fn find_by_key(
    connector: &dyn Connector,
    resource: &str,
    key_field: &str,
    key: &Value,
) -> Result<Option<Record>, ConnectorError> {
    let found = connector.find(resource, key_field, key)?;
    Ok(found
        .into_iter()
        .next()
        .and_then(|v| v.as_record().cloned()))
}

fn redacted(engine: &Engine, payload: &Record) -> String {
    let v = Value::record(payload.clone());
    json::to_string(&if engine.options.keep_payloads {
        v
    } else {
        payload::redact(&v)
    })
}

fn mapping_letter(
    source_key: &str,
    e: &crate::eval::EvalError,
    engine: &Engine,
    mapped: &Mapped,
) -> NewDeadLetter {
    NewDeadLetter {
        source_key: source_key.to_string(),
        error_class: "validation".into(),
        error_code: Some(e.code.id.to_string()),
        http_status: None,
        message: e.to_diagnostic(source_key).message,
        api_error_body: None,
        payload: Some(redacted(engine, &mapped.payload.create)),
        source_record: None,
    }
}
