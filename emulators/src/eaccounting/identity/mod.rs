//! The IdentityServer-style token service (`/connect/authorize`,
//! `/connect/token`) in front of the API.
//!
//! Refresh tokens rotate: every refresh answers a new pair and the refresh
//! token that was presented is consumed, so presenting it again is
//! `invalid_grant` (the notes assume rotation; a connector that keeps the
//! old token must fail here, not in production). Expiry runs on the
//! emulator clock, which tests shift instead of sleeping.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde_json::json;

mod authorize;
mod token;

/// Scopes the identity server knows; anything else is `invalid_scope`.
pub const KNOWN_SCOPES: &[&str] = &[
    "ea:api",
    "offline_access",
    "ea:sales",
    "ea:sales_readonly",
    "ea:accounting",
    "ea:accounting_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
    "vls:api",
    "openid",
    "profile",
    "email",
];

const CODE_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Exact-match allow list; empty allows any redirect URI.
    pub redirect_uris: Vec<String>,
}

/// What a token stands for: one application, one user, one company.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub user: String,
}

impl Grant {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug)]
struct Pending {
    grant: Grant,
    redirect_uri: Option<String>,
    expires_at: Duration,
}

#[derive(Debug)]
struct Issued {
    grant: Grant,
    expires_at: Duration,
}

#[derive(Debug)]
pub struct Identity {
    pub clients: Vec<OAuthClient>,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub user: String,
    codes: HashMap<String, Pending>,
    access: HashMap<String, Issued>,
    refresh: HashMap<String, Issued>,
    pub token_requests: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
    pub scope: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode_upper(bytes)
}

/// Why the identity server says no: an OAuth error code and what went
/// wrong. IdentityServer answers each with 400 (`invalid_client` too).
struct Refusal {
    error: &'static str,
    description: String,
}

fn refuse<T>(error: &'static str, description: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        error,
        description: description.into(),
    })
}

/// A response the identity server's clients must not cache.
fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

impl Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        no_store(StatusCode::BAD_REQUEST, body)
    }
}

/// The non-empty values of a form or query string.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(text: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(text).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, Refusal> {
        self.get(name).ok_or_else(|| Refusal {
            error: "invalid_request",
            description: format!("{name} is missing"),
        })
    }
}

pub fn parse_scopes(scope: &str) -> Result<Vec<String>, String> {
    let scopes: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
    if scopes.is_empty() {
        return Err("no scope requested".into());
    }
    if let Some(bad) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return Err(format!("unknown scope '{bad}'"));
    }
    Ok(scopes)
}

impl Identity {
    pub fn new(
        clients: Vec<OAuthClient>,
        access_lifetime: Duration,
        refresh_lifetime: Duration,
        user: String,
    ) -> Self {
        Self {
            clients,
            access_lifetime,
            refresh_lifetime,
            user,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            token_requests: 0,
        }
    }

    fn client(&self, id: &str) -> Option<&OAuthClient> {
        self.clients.iter().find(|c| c.client_id == id)
    }

    pub fn grant_for(&self, client_id: &str, scopes: Vec<String>) -> Grant {
        Grant {
            client_id: client_id.to_string(),
            scopes,
            user: self.user.clone(),
        }
    }

    pub fn issue_code(
        &mut self,
        grant: Grant,
        redirect_uri: Option<String>,
        now: Duration,
    ) -> String {
        let code = random_token();
        self.codes.insert(
            code.clone(),
            Pending {
                grant,
                redirect_uri,
                expires_at: now.saturating_add(CODE_LIFETIME),
            },
        );
        code
    }

    /// Mints a token pair. A refresh token is only issued with `offline_access`.
    pub fn issue_tokens(&mut self, grant: Grant, now: Duration) -> TokenSet {
        let access_token = random_token();
        let refresh_token = grant.has("offline_access").then(random_token);
        let scope = grant.scopes.join(" ");
        if let Some(rt) = &refresh_token {
            self.refresh.insert(
                rt.clone(),
                Issued {
                    grant: grant.clone(),
                    expires_at: now.saturating_add(self.refresh_lifetime),
                },
            );
        }
        self.access.insert(
            access_token.clone(),
            Issued {
                grant,
                expires_at: now.saturating_add(self.access_lifetime),
            },
        );
        TokenSet {
            access_token,
            refresh_token,
            expires_in: self.access_lifetime.as_secs(),
            scope,
        }
    }

    /// The grant behind a bearer token, if it is known and not expired.
    pub fn authenticate(&self, access_token: &str, now: Duration) -> Option<Grant> {
        self.access
            .get(access_token)
            .filter(|t| t.expires_at > now)
            .map(|t| t.grant.clone())
    }

    pub fn expire_access_tokens(&mut self) {
        self.access.clear();
    }

    pub fn revoke_all(&mut self) {
        self.access.clear();
        self.refresh.clear();
        self.codes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn identity() -> Identity {
        Identity::new(
            vec![OAuthClient {
                client_id: "c".into(),
                client_secret: "s".into(),
                redirect_uris: vec![],
            }],
            Duration::from_secs(3600),
            Duration::from_secs(86400),
            "user".into(),
        )
    }

    #[test]
    fn refresh_tokens_are_single_use() {
        let mut id = identity();
        let now = Duration::from_secs(1_000_000);
        let grant = id.grant_for("c", vec!["ea:api".into(), "offline_access".into()]);
        let first = id.issue_tokens(grant, now);
        let rt = first.refresh_token.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Yzpz"),
        );
        let body = format!("grant_type=refresh_token&refresh_token={rt}");
        assert_eq!(
            id.token(&headers, body.as_bytes(), now).status(),
            StatusCode::OK
        );
        assert_eq!(
            id.token(&headers, body.as_bytes(), now).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(id.token_requests, 2);
    }

    #[test]
    fn access_tokens_expire_on_the_given_clock() {
        let mut id = identity();
        let now = Duration::from_secs(1_000_000);
        let set = id.issue_tokens(id.grant_for("c", vec!["ea:api".into()]), now);
        assert!(
            set.refresh_token.is_none(),
            "no offline_access, no refresh token"
        );
        assert!(id
            .authenticate(&set.access_token, now + Duration::from_secs(3599))
            .is_some());
        assert!(id
            .authenticate(&set.access_token, now + Duration::from_secs(3600))
            .is_none());
    }
}
