//! Date functions. Inputs may be date values or ISO 8601 strings in any of
//! the forms the shop APIs send (`Z`, `+00:00`, `+0000`, milliseconds).

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate};

use super::ParamKind::*;
use super::*;
use crate::types::Type;
use crate::value::parse::{date_of, datetime_of};
use crate::value::Value;

pub(crate) fn to_date(v: &Value) -> Result<NaiveDate, String> {
    date_of(v).ok_or_else(|| match v {
        Value::Str(s) => format!("{s:?} is not an ISO date (YYYY-MM-DD) or date-time"),
        other => format!("expected a date, got {}", describe(other)),
    })
}

fn to_datetime(v: &Value) -> Result<DateTime<FixedOffset>, String> {
    datetime_of(v).ok_or_else(|| match v {
        Value::Str(s) => format!("{s:?} is not an ISO 8601 date-time"),
        other => format!("expected a date-time, got {}", describe(other)),
    })
}

pub(super) const FUNCTIONS: &[Builtin] = &[
    Builtin {
        name: "date",
        category: Category::Date,
        params: &[p("value", Date)],
        doc: "The calendar date of a date, a date-time (in its own offset) or an ISO string.",
        examples: &[
            ex(r#"date("2024-03-01T23:30:00+01:00")"#, r#""2024-03-01""#),
            ex(r#"date("2024-02-30")"#, r#"error: "2024-02-30" is not an ISO date (YYYY-MM-DD) or date-time"#),
        ],
        returns: |_| Type::DATE,
        eval: |a| Ok(Value::Date(to_date(&a[0])?)),
    },
    Builtin {
        name: "datetime",
        category: Category::Date,
        params: &[p("value", Date)],
        doc: "A date-time from a date-time string (`Z`, `+00:00`, `+0000` and milliseconds are accepted; no offset means UTC).",
        examples: &[ex(r#"datetime("2024-01-31T12:00:00+0000")"#, r#""2024-01-31T12:00:00Z""#)],
        returns: |_| Type::DATETIME,
        eval: |a| Ok(Value::DateTime(to_datetime(&a[0])?)),
    },
    Builtin {
        name: "to_utc",
        category: Category::Date,
        params: &[p("value", Date)],
        doc: "The same moment expressed in UTC.",
        examples: &[ex(r#"to_utc("2024-03-01T23:30:00+01:00")"#, r#""2024-03-01T22:30:00Z""#)],
        returns: |_| Type::DATETIME,
        eval: |a| Ok(Value::DateTime(to_datetime(&a[0])?.to_utc().fixed_offset())),
    },
    Builtin {
        name: "add_days",
        category: Category::Date,
        params: &[p("date", Date), p("days", Int)],
        doc: "The date `days` later (negative for earlier), e.g. a due date.",
        examples: &[ex("add_days(@2024-02-20, 14)", r#""2024-03-05""#)],
        returns: |_| Type::DATE,
        eval: |a| {
            let d = to_date(&a[0])?;
            let n = arg_int(&a[1])?;
            Duration::try_days(n)
                .and_then(|delta| d.checked_add_signed(delta))
                .map(Value::Date)
                .ok_or_else(|| format!("{n} days from {d} is out of range"))
        },
    },
    Builtin {
        name: "days_between",
        category: Category::Date,
        params: &[p("from", Date), p("to", Date)],
        doc: "Whole days from the first date to the second.",
        examples: &[ex("days_between(@2024-01-01, @2024-03-01)", "60")],
        returns: |_| Type::INT,
        eval: |a| Ok(Value::int((to_date(&a[1])? - to_date(&a[0])?).num_days())),
    },
    Builtin {
        name: "year",
        category: Category::Date,
        params: &[p("date", Date)],
        doc: "The year of a date.",
        examples: &[ex(r#"year("2024-06-30")"#, "2024")],
        returns: |_| Type::INT,
        eval: |a| Ok(Value::int(to_date(&a[0])?.year() as i64)),
    },
    Builtin {
        name: "month",
        category: Category::Date,
        params: &[p("date", Date)],
        doc: "The month of a date, 1 to 12.",
        examples: &[ex(r#"month("2024-06-30")"#, "6")],
        returns: |_| Type::INT,
        eval: |a| Ok(Value::int(to_date(&a[0])?.month() as i64)),
    },
    Builtin {
        name: "format_date",
        category: Category::Date,
        params: &[p("date", Date), p("format", Str)],
        doc: "Formats a date or date-time with strftime codes (`%d-%m-%Y`).",
        examples: &[ex(r#"format_date(@2024-01-31, "%d-%m-%Y")"#, r#""31-01-2024""#)],
        returns: |_| Type::string(),
        eval: |a| {
            let fmt = arg_str(&a[1])?;
            let items: Vec<_> = chrono::format::StrftimeItems::new(fmt).collect();
            if items.iter().any(|i| matches!(i, chrono::format::Item::Error)) {
                return Err(format!("{fmt:?} is not a valid date format"));
            }
            let out = match &a[0] {
                Value::DateTime(dt) => dt.format_with_items(items.into_iter()).to_string(),
                v => {
                    let dt = to_datetime(v)?;
                    dt.format_with_items(items.into_iter()).to_string()
                }
            };
            Ok(Value::str(&out))
        },
    },
];
