//! The state store through its public interface: the `Store` trait as the
//! engine sees it, on real files in a temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowc::state::{
    ActivityFilter, Decision, Learned, NewDeadLetter, Reservation, RunCounts, RunId, SqliteStore,
    StateError, Store, Success, TargetKey, SCHEMA_VERSION,
};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A store whose clock the test moves (seconds since an arbitrary epoch).
fn clocked(dir: &std::path::Path) -> (SqliteStore, Arc<AtomicI64>) {
    let t = Arc::new(AtomicI64::new(1_700_000_000));
    let c = Arc::clone(&t);
    let store = SqliteStore::open(dir)
        .unwrap()
        .with_clock(move || DateTime::from_timestamp(c.load(Ordering::SeqCst), 0).unwrap());
    (store, t)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn letter(key: &str, msg: &str) -> NewDeadLetter {
    NewDeadLetter {
        source_key: key.into(),
        error_class: "http".into(),
        error_code: Some("2000".into()),
        http_status: Some(400),
        message: msg.into(),
        api_error_body: Some(r#"{"ErrorCode":2000}"#.into()),
        payload: Some(r#"{"CustomerId":"<redacted>"}"#.into()),
        source_record: None,
    }
}

fn as_dyn(s: &SqliteStore) -> &dyn Store {
    s
}

#[test]
fn the_store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SqliteStore>();
    fn boxed(_: Box<dyn Store>) {}
    boxed(Box::new(SqliteStore::open_in_memory().unwrap()));
}

#[test]
fn open_creates_a_private_directory_and_file_and_reopens_idempotently() {
    let root = tmp();
    let dir = root.path().join("nested").join("state");
    let s = SqliteStore::open(&dir).unwrap();
    let run = s.begin_run("orders", "h", "0.1.0").unwrap();
    s.record_success(&Success {
        run,
        flow: "orders",
        source_key: "o1",
        decision: Decision::Create,
        target_id: "inv-1",
        payload_hash: "ph",
        duration_ms: 3,
        cursor: Some("c1"),
    })
    .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("state.sqlite")), 0o600);
    assert_eq!(s.path(), Some(dir.join("state.sqlite").as_path()));
    let wal = dir.join("state.sqlite-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(mode(&wal) & 0o077, 0, "the WAL is as private as the db");
    drop(s);

    let s = SqliteStore::open(&dir).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        s.ledger_get("orders", "o1").unwrap().unwrap().target_id,
        "inv-1"
    );
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c1"));
    drop(s);
    SqliteStore::open(&dir).unwrap();
}

#[test]
fn a_database_from_a_newer_flowc_is_refused_clearly() {
    let dir = tmp();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("state.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 7)
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::TooNew { .. }), "{err:?}");
    assert!(err.to_string().contains("newer flowc"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_reported_as_corrupt() {
    let dir = tmp();
    std::fs::write(
        dir.path().join("state.sqlite"),
        "this is not sqlite at all, just some text that is long enough to have a header......",
    )
    .unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("move it away"), "{err}");
}

#[test]
fn an_unusable_directory_is_an_io_error() {
    let dir = tmp();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteStore::open(&file.join("state")).unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err:?}");
}

#[test]
fn runs_begin_finish_list_and_last() {
    let dir = tmp();
    let (s, t) = clocked(dir.path());
    let s = as_dyn(&s);
    assert_eq!(s.last_run("orders").unwrap(), None);
    let r1 = s.begin_run("orders", "hash1", "0.1.0").unwrap();
    t.fetch_add(60, Ordering::SeqCst);
    let counts = RunCounts {
        read: 10,
        created: 4,
        updated: 3,
        unchanged: 1,
        skipped: 1,
        failed: 1,
    };
    s.finish_run(r1, "partial", &counts).unwrap();
    let r2 = s.begin_run("customers", "hash2", "0.1.0").unwrap();
    let r3 = s.begin_run("orders", "hash1", "0.1.1").unwrap();

    let last = s.last_run("orders").unwrap().unwrap();
    assert_eq!(last.id, r3.0);
    assert_eq!(last.status, "running");
    assert_eq!(last.ended_at, None);
    assert_eq!(last.flowc_version, "0.1.1");

    let all = s.runs(None, 0).unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![r3.0, r2.0, r1.0]
    );
    let orders = s.runs(Some("orders"), 10).unwrap();
    assert_eq!(orders.len(), 2);
    let first = &orders[1];
    assert_eq!(first.status, "partial");
    assert_eq!(first.counts, counts);
    assert_eq!(first.flow_hash, "hash1");
    assert_eq!(first.started_at, at(1_700_000_000));
    assert_eq!(first.ended_at, Some(at(1_700_000_060)));
    assert_eq!(s.runs(None, 1).unwrap().len(), 1);

    let err = s.finish_run(r3, "done", &counts).unwrap_err();
    assert!(matches!(err, StateError::Invalid(_)), "{err:?}");
    let err = s.finish_run(RunId(999), "failed", &counts).unwrap_err();
    assert!(matches!(err, StateError::UnknownRun(999)), "{err:?}");
}

#[test]
fn success_writes_ledger_activity_cursor_and_clears_the_dead_letter() {
    let dir = tmp();
    let (s, t) = clocked(dir.path());
    let s = as_dyn(&s);
    let run = s.begin_run("orders", "h", "v").unwrap();
    assert_eq!(s.ledger_get("orders", "o1").unwrap(), None);

    s.record_failure(run, "orders", &letter("o1", "boom"), 7)
        .unwrap();
    s.record_failure(run, "orders", &letter("o2", "boom"), 7)
        .unwrap();
    assert_eq!(s.dead_letters(Some("orders")).unwrap().len(), 2);

    t.fetch_add(5, Ordering::SeqCst);
    s.record_success(&Success {
        run,
        flow: "orders",
        source_key: "o1",
        decision: Decision::Create,
        target_id: "inv-1",
        payload_hash: "ph1",
        duration_ms: 12,
        cursor: Some("2024-05-01T00:00:00Z"),
    })
    .unwrap();
    let e = s.ledger_get("orders", "o1").unwrap().unwrap();
    assert_eq!(
        (
            e.source_key.as_str(),
            e.target_id.as_str(),
            e.payload_hash.as_str()
        ),
        ("o1", "inv-1", "ph1")
    );
    assert_eq!(e.updated_at, at(1_700_000_005));
    assert_eq!(
        s.cursor("orders").unwrap().as_deref(),
        Some("2024-05-01T00:00:00Z")
    );
    let letters = s.dead_letters(None).unwrap();
    assert_eq!(letters.len(), 1, "only o1's letter is gone");
    assert_eq!(letters[0].source_key, "o2");

    // An update replaces the ledger row; no cursor given leaves the cursor alone.
    s.record_success(&Success {
        run,
        flow: "orders",
        source_key: "o1",
        decision: Decision::Update,
        target_id: "inv-1",
        payload_hash: "ph2",
        duration_ms: 3,
        cursor: None,
    })
    .unwrap();
    assert_eq!(
        s.ledger_get("orders", "o1").unwrap().unwrap().payload_hash,
        "ph2"
    );
    assert_eq!(
        s.cursor("orders").unwrap().as_deref(),
        Some("2024-05-01T00:00:00Z")
    );
    // Ledgers are per flow.
    assert_eq!(s.ledger_get("customers", "o1").unwrap(), None);

    let rows = s
        .activity(&ActivityFilter {
            run: Some(run.0),
            ..Default::default()
        })
        .unwrap();
    let decisions: Vec<_> = rows.iter().map(|r| r.decision.as_str()).collect();
    assert_eq!(
        decisions,
        ["update", "create", "fail", "fail"],
        "newest first"
    );
    assert_eq!(rows[1].target_id.as_deref(), Some("inv-1"));
    assert_eq!(rows[1].duration_ms, 12);
    assert_eq!(rows[1].error, None);
    assert_eq!(rows[1].at, at(1_700_000_005));
}

#[test]
fn success_and_skip_insist_on_their_decisions() {
    let s = SqliteStore::open_in_memory().unwrap();
    let run = s.begin_run("orders", "h", "v").unwrap();
    for d in [Decision::Skip, Decision::Fail] {
        let err = s
            .record_success(&Success {
                run,
                flow: "orders",
                source_key: "o1",
                decision: d,
                target_id: "t",
                payload_hash: "h",
                duration_ms: 1,
                cursor: Some("c"),
            })
            .unwrap_err();
        assert!(matches!(err, StateError::Invalid(_)), "{d}: {err:?}");
    }
    for d in [Decision::Create, Decision::Update, Decision::Fail] {
        let err = s
            .record_skip(run, "orders", "o1", d, None, 1, Some("c"))
            .unwrap_err();
        assert!(matches!(err, StateError::Invalid(_)), "{d}: {err:?}");
    }
    assert_eq!(s.cursor("orders").unwrap(), None);
    assert_eq!(s.ledger_get("orders", "o1").unwrap(), None);
}

#[test]
fn a_write_that_fails_midway_commits_nothing() {
    // An unknown run makes the activity insert fail after the ledger upsert,
    // the dead-letter delete and before the cursor: nothing may remain.
    let s = SqliteStore::open_in_memory().unwrap();
    let run = s.begin_run("orders", "h", "v").unwrap();
    s.set_cursor("orders", "c0").unwrap();
    s.record_failure(run, "orders", &letter("o1", "x"), 1)
        .unwrap();
    let err = s
        .record_success(&Success {
            run: RunId(run.0 + 100),
            flow: "orders",
            source_key: "o1",
            decision: Decision::Create,
            target_id: "inv-1",
            payload_hash: "ph",
            duration_ms: 1,
            cursor: Some("c1"),
        })
        .unwrap_err();
    assert!(matches!(err, StateError::UnknownRun(_)), "{err:?}");
    assert_eq!(s.ledger_get("orders", "o1").unwrap(), None);
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c0"));
    assert_eq!(s.dead_letters(None).unwrap().len(), 1);

    let err = s
        .record_skip(
            RunId(-1),
            "orders",
            "o2",
            Decision::Skip,
            None,
            1,
            Some("c2"),
        )
        .unwrap_err();
    assert!(matches!(err, StateError::UnknownRun(-1)), "{err:?}");
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c0"));
    let err = s
        .record_failure(RunId(-1), "orders", &letter("o3", "x"), 1)
        .unwrap_err();
    assert!(matches!(err, StateError::UnknownRun(-1)), "{err:?}");
    assert_eq!(s.dead_letters(None).unwrap().len(), 1);
}

#[test]
fn skips_log_activity_and_may_move_the_cursor_but_never_the_ledger() {
    let s = SqliteStore::open_in_memory().unwrap();
    let run = s.begin_run("orders", "h", "v").unwrap();
    s.record_skip(run, "orders", "o1", Decision::Skip, None, 1, None)
        .unwrap();
    assert_eq!(s.cursor("orders").unwrap(), None);
    s.record_skip(
        run,
        "orders",
        "o2",
        Decision::Unchanged,
        Some("inv-2"),
        2,
        Some("c2"),
    )
    .unwrap();
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c2"));
    assert_eq!(s.ledger_get("orders", "o1").unwrap(), None);
    assert_eq!(s.ledger_get("orders", "o2").unwrap(), None);
    let rows = s.activity(&ActivityFilter::default()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].decision, Decision::Unchanged);
    assert_eq!(rows[0].target_id.as_deref(), Some("inv-2"));
    assert_eq!(rows[1].decision, Decision::Skip);
}

#[test]
fn failures_never_move_the_cursor_and_upsert_the_dead_letter() {
    let dir = tmp();
    let (s, t) = clocked(dir.path());
    let r1 = s.begin_run("orders", "h", "v").unwrap();
    s.set_cursor("orders", "c0").unwrap();
    let mut first = letter("o1", "first");
    first.source_record = Some(r#"{"email":"a@b.c"}"#.into());
    s.record_failure(r1, "orders", &first, 9).unwrap();
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c0"));

    let dl = s.dead_letters(Some("orders")).unwrap();
    assert_eq!(dl.len(), 1);
    let d = &dl[0];
    assert_eq!(d.attempts, 1);
    assert_eq!(d.run, r1.0);
    assert_eq!(d.error_class, "http");
    assert_eq!(d.error_code.as_deref(), Some("2000"));
    assert_eq!(d.http_status, Some(400));
    assert_eq!(d.source_record.as_deref(), Some(r#"{"email":"a@b.c"}"#));
    assert_eq!(d.first_failed_at, at(1_700_000_000));
    assert_eq!(s.dead_letter(d.id).unwrap().as_ref(), Some(d));

    t.fetch_add(3600, Ordering::SeqCst);
    let r2 = s.begin_run("orders", "h", "v").unwrap();
    let second = NewDeadLetter {
        error_class: "validation".into(),
        error_code: None,
        http_status: None,
        ..letter("o1", "second")
    };
    s.record_failure(r2, "orders", &second, 9).unwrap();
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c0"));
    let d2 = s.dead_letter(d.id).unwrap().expect("same row, upserted");
    assert_eq!(d2.attempts, 2);
    assert_eq!(d2.run, r2.0);
    assert_eq!(d2.message, "second");
    assert_eq!(d2.error_class, "validation");
    assert_eq!(d2.http_status, None);
    assert_eq!(
        d2.source_record, None,
        "a record no longer given is cleared"
    );
    assert_eq!(d2.first_failed_at, at(1_700_000_000));
    assert_eq!(d2.last_failed_at, at(1_700_003_600));

    let failed = s
        .activity(&ActivityFilter {
            flow: Some("orders".into()),
            only_failed: true,
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].decision, Decision::Fail);
    assert_eq!(failed[0].run, r2.0);
    assert_eq!(failed[0].error.as_deref(), Some("validation: second"));
    assert_eq!(failed[0].target_id, None);
}

#[test]
fn dead_letters_are_listed_fetched_and_dropped() {
    let s = SqliteStore::open_in_memory().unwrap();
    let run = s.begin_run("orders", "h", "v").unwrap();
    let run2 = s.begin_run("customers", "h", "v").unwrap();
    s.record_failure(run, "orders", &letter("o1", "a"), 1)
        .unwrap();
    s.record_failure(run2, "customers", &letter("c1", "b"), 1)
        .unwrap();
    assert_eq!(s.dead_letters(None).unwrap().len(), 2);
    let orders = s.dead_letters(Some("orders")).unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].payload.as_deref(),
        Some(r#"{"CustomerId":"<redacted>"}"#)
    );
    assert_eq!(
        orders[0].api_error_body.as_deref(),
        Some(r#"{"ErrorCode":2000}"#)
    );
    let id = orders[0].id;
    assert!(s.drop_dead_letter(id).unwrap());
    assert!(!s.drop_dead_letter(id).unwrap());
    assert_eq!(s.dead_letter(id).unwrap(), None);
    assert_eq!(s.dead_letters(None).unwrap().len(), 1);
}

#[test]
fn activity_filters_by_flow_run_failure_and_limit() {
    let s = SqliteStore::open_in_memory().unwrap();
    let a = s.begin_run("orders", "h", "v").unwrap();
    let b = s.begin_run("customers", "h", "v").unwrap();
    for i in 0..5 {
        s.record_skip(a, "orders", &format!("o{i}"), Decision::Skip, None, 1, None)
            .unwrap();
    }
    s.record_failure(a, "orders", &letter("o9", "x"), 1)
        .unwrap();
    s.record_success(&Success {
        run: b,
        flow: "customers",
        source_key: "c1",
        decision: Decision::Create,
        target_id: "1",
        payload_hash: "h",
        duration_ms: 1,
        cursor: None,
    })
    .unwrap();
    let n = |f: ActivityFilter| s.activity(&f).unwrap().len();
    assert_eq!(n(ActivityFilter::default()), 7);
    assert_eq!(
        n(ActivityFilter {
            flow: Some("orders".into()),
            ..Default::default()
        }),
        6
    );
    assert_eq!(
        n(ActivityFilter {
            run: Some(b.0),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        n(ActivityFilter {
            only_failed: true,
            ..Default::default()
        }),
        1
    );
    let newest = s
        .activity(&ActivityFilter {
            flow: Some("orders".into()),
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|r| r.source_key.as_str())
            .collect::<Vec<_>>(),
        ["o9", "o4"]
    );
}

fn key<'a>(target: &'a str, resource: &'a str, key: &'a str) -> TargetKey<'a> {
    TargetKey {
        target,
        resource,
        key,
    }
}

fn id(id: &str) -> Learned {
    Learned {
        id: id.into(),
        company: Some("c1".into()),
        payloads: vec!["h1".into(), "h2".into()],
    }
}

#[test]
fn cursors_and_learned_ids() {
    let s = SqliteStore::open_in_memory().unwrap();
    assert_eq!(s.cursor("orders").unwrap(), None);
    s.set_cursor("orders", "a").unwrap();
    s.set_cursor("orders", "b").unwrap();
    s.set_cursor("customers", "z").unwrap();
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("b"));

    let books = "eaccounting https://books/v2";
    let customer = key(books, "customers", "a@b.c");
    assert_eq!(s.learned(customer).unwrap(), None);
    s.learn("orders", customer, &id("id-1")).unwrap();
    s.learn("orders", customer, &id("id-2")).unwrap();
    s.learn("orders", key(books, "articles", "a@b.c"), &id("art-1"))
        .unwrap();
    assert_eq!(s.learned(customer).unwrap(), Some(id("id-2")));
    // Another service (or a resource of another name) is another record.
    assert_eq!(
        s.learned(key("eaccounting https://other/v2", "customers", "a@b.c"))
            .unwrap(),
        None
    );
    assert_eq!(
        s.learned(key(books, "articles", "a@b.c")).unwrap(),
        Some(id("art-1"))
    );
    assert!(s.forget(key(books, "articles", "a@b.c")).unwrap());
    assert!(!s.forget(key(books, "articles", "a@b.c")).unwrap());
    assert_eq!(s.learned(key(books, "articles", "a@b.c")).unwrap(), None);
}

#[test]
fn match_keys_are_stored_only_as_hashes() {
    let dir = tmp();
    let s = SqliteStore::open(dir.path()).unwrap();
    let at = key(
        "eaccounting https://books/v2",
        "customers",
        "jan.jansen@example.nl",
    );
    s.learn("orders", at, &id("id-1")).unwrap();
    assert_eq!(
        s.reserve(
            "orders",
            "1",
            key("t", "customers", "piet@example.nl"),
            false
        )
        .unwrap(),
        Reservation::Granted
    );
    s.release(key("t", "customers", "piet@example.nl"), true)
        .unwrap();
    drop(s);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("example.nl"),
        "an e-mail address is in the state files"
    );
}

#[test]
fn a_reservation_goes_to_one_store_at_a_time_and_an_uncertain_create_waits_for_a_search() {
    let dir = tmp();
    let a = SqliteStore::open(dir.path()).unwrap();
    let b = SqliteStore::open(dir.path()).unwrap();
    let at = key("eaccounting https://books/v2", "customers", "a@b.c");
    assert_eq!(
        a.reserve("orders", "o1", at, false).unwrap(),
        Reservation::Granted
    );
    // Another process (another store) asks while the first creates it.
    assert_eq!(
        b.reserve("quotes", "q1", at, false).unwrap(),
        Reservation::Busy
    );
    // The first one's create lost its answer, and so did the search.
    a.release(at, true).unwrap();
    assert_eq!(
        b.reserve("quotes", "q1", at, false).unwrap(),
        Reservation::Uncertain
    );
    assert_eq!(
        a.reserve("orders", "o1", at, false).unwrap(),
        Reservation::Uncertain
    );
    let listed = b.uncertain_creates(None).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|u| (u.flow.as_str(), u.source_key.as_str(), u.resource.as_str()))
            .collect::<Vec<_>>(),
        [("orders", "o1", "customers")]
    );
    assert!(b.uncertain_creates(Some("quotes")).unwrap().is_empty());
    // A search found nothing: the searcher may create it, nobody else.
    assert_eq!(
        b.reserve("quotes", "q1", at, true).unwrap(),
        Reservation::Granted
    );
    assert_eq!(
        a.reserve("orders", "o1", at, true).unwrap(),
        Reservation::Busy
    );
    // Created: the id is learned and the claim is gone.
    b.learn("quotes", at, &id("id-9")).unwrap();
    assert_eq!(
        a.reserve("orders", "o1", at, false).unwrap(),
        Reservation::Learned(id("id-9"))
    );
    assert!(a.uncertain_creates(None).unwrap().is_empty());
    // A create that certainly failed leaves nothing behind.
    let other = key("eaccounting https://books/v2", "customers", "x@y.z");
    assert_eq!(
        a.reserve("orders", "o2", other, false).unwrap(),
        Reservation::Granted
    );
    a.release(other, false).unwrap();
    assert_eq!(
        b.reserve("quotes", "q2", other, false).unwrap(),
        Reservation::Granted
    );
}

#[test]
fn a_claim_of_a_store_that_died_is_uncertain() {
    let dir = tmp();
    let survivor = SqliteStore::open(dir.path()).unwrap();
    let at = key("ccvshop https://shop/api/rest/v1", "products", "SKU-1");
    {
        let dying = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            dying.reserve("orders", "o1", at, false).unwrap(),
            Reservation::Granted
        );
        assert_eq!(
            survivor.reserve("orders", "o2", at, false).unwrap(),
            Reservation::Busy
        );
        // Dropped without releasing: as if its process died mid-create.
    }
    assert_eq!(survivor.uncertain_creates(None).unwrap().len(), 1);
    assert_eq!(
        survivor.reserve("orders", "o2", at, false).unwrap(),
        Reservation::Uncertain
    );
}

#[test]
fn purge_deletes_old_activity_dead_letters_and_unreferenced_runs() {
    let dir = tmp();
    let (s, t) = clocked(dir.path());
    let old = s.begin_run("orders", "h", "v").unwrap();
    s.record_skip(old, "orders", "o1", Decision::Skip, None, 1, None)
        .unwrap();
    s.record_failure(old, "orders", &letter("o2", "x"), 1)
        .unwrap();
    s.record_failure(old, "orders", &letter("o3", "x"), 1)
        .unwrap();
    s.record_success(&Success {
        run: old,
        flow: "orders",
        source_key: "o4",
        decision: Decision::Create,
        target_id: "i4",
        payload_hash: "h",
        duration_ms: 1,
        cursor: Some("c"),
    })
    .unwrap();
    s.finish_run(old, "partial", &RunCounts::default()).unwrap();

    t.fetch_add(40 * 86_400, Ordering::SeqCst); // 40 days later
    let new = s.begin_run("orders", "h", "v").unwrap();
    // o3 fails again: its letter is recent now and must survive.
    s.record_failure(new, "orders", &letter("o3", "again"), 1)
        .unwrap();
    s.record_skip(new, "orders", "o5", Decision::Skip, None, 1, None)
        .unwrap();
    s.finish_run(new, "partial", &RunCounts::default()).unwrap();

    let cutoff = at(1_700_000_000 + 30 * 86_400);
    let purged = s.purge_older_than(cutoff).unwrap();
    assert_eq!(purged.activity, 4, "{purged:?}");
    assert_eq!(purged.dead_letters, 1, "{purged:?}");
    assert_eq!(purged.runs, 1, "{purged:?}");
    let letters = s.dead_letters(None).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].source_key, "o3");
    assert_eq!(letters[0].attempts, 2);
    assert_eq!(s.activity(&ActivityFilter::default()).unwrap().len(), 2);
    // Retention never touches what prevents duplicates.
    assert!(s.ledger_get("orders", "o4").unwrap().is_some());
    assert_eq!(s.cursor("orders").unwrap().as_deref(), Some("c"));
    // The latest run of a flow is kept however old it is.
    let purged = s.purge_older_than(at(2_000_000_000)).unwrap();
    assert_eq!(
        (purged.activity, purged.dead_letters, purged.runs),
        (2, 1, 0)
    );
    assert_eq!(s.last_run("orders").unwrap().unwrap().id, new.0);
    // Nothing left to purge.
    assert_eq!(
        s.purge_older_than(at(2_000_000_000)).unwrap(),
        Default::default()
    );
}

/// Everything on disk in the state folder (database, WAL, shared memory).
fn state_bytes(dir: &std::path::Path) -> String {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn purged_rows_and_learned_ids_are_gone_from_the_files_not_just_from_queries() {
    let dir = tmp();
    let (s, t) = clocked(dir.path());
    let run = s.begin_run("orders", "h", "v").unwrap();
    let mut l = letter("o1", "Name 'Marijke Mulder-Verhoeven' is too long");
    l.payload = Some(r#"{"Name":"Marijke Mulder-Verhoeven"}"#.into());
    s.record_failure(run, "orders", &l, 1).unwrap();
    let customer = key(
        "eaccounting https://books/v2",
        "customers",
        "marijke@example.nl",
    );
    s.learn("orders", customer, &id("id-1")).unwrap();
    s.finish_run(run, "partial", &RunCounts::default()).unwrap();
    assert!(state_bytes(dir.path()).contains("Marijke Mulder-Verhoeven"));

    t.fetch_add(86_400, Ordering::SeqCst);
    let purged = s.purge_older_than(at(1_700_000_000 + 3_600)).unwrap();
    assert_eq!((purged.dead_letters, purged.learned), (1, 1), "{purged:?}");
    assert_eq!(s.learned(customer).unwrap(), None);
    // Not in a free page of the database, nor in the WAL.
    assert!(!state_bytes(dir.path()).contains("Mulder-Verhoeven"));
}

#[test]
fn error_texts_are_stored_without_urls_or_e_mail_addresses() {
    let s = SqliteStore::open_in_memory().unwrap();
    let run = s.begin_run("orders", "h", "v").unwrap();
    let mut l = letter(
        "o1",
        "eAccounting GET /customers: error sending request for url (https://api/v2/customers?$filter=EmailAddress%20eq%20%27jan%40x.nl%27): timed out; customer jan@x.nl",
    );
    l.api_error_body = Some("duplicate of jan@x.nl".into());
    s.record_failure(run, "orders", &l, 1).unwrap();
    let stored = &s.dead_letters(None).unwrap()[0];
    assert_eq!(
        stored.message,
        "eAccounting GET /customers: error sending request for url (/v2/customers): timed out; customer <e-mail>"
    );
    assert_eq!(
        stored.api_error_body.as_deref(),
        Some("duplicate of <e-mail>")
    );
    let row = &s.activity(&ActivityFilter::default()).unwrap()[0];
    assert!(!row.error.as_deref().unwrap().contains("jan"), "{row:?}");
}

#[test]
fn reset_forgets_one_flow_entirely_and_nothing_else() {
    let s = SqliteStore::open_in_memory().unwrap();
    for flow in ["orders", "customers"] {
        let run = s.begin_run(flow, "h", "v").unwrap();
        s.record_success(&Success {
            run,
            flow,
            source_key: "k1",
            decision: Decision::Create,
            target_id: "t1",
            payload_hash: "h",
            duration_ms: 1,
            cursor: Some("c"),
        })
        .unwrap();
        s.record_failure(run, flow, &letter("k2", "x"), 1).unwrap();
        s.learn(flow, key("t", &format!("{flow}.ns"), "k"), &id("id"))
            .unwrap();
    }
    let uncertain = key("t", "customers", "u@v.w");
    s.reserve("orders", "k3", uncertain, false).unwrap();
    s.release(uncertain, true).unwrap();

    s.reset_flow("orders").unwrap();
    assert_eq!(s.ledger_get("orders", "k1").unwrap(), None);
    assert_eq!(s.cursor("orders").unwrap(), None);
    assert!(s.runs(Some("orders"), 0).unwrap().is_empty());
    assert_eq!(s.last_run("orders").unwrap(), None);
    assert!(s.dead_letters(Some("orders")).unwrap().is_empty());
    assert!(s
        .activity(&ActivityFilter {
            flow: Some("orders".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    // Ids learned by the flow are forgotten: after a reset against another
    // company, nothing may point at records that do not exist there.
    assert_eq!(s.learned(key("t", "orders.ns", "k")).unwrap(), None);
    // What prevents duplicates stays: an uncertain create waits for a search.
    assert_eq!(s.uncertain_creates(None).unwrap().len(), 1);

    assert!(s.ledger_get("customers", "k1").unwrap().is_some());
    assert_eq!(s.cursor("customers").unwrap().as_deref(), Some("c"));
    assert_eq!(s.runs(Some("customers"), 0).unwrap().len(), 1);
    assert_eq!(s.dead_letters(Some("customers")).unwrap().len(), 1);
    assert_eq!(
        s.learned(key("t", "customers.ns", "k")).unwrap(),
        Some(id("id"))
    );
    // The flow can start over.
    let run = s.begin_run("orders", "h", "v").unwrap();
    s.record_success(&Success {
        run,
        flow: "orders",
        source_key: "k1",
        decision: Decision::Create,
        target_id: "t9",
        payload_hash: "h",
        duration_ms: 1,
        cursor: None,
    })
    .unwrap();
}

#[test]
fn two_stores_on_one_file_contend_for_the_flow_lock() {
    let dir = tmp();
    let a = SqliteStore::open(dir.path()).unwrap();
    let b = SqliteStore::open(dir.path()).unwrap();

    let lock = a.lock_flow("orders").unwrap();
    assert_eq!(lock.flow(), "orders");
    assert_eq!(lock.holder().pid, std::process::id());
    assert!(lock.taken_over_from().is_none());

    let err = b.lock_flow("orders").unwrap_err();
    match &err {
        StateError::Locked { flow, holder } => {
            assert_eq!(flow, "orders");
            assert_eq!(holder.pid, std::process::id());
            assert_eq!(holder, lock.holder());
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("pid {}", std::process::id())) && msg.contains("orders"),
        "{msg}"
    );
    // The same store cannot take it twice either.
    assert!(matches!(
        a.lock_flow("orders"),
        Err(StateError::Locked { .. })
    ));
    // Other flows are independent.
    let other = b.lock_flow("customers").unwrap();

    // Writes from both stores interleave fine meanwhile.
    let ra = a.begin_run("orders", "h", "v").unwrap();
    let rb = b.begin_run("customers", "h", "v").unwrap();
    a.record_success(&Success {
        run: ra,
        flow: "orders",
        source_key: "o1",
        decision: Decision::Create,
        target_id: "1",
        payload_hash: "h",
        duration_ms: 1,
        cursor: Some("c"),
    })
    .unwrap();
    b.record_success(&Success {
        run: rb,
        flow: "customers",
        source_key: "c1",
        decision: Decision::Create,
        target_id: "2",
        payload_hash: "h",
        duration_ms: 1,
        cursor: None,
    })
    .unwrap();
    assert!(b.ledger_get("orders", "o1").unwrap().is_some());

    drop(lock);
    let lock_b = b.lock_flow("orders").unwrap();
    assert!(matches!(
        a.lock_flow("orders"),
        Err(StateError::Locked { .. })
    ));
    lock_b.release().unwrap();
    drop(other);
    drop(a.lock_flow("orders").unwrap());
}

#[test]
fn a_store_in_memory_locks_within_its_process() {
    let s = SqliteStore::open_in_memory().unwrap();
    let crashed = s.begin_run("orders", "h", "v").unwrap();
    let lock = s.lock_flow("orders").unwrap();
    assert_eq!(lock.holder().pid, std::process::id());
    assert!(lock.taken_over_from().is_none());
    let last = s.last_run("orders").unwrap().unwrap();
    assert_eq!(
        (last.id, last.status.as_str()),
        (crashed.0, "interrupted"),
        "a run left going is interrupted by the next lock here too"
    );
    match s.lock_flow("orders").unwrap_err() {
        StateError::Locked { holder, .. } => assert_eq!(&holder, lock.holder()),
        other => panic!("expected Locked, got {other:?}"),
    }
    let other = s.lock_flow("customers").unwrap();
    drop(lock);
    let again = s.lock_flow("orders").unwrap();
    assert!(s.break_lock("orders").unwrap());
    let broken_into = s.lock_flow("orders").unwrap();
    drop(again);
    assert!(matches!(
        s.lock_flow("orders"),
        Err(StateError::Locked { .. })
    ));
    drop((other, broken_into));
}

#[test]
fn lock_threads_race_and_exactly_one_wins() {
    let dir = tmp();
    let path = dir.path().to_path_buf();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let s = SqliteStore::open(&path).unwrap();
                s.lock_flow("orders").map(std::mem::forget).is_ok()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
}

/// What a run that crashed leaves behind: its row in `locks` (the operating
/// system released its file lock with the process). Returns the dead pid.
fn leave_a_crashed_lock(dir: &std::path::Path, flow: &str, host: &str) -> u32 {
    // The pid is never looked at: only the file lock says whether a holder lives.
    let dead = 4_194_305; // above Linux's largest pid
    let conn = rusqlite::Connection::open(dir.join("state.sqlite")).unwrap();
    conn.execute(
        "INSERT INTO locks (flow, token, pid, host, started_at)
         VALUES (?1, 'crashed', ?2, ?3, '2024-05-01T00:00:00.000000Z')",
        rusqlite::params![flow, dead, host],
    )
    .unwrap();
    dead
}

#[test]
fn a_stale_lock_of_a_dead_process_is_taken_over_and_its_run_marked_interrupted() {
    let dir = tmp();
    let s = SqliteStore::open(dir.path()).unwrap();
    let crashed = s.begin_run("orders", "h", "v").unwrap();
    let finished = s.begin_run("orders", "h", "v").unwrap();
    s.finish_run(finished, "succeeded", &RunCounts::default())
        .unwrap();
    let dead = leave_a_crashed_lock(dir.path(), "orders", "this-host");

    let lock = s.lock_flow("orders").unwrap();
    let previous = lock.taken_over_from().expect("taken over");
    assert_eq!(previous.pid, dead);
    assert_eq!(previous.started_at, at(1_714_521_600));
    assert_eq!(lock.holder().pid, std::process::id());
    let runs = s.runs(Some("orders"), 0).unwrap();
    let status = |id: RunId| runs.iter().find(|r| r.id == id.0).unwrap().status.clone();
    assert_eq!(status(crashed), "interrupted");
    assert!(runs
        .iter()
        .find(|r| r.id == crashed.0)
        .unwrap()
        .ended_at
        .is_some());
    assert_eq!(status(finished), "succeeded");
    // And it is a real lock again.
    let other = SqliteStore::open(dir.path()).unwrap();
    assert!(matches!(
        other.lock_flow("orders"),
        Err(StateError::Locked { .. })
    ));
}

#[test]
fn a_lock_left_on_another_host_is_taken_over_too() {
    // A host does not matter: the file lock is released with its process
    // wherever that ran, so a row without a held file lock is a dead holder's.
    let dir = tmp();
    drop(SqliteStore::open(dir.path()).unwrap());
    leave_a_crashed_lock(dir.path(), "orders", "elsewhere");
    let s = SqliteStore::open(dir.path()).unwrap();
    let lock = s.lock_flow("orders").unwrap();
    assert_eq!(lock.taken_over_from().unwrap().host, "elsewhere");
    lock.release().unwrap();
    // Released cleanly, nothing is left to take over.
    assert!(s.lock_flow("orders").unwrap().taken_over_from().is_none());
}

#[test]
fn a_lock_file_held_without_a_holder_row_is_waited_for_then_reported() {
    // What a release looks like to others while a child process forked by the
    // releasing process still shares its lock file: held, but no row.
    let dir = tmp();
    let s = SqliteStore::open(dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("locks")).unwrap();
    let path = dir.path().join("locks/orders.lock");
    let hold = || {
        let f = std::fs::File::create(&path).unwrap();
        f.lock().unwrap();
        f
    };
    let held = hold();
    let letting_go = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
    });
    let lock = s
        .lock_flow("orders")
        .expect("taken once the file is let go");
    assert!(lock.taken_over_from().is_none());
    letting_go.join().unwrap();
    drop(lock);

    let _stuck = hold();
    let started = std::time::Instant::now();
    let err = s.lock_flow("orders").unwrap_err();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited"
    );
    assert!(matches!(err, StateError::Database(_)), "{err:?}");
    assert!(
        err.to_string().contains("does not name")
            && err.to_string().contains("flowc state unlock --flow orders"),
        "{err}"
    );
}

/// Set in the child process of the test below: the state directory whose
/// `orders` lock it takes.
const LOCK_CHILD_DIR: &str = "FLOWC_TEST_LOCK_CHILD_DIR";
/// What the child prints once it holds the lock and has begun a run.
const LOCK_CHILD_READY: &str = "lock-child holds orders, run ";

#[test]
fn a_lock_held_by_a_killed_child_process_is_taken_over() {
    use std::io::{BufRead, Read, Write};
    use std::process::{Command, Stdio};

    const NAME: &str = "a_lock_held_by_a_killed_child_process_is_taken_over";
    if let Some(dir) = std::env::var_os(LOCK_CHILD_DIR) {
        // The child: hold the lock with a run going until killed. It waits on
        // stdin, so it also ends if the parent dies without killing it.
        let s = SqliteStore::open(std::path::Path::new(&dir)).unwrap();
        let _lock = s.lock_flow("orders").unwrap();
        let run = s.begin_run("orders", "h", "v").unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{LOCK_CHILD_READY}{run}").unwrap();
        out.flush().unwrap();
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }

    let dir = tmp();
    drop(SqliteStore::open(dir.path()).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(LOCK_CHILD_DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The test harness may print `test … ... ` before the child's own line,
    // so the marker is looked for anywhere in a line. A thread reads, so that
    // a child that hangs fails the test instead of blocking it.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let run = stdout.lines().map_while(Result::ok).find_map(|l| {
            let (_, run) = l.split_once(LOCK_CHILD_READY)?;
            run.trim().parse::<i64>().ok()
        });
        let _ = tx.send(run);
    });
    let run = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(Some(run)) => run,
        outcome => {
            let _ = child.kill();
            panic!("the child did not report holding the lock: {outcome:?}");
        }
    };

    // Alive, the child holds the lock.
    let s = SqliteStore::open(dir.path()).unwrap();
    match s.lock_flow("orders").unwrap_err() {
        StateError::Locked { holder, .. } => assert_eq!(holder.pid, child.id()),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(s.last_run("orders").unwrap().unwrap().status, "running");

    // Killed (SIGKILL: no destructor runs), it leaves its row behind but not
    // the file lock, and the next run takes over.
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = s.lock_flow("orders").unwrap();
    assert_eq!(lock.taken_over_from().unwrap().pid, child.id());
    let last = s.last_run("orders").unwrap().unwrap();
    assert_eq!((last.id, last.status.as_str()), (run, "interrupted"));
}

#[test]
fn a_broken_lock_frees_the_flow_and_its_old_holder_cannot_free_the_new_one() {
    // `flowc state unlock` for a holder that is alive but stuck: the old holder keeps
    // its lock on a removed file, and its RunLock only deletes its own row
    // (matched by token).
    let dir = tmp();
    let a = SqliteStore::open(dir.path()).unwrap();
    let old = a.lock_flow("orders").unwrap();
    assert!(a.break_lock("orders").unwrap());
    let new = a.lock_flow("orders").unwrap();
    assert!(
        new.taken_over_from().is_none(),
        "a broken lock is not a dead one"
    );
    assert!(!a.break_lock("flow-never-locked").unwrap());
    drop(old);
    let b = SqliteStore::open(dir.path()).unwrap();
    let err = b.lock_flow("orders").unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("flowc state unlock --flow orders"),
        "the lock error names a command that exists: {err}"
    );
    drop(new);
    drop(b.lock_flow("orders").unwrap());
}

#[test]
fn decisions_round_trip_as_strings() {
    for d in Decision::ALL {
        assert_eq!(d.as_str().parse::<Decision>().unwrap(), d);
        assert_eq!(d.to_string(), d.as_str());
    }
    assert_eq!(Decision::Create.as_str(), "create");
    assert!("nope".parse::<Decision>().is_err());
}
