//! `flowc init` and `flowc doctor` end to end: the real binary against both
//! emulators. Init driven by flags writes a set-up that checks and runs;
//! once through a pseudo-terminal, answering the wizard's prompts; doctor
//! finds nothing wrong with a fresh set-up, and exactly the one thing
//! broken in each of the others.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{books, stderr, stdout, Services};

/// A fresh folder and both services with a small generated shop.
fn services() -> (Services, tempfile::TempDir) {
    (
        Services::start(6, 8, 12, false),
        tempfile::tempdir().unwrap(),
    )
}

fn init(svc: &Services, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["init", "--dir", dir.to_str().unwrap(), "--yes"];
    args.extend_from_slice(extra);
    svc.flowc(&args)
}

/// `flowc init --offline --yes` with these answers, which must succeed.
fn set_up(svc: &Services, dir: &Path, answers: &[&str]) {
    let mut args = vec!["--offline"];
    args.extend_from_slice(answers);
    let out = init(svc, dir, &args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// Doctor's report names `check` as the one with a problem, showing each of `shows`.
fn assert_problem(text: &str, check: &str, shows: &[&str]) {
    assert!(
        text.contains(&format!("problem  {check}: 1 problem")),
        "{text}"
    );
    for s in shows {
        assert!(text.contains(s), "no `{s}` in:\n{text}");
    }
}

fn doctor(svc: &Services, dir: &Path) -> Output {
    svc.flowc(&[
        "doctor",
        "--config",
        dir.join("flowc.toml").to_str().unwrap(),
    ])
}

fn settings(dir: &Path) -> PathBuf {
    dir.join("flows/ccvshop-eaccounting/settings.flow")
}

/// Replaces one line of the written settings.flow, which must hold it.
fn break_setting(dir: &Path, line: &str, broken: &str) {
    let path = settings(dir);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(line), "settings.flow has no `{line}`");
    std::fs::write(&path, text.replace(line, broken)).unwrap();
}

/// Both streams, with what changes from run to run (ports, folders, the
/// clock's skew) replaced.
fn shown(out: &Output, dir: &Path) -> String {
    let text = format!("{}{}", stdout(out), stderr(out));
    mask_varying(&text.replace(&dir.display().to_string(), "[DIR]"))
}

/// `127.0.0.1:<port>` → `127.0.0.1:PORT`, `within <n> s` → `within N s`,
/// in plain text (insta's filters apply to snapshots only).
fn mask_varying(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("PORT");
    }
    out.push_str(rest);
    let mut fixed = String::new();
    for line in out.lines() {
        let mut line = line.to_string();
        for service in ["ccvshop within ", "eaccounting within "] {
            if let Some(i) = line.find(service) {
                let start = i + service.len();
                let end = line[start..].find(" s").map_or(line.len(), |e| start + e);
                line.replace_range(start..end, "N");
            }
        }
        fixed.push_str(&line);
        fixed.push('\n');
    }
    fixed
}

#[test]
fn init_by_flags_writes_a_setup_that_checks_and_runs() {
    let (svc, dir) = services();
    let out = init(
        &svc,
        dir.path(),
        &[
            "--flows",
            "orders,customers",
            "--document-type",
            "invoice-draft",
            "--every",
            "10m",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // Both connections were tried with the credentials of the environment.
    assert!(
        stdout(&out).contains("ok       connections: signed in to ccvshop"),
        "{}",
        stdout(&out)
    );
    let toml = std::fs::read_to_string(dir.path().join("flowc.toml")).unwrap();
    assert!(toml.contains("[flow.orders]\nevery = \"10m\""), "{toml}");
    assert!(toml.contains("[flow.customers]"), "{toml}");
    // No secret of the environment is written anywhere.
    for (name, value) in svc.env() {
        if name.contains("SECRET") || name.contains("TOKEN") {
            for f in ["flowc.toml", "flows/ccvshop-eaccounting/settings.flow"] {
                let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
                assert!(!text.contains(&value), "{name} written to {f}");
            }
        }
    }
    let check = svc.flowc(&["check", dir.path().to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stderr(&check).contains("0 errors, 0 warnings"),
        "{}",
        stderr(&check)
    );
    for flow in ["customers.flow", "orders.flow"] {
        let file = dir.path().join("flows/ccvshop-eaccounting").join(flow);
        let run = svc.flowc(&["run", file.to_str().unwrap()]);
        assert!(
            run.status.success(),
            "{flow}: {}{}",
            stdout(&run),
            stderr(&run)
        );
    }
    let held = books(&svc.books);
    assert!(!held.drafts.is_empty(), "no invoice drafts were written");
    assert!(!held.customers.is_empty());
    // Files are never overwritten unasked.
    let again = init(&svc, dir.path(), &["--offline"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("E0602"), "{}", stderr(&again));
}

#[test]
fn init_without_a_terminal_names_the_flags_it_needs() {
    let (svc, dir) = services();
    let out = svc.flowc(&[
        "init",
        "--dir",
        dir.path().to_str().unwrap(),
        "--offline",
        "--flows",
        "orders",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(text.contains("E0601"), "{text}");
    assert!(
        text.contains("--document-type") && !text.contains("--flows,"),
        "{text}"
    );
    assert!(!dir.path().join("flowc.toml").exists());
}

/// Lets the prompt switch the terminal to raw mode before keys arrive:
/// switching discards input typed ahead.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Types keys (rexpect buffers until a newline otherwise).
fn key(p: &mut rexpect::session::PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

#[test]
fn init_through_a_pseudo_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"));
    cmd.args(["init", "--offline", "--dir", dir.path().to_str().unwrap()])
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    const DOWN: &str = "\x1b[B";
    p.exp_string("Which flows?").unwrap();
    p.exp_string("products-to-ccvshop").unwrap();
    settle();
    // orders is ticked; tick customers (the next line) too.
    key(&mut p, DOWN);
    key(&mut p, " ");
    key(&mut p, "\r");
    p.exp_string("What does an order become").unwrap();
    settle();
    // invoice draft is first; the booked invoice second.
    key(&mut p, DOWN);
    key(&mut p, "\r");
    p.exp_string("fixed customer?").unwrap();
    settle();
    key(&mut p, DOWN);
    key(&mut p, DOWN);
    key(&mut p, "\r");
    p.exp_string("customer's number").unwrap();
    settle();
    p.send_line("K-9000").unwrap();
    p.exp_string("only paid orders?").unwrap();
    settle();
    key(&mut p, "n");
    p.exp_string("which CCV statuses").unwrap();
    settle();
    key(&mut p, "\r");
    p.exp_string("How often").unwrap();
    settle();
    p.send_line("30m").unwrap();
    p.exp_string("Public address").unwrap();
    settle();
    p.send_line("https://sync.example.com").unwrap();
    p.exp_string("wrote").unwrap();
    p.exp_eof().unwrap();
    let settings = std::fs::read_to_string(settings(dir.path())).unwrap();
    for line in [
        "let document_type = \"invoice\"",
        "let default_debtor_for = \"all\"",
        "let default_debtor_number = \"K-9000\"",
        "let orders_paid_only = false",
    ] {
        assert!(settings.contains(line), "{line} not in settings.flow");
    }
    let toml = std::fs::read_to_string(dir.path().join("flowc.toml")).unwrap();
    assert!(
        toml.contains("[flow.orders_as_invoices]\nevery = \"30m\"\nwebhooks = ["),
        "{toml}"
    );
    assert!(toml.contains("[flow.customers]"), "{toml}");
    assert!(dir
        .path()
        .join("flows/ccvshop-eaccounting/customers.flow")
        .exists());
}

#[test]
fn doctor_finds_a_fresh_setup_well() {
    let (svc, dir) = services();
    set_up(
        &svc,
        dir.path(),
        &["--flows", "orders,customers,products,stock"],
    );
    let out = doctor(&svc, dir.path());
    insta::assert_snapshot!("doctor_all_well", shown(&out, dir.path()));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn doctor_reports_exactly_the_broken_setting() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &["--flows", "orders,customers"]);
    // New customers' terms of payment: 31 days, which the company does not have.
    break_setting(
        dir.path(),
        "let customers_terms_days = 30",
        "let customers_terms_days = 31",
    );
    let out = doctor(&svc, dir.path());
    insta::assert_snapshot!("doctor_broken_setting", shown(&out, dir.path()));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn doctor_reports_a_missing_webhook() {
    let (svc, dir) = services();
    let public = "https://sync.example.com";
    set_up(&svc, dir.path(), &["--public-url", public]);
    // Two of the three order events are registered.
    svc.shop.with_store(|s| {
        for (id, event) in [(1, "orders.created"), (2, "orders.updated.ispaid")] {
            s.webhooks.insert(
                id,
                flowc_emulators::ccvshop::store::Webhook {
                    id,
                    createdate: chrono::Utc::now(),
                    event: event.into(),
                    address: format!("{public}/webhooks/ccvshop"),
                    key: "k".repeat(32),
                    is_active: true,
                },
            );
        }
    });
    let text = doctor_with(&svc, dir.path(), &[]);
    assert_problem(
        &text,
        "webhooks",
        &[
            "E0606",
            "webhook orders.updated.status to https://sync.example.com/webhooks/ccvshop is",
            "not registered in the shop",
        ],
    );
}

#[test]
fn doctor_reports_refused_credentials() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &[]);
    let text = doctor_with(
        &svc,
        dir.path(),
        &[("CCVSHOP_SECRET_KEY", "not-the-secret")],
    );
    assert_problem(
        &text,
        "connections",
        &[
            "E0402",
            "connection ccvshop: CCV Shop",
            "rejected the credentials",
        ],
    );
    assert!(
        !text.contains("not-the-secret"),
        "the secret is shown: {text}"
    );
}

/// Doctor with some variables of the environment replaced.
fn doctor_with(svc: &Services, dir: &Path, env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args([
            "doctor",
            "--config",
            dir.join("flowc.toml").to_str().unwrap(),
        ])
        .envs(svc.env())
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = shown(&out, dir);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("problem ").count(), 1, "{text}");
    text
}

#[test]
fn doctor_reports_a_missing_scope() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &["--document-type", "voucher"]);
    // Signed in without the accounting scope that vouchers need.
    let token = svc.books.refresh_token("ea:api offline_access ea:sales");
    let text = doctor_with(&svc, dir.path(), &[("EACCOUNTING_REFRESH_TOKEN", &token)]);
    assert_problem(
        &text,
        "eAccounting scopes",
        &["E0604", "lacks ea:accounting"],
    );
}

#[test]
fn doctor_reports_a_company_without_sales_orders() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &["--document-type", "order"]);
    svc.books
        .set_company_setting("ProductVariant", serde_json::json!(4));
    let text = doctor_with(&svc, dir.path(), &[]);
    assert_problem(
        &text,
        "eAccounting company",
        &["E0605", "flow orders_as_orders writes eAccounting orders, which the company's Solo (4) does not offer"],
    );
}

#[test]
fn doctor_reports_an_account_the_company_lacks() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &["--document-type", "voucher"]);
    break_setting(
        dir.path(),
        "let receivables_account = 1300",
        "let receivables_account = 1399",
    );
    let text = doctor_with(&svc, dir.path(), &[]);
    assert_problem(
        &text,
        "settings",
        &["eaccounting.accounts has no record with Number 1399"],
    );
    insta::assert_snapshot!("doctor_missing_account", text);
}

#[test]
fn doctor_reports_a_term_of_payment_per_payment_method_the_company_lacks() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &["--flows", "orders"]);
    break_setting(
        dir.path(),
        "\"invoice\"           => {days: 30, kind: 0}",
        "\"invoice\"           => {days: 31, kind: 0}",
    );
    let text = doctor_with(&svc, dir.path(), &[]);
    insta::assert_snapshot!("doctor_broken_terms_table", text);
}

#[test]
fn doctor_reports_a_clock_beyond_ccv_tolerance() {
    use flowc_emulators::ccvshop::{self, CcvShopConfig, RateLimitConfig, SeedSource};
    use flowc_emulators::eaccounting::{self, EaccountingConfig};
    // The shop's clock ten minutes ahead of this machine's.
    let shop = ccvshop::start_blocking(CcvShopConfig {
        data: SeedSource::Generated {
            orders: 2,
            products: 2,
            seed: 1,
        },
        limits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        deliver_webhooks: false,
        clock_offset_secs: 600,
        ..CcvShopConfig::default()
    })
    .unwrap();
    let books = eaccounting::start_blocking(EaccountingConfig::default()).unwrap();
    let refresh_token = books.refresh_token(eaccounting::DEFAULT_SCOPE);
    let svc = Services {
        shop,
        books,
        refresh_token,
        state: tempfile::tempdir().unwrap(),
    };
    let dir = tempfile::tempdir().unwrap();
    set_up(&svc, dir.path(), &[]);
    let out = doctor(&svc, dir.path());
    let text = shown(&out, dir.path());
    assert_eq!(out.status.code(), Some(1), "{text}");
    // The shop refuses the signature, and the clock says why.
    assert!(text.contains("problem  connections: 1 problem"), "{text}");
    assert!(text.contains("within 5 minutes"), "{text}");
    assert!(text.contains("problem  clock: 1 problem"), "{text}");
    // A second may pass between the shop's answer and ours.
    assert!(text.contains("E0607"), "{text}");
    assert!(
        ["10 min 0 s", "9 min 59 s", "10 min 1 s"]
            .iter()
            .any(|d| text.contains(&format!("this machine's clock is {d} behind ccvshop's"))),
        "{text}"
    );
    assert_eq!(text.matches("problem ").count(), 2, "{text}");
}

#[test]
fn doctor_reports_a_scheduled_flow_that_is_off() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &[]);
    let toml = dir.path().join("flowc.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[flow.orders_as_quotes]\nevery = \"1h\"\n");
    std::fs::write(&toml, text).unwrap();
    let text = doctor_with(&svc, dir.path(), &[]);
    assert_problem(
        &text,
        "flows",
        &[
            "E0603",
            "[flow.orders_as_quotes] schedules a flow that is off: its `when`",
            "schedule one of the flows that are on: orders",
        ],
    );
}

#[test]
fn doctor_reports_an_article_coding_type_the_company_lacks() {
    let (svc, dir) = services();
    set_up(&svc, dir.path(), &["--flows", "orders"]);
    // The coding of each row is looked up by its VAT rate, which only the
    // order tells; but no coding of this type exists at any rate.
    break_setting(
        dir.path(),
        "let article_coding_type = \"Goods\"",
        "let article_coding_type = \"Good\"",
    );
    let text = doctor_with(&svc, dir.path(), &[]);
    assert_problem(
        &text,
        "settings",
        &[
            "settings: eaccounting.articleaccountcodings has no record with Type \"Good\"",
            "let article_coding_type = \"Good\"",
        ],
    );
}
