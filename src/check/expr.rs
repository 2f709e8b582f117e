//! Checking expressions: each yields its static type and its IR.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::scope::Scope;
use super::{Checker, Decl};
use crate::diag::{codes, did_you_mean, Diagnostic};
use crate::functions::{self, Arg, ParamKind};
use crate::program::{Expr as Ir, OnMiss};
use crate::source_map::Span;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, Ident, StrPart, UnaryOp};
use crate::types::{assignable, Kind, Mismatch, Missing, RecordType, Type};
use crate::value::Value;

/// A checked expression.
pub(crate) struct Typed {
    pub ty: Type,
    pub ir: Ir,
    /// Set for literals, so functions like `truncate(x, 50)` can use the value.
    pub constant: Option<Value>,
}

impl Typed {
    pub(crate) fn new(ty: Type, ir: Ir) -> Self {
        Typed {
            ty,
            ir,
            constant: None,
        }
    }
    fn constant(ty: Type, v: Value) -> Self {
        Typed {
            ty,
            ir: Ir::Const(v.clone()),
            constant: Some(v),
        }
    }
    /// After an error: keeps checking the rest without cascading complaints.
    pub(crate) fn error() -> Self {
        Typed::new(Type::ANY, Ir::Const(Value::Null))
    }
}

impl Checker<'_> {
    pub(crate) fn check_expr(&mut self, scope: &mut Scope, e: &Expr) -> Typed {
        // Nesting is bounded by the parser (E0007); a deep tree gets more
        // stack instead of overflowing the thread's.
        stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || self.check_node(scope, e))
    }

    fn check_node(&mut self, scope: &mut Scope, e: &Expr) -> Typed {
        match &e.kind {
            ExprKind::Null => Typed::constant(
                Type::of(Kind::Null).maybe(Missing::Other { span: e.span }),
                Value::Null,
            ),
            ExprKind::Bool(b) => Typed::constant(Type::BOOL, Value::Bool(*b)),
            ExprKind::Number(d) => {
                let ty = if d.scale() == 0 {
                    Type::INT
                } else {
                    Type::DECIMAL
                };
                Typed::constant(ty, Value::Num(*d))
            }
            ExprKind::String(parts) => self.check_string(scope, parts, e.span),
            // The parser refused literals that are no date, so `None` only
            // follows an error already reported.
            ExprKind::Date(text) => match crate::value::parse::parse_date(text) {
                Some(d) => Typed::constant(Type::DATE, Value::Date(d)),
                None => Typed::error(),
            },
            ExprKind::DateTime(text) => match crate::syntax::datetime_literal(text) {
                Some(dt) => Typed::constant(Type::DATETIME, Value::DateTime(dt)),
                None => Typed::error(),
            },
            ExprKind::Var(name) => self.check_var(scope, name),
            ExprKind::Field {
                base,
                name,
                optional,
            } => self.check_field(scope, base, name, *optional, e.span),
            ExprKind::Index { base, index } => {
                self.check_index(scope, base, index, e.span, OnMiss::Fail)
            }
            ExprKind::Find {
                base,
                conditions,
                all,
            } => self.check_find(scope, base, conditions, e.span, OnMiss::Fail, *all),
            ExprKind::Call { name, args } => {
                let args: Vec<&Expr> = args.iter().collect();
                self.check_call(scope, name, &args, e.span)
            }
            ExprKind::Pipe { value, name, args } => {
                let mut all: Vec<&Expr> = vec![value];
                all.extend(args.iter());
                self.check_call(scope, name, &all, e.span)
            }
            ExprKind::Unary { op, operand } => self.check_unary(scope, *op, operand, e.span),
            ExprKind::Binary { op, lhs, rhs } => self.check_binary(scope, *op, lhs, rhs, e.span),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.check_expr(scope, cond);
                self.require_bool(&c, cond.span, "an `if` condition");
                let t = self.check_expr(scope, then);
                let o = self.check_expr(scope, otherwise);
                let ty = t.ty.join(&o.ty);
                Typed::new(
                    ty,
                    Ir::If {
                        cond: Box::new(c.ir),
                        then: Box::new(t.ir),
                        otherwise: Box::new(o.ir),
                        span: e.span,
                    },
                )
            }
            ExprKind::List(items) => {
                let mut ty: Option<Type> = None;
                let mut irs = Vec::new();
                let mut consts = Some(Vec::new());
                for item in items {
                    let t = self.check_expr(scope, item);
                    ty = Some(match ty {
                        None => t.ty.clone(),
                        Some(prev) => prev.join(&t.ty),
                    });
                    consts = consts.and_then(|mut c: Vec<Value>| {
                        c.push(t.constant.clone()?);
                        Some(c)
                    });
                    irs.push(t.ir);
                }
                let ty = Type::list(ty.unwrap_or(Type::ANY));
                match consts {
                    Some(c) => Typed::constant(ty, Value::list(c)),
                    None => Typed::new(ty, Ir::List(irs)),
                }
            }
            ExprKind::Record(entries) => {
                let mut fields = Vec::new();
                let mut irs = Vec::new();
                let mut consts = Some(crate::value::Record::new());
                for (key, value) in entries {
                    let t = self.check_expr(scope, value);
                    if fields
                        .iter()
                        .any(|f: &crate::types::FieldType| f.name == key.name)
                    {
                        self.diags.push(
                            Diagnostic::new(
                                &codes::E0005,
                                format!("field `{}` appears twice in this record", key.name),
                            )
                            .at(key.span, "repeated here")
                            .help("remove one of the two entries"),
                        );
                    }
                    consts = consts.and_then(|mut r| {
                        r.insert(key.name.clone(), t.constant.clone()?);
                        Some(r)
                    });
                    fields.push(crate::types::FieldType {
                        name: key.name.clone(),
                        optional: t.ty.missing.is_some(),
                        ty: t.ty.clone().present(),
                        readonly: false,
                        range: None,
                        span: key.span,
                    });
                    irs.push((key.name.clone(), t.ir));
                }
                let ty = Type::of(Kind::Record(Arc::new(RecordType {
                    name: None,
                    fields,
                    open: false,
                    units: crate::types::LengthUnit::Chars,
                })));
                match consts {
                    Some(r) => Typed::constant(ty, Value::record(r)),
                    None => Typed::new(ty, Ir::Record(irs)),
                }
            }
            ExprKind::Comprehension {
                item,
                var,
                list,
                filter,
            } => self.check_comprehension(scope, item, var, list, filter.as_deref(), e.span),
            ExprKind::Paren(inner) => self.check_expr(scope, inner),
        }
    }

    /// `[item for var in list where filter]`: a list of `item`s, one per
    /// element of `list` the filter keeps.
    fn check_comprehension(
        &mut self,
        scope: &mut Scope,
        item: &Expr,
        var: &Ident,
        list: &Expr,
        filter: Option<&Expr>,
        span: Span,
    ) -> Typed {
        let l = self.check_expr(scope, list);
        self.require_present(&l.ty, list.span, "iterated with `for`", "?? []");
        let elem = match &l.ty.kind {
            Kind::List(e) => (**e).clone(),
            Kind::Any | Kind::Never => Type::ANY,
            other => {
                self.wrong_kind(
                    other,
                    list.span,
                    "cannot be iterated",
                    "iterate over a list: `[x.price for x in rows]`",
                );
                Type::ANY
            }
        };
        let mark = scope.mark();
        let slot = scope.bind(var.name.clone(), elem.present(), var.span, false);
        let filter = filter.map(|f| {
            let t = self.check_expr(scope, f);
            self.require_bool(&t, f.span, "a `for … where` filter");
            Box::new(t.ir)
        });
        let it = self.check_expr(scope, item);
        scope.reset(mark);
        Typed::new(
            Type::list(it.ty),
            Ir::Comprehension {
                item: Box::new(it.ir),
                slot,
                list: Box::new(l.ir),
                filter,
                span,
            },
        )
    }

    fn check_string(&mut self, scope: &mut Scope, parts: &[StrPart], span: Span) -> Typed {
        if let [StrPart::Text(t)] = parts {
            return Typed::constant(
                Type::string_max(Some(t.chars().count() as u32)),
                Value::Str(t.clone()),
            );
        }
        let mut irs = Vec::new();
        let mut max: Option<u32> = Some(0);
        for part in parts {
            match part {
                StrPart::Text(t) => {
                    max = max.map(|m| m + t.chars().count() as u32);
                    irs.push(Ir::Const(Value::Str(t.clone())));
                }
                StrPart::Expr(e) => {
                    let t = self.check_expr(scope, e);
                    self.require_present(&t.ty, e.span, "interpolated into a string", "?? \"\"");
                    if matches!(t.ty.kind, Kind::List(_) | Kind::Record(_)) {
                        self.wrong_kind(
                            &t.ty.kind,
                            e.span,
                            "cannot be interpolated into a string",
                            "interpolate one of its fields, or use join(list, \", \") for a list",
                        );
                    }
                    max = max.zip(t.ty.max_len()).map(|(a, b)| a + b);
                    irs.push(t.ir);
                }
            }
        }
        Typed::new(Type::string_max(max), Ir::Interpolate(irs, span))
    }

    fn check_var(&mut self, scope: &mut Scope, name: &Ident) -> Typed {
        if let Some(local) = scope.find(&name.name) {
            local.used = true;
            return Typed::new(local.ty.clone(), Ir::Local(local.slot));
        }
        if let Some(input) = &scope.input {
            match &input.kind {
                Kind::Record(rt) => {
                    if let Some(field) = rt.field(&name.name) {
                        let mut ty = field.ty.clone();
                        if field.optional {
                            ty = ty.maybe(Missing::OptionalField {
                                name: field.name.clone(),
                                span: name.span,
                            });
                        }
                        return Typed::new(ty, Ir::Input(name.name.clone()));
                    }
                }
                Kind::Any if self.lookup_decl(scope.module, &name.name).is_none() => {
                    return Typed::new(
                        Type::ANY.maybe(Missing::OptionalField {
                            name: name.name.clone(),
                            span: name.span,
                        }),
                        Ir::Input(name.name.clone()),
                    );
                }
                _ => {}
            }
        }
        match self.lookup_decl(scope.module, &name.name) {
            Some(Decl::Let(i)) => {
                self.mark_used(scope.module, &name.name);
                let ty = self.let_type(i);
                Typed::new(ty, Ir::Global(i))
            }
            Some(other) => {
                self.mark_used(scope.module, &name.name);
                let help = match other {
                    Decl::Table(_) => format!("look a key up with `{}[key]`", name.name),
                    Decl::Fn(_) => format!("call it: `{}(…)`", name.name),
                    Decl::Module(_) => {
                        format!("name one of its declarations: `{}.name`", name.name)
                    }
                    _ => "only lets, fields and variables are values".to_string(),
                };
                self.not_a_value(&name.name, name.span, &other, help)
            }
            None => {
                self.unknown_name(scope, name);
                Typed::error()
            }
        }
    }

    fn unknown_name(&mut self, scope: &Scope, name: &Ident) {
        let mut candidates: Vec<String> = scope.local_names().map(str::to_string).collect();
        candidates.extend(self.namespaces[scope.module].keys().map(|k| k.to_string()));
        let input_fields: Vec<String> = match scope.input.as_ref().map(|t| &t.kind) {
            Some(Kind::Record(rt)) => rt.field_names().map(str::to_string).collect(),
            _ => vec![],
        };
        candidates.extend(input_fields.iter().cloned());
        let (code, message) = match scope.input.as_ref().map(|t| &t.kind) {
            Some(Kind::Record(rt)) => (
                &codes::E0101,
                format!(
                    "`{}` is not a field of {} nor a declared name",
                    name.name,
                    rt.display_name()
                ),
            ),
            _ => (&codes::E0102, format!("`{}` is not declared", name.name)),
        };
        let otherwise = if input_fields.is_empty() {
            "declare it with `let`, or check the spelling".to_string()
        } else {
            format!(
                "the source record's fields are: {}",
                preview(input_fields.iter().map(String::as_str))
            )
        };
        let d = Diagnostic::new(code, message)
            .at(name.span, "unknown name")
            .help_typo(&name.name, candidates.iter().map(String::as_str), otherwise);
        self.diags.push(d);
    }

    fn check_field(
        &mut self,
        scope: &mut Scope,
        base: &Expr,
        name: &Ident,
        optional: bool,
        span: Span,
    ) -> Typed {
        // `module.member`: a let or a table's reference in another file.
        if let ExprKind::Var(module_name) = &base.kind {
            if scope.find(&module_name.name).is_none() && !input_has(scope, &module_name.name) {
                if let Some(Decl::Module(target)) =
                    self.lookup_decl(scope.module, &module_name.name)
                {
                    self.mark_used(scope.module, &module_name.name);
                    return self.module_member(target, module_name, name);
                }
            }
        }
        let b = self.check_expr(scope, base);
        // Untyped values (`any`) are checked when the record is read, not here.
        if b.ty.missing.is_some() && !optional && !b.ty.is_any() {
            self.report_missing(
                &b.ty,
                base.span,
                &format!("read with `.{}`", name.name),
                &format!("?.{}", name.name),
            );
        }
        let ir = Ir::Field {
            base: Box::new(b.ir),
            name: name.name.clone(),
            optional,
            span,
        };
        let mut ty = match &b.ty.kind {
            Kind::Record(rt) => match rt.field(&name.name) {
                Some(f) => {
                    let mut t = f.ty.clone();
                    if f.optional {
                        t = t.maybe(Missing::OptionalField {
                            name: f.name.clone(),
                            span: name.span,
                        });
                    }
                    t
                }
                None if rt.open => Type::ANY.maybe(Missing::Other { span: name.span }),
                None => {
                    let d = Diagnostic::new(
                        &codes::E0101,
                        format!("{} has no field `{}`", rt.display_name(), name.name),
                    )
                    .at(name.span, "unknown field")
                    .help_typo(
                        &name.name,
                        rt.field_names(),
                        format!("its fields are: {}", preview(rt.field_names())),
                    );
                    self.diags.push(d);
                    Type::ANY
                }
            },
            Kind::Any => Type::ANY.maybe(Missing::Other { span: name.span }),
            Kind::Never => Type::NEVER,
            other => {
                self.wrong_kind(
                    other,
                    base.span,
                    "has no fields",
                    "only records have fields",
                );
                Type::ANY
            }
        };
        if optional {
            ty = ty.maybe(b.ty.missing.clone().unwrap_or(Missing::Other { span }));
        }
        Typed::new(ty, ir)
    }

    fn module_member(&mut self, target: usize, module: &Ident, name: &Ident) -> Typed {
        match self.lookup_decl(target, &name.name) {
            Some(Decl::Let(i)) => {
                self.mark_used(target, &name.name);
                let ty = self.let_type(i);
                Typed::new(ty, Ir::Global(i))
            }
            Some(other) => {
                let help = match other {
                    Decl::Table(_) => {
                        format!("look a key up with `{}.{}[key]`", module.name, name.name)
                    }
                    Decl::Fn(_) => format!("call it: `{}(…)` after importing it", name.name),
                    _ => "only lets are values".to_string(),
                };
                let shown = format!("{}.{}", module.name, name.name);
                self.not_a_value(&shown, name.span, &other, help)
            }
            None => {
                let names: Vec<String> = self.namespaces[target]
                    .keys()
                    .map(|k| k.to_string())
                    .collect();
                let mut d = Diagnostic::new(
                    &codes::E0102,
                    format!("module `{}` declares no `{}`", module.name, name.name),
                )
                .at(name.span, "not in that module");
                if let Some(s) = did_you_mean(&name.name, names.iter().map(String::as_str)) {
                    d = d.help(format!("did you mean `{}.{s}`?", module.name));
                } else {
                    d = d.help(format!(
                        "it declares: {}",
                        preview(names.iter().map(String::as_str))
                    ));
                }
                self.diags.push(d);
                Typed::error()
            }
        }
    }

    /// `t[key]` on a table, `list[i]`, or `record["field"]`.
    pub(crate) fn check_index(
        &mut self,
        scope: &mut Scope,
        base: &Expr,
        index: &Expr,
        span: Span,
        on_miss: OnMiss,
    ) -> Typed {
        if let Some((table, table_name)) = self.table_ref(scope, base) {
            let k = self.check_expr(scope, index);
            self.require_present(&k.ty, index.span, "used as a table key", "?? \"\"");
            let has_default = self.program.tables[table].default.is_some();
            let mut ty = self.table_types[table].clone();
            if !has_default {
                // Under `??` a miss is handled; anywhere else the checker
                // reports E0307 where the possibly missing value is used.
                ty = ty.maybe(Missing::LookupMiss {
                    table: table_name.clone(),
                    span,
                });
            }
            if let Some(c) = &k.constant {
                let found = crate::program::TableKey::of(c)
                    .is_some_and(|k| self.program.tables[table].rows.contains_key(&k));
                if !found && !has_default && !self.program.tables[table].rows.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::E0307,
                            format!("table `{table_name}` has no row for {c}"),
                        )
                        .at(index.span, "no such key")
                        .help("add the row to the table, or a default row `_ => …`"),
                    );
                }
            }
            return Typed::new(
                ty,
                Ir::Lookup {
                    table,
                    key: Box::new(k.ir),
                    on_miss,
                    span,
                },
            );
        }
        let b = self.check_expr(scope, base);
        self.require_present(&b.ty, base.span, "indexed", "?? []");
        let k = self.check_expr(scope, index);
        self.require_present(&k.ty, index.span, "used as an index", "?? 0");
        let ty = match &b.ty.kind {
            Kind::List(elem) => {
                if !matches!(k.ty.kind, Kind::Int | Kind::Any) {
                    self.type_error(index.span, "a list index", "an integer", &k.ty);
                }
                (**elem).clone()
            }
            Kind::Record(_) | Kind::Any => Type::ANY,
            other => {
                self.wrong_kind(
                    other,
                    base.span,
                    "cannot be indexed",
                    "index lists with `[n]`, records with `[\"field\"]` and tables with `[key]`",
                );
                Type::ANY
            }
        };
        Typed::new(
            ty.maybe(Missing::Other { span }),
            Ir::Index {
                base: Box::new(b.ir),
                index: Box::new(k.ir),
                span,
            },
        )
    }

    /// The table a base expression names, if it names one.
    fn table_ref(&mut self, scope: &mut Scope, base: &Expr) -> Option<(usize, Arc<str>)> {
        match &base.kind {
            ExprKind::Var(name)
                if scope.find(&name.name).is_none() && !input_has(scope, &name.name) =>
            {
                if let Some(Decl::Table(t)) = self.lookup_decl(scope.module, &name.name) {
                    self.mark_used(scope.module, &name.name);
                    return Some((t, name.name.clone()));
                }
                None
            }
            ExprKind::Field {
                base: inner,
                name,
                optional: false,
            } => {
                let ExprKind::Var(module) = &inner.kind else {
                    return None;
                };
                if scope.find(&module.name).is_some() || input_has(scope, &module.name) {
                    return None;
                }
                let Some(Decl::Module(target)) = self.lookup_decl(scope.module, &module.name)
                else {
                    return None;
                };
                if let Some(Decl::Table(t)) = self.lookup_decl(target, &name.name) {
                    self.mark_used(scope.module, &module.name);
                    self.mark_used(target, &name.name);
                    return Some((t, Arc::from(format!("{}.{}", module.name, name.name))));
                }
                None
            }
            _ => None,
        }
    }

    fn check_call(&mut self, scope: &mut Scope, name: &Ident, args: &[&Expr], span: Span) -> Typed {
        if let Some(Decl::Fn(f)) = self.lookup_decl(scope.module, &name.name) {
            self.mark_used(scope.module, &name.name);
            let arity = self.program.functions[f].arity;
            if args.len() != arity {
                self.arity_error(name, args.len(), arity, arity, &format!("fn {}", name.name));
            }
            let irs = args.iter().map(|a| self.check_expr(scope, a).ir).collect();
            let ty = self.fn_type(f);
            return Typed::new(
                ty,
                Ir::CallFn {
                    func: f,
                    args: irs,
                    span,
                },
            );
        }
        let Some(builtin) = functions::lookup(&name.name) else {
            let mut names: Vec<String> = functions::all().map(|b| b.name.to_string()).collect();
            names.extend(
                self.namespaces[scope.module]
                    .iter()
                    .filter(|(_, (d, _))| matches!(d, Decl::Fn(_)))
                    .map(|(k, _)| k.to_string()),
            );
            let d = Diagnostic::new(
                &codes::E0103,
                format!("there is no function `{}`", name.name),
            )
            .at(name.span, "unknown function")
            .help_typo(
                &name.name,
                names.iter().map(String::as_str),
                "see docs/functions.md for the built-in functions, or declare one with `fn`",
            );
            self.diags.push(d);
            for a in args {
                self.check_expr(scope, a);
            }
            return Typed::error();
        };
        if args.len() < builtin.min_arity() || args.len() > builtin.max_arity() {
            self.arity_error(
                name,
                args.len(),
                builtin.min_arity(),
                builtin.max_arity(),
                &builtin.signature(),
            );
            // Its arguments are still checked; the call itself is never
            // folded or run (the function would index a missing argument).
            for a in args {
                self.check_expr(scope, a);
            }
            return Typed::error();
        }
        let mut checked = Vec::new();
        let mut irs = Vec::new();
        // Lengths count the way the service being written counts them.
        let implied_units = builtin
            .params
            .last()
            .filter(|p| p.name == "units" && args.len() + 1 == builtin.params.len());
        for (i, a) in args.iter().enumerate() {
            let t = self.check_expr(scope, a);
            if let Some(param) = builtin.params.get(i) {
                if !param.accepts_missing {
                    self.require_present(
                        &t.ty,
                        a.span,
                        &format!("passed as `{}` to {}()", param.name, builtin.name),
                        "?? default",
                    );
                }
                if !param_accepts(param.kind, &t.ty) {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::E0202,
                            format!(
                                "{}() expects {} for `{}`, but this is {}",
                                builtin.name,
                                param.kind.describe(),
                                param.name,
                                t.ty
                            ),
                        )
                        .at(a.span, format!("{}", t.ty))
                        .help(format!("the signature is {}", builtin.signature())),
                    );
                }
            }
            if let (Some(param), Some(Value::Str(units))) = (builtin.params.get(i), &t.constant) {
                if param.name == "units" && crate::types::LengthUnit::from_keyword(units).is_none()
                {
                    self.diags.push(
                        Diagnostic::new(
                            &codes::E0202,
                            format!(
                                "{}() counts in \"chars\" or \"utf16\", not {units:?}",
                                builtin.name
                            ),
                        )
                        .at(a.span, "not a length unit")
                        .help(format!("the signature is {}", builtin.signature())),
                    );
                }
            }
            checked.push(Arg {
                ty: t.ty.clone(),
                constant: t.constant.clone(),
            });
            irs.push(t.ir);
        }
        if implied_units.is_some() && self.call_units != crate::types::LengthUnit::Chars {
            let units = Value::str(self.call_units.keyword());
            checked.push(Arg {
                ty: Type::string(),
                constant: Some(units.clone()),
            });
            irs.push(Ir::Const(units));
        }
        let ty = (builtin.returns)(&checked);
        // Calls on constants are folded, so `truncate("…", 3)` is itself a constant.
        // `fail` and `skip` act on the record: never folded into a constant.
        let foldable =
            ty.kind != crate::types::Kind::Never && checked.iter().all(|a| a.constant.is_some());
        if foldable && !checked.is_empty() {
            let values: Vec<Value> = checked.iter().filter_map(|a| a.constant.clone()).collect();
            if let Ok(v) = (builtin.eval)(&values) {
                return Typed {
                    ty,
                    ir: Ir::Const(v.clone()),
                    constant: Some(v),
                };
            }
        }
        Typed::new(
            ty,
            Ir::Builtin {
                func: builtin,
                args: irs,
                span,
            },
        )
    }

    fn arity_error(&mut self, name: &Ident, got: usize, min: usize, max: usize, signature: &str) {
        let expected = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        self.diags.push(
            Diagnostic::new(
                &codes::E0104,
                format!("`{}` takes {expected} argument{}, but {got} {} given", name.name, if max == 1 { "" } else { "s" }, if got == 1 { "was" } else { "were" }),
            )
            .at(name.span, format!("called with {got}"))
            .help(format!("the signature is {signature}; in `x | {}(…)` the piped value is the first argument", name.name)),
        );
    }

    fn check_unary(&mut self, scope: &mut Scope, op: UnaryOp, operand: &Expr, span: Span) -> Typed {
        let t = self.check_expr(scope, operand);
        match op {
            UnaryOp::Not => {
                self.require_bool(&t, operand.span, "`not`");
                if let Some(Value::Bool(b)) = t.constant {
                    return Typed::constant(Type::BOOL, Value::Bool(!b));
                }
                Typed::new(Type::BOOL, Ir::Not(Box::new(t.ir), span))
            }
            UnaryOp::Neg => {
                self.require_present(&t.ty, operand.span, "negated", "?? 0");
                if !t.ty.is_numeric() {
                    self.type_error(operand.span, "`-`", "a number", &t.ty);
                }
                if let Some(Value::Num(d)) = t.constant {
                    return Typed::constant(t.ty.present(), Value::Num(-d));
                }
                Typed::new(t.ty.clone().present(), Ir::Neg(Box::new(t.ir), span))
            }
        }
    }

    fn check_binary(
        &mut self,
        scope: &mut Scope,
        op: BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Typed {
        let l = match &lhs.kind {
            // `table[key] ?? d`: a key the table lacks is a missing value for
            // the fallback to replace, not a failed record.
            ExprKind::Index { base, index } if op == BinaryOp::Coalesce => {
                self.check_index(scope, base, index, lhs.span, OnMiss::Absent)
            }
            ExprKind::Find {
                base,
                conditions,
                all,
            } if op == BinaryOp::Coalesce => {
                self.check_find(scope, base, conditions, lhs.span, OnMiss::Absent, *all)
            }
            _ => self.check_expr(scope, lhs),
        };
        let r = self.check_expr(scope, rhs);
        let ty = match op {
            BinaryOp::Coalesce => match &r.ty.kind {
                Kind::Never => l.ty.clone().present(),
                _ => {
                    let mut joined = l.ty.clone().present().join(&r.ty);
                    joined.missing = r.ty.missing.clone();
                    joined
                }
            },
            BinaryOp::And | BinaryOp::Or => {
                self.require_bool(&l, lhs.span, &format!("`{}`", op.symbol()));
                self.require_bool(&r, rhs.span, &format!("`{}`", op.symbol()));
                Type::BOOL
            }
            BinaryOp::Eq | BinaryOp::Ne => Type::BOOL,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                for (t, e) in [(&l, lhs), (&r, rhs)] {
                    self.require_present(
                        &t.ty,
                        e.span,
                        &format!("compared with `{}`", op.symbol()),
                        "?? 0",
                    );
                }
                let comparable = l.ty.is_any()
                    || r.ty.is_any()
                    || (l.ty.is_numeric() && r.ty.is_numeric())
                    || (l.ty.is_stringy() && r.ty.is_stringy())
                    || (matches!(l.ty.kind, Kind::Date | Kind::DateTime | Kind::Str { .. })
                        && matches!(r.ty.kind, Kind::Date | Kind::DateTime | Kind::Str { .. }));
                if !comparable {
                    self.diags.push(
                        Diagnostic::new(&codes::E0203, format!("cannot compare {} with {}", l.ty, r.ty))
                            .at(span, format!("`{}` between {} and {}", op.symbol(), l.ty.kind, r.ty.kind))
                            .help("compare numbers with numbers, strings with strings, dates with dates; convert with to_number() or date()"),
                    );
                }
                Type::BOOL
            }
            BinaryOp::In | BinaryOp::NotIn => {
                self.require_present(
                    &r.ty,
                    rhs.span,
                    &format!("the right side of `{}`", op.symbol()),
                    "?? []",
                );
                if !matches!(r.ty.kind, Kind::List(_) | Kind::Any | Kind::Record(_)) {
                    self.type_error(rhs.span, &format!("`{}`", op.symbol()), "a list", &r.ty);
                }
                Type::BOOL
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                for (t, e) in [(&l, lhs), (&r, rhs)] {
                    self.require_present(
                        &t.ty,
                        e.span,
                        &format!("used in `{}`", op.symbol()),
                        "?? 0",
                    );
                    if !t.ty.is_numeric() {
                        let mut d = Diagnostic::new(
                            &codes::E0203,
                            format!("`{}` needs numbers, but this is {}", op.symbol(), t.ty),
                        )
                        .at(e.span, format!("{}", t.ty));
                        d = if op == BinaryOp::Add && t.ty.is_stringy() {
                            d.help("join strings with interpolation: \"{a}{b}\"")
                        } else {
                            d.help("convert text with to_number(…)")
                        };
                        self.diags.push(d);
                    }
                }
                if matches!(op, BinaryOp::Div | BinaryOp::Rem)
                    && r.constant
                        .as_ref()
                        .is_some_and(|v| *v == Value::Num(Decimal::ZERO))
                {
                    self.diags.push(
                        Diagnostic::new(&codes::E0203, "division by zero")
                            .at(rhs.span, "this is zero")
                            .help("divide by a non-zero number"),
                    );
                }
                match (&l.ty.kind, &r.ty.kind, op) {
                    (
                        Kind::Int,
                        Kind::Int,
                        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Rem,
                    ) => Type::INT,
                    (Kind::Any, _, _) | (_, Kind::Any, _) => Type::ANY,
                    _ => Type::DECIMAL,
                }
            }
        };
        Typed::new(
            ty,
            Ir::Binary {
                op,
                lhs: Box::new(l.ir),
                rhs: Box::new(r.ir),
                span,
            },
        )
    }

    pub(crate) fn require_bool(&mut self, t: &Typed, span: Span, context: &str) {
        if t.ty.missing.is_some() && !matches!(t.ty.kind, Kind::Any) {
            self.report_missing(&t.ty, span, &format!("used as {context}"), "?? false");
        }
        if !matches!(t.ty.kind, Kind::Bool | Kind::Any | Kind::Never) {
            self.diags.push(
                Diagnostic::new(
                    &codes::E0206,
                    format!("{context} needs a boolean, but this is {}", t.ty),
                )
                .at(span, format!("{}", t.ty))
                .help("compare it to something, e.g. `x == 1`, `x != null`, or `exists(x)`"),
            );
        }
    }

    /// Values that may be absent or null are an error where a value is required.
    pub(crate) fn require_present(&mut self, ty: &Type, span: Span, context: &str, fix: &str) {
        if ty.missing.is_some() && !matches!(ty.kind, Kind::Any) {
            self.report_missing(ty, span, context, fix);
        }
    }

    pub(crate) fn report_missing(&mut self, ty: &Type, span: Span, context: &str, fix: &str) {
        let d = match &ty.missing {
            Some(Missing::LookupMiss { table, span: lookup }) => {
                Diagnostic::new(&codes::E0307, format!("this lookup in table `{table}` can miss, and the result is {context}"))
                    .at(*lookup, "may find no row")
                    .help(format!("add a default row `_ => …` to `{table}`, or handle the miss: `{table}[…] ?? fallback` or `?? fail(\"…\")`"))
            }
            Some(Missing::OptionalField { name, span: read }) => {
                let d = Diagnostic::new(&codes::E0204, format!("`{name}` may be missing (absent or null), but it is {context}"))
                    .at(*read, "optional field");
                // When the field read is the whole value, one label says it all.
                let d = if span == *read { d } else { d.also(span, format!("{context} here")) };
                d.help(format!("supply a fallback with `{fix}`, or reject such records with `?? fail(\"…\")`"))
            }
            _ => Diagnostic::new(&codes::E0204, format!("this value may be missing (absent or null), but it is {context}"))
                .at(span, "may be missing")
                .help(format!("supply a fallback with `{fix}`")),
        };
        // One report per culprit, however many places use it.
        if !self
            .diags
            .iter()
            .any(|x| x.code.id == d.code.id && x.primary == d.primary)
        {
            self.diags.push(d);
        }
    }

    /// E0203 for a value whose kind does not allow what is done with it:
    /// "a {kind} {cannot}".
    fn wrong_kind(&mut self, kind: &Kind, span: Span, cannot: &str, help: &str) {
        self.diags.push(
            Diagnostic::new(&codes::E0203, format!("a {kind} {cannot}"))
                .at(span, format!("this is a {kind}"))
                .help(help),
        );
    }

    /// E0203 for a name used as a value that declares something else.
    fn not_a_value(&mut self, shown: &str, span: Span, decl: &Decl, help: String) -> Typed {
        self.diags.push(
            Diagnostic::new(
                &codes::E0203,
                format!("`{shown}` is a {}, not a value", decl.describe()),
            )
            .at(span, format!("a {}", decl.describe()))
            .help(help),
        );
        Typed::error()
    }

    pub(crate) fn type_error(&mut self, span: Span, context: &str, expected: &str, got: &Type) {
        self.diags.push(
            Diagnostic::new(
                &codes::E0203,
                format!("{context} needs {expected}, but this is {got}"),
            )
            .at(span, format!("{got}"))
            .help(format!("convert it to {expected} first")),
        );
    }

    /// Checks that a value fits a target field: type, length, range, presence.
    pub(crate) fn check_fits(
        &mut self,
        value: &Typed,
        value_span: Span,
        field: &crate::types::FieldType,
        field_span: Span,
        target: &str,
    ) {
        match assignable(&value.ty, &field.ty) {
            Ok(()) => {}
            Err(Mismatch::Kind) => self.diags.push(
                Diagnostic::new(
                    &codes::E0201,
                    format!(
                        "{target}.{} expects {}, but the value is {}",
                        field.name, field.ty, value.ty
                    ),
                )
                .at(value_span, format!("{}", value.ty))
                .also(field_span, format!("{}", field.ty))
                .help(conversion_hint(&value.ty, &field.ty)),
            ),
            Err(Mismatch::TooLong { max, have }) => {
                let units = match &field.ty.kind {
                    Kind::Str { units, .. } => *units,
                    _ => crate::types::LengthUnit::Chars,
                };
                let have = match have {
                    Some(n) => format!("up to {n} {}", units.name()),
                    None => "of any length".to_string(),
                };
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0205,
                        format!(
                            "{target}.{} allows at most {max} {}, but this value may be {have}",
                            field.name,
                            units.name()
                        ),
                    )
                    .at(value_span, format!("may be longer than {max}"))
                    .help(format!("add `| truncate({max})`")),
                )
            }
        }
        if !field.optional && value.ty.missing.is_some() && !value.ty.is_any() {
            self.report_missing(
                &value.ty,
                value_span,
                &format!("mapped onto the required field {target}.{}", field.name),
                "?? default",
            );
        }
        if let (Some((lo, hi)), Some(Value::Num(n))) = (field.range, &value.constant) {
            if *n < lo || *n > hi {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0207,
                        format!(
                            "{target}.{} accepts {lo} to {hi}, but this is {n}",
                            field.name
                        ),
                    )
                    .at(value_span, "out of range")
                    .help(if hi == Decimal::ONE {
                        "this field is a fraction: write 10% as 0.1".to_string()
                    } else {
                        format!("use a value from {lo} to {hi}")
                    }),
                );
            }
        }
        if let (Kind::Enum(allowed), Some(Value::Str(s))) = (&field.ty.kind, &value.constant) {
            if !allowed.iter().any(|a| a == s) {
                self.diags.push(
                    Diagnostic::new(
                        &codes::E0207,
                        format!(
                            "{target}.{} accepts {}, not {s:?}",
                            field.name, field.ty.kind
                        ),
                    )
                    .at(value_span, "not one of the allowed values")
                    .help(
                        match did_you_mean(s, allowed.iter().map(|a| &**a)) {
                            Some(x) => format!("did you mean {x:?}?"),
                            None => format!("use one of {}", field.ty.kind),
                        },
                    ),
                );
            }
        }
    }
}

fn conversion_hint(from: &Type, to: &Type) -> String {
    match (&from.kind, &to.kind) {
        (Kind::Str { .. }, Kind::Int | Kind::Decimal) => "convert with to_number(…) or to_int(…)".into(),
        (Kind::Int | Kind::Decimal, Kind::Str { .. }) => "convert with to_string(…) or interpolate: \"{x}\"".into(),
        (Kind::Decimal, Kind::Int) => "round it: round(x) gives an integer".into(),
        (Kind::DateTime, Kind::Date) => "a date-time is not a date: take its calendar date with `date(x)` (in its own offset), or `date(to_utc(x))` for the date in UTC".into(),
        (Kind::List(_), _) => "map a list onto a list field with `each … as x -> Field { … }`, or pick one item with first(…)".into(),
        (_, Kind::Bool) => "write a comparison, e.g. `x == \"yes\"`".into(),
        _ => format!("convert the value to {to}"),
    }
}

fn param_accepts(kind: ParamKind, ty: &Type) -> bool {
    match (&ty.kind, kind) {
        (Kind::Any | Kind::Never | Kind::Null, _) | (_, ParamKind::Any) => true,
        (k, ParamKind::Str) => matches!(k, Kind::Str { .. } | Kind::Uuid | Kind::Enum(_)),
        (k, ParamKind::Num) => matches!(k, Kind::Int | Kind::Decimal),
        (k, ParamKind::Int) => matches!(k, Kind::Int),
        (k, ParamKind::Bool) => matches!(k, Kind::Bool),
        (k, ParamKind::Date) => matches!(k, Kind::Date | Kind::DateTime | Kind::Str { .. }),
        (k, ParamKind::List) => matches!(k, Kind::List(_)),
        (k, ParamKind::Record) => matches!(k, Kind::Record(_)),
    }
}

fn input_has(scope: &Scope, name: &str) -> bool {
    match scope.input.as_ref().map(|t| &t.kind) {
        Some(Kind::Record(rt)) => rt.field(name).is_some(),
        _ => false,
    }
}

/// A short list of names for a help line.
pub(crate) fn preview<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut all: Vec<&str> = names.collect();
    all.sort();
    let n = all.len();
    let shown: Vec<String> = all.iter().take(12).map(|s| format!("`{s}`")).collect();
    if n > 12 {
        format!("{} and {} more", shown.join(", "), n - 12)
    } else {
        shown.join(", ")
    }
}
