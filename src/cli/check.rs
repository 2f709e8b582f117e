//! `flowc check`: every problem in every file, in one run.

use std::path::PathBuf;

use super::{flow_files_or_exit, print_diagnostics, print_plain, Format};
use crate::diag::to_json_value;

pub(crate) fn run(paths: &[PathBuf], format: Format, deny_warnings: bool) -> u8 {
    let files = match flow_files_or_exit(paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut json = Vec::new();
    let (mut errors, mut warnings) = (0, 0);
    for file in &files {
        let checked = match crate::check::check_path(file) {
            Ok(c) => c,
            Err(d) => {
                print_plain(&d);
                return 2;
            }
        };
        for d in &checked.diagnostics {
            if d.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
        }
        match format {
            Format::Human => print_diagnostics(&checked.diagnostics, &checked.sources),
            Format::Json => json.extend(
                checked
                    .diagnostics
                    .iter()
                    .map(|d| to_json_value(d, &checked.sources)),
            ),
        }
    }
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "files": files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": json,
            }))
            .unwrap_or_default()
        ),
        Format::Human => eprintln!(
            "checked {} file{}: {} error{}, {} warning{}",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        ),
    }
    u8::from(errors > 0 || (deny_warnings && warnings > 0))
}
