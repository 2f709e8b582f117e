//! CCV-shaped error bodies: `{"status": 404, "code": "404.20", "developermessage": "…"}`.
//!
//! Codes documented by CCV (API notes §5) are used where one fits. Where the
//! docs are silent the emulator picks its own `<status>.<sub>` code, listed
//! here so connector authors can match on them:
//!
//! | status | code     | meaning                                                          |
//! |--------|----------|------------------------------------------------------------------|
//! | 400    | `400.10` | bad query string: unknown or repeated parameter, bad value, `size` > 250 |
//! | 400    | `400.20` | body is not a JSON object (malformed JSON, wrong content type)  |
//! | 400    | `400.30` | body failed validation (unknown/read-only field, type, range, missing) |
//! | 401    | `401.10` | an `x-public`/`x-date`/`x-hash` header is missing or empty      |
//! | 401    | `401.20` | unknown public key or hash mismatch (not told apart on purpose) |
//! | 401    | `401.30` | `x-date` unparsable or more than 5 minutes from server time     |
//! | 404    | `404.10` | the path names a real resource but no item has that id          |
//! | 404    | `404.20` | unknown resource path (documented)                              |
//! | 405    | `405.10` | method not allowed on this resource (documented)                |
//! | 429    | `429.10` | per-resource, per-method minute limit (documented)              |
//! | 429    | `429.11` | total minute limit (documented)                                 |
//! | 500    | `500.80` | payload too big (documented)                                    |
//! | 5xx    | `<s>.00` | injected server fault                                           |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error answer. `code` follows CCV's `<http>.<sub>` convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bad_query(message: impl Into<String>) -> Self {
        Self::new(400, "400.10", message)
    }
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(400, "400.20", message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "400.30", message)
    }
    pub fn auth_missing(message: impl Into<String>) -> Self {
        Self::new(401, "401.10", message)
    }
    pub fn auth_rejected() -> Self {
        Self::new(401, "401.20", "Invalid credentials or hash")
    }
    pub fn auth_date(message: impl Into<String>) -> Self {
        Self::new(401, "401.30", message)
    }
    pub fn not_found(kind: &str, id: i64) -> Self {
        Self::new(404, "404.10", format!("No {kind} with id {id}"))
    }
    pub fn unknown_resource() -> Self {
        Self::new(404, "404.20", "Invalid resource name")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(405, "405.10", "Method not allowed")
    }
    pub fn rate_limited_resource() -> Self {
        Self::new(
            429,
            "429.10",
            "Rate limit for this method of this resource exceeded",
        )
    }
    pub fn rate_limited_total() -> Self {
        Self::new(429, "429.11", "Total API rate limit exceeded")
    }
    pub fn payload_too_big() -> Self {
        Self::new(500, "500.80", "Payload too big")
    }
    pub fn server_fault(status: u16) -> Self {
        Self::new(status, format!("{status}.00"), "Internal server error")
    }

    pub fn body(&self) -> Value {
        json!({ "status": self.status, "code": self.code, "developermessage": self.message })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, &self.body())
    }
}

/// A JSON response with the content type CCV clients expect.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The fault layer's wording: the same JSON shape as every other error.
#[derive(Debug, Clone, Copy, Default)]
pub struct CcvFaultResponses;

impl crate::faults::FaultResponses for CcvFaultResponses {
    fn rate_limited(&self) -> Response {
        ApiError::rate_limited_resource().into_response()
    }
    fn server_error(&self, status: u16) -> Response {
        ApiError::server_fault(status).into_response()
    }
}
