//! `flowc run` and `flowc plan` for flows that read or write services,
//! through the sync engine and its state store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{print_diagnostics, print_plain, render_options};
use crate::check::Checked;
use crate::connectors::{Connector, ConnectorError};
use crate::diag::{codes, render_human, Diagnostic};
use crate::engine::{Connections, Engine, Options, Report};
use crate::program::{Endpoint, Flow, Mapping, Op, Program};
use crate::state::{SqliteStore, StateError};

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
    /// Keep full payloads and source records in dead letters (personal data).
    #[arg(long)]
    pub keep_payloads: bool,
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 90s, 10m, 2h or 30d"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("`{text}`: unknown unit `{unit}`; use s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

/// Does this flow need the engine (it touches a service)?
pub(crate) fn uses_services(flow: &Flow) -> bool {
    matches!(flow.source, Endpoint::Resource { .. })
        || matches!(flow.target, Endpoint::Resource { .. })
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

pub(crate) fn open_store(dir: &Path) -> Result<SqliteStore, u8> {
    SqliteStore::open(dir).map_err(|e| {
        print_plain(&state_diagnostic(&e).help(format!(
            "flowc keeps its state in {} (set FLOWC_STATE to move it)",
            dir.display()
        )));
        2
    })
}

pub(crate) fn state_diagnostic(e: &StateError) -> Diagnostic {
    Diagnostic::new(&codes::E0010, format!("state store: {e}"))
}

/// Every connection a flow reads or writes: source, target and upserts.
fn connections_used(program: &Program, flow: &Flow) -> Vec<usize> {
    fn walk(program: &Program, m: &Mapping, out: &mut Vec<usize>) {
        for op in m.common.iter().chain(&m.on_create).chain(&m.on_update) {
            match op {
                Op::Upsert(u) => {
                    out.extend(program.schemas[u.schema].connection);
                    walk(program, &u.mapping, out);
                }
                Op::Each(e) => walk(program, &e.body, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for ep in [&flow.source, &flow.target] {
        if let Endpoint::Resource {
            connection: Some(c),
            ..
        } = ep
        {
            out.push(*c);
        }
    }
    walk(program, &flow.mapping, &mut out);
    out.sort();
    out.dedup();
    out
}

pub(crate) fn open_connections(
    program: &Program,
    flow: &Flow,
    state_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Connections, ConnectorError> {
    let mut connections = Connections::default();
    for i in connections_used(program, flow) {
        let c: Box<dyn Connector> = crate::connectors::open(program, i, state_dir, env)?;
        connections.by_index.insert(i, Arc::from(c));
    }
    Ok(connections)
}

/// A stable fingerprint of the flow's text and everything it imports.
pub(crate) fn flow_hash(checked: &Checked) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for i in 0..checked.sources.len() {
        h.update(
            checked
                .sources
                .get(crate::source_map::FileId(i as u32))
                .text
                .as_bytes(),
        );
    }
    hex::encode(&h.finalize()[..8])
}

pub(crate) fn connector_diagnostic(e: &ConnectorError) -> Diagnostic {
    let code = match e.class {
        crate::connectors::ErrorClass::Config | crate::connectors::ErrorClass::Auth => {
            &codes::E0402
        }
        _ => &codes::E0010,
    };
    let mut d = Diagnostic::new(code, e.to_string());
    if e.class == crate::connectors::ErrorClass::Config {
        d = d.help(
            "set the connection's environment variables (docs/connectors/README.md); \
             to try everything without credentials, run `flowc sandbox`",
        );
    }
    if let Some(body) = &e.body {
        d = d.note(format!(
            "the service answered: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    d
}

/// Runs (or plans) one flow through the engine and prints the outcome.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_flow(
    checked: &Checked,
    file: &Path,
    flow: &Flow,
    args: &SyncArgs,
    dry_run: bool,
    json: bool,
    env: &dyn Fn(&str) -> Option<String>,
    only_keys: Option<Vec<String>>,
) -> Result<Report, u8> {
    let program = &checked.program;
    // Connectors keep their tokens in the same state folder as the engine,
    // which may be beside the flow rather than in the working folder.
    let state = state_dir(Some(file), env);
    let connections = open_connections(program, flow, &state, env).map_err(|e| {
        print_plain(&connector_diagnostic(&e));
        2u8
    })?;
    let store = open_store(&state)?;
    let options = Options {
        dry_run,
        max_duration: args.max_duration,
        concurrency: args.concurrency,
        full: args.full,
        overlap: args.overlap,
        keep_payloads: args.keep_payloads,
        only_keys,
        crash_after_writes: env("FLOWC_CRASH_AFTER_WRITES").and_then(|n| n.parse().ok()),
        ..Options::default()
    };
    let engine = Engine::new(program, flow, &store, connections, options);
    let report = with_progress(&engine, json, || engine.run(&flow_hash(checked))).map_err(|e| {
        print_plain(&connector_diagnostic(&e).help("nothing after this point was written; fix the cause and run again: completed records are not written twice"));
        2u8
    })?;
    let mut shown = 0;
    for (_, diag) in &report.failures {
        shown += 1;
        if shown <= 20 {
            eprint!("{}", render_human(diag, &checked.sources, render_options()));
        }
    }
    if shown > 20 {
        eprintln!(
            "({} more failed records are not shown; see `flowc dlq list`)",
            shown - 20
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        if dry_run {
            print_plan(&report);
        }
        println!("{}", report.human());
    }
    Ok(report)
}

/// Runs `work` with a live progress line on a terminal (plain output otherwise).
fn with_progress<T>(engine: &Engine, quiet: bool, work: impl FnOnce() -> T) -> T {
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

fn print_plan(report: &Report) {
    for entry in &report.plan {
        let target = match &entry.target_id {
            Some(id) => format!("{} {id}", entry.resource),
            None => entry.resource.clone(),
        };
        let reason = entry
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        println!(
            "{:<9} {target}  (source {}){reason}",
            entry.action, entry.source
        );
        for c in &entry.changes {
            match &c.from {
                Some(from) => println!("            {}: {from} → {}", c.field, c.to),
                None => println!("            {}: {}", c.field, c.to),
            }
        }
    }
}

pub(crate) fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The environment with some variables overridden (the sandbox).
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
