//! Strict reading of JSON request bodies.
//!
//! Numbers are read from their exact text (serde_json keeps it thanks to
//! `arbitrary_precision`), never through f64. A wrong type is a 400, not a
//! coercion: a connector that sends `"12.50"` for a price must hear about it.

use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::signing::parse_x_date;

/// Parse a write body: it must be declared as JSON and be a JSON object.
pub fn parse_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // application/json, text/json (APPEX) and application/vnd.verto.webshop+json.
    if !content_type.contains("json") {
        return Err(ApiError::bad_body(format!(
            "Content-Type must be JSON, got '{content_type}'"
        )));
    }
    if body.is_empty() {
        return Err(ApiError::bad_body("Request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_body("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_body(format!("Malformed JSON: {e}"))),
    }
}

/// Typed, validating access to one JSON object.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// Prefix for messages, e.g. `orderrows[3].`.
    path: &'a str,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map, path: "" }
    }

    pub fn nested(map: &'a Map<String, Value>, path: &'a str) -> Self {
        Self { map, path }
    }

    /// Every key must be writable; `hints` explain common mistakes
    /// (e.g. `is_active` → `active`).
    pub fn allow(&self, writable: &[&str], hints: &[(&str, &str)]) -> Result<(), ApiError> {
        for key in self.map.keys() {
            if writable.contains(&key.as_str()) {
                continue;
            }
            let hint = hints
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, h)| format!(": {h}"));
            return Err(ApiError::invalid(format!(
                "Property '{}{key}' is not writable{}",
                self.path,
                hint.unwrap_or_default()
            )));
        }
        Ok(())
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn type_error(&self, name: &str, want: &str) -> ApiError {
        ApiError::invalid(format!("Property '{}{name}' must be {want}", self.path))
    }

    pub fn require<T>(&self, name: &str, value: Option<T>) -> Result<T, ApiError> {
        value
            .ok_or_else(|| ApiError::invalid(format!("Property '{}{name}' is required", self.path)))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.type_error(name, "a string")),
        }
    }

    /// A string that must not be empty (names, numbers, addresses).
    pub fn nonempty(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.string(name)? {
            Some(s) if s.trim().is_empty() => Err(self.type_error(name, "a non-empty string")),
            other => Ok(other),
        }
    }

    /// `Some(None)` when the property is explicitly null.
    pub fn nullable_string(&self, name: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(_) => Err(self.type_error(name, "a string or null")),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.type_error(name, "a boolean")),
        }
    }

    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(v) => match int_of(v) {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                _ => Err(self.type_error(name, &format!("an integer between {min} and {max}"))),
            },
        }
    }

    pub fn nullable_int(
        &self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<Option<i64>>, ApiError> {
        match self.map.get(name) {
            Some(Value::Null) => Ok(Some(None)),
            _ => Ok(self.int(name, min, max)?.map(Some)),
        }
    }

    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(v) => decimal_of(v)
                .map(Some)
                .ok_or_else(|| self.type_error(name, "a number")),
        }
    }

    /// A number that must be zero or more (prices, counts, weights).
    pub fn non_negative(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        match self.decimal(name)? {
            Some(d) if d.is_sign_negative() && !d.is_zero() => {
                Err(self.type_error(name, "a number of at least 0"))
            }
            other => Ok(other),
        }
    }

    pub fn nullable_date(&self, name: &str) -> Result<Option<Option<DateTime<Utc>>>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => parse_x_date(s)
                .map(|d| Some(Some(d)))
                .ok_or_else(|| self.type_error(name, "an ISO 8601 date-time")),
            Some(_) => Err(self.type_error(name, "an ISO 8601 date-time or null")),
        }
    }

    pub fn object(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.type_error(name, "an object")),
        }
    }

    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.type_error(name, "an array")),
        }
    }
}

/// A JSON number as an exact decimal. Strings and booleans are not numbers.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    let Value::Number(n) = v else { return None };
    let text = n.to_string();
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

fn int_of(v: &Value) -> Option<i64> {
    let Value::Number(n) = v else { return None };
    n.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h
    }

    #[test]
    fn body_must_be_json_object() {
        let h = json_headers();
        assert_eq!(
            parse_object(&h, b"{bad").map_err(|e| e.code),
            Err("400.20".to_string())
        );
        assert_eq!(
            parse_object(&h, b"[1]").map_err(|e| e.code),
            Err("400.20".to_string())
        );
        assert_eq!(
            parse_object(&HeaderMap::new(), b"{}").map_err(|e| e.code),
            Err("400.20".to_string())
        );
        assert!(parse_object(&h, b"{}").is_ok());
    }

    #[test]
    fn numbers_keep_their_digits_and_types_are_strict() {
        let h = json_headers();
        let map = parse_object(&h, br#"{"p":12.50,"s":"12.50","e":1.5e2,"i":3,"b":true}"#)
            .expect("object");
        let f = Fields::new(&map);
        assert_eq!(
            f.decimal("p").ok().flatten().map(|d| d.to_string()),
            Some("12.50".into())
        );
        assert!(f.decimal("s").is_err());
        assert_eq!(f.decimal("e").ok().flatten(), Some(Decimal::from(150)));
        assert_eq!(f.int("i", 1, 14).ok().flatten(), Some(3));
        assert!(f.int("p", 0, 100).is_err());
        assert!(f.boolean("i").is_err());
        assert!(f.allow(&["p"], &[("s", "use p")]).is_err());
    }
}
