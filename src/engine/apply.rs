//! The apply sink: carries out a decision — writes through the target's
//! connector and records the outcome in the ledger — or, for a plan, only
//! notes it. Lost responses are resolved by searching for the key.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::create::{create_once, Created, Creation};
use super::decide::{self, Decided, Target};
use super::payload::{self, hash};
use super::{elapsed_ms, Engine, EngineError, RecordCtx};
use crate::connectors::{Connector, ConnectorError, ErrorClass};
use crate::eval::Mapped;
use crate::program::Endpoint;
use crate::state::{Decision, NewDeadLetter, Success};
use crate::value::{json, Record, Value};

type Result<T> = std::result::Result<T, EngineError>;

/// One target record being written: what every step of it needs.
struct Write<'w> {
    ctx: &'w RecordCtx<'w>,
    target: &'w Target<'w>,
    schema_name: &'w str,
    mapped: &'w Mapped,
    digest: &'w str,
}

impl Engine<'_> {
    /// Decides and carries out what the flow's own target record needs.
    pub(super) fn write_target(&self, ctx: &RecordCtx, mut mapped: Mapped) -> Result<()> {
        let target = self.target(&mapped)?;
        if target.updates_only() {
            // The id names the record in the path; it is not written.
            mapped.payload.update.remove(&target.key_field);
            mapped.payload.create.remove(&target.key_field);
        }
        let schema_name = match &self.flow.target {
            Endpoint::Resource { schema, .. } => schema.to_string(),
            Endpoint::File { .. } => self.target_name(),
        };
        let digest = hash(&mapped.payload);
        let w = Write {
            ctx,
            target: &target,
            schema_name: &schema_name,
            mapped: &mapped,
            digest: &digest,
        };
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
            Decided::Unchanged { id, reason, learn } => self.unchanged(&w, &id, reason, learn),
            Decided::Update {
                id,
                current,
                changes,
            } => self.update(&w, id, current, changes),
            Decided::Create => self.create(&w),
        }
    }

    fn unchanged(&self, w: &Write, id: &str, reason: &'static str, learn: bool) -> Result<()> {
        let ctx = w.ctx;
        self.counters.unchanged.fetch_add(1, Ordering::Relaxed);
        self.decision(
            ctx.key,
            "unchanged",
            Some((w.schema_name, Some(id.to_string()))),
            vec![],
            Some(reason),
            Some(w.mapped.payload.update.clone()),
            false,
        );
        let Some(run) = ctx.run else { return Ok(()) };
        let ms = elapsed_ms(ctx.started);
        let flow = &*self.flow.name;
        if learn {
            self.store.record_success(&Success {
                run,
                flow,
                source_key: ctx.key,
                decision: Decision::Unchanged,
                target_id: id,
                payload_hash: w.digest,
                duration_ms: ms,
                cursor: None,
            })?;
        } else {
            self.store
                .record_skip(run, flow, ctx.key, Decision::Unchanged, Some(id), ms, None)?;
        }
        Ok(())
    }

    fn update(
        &self,
        w: &Write,
        id: String,
        current: Option<Record>,
        changes: Vec<payload::Change>,
    ) -> Result<()> {
        let ctx = w.ctx;
        let update = &w.mapped.payload.update;
        self.decision(
            ctx.key,
            "update",
            Some((w.schema_name, Some(id.clone()))),
            changes,
            None,
            Some(update.clone()),
            false,
        );
        if self.options.dry_run {
            self.counters.updated.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.wrote();
        match w
            .target
            .connector
            .update(&w.target.resource, &id, update, current.as_ref())
        {
            Ok(stored) => {
                self.counters.updated.fetch_add(1, Ordering::Relaxed);
                if let Some(run) = ctx.run {
                    self.store.record_success(&Success {
                        run,
                        flow: &self.flow.name,
                        source_key: ctx.key,
                        decision: Decision::Update,
                        target_id: &id,
                        payload_hash: w.digest,
                        duration_ms: elapsed_ms(ctx.started),
                        cursor: None,
                    })?;
                }
                self.note_write(
                    &*w.target.connector,
                    &w.target.resource,
                    &id,
                    current.as_ref(),
                    update,
                    &stored,
                )
            }
            Err(e) if e.class == ErrorClass::NotFound => {
                let mut l = self.write_letter(w, &e);
                l.error_class = "not_found".into();
                l.message = format!(
                    "{} {id} no longer exists (deleted, or converted in {}); flowc does not create it again. `flowc state reset --flow {}` forgets what was written",
                    w.schema_name,
                    w.target.connector.kind(),
                    self.flow.name
                );
                self.write_failed(ctx, l)
            }
            Err(e) => {
                self.fatal_or(&e)?;
                let l = self.write_letter(w, &e);
                self.write_failed(ctx, l)
            }
        }
    }

    fn create(&self, w: &Write) -> Result<()> {
        let ctx = w.ctx;
        let create = &w.mapped.payload.create;
        self.decision(
            ctx.key,
            "create",
            Some((w.schema_name, None)),
            payload::diff(&Record::new(), create),
            None,
            Some(create.clone()),
            false,
        );
        if self.options.dry_run {
            self.counters.created.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let created = create_once(
            self,
            &Creation {
                connector: &*w.target.connector,
                resource: &w.target.resource,
                record: create,
                find: (&w.target.key_field, &w.target.key_value),
                source_key: ctx.key,
                payload: None,
                id_field: &w.target.id_field,
            },
        )?;
        match created {
            Ok(Created::New(stored)) => {
                self.counters.created.fetch_add(1, Ordering::Relaxed);
                let id = w.target.id_of(&stored);
                if let Some(run) = ctx.run {
                    self.store.record_success(&Success {
                        run,
                        flow: &self.flow.name,
                        source_key: ctx.key,
                        decision: Decision::Create,
                        target_id: &id,
                        payload_hash: w.digest,
                        duration_ms: elapsed_ms(ctx.started),
                        cursor: None,
                    })?;
                }
                let stored = Value::record(stored);
                self.note_write(
                    &*w.target.connector,
                    &w.target.resource,
                    &id,
                    None,
                    create,
                    &stored,
                )
            }
            // Another run created it (or an earlier create whose answer was
            // lost did): bring it to this record's data.
            Ok(Created::Exists(current)) => {
                let id = w.target.id_of(&current);
                match decide::update_or_unchanged(id, Some(current), &w.mapped.payload.update) {
                    Decided::Update {
                        id,
                        current,
                        changes,
                    } => self.update(w, id, current, changes),
                    Decided::Unchanged { id, reason, learn } => {
                        self.unchanged(w, &id, reason, learn)
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => {
                self.fatal_or(&e)?;
                let l = self.write_letter(w, &e);
                self.write_failed(ctx, l)
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
        let written = super::echo::Written {
            flow: &self.flow.name,
            service: &connector.target_identity(),
            resource,
            id,
            sent,
        };
        super::echo::note_write(self.store, &written, before, after)?;
        Ok(())
    }

    /// Stops the run on a failure that concerns every record ([`fatal`]).
    fn fatal_or(&self, e: &ConnectorError) -> Result<()> {
        match fatal(e) {
            Some(stop) => Err(stop),
            None => Ok(()),
        }
    }

    fn write_letter(&self, w: &Write, e: &ConnectorError) -> NewDeadLetter {
        NewDeadLetter {
            source_key: w.ctx.key.to_string(),
            error_class: error_class(e).into(),
            error_code: e.code.clone(),
            http_status: e.status,
            message: format!("{}: {e}", w.schema_name),
            api_error_body: e.body.clone(),
            payload: Some(self.redacted(&w.mapped.payload.create)),
            source_record: self
                .options
                .keep_payloads
                .then(|| json::to_string(w.ctx.record)),
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

/// Authentication and configuration failures concern every record: they
/// stop the run (leaving the cursor and the dead letters as they were)
/// instead of failing records one by one.
pub(super) fn fatal(e: &ConnectorError) -> Option<EngineError> {
    matches!(e.class, ErrorClass::Auth | ErrorClass::Config)
        .then(|| EngineError::Connector(e.clone()))
}

/// How a dead letter classes a connector's error: `uncertain` (a create
/// that may have happened; `flowc dlq list` shows these apart),
/// `validation` or `http`.
pub(super) fn error_class(e: &ConnectorError) -> &'static str {
    if e.outcome_unknown {
        "uncertain"
    } else if e.class == ErrorClass::Validation {
        "validation"
    } else {
        "http"
    }
}

/// A schema without `key` whose connector's records carry no id either.
pub(super) fn no_id(schema: &str, connector: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorClass::Config,
        format!("{schema} has no `key`, and records of connector \"{connector}\" have no id to find them by"),
    )
}
