//! Values as the API writes them: decimals with exactly their digits,
//! timestamps in UTC with a `Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// A decimal as a JSON number with exactly its digits (`12.50` stays `12.50`).
pub fn num(d: Decimal) -> Value {
    d.to_string()
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub fn opt_num(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, num)
}

/// A timestamp as the API writes it: `2024-01-01T12:00:00Z`.
pub fn ts(d: DateTime<Utc>) -> Value {
    Value::String(d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub fn opt_ts(d: Option<DateTime<Utc>>) -> Value {
    d.map_or(Value::Null, ts)
}

/// A JSON number as an exact decimal, read from its text (serde_json keeps
/// it), never through f64. Strings and booleans are not numbers.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    let Value::Number(n) = v else { return None };
    let text = n.to_string();
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_digits() {
        let shown = |d| serde_json::to_string(&num(d)).ok();
        assert_eq!(shown(Decimal::new(1250, 2)), Some("12.50".to_string()));
        assert_eq!(shown(Decimal::new(-5, 0)), Some("-5".to_string()));
        let v: Value = serde_json::from_str("1.5e2").expect("json");
        assert_eq!(decimal_of(&v), Some(Decimal::from(150)));
        assert_eq!(decimal_of(&Value::String("12.50".into())), None);
    }
}
