//! Checks a mapped payload against the target schema before it is sent:
//! a record the service would reject fails here, naming the field, without
//! an API round trip.

use rust_decimal::Decimal;

use super::{Kind, RecordType};
use crate::value::{Record, Value};

/// A value that does not fit its field: which field, what is wrong, and how
/// to fix the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path in the record (`Rows[2].UnitPrice`).
    pub field: String,
    /// "`Name` is 51 characters long, the maximum is 50"
    pub message: String,
    pub help: String,
}

/// `creating` demands every required field; updates only check what is sent.
pub fn validate(record: &Record, schema: &RecordType, creating: bool) -> Result<(), Violation> {
    check_record(record, schema, creating, "")
}

fn check_record(
    record: &Record,
    schema: &RecordType,
    creating: bool,
    prefix: &str,
) -> Result<(), Violation> {
    for field in &schema.fields {
        let path = format!("{prefix}{}", field.name);
        match record.get(&field.name) {
            None | Some(Value::Absent) if creating && !field.optional && !field.readonly => {
                return Err(violation(
                    &path,
                    "is required but has no value".into(),
                    "map it, or give it a fallback with `?? …`",
                ))
            }
            Some(Value::Null) if !field.optional => {
                return Err(violation(
                    &path,
                    "is required but the mapped value is null".into(),
                    "give it a fallback with `?? …`",
                ))
            }
            Some(v) => check_value(v, &field.ty.kind, field.range, creating, &path)?,
            None => {}
        }
    }
    Ok(())
}

fn check_value(
    v: &Value,
    kind: &Kind,
    range: Option<(Decimal, Decimal)>,
    creating: bool,
    path: &str,
) -> Result<(), Violation> {
    match (kind, v) {
        (_, Value::Null | Value::Absent) | (Kind::Any, _) => Ok(()),
        (Kind::Str { max: Some(max) }, Value::Str(s)) => {
            let n = s.chars().count();
            if n > *max as usize {
                return Err(violation(
                    path,
                    format!("is {n} characters long, the maximum is {max}"),
                    &format!("add `| truncate({max})` to its mapping"),
                ));
            }
            Ok(())
        }
        (Kind::Enum(allowed), Value::Str(s)) if !allowed.iter().any(|a| a == s) => Err(violation(
            path,
            format!(
                "is {s:?}, which is not one of {}",
                allowed
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "map it through a table onto one of the allowed values",
        )),
        (Kind::Int | Kind::Decimal, Value::Num(n)) => {
            if matches!(kind, Kind::Int) && !n.fract().is_zero() {
                return Err(violation(
                    path,
                    format!("must be a whole number, got {n}"),
                    "use round(x)",
                ));
            }
            if let Some((lo, hi)) = range {
                if *n < lo || *n > hi {
                    return Err(violation(
                        path,
                        format!("must be between {lo} and {hi}, got {n}"),
                        if hi == Decimal::ONE {
                            "this field is a fraction: 10% is 0.1"
                        } else {
                            "clamp it with min()/max()"
                        },
                    ));
                }
            }
            Ok(())
        }
        (Kind::Uuid, Value::Str(s)) if uuid::Uuid::parse_str(s).is_err() => Err(violation(
            path,
            format!("must be a GUID, got {s:?}"),
            "map the Id of a record of the referenced resource",
        )),
        (Kind::List(elem), Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, &elem.kind, None, creating, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Kind::Record(rt), Value::Record(r)) => check_record(r, rt, creating, &format!("{path}.")),
        (Kind::Str { .. } | Kind::Uuid | Kind::Enum(_), Value::Str(_))
        | (Kind::Bool, Value::Bool(_))
        | (Kind::Date | Kind::DateTime, Value::Date(_) | Value::DateTime(_) | Value::Str(_)) => {
            Ok(())
        }
        (expected, got) => Err(violation(
            path,
            format!("must be {expected}, got {}", crate::value::describe(got)),
            "convert the value in its mapping",
        )),
    }
}

fn violation(path: &str, what: String, help: &str) -> Violation {
    Violation {
        field: path.to_string(),
        message: format!("`{path}` {what}"),
        help: help.to_string(),
    }
}
