//! `POST /connect/token`: authorization codes and refresh tokens for
//! tokens. Refresh tokens rotate: the one presented is consumed.

use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::json;

use super::{no_store, refuse, Form, Grant, Identity, Refusal, TokenSet};

impl Identity {
    pub fn token(&mut self, headers: &HeaderMap, body: &[u8], now: Duration) -> Response {
        self.token_requests += 1;
        match self.exchange(headers, body, now) {
            Ok(set) => tokens(set),
            Err(refusal) => refusal.into_response(),
        }
    }

    fn exchange(
        &mut self,
        headers: &HeaderMap,
        body: &[u8],
        now: Duration,
    ) -> Result<TokenSet, Refusal> {
        let form_encoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form_encoded {
            return refuse(
                "invalid_request",
                "the token endpoint only accepts application/x-www-form-urlencoded",
            );
        }
        let form = Form::parse(body);
        let client_id = self.authenticate_client(headers, &form)?;
        let grant = match form.require("grant_type")? {
            "authorization_code" => self.code_grant(&form, &client_id, now)?,
            "refresh_token" => self.refresh_grant(&form, &client_id, now)?,
            other => {
                return refuse(
                    "unsupported_grant_type",
                    format!("grant_type '{other}' is not supported"),
                )
            }
        };
        Ok(self.issue_tokens(grant, now))
    }

    /// The client, by Basic authorization or by form fields, with its secret.
    fn authenticate_client(&self, headers: &HeaderMap, form: &Form) -> Result<String, Refusal> {
        let (client_id, secret) = match basic_credentials(headers) {
            Some(Ok(pair)) => pair,
            Some(Err(())) => {
                return refuse("invalid_client", "malformed Basic authorization header")
            }
            None => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
                _ => return refuse("invalid_client", "client authentication is missing"),
            },
        };
        let known = self
            .client(&client_id)
            .is_some_and(|c| constant_time_eq(c.client_secret.as_bytes(), secret.as_bytes()));
        match known {
            true => Ok(client_id),
            false => refuse("invalid_client", "unknown client or wrong secret"),
        }
    }

    /// Codes are single use: removed whether or not the rest checks out.
    fn code_grant(
        &mut self,
        form: &Form,
        client_id: &str,
        now: Duration,
    ) -> Result<Grant, Refusal> {
        let code = form.require("code")?;
        let Some(pending) = self.codes.remove(code) else {
            return refuse("invalid_grant", "unknown or already used code");
        };
        if pending.expires_at <= now || pending.grant.client_id != client_id {
            return refuse("invalid_grant", "code expired or issued to another client");
        }
        let redirect = pending.redirect_uri.as_deref();
        if redirect.is_some_and(|u| Some(u) != form.get("redirect_uri")) {
            return refuse(
                "invalid_grant",
                "redirect_uri does not match the authorize request",
            );
        }
        Ok(pending.grant)
    }

    /// A refresh token is consumed when it is used, and when it has expired.
    fn refresh_grant(
        &mut self,
        form: &Form,
        client_id: &str,
        now: Duration,
    ) -> Result<Grant, Refusal> {
        let token = form.require("refresh_token")?;
        match self.refresh.get(token) {
            None => refuse(
                "invalid_grant",
                "unknown, revoked or already used refresh token",
            ),
            Some(issued) if issued.grant.client_id != client_id => refuse(
                "invalid_grant",
                "refresh token was issued to another client",
            ),
            Some(issued) if issued.expires_at <= now => {
                self.refresh.remove(token);
                refuse("invalid_grant", "refresh token expired")
            }
            Some(_) => match self.refresh.remove(token) {
                Some(issued) => Ok(issued.grant),
                None => refuse("invalid_grant", "unknown refresh token"),
            },
        }
    }
}

/// The token response: a bearer token, its lifetime, the scopes and,
/// with `offline_access`, the next refresh token.
fn tokens(set: TokenSet) -> Response {
    let mut body = json!({
        "access_token": set.access_token,
        "token_type": "Bearer",
        "expires_in": set.expires_in,
        "scope": set.scope,
    });
    if let Some(rt) = set.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    no_store(StatusCode::OK, body)
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
