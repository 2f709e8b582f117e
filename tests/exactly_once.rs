//! One test per way a sync could duplicate or lose a record, or leak
//! personal data (issue 10's findings 1–10), each reproducing the case that
//! broke before. The seeded chaos test that combines them is
//! `tests/chaos.rs`.
// As in the library: errors are large but returned once per problem.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use flowc::connectors::memory::MemoryConnector;
use flowc::connectors::{Connector, ErrorClass};
use flowc::engine::{Connections, Engine, EngineError, Options, Session};
use flowc::state::{SqliteStore, Store};
use flowc::value::{json, Record, Value};
use flowc_emulators::eaccounting::{self, EaccountingConfig};

mod common;

// ------------------------------------------------------------ helpers

/// A session for the flow file at `path` against `svc`, with the fast
/// connections (retries that do not sleep) and the file endpoints it reads.
fn session(svc: &Services, checked: &flowc::check::Checked) -> Session {
    let env = svc.env();
    let lookup = |k: &str| env.get(k).cloned();
    let flows: Vec<_> = checked.program.flows.iter().collect();
    let mut session = Session::open(checked, &flows, svc.state(), &lookup).unwrap();
    session.connections.by_index = svc.fast_connections(&checked.program).by_index;
    session
}

/// A small flow on an in-memory service: paid orders → invoices, with the
/// customer upserted by e-mail (shared with `tests/engine.rs`).
const MEMORY_FLOW: &str = include_str!("fixtures/memory_sync.flow");

struct Memory {
    program: flowc::program::Program,
    service: Arc<MemoryConnector>,
    store: SqliteStore,
}

/// [`MEMORY_FLOW`] with its flow `sync` twice: as `sync`, and as `sync2`
/// writing its own invoices (`TWO-…`) for the same customers.
fn memory_flows() -> String {
    let second = MEMORY_FLOW[MEMORY_FLOW.find("flow sync {").unwrap()..]
        .replace("flow sync {", "flow sync2 {")
        .replace("\"INV-{id}\"", "\"TWO-{id}\"");
    format!("{MEMORY_FLOW}\n{second}")
}

fn memory(orders: Vec<Record>) -> Memory {
    let checked = clean(flowc::check::check_source(
        "sync.flow",
        None,
        &memory_flows(),
    ));
    let service = Arc::new(MemoryConnector::new());
    service.seed("orders", orders);
    Memory {
        program: checked.program,
        service,
        store: SqliteStore::open_in_memory().unwrap(),
    }
}

impl Memory {
    fn run(&self, flow: &str, options: Options) -> Result<flowc::engine::Report, EngineError> {
        let flow = self.program.flow(flow).unwrap();
        let mut connections = Connections::default();
        connections
            .by_index
            .insert(0, self.service.clone() as Arc<dyn Connector>);
        Engine::new(&self.program, flow, &self.store, connections, options).run("test")
    }

    /// Invoices whose customer does not exist in the service.
    fn dangling(&self) -> Vec<String> {
        let customers: Vec<String> = self
            .service
            .records("customers")
            .iter()
            .filter_map(|c| c.get("Id").and_then(Value::to_text))
            .collect();
        self.service
            .records("invoices")
            .iter()
            .filter(|i| {
                let id = i
                    .get("CustomerId")
                    .and_then(Value::to_text)
                    .unwrap_or_default();
                !customers.contains(&id)
            })
            .filter_map(|i| i.get("Ref").and_then(Value::to_text))
            .collect()
    }
}

fn order(id: i64, created: &str, email: &str, paid: bool) -> Record {
    let text = format!(
        r#"{{"id":{id},"created":"{created}","email":"{email}","total":{id}.50,"paid":{paid}}}"#
    );
    json::parse(&text).unwrap().as_record().unwrap().clone()
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn options(concurrency: usize) -> Options {
    Options {
        concurrency,
        ..Options::default()
    }
}

// ------------------------------------------------------------ 1

/// A source that pages over a changing list (CCV: `start`/`size` over the
/// paid orders) can hand one record over twice; ten orders on adjacent
/// lines twice once gave 49 drafts for 40 orders.
#[test]
fn finding_1_a_record_read_twice_in_one_run_is_written_once() {
    let svc = Services::start(30, 10, 101, false);
    let dir = tempfile::tempdir().unwrap();
    let orders = shop_orders(&svc);
    let mut lines = Vec::new();
    let mut twice = 0;
    for (i, o) in orders.iter().enumerate() {
        lines.push(o.clone());
        if i % 2 == 0 && twice < 10 {
            lines.push(o.clone());
            twice += 1;
        }
    }
    assert_eq!(twice, 10);
    std::fs::write(dir.path().join("orders.ndjson"), lines.join("\n")).unwrap();
    let path = flow_variant(dir.path(), "orders", "CCV", Some("file(\"orders.ndjson\")"));
    let checked = checked(&path);
    // Slow answers keep both copies of a record in flight at once.
    svc.books
        .faults()
        .set_base_latency(Duration::from_millis(15));
    let session = session(&svc, &checked);
    let flow = checked.program.flow("orders").unwrap();
    let report = session
        .engine(&checked.program, flow, options(8))
        .run("t")
        .unwrap();
    assert_eq!((report.duplicates, report.failed), (10, 0), "{report:?}");
    let got = books(&svc.books); // asserts every draft, customer and article unique
    assert_eq!(got.drafts.len() as u64, report.created, "{report:?}");
    assert_eq!(got.drafts, reference_books(30, 10, 101).drafts);
}

// ------------------------------------------------------------ 2

/// A create whose answer was lost, and whose follow-up search failed too,
/// leaves the record uncertain: a later record of the same customer must
/// not create it again (the run-wide index is older than the create).
#[test]
fn finding_2_an_uncertain_create_is_not_repeated_until_a_search_resolves_it() {
    let m = memory(vec![
        order(1, &days_ago(3), "a@example.nl", true),
        order(2, &days_ago(2), "a@example.nl", true),
        order(3, &days_ago(1), "b@example.nl", true),
    ]);
    m.service.lose_create_responses(1);
    m.service.fail_finds(1000);
    let first = m.run("sync", options(1)).unwrap();
    assert_eq!((first.created, first.failed), (1, 2), "{first:?}");
    assert_eq!(m.service.records("customers").len(), 2, "a@ once, b@ once");
    let letters = m.store.dead_letters(Some("sync")).unwrap();
    assert!(
        letters.iter().all(|l| l.error_class == "uncertain"),
        "{letters:?}"
    );
    assert_eq!(m.store.uncertain_creates(Some("sync")).unwrap().len(), 1);

    // The next run reads the customers afresh (searches still fail): the
    // customer the lost answer created is found and the uncertainty ends.
    let keys: Vec<String> = letters.iter().map(|l| l.source_key.clone()).collect();
    let retry = m
        .run(
            "sync",
            Options {
                only_keys: Some(keys),
                ..options(1)
            },
        )
        .unwrap();
    assert_eq!((retry.created, retry.failed), (2, 0), "{retry:?}");
    assert_eq!(m.service.records("customers").len(), 2);
    assert_eq!(m.service.records("invoices").len(), 3);
    assert!(m.dangling().is_empty());
    assert!(m.store.dead_letters(None).unwrap().is_empty());
    assert!(m.store.uncertain_creates(None).unwrap().is_empty());
}

// ------------------------------------------------------------ 3

/// Two flows that upsert the same customers and articles, started together
/// on one state folder (as two processes would), once duplicated 16
/// customers and 27 articles: the lock was per flow.
#[test]
fn finding_3_two_flows_sharing_customers_and_articles_never_both_create_one() {
    let svc = Services::start(40, 12, 303, false);
    let dir = tempfile::tempdir().unwrap();
    let a = checked(&flow_variant(dir.path(), "orders", "CCV", None));
    let b = checked(&flow_variant(dir.path(), "orders_copy", "COPY", None));
    svc.sign_in(&a.program);
    for faults in [svc.books.faults(), svc.shop.faults()] {
        faults.set_base_latency(Duration::from_millis(10));
    }
    let reports = std::thread::scope(|scope| {
        let runs: Vec<_> = [(&a, "orders"), (&b, "orders_copy")]
            .into_iter()
            .map(|(checked, name)| {
                let svc = &svc;
                scope.spawn(move || {
                    let store = SqliteStore::open(svc.state()).unwrap();
                    run_named(
                        checked,
                        name,
                        &store,
                        svc.fast_connections(&checked.program),
                        options(4),
                    )
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .collect::<Vec<_>>()
    });
    for r in &reports {
        assert_eq!(r.failed, 0, "{r:?}");
    }
    let got = books(&svc.books); // asserts every customer and article unique
    let expected = reference_books(40, 12, 303);
    assert_eq!(got.customers, expected.customers);
    assert_eq!(got.articles, expected.articles);
    let ccv = references(&got, "CCV");
    assert_eq!(ccv, expected.drafts.keys().cloned().collect());
    let copies: std::collections::BTreeSet<String> = references(&got, "COPY")
        .into_iter()
        .map(|r| r.replacen("COPY-", "CCV-", 1))
        .collect();
    assert_eq!(copies, ccv);
}

// ------------------------------------------------------------ 4

/// Two processes on one token file: both find the access token expired;
/// only one may spend the single-use refresh token, the other must use the
/// pair it saved (before: `invalid_grant`, and every record failed).
#[test]
fn finding_4_two_processes_on_one_token_file_refresh_once() {
    let books = eaccounting::start_blocking(EaccountingConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let seed = books.refresh_token(eaccounting::DEFAULT_SCOPE);
    let connector = || {
        let oauth = flowc::connectors::eaccounting::OAuthClient {
            identity_url: books.identity_url(),
            client_id: books.client_id().to_string(),
            client_secret: flowc::connectors::settings::Secret::new(books.client_secret()),
        };
        let mut config = flowc::connectors::eaccounting::ConnectorConfig::new(
            &books.api_url(),
            oauth,
            dir.path(),
        );
        config.refresh_token = Some(flowc::connectors::settings::Secret::new(seed.clone()));
        flowc::connectors::eaccounting::EaccountingConnector::new(config).unwrap()
    };
    let id = "00000000-0000-0000-0000-000000000001";
    connector().get("customers", id).unwrap();
    books.expire_access_tokens();
    let before = books.token_requests();
    // Each connector has its own in-memory lock, as two processes would.
    let (a, b) = (connector(), connector());
    let barrier = std::sync::Barrier::new(2);
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        [&a, &b]
            .map(|c| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    c.get("customers", id).map(|_| ())
                })
            })
            .map(|h| h.join().unwrap())
            .to_vec()
    });
    for o in &outcomes {
        assert!(o.is_ok(), "{o:?}");
    }
    assert_eq!(books.token_requests() - before, 1, "one refresh for both");
}

// ------------------------------------------------------------ 5

/// Credentials the service refuses concern every record: the run stops at
/// once with one diagnostic; before, 300 records were dead-lettered one by
/// one and the cursor moved on.
#[test]
fn finding_5_an_authentication_failure_stops_the_run_and_touches_neither_cursor_nor_dead_letters() {
    let svc = Services::start(20, 8, 505, false);
    let checked = flagship();
    svc.sign_in(&checked.program);
    svc.books.revoke_all_tokens();
    let store = svc.store();
    let err = run_engine(
        &checked,
        &store,
        svc.fast_connections(&checked.program),
        options(4),
    )
    .unwrap_err();
    match &*err {
        EngineError::Connector(e) => assert_eq!(e.class, ErrorClass::Auth, "{e}"),
        other => panic!("{other}"),
    }
    assert!(store.dead_letters(None).unwrap().is_empty());
    assert_eq!(store.cursor("orders").unwrap(), None);
    assert_eq!(store.last_run("orders").unwrap().unwrap().status, "failed");
    assert!(svc.books.collection("customerinvoicedrafts").is_empty());
    drop(store);

    // The command line says it once, and exits 2.
    let out = svc.flowc(&["run", FLOW]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches(" × ").count(), 1, "one diagnostic: {err}");
    assert!(
        err.contains("E0402") && err.contains("flowc auth eaccounting"),
        "{err}"
    );
    assert!(svc.store().dead_letters(None).unwrap().is_empty());
}

// ------------------------------------------------------------ 6

/// An order paid long after it was placed: the cursor (its creation date)
/// had moved more than the overlap past it, so it was never read again.
/// `paid` is declared `mutable`: reads reach back the re-read window.
#[test]
fn finding_6_an_order_paid_after_the_overlap_window_is_still_synced() {
    let m = memory(vec![
        order(1, &days_ago(10), "a@example.nl", false),
        order(2, &days_ago(1), "b@example.nl", true),
    ]);
    let first = m.run("sync", options(1)).unwrap();
    assert_eq!(first.created, 1, "{first:?}");
    assert!(m.store.cursor("sync").unwrap().is_some());
    // Ten days after it was placed, order 1 is paid.
    m.service.clear("orders");
    m.service.seed(
        "orders",
        vec![
            order(1, &days_ago(10), "a@example.nl", true),
            order(2, &days_ago(1), "b@example.nl", true),
        ],
    );
    let second = m.run("sync", options(1)).unwrap();
    assert_eq!((second.created, second.unchanged), (1, 1), "{second:?}");
    assert_eq!(m.service.records("invoices").len(), 2);
    // Beyond the re-read window (a flow's choice) it is not read again.
    let narrow = Options {
        reread_window: Duration::from_secs(5 * 86_400),
        overlap: Duration::from_secs(86_400),
        ..options(1)
    };
    m.service.seed(
        "orders",
        vec![order(3, &days_ago(20), "c@example.nl", true)],
    );
    let third = m.run("sync", narrow).unwrap();
    assert_eq!(third.created, 0, "{third:?}");
}

/// With a cursor that is not a time there is no window to reach back: the
/// records the `where` rejects on a mutable field hold the cursor instead.
#[test]
fn finding_6_a_record_rejected_on_a_mutable_field_holds_a_numeric_cursor() {
    let flow = MEMORY_FLOW.replace("cursor created mutable paid", "cursor id mutable paid");
    let checked = flowc::check::check_source("sync.flow", None, &flow);
    assert!(!checked.has_errors());
    let service = Arc::new(MemoryConnector::new());
    service.seed(
        "orders",
        vec![
            order(1, &days_ago(3), "a@example.nl", true),
            order(2, &days_ago(2), "b@example.nl", false),
            order(3, &days_ago(1), "c@example.nl", true),
        ],
    );
    let store = SqliteStore::open_in_memory().unwrap();
    let run = || {
        let mut connections = Connections::default();
        connections
            .by_index
            .insert(0, service.clone() as Arc<dyn Connector>);
        let flow = checked.program.flow("sync").unwrap();
        Engine::new(&checked.program, flow, &store, connections, options(1))
            .run("t")
            .unwrap()
    };
    let first = run();
    assert_eq!((first.created, first.held), (2, 1), "{first:?}");
    assert_eq!(store.cursor("sync").unwrap().as_deref(), Some("2"));
    service.clear("orders");
    service.seed(
        "orders",
        vec![
            order(1, &days_ago(3), "a@example.nl", true),
            order(2, &days_ago(2), "b@example.nl", true),
            order(3, &days_ago(1), "c@example.nl", true),
        ],
    );
    let second = run();
    assert_eq!(second.created, 1, "{second:?}");
    assert_eq!(store.cursor("sync").unwrap().as_deref(), Some("3"));
}

// ------------------------------------------------------------ 7

/// Learned ids (e-mail → customer id) once survived `state reset`: a reset
/// against an empty company left 102 of 300 drafts pointing at customers
/// that do not exist there. And ids learned in one company are checked
/// before they are used in another.
#[test]
fn finding_7_learned_ids_are_cleared_by_reset_and_checked_in_another_company() {
    let orders: Vec<Record> = (1..=12)
        .map(|i| {
            order(
                i,
                &days_ago(12 - i),
                &format!("c{}@example.nl", i % 4),
                true,
            )
        })
        .collect();
    let m = memory(orders);
    m.service.set_company(Some("company A"));
    let first = m.run("sync", options(2)).unwrap();
    assert_eq!(first.created, 12, "{first:?}");

    // The same company, emptied, and the flow reset.
    m.service.clear("customers");
    m.service.clear("invoices");
    m.store.reset_flow("sync").unwrap();
    let after_reset = m.run("sync", options(2)).unwrap();
    assert_eq!(after_reset.created, 12, "{after_reset:?}");
    assert!(m.dangling().is_empty(), "{:?}", m.dangling());
    assert_eq!(m.service.records("customers").len(), 4);

    // Another company behind the same connection; another flow, no reset.
    m.service.set_company(Some("company B"));
    m.service.clear("customers");
    m.service.clear("invoices");
    let other = m.run("sync2", options(2)).unwrap();
    assert_eq!(other.created, 12, "{other:?}");
    assert!(m.dangling().is_empty(), "{:?}", m.dangling());
    assert_eq!(m.service.records("customers").len(), 4);
}

// ------------------------------------------------------------ 8

/// Everything on disk under `dir`, as text.
/// The text of every file under `dir`, except copies of the shipped flows
/// (the sandbox writes them there; their comments' example addresses, such
/// as `Jan@Example.NL`, are the repository's text, nobody's data).
fn files_text(dir: &Path) -> String {
    let shipped = repo().join("flows/ccvshop-eaccounting");
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&files_text(&path));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap();
        if std::fs::read(shipped.join(name)).is_ok_and(|original| original == bytes) {
            continue;
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
    out
}

/// Every e-mail address in `text` (something@something.tld).
fn emails(text: &str) -> Vec<String> {
    let is_part = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if *c != '@' {
            continue;
        }
        let local: String = chars[..i]
            .iter()
            .rev()
            .take_while(|c| is_part(**c))
            .collect();
        let domain: String = chars[i + 1..].iter().take_while(|c| is_part(**c)).collect();
        if !local.is_empty() && domain.trim_end_matches('.').contains('.') {
            out.push(format!(
                "{}@{domain}",
                local.chars().rev().collect::<String>()
            ));
        }
    }
    out
}

/// The acceptance check: after a sandbox run and `state purge --older-than
/// 0d`, no e-mail address is left in the state folder. Records failed on the
/// way (an e-mail address the service refuses) leave none either.
#[test]
fn finding_8_no_e_mail_address_is_left_in_the_state_after_a_sandbox_run_and_a_purge() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().display().to_string();
    let flowc = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env("FLOWC_STATE", &dir)
            .output()
            .unwrap()
    };
    let out = flowc(&["sandbox", "--state", &dir, "--orders", "30", "--runs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = emails(&files_text(state.path()));
    assert!(
        before.is_empty(),
        "personal data kept before any purge: {before:?}"
    );
    let out = flowc(&["state", "purge", "--older-than", "0d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = files_text(state.path());
    assert!(emails(&text).is_empty(), "{:?}", emails(&text));
    assert!(
        emails("x jan.de.vries@example.co.uk y").len() == 1,
        "the check finds addresses"
    );
}

// ------------------------------------------------------------ 9

/// Secrets over plain HTTP: `http://` service addresses were accepted.
#[test]
fn finding_9_service_urls_must_be_https_except_on_this_machine() {
    let flow = r#"
connection shop {
  connector  "ccvshop"
  url        "http://shop.example.nl"
  public_key env("K")
  secret_key env("S")
}
"#;
    let errors = errors(&flowc::check::check_source("plain.flow", None, flow));
    assert!(errors.iter().any(|m| m.contains("https://")), "{errors:?}");

    let program = flagship().program;
    let state = tempfile::tempdir().unwrap();
    let open = |connection: &str, vars: &[(&str, &str)]| {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let c = program
            .connections
            .iter()
            .find(|c| &*c.name == connection)
            .unwrap();
        flowc::connectors::open(c, &program, state.path(), &|k| env.get(k).cloned()).map(|_| ())
    };
    let shop = |url| {
        open(
            "ccvshop",
            &[
                ("CCVSHOP_URL", url),
                ("CCVSHOP_PUBLIC_KEY", "p"),
                ("CCVSHOP_SECRET_KEY", "s"),
            ],
        )
    };
    let books = |api: &str, identity: &str| {
        open(
            "eaccounting",
            &[
                ("EACCOUNTING_API_URL", api),
                ("EACCOUNTING_IDENTITY_URL", identity),
                ("EACCOUNTING_CLIENT_ID", "id"),
                ("EACCOUNTING_CLIENT_SECRET", "secret"),
            ],
        )
    };
    let err = shop("http://shop.example.nl").unwrap_err();
    assert_eq!(err.class, ErrorClass::Config);
    assert!(
        err.message.contains("https://") && err.message.contains("CCVSHOP_URL"),
        "{err}"
    );
    assert!(shop("https://shop.example.nl").is_ok());
    assert!(shop("http://127.0.0.1:8080").is_ok());
    let err = books("http://api.example.com/v2", "https://identity.example.com").unwrap_err();
    assert!(err.message.contains("https://"), "{err}");
    let err = books("https://api.example.com/v2", "http://identity.example.com").unwrap_err();
    assert!(err.message.contains("identity_url"), "{err}");
    assert!(books("http://localhost:9/v2", "http://[::1]:9").is_ok());
}

// ------------------------------------------------------------ 10

/// A token that lives 30 seconds was refreshed before every call (the
/// refresh margin was a fixed minute or two).
#[test]
fn finding_10_a_short_lived_token_is_not_refreshed_before_every_call() {
    let books = eaccounting::start_blocking(EaccountingConfig {
        access_token_lifetime: Duration::from_secs(30),
        ..EaccountingConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let oauth = flowc::connectors::eaccounting::OAuthClient {
        identity_url: books.identity_url(),
        client_id: books.client_id().to_string(),
        client_secret: flowc::connectors::settings::Secret::new(books.client_secret()),
    };
    let mut config =
        flowc::connectors::eaccounting::ConnectorConfig::new(&books.api_url(), oauth, dir.path());
    config.refresh_token = Some(flowc::connectors::settings::Secret::new(
        books.refresh_token(eaccounting::DEFAULT_SCOPE),
    ));
    let c = flowc::connectors::eaccounting::EaccountingConnector::new(config).unwrap();
    let before = books.token_requests();
    for _ in 0..10 {
        c.get("customers", "00000000-0000-0000-0000-000000000001")
            .unwrap();
    }
    assert_eq!(books.token_requests() - before, 1);
}

/// A tiny service on loopback answering with `answer(method, path, n)`,
/// `n` counting requests from 0.
fn serve(
    answer: impl Fn(&str, &str, usize) -> (u16, Vec<(&'static str, String)>, String)
        + Send
        + Sync
        + 'static,
) -> String {
    use axum::response::IntoResponse;
    let answer = Arc::new(answer);
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                let (answer, count) = (answer.clone(), count.clone());
                async move {
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let (status, headers, body) =
                        answer(req.method().as_str(), req.uri().path(), n);
                    let mut response =
                        (axum::http::StatusCode::from_u16(status).unwrap(), body).into_response();
                    for (k, v) in headers {
                        response
                            .headers_mut()
                            .insert(k, axum::http::HeaderValue::from_str(&v).unwrap());
                    }
                    response
                }
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn recording_policy(waits: &Arc<Mutex<Vec<Duration>>>) -> flowc::connectors::http::RetryPolicy {
    let w = waits.clone();
    flowc::connectors::http::RetryPolicy {
        sleep: Arc::new(move |d| w.lock().unwrap().push(d)),
        ..Default::default()
    }
}

/// A service that says how long to wait (`Retry-After`) is waited for that long.
#[test]
fn finding_10_retry_after_headers_are_honoured() {
    use flowc::connectors::ccvshop::{signing::Credentials, CcvShopClientConfig, CcvShopConnector};
    let base = serve(|_, _, n| match n {
        0 => (503, vec![("retry-after", "3".into())], "{}".into()),
        _ => (200, vec![], r#"{"id":1,"name":"x"}"#.into()),
    });
    let waits = Arc::new(Mutex::new(Vec::new()));
    let mut config = CcvShopClientConfig::new(&base, Credentials::new("p", "s"));
    config.retry = recording_policy(&waits);
    let shop = CcvShopConnector::new(config);
    assert!(shop.get("products", "1").unwrap().is_some());
    assert_eq!(*waits.lock().unwrap(), [Duration::from_secs(3)]);

    let base = serve(|method, path, n| {
        match (method, path) {
        ("POST", "/connect/token") => (
            200,
            vec![("content-type", "application/json".into())],
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r2"}"#
                .into(),
        ),
        _ if n == 1 => (
            429,
            vec![("retry-after", "2".into())],
            r#"{"ErrorCode":4010,"DeveloperErrorMessage":"API calls quota exceeded! maximum admitted 600 per Minute. Try again in 55 seconds."}"#.into(),
        ),
        _ => (200, vec![], r#"{"Id":"00000000-0000-0000-0000-000000000001"}"#.into()),
    }
    });
    let waits = Arc::new(Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let oauth = flowc::connectors::eaccounting::OAuthClient {
        identity_url: base.clone(),
        client_id: "id".into(),
        client_secret: flowc::connectors::settings::Secret::new("secret"),
    };
    let mut config = flowc::connectors::eaccounting::ConnectorConfig::new(
        &format!("{base}/v2"),
        oauth,
        dir.path(),
    );
    config.refresh_token = Some(flowc::connectors::settings::Secret::new("r1"));
    config.retry = recording_policy(&waits);
    let books = flowc::connectors::eaccounting::EaccountingConnector::new(config).unwrap();
    assert!(books
        .get("customers", "00000000-0000-0000-0000-000000000001")
        .unwrap()
        .is_some());
    assert_eq!(*waits.lock().unwrap(), [Duration::from_secs(2)]);
}

/// CCV answers some creates with an empty body and a `Location`; when
/// reading that record back fails, the record exists but flowc does not
/// know it: the create's outcome is unknown, so the engine searches first.
#[test]
fn finding_10_a_ccv_create_whose_read_back_fails_has_an_unknown_outcome() {
    use flowc::connectors::ccvshop::{signing::Credentials, CcvShopClientConfig, CcvShopConnector};
    let base = serve(|method, _, _| match method {
        "POST" => (
            201,
            vec![("location", "/api/rest/v1/products/7".into())],
            String::new(),
        ),
        _ => (
            500,
            vec![],
            r#"{"status":500,"code":"500.00","developermessage":"down"}"#.into(),
        ),
    });
    let waits = Arc::new(Mutex::new(Vec::new()));
    let mut config = CcvShopClientConfig::new(&base, Credentials::new("p", "s"));
    config.retry = recording_policy(&waits);
    let shop = CcvShopConnector::new(config);
    let record = json::parse(r#"{"name":"Fiets","productnumber":"F-1"}"#).unwrap();
    let err = shop
        .create("products", record.as_record().unwrap())
        .unwrap_err();
    assert!(err.outcome_unknown, "{err:?}");
}

/// Input on the command line never makes flowc panic.
#[test]
fn finding_10_command_line_input_never_panics() {
    let state = tempfile::tempdir().unwrap();
    let flowc = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env("FLOWC_STATE", state.path())
            .output()
            .unwrap()
    };
    {
        // A state with a non-ASCII target id, and many dead letters.
        let store = SqliteStore::open(state.path()).unwrap();
        let run = store.begin_run("orders", "h", "v").unwrap();
        for i in 0..3000 {
            let letter = flowc::state::NewDeadLetter {
                source_key: format!("{i}"),
                error_class: "http".into(),
                message: "the service refused this record for a reason that takes a line".into(),
                ..Default::default()
            };
            store.record_failure(run, "orders", &letter, 1).unwrap();
        }
        // The newest row, so that `flowc log` shows it.
        store
            .record_success(&flowc::state::Success {
                run,
                flow: "orders",
                source_key: "1",
                decision: flowc::state::Decision::Create,
                target_id: "aéééééééééééééé",
                payload_hash: "h",
                duration_ms: 1,
                cursor: None,
            })
            .unwrap();
        store
            .finish_run(run, "partial", &Default::default())
            .unwrap();
    }
    for args in [
        &["run", FLOW, "--overlap", "100000000d"][..],
        &["plan", FLOW, "--overlap", "99999999999999999999999d"],
        &["state", "purge", "--older-than", "100000000d"],
        &["log"],
    ] {
        let out = flowc(args);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
    let out = flowc(&["run", FLOW, "--overlap", "100000000d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("longer than 100 years"),
        "{}",
        stderr(&out)
    );
    let log = flowc(&["log"]);
    assert!(stdout(&log).contains("aééééééé…"), "{}", stdout(&log));

    // `flowc dlq list | head -1`: the reader goes away after one line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["dlq", "list"])
        .current_dir(repo())
        .env("FLOWC_STATE", state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// A `.json` array source was read into memory whole before its first
/// record was processed. Fed through a pipe that delivers the rest only
/// once the first record arrived, a streaming reader gets there; one that
/// reads the whole file first waits forever.
#[test]
fn finding_10_json_array_sources_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("records.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (got_first, first_seen) = std::sync::mpsc::channel::<()>();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            use std::io::Write;
            f.write_all(br#"[{"id": 1, "name": "first"},"#).unwrap();
            f.flush().unwrap();
            // The rest comes only once the reader has the first record.
            let streamed = first_seen.recv_timeout(Duration::from_secs(10)).is_ok();
            f.write_all(br#" {"id": 2, "name": "second, with a ] and a \" inside"}]"#)
                .unwrap();
            streamed
        })
    };
    let mut seen = Vec::new();
    flowc::connectors::file::read_records(&fifo, flowc::program::FileFormat::Json, None, |item| {
        let record = item.record.unwrap();
        if seen.is_empty() {
            let _ = got_first.send(());
        }
        seen.push(json::to_string(&record));
        true
    })
    .unwrap();
    assert!(
        writer.join().unwrap(),
        "the first record came only after the whole file"
    );
    assert_eq!(
        seen,
        [
            r#"{"id":1,"name":"first"}"#,
            r#"{"id":2,"name":"second, with a ] and a \" inside"}"#
        ]
    );
}
