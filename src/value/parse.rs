//! Reading dates, date-times and exact decimals from text: the forms the
//! shop APIs, CSV files and flows write them in. Every stage that needs to
//! read a date or a number from text (functions, connectors, the engine's
//! cursors) uses these, so they all agree on what a date is.

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use rust_decimal::Decimal;

use super::Value;

/// An ISO 8601 date-time with or without offset (no offset means UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt);
        }
    }
    // No offset: the APIs document their timestamps as UTC.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(naive.and_utc().fixed_offset());
        }
    }
    None
}

/// A value as a moment in time, for comparisons across dates, date-times and ISO strings.
pub fn datetime_of(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    match v {
        Value::DateTime(dt) => Some(*dt),
        Value::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset()),
        Value::Str(s) => parse_datetime(s).or_else(|| {
            chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
                .map(|n| n.and_utc().fixed_offset())
        }),
        _ => None,
    }
}

/// An exact decimal from text: `12.50`, `-3`, and `12,50` (one comma, no point).
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    let normalised = if t.matches(',').count() == 1 && !t.contains('.') {
        t.replace(',', ".")
    } else {
        t.to_string()
    };
    let valid = !normalised.is_empty()
        && normalised
            .trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && normalised.matches('.').count() <= 1;
    if !valid {
        return Err(format!("{s:?} is not a decimal number"));
    }
    Decimal::from_str_exact(&normalised)
        .map_err(|_| format!("{s:?} is beyond the exact decimal range"))
}
