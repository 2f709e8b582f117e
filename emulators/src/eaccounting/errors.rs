//! eAccounting's error body and the HTTP status chosen for each error code.
//!
//! Every error, 5xx included, is `{ErrorCode, DeveloperErrorMessage, ErrorId}`
//! (developer.vismaonline.com /docs/error-handling). The code → status mapping
//! is mostly undocumented, so the choices are fixed here in one place:
//!
//! | code | meaning                                   | status |
//! |------|-------------------------------------------|--------|
//! | 2000 | validation, malformed JSON, bad `$filter` | 400    |
//! | 3000 | referenced id in the body does not exist  | 400    |
//! | 3000 | entity addressed by the URL does not exist| 404    |
//! | 3001 | fiscal year does not exist                | 400 (body) / 404 (URL) |
//! | 3002 | account does not exist                    | 400 (body) / 404 (URL) |
//! | 4000 | duplicate of a unique value               | 409    |
//! | 4001 | cannot be deleted (still referenced)      | 409    |
//! | 4002 | cannot be created/updated in this state   | 400    |
//! | 4005 | missing/invalid/expired bearer token      | 401    |
//! | 4005 | token lacks the scope for this endpoint   | 403    |
//! | 4010 | API quota exceeded                        | 429    |
//! | 4026 | voucher in a locked period                | 400    |
//! | 5000 | injected server fault (code invented)     | 5xx    |

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::FaultResponses;
use crate::ratelimit::MinuteWindows;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 2000, message)
    }

    /// A referenced id inside the request body does not exist.
    pub fn reference_not_found(field: &str, value: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            3000,
            format!("ResourceNotFound - {field}: no resource with id '{value}' exists."),
        )
    }

    /// The entity addressed by the URL does not exist.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            3000,
            format!("ResourceNotFound - {what} with id '{id}' was not found."),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, 4000, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            4005,
            "AuthorizationException - Authorization has been denied for this request.",
        )
    }

    pub fn forbidden(needed: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            4005,
            format!(
                "AuthorizationException - The access token lacks a required scope; this endpoint requires any of: {}.",
                needed.join(", ")
            ),
        )
    }

    pub fn quota_exceeded(limit: u32, retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            4010,
            format!(
                "API calls quota exceeded! maximum admitted {limit} per Minute. Try again in {retry_after_secs} seconds."
            ),
        )
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "ErrorCode": self.code,
            "DeveloperErrorMessage": self.message,
            "ErrorId": uuid::Uuid::new_v4().to_string(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Fault bodies worded like eAccounting's own. The 429 message needs the
/// seconds left in the current window, hence the limiter clock.
#[derive(Clone)]
pub struct EaccountingFaultResponses {
    pub limits: MinuteWindows,
    pub limit: u32,
}

impl FaultResponses for EaccountingFaultResponses {
    fn rate_limited(&self) -> Response {
        let secs = (60 - self.limits.now().as_secs() % 60).max(1);
        ApiError::quota_exceeded(self.limit, secs).into_response()
    }

    fn server_error(&self, status: u16) -> Response {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(
            status,
            5000,
            format!(
                "InternalServerError - {} (fault injected by the emulator).",
                status.canonical_reason().unwrap_or("server error")
            ),
        )
        .into_response()
    }
}
