//! `flowc check`: every problem in every file, in one run.

use std::path::PathBuf;

use super::{collect_flow_files, print_diagnostics, print_plain, Format};
use crate::diag::{codes, to_json_value, Diagnostic};

pub(crate) fn run(paths: &[PathBuf], format: Format, deny_warnings: bool) -> u8 {
    let files = match collect_flow_files(paths) {
        Ok(f) => f,
        Err(e) => {
            print_plain(
                &Diagnostic::new(&codes::E0010, e)
                    .help("pass .flow files or folders that contain them"),
            );
            return 2;
        }
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
