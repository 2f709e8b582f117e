//! Checking reference lookups by natural key: `eaccounting.vatcodes[Code: "VH"]`
//! names the one record of a resource whose fields hold these values. The
//! checker knows the resource's fields, so a misspelt field, a value of the
//! wrong kind or a value that may be missing is found before any run.
//! `ccvshop.orders[* status: 2]` is every such record, a list.

use std::sync::Arc;

use super::expr::{preview, Typed};
use super::scope::Scope;
use super::Checker;
use crate::diag::{codes, Diagnostic};
use crate::program::{Expr as Ir, OnMiss};
use crate::source_map::Span;
use crate::syntax::ast::{Expr, ExprKind, Ident};
use crate::types::{Kind, Missing, Type};

impl Checker<'_> {
    pub(crate) fn check_find(
        &mut self,
        scope: &mut Scope,
        base: &Expr,
        conditions: &[(Ident, Expr)],
        span: Span,
        on_miss: OnMiss,
        all: bool,
    ) -> Typed {
        let schema = self.find_resource(scope, base);
        let record = schema.map(|i| self.program.schemas[i].record.clone());
        let mut irs: Vec<(Arc<str>, Ir)> = Vec::new();
        for (field, value) in conditions {
            let t = self.check_expr(scope, value);
            self.require_present(&t.ty, value.span, "used to look a record up", "?? \"…\"");
            if irs.iter().any(|(name, _)| *name == field.name) {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0005,
                        format!("`{}` is named twice in this lookup", field.name),
                    )
                    .at(field.span, "repeated here")
                    .help("a field can hold one value: remove one of the two conditions"),
                );
            }
            if let Some(rt) = &record {
                match rt.field(&field.name) {
                    Some(f) if !comparable(&f.ty.kind, &t.ty.kind) => {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0203,
                                format!(
                                    "{}.{} is {}, but it is looked up with {}",
                                    rt.display_name(),
                                    f.name,
                                    f.ty,
                                    t.ty
                                ),
                            )
                            .at(value.span, format!("{}", t.ty))
                            .also(field.span, format!("{}", f.ty))
                            .help(format!("look {} up with a value of its type", f.name)),
                        );
                    }
                    Some(_) => {}
                    None => self.diags.push(
                        Diagnostic::new(
                            &codes::E0101,
                            format!("{} has no field `{}`", rt.display_name(), field.name),
                        )
                        .at(field.span, "unknown field")
                        .help_typo(
                            &field.name,
                            rt.field_names(),
                            format!("its fields are: {}", preview(rt.field_names())),
                        ),
                    ),
                }
            }
            irs.push((field.name.clone(), t.ir));
        }
        let (Some(schema), Some(record)) = (schema, record) else {
            return Typed::error();
        };
        let mut ty = Type::of(Kind::Record(record));
        if all {
            // Every match, perhaps none: a list, never missing.
            ty = Type::list(ty);
        } else if on_miss == OnMiss::Absent {
            ty = ty.maybe(Missing::Other { span });
        }
        Typed::new(
            ty,
            Ir::Find {
                schema,
                conditions: irs,
                on_miss,
                all,
                span,
            },
        )
    }

    /// The resource schema a lookup's base names (`eaccounting.vatcodes`).
    fn find_resource(&mut self, scope: &mut Scope, base: &Expr) -> Option<usize> {
        let path: Vec<Ident> = match &base.kind {
            ExprKind::Var(name) if scope.find(&name.name).is_none() => vec![name.clone()],
            ExprKind::Field {
                base: inner,
                name,
                optional: false,
            } => match &inner.kind {
                ExprKind::Var(module) if scope.find(&module.name).is_none() => {
                    vec![module.clone(), name.clone()]
                }
                _ => vec![],
            },
            _ => vec![],
        };
        if path.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    &codes::E0106,
                    "`[Field: value]` looks a record up in a resource, but this is no resource",
                )
                .at(base.span, "not a resource")
                .help("name a resource schema, e.g. `eaccounting.vatcodes[Code: \"VH\"]`; index a list with `[n]`"),
            );
            return None;
        }
        let i = self.resolve_schema(scope.module, &path, base.span)?;
        if self.program.schemas[i].resource.is_none() {
            let name = self.program.schemas[i].name.clone();
            self.diags.push(
                Diagnostic::new(
                    &codes::E0106,
                    format!("schema `{name}` is a record type, not a resource"),
                )
                .at(base.span, "no `resource` in its declaration")
                .help("lookups read a service's records: declare the schema with `resource \"…\"` in a module with a connection"),
            );
            return None;
        }
        Some(i)
    }
}

/// Whether a field of kind `field` can be looked up by a value of kind `value`.
fn comparable(field: &Kind, value: &Kind) -> bool {
    let text = |k: &Kind| matches!(k, Kind::Str { .. } | Kind::Uuid | Kind::Enum(_));
    let number = |k: &Kind| matches!(k, Kind::Int | Kind::Decimal);
    let date = |k: &Kind| matches!(k, Kind::Date | Kind::DateTime);
    matches!(field, Kind::Any)
        || matches!(value, Kind::Any | Kind::Never | Kind::Null)
        || (text(field) && text(value))
        || (number(field) && number(value))
        || (date(field) && (date(value) || text(value)))
        || (matches!(field, Kind::Bool) && matches!(value, Kind::Bool))
}
