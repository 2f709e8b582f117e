//! Operators on values.

use std::cmp::Ordering;

use super::{decimal_error, unusable, EvalError, Result};
use crate::diag::codes;
use crate::source_map::Span;
use crate::syntax::ast::BinaryOp;
use crate::value::describe;
use crate::value::exact;
use crate::value::Value;

pub(super) fn not_bool(v: &Value, op: &str, span: Span) -> EvalError {
    EvalError::new(
        unusable(v.is_missing()),
        format!("`{op}` needs true or false, got {}", describe(v)),
        Some(span),
    )
    .help("compare explicitly, and handle missing values with `?? false`")
}

pub(super) fn not_number(v: &Value, op: &str, span: Span) -> EvalError {
    if let Value::BigNum(s) = v {
        return EvalError::new(
            &codes::E0907,
            format!("{s} is beyond the exact decimal range and cannot be used in `{op}`"),
            Some(span),
        )
        .help("keep such identifiers as they are, or map them as strings with to_string()");
    }
    EvalError::new(
        unusable(v.is_missing()),
        format!("`{op}` needs a number, got {}", describe(v)),
        Some(span),
    )
    .help(if v.is_missing() {
        "supply a fallback with `?? 0`"
    } else {
        "convert text with to_number(…)"
    })
}

pub(super) fn binary(op: BinaryOp, l: &Value, r: &Value, span: Span) -> Result<Value> {
    Ok(match op {
        BinaryOp::Eq => Value::Bool(equal(l, r)),
        BinaryOp::Ne => Value::Bool(!equal(l, r)),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ord = compare(l, r).ok_or_else(|| {
                EvalError::new(
                    unusable(l.is_missing() || r.is_missing()),
                    format!("cannot compare {} with {}", describe(l), describe(r)),
                    Some(span),
                )
            })?;
            Value::Bool(match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Le => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        BinaryOp::In | BinaryOp::NotIn => {
            let found = match r {
                Value::List(items) => items.iter().any(|i| equal(l, i)),
                Value::Record(rec) => l.to_text().is_some_and(|t| rec.get(&t).is_some()),
                other => {
                    return Err(EvalError::new(
                        &codes::E0902,
                        format!("`in` needs a list, got {}", describe(other)),
                        Some(span),
                    ))
                }
            };
            Value::Bool(found == (op == BinaryOp::In))
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            let (Value::Num(a), Value::Num(b)) = (l, r) else {
                let bad = if matches!(l, Value::Num(_)) { r } else { l };
                return Err(not_number(bad, op.symbol(), span));
            };
            let result = match op {
                BinaryOp::Add => exact::add(*a, *b),
                BinaryOp::Sub => exact::sub(*a, *b),
                BinaryOp::Mul => exact::mul(*a, *b),
                BinaryOp::Div | BinaryOp::Rem if b.is_zero() => {
                    return Err(EvalError::new(
                        &codes::E0904,
                        format!("division by zero ({a} {} 0)", op.symbol()),
                        Some(span),
                    )
                    .help("guard it: `if d == 0 then 0 else x / d`"))
                }
                BinaryOp::Div => a.checked_div(*b),
                _ => a.checked_rem(*b),
            };
            Value::Num(result.ok_or_else(|| decimal_error(op.symbol(), span))?)
        }
        BinaryOp::And | BinaryOp::Or | BinaryOp::Coalesce => {
            unreachable!("short-circuiting operators are evaluated by the caller")
        }
    })
}

/// `==`: the language's one equality (see `Value`'s `PartialEq`).
fn equal(l: &Value, r: &Value) -> bool {
    l == r
}

fn compare(l: &Value, r: &Value) -> Option<Ordering> {
    use crate::value::parse::datetime_of as dt;
    match (l, r) {
        (Value::Date(_) | Value::DateTime(_), Value::Str(_))
        | (Value::Str(_), Value::Date(_) | Value::DateTime(_))
        | (Value::Date(_), Value::DateTime(_))
        | (Value::DateTime(_), Value::Date(_)) => {
            let (a, b) = (dt(l)?, dt(r)?);
            Some(a.cmp(&b))
        }
        _ => l.compare(r),
    }
}

pub(super) fn index(base: &Value, index: &Value, span: Span) -> Result<Value> {
    match (base, index) {
        (Value::List(items), Value::Num(n)) => {
            let i = i64::try_from(n.trunc()).unwrap_or(i64::MAX);
            let len = items.len() as i64;
            let i = if i < 0 { len + i } else { i };
            Ok(if (0..len).contains(&i) {
                items[i as usize].clone()
            } else {
                Value::Absent
            })
        }
        (Value::Record(r), Value::Str(k)) => Ok(r.get(k).cloned().unwrap_or(Value::Absent)),
        (Value::Absent | Value::Null, _) => {
            Err(
                EvalError::new(&codes::E0901, "cannot index a missing value", Some(span))
                    .help("supply a fallback with `?? []` first"),
            )
        }
        (b, i) => Err(EvalError::new(
            &codes::E0902,
            format!("cannot index {} with {}", describe(b), describe(i)),
            Some(span),
        )),
    }
}
