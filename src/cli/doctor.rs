//! `flowc doctor`: prints each check of `setup::doctor` with ok, problem or
//! skipped, each problem as a diagnostic with its fix; exit 0 when all is
//! well, 1 when anything is not, 2 when flowc.toml cannot be read.

use std::io::IsTerminal;
use std::path::Path;

use super::run::real_env;
use crate::diag::{render_human, RenderOptions};
use crate::setup::doctor::{self, Outcome, Report};
use crate::source_map::SourceMap;

pub(crate) fn run(config: &Path) -> u8 {
    check(config, false)
}

/// All checks, or with `connections_only` just the flows and the sign-in
/// (after `flowc init`).
pub(crate) fn check(config: &Path, connections_only: bool) -> u8 {
    let report = if connections_only {
        doctor::connections(config, &real_env)
    } else {
        doctor::run(config, &real_env)
    };
    match report {
        Ok(report) => {
            print(&report);
            u8::from(!report.healthy())
        }
        Err(e) => {
            super::print_diagnostics(std::slice::from_ref(&*e.diagnostic), &e.sources);
            2
        }
    }
}

fn print(report: &Report) {
    let options = RenderOptions {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        width: 100,
    };
    let empty = SourceMap::new();
    let mut count = 0;
    for check in &report.checks {
        match &check.outcome {
            Outcome::Ok(detail) => outln!("ok       {}: {detail}", check.name),
            Outcome::Skipped(why) => outln!("skipped  {}: {why}", check.name),
            Outcome::Problems(problems) => {
                count += problems.len();
                outln!(
                    "problem  {}: {} problem{}",
                    check.name,
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                for (d, program) in problems {
                    let sources = program
                        .and_then(|i| report.programs.get(i))
                        .map_or(&empty, |c| &c.sources);
                    for line in render_human(d, sources, options).lines() {
                        outln!("         {line}");
                    }
                }
            }
        }
    }
    if count == 0 {
        outln!("all well");
    } else {
        outln!(
            "{count} problem{}: fix {} and run `flowc doctor` again",
            if count == 1 { "" } else { "s" },
            if count == 1 { "it" } else { "them" }
        );
    }
}
