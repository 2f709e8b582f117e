//! The checked program: what the checker hands to the interpreter. Names are
//! resolved to slots and tables, functions are bound, types are gone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::functions::Builtin;
use crate::source_map::Span;
use crate::types::RecordType;
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
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| &*f.name == name)
    }
}

impl Flow {
    /// The top-level source fields the flow reads, or `None` when it reads
    /// the record as a whole (then every field is needed).
    /// The top-level source fields the `where` filter reads (`None`: the
    /// whole record); empty without a filter.
    pub fn filter_fields(&self) -> Option<std::collections::HashSet<Arc<str>>> {
        let mut fields = std::collections::HashSet::new();
        let mut whole = false;
        if let Some(f) = &self.filter {
            walk_expr(f, &mut fields, &mut whole);
        }
        (!whole).then_some(fields)
    }

    pub fn input_fields(&self) -> Option<std::collections::HashSet<Arc<str>>> {
        let mut fields = std::collections::HashSet::new();
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

impl Expr {
    /// The depth of the tree (a leaf is 1).
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut visit = |x: &Expr| deepest = deepest.max(x.depth());
        match self {
            Expr::Const(_)
            | Expr::Local(_)
            | Expr::Input(_)
            | Expr::InputRecord
            | Expr::Global(_) => {}
            Expr::Field { base, .. } => visit(base),
            Expr::Index { base, index, .. } => {
                visit(base);
                visit(index);
            }
            Expr::Lookup { key, .. } => visit(key),
            Expr::Builtin { args, .. }
            | Expr::CallFn { args, .. }
            | Expr::List(args)
            | Expr::Interpolate(args, _) => args.iter().for_each(visit),
            Expr::Not(x, _) | Expr::Neg(x, _) => visit(x),
            Expr::Binary { lhs, rhs, .. } => {
                visit(lhs);
                visit(rhs);
            }
            Expr::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                visit(cond);
                visit(then);
                visit(otherwise);
            }
            Expr::Record(fields) => fields.iter().for_each(|(_, x)| visit(x)),
        }
        deepest + 1
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
                visit(&u.match_value);
                walk_mapping(&u.mapping, visit);
            }
        }
    }
}

fn walk_expr(e: &Expr, fields: &mut std::collections::HashSet<Arc<str>>, whole: &mut bool) {
    let mut go = |x: &Expr| walk_expr(x, fields, whole);
    match e {
        Expr::Input(name) => {
            fields.insert(name.clone());
        }
        Expr::InputRecord => *whole = true,
        Expr::Const(_) | Expr::Local(_) | Expr::Global(_) => {}
        Expr::Field { base, .. } => go(base),
        Expr::Index { base, index, .. } => {
            go(base);
            go(index);
        }
        Expr::Lookup { key, .. } => go(key),
        Expr::Builtin { args, .. }
        | Expr::CallFn { args, .. }
        | Expr::List(args)
        | Expr::Interpolate(args, _) => {
            for a in args {
                go(a);
            }
        }
        Expr::Not(x, _) | Expr::Neg(x, _) => go(x),
        Expr::Binary { lhs, rhs, .. } => {
            go(lhs);
            go(rhs);
        }
        Expr::If {
            cond,
            then,
            otherwise,
            ..
        } => {
            go(cond);
            go(then);
            go(otherwise);
        }
        Expr::Record(fields_) => {
            for (_, x) in fields_ {
                go(x);
            }
        }
    }
}
