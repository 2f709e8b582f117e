//! The checked program: what the checker hands to the interpreter. Names are
//! resolved to slots and tables, functions are bound, types are gone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::functions::Builtin;
use crate::source_map::Span;
use crate::types::RecordType;
use crate::value::names::NameSet;
use crate::value::Value;

#[derive(Debug, Clone)]
pub enum Expr {
    Const(Value),
    /// A slot in the current frame (let, each variable, upsert variable, fn parameter).
    Local(usize),
    /// A field of the source record being mapped.
    Input(Arc<str>),
    /// The whole source record.
    InputRecord,
    /// A module-level `let`, computed once when the program loads.
    Global(usize),
    Field {
        base: Box<Expr>,
        name: Arc<str>,
        optional: bool,
        span: Span,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
        span: Span,
    },
    Lookup {
        table: usize,
        key: Box<Expr>,
        on_miss: OnMiss,
        span: Span,
    },
    /// The one record of a resource whose fields hold these values
    /// (`eaccounting.vatcodes[Code: "VH"]`), read once per run; with `all`
    /// (`ccvshop.orders[* status: 2]`), every such record, as a list.
    Find {
        schema: usize,
        conditions: Vec<(Arc<str>, Expr)>,
        on_miss: OnMiss,
        all: bool,
        span: Span,
    },
    Builtin {
        func: &'static Builtin,
        args: Vec<Expr>,
        span: Span,
    },
    CallFn {
        func: usize,
        args: Vec<Expr>,
        span: Span,
    },
    Not(Box<Expr>, Span),
    Neg(Box<Expr>, Span),
    Binary {
        op: crate::syntax::ast::BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
        span: Span,
    },
    List(Vec<Expr>),
    /// `[item for x in list where filter]`, `x` in `slot`.
    Comprehension {
        item: Box<Expr>,
        slot: usize,
        list: Box<Expr>,
        filter: Option<Box<Expr>>,
        span: Span,
    },
    Record(Vec<(Arc<str>, Expr)>),
    Interpolate(Vec<Expr>, Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMiss {
    /// Directly under `??`: a miss is an absent value for the fallback to replace.
    Absent,
    /// Anywhere else: a miss fails the record (E0903).
    Fail,
}

/// A table key, compared the way `==` compares: numbers by exact value
/// (`21`, `21.0` and `21.00` are one key), strings by text, and a number never
/// equals a string (`1` is not `"1"`). Dates are keys by their ISO text, as
/// `@2024-01-31 == "2024-01-31"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableKey {
    Str(Arc<str>),
    Num(rust_decimal::Decimal),
    /// A number beyond the exact range, by its canonical digits.
    Big(String),
    Bool(bool),
}

impl TableKey {
    /// The key a value looks up, if it can be one.
    pub fn of(v: &Value) -> Option<TableKey> {
        Some(match v {
            Value::Str(s) => TableKey::Str(s.clone()),
            Value::Num(d) => TableKey::Num(crate::value::unsigned_zero(d.normalize())),
            Value::BigNum(s) => TableKey::Big(crate::value::number_key(s)),
            Value::Bool(b) => TableKey::Bool(*b),
            Value::Date(_) | Value::DateTime(_) => TableKey::Str(Arc::from(v.to_text()?)),
            _ => return None,
        })
    }
}

impl std::fmt::Display for TableKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableKey::Str(s) => write!(f, "{s:?}"),
            TableKey::Num(d) => write!(f, "{d}"),
            TableKey::Big(s) => f.write_str(s),
            TableKey::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: Arc<str>,
    /// Rows by key; lookups compare keys by value (see [`TableKey`]).
    pub rows: HashMap<TableKey, Value>,
    pub default: Option<Value>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub name: Arc<str>,
    pub arity: usize,
    /// Slots needed by the body (parameters first).
    pub frame_size: usize,
    pub body: Expr,
    /// How deep the body nests: what one call costs of the interpreter's
    /// recursion budget.
    pub depth: usize,
}

#[derive(Debug, Clone)]
pub struct Global {
    pub name: Arc<str>,
    pub expr: Expr,
    pub frame_size: usize,
    /// The `let` that declares it.
    pub span: Span,
}

/// Where records come from or go to.
#[derive(Debug, Clone)]
pub enum Endpoint {
    File {
        path: PathBuf,
        display: String,
        format: FileFormat,
        schema: Option<Arc<str>>,
    },
    Resource {
        schema: Arc<str>,
        connection: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Ndjson,
    Csv,
}

impl FileFormat {
    pub fn from_path(path: &str) -> Option<FileFormat> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            Some(FileFormat::Ndjson)
        } else if lower.ends_with(".json") {
            Some(FileFormat::Json)
        } else if lower.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub name: Arc<str>,
    pub resource: Option<Arc<str>>,
    pub key: Option<Arc<str>>,
    /// The field incremental reads resume from.
    pub cursor: Option<Arc<str>>,
    /// Fields that change after a record was created: a record the `where`
    /// rejects on one of them may qualify later, so the cursor waits for it.
    pub mutable: Vec<Arc<str>>,
    pub record: Arc<RecordType>,
    pub connection: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub name: Arc<str>,
    pub connector: Arc<str>,
    pub settings: Vec<(Arc<str>, SettingValue)>,
}

/// A connection setting, resolved when the connection is opened, not when checked.
#[derive(Debug, Clone)]
pub enum SettingValue {
    Literal(Value),
    Env {
        name: Arc<str>,
        default: Option<Arc<str>>,
    },
    File(PathBuf),
}

/// One mapping step, run in order for every record.
#[derive(Debug, Clone)]
pub enum Op {
    Let {
        slot: usize,
        expr: Expr,
    },
    Map {
        path: Vec<Arc<str>>,
        expr: Expr,
        span: Span,
    },
    Each(Box<EachOp>),
    Upsert(Box<UpsertOp>),
}

#[derive(Debug, Clone)]
pub struct EachOp {
    pub list: Expr,
    pub slot: usize,
    /// `at n`: the slot that holds the element's 1-based position in the
    /// target list (after the elements earlier blocks appended).
    pub position: Option<usize>,
    pub filter: Option<Expr>,
    pub path: Vec<Arc<str>>,
    pub body: Mapping,
    pub span: Span,
}

/// What is written: fields for both cases, plus create-only and update-only.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub common: Vec<Op>,
    pub on_create: Vec<Op>,
    pub on_update: Vec<Op>,
    /// Fields never overwritten on update.
    pub keep: Vec<Vec<Arc<str>>>,
}

#[derive(Debug, Clone)]
pub struct UpsertOp {
    pub schema: usize,
    pub slot: usize,
    /// Upsert only when this holds; otherwise the slot holds an absent value.
    pub filter: Option<Expr>,
    pub match_value: Expr,
    pub match_field: Vec<Arc<str>>,
    pub mapping: Mapping,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub name: Arc<str>,
    pub source: Endpoint,
    pub source_schema: Option<usize>,
    pub target: Endpoint,
    pub target_schema: Option<usize>,
    pub filter: Option<Expr>,
    /// `when …`: the flow is off unless this is true (needs no record),
    /// with the frame size it needs.
    pub when: Option<(Expr, usize)>,
    /// `reread DAYS`: each run reads the source's last DAYS days again
    /// (by its cursor), with the frame size it needs.
    pub reread: Option<(Expr, usize)>,
    pub key: Option<(Expr, Vec<Arc<str>>)>,
    pub mapping: Mapping,
    pub frame_size: usize,
    pub span: Span,
    /// The declaring file's directory: relative paths are resolved from it.
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: Arc<str>,
    pub flow: usize,
    pub input: Expr,
    pub given: Vec<(usize, Expr)>,
    pub expect: Vec<Expectation>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Expectation {
    Skip(Option<Arc<str>>, Span),
    Error(Option<Arc<str>>, Span),
    Write {
        verb: crate::syntax::ast::WriteVerb,
        schema: Option<usize>,
        payload: Expr,
        span: Span,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Program {
    pub flows: Vec<Flow>,
    pub tables: Vec<Table>,
    pub functions: Vec<Function>,
    pub globals: Vec<Global>,
    pub schemas: Vec<Schema>,
    pub connections: Vec<Connection>,
    pub tests: Vec<TestCase>,
}

impl Program {
    /// The most slots any flow, `let` or function needs: enough to compute
    /// any of their expressions on its own.
    pub fn largest_frame(&self) -> usize {
        let flows = self.flows.iter().map(|f| f.frame_size);
        let globals = self.globals.iter().map(|g| g.frame_size);
        let fns = self.functions.iter().map(|f| f.frame_size);
        flows.chain(globals).chain(fns).max().unwrap_or(0).max(1)
    }

    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| &*f.name == name)
    }
}

impl Flow {
    /// The top-level source fields the `where` filter reads (`None`: the
    /// whole record); empty without a filter.
    pub fn filter_fields(&self) -> Option<NameSet> {
        let mut fields = NameSet::default();
        let mut whole = false;
        if let Some(f) = &self.filter {
            walk_expr(f, &mut fields, &mut whole);
        }
        (!whole).then_some(fields)
    }

    /// The top-level source fields the flow reads, or `None` when it reads
    /// the record as a whole (then every field is needed).
    pub fn input_fields(&self) -> Option<NameSet> {
        let mut fields = NameSet::default();
        let mut whole = false;
        let mut visit = |e: &Expr| walk_expr(e, &mut fields, &mut whole);
        if let Some(f) = &self.filter {
            visit(f);
        }
        if let Some((k, _)) = &self.key {
            visit(k);
        }
        walk_mapping(&self.mapping, &mut visit);
        (!whole).then_some(fields)
    }
}

/// A lookup by natural key whose values are known before any record is
/// read: constants, or values drawn from tables and `let`s.
#[derive(Debug, Clone)]
pub struct Reference {
    pub schema: usize,
    pub wanted: Vec<(Arc<str>, Value)>,
    pub span: Span,
    /// Settings conditions it stands under (`if SETTING then lookup else …`):
    /// each must have the value given for the lookup to be needed.
    pub guards: Vec<(Expr, bool)>,
    /// Where its values are set: the `let`s and tables they come from.
    pub origins: Vec<Span>,
}

/// The lookups by natural key a flow can reach.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    /// Those known before any record is read, once per combination of values.
    pub references: Vec<Reference>,
    /// Lookups only some of whose conditions are known before a run
    /// (`[VatRatePercent: row.rate, Type: settings.coding_type]`), with
    /// just those: when no record matches them, no record can match the
    /// lookup. `flowc doctor` checks them; a run leaves them to each record.
    pub partial: Vec<Reference>,
    /// The schema of every lookup, known or not.
    pub schemas: Vec<usize>,
    /// Some lookup is a list of every matching record (`[* …]`): what the
    /// flow maps depends on records other than the source record.
    pub lists: bool,
}

impl Program {
    /// The values `e` can have when they do not depend on the record (a
    /// setting, any value of a table): `None` when they do.
    pub fn known_values(&self, e: &Expr) -> Option<Vec<Value>> {
        candidates(self, &Locals::new(), e, 0)
    }

    /// Where the values of `e` are set: the `let`s and tables it reads.
    pub fn value_origins(&self, e: &Expr) -> Vec<Span> {
        let mut out = Vec::new();
        value_origins(self, &Locals::new(), e, 0, &mut out);
        out
    }

    /// The lookups `flow` can reach through its lets, tables and functions.
    /// One whose values depend on the record is left to run time, unless
    /// its values can only come from a table: then each value the table
    /// holds is a reference.
    pub fn lookups(&self, flow: &Flow) -> Lookups {
        let mut locals = Locals::new();
        mapping_lets(&flow.mapping, &mut locals);
        let mut walk = RefWalk {
            program: self,
            seen_globals: std::collections::HashSet::new(),
            seen_fns: std::collections::HashSet::new(),
            guards: Vec::new(),
            found: Lookups::default(),
            locals,
            in_fn: 0,
        };
        let mut visit = |e: &Expr| walk.expr(e);
        if let Some(f) = &flow.filter {
            visit(f);
        }
        if let Some((k, _)) = &flow.key {
            visit(k);
        }
        walk_mapping(&flow.mapping, &mut visit);
        walk.found
    }
}

struct RefWalk<'p> {
    program: &'p Program,
    /// Lets and functions walked, and whether under a guard.
    seen_globals: std::collections::HashSet<(usize, bool)>,
    seen_fns: std::collections::HashSet<(usize, bool)>,
    /// The settings conditions of the `if`s being walked.
    guards: Vec<(Expr, bool)>,
    found: Lookups,
    /// The flow's `let`s by slot, to follow `terms.days` to the table
    /// `terms` is read from.
    locals: Locals,
    /// Inside a function body, whose slots are its own, not the flow's.
    in_fn: usize,
}

/// A flow's `let`s by slot; `None` for a slot two lets share.
type Locals = HashMap<usize, Option<Expr>>;

fn mapping_lets(m: &Mapping, out: &mut Locals) {
    for op in m.common.iter().chain(&m.on_create).chain(&m.on_update) {
        match op {
            Op::Let { slot, expr } => {
                out.entry(*slot)
                    .and_modify(|e| *e = None)
                    .or_insert_with(|| Some(expr.clone()));
            }
            Op::Each(e) => mapping_lets(&e.body, out),
            Op::Upsert(u) => mapping_lets(&u.mapping, out),
            Op::Map { .. } => {}
        }
    }
}

impl RefWalk<'_> {
    /// Every lookup in `e`, and in the lets and functions it uses.
    fn expr(&mut self, e: &Expr) {
        let guarded = !self.guards.is_empty();
        match e {
            // `if SETTING then a else b`: a lookup in `a` is needed only
            // when the setting holds.
            Expr::If {
                cond,
                then,
                otherwise,
                ..
            } if !reads_record(cond) => {
                self.expr(cond);
                for (branch, holds) in [(then, true), (otherwise, false)] {
                    self.guards.push(((**cond).clone(), holds));
                    self.expr(branch);
                    self.guards.pop();
                }
            }
            Expr::Global(i) => {
                if self.seen_globals.insert((*i, guarded)) {
                    self.expr(&self.program.globals[*i].expr);
                }
            }
            Expr::CallFn { func, args, .. } => {
                args.iter().for_each(|a| self.expr(a));
                if self.seen_fns.insert((*func, guarded)) {
                    self.in_fn += 1;
                    self.expr(&self.program.functions[*func].body);
                    self.in_fn -= 1;
                }
            }
            Expr::Find {
                schema,
                conditions,
                span,
                all,
                on_miss,
            } => {
                conditions.iter().for_each(|(_, x)| self.expr(x));
                if !self.found.schemas.contains(schema) {
                    self.found.schemas.push(*schema);
                }
                // A list of every match cannot name nothing: no reference.
                if *all {
                    self.found.lists = true;
                } else {
                    // Under `??` a miss is a value: nothing to find unmatchable.
                    self.find(*schema, conditions, *span, *on_miss == OnMiss::Fail);
                }
            }
            other => children(other).into_iter().for_each(|c| self.expr(c)),
        }
    }

    /// Records a lookup as references when its values are known: every
    /// combination, as long as at most one condition has several values
    /// (two tables crossed would name combinations nobody asked for) or
    /// the conditions that vary are fields of one table's rows
    /// (`[NumberOfDays: terms.days, TermsOfPaymentTypeId: terms.kind]`).
    fn find(
        &mut self,
        schema: usize,
        conditions: &[(Arc<str>, Expr)],
        span: Span,
        must_match: bool,
    ) {
        self.record(schema, conditions, span, false, must_match);
    }

    /// Records the combinations of `conditions`; a lookup with conditions
    /// that depend on the record is recorded as `partial` with the others.
    fn record(
        &mut self,
        schema: usize,
        conditions: &[(Arc<str>, Expr)],
        span: Span,
        partial: bool,
        must_match: bool,
    ) {
        let no_locals = Locals::new();
        let locals = if self.in_fn == 0 {
            &self.locals
        } else {
            &no_locals
        };
        let mut each = Vec::new();
        for (field, e) in conditions {
            let Some(values) = candidates(self.program, locals, e, 0) else {
                if !partial && must_match {
                    let known: Vec<(Arc<str>, Expr)> = conditions
                        .iter()
                        .filter(|(_, e)| candidates(self.program, locals, e, 0).is_some())
                        .cloned()
                        .collect();
                    if !known.is_empty() {
                        self.record(schema, &known, span, true, true);
                    }
                }
                return;
            };
            each.push((field.clone(), values));
        }
        let combinations = if each.iter().filter(|(_, v)| v.len() > 1).count() > 1 {
            match table_rows(self.program, locals, conditions, &each) {
                Some(rows) => rows,
                None => return,
            }
        } else {
            let varying = each.iter().position(|(_, v)| v.len() > 1);
            let choices = varying.map_or(1, |i| each[i].1.len());
            (0..choices)
                .map(|choice| {
                    each.iter()
                        .enumerate()
                        .map(|(i, (f, v))| {
                            let pick = if Some(i) == varying { choice } else { 0 };
                            (f.clone(), v[pick].clone())
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for wanted in combinations {
            if wanted.iter().any(|(_, v)| v.is_missing()) {
                continue;
            }
            let same =
                |r: &Reference| r.schema == schema && r.wanted == wanted && r.guards.is_empty();
            let list = if partial {
                &self.found.partial
            } else {
                &self.found.references
            };
            if !list.iter().any(same) {
                let mut origins = Vec::new();
                for (_, e) in conditions {
                    value_origins(self.program, locals, e, 0, &mut origins);
                }
                let reference = Reference {
                    schema,
                    wanted,
                    span,
                    guards: self.guards.clone(),
                    origins,
                };
                if partial {
                    self.found.partial.push(reference);
                } else {
                    self.found.references.push(reference);
                }
            }
        }
    }
}

/// One combination of a lookup's conditions: field and value.
type Wanted = Vec<(Arc<str>, Value)>;

/// The combinations of a lookup whose varying conditions are all fields of
/// the rows of one table (`terms.days`, `terms.kind` with
/// `let terms = settings.terms_by_paymethod[paymethod]`): one per row, the
/// other conditions at their one value.
fn table_rows(
    program: &Program,
    locals: &Locals,
    conditions: &[(Arc<str>, Expr)],
    each: &[(Arc<str>, Vec<Value>)],
) -> Option<Vec<Wanted>> {
    let mut table = None;
    let mut fields = Vec::new();
    for ((_, e), (_, values)) in conditions.iter().zip(each) {
        if values.len() <= 1 {
            fields.push(None);
            continue;
        }
        let Expr::Field { base, name, .. } = e else {
            return None;
        };
        let t = table_of(program, locals, base, 0)?;
        if table.is_some_and(|x| x != t) {
            return None;
        }
        table = Some(t);
        fields.push(Some(name.clone()));
    }
    let t = &program.tables[table?];
    let mut rows: Vec<&Value> = t.rows.values().chain(t.default.as_ref()).collect();
    rows.sort_by_key(|v| v.to_string());
    let mut out: Vec<Wanted> = Vec::new();
    for row in rows {
        let wanted: Wanted = each
            .iter()
            .zip(&fields)
            .map(|((f, values), field)| {
                let v = match field {
                    Some(name) => row
                        .as_record()
                        .and_then(|r| r.get(name))
                        .cloned()
                        .unwrap_or_default(),
                    None => values.first().cloned().unwrap_or_default(),
                };
                (f.clone(), v)
            })
            .collect();
        if !out.contains(&wanted) {
            out.push(wanted);
        }
    }
    Some(out)
}

/// The table whose row `e` is, through `let`s.
fn table_of(program: &Program, locals: &Locals, e: &Expr, depth: usize) -> Option<usize> {
    if depth > 32 {
        return None;
    }
    match e {
        Expr::Lookup { table, .. } => Some(*table),
        Expr::Local(slot) => table_of(program, locals, locals.get(slot)?.as_ref()?, depth + 1),
        Expr::Global(i) => table_of(program, locals, &program.globals[*i].expr, depth + 1),
        _ => None,
    }
}

/// The `let`s and tables the values of `e` come from, for pointing at the
/// setting rather than at the expression that reads it.
fn value_origins(program: &Program, locals: &Locals, e: &Expr, depth: usize, out: &mut Vec<Span>) {
    if depth > 32 {
        return;
    }
    match e {
        Expr::Global(i) => {
            let g = &program.globals[*i];
            if !out.contains(&g.span) {
                out.push(g.span);
            }
            value_origins(program, locals, &g.expr, depth + 1, out);
        }
        Expr::Local(slot) => {
            if let Some(Some(expr)) = locals.get(slot) {
                value_origins(program, locals, expr, depth + 1, out);
            }
        }
        Expr::Lookup { table, .. } => {
            let span = program.tables[*table].span;
            if !out.contains(&span) {
                out.push(span);
            }
        }
        other => children(other)
            .into_iter()
            .for_each(|c| value_origins(program, locals, c, depth + 1, out)),
    }
}

/// The values an expression can have when they do not depend on the record:
/// a constant, a `let` of such values, any value of a table (whatever the
/// key), `a ?? b` and `if … then a else b` of such values, a field of them.
fn candidates(program: &Program, locals: &Locals, e: &Expr, depth: usize) -> Option<Vec<Value>> {
    if depth > 32 {
        return None;
    }
    let go = |x: &Expr| candidates(program, locals, x, depth + 1);
    let both = |a: &Expr, b: &Expr| {
        let mut v = go(a)?;
        v.extend(go(b)?);
        Some(v)
    };
    match e {
        Expr::Const(v) => Some(vec![v.clone()]),
        Expr::Global(i) => go(&program.globals[*i].expr),
        Expr::Local(slot) => go(locals.get(slot)?.as_ref()?),
        Expr::Lookup { table, .. } => {
            let t = &program.tables[*table];
            let mut values: Vec<Value> = t.rows.values().cloned().collect();
            values.extend(t.default.clone());
            values.sort_by_key(|v| v.to_string());
            values.dedup();
            Some(values)
        }
        Expr::Binary {
            op: crate::syntax::ast::BinaryOp::Coalesce,
            lhs,
            rhs,
            ..
        } => both(lhs, rhs),
        Expr::If {
            then, otherwise, ..
        } => both(then, otherwise),
        // A field of such records (`table[key].days`).
        Expr::Field { base, name, .. } => Some(
            go(base)?
                .iter()
                .map(|v| {
                    v.as_record()
                        .and_then(|r| r.get(name))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect(),
        ),
        _ => None,
    }
}

impl Expr {
    /// The depth of the tree (a leaf is 1).
    pub fn depth(&self) -> usize {
        children(self).iter().map(|c| c.depth()).max().unwrap_or(0) + 1
    }
}

fn walk_mapping(m: &Mapping, visit: &mut impl FnMut(&Expr)) {
    for op in m.common.iter().chain(&m.on_create).chain(&m.on_update) {
        match op {
            Op::Let { expr, .. } | Op::Map { expr, .. } => visit(expr),
            Op::Each(e) => {
                visit(&e.list);
                if let Some(f) = &e.filter {
                    visit(f);
                }
                walk_mapping(&e.body, visit);
            }
            Op::Upsert(u) => {
                if let Some(f) = &u.filter {
                    visit(f);
                }
                visit(&u.match_value);
                walk_mapping(&u.mapping, visit);
            }
        }
    }
}

/// Whether `e` reads the source record (or a local: a value that exists
/// only while a record is mapped).
pub fn reads_record(e: &Expr) -> bool {
    let mut any = false;
    walk_all(e, &mut |x| {
        any |= matches!(x, Expr::Input(_) | Expr::InputRecord | Expr::Local(_))
    });
    any
}

/// Every sub-expression of `e`, `e` first.
fn walk_all<'e>(e: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    f(e);
    for c in children(e) {
        walk_all(c, f);
    }
}

/// The direct sub-expressions of `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Const(_) | Expr::Local(_) | Expr::Input(_) | Expr::InputRecord | Expr::Global(_) => {
            vec![]
        }
        Expr::Field { base, .. } => vec![base],
        Expr::Index { base, index, .. } => vec![base, index],
        Expr::Lookup { key, .. } => vec![key],
        Expr::Find { conditions, .. } => conditions.iter().map(|(_, x)| x).collect(),
        Expr::Builtin { args, .. }
        | Expr::CallFn { args, .. }
        | Expr::List(args)
        | Expr::Interpolate(args, _) => args.iter().collect(),
        Expr::Not(x, _) | Expr::Neg(x, _) => vec![x],
        Expr::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        Expr::If {
            cond,
            then,
            otherwise,
            ..
        } => vec![cond, then, otherwise],
        Expr::Record(fields) => fields.iter().map(|(_, x)| x).collect(),
        Expr::Comprehension {
            item, list, filter, ..
        } => {
            let mut v: Vec<&Expr> = vec![item, list];
            v.extend(filter.as_deref());
            v
        }
    }
}

fn walk_expr(e: &Expr, fields: &mut NameSet, whole: &mut bool) {
    walk_all(e, &mut |x| match x {
        Expr::Input(name) => {
            fields.insert(name.clone());
        }
        Expr::InputRecord => *whole = true,
        _ => {}
    });
}
