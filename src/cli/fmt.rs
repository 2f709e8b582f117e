//! `flowc fmt`: one canonical layout, comments preserved.

use std::path::PathBuf;

use super::{flow_files_or_exit, print_diagnostics, print_plain};
use crate::diag::{codes, Diagnostic};
use crate::source_map::SourceMap;

pub(crate) fn run(paths: &[PathBuf], check: bool) -> u8 {
    let files = match flow_files_or_exit(paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let (mut changed, mut broken) = (0, 0);
    for file in &files {
        let text = match crate::source_map::read_text(file) {
            Ok(t) => t,
            Err(e) => {
                print_plain(&Diagnostic::new(
                    &codes::E0010,
                    format!("cannot read {}: {e}", file.display()),
                ));
                return 2;
            }
        };
        match crate::fmt::format_source(&text) {
            Err(diags) => {
                // Parse errors: show them against this file and leave it alone.
                let mut sources = SourceMap::new();
                sources.add(
                    file.display().to_string(),
                    Some(file.clone()),
                    text.as_str(),
                );
                print_diagnostics(&diags, &sources);
                broken += 1;
            }
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                changed += 1;
                if check {
                    println!("{} is not formatted:", file.display());
                    println!("{}", crate::engine::expect::diff(&text, &formatted));
                } else if let Err(e) = std::fs::write(file, formatted) {
                    print_plain(&Diagnostic::new(
                        &codes::E0010,
                        format!("cannot write {}: {e}", file.display()),
                    ));
                    return 2;
                } else {
                    println!("formatted {}", file.display());
                }
            }
        }
    }
    if check {
        eprintln!(
            "{} file{} checked, {changed} would change, {broken} could not be parsed",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        u8::from(changed > 0 || broken > 0)
    } else {
        u8::from(broken > 0)
    }
}
