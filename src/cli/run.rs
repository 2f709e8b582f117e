//! `flowc run`: executes flows and prints what happened.

use std::path::Path;

use super::{print_diagnostics, print_plain, render_options};
use crate::diag::{codes, render_human, Diagnostic};
use crate::source::SourceMap;

/// How many failed records are printed in full before only counting.
const SHOWN_FAILURES: usize = 20;

pub(crate) fn run(file: &Path, only: Option<&str>, json: bool) -> u8 {
    let checked = match crate::check::check_path(file) {
        Ok(c) => c,
        Err(d) => {
            print_plain(&d);
            return 2;
        }
    };
    if checked.has_errors() {
        print_diagnostics(&checked.diagnostics, &checked.sources);
        eprintln!(
            "not running: fix the errors above (`flowc check {}`)",
            file.display()
        );
        return 2;
    }
    let program = &checked.program;
    let root_flows: Vec<_> = program
        .flows
        .iter()
        .filter(|f| f.span.file == crate::source::FileId(checked_root(&checked.sources, file)))
        .collect();
    let flows: Vec<_> = match only {
        Some(name) => match root_flows.iter().find(|f| &*f.name == name) {
            Some(f) => vec![*f],
            None => {
                let names: Vec<&str> = root_flows.iter().map(|f| &*f.name).collect();
                print_plain(
                    &Diagnostic::new(
                        &codes::E0102,
                        format!("{} has no flow `{name}`", file.display()),
                    )
                    .help(format!("its flows are: {}", names.join(", "))),
                );
                return 2;
            }
        },
        None => root_flows,
    };
    if flows.is_empty() {
        print_plain(
            &Diagnostic::new(
                &codes::E0301,
                format!("{} declares no flow", file.display()),
            )
            .help("add `flow name { source … target … }`"),
        );
        return 2;
    }
    let mut any_failed = false;
    let mut summaries = Vec::new();
    for flow in flows {
        let mut shown = 0;
        let result = crate::run::run_file_flow(program, flow, |failure| {
            shown += 1;
            if shown <= SHOWN_FAILURES {
                eprint!(
                    "{}",
                    render_human(&failure.diagnostic, &checked.sources, render_options())
                );
            } else if shown == SHOWN_FAILURES + 1 {
                eprintln!("(more failed records are not shown; the summary counts them)");
            }
        });
        match result {
            Ok(summary) => {
                any_failed |= summary.failed > 0;
                if !json {
                    println!("{}", summary.human());
                }
                summaries.push(summary);
            }
            Err(d) => {
                print_diagnostics(&[d], &SourceMap::new());
                return 2;
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summaries).unwrap_or_default()
        );
    }
    u8::from(any_failed)
}

fn checked_root(sources: &SourceMap, file: &Path) -> u32 {
    let canonical = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    sources.find_path(&canonical).map(|f| f.0).unwrap_or(0)
}
