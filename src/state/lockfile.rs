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
use std::path::{Path, PathBuf};

use super::{private, StateError};

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
    if let Some(dir) = path.parent() {
        private::create_dir(dir)?;
    }
    let file = private::open_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(source)) => Err(StateError::Io { path, source }),
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

/// The folder of holder files: one per open store that reserves target
/// records, locked for as long as that store lives.
const HOLDER_DIR: &str = "holders";

fn holder_path(state_dir: &Path, holder: &str) -> PathBuf {
    // Holder names are UUIDs; anything else is escaped like a flow name.
    let flow_like = path(state_dir, holder);
    let name = flow_like.file_name().map(PathBuf::from).unwrap_or_default();
    state_dir.join(LOCK_DIR).join(HOLDER_DIR).join(name)
}

/// Creates and locks the file that says `holder` is alive; it stays locked
/// as long as the returned file is open (until its process ends, however).
pub fn hold(state_dir: &Path, holder: &str) -> Result<File, StateError> {
    use std::os::unix::fs::MetadataExt;
    let path = holder_path(state_dir, holder);
    if let Some(dir) = path.parent() {
        private::create_dir(dir)?;
    }
    loop {
        let file = private::open_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateError::Invalid(format!(
                    "holder file `{}` is in use by another store",
                    path.display()
                )))
            }
            Err(TryLockError::Error(source)) => return Err(StateError::Io { path, source }),
        }
        // A sweep (`sweep_holders`) may have found the new file not yet
        // locked and removed it: then the lock is on a file nobody can see.
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let held = file.metadata().map_err(io)?;
        match fs::metadata(&path) {
            Ok(seen) if seen.ino() == held.ino() && seen.dev() == held.dev() => return Ok(file),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
}

/// Whether the store called `holder` is still alive: its holder file is
/// locked. A holder found dead has its file removed.
pub fn is_alive(state_dir: &Path, holder: &str) -> Result<bool, StateError> {
    let path = holder_path(state_dir, holder);
    let file = match fs::OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = fs::remove_file(&path);
            Ok(false)
        }
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(source)) => Err(StateError::Io { path, source }),
    }
}

/// Removes the holder files of stores that died (a killed process leaves
/// its file behind, unlocked).
pub fn sweep_holders(state_dir: &Path) {
    let dir = state_dir.join(LOCK_DIR).join(HOLDER_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(file) = fs::OpenOptions::new().read(true).write(true).open(&path) {
            if file.try_lock().is_ok() {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Removes this store's holder file when it closes.
pub fn release_holder(state_dir: &Path, holder: &str) {
    let _ = fs::remove_file(holder_path(state_dir, holder));
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
    fn a_holder_is_alive_while_its_file_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = hold(dir.path(), "h-1").unwrap();
        assert!(is_alive(dir.path(), "h-1").unwrap());
        assert!(!is_alive(dir.path(), "h-2").unwrap());
        drop(file);
        assert!(!is_alive(dir.path(), "h-1").unwrap());
        // The dead holder's file is gone.
        assert!(!holder_path(dir.path(), "h-1").exists());
        // Files of holders that died are swept; live ones stay.
        let _live = hold(dir.path(), "h-3").unwrap();
        drop(hold(dir.path(), "h-4").unwrap());
        sweep_holders(dir.path());
        assert!(holder_path(dir.path(), "h-3").exists());
        assert!(!holder_path(dir.path(), "h-4").exists());
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
