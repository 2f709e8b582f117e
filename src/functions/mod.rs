//! Built-in functions. Each is defined in one place — signature, one doc
//! line, examples, type rule and implementation — in the file of its
//! category. The examples run as tests and generate `docs/functions.md`.

mod dates;
mod lists;
mod numbers;
mod strings;
mod values;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::types::Type;
use crate::value::{describe, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    String,
    Number,
    Date,
    List,
    Record,
    Value,
}

impl Category {
    pub fn title(self) -> &'static str {
        match self {
            Category::String => "Strings",
            Category::Number => "Numbers",
            Category::Date => "Dates",
            Category::List => "Lists",
            Category::Record => "Records",
            Category::Value => "Values, lookups and failure",
        }
    }
}

/// What an argument must be. Checked statically against the argument's type;
/// `Any` and untyped values are checked again at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Any,
    Str,
    Num,
    Int,
    Bool,
    /// A date, a date-time, or an ISO string holding one.
    Date,
    List,
    Record,
}

impl ParamKind {
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::Any => "any value",
            ParamKind::Str => "a string",
            ParamKind::Num => "a number",
            ParamKind::Int => "an integer",
            ParamKind::Bool => "a boolean",
            ParamKind::Date => "a date, date-time or ISO date string",
            ParamKind::List => "a list",
            ParamKind::Record => "a record",
        }
    }
}

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// May be left out (only trailing parameters).
    pub optional: bool,
    /// Accepts an absent or null value (e.g. `exists`); otherwise a value
    /// that may be missing is a check error.
    pub accepts_missing: bool,
}

#[derive(Debug)]
pub struct Example {
    /// An expression in the flow language.
    pub expr: &'static str,
    /// The JSON of its result, or `error: <text>` for an expected failure.
    pub result: &'static str,
}

pub type EvalFn = fn(&[Value]) -> Result<Value, String>;
pub type TypeFn = fn(&[Arg]) -> Type;

/// What the checker knows about an argument: its type and, for constants, its value.
#[derive(Debug, Clone)]
pub struct Arg {
    pub ty: Type,
    pub constant: Option<Value>,
}

impl Arg {
    pub fn const_int(&self) -> Option<i64> {
        match &self.constant {
            Some(Value::Num(d)) if d.fract().is_zero() => i64::try_from(*d).ok(),
            _ => None,
        }
    }
}

pub struct Builtin {
    pub name: &'static str,
    pub category: Category,
    pub params: &'static [Param],
    pub doc: &'static str,
    pub examples: &'static [Example],
    /// The result type, given the argument types.
    pub returns: TypeFn,
    pub eval: EvalFn,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}()", self.name)
    }
}

impl Builtin {
    pub fn min_arity(&self) -> usize {
        self.params.iter().filter(|p| !p.optional).count()
    }
    pub fn max_arity(&self) -> usize {
        self.params.len()
    }
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    ParamKind::Any => "any",
                    ParamKind::Str => "string",
                    ParamKind::Num => "number",
                    ParamKind::Int => "int",
                    ParamKind::Bool => "bool",
                    ParamKind::Date => "date",
                    ParamKind::List => "list",
                    ParamKind::Record => "record",
                };
                let opt = if p.optional { "?" } else { "" };
                format!("{}{}: {}", p.name, opt, kind)
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

/// Shorthands for the tables in the category files.
pub(crate) const fn p(name: &'static str, kind: ParamKind) -> Param {
    Param {
        name,
        kind,
        optional: false,
        accepts_missing: false,
    }
}
pub(crate) const fn opt(name: &'static str, kind: ParamKind) -> Param {
    Param {
        name,
        kind,
        optional: true,
        accepts_missing: false,
    }
}
pub(crate) const fn nullable(name: &'static str, kind: ParamKind) -> Param {
    Param {
        name,
        kind,
        optional: false,
        accepts_missing: true,
    }
}
pub(crate) const fn ex(expr: &'static str, result: &'static str) -> Example {
    Example { expr, result }
}

pub fn all() -> impl Iterator<Item = &'static Builtin> {
    strings::FUNCTIONS
        .iter()
        .chain(numbers::FUNCTIONS)
        .chain(dates::FUNCTIONS)
        .chain(lists::FUNCTIONS)
        .chain(values::FUNCTIONS)
}

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Builtin>> = OnceLock::new();
    INDEX
        .get_or_init(|| all().map(|b| (b.name, b)).collect())
        .get(name)
        .copied()
}

// ---- helpers shared by the implementations ----

pub(crate) fn arg_str(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(format!("expected a string, got {}", describe(other))),
    }
}

pub(crate) fn arg_num(v: &Value) -> Result<rust_decimal::Decimal, String> {
    match v {
        Value::Num(d) => Ok(*d),
        Value::BigNum(s) => Err(format!("the number {s} is beyond the exact decimal range")),
        other => Err(format!("expected a number, got {}", describe(other))),
    }
}

pub(crate) fn arg_int(v: &Value) -> Result<i64, String> {
    let d = arg_num(v)?;
    if !d.fract().is_zero() {
        return Err(format!("expected an integer, got {d}"));
    }
    i64::try_from(d).map_err(|_| format!("{d} is too large here"))
}

pub(crate) fn arg_list(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::List(items) => Ok(items),
        other => Err(format!("expected a list, got {}", describe(other))),
    }
}

pub(crate) fn same_as_first(args: &[Arg]) -> Type {
    args.first()
        .map(|a| a.ty.clone())
        .unwrap_or(Type::ANY)
        .present()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for b in all() {
            assert!(seen.insert(b.name), "{} defined twice", b.name);
            assert!(!b.doc.is_empty(), "{} has no doc line", b.name);
            assert!(!b.examples.is_empty(), "{} has no example", b.name);
            let mut optional_seen = false;
            for p in b.params {
                assert!(
                    !optional_seen || p.optional,
                    "{}: optional params must come last",
                    b.name
                );
                optional_seen |= p.optional;
            }
        }
    }
}
