//! Which .flow files a list of paths names: files as given, folders
//! searched recursively (hidden folders, `target` and folders holding a
//! `.flowignore` skipped), sorted for stable output.

use std::path::{Path, PathBuf};

/// Every .flow file under the given paths, sorted, for stable output.
pub fn flow_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    for root in roots {
        if root.is_dir() {
            walk(&root, &mut out)
                .map_err(|e| format!("cannot read folder {}: {e}", root.display()))?;
        } else if root.is_file() {
            out.push(root);
        } else {
            return Err(format!("{} does not exist", root.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            // A folder of deliberately broken flows (tests/check) opts out
            // of folder-wide runs with a `.flowignore` file.
            if !path.join(".flowignore").exists() {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "flow") {
            out.push(path);
        }
    }
    Ok(())
}
