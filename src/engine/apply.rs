//! The apply sink: carries out a decision — writes through the target's
//! connector and records the outcome in the ledger — or, for a plan, only
//! notes it. Lost responses are resolved by searching for the key.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::decide::{self, Decided, Target};
use super::payload::{self, hash};
use super::{elapsed_ms, Engine, EngineError, RecordCtx};
use crate::connectors::{Connector, ConnectorError, ErrorClass};
use crate::eval::Mapped;
use crate::program::Endpoint;
use crate::state::{Decision, NewDeadLetter, Success};
use crate::value::{json, Record, Value};

type Result<T> = std::result::Result<T, EngineError>;

/// Attempts at a create whose outcome was unknown or transient.
const CREATE_ATTEMPTS: u32 = 4;

impl Engine<'_> {
    /// Decides and carries out what the flow's own target record needs.
    pub(super) fn write_target(&self, ctx: &RecordCtx, mapped: Mapped) -> Result<()> {
        let target = self.target(&mapped)?;
        let schema_name = match &self.flow.target {
            Endpoint::Resource { schema, .. } => schema.to_string(),
            Endpoint::File { .. } => self.target_name(),
        };
        let digest = hash(&mapped.payload);
        let flow = &*self.flow.name;
        match decide::target(self, &target, ctx.key, &mapped)? {
            Decided::Invalid(v) => {
                ctx.failed.set(true);
                let e = crate::eval::EvalError::from(v);
                let diag = e.to_diagnostic(&self.record_name(ctx));
                let letter = NewDeadLetter {
                    source_key: ctx.key.to_string(),
                    error_class: "validation".into(),
                    error_code: Some(e.code.id.to_string()),
                    message: diag.message.clone(),
                    payload: Some(self.redacted(&mapped.payload.create)),
                    ..NewDeadLetter::default()
                };
                self.fail(ctx.run, ctx.position, ctx.key, letter, diag, ctx.started)
            }
            Decided::Collision(reason) => self.skipped(ctx, Some(&reason)),
            Decided::Unchanged { id, reason, learn } => {
                self.counters.unchanged.fetch_add(1, Ordering::Relaxed);
                self.decision(
                    ctx.key,
                    "unchanged",
                    Some((&schema_name, Some(id.clone()))),
                    vec![],
                    Some(reason),
                    Some(mapped.payload.update.clone()),
                    false,
                );
                let Some(run) = ctx.run else { return Ok(()) };
                let ms = elapsed_ms(ctx.started);
                if learn {
                    self.store.record_success(&Success {
                        run,
                        flow,
                        source_key: ctx.key,
                        decision: Decision::Unchanged,
                        target_id: &id,
                        payload_hash: &digest,
                        duration_ms: ms,
                        cursor: None,
                    })?;
                } else {
                    self.store.record_skip(
                        run,
                        flow,
                        ctx.key,
                        Decision::Unchanged,
                        Some(&id),
                        ms,
                        None,
                    )?;
                }
                Ok(())
            }
            Decided::Update {
                id,
                current,
                changes,
            } => {
                self.decision(
                    ctx.key,
                    "update",
                    Some((&schema_name, Some(id.clone()))),
                    changes,
                    None,
                    Some(mapped.payload.update.clone()),
                    false,
                );
                if self.options.dry_run {
                    self.counters.updated.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                self.wrote();
                match target.connector.update(
                    &target.resource,
                    &id,
                    &mapped.payload.update,
                    current.as_ref(),
                ) {
                    Ok(stored) => {
                        self.counters.updated.fetch_add(1, Ordering::Relaxed);
                        let write = Write {
                            decision: Decision::Update,
                            id: &id,
                            before: current.as_ref(),
                            sent: &mapped.payload.update,
                            stored: &stored,
                        };
                        self.written(ctx, &target, &digest, write)
                    }
                    Err(e) if e.class == ErrorClass::NotFound => {
                        let mut l = self.write_letter(ctx, &schema_name, &mapped, &e);
                        l.error_class = "not_found".into();
                        l.message = format!(
                            "{schema_name} {id} no longer exists (deleted, or converted in {}); flowc does not create it again. `flowc state reset --flow {flow}` forgets what was written",
                            target.connector.kind()
                        );
                        self.write_failed(ctx, l)
                    }
                    Err(e) => {
                        self.fatal_or(&e)?;
                        let l = self.write_letter(ctx, &schema_name, &mapped, &e);
                        self.write_failed(ctx, l)
                    }
                }
            }
            Decided::Create => {
                self.decision(
                    ctx.key,
                    "create",
                    Some((&schema_name, None)),
                    payload::diff(&Record::new(), &mapped.payload.create),
                    None,
                    Some(mapped.payload.create.clone()),
                    false,
                );
                if self.options.dry_run {
                    self.counters.created.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let created = create(
                    self,
                    &*target.connector,
                    &target.resource,
                    &mapped.payload.create,
                    (&target.key_field, &target.key_value),
                );
                match created {
                    Ok(stored) => {
                        self.counters.created.fetch_add(1, Ordering::Relaxed);
                        let id = target.id_of(&stored);
                        let write = Write {
                            decision: Decision::Create,
                            id: &id,
                            before: None,
                            sent: &mapped.payload.create,
                            stored: &Value::record(stored),
                        };
                        self.written(ctx, &target, &digest, write)
                    }
                    Err(e) => {
                        self.fatal_or(&e)?;
                        let l = self.write_letter(ctx, &schema_name, &mapped, &e);
                        self.write_failed(ctx, l)
                    }
                }
            }
        }
    }

    /// The flow's target: its connector, resource, id field and key.
    fn target(&self, mapped: &Mapped) -> Result<Target<'_>> {
        let Some(connector) = self.connections.endpoint(&self.flow.target).cloned() else {
            return Err(super::no_connection(&self.flow.target).into());
        };
        let schema = self
            .flow
            .target_schema
            .map(|i| &self.program.schemas[i])
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorClass::Config,
                    format!("flow `{}` has no typed target", self.flow.name),
                )
            })?;
        let Some((key_path, key_value)) = &mapped.key else {
            return Err(ConnectorError::new(
                ErrorClass::Config,
                format!(
                    "flow `{}` has no `key`: without one, every run would create its records again",
                    self.flow.name
                ),
            )
            .into());
        };
        let Some(id_field) = schema
            .key
            .clone()
            .or_else(|| connector.spec().id_field.map(Arc::from))
        else {
            return Err(no_id(&schema.name, connector.kind()).into());
        };
        Ok(Target {
            resource: super::resource_of(self.program, &self.flow.target),
            id_field,
            schema,
            connector,
            key_field: key_path.iter().map(|s| &**s).collect::<Vec<_>>().join("."),
            key_value: key_value.clone(),
        })
    }

    /// Records a write of the flow's target that succeeded: the ledger (and
    /// activity) in one transaction, then what it stored (see `echo`).
    fn written(&self, ctx: &RecordCtx, target: &Target, digest: &str, w: Write) -> Result<()> {
        if let Some(run) = ctx.run {
            self.store.record_success(&Success {
                run,
                flow: &self.flow.name,
                source_key: ctx.key,
                decision: w.decision,
                target_id: w.id,
                payload_hash: digest,
                duration_ms: elapsed_ms(ctx.started),
                cursor: None,
            })?;
        }
        self.note_write(
            &*target.connector,
            &target.resource,
            w.id,
            w.before,
            w.sent,
            w.stored,
        )
    }

    /// Remembers what a write stored (see `echo`), so that a flow reading
    /// the record back knows it for flowc's own.
    pub(super) fn note_write(
        &self,
        connector: &dyn Connector,
        resource: &str,
        id: &str,
        before: Option<&Record>,
        sent: &Record,
        stored: &Value,
    ) -> Result<()> {
        let Some(after) = stored.as_record() else {
            return Ok(());
        };
        super::echo::note_write(
            self.store,
            connector.kind(),
            resource,
            id,
            before,
            sent,
            after,
        )?;
        Ok(())
    }

    /// Authentication and configuration failures concern every record: the
    /// run stops at once instead of dead-lettering them one by one.
    fn fatal_or(&self, e: &ConnectorError) -> Result<()> {
        match e.class {
            ErrorClass::Auth | ErrorClass::Config => Err(EngineError::Connector(e.clone())),
            _ => Ok(()),
        }
    }

    fn write_letter(
        &self,
        ctx: &RecordCtx,
        schema_name: &str,
        mapped: &Mapped,
        e: &ConnectorError,
    ) -> NewDeadLetter {
        NewDeadLetter {
            source_key: ctx.key.to_string(),
            error_class: if e.class == ErrorClass::Validation {
                "validation".into()
            } else {
                "http".into()
            },
            error_code: e.code.clone(),
            http_status: e.status,
            message: format!("{schema_name}: {e}"),
            api_error_body: e.body.clone(),
            payload: Some(self.redacted(&mapped.payload.create)),
            source_record: self
                .options
                .keep_payloads
                .then(|| json::to_string(ctx.record)),
        }
    }

    fn write_failed(&self, ctx: &RecordCtx, letter: NewDeadLetter) -> Result<()> {
        ctx.failed.set(true);
        let code = crate::diag::codes::ALL
            .iter()
            .find(|c| Some(c.id) == letter.error_code.as_deref())
            .copied()
            .unwrap_or(&crate::diag::codes::E0908);
        let diag = crate::diag::Diagnostic::new(
            code,
            format!("record {}: {}", self.record_name(ctx), letter.summary()),
        );
        self.fail(ctx.run, ctx.position, ctx.key, letter, diag, ctx.started)
    }

    pub(super) fn redacted(&self, payload: &Record) -> String {
        let v = Value::record(payload.clone());
        json::to_string(&if self.options.keep_payloads {
            v
        } else {
            payload::redact(&v)
        })
    }
}

/// Creates a record. When the outcome is unknown (the write may have
/// happened), searches by `find` (field, value) before writing again.
pub(super) fn create(
    engine: &Engine,
    connector: &dyn Connector,
    resource: &str,
    record: &Record,
    find: (&str, &Value),
) -> std::result::Result<Record, ConnectorError> {
    let mut attempt = 0;
    loop {
        engine.wrote();
        match connector.create(resource, record) {
            Ok(v) => return Ok(v.as_record().cloned().unwrap_or_else(|| record.clone())),
            Err(e) if (e.outcome_unknown || e.is_transient()) && attempt + 1 < CREATE_ATTEMPTS => {
                attempt += 1;
                if e.outcome_unknown {
                    let found = connector.find(resource, find.0, find.1)?;
                    if let Some(r) = found.into_iter().find_map(|v| v.as_record().cloned()) {
                        return Ok(r);
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

/// A write that succeeded: the record `id` was `before` (`None`: created),
/// `sent` was written, and the service answered `stored`.
struct Write<'w> {
    decision: Decision,
    id: &'w str,
    before: Option<&'w Record>,
    sent: &'w Record,
    stored: &'w Value,
}

/// A schema without `key` whose connector's records carry no id either.
pub(super) fn no_id(schema: &str, connector: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorClass::Config,
        format!("{schema} has no `key`, and records of connector \"{connector}\" have no id to find them by"),
    )
}
