//! `flowc run` and `flowc plan`.

use std::path::Path;

use super::sync::{check_or_exit, real_env, run_flow, select_flows, uses_services, SyncArgs};
use super::{print_diagnostics, render_options};
use crate::diag::render_human;
use crate::source_map::SourceMap;

/// How many failed records are printed in full before only counting.
const SHOWN_FAILURES: usize = 20;

pub(crate) fn run(file: &Path, only: Option<&str>, json: bool, sync: &SyncArgs) -> u8 {
    let checked = match check_or_exit(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let flows = match select_flows(&checked, file, only) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut any_failed = false;
    let mut file_summaries = Vec::new();
    for flow in flows {
        if uses_services(flow) {
            match run_flow(&checked, file, flow, sync, false, json, &real_env, None) {
                Ok(report) => any_failed |= report.failed > 0,
                Err(code) => return code,
            }
            continue;
        }
        let mut shown = 0;
        let result = crate::run::run_file_flow(&checked.program, flow, |failure| {
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
                file_summaries.push(summary);
            }
            Err(d) => {
                print_diagnostics(&[d], &SourceMap::new());
                return 2;
            }
        }
    }
    if json && !file_summaries.is_empty() {
        println!(
            "{}",
            serde_json::to_string_pretty(&file_summaries).unwrap_or_default()
        );
    }
    u8::from(any_failed)
}

pub(crate) fn plan(file: &Path, only: Option<&str>, json: bool, sync: &SyncArgs) -> u8 {
    let checked = match check_or_exit(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let flows = match select_flows(&checked, file, only) {
        Ok(f) => f,
        Err(code) => return code,
    };
    for flow in flows {
        if !uses_services(flow) {
            println!("flow {}: writes files only; `flowc run` writes a fresh output file, so there is nothing to plan", flow.name);
            continue;
        }
        if let Err(code) = run_flow(&checked, file, flow, sync, true, json, &real_env, None) {
            return code;
        }
    }
    0
}
