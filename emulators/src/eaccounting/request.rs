//! Reading a request: its query parameters (names case-insensitive), a
//! GUID from the path, and a JSON body.

use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use super::errors::ApiError;
use super::resources::accounting;

/// Query parameters with lower-case names, as ASP.NET binds them.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `true`/`false` parameter, `None` when absent.
pub(crate) fn flag(
    params: &[(String, String)],
    name: &str,
    shown: &str,
) -> Result<Option<bool>, ApiError> {
    match param(params, name) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::validation(format!(
            "{shown} must be true or false, not '{other}'."
        ))),
    }
}

pub(crate) fn parse_guid(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id)
        .map_err(|_| ApiError::validation(format!("The value '{id}' is not a valid GUID.")))
}

/// The entity a URL names does not exist; fiscal years have their own code.
pub(crate) fn not_found(collection: &str, id: &str) -> ApiError {
    match collection {
        "fiscalyears" => accounting::fiscal_year_not_found(id, false),
        _ => ApiError::not_found(collection, id),
    }
}

/// JSON bodies only; a body that is not JSON is a 400/2000 like any other
/// model-binding failure, and a wrong media type is 415. An empty body is
/// `null` unless one is `required`.
pub(crate) fn parse_body(
    headers: &HeaderMap,
    body: &[u8],
    required: bool,
) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return match required {
            true => Err(ApiError::validation(
                "DataModelValidationError - The request body is empty; a JSON object is required.",
            )),
            false => Ok(Value::Null),
        };
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            2000,
            format!("The request entity's media type '{content_type}' is not supported; send application/json."),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(format!(
            "DataModelValidationError - The request body is not valid JSON: {e}."
        ))
    })
}
