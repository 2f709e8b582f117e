//! The state directory holds what was written where and, in dead letters,
//! possibly personal data: its folders are created with mode 0700 and its
//! files with mode 0600, so that none of them ever exists with a wider mode.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::StateError;

/// Creates `dir` and its missing parents, private to this user.
pub fn create_dir(dir: &Path) -> Result<(), StateError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Opens `path` for reading and writing, creating it private to this user
/// if it is not there; never truncates.
pub fn open_file(path: &Path) -> Result<File, StateError> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| StateError::Io {
            path: path.to_path_buf(),
            source,
        })
}
