//! `flowc run` and `flowc plan`: check the file, open a session, hand each
//! flow to the engine, print what it did. Files and services alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{print_diagnostics, print_plain, render_options};
use crate::check::Checked;
use crate::diag::{codes, render_human, Diagnostic};
use crate::engine::{EngineError, Options, Report, Session};
use crate::program::Flow;
use crate::state::SqliteStore;

/// How many failed records are printed in full before only counting.
const SHOWN_FAILURES: usize = 20;

/// Flags shared by `run` and `plan`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SyncArgs {
    /// Stop starting new records after this long (e.g. 90s, 10m, 1h); the next run resumes.
    #[arg(long, value_parser = parse_duration)]
    pub max_duration: Option<Duration>,
    /// Read everything, ignoring how far earlier runs got.
    #[arg(long)]
    pub full: bool,
    /// Records processed at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// How far before the saved cursor incremental reads start again.
    #[arg(long, value_parser = parse_duration, default_value = "7d")]
    pub overlap: Duration,
    /// How long a record the filter rejects on a field that can still change
    /// (a schema's `mutable` fields, e.g. an order's `paid`) is read again.
    #[arg(long, value_parser = parse_duration, default_value = "30d")]
    pub reread_window: Duration,
    /// Keep full payloads and source records in dead letters (personal data).
    #[arg(long)]
    pub keep_payloads: bool,
}

/// The longest duration any flag takes: dates this far back still exist.
const LONGEST: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. 90s, 10m, 2h or 30d"))?;
    if d > LONGEST {
        return Err(format!(
            "`{text}` is longer than 100 years; write e.g. 90s, 10m, 2h or 30d"
        ));
    }
    Ok(d)
}

pub(crate) fn run(file: &Path, only: Option<&str>, json: bool, sync: &SyncArgs) -> u8 {
    run_or_plan(file, only, json, sync, false)
}

pub(crate) fn plan(file: &Path, only: Option<&str>, json: bool, sync: &SyncArgs) -> u8 {
    run_or_plan(file, only, json, sync, true)
}

fn run_or_plan(file: &Path, only: Option<&str>, json: bool, sync: &SyncArgs, dry_run: bool) -> u8 {
    let checked = match check_or_exit(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let flows = match select_flows(&checked, file, only).and_then(|f| flows_on(&checked, f, json)) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let dir = state_dir(Some(file), &real_env);
    let session = match open_session(&checked, &flows, &dir, &real_env) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut reports = Vec::new();
    for flow in flows {
        match run_flow(&checked, &session, flow, sync, dry_run, json, None) {
            Ok(report) => reports.push(report),
            Err(code) => return code,
        }
    }
    if json {
        // One flow: its report; several: a list of them.
        let text = match reports.as_slice() {
            [one] => serde_json::to_string_pretty(one),
            all => serde_json::to_string_pretty(all),
        };
        outln!("{}", text.unwrap_or_default());
    }
    u8::from(reports.iter().any(|r| r.failed > 0) && !dry_run)
}

/// Where a flow file's state lives: `FLOWC_STATE`, else `.flowc/` beside it.
pub(crate) fn state_dir(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = env("FLOWC_STATE").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir);
    }
    match file.and_then(Path::parent) {
        Some(p) if !p.as_os_str().is_empty() => p.join(".flowc"),
        _ => PathBuf::from(".flowc"),
    }
}

/// Opens the session for `flows` with its state in `dir`, printing what went wrong.
pub(crate) fn open_session(
    checked: &Checked,
    flows: &[&Flow],
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Session, u8> {
    Session::open(checked, flows, dir, env).map_err(|e| {
        let d = engine_diagnostic(&e);
        print_plain(&match e {
            EngineError::State(_) => d.help(format!(
                "flowc keeps its state in {} (set FLOWC_STATE to move it)",
                dir.display()
            )),
            EngineError::Connector(_) | EngineError::Unresolved(_) => d,
        });
        2
    })
}

pub(crate) fn open_store(dir: &Path) -> Result<SqliteStore, u8> {
    SqliteStore::open(dir).map_err(|e| {
        print_plain(&state_diagnostic(&e).help(format!(
            "flowc keeps its state in {} (set FLOWC_STATE to move it)",
            dir.display()
        )));
        2
    })
}

pub(crate) use crate::engine::{engine_diagnostic, state_diagnostic};

/// The flows that are on (their `when` holds), saying which are off.
pub(crate) fn flows_on<'p>(
    checked: &Checked,
    flows: Vec<&'p Flow>,
    json: bool,
) -> Result<Vec<&'p Flow>, u8> {
    let mut on = Vec::new();
    let mut off = Vec::new();
    for flow in flows {
        match crate::engine::flow_is_on(&checked.program, flow) {
            Ok(true) => on.push(flow),
            Ok(false) => off.push(flow.name.to_string()),
            Err(why) => {
                print_plain(&Diagnostic::new(
                    &codes::E0905,
                    format!("flow {}: {why}", flow.name),
                ));
                return Err(2);
            }
        }
    }
    if !off.is_empty() && !json {
        println!(
            "off (their `when` is false in the settings): {}",
            off.join(", ")
        );
    }
    Ok(on)
}

/// Runs (or plans) one flow through the session's engine and prints the outcome.
pub(crate) fn run_flow(
    checked: &Checked,
    session: &Session,
    flow: &Flow,
    args: &SyncArgs,
    dry_run: bool,
    json: bool,
    only_keys: Option<Vec<String>>,
) -> Result<Report, u8> {
    let options = Options {
        dry_run,
        record_decisions: dry_run,
        max_duration: args.max_duration,
        concurrency: args.concurrency,
        full: args.full,
        overlap: args.overlap,
        reread_window: args.reread_window,
        keep_payloads: args.keep_payloads,
        only_keys,
        crash_after_writes: crash_after_writes(),
        ..Options::default()
    };
    let engine = session.engine(&checked.program, flow, options);
    let report = with_progress(&engine, json, || engine.run(&session.flow_hash)).map_err(|e| {
        let d = match e {
            // Found before the first record: it says itself that nothing was written.
            EngineError::Unresolved(d) => *d,
            other => engine_diagnostic(&other).help("nothing after this point was written; fix the cause and run again: completed records are not written twice"),
        };
        eprint!("{}", render_human(&d, &checked.sources, render_options()));
        2u8
    })?;
    print_report(checked, &report, dry_run, json);
    Ok(report)
}

/// Prints a run's failed records (the first few in full) and, unless
/// `json`, its plan (`dry_run`) and summary.
pub(crate) fn print_report(checked: &Checked, report: &Report, dry_run: bool, json: bool) {
    for (shown, (_, diag)) in report.failures.iter().enumerate() {
        if shown == SHOWN_FAILURES {
            eprintln!(
                "({} more failed records are not shown; the summary counts them{})",
                report.failures.len() - SHOWN_FAILURES,
                if report.appends {
                    ""
                } else {
                    ", `flowc dlq list` lists them"
                }
            );
            break;
        }
        eprint!("{}", render_human(diag, &checked.sources, render_options()));
    }
    if !json {
        if dry_run {
            out!("{}", crate::engine::plan::render(&report.plan));
        }
        outln!("{}", report.human());
    }
}

/// `FLOWC_CRASH_AFTER_WRITES=n`: crash on purpose after n writes, for the
/// recovery tests, which run a debug build. A release build has no such
/// hook: nothing in a user's environment can make it crash.
fn crash_after_writes() -> Option<u64> {
    if cfg!(debug_assertions) {
        std::env::var("FLOWC_CRASH_AFTER_WRITES")
            .ok()
            .and_then(|n| n.parse().ok())
    } else {
        None
    }
}

/// Runs `work` with a live progress line on a terminal (plain output otherwise).
fn with_progress<T>(engine: &crate::engine::Engine, quiet: bool, work: impl FnOnce() -> T) -> T {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return work();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let p = engine.progress();
                let rate = p.read as f64 / started.elapsed().as_secs_f64().max(0.001);
                bar.set_message(format!(
                    "read {} · written {} · unchanged or skipped {} · failed {} · {rate:.0} records/s",
                    p.read, p.written, p.unchanged, p.failed
                ));
                bar.tick();
                std::thread::sleep(Duration::from_millis(120));
            }
            bar.finish_and_clear();
        });
        let result = work();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    })
}

pub(crate) fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The environment with some variables overridden (the sandbox).
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) fn env_with(overrides: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k: &str| overrides.get(k).cloned().or_else(|| std::env::var(k).ok())
}

pub(crate) fn check_or_exit(file: &Path) -> Result<Checked, u8> {
    let checked = crate::check::check_path(file).map_err(|d| {
        print_plain(&d);
        2u8
    })?;
    if checked.has_errors() {
        print_diagnostics(&checked.diagnostics, &checked.sources);
        eprintln!(
            "not running: fix the errors above (`flowc check {}`)",
            file.display()
        );
        return Err(2);
    }
    Ok(checked)
}

/// The flows of the file itself (not those of imported files), or the one named.
pub(crate) fn select_flows<'p>(
    checked: &'p Checked,
    file: &Path,
    only: Option<&str>,
) -> Result<Vec<&'p Flow>, u8> {
    let canonical = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let root = checked.sources.find_path(&canonical).unwrap_or_default();
    let flows: Vec<&Flow> = checked
        .program
        .flows
        .iter()
        .filter(|f| f.span.file == root)
        .collect();
    match only {
        Some(name) => match flows.iter().find(|f| &*f.name == name) {
            Some(f) => Ok(vec![*f]),
            None => {
                let names: Vec<&str> = flows.iter().map(|f| &*f.name).collect();
                print_plain(
                    &Diagnostic::new(
                        &codes::E0102,
                        format!("{} has no flow `{name}`", file.display()),
                    )
                    .help(format!("its flows are: {}", names.join(", "))),
                );
                Err(2)
            }
        },
        None if flows.is_empty() => {
            print_plain(
                &Diagnostic::new(
                    &codes::E0301,
                    format!("{} declares no flow", file.display()),
                )
                .help("add `flow name { source … target … }`"),
            );
            Err(2)
        }
        None => Ok(flows),
    }
}
