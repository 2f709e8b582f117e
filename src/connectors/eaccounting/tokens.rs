//! Where eAccounting tokens live between runs:
//! `$FLOWC_STATE/tokens/eaccounting.json`, directory 0700, file 0600.
//!
//! eAccounting's refresh tokens rotate: every refresh answers a new pair and
//! the old refresh token stops working at once. So the new pair is written
//! the moment the token response has been read, before it is used for
//! anything, atomically: a temporary file created with mode 0600 is written,
//! fsynced and renamed over the old file, then the directory is fsynced. A
//! reader therefore sees either the old pair or the new one, never half.
//!
//! Several processes may share one token file (two flows run at once, a
//! `flowc dlq retry` beside a scheduled run). A refresh spends the refresh
//! token, so it happens under an exclusive OS file lock on
//! `tokens/eaccounting.json.lock` ([`TokenStore::lock`]): load, and refresh
//! only if the stored pair is the stale one, then save, then unlock. A
//! process that finds a newer pair in the file uses it instead of refreshing.
//!
//! What cannot be made safe: a crash (or a failing disk) after the identity
//! server rotated the token but before the rename. The stored refresh token
//! is then dead; the next run gets `invalid_grant` and a diagnostic telling
//! the user to run `flowc auth eaccounting` (or to give a new
//! `EACCOUNTING_REFRESH_TOKEN`, which is picked up because its fingerprint
//! differs from the one the store was seeded from). Writing a `.pending`
//! file first would not help: the old token is already invalid when the
//! response arrives, so there is nothing better to fall back to.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::connectors::error::{ConnectorError, ErrorClass};

/// One token pair as stored. Debug never shows the tokens.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds when the access token expires.
    pub expires_at: u64,
    #[serde(default)]
    pub scope: Option<String>,
    /// SHA-256 (hex) of the `EACCOUNTING_REFRESH_TOKEN` this chain was seeded
    /// from, so that a different one given later replaces the chain.
    #[serde(default)]
    pub seeded_from: Option<String>,
    /// Unix seconds of the last write.
    #[serde(default)]
    pub saved_at: u64,
    /// Seconds the access token was issued for (0: not known).
    #[serde(default)]
    pub lifetime: u64,
}

/// Refresh at most this many seconds before the access token would expire.
pub const REFRESH_MARGIN_SECS: u64 = 120;

impl StoredTokens {
    /// Whether the access token should be refreshed before use: missing,
    /// expiring within the margin, or `rejected` (the API just refused it).
    /// The margin is a fifth of the token's lifetime, at most two minutes,
    /// so that a short-lived token is used for most of its life instead of
    /// being refreshed before every call.
    pub fn stale(&self, rejected: Option<&str>) -> bool {
        let margin = match self.lifetime {
            0 => REFRESH_MARGIN_SECS,
            lifetime => (lifetime / 5).min(REFRESH_MARGIN_SECS),
        };
        self.access_token.is_empty()
            || rejected == Some(self.access_token.as_str())
            || self.expires_at <= unix_now().saturating_add(margin)
    }
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Hex SHA-256 of a token: recognisable without being stored.
pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A test hook: fail the write after the token response arrived, as a crash would.
pub type FailHook = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone)]
pub struct TokenStore {
    path: PathBuf,
    fail_writes: Option<FailHook>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.path)
            .finish()
    }
}

impl TokenStore {
    /// The store for eAccounting under a state directory (`$FLOWC_STATE`).
    pub fn new(state_dir: &Path) -> Self {
        TokenStore {
            path: state_dir.join("tokens").join("eaccounting.json"),
            fail_writes: None,
        }
    }

    /// Makes [`TokenStore::save`] fail while `hook` returns true (tests).
    pub fn failing_writes_when(mut self, hook: FailHook) -> Self {
        self.fail_writes = Some(hook);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for and takes the exclusive lock that refreshes happen under
    /// (see the module docs); held until the returned file is dropped.
    pub fn lock(&self) -> Result<fs::File, ConnectorError> {
        let dir = self
            .path
            .parent()
            .ok_or_else(|| self.io_error("lock", std::io::Error::other("no parent directory")))?;
        create_private_dir(dir).map_err(|e| self.io_error("create the directory of", e))?;
        let lock_path = self.path.with_extension("json.lock");
        let file = open_lock_file(&lock_path).map_err(|e| self.io_error("lock", e))?;
        file.lock().map_err(|e| self.io_error("lock", e))?;
        Ok(file)
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> ConnectorError {
        ConnectorError::new(
            ErrorClass::Config,
            format!("cannot {what} {}: {e}", self.path.display()),
        )
    }

    /// The stored pair, `None` when nothing is stored yet.
    pub fn load(&self) -> Result<Option<StoredTokens>, ConnectorError> {
        let text = match fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("read", e)),
        };
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            ConnectorError::new(
                ErrorClass::Auth,
                format!(
                    "the eAccounting token file {} is damaged ({e}); run `flowc auth eaccounting` to sign in again",
                    self.path.display()
                ),
            )
        })
    }

    /// Writes `tokens` atomically with mode 0600 in a 0700 directory.
    pub fn save(&self, tokens: &StoredTokens) -> Result<(), ConnectorError> {
        if self.fail_writes.as_ref().is_some_and(|f| f()) {
            return Err(self.io_error(
                "write",
                std::io::Error::other("simulated failure (test hook)"),
            ));
        }
        let dir = self
            .path
            .parent()
            .ok_or_else(|| self.io_error("write", std::io::Error::other("no parent directory")))?;
        create_private_dir(dir).map_err(|e| self.io_error("create the directory of", e))?;
        let mut tokens = tokens.clone();
        tokens.saved_at = unix_now();
        let json = serde_json::to_vec_pretty(&tokens)
            .map_err(|e| self.io_error("encode", std::io::Error::other(e)))?;
        let tmp = dir.join(format!(
            ".eaccounting.json.{}.{}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        let result = (|| -> std::io::Result<()> {
            let mut file = open_private(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &self.path)?;
            // Make the rename itself durable.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(|e| self.io_error("write", e))
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Opens (creating) a lock file, private to this user; never truncates.
fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: u32) -> StoredTokens {
        StoredTokens {
            access_token: format!("AT{n}"),
            refresh_token: format!("RT{n}"),
            expires_at: 100,
            scope: None,
            seeded_from: None,
            saved_at: 0,
            lifetime: 0,
        }
    }

    #[test]
    fn saves_atomically_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        assert_eq!(store.load().unwrap(), None);
        store.save(&pair(1)).unwrap();
        store.save(&pair(2)).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.refresh_token, "RT2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.path()), 0o600);
            assert_eq!(mode(store.path().parent().unwrap()), 0o700);
        }
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(!format!("{loaded:?}").contains("RT2"));
    }

    #[test]
    fn the_refresh_margin_scales_with_the_token_lifetime() {
        let now = unix_now();
        let issued = |lifetime: u64, left: u64| StoredTokens {
            expires_at: now + left,
            lifetime,
            ..pair(1)
        };
        // An hour-long token is refreshed two minutes before it expires…
        assert!(!issued(3600, 121).stale(None));
        assert!(issued(3600, 119).stale(None));
        // …a 30-second one is used for most of its life, not refreshed at once.
        assert!(!issued(30, 25).stale(None));
        assert!(issued(30, 5).stale(None));
        // A rejected token is stale however young.
        assert!(issued(3600, 3000).stale(Some("AT1")));
        assert!(!issued(3600, 3000).stale(Some("other")));
    }

    #[test]
    fn the_refresh_lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let held = store.lock().unwrap();
        let lock_path = store.path().with_extension("json.lock");
        let other = open_lock_file(&lock_path).unwrap();
        assert!(other.try_lock().is_err());
        drop(held);
        assert!(other.try_lock().is_ok());
    }

    #[test]
    fn a_damaged_file_asks_to_sign_in_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        store.save(&pair(1)).unwrap();
        fs::write(store.path(), b"{not json").unwrap();
        let err = store.load().unwrap_err();
        assert_eq!(err.class, ErrorClass::Auth);
        assert!(err.message.contains("flowc auth eaccounting"));
    }
}
