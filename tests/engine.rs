//! The sync engine's guarantees, on an in-memory service with exact control
//! over failures. The same guarantees are exercised over HTTP against the
//! emulators in `tests/sync_e2e.rs`.

use std::sync::Arc;

use flowc::connectors::memory::MemoryConnector;
use flowc::connectors::Connector;
use flowc::engine::{Connections, Engine, Options};
use flowc::state::{SqliteStore, Store};
use flowc::value::{json, Record};

const FLOW: &str = include_str!("fixtures/memory_sync.flow");

fn order(id: i64, email: &str, total: &str, paid: bool) -> Record {
    let text = format!(
        r#"{{"id":{id},"created":"2024-03-{:02}T10:00:00Z","email":"{email}","total":{total},"paid":{paid}}}"#,
        id % 28 + 1
    );
    json::parse(&text).unwrap().as_record().unwrap().clone()
}

struct Setup {
    program: flowc::program::Program,
    service: Arc<MemoryConnector>,
    store: SqliteStore,
}

fn setup(orders: Vec<Record>) -> Setup {
    let checked = flowc::check::check_source("sync.flow", None, FLOW);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let service = Arc::new(MemoryConnector::new());
    service.seed("orders", orders);
    Setup {
        program: checked.program,
        service,
        store: SqliteStore::open_in_memory().unwrap(),
    }
}

fn run(s: &Setup, options: Options) -> flowc::engine::Report {
    let flow = s.program.flow("sync").unwrap();
    let mut connections = Connections::default();
    connections
        .by_index
        .insert(0, s.service.clone() as Arc<dyn Connector>);
    let engine = Engine::new(&s.program, flow, &s.store, connections, options);
    engine.run("test-hash").unwrap()
}

fn orders(n: i64) -> Vec<Record> {
    (1..=n)
        .map(|i| {
            order(
                i,
                &format!("c{}@example.nl", i % 7),
                &format!("{}.50", i),
                i % 5 != 0,
            )
        })
        .collect()
}

#[test]
fn a_rerun_writes_nothing_and_calls_only_to_read_the_source() {
    let s = setup(orders(40));
    let first = run(&s, Options::default());
    // `where paid` is pushed down: unpaid orders are never even read.
    assert_eq!(
        (first.read, first.created, first.skipped, first.failed),
        (32, 32, 0, 0),
        "{first:?}"
    );
    assert_eq!(s.service.records("invoices").len(), 32);
    assert_eq!(s.service.records("customers").len(), 7);
    let before = s.service.stats().total;
    let second = run(
        &s,
        Options {
            full: true,
            ..Options::default()
        },
    );
    assert_eq!(
        (second.created, second.updated, second.unchanged),
        (0, 0, 32),
        "{second:?}"
    );
    assert_eq!(
        s.service.stats().total - before,
        1,
        "only the source listing: {:?}",
        s.service.stats().calls
    );
}

#[test]
fn lost_create_responses_never_duplicate_records() {
    let s = setup(orders(20));
    s.service.lose_create_responses(5);
    let report = run(&s, Options::default());
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    let invoices = s.service.records("invoices");
    let customers = s.service.records("customers");
    let mut refs: Vec<_> = invoices
        .iter()
        .map(|r| json::to_string(r.get("Ref").unwrap()))
        .collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), invoices.len(), "duplicate invoices");
    assert_eq!(invoices.len(), 16);
    let mut emails: Vec<_> = customers
        .iter()
        .map(|r| json::to_string(r.get("Email").unwrap()))
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), customers.len(), "duplicate customers");
}

#[test]
fn a_changed_source_record_updates_its_target_and_nothing_else() {
    let s = setup(orders(10));
    run(&s, Options::default());
    let mut changed = orders(10);
    changed[0] = order(1, "c1@example.nl", "99.99", true);
    let s2 = Setup {
        program: s.program.clone(),
        service: s.service.clone(),
        store: s.store,
    };
    s2.service.seed("orders", vec![]);
    // Replace the source records.
    let svc = Arc::new(MemoryConnector::new());
    svc.seed("orders", changed);
    svc.seed("invoices", s2.service.records("invoices"));
    svc.seed("customers", s2.service.records("customers"));
    let s3 = Setup {
        program: s2.program,
        service: svc,
        store: s2.store,
    };
    let report = run(
        &s3,
        Options {
            full: true,
            ..Options::default()
        },
    );
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 1, 7),
        "{report:?}"
    );
    let amounts: Vec<String> = s3
        .service
        .records("invoices")
        .iter()
        .map(|r| json::to_string(r.get("Amount").unwrap()))
        .collect();
    assert!(amounts.contains(&"99.99".to_string()));
}

#[test]
fn a_bad_record_goes_to_the_dead_letters_and_the_run_goes_on() {
    let mut list = orders(6);
    list.push(order(7, "c7@example.nl", "5000", true));
    let s = setup(list);
    let report = run(&s, Options::default());
    assert_eq!((report.created, report.failed), (5, 1), "{report:?}");
    let letters = s.store.dead_letters(Some("sync")).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].source_key, "7");
    assert!(
        letters[0].message.contains("Amount"),
        "{}",
        letters[0].message
    );
    assert_eq!(letters[0].error_code.as_deref(), Some("E0908"));
    assert!(
        !letters[0]
            .payload
            .as_deref()
            .unwrap_or("")
            .contains("c7@example.nl"),
        "personal data redacted"
    );
}

#[test]
fn the_cursor_moves_after_success_and_incremental_runs_read_from_it() {
    let s = setup(orders(10));
    run(&s, Options::default());
    let cursor = s.store.cursor("sync").unwrap().expect("cursor saved");
    // Order 10 is unpaid and filtered at the source: order 9 is the newest read.
    assert_eq!(cursor, "2024-03-10T10:00:00Z");
    let runs = s.store.runs(Some("sync"), 0).unwrap();
    assert_eq!(runs[0].status, "succeeded");
}

#[test]
fn the_plan_writes_nothing_and_says_what_it_would_do() {
    let s = setup(orders(3));
    let report = run(
        &s,
        Options {
            dry_run: true,
            ..Options::default()
        },
    );
    assert!(s.service.records("invoices").is_empty() && s.service.records("customers").is_empty());
    let actions: Vec<(&str, &str)> = report
        .plan
        .iter()
        .map(|p| (p.source.as_str(), p.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("1", "create"),
            ("1", "create"),
            ("2", "create"),
            ("2", "create"),
            ("3", "create"),
            ("3", "create")
        ]
    );
    // …and the run then does what the plan said.
    let done = run(&s, Options::default());
    assert_eq!(done.created, 3);
    assert_eq!(s.service.records("customers").len(), 3);
}

#[test]
fn concurrent_runs_of_one_flow_are_refused() {
    let s = setup(orders(1));
    let _held = s.store.lock_flow("sync").unwrap();
    let flow = s.program.flow("sync").unwrap();
    let mut connections = Connections::default();
    connections
        .by_index
        .insert(0, s.service.clone() as Arc<dyn Connector>);
    let engine = Engine::new(&s.program, flow, &s.store, connections, Options::default());
    let err = engine.run("h").unwrap_err().to_string();
    assert!(err.contains("lock") || err.contains("running"), "{err}");
}
