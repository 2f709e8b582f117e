//! The OS file locks behind the per-flow run lock of a store on disk (see the
//! `sqlite` module docs for how they pair with the `locks` rows).
//!
//! One file per flow, `locks/<flow>.lock` in the state directory, locked with
//! an exclusive `flock`-style lock ([`File::try_lock`]). Such a lock belongs to
//! the open file, not to a pid: two opens in one process exclude each other
//! like two processes do, and the operating system drops the lock when the
//! file is closed or its process dies, however it dies.

use std::fmt::Write as _;
use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::StateError;

/// The folder of lock files inside the state directory.
pub const LOCK_DIR: &str = "locks";

/// `<state_dir>/locks/<flow>.lock`. The flow name is escaped (`%XX` for every
/// byte but ASCII letters, digits, `_` and `-`), so any name is one plain file
/// inside the folder and two names never share a file.
pub fn path(state_dir: &Path, flow: &str) -> PathBuf {
    let mut name = String::with_capacity(flow.len() + ".lock".len());
    for b in flow.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            name.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(name, "%{b:02X}");
        }
    }
    name.push_str(".lock");
    state_dir.join(LOCK_DIR).join(name)
}

/// Opens (creating if needed) the flow's lock file and takes its exclusive
/// lock without waiting. `None` when another open file holds it, in this
/// process or another. The lock lasts as long as the returned file is open.
pub fn try_lock(state_dir: &Path, flow: &str) -> Result<Option<File>, StateError> {
    let path = path(state_dir, flow);
    let io_err = |source| StateError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        // As private as the database: the folder says which flows run.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err)?;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(io_err(e)),
    }
}

/// Removes the flow's lock file, so that the next [`try_lock`] creates a new
/// file instead of waiting for whoever still holds the old one.
pub fn remove(state_dir: &Path, flow: &str) -> Result<(), StateError> {
    let path = path(state_dir, flow);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StateError::Io { path, source: e }),
        _ => Ok(()),
    }
}

/// This machine's name, for telling the user who holds a lock.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_name_is_one_distinct_file_inside_the_lock_folder() {
        let dir = Path::new("/state");
        assert_eq!(path(dir, "orders"), Path::new("/state/locks/orders.lock"));
        assert_eq!(
            path(dir, "../x y/%"),
            Path::new("/state/locks/%2E%2E%2Fx%20y%2F%25.lock")
        );
        // `%` is escaped too, so a name cannot spell another name's escape.
        assert_ne!(path(dir, "a%2Fb"), path(dir, "a/b"));
        assert_eq!(
            path(dir, "ü").file_name().unwrap().to_str(),
            Some("%C3%BC.lock")
        );
    }

    #[test]
    fn two_opens_in_one_process_exclude_each_other_until_the_file_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path(), "orders").unwrap().expect("free");
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&dir.path().join(LOCK_DIR)), 0o700);
        assert_eq!(mode(&path(dir.path(), "orders")), 0o600);
        assert!(try_lock(dir.path(), "orders").unwrap().is_none());
        assert!(try_lock(dir.path(), "customers").unwrap().is_some());
        drop(first);
        assert!(try_lock(dir.path(), "orders").unwrap().is_some());
    }

    #[test]
    fn a_removed_lock_file_no_longer_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let _hung = try_lock(dir.path(), "orders").unwrap().expect("free");
        remove(dir.path(), "orders").unwrap();
        assert!(try_lock(dir.path(), "orders").unwrap().is_some());
        // Removing what is not there is fine.
        remove(dir.path(), "never-locked").unwrap();
    }
}
