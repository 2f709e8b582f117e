//! What can go wrong when talking to a service, classified so that the
//! engine knows what to do: retry, search before retrying, or give up on
//! the record and explain.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 429: over the service's rate limit.
    RateLimited,
    /// 5xx.
    Server,
    /// No answer in time.
    Timeout,
    /// Refused, reset or dropped connection.
    Connection,
    /// The service (or flowc's own check before sending) rejected the data.
    Validation,
    NotFound,
    /// A unique value is already taken.
    Conflict,
    /// Credentials missing, wrong or expired beyond refresh.
    Auth,
    /// The response could not be understood (not JSON, wrong shape, bad signature).
    Protocol,
    /// Settings are missing or invalid.
    Config,
    /// A local file could not be read or written.
    Io,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Server => "server",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connection => "connection",
            ErrorClass::Validation => "validation",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Auth => "auth",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Config => "config",
            ErrorClass::Io => "io",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    /// The service's own error code (`429.10`, `4010`, `2000`…).
    pub code: Option<String>,
    pub message: String,
    /// The raw error body, for dead letters (never contains our secrets).
    pub body: Option<String>,
    /// The service's id for this error (eAccounting `ErrorId`), for support tickets.
    pub error_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// The field the service blamed, when it said.
    pub field: Option<String>,
    /// The request may have been applied although no success was seen
    /// (timeout or dropped connection after sending, 5xx on a write).
    pub outcome_unknown: bool,
}

impl ConnectorError {
    /// What to tell the user: the code, the message, how to fix the
    /// settings, and the start of what the service answered.
    pub fn diagnostic(&self) -> crate::diag::Diagnostic {
        use crate::diag::{codes, Diagnostic};
        let code = match self.class {
            ErrorClass::Config | ErrorClass::Auth => &codes::E0402,
            _ => &codes::E0010,
        };
        let mut d = Diagnostic::new(code, self.to_string());
        match self.class {
            ErrorClass::Config => {
                d = d.help(
                    "set the connection's environment variables (docs/connectors/README.md); \
                     to try everything without credentials, run `flowc sandbox`",
                )
            }
            ErrorClass::Io => d = d.help("check that the file exists and its folder is writable"),
            _ => {}
        }
        if let Some(body) = &self.body {
            d = d.note(format!(
                "the service answered: {}",
                body.chars().take(300).collect::<String>()
            ));
        }
        d
    }

    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ConnectorError {
            class,
            status: None,
            code: None,
            message: message.into(),
            body: None,
            error_id: None,
            retry_after: None,
            field: None,
            outcome_unknown: false,
        }
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
    pub fn unknown_outcome(mut self) -> Self {
        self.outcome_unknown = true;
        self
    }

    /// Worth trying again later (possibly after searching for the record).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.class,
            ErrorClass::RateLimited
                | ErrorClass::Server
                | ErrorClass::Timeout
                | ErrorClass::Connection
        )
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status}")?;
            if let Some(code) = &self.code {
                write!(f, ", code {code}")?;
            }
            if let Some(id) = &self.error_id {
                write!(f, ", error id {id}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectorError {}
