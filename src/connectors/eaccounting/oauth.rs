//! OAuth2 against Visma's identity server, through the `oauth2` crate: the
//! authorization-code exchange, refreshes (Basic client authentication,
//! form-encoded, `{identity_url}/connect/token`), and the interactive sign-in
//! behind `flowc auth eaccounting`, whose browser comes back to a loopback
//! listener (axum) on this machine.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Html;
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse as _,
    TokenUrl,
};
use serde::Deserialize;

use super::tokens::{unix_now, StoredTokens, TokenStore};
use crate::connectors::error::{ConnectorError, ErrorClass};
use crate::connectors::http::transport_error;
use crate::connectors::registry::AuthContext;
use crate::connectors::settings::{Secret, Settings};

/// What flowc asks for: API access, a refresh token, sales and accounting.
pub const SCOPE: &str = "ea:api offline_access ea:sales ea:accounting";
pub const DEFAULT_IDENTITY_URL: &str = "https://identity.vismaonline.com";

/// The command that fixes every "sign in again" problem.
pub const AUTH_COMMAND: &str = "flowc auth eaccounting";

/// The application's credentials at the identity server. Debug shows no
/// secret: [`Secret`] redacts itself.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    pub identity_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

/// `oauth2`'s client with the authorize and token endpoints set.
type Configured =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A successful token response.
#[derive(Clone)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl From<BasicTokenResponse> for TokenResponse {
    fn from(t: BasicTokenResponse) -> Self {
        TokenResponse {
            access_token: t.access_token().secret().clone(),
            refresh_token: t.refresh_token().map(|r| r.secret().clone()),
            // Visma's access tokens live an hour; a response that does not
            // say is taken to mean the same.
            expires_in: t.expires_in().map_or(3600, |d| d.as_secs()),
            scope: t
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        }
    }
}

impl TokenResponse {
    /// The pair to store. A response without a refresh token keeps `previous`.
    pub fn into_stored(
        self,
        previous: Option<&str>,
        seeded_from: Option<String>,
    ) -> Result<StoredTokens, ConnectorError> {
        let refresh_token = self
            .refresh_token
            .or_else(|| previous.map(str::to_string))
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorClass::Auth,
                    format!(
                        "eAccounting answered without a refresh token (was `offline_access` granted?); run `{AUTH_COMMAND}` again"
                    ),
                )
            })?;
        Ok(StoredTokens {
            access_token: self.access_token,
            refresh_token,
            expires_at: unix_now().saturating_add(self.expires_in),
            scope: self.scope,
            seeded_from,
            saved_at: 0,
            lifetime: self.expires_in,
        })
    }
}

/// The blocking reqwest client with the last answer kept: `oauth2` reduces
/// an error answer to its OAuth body, but the HTTP status decides whether a
/// failed refresh is a rate limit, a server fault or a refusal.
struct Recording<'a> {
    http: &'a reqwest::blocking::Client,
    answer: RefCell<Option<(u16, Vec<u8>)>>,
}

impl oauth2::SyncHttpClient for Recording<'_> {
    type Error = HttpClientError<reqwest::Error>;

    fn call(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, Self::Error> {
        let response = oauth2::SyncHttpClient::call(self.http, request)?;
        *self.answer.borrow_mut() = Some((response.status().as_u16(), response.body().clone()));
        Ok(response)
    }
}

impl OAuthClient {
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.identity_url.trim_end_matches('/'))
    }

    fn configured(&self) -> Result<Configured, ConnectorError> {
        let base = self.identity_url.trim_end_matches('/');
        let bad = |e: url::ParseError| {
            ConnectorError::new(
                ErrorClass::Config,
                format!("`identity_url` {base:?} is not a URL: {e}"),
            )
        };
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::new(format!("{base}/connect/authorize")).map_err(bad)?)
            .set_token_uri(TokenUrl::new(self.token_url()).map_err(bad)?))
    }

    /// Sends one token request built by `request` and classifies the
    /// outcome. Never retried here: with rotating refresh tokens a repeated
    /// refresh whose first answer was lost fails anyway, and the caller
    /// decides what is safe.
    fn token_request(
        &self,
        http: &reqwest::blocking::Client,
        request: impl FnOnce(
            &Configured,
            &Recording<'_>,
        ) -> Result<
            BasicTokenResponse,
            RequestTokenError<HttpClientError<reqwest::Error>, oauth2::basic::BasicErrorResponse>,
        >,
    ) -> Result<TokenResponse, ConnectorError> {
        let client = self.configured()?;
        let recording = Recording {
            http,
            answer: RefCell::new(None),
        };
        let result = request(&client, &recording);
        let answer = recording.answer.into_inner();
        match (result, answer) {
            (Ok(t), _) => Ok(t.into()),
            (Err(RequestTokenError::Request(e)), _) => Err(request_failure(e)),
            (Err(RequestTokenError::Parse(e, _)), Some((status, _))) if status == 200 => {
                Err(ConnectorError::new(
                    ErrorClass::Protocol,
                    format!("eAccounting's token response is not understood: {e}"),
                )
                .with_status(status))
            }
            (Err(_), Some((status, body))) => Err(token_error(status, &body)),
            (Err(e), None) => Err(ConnectorError::new(
                ErrorClass::Config,
                format!("cannot build the eAccounting token request: {e}"),
            )),
        }
    }

    pub fn exchange_code(
        &self,
        http: &reqwest::blocking::Client,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, ConnectorError> {
        let redirect = redirect_url(redirect_uri)?;
        self.token_request(http, |client, recording| {
            client
                .exchange_code(AuthorizationCode::new(code.to_string()))
                .set_redirect_uri(std::borrow::Cow::Borrowed(&redirect))
                .request(recording)
        })
    }

    pub fn refresh(
        &self,
        http: &reqwest::blocking::Client,
        refresh_token: &str,
    ) -> Result<TokenResponse, ConnectorError> {
        let token = RefreshToken::new(refresh_token.to_string());
        self.token_request(http, |client, recording| {
            client.exchange_refresh_token(&token).request(recording)
        })
    }

    /// `{identity_url}/connect/authorize?…` for the browser.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> Result<String, ConnectorError> {
        let client = self
            .configured()?
            .set_redirect_uri(redirect_url(redirect_uri)?);
        let (url, _) = client
            .authorize_url(|| CsrfToken::new(state.to_string()))
            .add_scopes(SCOPE.split(' ').map(|s| Scope::new(s.to_string())))
            .url();
        Ok(url.to_string())
    }
}

fn redirect_url(uri: &str) -> Result<RedirectUrl, ConnectorError> {
    RedirectUrl::new(uri.to_string()).map_err(|e| {
        ConnectorError::new(
            ErrorClass::Config,
            format!("the redirect URI {uri:?} is not a URL: {e}"),
        )
    })
}

/// A token request that got no answer.
fn request_failure(e: HttpClientError<reqwest::Error>) -> ConnectorError {
    const WHAT: &str = "eAccounting token request";
    match e {
        HttpClientError::Reqwest(e) => transport_error(&e, WHAT),
        // Reading the body failed: the request was sent and may have rotated the token.
        HttpClientError::Io(e) => ConnectorError::new(
            if e.kind() == std::io::ErrorKind::TimedOut {
                ErrorClass::Timeout
            } else {
                ErrorClass::Connection
            },
            format!("{WHAT}: reading the answer: {e}"),
        )
        .unknown_outcome(),
        other => ConnectorError::new(ErrorClass::Connection, format!("{WHAT}: {other}")),
    }
}

/// Maps an OAuth error answer (`{"error": "invalid_grant", …}`).
fn token_error(status: u16, body: &[u8]) -> ConnectorError {
    #[derive(Deserialize)]
    struct OAuthError {
        error: Option<String>,
        error_description: Option<String>,
    }
    let parsed: Option<OAuthError> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|p| p.error.clone());
    let description = parsed
        .and_then(|p| p.error_description)
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let text = String::from_utf8_lossy(body)
        .chars()
        .take(2000)
        .collect::<String>();
    let err = match error.as_deref() {
        Some("invalid_grant") => ConnectorError::new(
            ErrorClass::Auth,
            format!(
                "eAccounting refused the stored refresh token{description}; sign in again with `{AUTH_COMMAND}` (or give a new EACCOUNTING_REFRESH_TOKEN)"
            ),
        ),
        Some("invalid_client" | "unauthorized_client") => ConnectorError::new(
            ErrorClass::Auth,
            format!(
                "eAccounting rejected the client_id/client_secret{description}; check the connection settings"
            ),
        ),
        Some(other) => ConnectorError::new(
            if status >= 500 {
                ErrorClass::Server
            } else {
                ErrorClass::Auth
            },
            format!("eAccounting's token endpoint answered `{other}`{description}"),
        ),
        None if status == 429 => ConnectorError::new(
            ErrorClass::RateLimited,
            "eAccounting's token endpoint is rate limiting",
        ),
        None if status >= 500 => ConnectorError::new(
            ErrorClass::Server,
            format!("eAccounting's token endpoint failed with HTTP {status}"),
        ),
        None => ConnectorError::new(
            ErrorClass::Protocol,
            format!("eAccounting's token endpoint answered HTTP {status} without an OAuth error"),
        ),
    };
    let mut err = err.with_status(status).with_body(text);
    if let Some(code) = error {
        err = err.with_code(code);
    }
    err
}

pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::blocking::Client, ConnectorError> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flowc/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ConnectorError::new(
                ErrorClass::Config,
                format!("cannot set up HTTP client: {e}"),
            )
        })
}

pub(crate) fn client_from_settings(settings: &Settings) -> Result<OAuthClient, ConnectorError> {
    settings.service_url("identity_url")?;
    Ok(OAuthClient {
        identity_url: settings
            .get("identity_url")
            .unwrap_or(DEFAULT_IDENTITY_URL)
            .trim_end_matches('/')
            .to_string(),
        client_id: settings.require("client_id")?.to_string(),
        client_secret: Secret::new(settings.require("client_secret")?),
    })
}

/// Where the browser comes back to: `redirect_uri` when the settings give
/// one (Visma only redirects to URIs registered for the app), else
/// `/callback` on any free port of 127.0.0.1. Returns the listener and the
/// exact URI to send.
fn callback_listener(
    settings: &Settings,
) -> Result<(std::net::TcpListener, url::Url), ConnectorError> {
    let config = |message: String| ConnectorError::new(ErrorClass::Config, message);
    let mut uri = match settings.url("redirect_uri")? {
        Some(u) => u,
        None => {
            url::Url::parse("http://127.0.0.1:0/callback").map_err(|e| config(e.to_string()))?
        }
    };
    let host = uri.host_str().unwrap_or_default().to_string();
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    if uri.scheme() != "http" || !loopback || uri.query().is_some() {
        return Err(config(format!(
            "`redirect_uri` {:?} must be a plain http address on this machine (http://127.0.0.1:PORT/… or http://localhost:PORT/…): flowc itself receives the answer",
            uri.as_str()
        )));
    }
    let port = uri.port_or_known_default().unwrap_or(80);
    let bind_host = if host == "[::1]" {
        "::1"
    } else {
        host.as_str()
    };
    let listener = std::net::TcpListener::bind((bind_host, port)).map_err(|e| {
        config(format!(
            "cannot listen on {host}:{port} for the sign-in answer: {e}"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| config(e.to_string()))?
        .port();
    if port == 0 {
        uri.set_port(Some(bound))
            .map_err(|()| config("cannot put the port into the redirect URI".into()))?;
    }
    Ok((listener, uri))
}

/// The interactive sign-in (the [`super::SPEC`]'s auth hook): prints the
/// authorize URL (and opens a browser when asked), waits for Visma to send
/// the browser back to the loopback listener, checks `state`, exchanges
/// the code and stores the tokens under the state folder.
pub fn authorize_interactive(ctx: AuthContext<'_>) -> Result<(), ConnectorError> {
    let client = client_from_settings(ctx.settings)?;
    let (listener, redirect_uri) = callback_listener(ctx.settings)?;
    let state = CsrfToken::new_random();
    let url = client.authorize_url(redirect_uri.as_str(), state.secret())?;
    let out = ctx.out;
    let mut say = |text: &str| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    say("Sign in to Visma eAccounting and choose the company flowc may use:");
    say(&url);
    if ctx.open_browser && webbrowser::open(&url).is_err() {
        say("(no browser could be opened: open the address above yourself)");
    }
    say(&format!("Waiting for the browser on {redirect_uri} …"));

    let code = wait_for_code(listener, redirect_uri.path(), state.secret(), ctx.timeout)?;
    let http = http_client(Duration::from_secs(30))?;
    let tokens = client
        .exchange_code(&http, &code, redirect_uri.as_str())?
        .into_stored(None, None)?;
    let store = TokenStore::new(ctx.state_dir);
    store.save(&tokens)?;
    say(&format!(
        "Signed in. Tokens are stored in {} (mode 0600).",
        store.path().display()
    ));
    Ok(())
}

/// Serves `path` on `listener` until one request brings an answer (or
/// `timeout` passes); other paths (a favicon, a stray tab) get a 404 and
/// are ignored.
fn wait_for_code(
    listener: std::net::TcpListener,
    path: &str,
    expected_state: &str,
    timeout: Duration,
) -> Result<String, ConnectorError> {
    let failed = |e: std::io::Error| {
        ConnectorError::new(
            ErrorClass::Config,
            format!("the sign-in callback listener failed: {e}"),
        )
    };
    listener.set_nonblocking(true).map_err(failed)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let expected: Arc<str> = Arc::from(expected_state);
    let path = path.to_string();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(failed)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let app = axum::Router::new().route(
            &path,
            axum::routing::get(move |Query(params): Query<HashMap<String, String>>| {
                let (tx, expected) = (tx.clone(), expected.clone());
                async move {
                    let (status, page, outcome) = judge(&params, &expected);
                    let _ = tx.send(outcome).await;
                    (status, Html(page))
                }
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let outcome = tokio::select! {
            Some(outcome) = rx.recv() => outcome,
            () = tokio::time::sleep(timeout) => Err(ConnectorError::new(
                ErrorClass::Auth,
                format!(
                    "no answer from the browser within {} s; run `{AUTH_COMMAND}` again",
                    timeout.as_secs()
                ),
            )),
        };
        // Let the answering page reach the browser before the listener goes.
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        outcome
    })
}

/// What the browser brought back: the page to show it and the outcome.
fn judge(
    params: &HashMap<String, String>,
    expected_state: &str,
) -> (StatusCode, String, Result<String, ConnectorError>) {
    let get = |k: &str| params.get(k).map(String::as_str);
    let page = |text: &str| {
        format!(
            "<!doctype html><meta charset=utf-8><title>flowc</title><p>{}</p>",
            text.replace('&', "&amp;").replace('<', "&lt;")
        )
    };
    if get("state") != Some(expected_state) {
        return (
            StatusCode::BAD_REQUEST,
            page("This answer does not belong to the sign-in flowc started; it was ignored."),
            Err(ConnectorError::new(
                ErrorClass::Auth,
                format!(
                    "the sign-in answer carried the wrong `state` (a stale or forged redirect); run `{AUTH_COMMAND}` again"
                ),
            )),
        );
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or("");
        return (
            StatusCode::BAD_REQUEST,
            page(&format!("Sign-in failed: {error} {description}")),
            Err(ConnectorError::new(
                ErrorClass::Auth,
                format!("Visma refused the sign-in: {error} {description}"),
            )
            .with_code(error.to_string())),
        );
    }
    match get("code") {
        Some(code) => (
            StatusCode::OK,
            page("flowc is signed in to eAccounting. You can close this tab."),
            Ok(code.to_string()),
        ),
        None => (
            StatusCode::BAD_REQUEST,
            page("The answer has no code."),
            Err(ConnectorError::new(
                ErrorClass::Protocol,
                "the sign-in answer has neither a code nor an error",
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_grant_names_the_auth_command_and_debug_hides_the_secret() {
        let err = token_error(
            400,
            br#"{"error":"invalid_grant","error_description":"used refresh token"}"#,
        );
        assert_eq!(err.class, ErrorClass::Auth);
        assert_eq!(err.code.as_deref(), Some("invalid_grant"));
        assert!(err.message.contains(AUTH_COMMAND), "{}", err.message);
        let c = OAuthClient {
            identity_url: "http://x".into(),
            client_id: "id".into(),
            client_secret: Secret::new("s3cr3t-value"),
        };
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        let url = url::Url::parse(
            &c.authorize_url("http://127.0.0.1:5/callback", "st")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            url.as_str().split('?').next(),
            Some("http://x/connect/authorize")
        );
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let want = [
            ("client_id", "id"),
            ("redirect_uri", "http://127.0.0.1:5/callback"),
            ("scope", SCOPE),
            ("state", "st"),
            ("response_type", "code"),
        ];
        assert_eq!(params.len(), want.len(), "{params:?}");
        for (k, v) in want {
            assert_eq!(params.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(
            !url.as_str().contains("s3cr3t-value"),
            "the secret never goes to the browser"
        );
    }

    #[test]
    fn token_errors_are_classified_by_status_when_the_body_says_nothing() {
        assert_eq!(token_error(429, b"").class, ErrorClass::RateLimited);
        assert_eq!(token_error(503, b"<html>").class, ErrorClass::Server);
        assert_eq!(token_error(418, b"teapot").class, ErrorClass::Protocol);
        let e = token_error(400, br#"{"error":"invalid_client"}"#);
        assert_eq!(
            (e.class, e.code.as_deref()),
            (ErrorClass::Auth, Some("invalid_client"))
        );
    }

    #[test]
    fn only_an_answer_with_our_state_and_a_code_signs_in() {
        let params = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (status, _, outcome) = judge(&params(&[("state", "s"), ("code", "c")]), "s");
        assert_eq!(
            (status, outcome.unwrap()),
            (StatusCode::OK, "c".to_string())
        );
        let (status, _, outcome) = judge(&params(&[("state", "x"), ("code", "c")]), "s");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(outcome.unwrap_err().message.contains("wrong `state`"));
        let (_, page, outcome) = judge(
            &params(&[
                ("state", "s"),
                ("error", "access_denied"),
                ("error_description", "<b>no</b>"),
            ]),
            "s",
        );
        assert_eq!(outcome.unwrap_err().code.as_deref(), Some("access_denied"));
        assert!(page.contains("&lt;b>no&lt;/b>"), "{page}");
        let (_, _, outcome) = judge(&params(&[("state", "s")]), "s");
        assert_eq!(outcome.unwrap_err().class, ErrorClass::Protocol);
    }

    #[test]
    fn a_redirect_uri_must_point_at_this_machine() {
        use crate::connectors::eaccounting::SPEC;
        let with = |uri: &str| {
            Settings::from_pairs(&SPEC, "eaccounting", &[("redirect_uri", uri)]).unwrap()
        };
        for bad in [
            "https://example.com/callback",
            "https://127.0.0.1/cb",
            "http://10.0.0.1:8/cb",
        ] {
            let err = callback_listener(&with(bad)).unwrap_err();
            assert_eq!(err.class, ErrorClass::Config, "{bad}");
            assert!(err.message.contains("on this machine"), "{}", err.message);
        }
        let (listener, uri) = callback_listener(&with("http://127.0.0.1:0/back")).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(uri.as_str(), format!("http://127.0.0.1:{port}/back"));
        let none = Settings::from_pairs(&SPEC, "eaccounting", &[]).unwrap();
        let (_, uri) = callback_listener(&none).unwrap();
        assert!(uri.as_str().starts_with("http://127.0.0.1:") && uri.path() == "/callback");
        assert_ne!(uri.port(), Some(0));
    }
}
