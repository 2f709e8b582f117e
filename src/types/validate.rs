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
        (
            Kind::Str {
                max: Some(max),
                units,
            },
            Value::Str(s),
        ) => {
            if !units.fits(s, *max as usize) {
                let n = units.length(s);
                return Err(violation(
                    path,
                    format!("is {n} {} long, the maximum is {max}", units.name()),
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
        (Kind::Int, Value::BigNum(b)) if !b.bytes().all(|c| c.is_ascii_digit() || c == b'-') => {
            Err(violation(
                path,
                format!("must be a whole number, got {b}"),
                "use round(x)",
            ))
        }
        (Kind::Int | Kind::Decimal, Value::BigNum(_)) if range.is_none() => Ok(()),
        (Kind::Date, Value::DateTime(_)) => Err(violation(
            path,
            format!("is a date, but the mapped value is the date-time {v}"),
            "convert it with date(x) (the calendar date in its own offset) or date(to_utc(x))",
        )),
        (Kind::Date, Value::Str(s)) if parse_date(s).is_none() => Err(violation(
            path,
            format!("must be a calendar date (YYYY-MM-DD), got {s:?}"),
            "map a real date, e.g. with date(x)",
        )),
        (Kind::DateTime, Value::Str(s)) if !is_datetime(s) => Err(violation(
            path,
            format!("must be a date-time (ISO 8601), got {s:?}"),
            "map a real date-time, e.g. with datetime(x)",
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

/// Whether the text is a date-time flowc reads (`parse_datetime`). The
/// common shape `2024-03-01T12:00:00(.fff)(Z|+01:00)` is recognised without a
/// full parse.
pub fn is_datetime(s: &str) -> bool {
    fast_iso_datetime(s.as_bytes())
        .unwrap_or_else(|| crate::value::parse::parse_datetime(s).is_some())
}

/// `Some(valid)` when `b` has the usual RFC 3339 shape, `None` for any other
/// shape (then the full parser decides).
fn fast_iso_datetime(b: &[u8]) -> Option<bool> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut n = 0u32;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_ok = match &b[i..] {
        [b'Z'] => true,
        [sign, _, _, b':', _, _] if *sign == b'+' || *sign == b'-' => {
            let (h, m) = (digits(i + 1..i + 3)?, digits(i + 4..i + 6)?);
            h <= 23 && m <= 59
        }
        _ => return None,
    };
    let date_ok = chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some();
    Some(offset_ok && date_ok && hour <= 23 && minute <= 59 && second <= 59)
}

/// A calendar date in ISO form: `2024-02-29`, not `2026-02-30` or `hello`.
pub fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10)
}

/// Checks a source record against its schema as it is read: every field the
/// flow reads (`reads`; `None`: all of them) must be present unless
/// optional, and hold a value of its declared type — enums, ranges, lengths,
/// real calendar dates and date-times included. Fields the flow does not
/// read are not looked at, so they cost nothing. `complete: false` lets
/// fields be missing (a test's input gives only what the test needs).
pub fn validate_source(
    record: &Record,
    schema: &RecordType,
    reads: &dyn Fn(&str) -> bool,
    complete: bool,
) -> Result<(), Violation> {
    validate_fields(
        record,
        schema,
        schema.fields.iter().filter(|f| reads(&f.name)),
        complete,
    )
}

/// [`validate_source`] for a list of fields worked out beforehand (the
/// engine does it once per run, not once per record).
pub fn validate_fields<'a>(
    record: &Record,
    schema: &RecordType,
    fields: impl Iterator<Item = &'a super::FieldType>,
    complete: bool,
) -> Result<(), Violation> {
    let mut at = 0;
    for field in fields {
        let path = Path {
            parent: None,
            segment: Segment::Field(&field.name),
        };
        let value = record.get_from(&field.name, &mut at);
        check_input(value, field, schema, &path, complete)?;
    }
    Ok(())
}

fn check_input(
    v: Option<&Value>,
    field: &super::FieldType,
    schema: &RecordType,
    path: &Path<'_>,
    complete: bool,
) -> Result<(), Violation> {
    match v {
        None | Some(Value::Absent) | Some(Value::Null) if field.optional => Ok(()),
        None | Some(Value::Absent) if !complete => Ok(()),
        None | Some(Value::Absent) => Err(input_violation(
            path,
            "is missing".into(),
            &format!(
                "the schema {} requires it; declare it optional (`{}: {}?`) if records may lack it",
                schema.display_name(),
                field.name,
                field.ty
            ),
        )),
        Some(Value::Null) => Err(input_violation(
            path,
            "is null".into(),
            &format!(
                "the schema {} requires a value; declare it optional (`{}: {}?`) if it may be null",
                schema.display_name(),
                field.name,
                field.ty
            ),
        )),
        Some(v) => check_input_value(v, &field.ty.kind, field.range, path, complete),
    }
}

fn check_input_value(
    v: &Value,
    kind: &Kind,
    range: Option<(Decimal, Decimal)>,
    path: &Path<'_>,
    complete: bool,
) -> Result<(), Violation> {
    let ok = match (kind, v) {
        (Kind::Any | Kind::Never, _) => true,
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Int, Value::Num(n)) => n.scale() == 0 || n.fract().is_zero(),
        (Kind::Int, Value::BigNum(b)) => b.bytes().all(|c| c.is_ascii_digit() || c == b'-'),
        (Kind::Decimal, Value::Num(_) | Value::BigNum(_)) => true,
        (Kind::Str { max, units }, Value::Str(s)) => {
            if let Some(max) = max.filter(|m| !units.fits(s, *m as usize)) {
                let n = units.length(s);
                {
                    return Err(input_violation(
                        path,
                        format!(
                            "is {n} {} long, longer than the {max} its schema allows",
                            units.name()
                        ),
                        "fix the input, or declare the field with its real maximum length",
                    ));
                }
            }
            true
        }
        (Kind::Enum(allowed), Value::Str(s)) => allowed.iter().any(|a| a == s),
        (Kind::Uuid, Value::Str(s)) => uuid::Uuid::parse_str(s).is_ok(),
        (Kind::Date, Value::Str(s)) => parse_date(s).is_some(),
        (Kind::Date, Value::Date(_)) => true,
        (Kind::DateTime, Value::Str(s)) => is_datetime(s),
        (Kind::DateTime, Value::DateTime(_)) => true,
        (Kind::List(elem), Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = Path {
                    parent: Some(path),
                    segment: Segment::Index(i),
                };
                match item {
                    Value::Null if elem.missing.is_some() => {}
                    Value::Null | Value::Absent => {
                        return Err(input_violation(
                            &item_path,
                            "is null".into(),
                            "fix the input",
                        ))
                    }
                    item => check_input_value(item, &elem.kind, None, &item_path, complete)?,
                }
            }
            true
        }
        (Kind::Record(rt), Value::Record(r)) => {
            let mut at = 0;
            for f in &rt.fields {
                let field_path = Path {
                    parent: Some(path),
                    segment: Segment::Field(&f.name),
                };
                check_input(r.get_from(&f.name, &mut at), f, rt, &field_path, complete)?;
            }
            true
        }
        _ => false,
    };
    if !ok {
        return Err(input_violation(
            path,
            format!("is {}, not {kind}", crate::value::describe(v)),
            &format!(
                "fix the input, or declare the field as it arrives (e.g. `string`) and convert it in the mapping{}",
                match kind {
                    Kind::Int | Kind::Decimal => " with to_number(…)",
                    Kind::Bool => " (`x == \"yes\"`)",
                    Kind::Date => " with date(…)",
                    _ => "",
                }
            ),
        ));
    }
    if let (Some((lo, hi)), Value::Num(n)) = (range, v) {
        if *n < lo || *n > hi {
            return Err(input_violation(
                path,
                format!("is {n}, outside its range {lo}..{hi}"),
                "fix the input, or widen the range in the schema",
            ));
        }
    }
    Ok(())
}

fn input_violation(path: &Path<'_>, what: String, help: &str) -> Violation {
    let path = path.render();
    Violation {
        message: format!("field `{path}` {what}"),
        field: path,
        help: help.to_string(),
    }
}

/// Where a value sits in a record (`rows[2].price`), spelled out only when
/// something is wrong with it: checking costs no allocation.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut out = self.parent.map(Path::render).unwrap_or_default();
        match self.segment {
            Segment::Field(name) if out.is_empty() => out.push_str(name),
            Segment::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
        out
    }
}

fn violation(path: &str, what: String, help: &str) -> Violation {
    Violation {
        field: path.to_string(),
        message: format!("`{path}` {what}"),
        help: help.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_date_time_check_agrees_with_the_parser() {
        for s in [
            "2024-03-01T23:30:00+01:00",
            "2024-03-01T23:30:00Z",
            "2024-03-01T23:30:00.250Z",
            "2024-02-29T00:00:00-05:30",
            "2026-02-30T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T23:60:00Z",
            "2024-03-01T23:30:00+25:00",
            "2024-03-01T23:30:00",
            "2024-03-01 23:30:00Z",
            "2024-13-01T00:00:00Z",
            "hello",
            "2024-03-01T23:30:00.Z",
        ] {
            assert_eq!(
                is_datetime(s),
                crate::value::parse::parse_datetime(s).is_some(),
                "{s}"
            );
        }
    }
}
