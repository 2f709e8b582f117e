//! Who may use the dashboard: one token, or one user and password, from the
//! environment. Only keyed hashes of them stay in memory (HMAC-SHA-256 under
//! a key drawn at start, so a memory dump holds nothing to look up), and a
//! sign-in is compared with them in constant time. A signed-in browser
//! holds a random session id in an HttpOnly, SameSite=Strict cookie; every
//! form carries the session's CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const TOKEN_VAR: &str = "FLOWC_DASHBOARD_TOKEN";
pub const USER_VAR: &str = "FLOWC_DASHBOARD_USER";
pub const PASSWORD_VAR: &str = "FLOWC_DASHBOARD_PASSWORD";

/// Shortest token and password accepted: shorter ones are guessed quickly.
const MIN_SECRET: usize = 12;

/// The credentials the dashboard accepts.
pub struct Auth {
    key: [u8; 32],
    user: Option<[u8; 32]>,
    secret: [u8; 32],
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("user_and_password", &self.user.is_some())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// From `FLOWC_DASHBOARD_TOKEN`, or `FLOWC_DASHBOARD_USER` and
    /// `FLOWC_DASHBOARD_PASSWORD`.
    pub fn from_env() -> Result<Auth, String> {
        Auth::from_lookup(&|k| std::env::var(k).ok())
    }

    /// As [`Auth::from_env`], reading variables through `env`.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Auth, String> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let (token, user, password) = (get(TOKEN_VAR), get(USER_VAR), get(PASSWORD_VAR));
        let check = |name: &str, value: &str| {
            if value.chars().count() < MIN_SECRET {
                Err(format!(
                    "{name} is shorter than {MIN_SECRET} characters; choose a longer one (e.g. `openssl rand -hex 16`)"
                ))
            } else {
                Ok(())
            }
        };
        match (token, user, password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(format!(
                "set either {TOKEN_VAR} or {USER_VAR} with {PASSWORD_VAR}, not both"
            )),
            (Some(token), None, None) => {
                check(TOKEN_VAR, &token)?;
                Ok(Auth::new(None, &token))
            }
            (None, Some(user), Some(password)) => {
                check(PASSWORD_VAR, &password)?;
                Ok(Auth::new(Some(&user), &password))
            }
            (None, Some(_), None) => Err(format!("{USER_VAR} is set but {PASSWORD_VAR} is not; set both")),
            (None, None, Some(_)) => Err(format!("{PASSWORD_VAR} is set but {USER_VAR} is not; set both")),
            (None, None, None) => Err(format!(
                "the dashboard needs a login: set {TOKEN_VAR}, or {USER_VAR} and {PASSWORD_VAR}, in the environment of `flowc serve`"
            )),
        }
    }

    fn new(user: Option<&str>, secret: &str) -> Auth {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let mut auth = Auth {
            key,
            user: None,
            secret: [0; 32],
        };
        auth.user = user.map(|u| auth.digest(u));
        auth.secret = auth.digest(secret);
        auth
    }

    fn digest(&self, text: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether the sign-in form asks for a user name too.
    pub fn wants_user(&self) -> bool {
        self.user.is_some()
    }

    /// Checks a sign-in in constant time (both parts are always compared).
    pub fn verify(&self, user: Option<&str>, secret: &str) -> bool {
        let secret_ok = self.digest(secret).ct_eq(&self.secret);
        let user_ok = match &self.user {
            Some(expected) => self.digest(user.unwrap_or("")).ct_eq(expected),
            None => 1u8.into(),
        };
        (secret_ok & user_ok).into()
    }
}

/// A fresh random token (session ids, CSRF tokens): 256 bits, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// How long a sign-in lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest go first.
const MAX_SESSIONS: usize = 256;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    /// A message for the next page (the outcome of a retry), shown once.
    pub notice: Option<String>,
    started: Instant,
}

/// The signed-in browsers, by a hash of their session id (the ids
/// themselves are not kept).
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

impl Sessions {
    fn key(id: &str) -> [u8; 32] {
        Sha256::digest(id.as_bytes()).into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the map cannot leave it half-changed.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session; returns its id (for the cookie).
    pub fn start(&self) -> String {
        let id = random_token();
        let mut map = self.lock();
        map.retain(|_, s| s.started.elapsed() < SESSION_LIFETIME);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            Sessions::key(&id),
            Session {
                csrf: random_token(),
                notice: None,
                started: Instant::now(),
            },
        );
        id
    }

    /// The live session with this id, taking its notice.
    pub fn take(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        let key = Sessions::key(id);
        let session = map.get_mut(&key)?;
        if session.started.elapsed() >= SESSION_LIFETIME {
            map.remove(&key);
            return None;
        }
        let shown = session.clone();
        session.notice = None;
        Some(shown)
    }

    pub fn set_notice(&self, id: &str, notice: String) {
        if let Some(s) = self.lock().get_mut(&Sessions::key(id)) {
            s.notice = Some(notice);
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(&Sessions::key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    #[test]
    fn a_token_signs_in_and_nothing_else_does() {
        let auth = Auth::from_lookup(&env(&[(TOKEN_VAR, "correct horse battery")])).unwrap();
        assert!(!auth.wants_user());
        assert!(auth.verify(None, "correct horse battery"));
        assert!(!auth.verify(None, "correct horse batter"));
        assert!(!auth.verify(None, ""));
    }

    #[test]
    fn user_and_password_must_both_match() {
        let auth =
            Auth::from_lookup(&env(&[(USER_VAR, "ops"), (PASSWORD_VAR, "s3cret-s3cret")])).unwrap();
        assert!(auth.wants_user());
        assert!(auth.verify(Some("ops"), "s3cret-s3cret"));
        assert!(!auth.verify(Some("admin"), "s3cret-s3cret"));
        assert!(!auth.verify(None, "s3cret-s3cret"));
        assert!(!auth.verify(Some("ops"), "wrong-wrong-wrong"));
    }

    #[test]
    fn keeps_no_secret_in_clear() {
        let auth = Auth::from_lookup(&env(&[(TOKEN_VAR, "correct horse battery")])).unwrap();
        let debug = format!("{auth:?}");
        assert!(!debug.contains("horse"), "{debug}");
        assert_ne!(
            auth.secret,
            <[u8; 32]>::from(Sha256::digest(b"correct horse battery"))
        );
    }

    #[test]
    fn says_what_to_set() {
        let err = |vars: &[(&str, &str)]| Auth::from_lookup(&env(vars)).unwrap_err();
        assert!(err(&[]).contains("set FLOWC_DASHBOARD_TOKEN"));
        assert!(err(&[(USER_VAR, "ops")]).contains("FLOWC_DASHBOARD_PASSWORD is not"));
        assert!(err(&[(TOKEN_VAR, "short")]).contains("shorter than 12"));
        assert!(err(&[(TOKEN_VAR, "long-enough-token"), (USER_VAR, "ops")]).contains("not both"));
    }

    #[test]
    fn sessions_keep_csrf_and_show_a_notice_once() {
        let sessions = Sessions::default();
        let id = sessions.start();
        let csrf = sessions.take(&id).unwrap().csrf;
        sessions.set_notice(&id, "retried".into());
        let s = sessions.take(&id).unwrap();
        assert_eq!(
            (s.csrf.as_str(), s.notice.as_deref()),
            (csrf.as_str(), Some("retried"))
        );
        assert_eq!(sessions.take(&id).unwrap().notice, None);
        assert!(sessions.take("forged").is_none());
        sessions.end(&id);
        assert!(sessions.take(&id).is_none());
    }

    #[test]
    fn compares_tokens() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }
}
