//! Write bodies: a JSON object declared as JSON, then read through the
//! model ([`super::model::Resource::check_write`]). [`Body`] reads a body
//! that has been checked, so its getters cannot fail: the model already
//! said what type every value has.

use axum::http::{header, HeaderMap};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::json::decimal_of;

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

/// Typed reads of a checked body; `None` when the field was not sent (or
/// was sent as `null`, where the model allows that).
#[derive(Debug, Clone, Copy)]
pub struct Body<'a>(pub &'a Map<String, Value>);

impl<'a> Body<'a> {
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(Value::as_str)
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_string)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }
    pub fn decimal(&self, name: &str) -> Option<Decimal> {
        self.0.get(name).and_then(decimal_of)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(Value::as_bool)
    }
    pub fn object(&self, name: &str) -> Option<&'a Map<String, Value>> {
        self.0.get(name).and_then(Value::as_object)
    }
    pub fn list(&self, name: &str) -> Option<&'a Vec<Value>> {
        self.0.get(name).and_then(Value::as_array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn body_must_be_a_json_object_declared_as_json() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let code = |h: &HeaderMap, b: &[u8]| parse_object(h, b).map(|_| ()).map_err(|e| e.code);
        assert_eq!(code(&h, b"{bad"), Err("400.20".to_string()));
        assert_eq!(code(&h, b"[1]"), Err("400.20".to_string()));
        assert_eq!(code(&HeaderMap::new(), b"{}"), Err("400.20".to_string()));
        assert_eq!(code(&h, b"{}"), Ok(()));
    }
}
