//! `GET /connect/authorize`: no login page; the configured test user
//! consents at once and the browser is sent back with a code.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{parse_scopes, refuse, Form, Identity, Refusal};

impl Identity {
    pub fn authorize(&mut self, query: &str, now: Duration) -> Response {
        let form = Form::parse(query.as_bytes());
        match self.redirect_target(&form) {
            Ok((client_id, target)) => self.redirect(&form, &client_id, target, now),
            // Never redirect to an unchecked URI: answer here instead.
            Err(refusal) => refusal.into_response(),
        }
    }

    /// The client and the registered redirect URI the answer goes back to.
    fn redirect_target(&self, form: &Form) -> Result<(String, url::Url), Refusal> {
        let client_id = form.require("client_id")?;
        let Some(client) = self.client(client_id) else {
            return refuse("unauthorized_client", "unknown client_id");
        };
        let redirect_uri = form.require("redirect_uri")?;
        let registered = client.redirect_uris.is_empty()
            || client.redirect_uris.iter().any(|u| u == redirect_uri);
        if !registered {
            return refuse(
                "invalid_request",
                "redirect_uri is not registered for this client",
            );
        }
        match url::Url::parse(redirect_uri) {
            Ok(target) => Ok((client_id.to_string(), target)),
            Err(_) => refuse("invalid_request", "redirect_uri is not an absolute URL"),
        }
    }

    /// 302 to `target` with a code, or with the error, and the `state`.
    fn redirect(
        &mut self,
        form: &Form,
        client_id: &str,
        mut target: url::Url,
        now: Duration,
    ) -> Response {
        let outcome = match form.get("response_type") {
            Some("code") => parse_scopes(form.get("scope").unwrap_or("")).map_or_else(
                |e| Err(("invalid_scope", e)),
                |scopes| {
                    let grant = self.grant_for(client_id, scopes);
                    let redirect_uri = form.get("redirect_uri").map(str::to_string);
                    Ok(self.issue_code(grant, redirect_uri, now))
                },
            ),
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
            if let Some(state) = form.get("state") {
                q.append_pair("state", state);
            }
        }
        let mut r = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(target.as_str()) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }
}
