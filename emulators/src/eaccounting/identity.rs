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

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use serde_json::json;

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

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
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

    /// `GET /connect/authorize`: no login page; the configured test user
    /// consents at once and the browser is sent back with a code.
    pub fn authorize(&mut self, query: &str, now: Duration) -> Response {
        let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let Some(client_id) = get("client_id") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id is missing",
            );
        };
        let Some(client) = self.client(client_id).cloned() else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "unknown client_id",
            );
        };
        let Some(redirect_uri) = get("redirect_uri") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is missing",
            );
        };
        if !client.redirect_uris.is_empty()
            && !client.redirect_uris.iter().any(|u| u == redirect_uri)
        {
            // Never redirect to an unregistered URI: answer here instead.
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not registered for this client",
            );
        }
        let Ok(mut target) = url::Url::parse(redirect_uri) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not an absolute URL",
            );
        };
        let state = get("state").map(str::to_string);
        let outcome = match get("response_type") {
            Some("code") => match parse_scopes(get("scope").unwrap_or("")) {
                Ok(scopes) => {
                    let grant = self.grant_for(client_id, scopes);
                    Ok(self.issue_code(grant, Some(redirect_uri.to_string()), now))
                }
                Err(e) => Err(("invalid_scope", e)),
            },
            _ => Err((
                "unsupported_response_type",
                "only response_type=code is supported".to_string(),
            )),
        };
        {
            let mut q = target.query_pairs_mut();
            match &outcome {
                Ok(code) => q.append_pair("code", code),
                Err((error, description)) => q
                    .append_pair("error", error)
                    .append_pair("error_description", description),
            };
            if let Some(s) = &state {
                q.append_pair("state", s);
            }
        }
        let mut r = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(target.as_str()) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }

    /// `POST /connect/token`. Client errors are 400 with an OAuth error
    /// body, as IdentityServer answers (it uses 400 for `invalid_client`, too).
    pub fn token(&mut self, headers: &HeaderMap, body: &[u8], now: Duration) -> Response {
        self.token_requests += 1;
        let form_encoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form_encoded {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the token endpoint only accepts application/x-www-form-urlencoded",
            );
        }
        let params: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());

        let (client_id, secret) = match basic_credentials(headers) {
            Some(Ok(pair)) => pair,
            Some(Err(())) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "malformed Basic authorization header",
                )
            }
            None => match (get("client_id"), get("client_secret")) {
                (Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_client",
                        "client authentication is missing",
                    )
                }
            },
        };
        let authenticated = self
            .client(&client_id)
            .is_some_and(|c| constant_time_eq(c.client_secret.as_bytes(), secret.as_bytes()));
        if !authenticated {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "unknown client or wrong secret",
            );
        }

        let grant = match get("grant_type") {
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "grant_type is missing",
                )
            }
            Some("authorization_code") => {
                let Some(code) = get("code") else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "code is missing",
                    );
                };
                // Codes are single use: removed whether or not the rest checks out.
                let Some(pending) = self.codes.remove(code) else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "unknown or already used code",
                    );
                };
                if pending.expires_at <= now || pending.grant.client_id != client_id {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "code expired or issued to another client",
                    );
                }
                if pending
                    .redirect_uri
                    .as_deref()
                    .is_some_and(|u| Some(u) != get("redirect_uri"))
                {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "redirect_uri does not match the authorize request",
                    );
                }
                pending.grant
            }
            Some("refresh_token") => {
                let Some(token) = get("refresh_token") else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "refresh_token is missing",
                    );
                };
                match self.refresh.get(token) {
                    Some(issued) if issued.grant.client_id != client_id => {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "refresh token was issued to another client",
                        )
                    }
                    Some(issued) if issued.expires_at <= now => {
                        self.refresh.remove(token);
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "refresh token expired",
                        );
                    }
                    Some(_) => {}
                    None => {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "unknown, revoked or already used refresh token",
                        )
                    }
                }
                match self.refresh.remove(token) {
                    Some(issued) => issued.grant,
                    None => {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "unknown refresh token",
                        )
                    }
                }
            }
            Some(other) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    &format!("grant_type '{other}' is not supported"),
                )
            }
        };
        let set = self.issue_tokens(grant, now);
        let mut body = json!({
            "access_token": set.access_token,
            "token_type": "Bearer",
            "expires_in": set.expires_in,
            "scope": set.scope,
        });
        if let Some(rt) = set.refresh_token {
            body["refresh_token"] = json!(rt);
        }
        let mut r = (StatusCode::OK, axum::Json(body)).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let parsed = (|| {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        Some((decode(id)?, decode(secret)?))
    })();
    Some(parsed.ok_or(()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
