//! `flowc log`, `flowc dlq` and `flowc state`: what the engine remembers.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::print_plain;
use super::run::{open_store, parse_duration, real_env, state_diagnostic, state_dir};
use crate::diag::{codes, Diagnostic};
use crate::engine::retry::{Letters, Retried};
use crate::state::{ActivityFilter, Store};

/// The state of an existing run; reading commands never create one.
fn store_for(file: Option<&Path>) -> Result<crate::state::SqliteStore, u8> {
    let dir = state_dir(file, &real_env);
    if !dir.join(crate::state::DB_FILE).exists() {
        outln!(
            "no state in {} yet: no flow has been run with it",
            dir.display()
        );
        outln!("(pass the flow file, `--state-of FILE`, or set FLOWC_STATE to read another)");
        return Err(0);
    }
    open_store(&dir)
}

pub(crate) fn log(
    file: Option<&Path>,
    flow: Option<String>,
    run: Option<i64>,
    failed: bool,
    limit: usize,
    json: bool,
) -> u8 {
    let store = match store_for(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let filter = ActivityFilter {
        flow,
        run,
        only_failed: failed,
        limit: Some(limit),
    };
    let rows = match store.activity(&filter) {
        Ok(r) => r,
        Err(e) => {
            print_plain(&state_diagnostic(&e));
            return 2;
        }
    };
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run": r.run, "flow": r.flow, "source_key": r.source_key, "decision": r.decision.as_str(),
                    "target_id": r.target_id, "duration_ms": r.duration_ms, "error": r.error, "at": r.at.to_rfc3339(),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
        return 0;
    }
    if rows.is_empty() {
        outln!("no activity recorded (yet) for these filters");
        return 0;
    }
    outln!(
        "{:<20} {:>4} {:<12} {:<10} {:<24} {:>6}  error or reason",
        "at",
        "run",
        "flow",
        "decision",
        "source → target",
        "ms"
    );
    for r in rows.iter().rev() {
        let target = r
            .target_id
            .as_deref()
            .map(|t| format!(" → {}", short_id(t)))
            .unwrap_or_default();
        outln!(
            "{:<20} {:>4} {:<12} {:<10} {:<24} {:>6}  {}",
            r.at.format("%Y-%m-%d %H:%M:%S"),
            r.run,
            r.flow,
            r.decision.as_str(),
            format!("{}{target}", r.source_key),
            r.duration_ms,
            r.error.as_deref().unwrap_or("")
        );
    }
    0
}

/// An id shortened for the log's column: its first 8 characters (not
/// bytes: ids may be any text).
fn short_id(id: &str) -> String {
    if id.chars().count() > 13 {
        format!("{}…", id.chars().take(8).collect::<String>())
    } else {
        id.to_string()
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead letters.
    List {
        #[arg(long)]
        flow: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full.
    Show { id: i64 },
    /// Process the dead-lettered records of a flow again (after fixing the flow or the data).
    Retry {
        /// The .flow file.
        file: PathBuf,
        #[arg(long)]
        flow: Option<String>,
    },
    /// Forget a dead letter without retrying it.
    Drop { id: i64 },
}

pub(crate) fn dlq(command: DlqCommand, file_hint: Option<&Path>) -> u8 {
    let file = match &command {
        DlqCommand::Retry { file, .. } => Some(file.as_path()),
        _ => file_hint,
    };
    let store = match store_for(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match command {
        DlqCommand::List { flow, json } => {
            let listed = store
                .dead_letters(flow.as_deref())
                .and_then(|l| Ok((l, store.uncertain_creates(flow.as_deref())?)));
            match listed {
                Ok((letters, uncertain)) if json => {
                    let items: Vec<_> = letters
                        .iter()
                        .map(|l| serde_json::json!({"id": l.id, "flow": l.flow, "source_key": l.source_key, "class": l.error_class, "code": l.error_code, "http_status": l.http_status, "message": l.message, "attempts": l.attempts, "last_failed_at": l.last_failed_at.to_rfc3339()}))
                        .chain(uncertain.iter().map(|u| serde_json::json!({"id": null, "flow": u.flow, "source_key": u.source_key, "class": "uncertain_create", "target": u.target, "resource": u.resource, "since": u.since.to_rfc3339()})))
                        .collect();
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&items).unwrap_or_default()
                    );
                    0
                }
                Ok((letters, uncertain)) => {
                    list_letters(&letters, &uncertain);
                    0
                }
                Err(e) => {
                    print_plain(&state_diagnostic(&e));
                    2
                }
            }
        }
        DlqCommand::Show { id } => match store.dead_letter(id) {
            Ok(Some(l)) => {
                outln!(
                    "dead letter #{} of flow {}, record {}",
                    l.id,
                    l.flow,
                    l.source_key
                );
                outln!("  class:        {}", l.error_class);
                if let Some(c) = &l.error_code {
                    outln!("  code:         {c} (docs/errors/{c}.md)");
                }
                if let Some(s) = l.http_status {
                    outln!("  HTTP status:  {s}");
                }
                outln!("  message:      {}", l.message);
                outln!(
                    "  attempts:     {} (first {}, last {})",
                    l.attempts,
                    l.first_failed_at.to_rfc3339(),
                    l.last_failed_at.to_rfc3339()
                );
                if let Some(b) = &l.api_error_body {
                    outln!("  service said: {b}");
                }
                if let Some(p) = &l.payload {
                    outln!("  payload:      {p}");
                }
                if let Some(s) = &l.source_record {
                    outln!("  source:       {s}");
                }
                0
            }
            Ok(None) => {
                print_plain(
                    &Diagnostic::new(&codes::E0102, format!("there is no dead letter #{id}"))
                        .help("`flowc dlq list` shows them"),
                );
                2
            }
            Err(e) => {
                print_plain(&state_diagnostic(&e));
                2
            }
        },
        DlqCommand::Drop { id } => match store.drop_dead_letter(id) {
            Ok(true) => {
                outln!("dropped dead letter #{id}");
                0
            }
            Ok(false) => {
                print_plain(
                    &Diagnostic::new(&codes::E0102, format!("there is no dead letter #{id}"))
                        .help("`flowc dlq list` shows them"),
                );
                2
            }
            Err(e) => {
                print_plain(&state_diagnostic(&e));
                2
            }
        },
        DlqCommand::Retry { file, flow } => retry(&file, flow.as_deref()),
    }
}

/// `flowc dlq list`: records that failed, and apart from them the creates
/// whose outcome is unknown (records that may exist in the target).
fn list_letters(letters: &[crate::state::DeadLetter], uncertain: &[crate::state::UncertainCreate]) {
    if letters.is_empty() && uncertain.is_empty() {
        outln!("no dead letters");
        return;
    }
    let (unsure, failed): (Vec<_>, Vec<_>) =
        letters.iter().partition(|l| l.error_class == "uncertain");
    for l in &failed {
        outln!(
            "#{:<4} {:<12} record {:<10} {}{} (tried {}×): {}",
            l.id,
            l.flow,
            l.source_key,
            l.error_class,
            l.error_code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default(),
            l.attempts,
            l.message
        );
    }
    if !failed.is_empty() {
        outln!(
            "{} dead letter{}; `flowc dlq show ID` for details, `flowc dlq retry FILE` after fixing",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" }
        );
    }
    if unsure.is_empty() && uncertain.is_empty() {
        return;
    }
    outln!("uncertain: creates whose outcome is unknown; nothing creates these again until a search finds them or shows them absent (the next run, or `flowc dlq retry FILE`, searches)");
    for l in &unsure {
        outln!(
            "#{:<4} {:<12} record {:<10} (tried {}×): {}",
            l.id,
            l.flow,
            l.source_key,
            l.attempts,
            l.message
        );
    }
    for u in uncertain {
        outln!(
            "      {:<12} record {:<10} {} in {} (since {})",
            u.flow,
            u.source_key,
            u.resource,
            u.target,
            u.since.format("%Y-%m-%d %H:%M")
        );
    }
}

/// `flowc dlq retry`: the dead letters of each selected flow, through the
/// one retry the dashboard's button uses too (`engine::retry`).
fn retry(file: &Path, only: Option<&str>) -> u8 {
    let checked = match super::run::check_or_exit(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let flows = match super::run::select_flows(&checked, file, only) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let dir = super::run::state_dir(Some(file), &real_env);
    let session = match super::run::open_session(&checked, &flows, &dir, &real_env) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut exit = 0;
    for flow in flows {
        match crate::engine::retry::retry(&checked.program, &session, flow, Letters::All) {
            Ok(Retried {
                report: Some(report),
                keys,
                still_dead,
                ..
            }) => {
                outln!(
                    "flow {}: retried {} dead-lettered record{}",
                    flow.name,
                    keys.len(),
                    if keys.len() == 1 { "" } else { "s" }
                );
                super::run::print_report(&checked, &report, false, false);
                if still_dead > usize::try_from(report.failed).unwrap_or(usize::MAX) {
                    outln!("some dead-lettered records were not found in the source any more; `flowc dlq drop ID` forgets those gone for good");
                }
                if still_dead > 0 {
                    exit = 1;
                }
            }
            Ok(nothing) => outln!("{}", nothing.summary()),
            Err(e) => {
                eprint!(
                    "{}",
                    crate::diag::render_human(
                        &super::run::engine_diagnostic(&e).help("fix the cause and retry again: records that succeeded are not written twice"),
                        &checked.sources,
                        super::render_options()
                    )
                );
                return 2;
            }
        }
    }
    exit
}

#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum StateCommand {
    /// Delete activity, dead letters and learned ids older than a duration (e.g. 30d), and overwrite them: the retention promise.
    Purge {
        #[arg(long, value_parser = parse_duration)]
        older_than: std::time::Duration,
    },
    /// Forget everything about one flow: ledger, cursor, runs, activity, dead letters, the ids it learned.
    Reset {
        #[arg(long)]
        flow: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Free a flow's run lock held by a stuck process (a dead one holds none).
    Unlock {
        #[arg(long)]
        flow: String,
    },
}

pub(crate) fn state(command: StateCommand, file: Option<&Path>) -> u8 {
    let store = match store_for(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match command {
        StateCommand::Purge { older_than } => {
            // parse_duration keeps durations within 100 years: no overflow.
            let cutoff = chrono::Duration::from_std(older_than)
                .ok()
                .and_then(|d| Utc::now().checked_sub_signed(d))
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
            match store.purge_older_than(cutoff) {
                Ok(c) => {
                    outln!(
                        "purged {} activity rows, {} dead letters, {} learned ids and {} runs older than {}",
                        c.activity,
                        c.dead_letters,
                        c.learned,
                        c.runs,
                        cutoff.format("%Y-%m-%d %H:%M")
                    );
                    0
                }
                Err(e) => {
                    print_plain(&state_diagnostic(&e));
                    2
                }
            }
        }
        StateCommand::Reset { flow, yes } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    print_plain(
                        &Diagnostic::new(&codes::E0402, format!("resetting `{flow}` needs confirmation"))
                            .help("the next run will write every record again as if new; pass --yes to confirm without a terminal"),
                    );
                    return 2;
                }
                out!("This forgets what flow `{flow}` wrote; the next run treats every record as new (searching the target by key before creating). Type the flow name to confirm: ");
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if answer.trim() != flow {
                    outln!("not reset");
                    return 1;
                }
            }
            match store.reset_flow(&flow) {
                Ok(()) => {
                    outln!("reset flow {flow}");
                    0
                }
                Err(e) => {
                    print_plain(&state_diagnostic(&e));
                    2
                }
            }
        }
        StateCommand::Unlock { flow } => match store.break_lock(&flow) {
            Ok(true) => {
                outln!("removed the lock of flow {flow}");
                0
            }
            Ok(false) => {
                outln!("flow {flow} was not locked");
                0
            }
            Err(e) => {
                print_plain(&state_diagnostic(&e));
                2
            }
        },
    }
}
