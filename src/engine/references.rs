//! Lookups by natural key (`eaccounting.vatcodes[Code: "VH"]`) for the
//! interpreter: each resource is read once per run, whoever asks first, and
//! shared by every worker. Before the first record is read, every lookup
//! whose values are known (constants, settings, table values) is resolved;
//! when any names nothing, or several things, the run stops with one
//! diagnostic that lists them all with the values that do exist, and
//! nothing is written.

use std::sync::Arc;

use super::{Engine, EngineError};
use crate::diag::{codes, Diagnostic};
use crate::eval::find::{describe_existing, describe_wanted, find, Found};
use crate::eval::{EvalError, References};
use crate::program::Schema;
use crate::value::Value;

impl References for Engine<'_> {
    fn records(&self, schema: &Schema) -> Result<Arc<Vec<Value>>, EvalError> {
        self.reference_records(schema, &[])
            .map_err(|e| unreadable(schema, &e))
    }

    fn records_where(
        &self,
        schema: &Schema,
        wanted: &[(Arc<str>, Value)],
    ) -> Result<Arc<Vec<Value>>, EvalError> {
        self.reference_records(schema, wanted)
            .map_err(|e| unreadable(schema, &e))
    }
}

fn unreadable(schema: &Schema, e: &EngineError) -> EvalError {
    EvalError::new(
        &codes::E0905,
        format!(
            "{} could not be read; {}{e}",
            schema.name,
            super::resolver::CONNECTOR_PREFIX
        ),
        None,
    )
}

impl Engine<'_> {
    /// The records of `schema`'s resource, read once per run; with `wanted`
    /// values, those the service returns for `field == value` filters (one
    /// read per distinct set of values).
    fn reference_records(
        &self,
        schema: &Schema,
        wanted: &[(Arc<str>, Value)],
    ) -> Result<Arc<Vec<Value>>, EngineError> {
        let connector = self
            .connections
            .get(schema.connection)
            .ok_or_else(|| {
                crate::connectors::ConnectorError::new(
                    crate::connectors::ErrorClass::Config,
                    format!("no connection is open for {}", schema.name),
                )
            })?
            .clone();
        let resource = schema.resource.as_deref().unwrap_or(&schema.name);
        Ok(self.indexes.records(&*connector, resource, wanted)?)
    }

    /// Every reference the flow can reach whose values are known before the
    /// run and that names nothing, or several things, in the service: what
    /// `flowc run` stops on and `flowc doctor` reports.
    pub fn unresolved_references(&self) -> Result<Vec<Unresolved>, EngineError> {
        let lookups = self.program.lookups(self.flow);
        self.unresolved(&lookups.references)
    }

    /// The lookups only partly known before a run (see
    /// [`crate::program::Lookups::partial`]) that no record can match, as
    /// far as their known conditions tell: what `flowc doctor` adds.
    pub fn unmatchable_lookups(&self) -> Result<Vec<Unresolved>, EngineError> {
        let lookups = self.program.lookups(self.flow);
        let found = self.unresolved(&lookups.partial)?;
        // Several records matching a part of a lookup is expected.
        Ok(found.into_iter().filter(|u| !u.several).collect())
    }

    fn unresolved(
        &self,
        references: &[crate::program::Reference],
    ) -> Result<Vec<Unresolved>, EngineError> {
        let mut out = Vec::new();
        let runtime = crate::eval::Runtime::new(self.program);
        let frame = self.program.largest_frame();
        for reference in references {
            let needed = reference.guards.iter().all(|(cond, holds)| {
                // A guard that cannot be computed keeps the reference checked.
                !matches!(runtime.eval_standalone(cond, frame), Ok(Value::Bool(b)) if b != *holds)
            });
            if !needed {
                continue;
            }
            let schema = &self.program.schemas[reference.schema];
            let records = self.reference_records(schema, &[])?;
            let what = describe_wanted(&reference.wanted);
            let (problem, several) = match find(&records, &reference.wanted) {
                Found::One(_) => continue,
                Found::None => (format!("{} has no record{what}", schema.name), false),
                Found::Many(hits) => (
                    format!(
                        "{} has {} records{what}; add a condition that tells them apart",
                        schema.name,
                        hits.len()
                    ),
                    true,
                ),
            };
            let fields: Vec<Arc<str>> = reference.wanted.iter().map(|(f, _)| f.clone()).collect();
            let existing = format!(
                "{} by {}: {}",
                schema.name,
                fields.iter().map(|f| &**f).collect::<Vec<_>>().join(", "),
                describe_existing(&records, &fields)
            );
            out.push(Unresolved {
                problem,
                several,
                span: Some(reference.span),
                origins: reference.origins.clone(),
                existing,
            });
        }
        Ok(out)
    }

    /// Resolves every reference the flow can reach, or says which cannot be.
    pub(super) fn resolve_references(&self) -> Result<(), EngineError> {
        let problems = self.unresolved_references()?;
        if problems.is_empty() {
            return Ok(());
        }
        let mut d = Diagnostic::new(
            &codes::E0910,
            format!(
                "flow {}: {} setting{} name{} nothing in the target service, so nothing was written:\n{}",
                self.flow.name,
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                if problems.len() == 1 { "s" } else { "" },
                problems
                    .iter()
                    .map(|p| format!("  - {}", p.problem))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        );
        for (i, p) in problems.iter().enumerate() {
            if let Some(span) = p.span {
                d = if i == 0 {
                    d.at(span, "names nothing")
                } else {
                    d.also(span, "names nothing")
                };
            }
        }
        Err(EngineError::Unresolved(Box::new(
            d.help(existing_help(&problems)),
        )))
    }
}

/// One reference that names nothing, or several things, in the service.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    /// `eaccounting.units has no record with Code "stk"`.
    pub problem: String,
    /// Several records match, rather than none.
    pub several: bool,
    /// The lookup in the program.
    pub span: Option<crate::source_map::Span>,
    /// Where the values it looks up are set (`let`s, tables of settings).
    pub origins: Vec<crate::source_map::Span>,
    /// What the resource holds by the fields looked up, for the fix.
    pub existing: String,
}

/// The fix for unresolved references: what the company does hold.
pub fn existing_help(problems: &[Unresolved]) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for p in problems {
        if !lines.contains(&p.existing.as_str()) {
            lines.push(&p.existing);
        }
    }
    format!(
        "use names that exist in this company (settings.flow); what there is:\n{}",
        lines
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}
