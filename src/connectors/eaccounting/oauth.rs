//! OAuth2 against Visma's identity server: the authorization-code exchange,
//! refreshes (Basic client authentication, form-encoded, `{identity_url}/connect/token`),
//! and the interactive sign-in behind `flowc auth eaccounting`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use serde::Deserialize;

use super::tokens::{unix_now, StoredTokens, TokenStore};
use crate::connectors::error::{ConnectorError, ErrorClass};
use crate::connectors::http::transport_error;
use crate::connectors::settings::{Secret, Settings};

/// What flowc asks for: API access, a refresh token, sales and accounting.
pub const SCOPE: &str = "ea:api offline_access ea:sales ea:accounting";
pub const DEFAULT_IDENTITY_URL: &str = "https://identity.vismaonline.com";

/// The command that fixes every "sign in again" problem.
pub const AUTH_COMMAND: &str = "flowc auth eaccounting";

/// The application's credentials at the identity server.
#[derive(Clone)]
pub struct OAuthClient {
    pub identity_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("identity_url", &self.identity_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

/// A successful token response.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default = "default_expires_in")]
    pub expires_in: u64,
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_expires_in() -> u64 {
    3600
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
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
        })
    }
}

impl OAuthClient {
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.identity_url.trim_end_matches('/'))
    }

    fn basic(&self) -> String {
        // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let raw = format!(
            "{}:{}",
            enc(&self.client_id),
            enc(self.client_secret.expose())
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// One POST to the token endpoint. Never retried here: with rotating
    /// refresh tokens a repeated refresh whose first answer was lost fails
    /// anyway, and the caller decides what is safe.
    pub fn token_request(
        &self,
        http: &reqwest::blocking::Client,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, ConnectorError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = http
            .post(self.token_url())
            .header(reqwest::header::AUTHORIZATION, self.basic())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .map_err(|e| transport_error(&e, "eAccounting token request"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .map_err(|e| transport_error(&e, "eAccounting token response"))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice::<TokenResponse>(&bytes).map_err(|e| {
                ConnectorError::new(
                    ErrorClass::Protocol,
                    format!("eAccounting's token response is not understood: {e}"),
                )
                .with_status(status)
            });
        }
        Err(token_error(status, &bytes))
    }

    pub fn exchange_code(
        &self,
        http: &reqwest::blocking::Client,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, ConnectorError> {
        self.token_request(
            http,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
        )
    }

    pub fn refresh(
        &self,
        http: &reqwest::blocking::Client,
        refresh_token: &str,
    ) -> Result<TokenResponse, ConnectorError> {
        self.token_request(
            http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
    }

    /// `{identity_url}/connect/authorize?…` for the browser.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let enc = super::odata::encode_component;
        format!(
            "{}/connect/authorize?client_id={}&redirect_uri={}&scope={}&state={}&response_type=code",
            self.identity_url.trim_end_matches('/'),
            enc(&self.client_id),
            enc(redirect_uri),
            enc(SCOPE),
            enc(state),
        )
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

fn random_state() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// How long [`authorize_interactive`] waits for the browser to come back.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(300);

/// The interactive sign-in: prints the authorize URL (and opens a browser
/// when asked), waits on `http://127.0.0.1:<port>/callback` for Visma to send
/// the browser back, checks `state`, exchanges the code and stores the
/// tokens under `state_dir`. `redirect_port` in the settings fixes the port
/// (Visma only redirects to registered URIs); otherwise any free port is used.
pub fn authorize_interactive(
    settings: &Settings,
    state_dir: &Path,
    open_browser: bool,
    out: &mut dyn Write,
) -> Result<(), ConnectorError> {
    let client = client_from_settings(settings)?;
    let port: u16 = match settings.get("redirect_port") {
        None => 0,
        Some(p) => p.trim().parse().map_err(|_| {
            ConnectorError::new(
                ErrorClass::Config,
                format!("`redirect_port` must be a port number, not `{p}`"),
            )
        })?,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        ConnectorError::new(
            ErrorClass::Config,
            format!("cannot listen on 127.0.0.1:{port} for the sign-in callback: {e}"),
        )
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| ConnectorError::new(ErrorClass::Config, e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let state = random_state();
    let url = client.authorize_url(&redirect_uri, &state);
    let say = |out: &mut dyn Write, text: &str| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    say(
        out,
        "Sign in to Visma eAccounting and choose the company flowc may use:",
    );
    say(out, &url);
    if open_browser {
        open_in_browser(&url);
    }
    say(out, &format!("Waiting for the browser on {redirect_uri} …"));

    let code = wait_for_code(&listener, &state, CALLBACK_TIMEOUT)?;
    let http = http_client(Duration::from_secs(30))?;
    let tokens = client
        .exchange_code(&http, &code, &redirect_uri)?
        .into_stored(None, None)?;
    let store = TokenStore::new(state_dir);
    store.save(&tokens)?;
    say(
        out,
        &format!(
            "Signed in. Tokens are stored in {} (mode 0600).",
            store.path().display()
        ),
    );
    Ok(())
}

fn open_in_browser(url: &str) {
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    let _ = cmd
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Accepts connections until one brings `/callback?code=…&state=…` with our
/// state; other requests (a favicon, a stray tab) get a 404 and are ignored.
fn wait_for_code(
    listener: &TcpListener,
    expected_state: &str,
    timeout: Duration,
) -> Result<String, ConnectorError> {
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .map_err(|e| ConnectorError::new(ErrorClass::Config, e.to_string()))?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(result) = handle_callback(stream, expected_state) {
                    return result;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(ConnectorError::new(
                        ErrorClass::Auth,
                        format!(
                            "no answer from the browser within {} s; run `{AUTH_COMMAND}` again",
                            timeout.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(ConnectorError::new(
                    ErrorClass::Config,
                    format!("the sign-in callback listener failed: {e}"),
                ))
            }
        }
    }
}

fn respond(mut stream: &TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>flowc</title><p>{}</p>",
        text.replace('&', "&amp;").replace('<', "&lt;")
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// `None`: not the callback, keep waiting.
fn handle_callback(
    stream: TcpStream,
    expected_state: &str,
) -> Option<Result<String, ConnectorError>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return None;
    }
    // Drain the headers so the browser sees a clean answer.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        respond(&stream, "404 Not Found", "Not the flowc sign-in callback.");
        return None;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("state") != Some(expected_state) {
        respond(
            &stream,
            "400 Bad Request",
            "This answer does not belong to the sign-in flowc started; it was ignored.",
        );
        return Some(Err(ConnectorError::new(
            ErrorClass::Auth,
            format!(
                "the sign-in answer carried the wrong `state` (a stale or forged redirect); run `{AUTH_COMMAND}` again"
            ),
        )));
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or("");
        respond(
            &stream,
            "400 Bad Request",
            &format!("Sign-in failed: {error} {description}"),
        );
        return Some(Err(ConnectorError::new(
            ErrorClass::Auth,
            format!("Visma refused the sign-in: {error} {description}"),
        )
        .with_code(error.to_string())));
    }
    match get("code") {
        Some(code) => {
            respond(
                &stream,
                "200 OK",
                "flowc is signed in to eAccounting. You can close this tab.",
            );
            Some(Ok(code.to_string()))
        }
        None => {
            respond(&stream, "400 Bad Request", "The answer has no code.");
            Some(Err(ConnectorError::new(
                ErrorClass::Protocol,
                "the sign-in answer has neither a code nor an error",
            )))
        }
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
        let url = c.authorize_url("http://127.0.0.1:5/callback", "st");
        assert!(url.contains("scope=ea%3Aapi%20offline_access%20ea%3Asales%20ea%3Aaccounting"));
        assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcallback"));
        assert!(url.ends_with("&state=st&response_type=code"));
    }
}
