//! The interpreter: runs a checked program's mappings on one record at a
//! time. It is pure except for upserts, which it asks a [`Resolver`] to do,
//! so the same code serves `flowc test` (in memory), `plan` (read only) and
//! `run` (real writes).

pub mod find;
mod ops;

use std::sync::{Arc, OnceLock};

use crate::diag::{codes, Code, Diagnostic};
use crate::program::{Expr, Flow, Mapping, OnMiss, Op, Program, Schema};
use crate::source_map::Span;
use crate::syntax::ast::BinaryOp;
use crate::value::{Record, Value};

/// A failure while mapping one record.
#[derive(Debug, Clone)]
pub struct EvalError {
    pub code: &'static Code,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
    /// The target field being computed, when known (`Rows[2].UnitPrice`).
    pub field: Option<String>,
    /// Not a failure: `skip("reason")` asked to leave the record out.
    pub skip: bool,
}

impl EvalError {
    pub fn new(code: &'static Code, message: impl Into<String>, span: Option<Span>) -> Self {
        EvalError {
            code,
            message: message.into(),
            span,
            help: None,
            field: None,
            skip: false,
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    fn in_field(mut self, field: impl FnOnce() -> String) -> Self {
        if self.field.is_none() {
            self.field = Some(field());
        }
        self
    }

    /// A diagnostic that names the record and the field.
    pub fn to_diagnostic(&self, record: &str) -> Diagnostic {
        let field = self
            .field
            .as_deref()
            .map(|f| format!(", field `{f}`"))
            .unwrap_or_default();
        let mut d = Diagnostic::new(
            self.code,
            format!("record {record}{field}: {}", self.message),
        );
        if let Some(span) = self.span {
            d = d.at(span, "while computing this");
        }
        if let Some(h) = &self.help {
            d = d.help(h.clone());
        }
        d
    }
}

/// A value that does not fit its target field fails the record (E0908).
impl From<crate::types::validate::Violation> for EvalError {
    fn from(v: crate::types::validate::Violation) -> Self {
        let mut e = EvalError::new(&codes::E0908, v.message, None).help(v.help);
        e.field = Some(v.field);
        e
    }
}

pub type Result<T> = std::result::Result<T, EvalError>;

/// An upsert the flow asks for while mapping a record.
#[derive(Debug, Clone)]
pub struct UpsertRequest<'a> {
    pub schema: &'a Schema,
    pub match_field: &'a [Arc<str>],
    pub match_value: Value,
    pub payload: Payload,
}

/// What a mapping produced for one target record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// Fields written on create (common + `on create`).
    pub create: Record,
    /// Fields written on update (common + `on update`, minus `keep`).
    pub update: Record,
}

/// Carries out upserts on behalf of the interpreter.
pub trait Resolver {
    /// Finds the record by the match field, creates or updates it, and returns it as stored.
    fn upsert(&mut self, request: UpsertRequest<'_>) -> Result<Value>;
}

/// Reads the records of resources that lookups by natural key search
/// (`eaccounting.vatcodes[Code: "VH"]`); the engine reads each resource
/// once per run.
pub trait References: Sync {
    fn records(&self, schema: &Schema) -> Result<Arc<Vec<Value>>>;

    /// The records whose fields equal `wanted` as the service compares them
    /// (a superset is fine: the interpreter matches them again). By default
    /// every record; a service that can filter is asked to.
    fn records_where(
        &self,
        schema: &Schema,
        _wanted: &[(Arc<str>, Value)],
    ) -> Result<Arc<Vec<Value>>> {
        self.records(schema)
    }
}

/// Refuses upserts: for flows that have none.
pub struct NoUpserts;

impl Resolver for NoUpserts {
    fn upsert(&mut self, request: UpsertRequest<'_>) -> Result<Value> {
        Err(EvalError::new(
            &codes::E0902,
            format!("this run cannot write {} records", request.schema.name),
            None,
        ))
    }
}

/// The outcome of running a flow on one source record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Filtered out by `where` (no reason), or by `skip("reason")`.
    Skipped(Option<String>),
    Mapped(Mapped),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The key value and the target field it is stored in.
    pub key: Option<(Vec<Arc<str>>, Value)>,
    pub payload: Payload,
}

pub struct Runtime<'p> {
    pub program: &'p Program,
    globals: Vec<OnceLock<std::result::Result<Value, EvalError>>>,
    references: Option<&'p dyn References>,
}

/// What a block of mapping ops builds.
#[derive(Default)]
struct Built {
    /// Fields written the same on create and on update.
    fields: Record,
    /// The lists of `each` blocks whose items differ between create and
    /// update (their bodies have `on create`, `on update` or `keep`): one
    /// list for each side.
    create_lists: Record,
    update_lists: Record,
}

struct Frame<'a> {
    slots: Vec<Value>,
    input: &'a Value,
    /// Nodes being evaluated in this frame, one inside the other: the stack
    /// is looked at every [`STACK_CHECK_EVERY`] levels, not at every node.
    depth: u32,
}

impl<'p> Runtime<'p> {
    pub fn new(program: &'p Program) -> Self {
        Runtime {
            program,
            globals: program.globals.iter().map(|_| OnceLock::new()).collect(),
            references: None,
        }
    }

    /// A runtime whose lookups by natural key read through `references`.
    pub fn with_references(program: &'p Program, references: &'p dyn References) -> Self {
        Runtime {
            references: Some(references),
            ..Runtime::new(program)
        }
    }

    /// Evaluates an expression that needs no record (test inputs, constants).
    pub fn eval_standalone(&self, expr: &Expr, frame_size: usize) -> Result<Value> {
        let empty = Value::Absent;
        let mut frame = Frame {
            slots: vec![Value::Absent; frame_size.max(1)],
            input: &empty,
            depth: 0,
        };
        self.eval(expr, &mut frame)
    }

    /// Runs one flow on one record.
    pub fn run_flow(
        &self,
        flow: &Flow,
        input: &Value,
        resolver: &mut dyn Resolver,
    ) -> Result<Outcome> {
        match self.map_record(flow, input, resolver) {
            Err(e) if e.skip => Ok(Outcome::Skipped(Some(e.message))),
            other => other,
        }
    }

    fn map_record(
        &self,
        flow: &Flow,
        input: &Value,
        resolver: &mut dyn Resolver,
    ) -> Result<Outcome> {
        let mut frame = Frame {
            slots: vec![Value::Absent; flow.frame_size],
            input,
            depth: 0,
        };
        if let Some(filter) = &flow.filter {
            match self.eval(filter, &mut frame)? {
                Value::Bool(true) => {}
                Value::Bool(false) => return Ok(Outcome::Skipped(None)),
                other => {
                    return Err(EvalError::new(
                        unusable(other.is_missing()),
                        format!("the `where` filter gave {} instead of true or false", crate::value::describe(&other)),
                        None,
                    )
                    .help("make the filter a comparison, e.g. `status == 1`, or handle missing values with `?? false`"))
                }
            }
        }
        let key = match &flow.key {
            Some((expr, path)) => {
                let v = self
                    .eval(expr, &mut frame)
                    .map_err(|e| e.in_field(|| "key".into()))?;
                if v.is_missing() {
                    return Err(EvalError::new(
                        &codes::E0901,
                        "the key is missing for this record",
                        None,
                    )
                    .help("every record needs a key; use `??` to build one from another field"));
                }
                Some((path.clone(), v))
            }
            None => None,
        };
        let payload = self.run_mapping(&flow.mapping, &mut frame, resolver, &String::new)?;
        Ok(Outcome::Mapped(Mapped { key, payload }))
    }

    fn run_mapping(
        &self,
        mapping: &Mapping,
        frame: &mut Frame<'_>,
        resolver: &mut dyn Resolver,
        prefix: &dyn Fn() -> String,
    ) -> Result<Payload> {
        let common = self.run_ops(&mapping.common, frame, resolver, prefix)?;
        let create_only = self.run_ops(&mapping.on_create, frame, resolver, prefix)?;
        let update_only = self.run_ops(&mapping.on_update, frame, resolver, prefix)?;
        // Each side gets its own lists, also from an `each` inside `on create`
        // or `on update` (its update lists, or create lists, go nowhere).
        let mut create_payload = common.fields.clone();
        for part in [
            &common.create_lists,
            &create_only.fields,
            &create_only.create_lists,
        ] {
            merge_into(&mut create_payload, part);
        }
        let mut update_payload = common.fields;
        for part in [
            &common.update_lists,
            &update_only.fields,
            &update_only.update_lists,
        ] {
            merge_into(&mut update_payload, part);
        }
        for path in &mapping.keep {
            update_payload.remove_path(path);
        }
        Ok(Payload {
            create: create_payload,
            update: update_payload,
        })
    }

    fn run_ops(
        &self,
        ops: &[Op],
        frame: &mut Frame<'_>,
        resolver: &mut dyn Resolver,
        prefix: &dyn Fn() -> String,
    ) -> Result<Built> {
        let mut built = Built::default();
        for op in ops {
            match op {
                Op::Let { slot, expr } => {
                    let v = self.eval(expr, frame)?;
                    frame.slots[*slot] = v;
                }
                Op::Map { path, expr, .. } => {
                    let v = self
                        .eval(expr, frame)
                        .map_err(|e| e.in_field(|| join_path(&prefix(), path)))?;
                    if !matches!(v, Value::Absent) {
                        built.fields.set_path(path, v);
                    }
                }
                Op::Each(each) => {
                    let list = self
                        .eval(&each.list, frame)
                        .map_err(|e| e.in_field(|| join_path(&prefix(), &each.path)))?;
                    let items =
                        match &list {
                            Value::List(items) => items.clone(),
                            Value::Absent | Value::Null => return Err(EvalError::new(
                                &codes::E0901,
                                "the list to iterate is missing",
                                Some(each.span),
                            )
                            .help("use `each (list ?? []) as …` to map no items when it is missing")
                            .in_field(|| join_path(&prefix(), &each.path))),
                            other => {
                                return Err(EvalError::new(
                                    &codes::E0902,
                                    format!(
                                        "`each` needs a list, got {}",
                                        crate::value::describe(other)
                                    ),
                                    Some(each.span),
                                ))
                            }
                        };
                    let split = !each.body.on_create.is_empty()
                        || !each.body.on_update.is_empty()
                        || !each.body.keep.is_empty();
                    // Earlier blocks may have written elements of this list already.
                    let earlier = |r: &Record| match r.get_path(&each.path) {
                        Some(Value::List(l)) => (**l).clone(),
                        _ => Vec::new(),
                    };
                    let (lists_create, lists_update) = if split {
                        (&built.create_lists, &built.update_lists)
                    } else {
                        (&built.fields, &built.fields)
                    };
                    let mut created = earlier(lists_create);
                    let mut updated = earlier(lists_update);
                    let first = created.len();
                    let mut index = 0;
                    for item in items.iter() {
                        frame.slots[each.slot] = item.clone();
                        if let Some(slot) = each.position {
                            frame.slots[slot] = Value::int((first + index + 1) as i64);
                        }
                        if let Some(filter) = &each.filter {
                            match self.eval(filter, frame)? {
                                Value::Bool(true) => {}
                                Value::Bool(false) => continue,
                                other => {
                                    return Err(EvalError::new(
                                        &codes::E0902,
                                        format!(
                                            "the `each … where` filter gave {}",
                                            crate::value::describe(&other)
                                        ),
                                        Some(each.span),
                                    ))
                                }
                            }
                        }
                        // The field path is only spelled out when an error needs it.
                        let element_prefix =
                            || format!("{}[{}]", join_path(&prefix(), &each.path), first + index);
                        let payload =
                            self.run_mapping(&each.body, frame, resolver, &element_prefix)?;
                        created.push(Value::record(payload.create));
                        if split {
                            updated.push(Value::record(payload.update));
                        }
                        index += 1;
                    }
                    if split {
                        built
                            .create_lists
                            .set_path(&each.path, Value::list(created));
                        built
                            .update_lists
                            .set_path(&each.path, Value::list(updated));
                    } else {
                        built.fields.set_path(&each.path, Value::list(created));
                    }
                }
                Op::Upsert(upsert) => {
                    let schema = &self.program.schemas[upsert.schema];
                    if let Some(filter) = &upsert.filter {
                        match self.eval(filter, frame)? {
                            Value::Bool(true) => {}
                            Value::Bool(false) => {
                                frame.slots[upsert.slot] = Value::Absent;
                                continue;
                            }
                            other => {
                                return Err(ops::not_bool(&other, "upsert … where", upsert.span))
                            }
                        }
                    }
                    let match_value = self.eval(&upsert.match_value, frame)?;
                    if match_value.is_missing() {
                        return Err(EvalError::new(
                            &codes::E0901,
                            format!("the value to match {} on is missing", schema.name),
                            Some(upsert.span),
                        ));
                    }
                    let payload = self.run_mapping(&upsert.mapping, frame, resolver, &|| {
                        schema.name.to_string()
                    })?;
                    let stored = resolver.upsert(UpsertRequest {
                        schema,
                        match_field: &upsert.match_field,
                        match_value,
                        payload,
                    })?;
                    frame.slots[upsert.slot] = stored;
                }
            }
        }
        Ok(built)
    }

    fn global(&self, i: usize) -> Result<Value> {
        self.globals[i]
            .get_or_init(|| {
                let g = &self.program.globals[i];
                self.eval_standalone(&g.expr, g.frame_size)
            })
            .clone()
    }

    /// `resource[Field: value, …]`: the one record holding these values;
    /// `resource[* Field: value, …]` (`all`): every one, as a list.
    fn find(
        &self,
        schema: &Schema,
        conditions: &[(Arc<str>, Expr)],
        (on_miss, all): (OnMiss, bool),
        span: Span,
        frame: &mut Frame<'_>,
    ) -> Result<Value> {
        let mut wanted = Vec::with_capacity(conditions.len());
        for (field, e) in conditions {
            let v = self.eval(e, frame)?;
            if v.is_missing() {
                return Err(EvalError::new(
                    &codes::E0901,
                    format!(
                        "the {field} to look {} up by is {}",
                        schema.name,
                        v.type_name()
                    ),
                    Some(span),
                )
                .help("supply a fallback with `?? …` before looking it up"));
            }
            wanted.push((field.clone(), v));
        }
        let Some(references) = self.references else {
            return Err(EvalError::new(
                &codes::E0905,
                format!("{} cannot be read here", schema.name),
                Some(span),
            ));
        };
        if all {
            let records = references.records_where(schema, &wanted)?;
            return Ok(Value::list(
                find::matching(&records, &wanted)
                    .into_iter()
                    .map(|r| Value::record(r.clone()))
                    .collect(),
            ));
        }
        let records = references.records(schema)?;
        let unresolved = |why: String| {
            let fields: Vec<Arc<str>> = wanted.iter().map(|(f, _)| f.clone()).collect();
            EvalError::new(&codes::E0910, why, Some(span)).help(format!(
                "what {} holds: {}",
                schema.name,
                find::describe_existing(&records, &fields)
            ))
        };
        match find::find(&records, &wanted) {
            find::Found::One(r) => Ok(Value::record(r.clone())),
            find::Found::None if on_miss == OnMiss::Absent => Ok(Value::Absent),
            find::Found::None => Err(unresolved(format!(
                "{} has no record{}",
                schema.name,
                find::describe_wanted(&wanted)
            ))),
            find::Found::Many(hits) => Err(unresolved(format!(
                "{} has {} records{}; add a condition that tells them apart",
                schema.name,
                hits.len(),
                find::describe_wanted(&wanted)
            ))),
        }
    }

    /// Evaluates one node. Nesting is bounded by the parser (E0007) and
    /// recursion of `fn`s by [`stack_guard`]; deep trees get more stack
    /// rather than overflowing a worker's.
    #[inline]
    fn eval(&self, expr: &Expr, frame: &mut Frame<'_>) -> Result<Value> {
        match expr {
            // The leaves, without a stack check.
            Expr::Const(v) => Ok(v.clone()),
            Expr::Local(slot) => Ok(frame.slots[*slot].clone()),
            _ => {
                frame.depth += 1;
                let r = if frame.depth % STACK_CHECK_EVERY == 1 {
                    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.eval_node(expr, frame))
                } else {
                    self.eval_node(expr, frame)
                };
                frame.depth -= 1;
                r
            }
        }
    }

    fn eval_node(&self, expr: &Expr, frame: &mut Frame<'_>) -> Result<Value> {
        Ok(match expr {
            Expr::Const(v) => v.clone(),
            Expr::Local(slot) => frame.slots[*slot].clone(),
            Expr::Input(name) => match frame.input {
                Value::Record(r) => r.get(name).cloned().unwrap_or(Value::Absent),
                _ => Value::Absent,
            },
            Expr::InputRecord => frame.input.clone(),
            Expr::Global(i) => self.global(*i)?,
            Expr::Field {
                base,
                name,
                optional,
                span,
            } => {
                let b = self.eval(base, frame)?;
                match b {
                    Value::Record(r) => r.get(name).cloned().unwrap_or(Value::Absent),
                    Value::Absent | Value::Null if *optional => Value::Absent,
                    Value::Absent | Value::Null => {
                        return Err(EvalError::new(
                            &codes::E0901,
                            format!(
                                "cannot read `.{name}`: the value before it is {}",
                                b.type_name()
                            ),
                            Some(*span),
                        )
                        .help(format!(
                            "use `?.{name}` to get an absent value instead, then `?? default`"
                        )))
                    }
                    other => {
                        return Err(EvalError::new(
                            &codes::E0902,
                            format!(
                                "cannot read `.{name}` of {}",
                                crate::value::describe(&other)
                            ),
                            Some(*span),
                        ))
                    }
                }
            }
            Expr::Index { base, index, span } => {
                let b = self.eval(base, frame)?;
                let i = self.eval(index, frame)?;
                ops::index(&b, &i, *span)?
            }
            Expr::Lookup {
                table,
                key,
                on_miss,
                span,
            } => {
                let t = &self.program.tables[*table];
                let k = self.eval(key, frame)?;
                let key = crate::program::TableKey::of(&k).ok_or_else(|| {
                    EvalError::new(
                        unusable(k.is_missing()),
                        format!("{} cannot be a table key", crate::value::describe(&k)),
                        Some(*span),
                    )
                })?;
                match t.rows.get(&key).or(t.default.as_ref()) {
                    Some(v) => v.clone(),
                    None if *on_miss == OnMiss::Absent => Value::Absent,
                    None => {
                        return Err(EvalError::new(
                            &codes::E0903,
                            format!("table `{}` has no row for {} and no default row", t.name, crate::value::describe(&k)),
                            Some(*span),
                        )
                        .help(format!("add a row for it to `{}`, a default row `_ => …`, or handle it with `?? …`", t.name)))
                    }
                }
            }
            Expr::Find {
                schema,
                conditions,
                on_miss,
                all,
                span,
            } => self.find(
                &self.program.schemas[*schema],
                conditions,
                (*on_miss, *all),
                *span,
                frame,
            )?,
            Expr::Builtin { func, args, span } => {
                let mut values = Vec::with_capacity(args.len());
                for (i, a) in args.iter().enumerate() {
                    let v = self.eval(a, frame)?;
                    let param = &func.params[i.min(func.params.len().saturating_sub(1))];
                    if v.is_missing() && !param.accepts_missing {
                        return Err(EvalError::new(
                            &codes::E0901,
                            format!(
                                "{}() got {} for `{}`",
                                func.name,
                                if matches!(v, Value::Null) {
                                    "null"
                                } else {
                                    "an absent value"
                                },
                                param.name
                            ),
                            Some(*span),
                        )
                        .help("supply a fallback with `?? …` before passing it"));
                    }
                    values.push(v);
                }
                (func.eval)(&values).map_err(|message| match func.name {
                    "fail" => EvalError::new(&codes::E0909, message, Some(*span)),
                    "skip" => {
                        let mut e = EvalError::new(&codes::E0909, message, Some(*span));
                        e.skip = true;
                        e
                    }
                    _ => EvalError::new(
                        &codes::E0905,
                        format!("{}(): {message}", func.name),
                        Some(*span),
                    ),
                })?
            }
            Expr::CallFn { func, args, span } => {
                let f = &self.program.functions[*func];
                let mut slots = vec![Value::Absent; f.frame_size.max(args.len())];
                for (i, a) in args.iter().enumerate() {
                    slots[i] = self.eval(a, frame)?;
                }
                let mut inner = Frame {
                    slots,
                    input: frame.input,
                    depth: 0,
                };
                let levels = stack_guard(f.depth, *span)?;
                let r = self.eval(&f.body, &mut inner);
                stack_release(levels);
                r?
            }
            Expr::Not(e, span) => match self.eval(e, frame)? {
                Value::Bool(b) => Value::Bool(!b),
                other => return Err(ops::not_bool(&other, "not", *span)),
            },
            Expr::Neg(e, span) => match self.eval(e, frame)? {
                Value::Num(d) => Value::Num(-d),
                other => return Err(ops::not_number(&other, "-", *span)),
            },
            Expr::Binary { op, lhs, rhs, span } => match op {
                BinaryOp::And | BinaryOp::Or => {
                    let l = self.eval(lhs, frame)?;
                    let Value::Bool(l) = l else {
                        return Err(ops::not_bool(&l, op.symbol(), *span));
                    };
                    if (*op == BinaryOp::And && !l) || (*op == BinaryOp::Or && l) {
                        Value::Bool(l)
                    } else {
                        let r = self.eval(rhs, frame)?;
                        let Value::Bool(r) = r else {
                            return Err(ops::not_bool(&r, op.symbol(), *span));
                        };
                        Value::Bool(r)
                    }
                }
                BinaryOp::Coalesce => {
                    let l = self.eval(lhs, frame)?;
                    if l.is_missing() {
                        self.eval(rhs, frame)?
                    } else {
                        l
                    }
                }
                _ => {
                    let l = self.eval(lhs, frame)?;
                    let r = self.eval(rhs, frame)?;
                    ops::binary(*op, &l, &r, *span)?
                }
            },
            Expr::If {
                cond,
                then,
                otherwise,
                span,
            } => match self.eval(cond, frame)? {
                Value::Bool(true) => self.eval(then, frame)?,
                Value::Bool(false) => self.eval(otherwise, frame)?,
                other => return Err(ops::not_bool(&other, "if", *span)),
            },
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i, frame)?);
                }
                Value::list(out)
            }
            Expr::Comprehension {
                item,
                slot,
                list,
                filter,
                span,
            } => {
                let items =
                    match self.eval(list, frame)? {
                        Value::List(items) => items,
                        other => return Err(EvalError::new(
                            unusable(other.is_missing()),
                            format!("`for` needs a list, got {}", crate::value::describe(&other)),
                            Some(*span),
                        )
                        .help(
                            "use `for x in (list ?? [])` to get an empty list when it is missing",
                        )),
                    };
                let mut out = Vec::with_capacity(items.len());
                for x in items.iter() {
                    frame.slots[*slot] = x.clone();
                    if let Some(f) = filter {
                        match self.eval(f, frame)? {
                            Value::Bool(true) => {}
                            Value::Bool(false) => continue,
                            other => return Err(ops::not_bool(&other, "for … where", *span)),
                        }
                    }
                    out.push(self.eval(item, frame)?);
                }
                Value::list(out)
            }
            Expr::Record(fields) => {
                let mut r = Record::with_capacity(fields.len());
                for (k, e) in fields {
                    let v = self.eval(e, frame)?;
                    r.insert(k.clone(), v);
                }
                Value::record(r)
            }
            Expr::Interpolate(parts, span) => {
                let mut out = String::new();
                for p in parts {
                    let v = self.eval(p, frame)?;
                    match v.to_text() {
                        Some(t) => out.push_str(&t),
                        None if v.is_missing() => {
                            return Err(EvalError::new(
                                &codes::E0901,
                                format!(
                                    "a value interpolated into this string is {}",
                                    v.type_name()
                                ),
                                Some(*span),
                            )
                            .help("write `{x ?? \"\"}` to interpolate nothing instead"))
                        }
                        None => {
                            return Err(EvalError::new(
                                &codes::E0902,
                                format!(
                                    "{} cannot be interpolated into a string",
                                    crate::value::describe(&v)
                                ),
                                Some(*span),
                            ))
                        }
                    }
                }
                Value::Str(Arc::from(out))
            }
        })
    }
}

thread_local! {
    /// User-function calls in progress on this thread, and the levels of
    /// evaluation their bodies take.
    static STACK: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Every this many levels of nodes (and at each call), the stack is
/// checked: at least [`RED_ZONE`] must be left, else evaluation goes on on a
/// new segment of [`STACK_SEGMENT`]. A level takes about 20 KiB unoptimised,
/// so the red zone covers the levels between two checks.
const STACK_CHECK_EVERY: u32 = 16;
const RED_ZONE: usize = 512 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// The most user-function calls that may be in progress at once.
pub const MAX_CALLS: usize = 200;
/// The most levels of evaluation that calls in progress may nest: each call
/// costs its body's depth, so a recursive function with a deep body stops
/// here, before it reaches [`MAX_CALLS`], with E0905 instead of using
/// unbounded memory.
pub const MAX_CALL_LEVELS: usize = 10_000;

/// Recursion is allowed in `fn`s, but not without end: at most
/// [`MAX_CALLS`] calls and [`MAX_CALL_LEVELS`] levels deep. Returns the
/// levels taken, to give back with [`stack_release`].
fn stack_guard(levels: usize, span: Span) -> Result<usize> {
    let (calls, used) = STACK.with(|d| d.get());
    if calls >= MAX_CALLS || used + levels > MAX_CALL_LEVELS {
        return Err(EvalError::new(
            &codes::E0905,
            if calls >= MAX_CALLS {
                format!("functions call each other more than {MAX_CALLS} deep")
            } else {
                format!(
                    "functions call each other too deeply: {calls} calls nest {} levels of \
                     evaluation, the limit is {MAX_CALL_LEVELS}",
                    used + levels
                )
            },
            Some(span),
        )
        .help("check that the recursion reaches its base case"));
    }
    STACK.with(|d| d.set((calls + 1, used + levels)));
    Ok(levels)
}

fn stack_release(levels: usize) {
    STACK.with(|d| {
        let (calls, used) = d.get();
        d.set((calls.saturating_sub(1), used.saturating_sub(levels)));
    });
}

fn merge_into(base: &mut Record, extra: &Record) {
    for (k, v) in extra.iter() {
        base.insert(k.clone(), v.clone());
    }
}

fn join_path(prefix: &str, path: &[Arc<str>]) -> String {
    let p = path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
    if prefix.is_empty() {
        p
    } else {
        format!("{prefix}.{p}")
    }
}

/// The code of a value an operation cannot use: E0901 when it is missing
/// (the usual fix is a fallback with `??`), E0902 when it is of the wrong kind.
fn unusable(missing: bool) -> &'static codes::Code {
    if missing {
        &codes::E0901
    } else {
        &codes::E0902
    }
}

pub(crate) fn decimal_error(op: &str, span: Span) -> EvalError {
    EvalError::new(
        &codes::E0904,
        format!("`{op}` needs more than the 28 significant digits of the exact decimal range"),
        Some(span),
    )
}

#[cfg(test)]
mod tests;
