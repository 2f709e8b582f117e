//! Write bodies checked against the model, then stored through it.
//!
//! A write is checked completely before anything changes, so a 400 leaves
//! the shop as it was. Numbers are read from their exact text (serde_json
//! keeps it), never through f64. A wrong type is a 400, not a coercion: a
//! connector that sends `"12.50"` for a price must hear about it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{resource, Bound, Field, Resource, Store, Type};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::json::decimal_of;
use crate::ccvshop::signing::parse_x_date;

/// The two kinds of write: POST creates, PATCH changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Patch,
}

impl Resource {
    /// Checks a write body: every key must be writable by `method`, every
    /// value of its input type and within its bound, and a POST must carry
    /// the required fields. `path` prefixes messages (`orderrows[3].`).
    ///
    /// Returns the body with timestamps rewritten to RFC 3339, the form
    /// [`Resource::apply`] can store, whatever form the client sent.
    pub fn check_write(
        &self,
        method: Method,
        body: &Map<String, Value>,
        path: &str,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut out = Map::new();
        for (key, value) in body {
            let f = self
                .field(key)
                .filter(|f| f.writable_by(method))
                .ok_or_else(|| not_writable(self.field(key), path, key))?;
            let at = format!("{path}{key}");
            out.insert(
                key.clone(),
                check_value(f, f.input_type(), value, &at, method)?,
            );
        }
        if method == Method::Post {
            if let Some(f) = self
                .fields
                .iter()
                .find(|f| f.required && !body.contains_key(&f.name))
            {
                return Err(ApiError::invalid(format!(
                    "Property '{path}{}' is required",
                    f.name
                )));
            }
        }
        Ok(out)
    }

    /// `record` with the checked fields of a write stored in it, through
    /// the record's own serde shape; fields the resource's code stores
    /// itself ([`Store::Custom`]) are left out.
    pub fn apply<T: Serialize + DeserializeOwned>(
        &self,
        checked: &Map<String, Value>,
        record: &T,
    ) -> Result<T, ApiError> {
        let internal = |e: serde_json::Error| ApiError::invalid(format!("{}: {e}", self.name));
        let mut value = serde_json::to_value(record).map_err(internal)?;
        if let Value::Object(stored) = &mut value {
            for (key, v) in checked {
                match self.field(key).map(|f| &f.store) {
                    Some(Store::Same) => stored.insert(key.clone(), v.clone()),
                    Some(Store::As(name)) => stored.insert(name.clone(), v.clone()),
                    Some(Store::Custom) | None => None,
                };
            }
        }
        serde_json::from_value(value).map_err(internal)
    }
}

fn not_writable(field: Option<&Field>, path: &str, key: &str) -> ApiError {
    let hint = field
        .and_then(|f| f.hint.as_deref())
        .map(|h| format!(": {h}"))
        .unwrap_or_default();
    ApiError::invalid(format!("Property '{path}{key}' is not writable{hint}"))
}

fn must_be(at: &str, want: &str) -> ApiError {
    ApiError::invalid(format!("Property '{at}' must be {want}"))
}

fn check_value(
    f: &Field,
    ty: &Type,
    value: &Value,
    at: &str,
    method: Method,
) -> Result<Value, ApiError> {
    if value.is_null() {
        return match f.clearable {
            true => Ok(Value::Null),
            false => Err(must_be(at, &format!("{} (not null)", describe(ty)))),
        };
    }
    match (ty, value) {
        (Type::Str { max }, Value::String(s)) => {
            if f.bound == Bound::NonEmpty && s.trim().is_empty() {
                return Err(must_be(at, "a non-empty string"));
            }
            match max {
                Some(max) if s.chars().count() > *max => {
                    Err(must_be(at, &format!("at most {max} characters long")))
                }
                _ => Ok(value.clone()),
            }
        }
        (Type::Int, Value::Number(n)) => {
            let (min, max) = match f.bound {
                Bound::Range(min, max) => (min, max),
                Bound::Id => (1, i64::MAX),
                _ => (i64::MIN, i64::MAX),
            };
            match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(value.clone()),
                _ => Err(must_be(at, &format!("an integer between {min} and {max}"))),
            }
        }
        (Type::Decimal, Value::Number(_)) => match decimal_of(value) {
            Some(d) if f.bound == Bound::NonNegative && d.is_sign_negative() && !d.is_zero() => {
                Err(must_be(at, "a number of at least 0"))
            }
            Some(_) => Ok(value.clone()),
            None => Err(must_be(at, "a number")),
        },
        (Type::Bool, Value::Bool(_)) | (Type::Any, _) => Ok(value.clone()),
        (Type::DateTime, Value::String(s)) => parse_x_date(s)
            .map(|d| Value::String(d.to_rfc3339()))
            .ok_or_else(|| must_be(at, "an ISO 8601 date-time")),
        (Type::Object(inner), Value::Object(m)) => resource(inner)
            .check_write(method, m, &format!("{at}."))
            .map(Value::Object),
        (Type::List(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            // Every item of a list is new (rows replace rows), so it is
            // checked as a creation whatever the outer method.
            .map(|(i, v)| check_value(f, item, v, &format!("{at}[{i}]"), Method::Post))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(must_be(at, describe(ty))),
    }
}

fn describe(ty: &Type) -> &'static str {
    match ty {
        Type::Str { .. } => "a string",
        Type::Int => "an integer",
        Type::Decimal => "a number",
        Type::Bool => "a boolean",
        Type::DateTime => "an ISO 8601 date-time",
        Type::Object(_) => "an object",
        Type::List(_) => "an array",
        Type::Any => "a value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccvshop::model::resource;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn code(r: Result<Map<String, Value>, ApiError>) -> Result<(), String> {
        r.map(|_| ()).map_err(|e| e.message)
    }

    #[test]
    fn types_bounds_and_writability_come_from_the_model() {
        assert!(code(resource("orders").check_write(
            Method::Patch,
            &body(json!({"status": 5})),
            ""
        ))
        .is_ok());
        for bad in [
            json!({"status": 15}),
            json!({"status": "5"}),
            json!({"status": null}),
            json!({"paid": 1}),
            json!({"total_shipping": -1}),
            json!({"deliver_method": " "}),
            json!({"is_paid": true}),
            json!({"user_id": 1}),
        ] {
            assert!(
                code(resource("orders").check_write(Method::Patch, &body(bad.clone()), ""))
                    .is_err(),
                "{bad}"
            );
        }
        let hint = code(resource("orders").check_write(
            Method::Patch,
            &body(json!({"is_paid": true})),
            "",
        ));
        assert!(hint.is_err_and(|m| m.contains("'is_paid' is not writable")));
    }

    #[test]
    fn nested_objects_and_lists_are_checked_with_paths() {
        let rows =
            json!({"orderrows": [{"count": 1, "product_name": "x", "price": 1}, {"count": "2"}]});
        let err = code(resource("orders").check_write(Method::Patch, &body(rows), ""));
        assert!(err.is_err_and(|m| m.contains("'orderrows[1].count'")));
        let customer = json!({"customer": {"billingaddress": {"housenumber": "12"}}});
        let err = code(resource("orders").check_write(Method::Patch, &body(customer), ""));
        assert!(err.is_err_and(|m| m.contains("'customer.billingaddress.housenumber'")));
    }

    #[test]
    fn dates_are_normalised_for_storage() {
        let out = resource("orders")
            .check_write(
                Method::Patch,
                &body(json!({"deliver_date": "2024-03-01T10:00:00+0000"})),
                "",
            )
            .expect("valid");
        assert_eq!(out["deliver_date"], json!("2024-03-01T10:00:00+00:00"));
    }
}
