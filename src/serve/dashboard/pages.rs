//! The bodies of the dashboard's pages, from data to HTML. Pure functions:
//! the handlers in `mod.rs` fetch, these render (and the tests snapshot
//! them). Every value goes through `esc` or `url`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::html::{badge, duration_ms, esc, table, time, url};
use super::{FlowStatus, Health};
use crate::state::{ActivityRow, DeadLetter, Decision, RunCounts, RunInfo};

/// Most rows a list shows (the newest).
pub const ROWS: usize = 200;

/// Flows: their last run, next run and health, and the chart.
pub fn flows(flows: &[FlowStatus], letters: &BTreeMap<String, usize>, chart: &str) -> String {
    let rows: Vec<Vec<String>> = flows
        .iter()
        .map(|f| {
            let health = match &f.health {
                Health::Ok => badge("ok", "ok"),
                Health::Idle => badge("quiet", "idle"),
                Health::Failing(why) => format!("{} {}", badge("bad", "failing"), esc(why)),
            };
            let last = f.last_run.as_ref().map_or_else(
                || "<span class=\"quiet\">never</span>".to_string(),
                |r| {
                    format!(
                        "<a href=\"/runs/{}\">#{} {}</a> {} · read {}",
                        r.id,
                        r.id,
                        time(r.started_at),
                        status(&r.status),
                        r.counts.read
                    )
                },
            );
            let next = f.next_run.map_or_else(
                || "<span class=\"quiet\">not scheduled</span>".to_string(),
                |t| esc(&time(t)),
            );
            let dead = match letters.get(&f.name).copied().unwrap_or(0) {
                0 => "0".to_string(),
                n => format!(
                    "<a href=\"/dead-letters?flow={}\" class=\"bad\">{n}</a>",
                    url(&f.name)
                ),
            };
            vec![
                format!(
                    "<a href=\"/runs?flow={}\">{}</a>",
                    url(&f.name),
                    esc(&f.name)
                ),
                health,
                last,
                next,
                dead,
            ]
        })
        .collect();
    format!(
        "{}\n<h2>Records per day</h2>{chart}",
        table(
            &["Flow", "Health", "Last run", "Next run", "Dead letters"],
            &rows,
            "no flows are configured"
        )
    )
}

/// Above a list shown for one flow only: which, and the way back to all.
fn only_flow(what: &str, all: &str, flow: Option<&str>) -> String {
    flow.map(|f| {
        format!(
            "<p>{what} of flow <strong>{}</strong> · <a href=\"{all}\">all flows</a></p>",
            esc(f)
        )
    })
    .unwrap_or_default()
}

/// A run's record counts by name, in the order the pages show them.
fn counts(c: RunCounts) -> [(&'static str, u64); 6] {
    [
        ("read", c.read),
        ("created", c.created),
        ("updated", c.updated),
        ("unchanged", c.unchanged),
        ("skipped", c.skipped),
        ("failed", c.failed),
    ]
}

/// A run's status as a coloured label.
fn status(status: &str) -> String {
    let class = match status {
        "succeeded" => "ok",
        "failed" | "interrupted" => "bad",
        "partial" => "warn",
        _ => "quiet",
    };
    badge(class, status)
}

/// How long a run took (or has taken so far).
fn took(run: &RunInfo, now: DateTime<Utc>) -> String {
    let end = run.ended_at.unwrap_or(now);
    duration_ms((end - run.started_at).num_milliseconds())
}

/// Run history, newest first.
pub fn runs(runs: &[RunInfo], flow: Option<&str>, now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let c = r.counts;
            let mut cells = vec![
                format!("<a href=\"/runs/{0}\">#{0}</a>", r.id),
                esc(&r.flow),
                esc(&time(r.started_at)),
                took(r, now),
                status(&r.status),
            ];
            cells.extend(counts(c).iter().map(|(_, n)| n.to_string()));
            cells
        })
        .collect();
    let shown = only_flow("Runs", "/runs", flow);
    format!(
        "{shown}{}",
        table(
            &[
                "Run",
                "Flow",
                "Started",
                "Took",
                "Status",
                "Read",
                "Created",
                "Updated",
                "Unchanged",
                "Skipped",
                "Failed"
            ],
            &rows,
            "no runs yet"
        )
    )
}

/// One run: its summary, what happened to each record, its dead letters.
pub fn run(
    run: &RunInfo,
    activity: &[ActivityRow],
    letters: &[DeadLetter],
    now: DateTime<Utc>,
) -> String {
    let c = run.counts;
    let summary = format!(
        "<dl><dt>Flow</dt><dd><a href=\"/runs?flow={}\">{}</a></dd>\
         <dt>Status</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Took</dt><dd>{}</dd>\
         <dt>Records</dt><dd>{}</dd>\
         <dt>flowc</dt><dd>{} · flow version <code>{}</code></dd></dl>",
        url(&run.flow),
        esc(&run.flow),
        status(&run.status),
        esc(&time(run.started_at)),
        took(run, now),
        counts(c)
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        esc(&run.flowc_version),
        esc(run.flow_hash.get(..12).unwrap_or(&run.flow_hash)),
    );
    let letters = if letters.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Dead letters from this run</h2>{}",
            letter_table(letters, None)
        )
    };
    format!(
        "{summary}{letters}<h2>Records</h2>{}",
        activity_table(activity, false)
    )
}

/// The activity log: what was read, decided and written per record.
fn activity_table(rows: &[ActivityRow], with_run: bool) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|a| {
            let mut cells = vec![esc(&time(a.at))];
            if with_run {
                cells.push(format!("<a href=\"/runs/{0}\">#{0}</a>", a.run));
                cells.push(esc(&a.flow));
            }
            let decided = match a.decision {
                Decision::Create | Decision::Update => badge("ok", a.decision.as_str()),
                Decision::Fail => badge("bad", "fail"),
                Decision::Unchanged | Decision::Skip => badge("quiet", a.decision.as_str()),
            };
            let why = a
                .error
                .as_deref()
                .map(|e| format!(" {}", esc(e)))
                .unwrap_or_default();
            cells.extend([
                format!("<code>{}</code>", esc(&a.source_key)),
                format!("{decided}{why}"),
                a.target_id
                    .as_deref()
                    .map(|t| format!("<code>{}</code>", esc(t)))
                    .unwrap_or_default(),
                duration_ms(i64::try_from(a.duration_ms).unwrap_or(i64::MAX)),
            ]);
            cells
        })
        .collect();
    let head: &[&str] = if with_run {
        &[
            "At",
            "Run",
            "Flow",
            "Read (source record)",
            "Decided",
            "Written (target record)",
            "Took",
        ]
    } else {
        &[
            "At",
            "Read (source record)",
            "Decided",
            "Written (target record)",
            "Took",
        ]
    };
    table(head, &rows, "no records")
}

/// The activity page: a search box and the rows found (or the newest).
pub fn activity(query: &str, rows: &[ActivityRow]) -> String {
    let about = if query.is_empty() {
        format!("<p>The newest {ROWS} records of all flows.</p>")
    } else {
        format!(
            "<p>{} record{} found for <strong>{}</strong>.</p>",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" },
            esc(query)
        )
    };
    format!(
        "<form class=\"search\" method=\"get\" action=\"/activity\">\
         <input type=\"search\" name=\"q\" value=\"{}\" size=\"40\" \
         placeholder=\"order reference (CCV-1001), SKU, e-mail, record id\" aria-label=\"Search\">\
         <button>Search</button></form>\
         <p class=\"quiet\">Finds a record by its source id or target id, or by the key the flow \
         writes it under (an order's reference, a product's SKU, a customer's e-mail address), \
         typed in full.</p>{about}{}",
        esc(query),
        activity_table(rows, true)
    )
}

/// Dead letters with their errors and a retry button each.
pub fn dead_letters(letters: &[DeadLetter], flow: Option<&str>, csrf: &str) -> String {
    let shown = only_flow("Dead letters", "/dead-letters", flow);
    format!(
        "{shown}<p class=\"quiet\">Records that failed. Fix the cause (the flow, its settings, \
         the data or the service), then retry: the record is read again and written once.</p>{}",
        letter_table(letters, Some(csrf))
    )
}

/// Dead letters; with a CSRF token, each with its retry button.
fn letter_table(letters: &[DeadLetter], csrf: Option<&str>) -> String {
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|l| {
            let mut error = esc(&l.error_class);
            if let Some(code) = &l.error_code {
                error.push_str(&format!(" <code>{}</code>", esc(code)));
            }
            if let Some(s) = l.http_status {
                error.push_str(&format!(" (HTTP {s})"));
            }
            let mut cells = vec![
                format!("#{}", l.id),
                esc(&l.flow),
                format!("<code>{}</code>", esc(&l.source_key)),
                format!("{error}<br>{}{}", esc(&l.message), letter_details(l)),
                format!(
                    "{}×, last {} in <a href=\"/runs/{}\">run #{}</a>",
                    l.attempts,
                    esc(&time(l.last_failed_at)),
                    l.run,
                    l.run
                ),
            ];
            if let Some(csrf) = csrf {
                cells.push(format!(
                    "<form method=\"post\" action=\"/dead-letters/{}/retry\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Retry</button></form>",
                    l.id,
                    esc(csrf)
                ));
            }
            cells
        })
        .collect();
    let mut head = vec!["Id", "Flow", "Record", "Error", "Failed"];
    if csrf.is_some() {
        head.push("");
    }
    table(&head, &rows, "no dead letters")
}

/// What the service answered, and the payload and source record kept with
/// the letter: the payload is redacted unless the flow was run with
/// `--keep-payloads`, and the source record is kept only then.
fn letter_details(l: &DeadLetter) -> String {
    let parts: Vec<String> = [
        ("The service answered", &l.api_error_body),
        ("Payload", &l.payload),
        (
            "Source record (kept with --keep-payloads)",
            &l.source_record,
        ),
    ]
    .iter()
    .filter_map(|(title, text)| {
        text.as_deref()
            .map(|t| format!("<p><strong>{title}</strong></p><pre>{}</pre>", esc(t)))
    })
    .collect();
    if parts.is_empty() {
        return String::new();
    }
    format!(
        "<details><summary>details</summary>{}</details>",
        parts.concat()
    )
}
