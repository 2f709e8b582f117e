//! The eAccounting connector over real HTTP against the emulator on
//! loopback: OAuth with rotating refresh tokens, the token file, paging,
//! OData quoting, validation before sending, error mapping, rate limits and
//! every injected fault. Waits advance the emulator clock instead of sleeping.

// As in the library: errors are large but returned once per problem.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use flowc::connectors::eaccounting::oauth::AUTH_COMMAND;
use flowc::connectors::eaccounting::{
    authorize_interactive, ConnectorConfig, EaccountingConnector, OAuthClient, TokenStore, SPEC,
};
use flowc::connectors::http::RetryPolicy;
use flowc::connectors::registry::{AuthContext, AUTH_TIMEOUT};
use flowc::connectors::settings::{Secret, Settings};
use flowc::connectors::{Connector, ConnectorError, ErrorClass, Filter, FilterOp, ListQuery};
use flowc::value::{Record, Value};
use flowc_emulators::eaccounting::identity::OAuthClient as EmuClient;
use flowc_emulators::eaccounting::{
    start_blocking, BlockingEaccountingEmulator, EaccountingConfig, DEFAULT_SCOPE,
};
use flowc_emulators::faults::{Fault, Matcher};
use reqwest::Method;

const SECRET: &str = "flowc-test-secret-5f2a";

fn emulator_with(rate_limit: u32) -> BlockingEaccountingEmulator {
    start_blocking(EaccountingConfig {
        clients: vec![EmuClient {
            client_id: "flowc-test".into(),
            client_secret: SECRET.into(),
            // Any loopback port may come back from the interactive sign-in.
            redirect_uris: vec![],
        }],
        rate_limit_per_minute: rate_limit,
        ..EaccountingConfig::default()
    })
    .expect("emulator starts")
}

fn emulator() -> BlockingEaccountingEmulator {
    emulator_with(600)
}

fn oauth(emu: &BlockingEaccountingEmulator) -> OAuthClient {
    OAuthClient {
        identity_url: emu.identity_url(),
        client_id: emu.client_id().to_string(),
        client_secret: Secret::new(emu.client_secret()),
    }
}

/// Retries "sleep" by moving the emulator clock (rate windows, token ages).
fn advancing(
    emu: &BlockingEaccountingEmulator,
    waits: Option<Arc<Mutex<Vec<Duration>>>>,
) -> RetryPolicy {
    let limits = emu.limits().clone();
    RetryPolicy {
        sleep: Arc::new(move |d| {
            if let Some(w) = &waits {
                w.lock().unwrap().push(d);
            }
            limits.advance(d);
        }),
        ..RetryPolicy::default()
    }
}

fn config(emu: &BlockingEaccountingEmulator, dir: &Path, seed: Option<&str>) -> ConnectorConfig {
    let mut c = ConnectorConfig::new(&emu.api_url(), oauth(emu), dir);
    c.refresh_token = seed.map(Secret::new);
    c.retry = advancing(emu, None);
    c.timeout = Duration::from_secs(5);
    c
}

fn connector(
    emu: &BlockingEaccountingEmulator,
    dir: &Path,
    seed: Option<&str>,
) -> EaccountingConnector {
    EaccountingConnector::new(config(emu, dir, seed)).unwrap()
}

/// A connector signed in headlessly with a fresh refresh token.
fn signed_in(emu: &BlockingEaccountingEmulator, dir: &Path) -> EaccountingConnector {
    let rt = emu.refresh_token(DEFAULT_SCOPE);
    connector(emu, dir, Some(&rt))
}

fn first_id(emu: &BlockingEaccountingEmulator, collection: &str) -> String {
    emu.collection(collection)[0]["Id"]
        .as_str()
        .unwrap()
        .to_string()
}

struct Refs {
    terms: String,
    unit: String,
    coding: String,
}

fn refs(emu: &BlockingEaccountingEmulator) -> Refs {
    Refs {
        terms: first_id(emu, "termsofpayments"),
        unit: first_id(emu, "units"),
        coding: first_id(emu, "articleaccountcodings"),
    }
}

fn record(pairs: &[(&str, Value)]) -> Record {
    let mut r = Record::new();
    for (k, v) in pairs {
        r.insert(*k, v.clone());
    }
    r
}

fn customer(refs: &Refs, name: &str, email: &str) -> Record {
    record(&[
        ("Name", Value::str(name)),
        ("EmailAddress", Value::str(email)),
        ("IsPrivatePerson", Value::Bool(false)),
        ("IsActive", Value::Bool(true)),
        ("TermsOfPaymentId", Value::str(&refs.terms)),
        ("InvoiceAddress1", Value::str("Damrak 1")),
        ("InvoicePostalCode", Value::str("1012 LG")),
        ("InvoiceCity", Value::str("Amsterdam")),
    ])
}

fn article(refs: &Refs, number: &str) -> Record {
    record(&[
        ("Number", Value::str(number)),
        ("Name", Value::str(&format!("Article {number}"))),
        ("IsActive", Value::Bool(true)),
        ("CodingId", Value::str(&refs.coding)),
        ("UnitId", Value::str(&refs.unit)),
        ("NetPrice", Value::Num("12.34".parse().unwrap())),
    ])
}

fn field(v: &Value, name: &str) -> String {
    v.as_record()
        .and_then(|r| r.get(name))
        .and_then(Value::to_text)
        .unwrap_or_default()
}

fn count_all(c: &EaccountingConnector, resource: &str) -> usize {
    let mut n = 0;
    c.list(resource, &ListQuery::default(), &mut |_| {
        n += 1;
        Ok(true)
    })
    .unwrap();
    n
}

/// A direct refresh with `token`: the HTTP status the identity server answers.
fn refresh_status(emu: &BlockingEaccountingEmulator, token: &str) -> u16 {
    reqwest::blocking::Client::new()
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn stored(dir: &Path) -> flowc::connectors::eaccounting::StoredTokens {
    TokenStore::new(dir)
        .load()
        .unwrap()
        .expect("tokens are stored")
}

fn assert_no_secrets(text: &str, secrets: &[&str]) {
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!text.contains(s), "a secret leaked into: {text}");
    }
}

fn assert_error_hides(e: &ConnectorError, secrets: &[&str]) {
    assert_no_secrets(&format!("{e} {e:?}"), secrets);
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn refresh_tokens_rotate_and_the_file_always_holds_the_newest_pair() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let seed = emu.refresh_token(DEFAULT_SCOPE);
    let c = connector(&emu, dir.path(), Some(&seed));

    // First use: the headless refresh token is exchanged (refresh #1).
    assert!(count_all(&c, "units") > 0);
    assert_eq!(emu.token_requests(), 1);
    let first = stored(dir.path());
    assert_ne!(first.refresh_token, seed);
    #[cfg(unix)]
    {
        let file = TokenStore::new(dir.path()).path().to_path_buf();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }

    // An expired access token: exactly one refresh and one repeat of the call.
    emu.expire_access_tokens();
    emu.reset_request_counts();
    assert!(count_all(&c, "units") > 0);
    assert_eq!(emu.token_requests(), 2, "one refresh");
    assert_eq!(emu.request_count("GET", "/units"), 2, "401, then the retry");
    assert_eq!(emu.request_count("POST", "/connect/token"), 1);
    let second = stored(dir.path());
    assert_ne!(second.refresh_token, first.refresh_token);

    // Only the newest refresh token is alive; the file holds it.
    assert_eq!(refresh_status(&emu, &seed), 400, "seed was rotated away");
    assert_eq!(
        refresh_status(&emu, &first.refresh_token),
        400,
        "first was rotated away"
    );
    // A new process reads the newest pair and works without a token call.
    let again = connector(&emu, dir.path(), Some(&seed));
    assert!(count_all(&again, "units") > 0);
    assert_eq!(
        emu.token_requests(),
        4,
        "two rejected direct refreshes, no new one"
    );
    #[cfg(unix)]
    assert_eq!(mode(TokenStore::new(dir.path()).path()), 0o600);

    // An access token about to expire is refreshed before use, without a 401.
    let store = TokenStore::new(dir.path());
    let mut near = stored(dir.path());
    near.expires_at = flowc::connectors::eaccounting::tokens::unix_now() + 30;
    store.save(&near).unwrap();
    let early = connector(&emu, dir.path(), None);
    emu.reset_request_counts();
    assert!(count_all(&early, "units") > 0);
    assert_eq!(
        emu.request_count("POST", "/connect/token"),
        1,
        "refreshed early"
    );
    assert_eq!(emu.request_count("GET", "/units"), 1, "no 401 round trip");
    assert_ne!(stored(dir.path()).refresh_token, near.refresh_token);

    let debug = format!("{c:?} {:?}", stored(dir.path()));
    assert_no_secrets(
        &debug,
        &[SECRET, &seed, &second.refresh_token, &second.access_token],
    );
}

#[test]
fn a_crash_between_refresh_and_persist_is_reported_and_recoverable_in_process() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let f = fail.clone();
    let mut cfg = config(&emu, dir.path(), Some(&emu.refresh_token(DEFAULT_SCOPE)));
    cfg.store =
        TokenStore::new(dir.path()).failing_writes_when(Arc::new(move || f.load(Ordering::SeqCst)));
    let a = EaccountingConnector::new(cfg).unwrap();
    assert!(count_all(&a, "units") > 0);
    let before = stored(dir.path());

    // The service rotates, then the write of the new pair fails.
    fail.store(true, Ordering::SeqCst);
    emu.expire_access_tokens();
    let err = a
        .list("units", &ListQuery::default(), &mut |_| Ok(true))
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(
        err.message.contains("could not be saved"),
        "{}",
        err.message
    );
    assert!(err.message.contains(AUTH_COMMAND), "{}", err.message);
    assert_eq!(
        stored(dir.path()),
        before,
        "the file still holds the old (now dead) pair"
    );

    // A process that starts now (the crash case) finds a dead refresh token
    // and gets a clear diagnostic, not a retry loop.
    let b = connector(&emu, dir.path(), None);
    let err = b
        .list("units", &ListQuery::default(), &mut |_| Ok(true))
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains(AUTH_COMMAND), "{}", err.message);
    assert_eq!(err.code.as_deref(), Some("invalid_grant"));
    println!("next process after a lost write: {err}");

    // The process that still holds the new pair saves it as soon as it can
    // and carries on; from then on the file works again.
    fail.store(false, Ordering::SeqCst);
    assert!(count_all(&a, "units") > 0);
    assert_ne!(stored(dir.path()), before);
    let c = connector(&emu, dir.path(), None);
    assert!(count_all(&c, "units") > 0);
}

#[test]
fn invalid_grant_tells_the_user_to_sign_in_again_without_leaking_secrets() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let seed = emu.refresh_token(DEFAULT_SCOPE);
    let c = connector(&emu, dir.path(), Some(&seed));
    assert!(count_all(&c, "units") > 0);
    emu.revoke_all_tokens();
    let err = c
        .get("customers", &uuid::Uuid::new_v4().to_string())
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(
        err.message.contains("flowc auth eaccounting"),
        "{}",
        err.message
    );
    let t = stored(dir.path());
    assert_error_hides(&err, &[SECRET, &seed, &t.refresh_token, &t.access_token]);
    assert_no_secrets(&format!("{c:?}"), &[SECRET, &seed, &t.refresh_token]);
}

#[test]
fn headless_setup_from_a_refresh_token_and_nothing_stored() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    // Nothing stored, nothing given.
    let err = connector(&emu, dir.path(), None)
        .list("units", &ListQuery::default(), &mut |_| Ok(true))
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(
        err.message.contains(AUTH_COMMAND) && err.message.contains("EACCOUNTING_REFRESH_TOKEN")
    );
    assert_eq!(emu.token_requests(), 0);

    // EACCOUNTING_REFRESH_TOKEN through the settings, as a flow's connection gives it.
    let seed = emu.refresh_token(DEFAULT_SCOPE);
    let settings = Settings::from_pairs(
        &SPEC,
        "eaccounting",
        &[
            ("api_url", &emu.api_url()),
            ("identity_url", &emu.identity_url()),
            ("client_id", emu.client_id()),
            ("client_secret", emu.client_secret()),
            ("refresh_token", &seed),
        ],
    )
    .unwrap();
    let c = EaccountingConnector::from_settings(&settings, dir.path()).unwrap();
    assert!(count_all(&c, "units") > 0);
    assert!(TokenStore::new(dir.path()).path().exists());
    // The same (now used) seed in a later run does not override the stored chain.
    let c2 = EaccountingConnector::from_settings(&settings, dir.path()).unwrap();
    assert!(count_all(&c2, "units") > 0);
    // A different token in the environment is new: it replaces the chain.
    let fresh = emu.refresh_token(DEFAULT_SCOPE);
    let before = emu.token_requests();
    let c3 = connector(&emu, dir.path(), Some(&fresh));
    assert!(count_all(&c3, "units") > 0);
    assert_eq!(emu.token_requests(), before + 1);
    assert_eq!(
        refresh_status(&emu, &fresh),
        400,
        "the new seed was used and rotated"
    );
}

/// Collects what `authorize_interactive` prints, line by line.
struct Lines(mpsc::Sender<String>, String);
impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.push_str(&String::from_utf8_lossy(buf));
        while let Some(i) = self.1.find('\n') {
            let line: String = self.1.drain(..=i).collect();
            let _ = self.0.send(line.trim_end().to_string());
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn start_interactive(
    emu: &BlockingEaccountingEmulator,
    dir: &Path,
) -> (std::thread::JoinHandle<Result<(), ConnectorError>>, String) {
    let settings = Settings::from_pairs(
        &SPEC,
        "eaccounting",
        &[
            ("identity_url", &emu.identity_url()),
            ("client_id", emu.client_id()),
            ("client_secret", emu.client_secret()),
        ],
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    let handle = std::thread::spawn(move || {
        let mut out = Lines(tx, String::new());
        authorize_interactive(AuthContext {
            settings: &settings,
            state_dir: &dir,
            open_browser: false,
            timeout: AUTH_TIMEOUT,
            out: &mut out,
        })
    });
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the URL is printed");
        if line.starts_with("http") {
            break line;
        }
    };
    (handle, url)
}

#[test]
fn interactive_sign_in_over_loopback_stores_tokens() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (handle, url) = start_interactive(&emu, dir.path());
    assert!(url.starts_with(&format!("{}/connect/authorize?", emu.identity_url())));
    assert!(url.contains("client_id=flowc-test"));
    assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    assert!(url.contains("response_type=code") && url.contains("state="));
    // The "browser": follow the identity server's redirect to our listener.
    let page = reqwest::blocking::get(&url).unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("signed in"));
    handle.join().unwrap().expect("sign-in succeeds");
    assert_eq!(emu.token_requests(), 1, "one code exchange");
    let c = connector(&emu, dir.path(), None);
    assert!(count_all(&c, "units") > 0);
    assert_eq!(
        emu.token_requests(),
        1,
        "the stored access token is used as is"
    );

    // A redirect with someone else's state is refused.
    let (handle, url) = start_interactive(&emu, dir.path());
    let port = url
        .split("127.0.0.1%3A")
        .nth(1)
        .and_then(|r| r.split('%').next())
        .unwrap()
        .to_string();
    let r = reqwest::blocking::get(format!(
        "http://127.0.0.1:{port}/callback?code=x&state=forged"
    ))
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err = handle.join().unwrap().unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("state"), "{}", err.message);
}

#[test]
fn odata_quoting_finds_awkward_values() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let c = signed_in(&emu, dir.path());
    let refs = refs(&emu);
    let emails = [
        "o'brien@example.com",
        "a&b=c@example.com",
        "100%@example.com",
        "jürgen+tag#1@exämple.com",
        "x y@example.com",
    ];
    for (i, e) in emails.iter().enumerate() {
        c.create("customers", &customer(&refs, &format!("C{i}"), e))
            .unwrap();
    }
    for (i, e) in emails.iter().enumerate() {
        let found = c.find("customers", "EmailAddress", &Value::str(e)).unwrap();
        assert_eq!(found.len(), 1, "{e}");
        assert_eq!(field(&found[0], "Name"), format!("C{i}"));
    }
    // GUIDs go bare, and several filters combine.
    let q = ListQuery {
        filters: vec![
            Filter {
                field: "TermsOfPaymentId".into(),
                op: FilterOp::Eq,
                value: Value::str(&refs.terms),
            },
            Filter {
                field: "Name".into(),
                op: FilterOp::Ge,
                value: Value::str("C3"),
            },
        ],
        order_by: Some("-Name".into()),
        page_size: None,
        reads: None,
    };
    let mut names = Vec::new();
    c.list("customers", &q, &mut |v| {
        names.push(field(&v, "Name"));
        Ok(true)
    })
    .unwrap();
    assert_eq!(names, vec!["C4", "C3"]);
}

#[test]
fn paging_follows_total_number_of_pages() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let customers: Vec<_> = (0..123)
        .map(|i| {
            serde_json::json!({"Name": format!("Customer {i:03}"), "IsPrivatePerson": true, "IsActive": true,
                "TermsOfPaymentId": refs.terms, "InvoicePostalCode": "1000", "InvoiceCity": "Utrecht"})
        })
        .collect();
    emu.load_seed(&serde_json::json!({ "customers": customers }).to_string())
        .unwrap();
    let c = signed_in(&emu, dir.path());
    emu.reset_request_counts();
    let q = ListQuery {
        page_size: Some(50),
        ..ListQuery::default()
    };
    let mut n = 0;
    let stats = c
        .list("customers", &q, &mut |_| {
            n += 1;
            Ok(true)
        })
        .unwrap();
    assert_eq!((n, stats.pages, stats.records), (123, 3, 123));
    assert_eq!(emu.request_count("GET", "/customers"), 3);
    // The default page size is the maximum the service allows: one call.
    emu.reset_request_counts();
    assert_eq!(count_all(&c, "customers"), 123);
    assert_eq!(emu.request_count("GET", "/customers"), 1);
    // Stopping early reads no further pages.
    emu.reset_request_counts();
    let mut seen = 0;
    c.list("customers", &q, &mut |_| {
        seen += 1;
        Ok(seen < 60)
    })
    .unwrap();
    assert_eq!(emu.request_count("GET", "/customers"), 2);
}

#[test]
fn creating_300_customers_and_300_articles_makes_exactly_the_predicted_calls() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let c = signed_in(&emu, dir.path());
    let started = std::time::Instant::now();
    for i in 0..300 {
        c.create(
            "customers",
            &customer(&refs, &format!("Bulk {i}"), &format!("bulk{i}@example.com")),
        )
        .unwrap();
        c.create("articles", &article(&refs, &format!("SKU-{i:04}")))
            .unwrap();
    }
    let counts = emu.request_counts();
    println!("emulator request counts: {counts:?}");
    println!("connector stats: {:?}", c.stats());
    println!("600 creates took {:?}", started.elapsed());
    let total: u64 = counts.values().sum();
    // Prediction: 300 + 300 POSTs and one token call (the headless refresh).
    assert_eq!(emu.request_count("POST", "/customers"), 300);
    assert_eq!(emu.request_count("POST", "/articles"), 300);
    assert_eq!(emu.request_count("POST", "/connect/token"), 1);
    assert_eq!(total, 601);
    assert_eq!(emu.limits().rejected(), 0, "no 429");
    let stats = c.stats();
    assert_eq!(
        (stats.total, stats.rate_limited, stats.retries),
        (601, 0, 0)
    );
    assert_eq!(emu.collection("customers").len(), 300);
    assert_eq!(emu.collection("articles").len(), 300);
}

fn schemas() -> HashMap<String, Arc<flowc::types::RecordType>> {
    let checked =
        flowc::check::check_source("schemas.flow", None, "import \"stdlib/eaccounting.flow\"\n");
    assert!(!checked.has_errors());
    let s = flowc::connectors::schemas_of(&checked.program, 0);
    assert!(
        s.contains_key("customers") && s.contains_key("customerinvoicedrafts"),
        "{:?}",
        s.keys()
    );
    s
}

#[test]
fn schema_violations_are_caught_before_any_call() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let c = signed_in(&emu, dir.path()).with_schemas(schemas());
    let mut long = customer(&refs, &"N".repeat(60), "x@example.com");
    let err = c.create("customers", &long).unwrap_err();
    assert_eq!(err.class, ErrorClass::Validation);
    assert_eq!(err.field.as_deref(), Some("Name"));
    long.insert("Name", Value::str("ok"));
    long.insert("DiscountPercentage", Value::Num("10".parse().unwrap()));
    let err = c.create("customers", &long).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("DiscountPercentage"));
    assert!(err.message.contains("10% is 0.1"), "{}", err.message);
    let mut missing = customer(&refs, "ok", "x@example.com");
    missing.remove("InvoiceCity");
    let err = c.create("customers", &missing).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("InvoiceCity"));
    let err = c
        .update(
            "customers",
            &uuid::Uuid::new_v4().to_string(),
            &record(&[("InvoicePostalCode", Value::str("12345678901"))]),
            None,
        )
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("InvoicePostalCode"));
    assert!(
        emu.request_counts().is_empty(),
        "no HTTP call: {:?}",
        emu.request_counts()
    );
    assert_eq!(c.stats().total, 0);
}

#[test]
fn update_is_a_full_replacement_merged_from_the_current_record() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let c = signed_in(&emu, dir.path()).with_schemas(schemas());
    let created = c
        .create("customers", &customer(&refs, "Before", "u@example.com"))
        .unwrap();
    let id = field(&created, "Id");
    emu.reset_request_counts();
    let updated = c
        .update(
            "customers",
            &id,
            &record(&[("Name", Value::str("After"))]),
            None,
        )
        .unwrap();
    assert_eq!(field(&updated, "Name"), "After");
    assert_eq!(
        field(&updated, "InvoiceCity"),
        "Amsterdam",
        "the rest was sent along"
    );
    assert_eq!(emu.request_count("GET", "/customers/{id}"), 1);
    assert_eq!(emu.request_count("PUT", "/customers/{id}"), 1);
    // With `current` given no GET is needed.
    let current = updated.as_record().unwrap().clone();
    c.update(
        "customers",
        &id,
        &record(&[("InvoiceCity", Value::str("Delft"))]),
        Some(&current),
    )
    .unwrap();
    assert_eq!(emu.request_count("GET", "/customers/{id}"), 1);
    let stored = c.get("customers", &id).unwrap().unwrap();
    assert_eq!(
        (field(&stored, "Name"), field(&stored, "InvoiceCity")),
        ("After".into(), "Delft".into())
    );
    assert_eq!(
        c.get("customers", &uuid::Uuid::new_v4().to_string())
            .unwrap(),
        None
    );
}

#[test]
fn service_errors_keep_code_error_id_and_field() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let c = signed_in(&emu, dir.path()); // no schemas: the service judges
    let is_guid = |e: &ConnectorError| {
        e.error_id
            .as_deref()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    };

    let mut no_name = customer(&refs, "x", "e@example.com");
    no_name.remove("Name");
    let e = c.create("customers", &no_name).unwrap_err();
    assert_eq!(
        (e.class, e.status, e.code.as_deref()),
        (ErrorClass::Validation, Some(400), Some("2000"))
    );
    assert_eq!(e.field.as_deref(), Some("Name"));
    assert!(is_guid(&e) && e.body.as_deref().is_some_and(|b| b.contains("ErrorId")));
    assert!(!e.outcome_unknown);
    println!("2000: {e}");

    let mut bad_ref = customer(&refs, "x", "e@example.com");
    bad_ref.insert(
        "TermsOfPaymentId",
        Value::str(&uuid::Uuid::new_v4().to_string()),
    );
    let e = c.create("customers", &bad_ref).unwrap_err();
    assert_eq!(
        (e.class, e.code.as_deref()),
        (ErrorClass::Validation, Some("3000"))
    );
    assert_eq!(e.field.as_deref(), Some("TermsOfPaymentId"));
    assert!(is_guid(&e));
    println!("3000: {e}");

    let mut numbered = customer(&refs, "x", "e@example.com");
    numbered.insert("CustomerNumber", Value::str("K-1"));
    c.create("customers", &numbered).unwrap();
    let e = c.create("customers", &numbered).unwrap_err();
    assert_eq!(
        (e.class, e.status, e.code.as_deref()),
        (ErrorClass::Conflict, Some(409), Some("4000"))
    );
    assert!(is_guid(&e));
    println!("4000: {e}");
    assert_eq!(
        emu.request_count("POST", "/customers"),
        4,
        "none of these is retried"
    );
}

#[test]
fn a_4010_answer_is_waited_out_for_the_seconds_it_names() {
    // The emulator allows 3 per minute, the connector's budget 600: the
    // service's own 429 has to be honoured.
    let emu = emulator_with(3);
    let dir = tempfile::tempdir().unwrap();
    let waits = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(&emu, dir.path(), Some(&emu.refresh_token(DEFAULT_SCOPE)));
    cfg.retry = advancing(&emu, Some(waits.clone()));
    let c = EaccountingConnector::new(cfg).unwrap();
    for _ in 0..5 {
        assert!(count_all(&c, "units") > 0);
    }
    let stats = c.stats();
    println!("stats: {stats:?}, waits: {:?}", waits.lock().unwrap());
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(
        emu.request_count("GET", "/units"),
        6,
        "5 reads + the one refused"
    );
    let waits = waits.lock().unwrap();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] >= Duration::from_secs(1) && waits[0] <= Duration::from_secs(60));
}

#[test]
fn injected_faults_are_retried_or_reported_as_unknown() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let waits = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(&emu, dir.path(), Some(&emu.refresh_token(DEFAULT_SCOPE)));
    cfg.retry = advancing(&emu, Some(waits.clone()));
    cfg.timeout = Duration::from_millis(400);
    let c = EaccountingConnector::new(cfg).unwrap();
    assert!(count_all(&c, "units") > 0); // signs in
    let faults = emu.faults();

    // RateLimited: retried after the told wait.
    emu.reset_request_counts();
    faults.push(Matcher::new(Method::GET, "/units"), Fault::RateLimited, 1);
    assert!(count_all(&c, "units") > 0);
    assert_eq!(emu.request_count("GET", "/units"), 2);
    let told = *waits.lock().unwrap().last().unwrap();
    assert!(
        told >= Duration::from_secs(1) && told <= Duration::from_secs(60),
        "{told:?}"
    );

    // ServerError on a read: retried.
    emu.reset_request_counts();
    faults.push(
        Matcher::new(Method::GET, "/units"),
        Fault::ServerError(503),
        1,
    );
    assert!(count_all(&c, "units") > 0);
    assert_eq!(emu.request_count("GET", "/units"), 2);

    // Slow beyond the timeout on a read: retried.
    emu.reset_request_counts();
    faults.push(
        Matcher::new(Method::GET, "/units"),
        Fault::Slow(Duration::from_millis(1200)),
        1,
    );
    assert!(count_all(&c, "units") > 0);
    assert_eq!(emu.request_count("GET", "/units"), 2);

    // Slow within the timeout on a write: just slow.
    faults.push(
        Matcher::new(Method::POST, "/customers"),
        Fault::Slow(Duration::from_millis(100)),
        1,
    );
    c.create("customers", &customer(&refs, "Slow", "slow@example.com"))
        .unwrap();

    // ServerError on a write: not repeated, outcome unknown.
    emu.reset_request_counts();
    faults.push(
        Matcher::new(Method::POST, "/customers"),
        Fault::ServerError(500),
        1,
    );
    let e = c
        .create("customers", &customer(&refs, "Five", "five@example.com"))
        .unwrap_err();
    assert_eq!((e.class, e.status), (ErrorClass::Server, Some(500)));
    assert!(e.outcome_unknown);
    assert_eq!(e.code.as_deref(), Some("5000"));
    assert_eq!(emu.request_count("POST", "/customers"), 1);

    // The write happens but the answer is lost: unknown, and it exists.
    emu.reset_request_counts();
    faults.push_on_writes(Fault::DropResponseAfterWrite, 1);
    let e = c
        .create(
            "customers",
            &customer(&refs, "Dropped", "dropped@example.com"),
        )
        .unwrap_err();
    assert!(e.outcome_unknown, "{e:?}");
    assert!(e.is_transient());
    assert_eq!(emu.request_count("POST", "/customers"), 1);
    let found = c
        .find(
            "customers",
            "EmailAddress",
            &Value::str("dropped@example.com"),
        )
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "the customer exists although no answer came"
    );
    println!("stats after faults: {:?}", c.stats());
}

#[test]
fn the_factory_opens_eaccounting_connections() {
    use flowc::program::{Connection, SettingValue};
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let seed = emu.refresh_token(DEFAULT_SCOPE);
    let lit = |s: &str| SettingValue::Literal(Value::str(s));
    let env_of = |name: &str| SettingValue::Env {
        name: Arc::from(name),
        default: None,
    };
    let conn = Connection {
        name: Arc::from("eaccounting"),
        connector: Arc::from("eaccounting"),
        settings: vec![
            (Arc::from("api_url"), lit(&emu.api_url())),
            (Arc::from("identity_url"), lit(&emu.identity_url())),
            (Arc::from("client_id"), lit(emu.client_id())),
            (
                Arc::from("client_secret"),
                env_of("EACCOUNTING_CLIENT_SECRET"),
            ),
            (
                Arc::from("refresh_token"),
                env_of("EACCOUNTING_REFRESH_TOKEN"),
            ),
        ],
    };
    let env = |k: &str| match k {
        "EACCOUNTING_CLIENT_SECRET" => Some(SECRET.to_string()),
        "EACCOUNTING_REFRESH_TOKEN" => Some(seed.clone()),
        _ => None,
    };
    let program = flowc::program::Program::default();
    let c = flowc::connectors::open(&conn, &program, dir.path(), &env).unwrap();
    assert_eq!(c.kind(), "eaccounting");
    assert!(c.get("countries", "SE").unwrap().is_some());
    assert!(TokenStore::new(dir.path()).path().exists());
    let other = Connection {
        connector: Arc::from("nope"),
        ..conn
    };
    let err = flowc::connectors::open(&other, &program, dir.path(), &env)
        .err()
        .unwrap();
    assert_eq!(err.class, ErrorClass::Config);
    assert!(err.message.contains("\"eaccounting\""), "{}", err.message);
}

/// Point 2 of the registry: in production the connector is opened from the
/// checked program, and the types of its resources decide how a `$filter`
/// literal is written. `CustomerNumber` is text (a number would be a 400)
/// and `ChangedUtc` a date-time (a quoted string would be a 400); neither
/// name ends in `Id`, so no guess from the name could get them right.
#[test]
fn a_connector_opened_from_a_checked_program_types_filter_literals_by_its_schemas() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let refs = refs(&emu);
    let checked =
        flowc::check::check_source("books.flow", None, "import \"stdlib/eaccounting.flow\"\n");
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let program = &checked.program;
    let index = program
        .connections
        .iter()
        .position(|c| &*c.connector == "eaccounting")
        .expect("the stdlib declares the connection");
    let seed = emu.refresh_token(DEFAULT_SCOPE);
    let vars: HashMap<&str, String> = [
        ("EACCOUNTING_API_URL", emu.api_url()),
        ("EACCOUNTING_IDENTITY_URL", emu.identity_url()),
        ("EACCOUNTING_CLIENT_ID", emu.client_id().to_string()),
        ("EACCOUNTING_CLIENT_SECRET", SECRET.to_string()),
        ("EACCOUNTING_REFRESH_TOKEN", seed),
    ]
    .into_iter()
    .collect();
    let env = |k: &str| vars.get(k).cloned();
    let c =
        flowc::connectors::open(&program.connections[index], program, dir.path(), &env).unwrap();
    assert_eq!(c.spec().id_field, Some("Id"));

    let mut numbered = customer(&refs, "Numbered", "numbered@example.com");
    numbered.insert("CustomerNumber", Value::str("1001"));
    c.create("customers", &numbered).unwrap();
    let by_number = c
        .find("customers", "CustomerNumber", &Value::int(1001))
        .unwrap();
    assert_eq!(by_number.len(), 1);
    assert_eq!(field(&by_number[0], "Name"), "Numbered");
    let since = ListQuery {
        filters: vec![Filter {
            field: "ChangedUtc".into(),
            op: FilterOp::Ge,
            value: Value::str("2000-01-01T00:00:00Z"),
        }],
        ..ListQuery::default()
    };
    let mut changed = 0;
    c.list("customers", &since, &mut |_| {
        changed += 1;
        Ok(true)
    })
    .unwrap();
    assert!(changed >= 1);

    // Without the types the same filters are written as the values look,
    // and the service refuses them.
    let untyped = connector(&emu, dir.path(), None);
    let err = untyped
        .find("customers", "CustomerNumber", &Value::int(1001))
        .unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::Validation, Some(400)));
    let err = untyped
        .list("customers", &since, &mut |_| Ok(true))
        .unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::Validation, Some(400)));
}
