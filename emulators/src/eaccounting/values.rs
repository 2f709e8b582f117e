//! Values as eAccounting writes them: exact decimals (money to the cent),
//! business dates without a zone, timestamps in UTC with milliseconds.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value};

/// Exact decimal of a JSON number. With serde_json's `arbitrary_precision`
/// the number keeps its source text, so `19.99` never passes through f64.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        _ => None,
    }
}

pub fn number(d: Decimal) -> Value {
    Number::from_str(&d.normalize().to_string())
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Money as the API shows it: two decimals, half away from zero.
pub fn money(d: Decimal) -> Value {
    number(round2(d))
}

pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.f]` (taken as UTC) or RFC 3339.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    // .NET's DateTime range.
    parse_any_datetime(s).filter(|dt| (1..=9999).contains(&dt.year()))
}

fn parse_any_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(ndt) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(ndt.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|ndt| ndt.and_utc())
}

/// Business dates come back as `YYYY-MM-DDT00:00:00` (no zone), like the API.
pub fn format_date(dt: DateTime<Utc>) -> String {
    dt.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub fn format_utc(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_normalise() {
        let at = |s| parse_datetime(s).expect(s);
        assert_eq!(format_date(at("2025-01-31")), "2025-01-31T00:00:00");
        assert_eq!(
            format_utc(at("2025-01-31T10:00:00+01:00")),
            "2025-01-31T09:00:00.000Z"
        );
        assert!(parse_datetime("31-01-2025").is_none());
        assert!(parse_datetime("+10000-01-01T00:00:00Z").is_none());
    }

    #[test]
    fn decimals_are_exact() {
        let v: Value = serde_json::from_str("19.99").expect("json");
        assert_eq!(decimal_of(&v), Some(Decimal::new(1999, 2)));
        assert_eq!(money(Decimal::new(10005, 3)).to_string(), "10.01");
        assert_eq!(number(Decimal::new(1100, 3)).to_string(), "1.1");
    }
}
