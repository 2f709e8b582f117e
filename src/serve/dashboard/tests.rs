//! The router in-process: sign-in, CSRF, escaping of hostile shop data,
//! not-found, and the pages as users see them (snapshots). The end-to-end
//! tests over a real flow run and a real browser are tests/dashboard.rs.

use std::path::PathBuf;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use tower::ServiceExt;

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};

use super::routes::{LOGIN_COOKIE, SESSION_COOKIE};
use super::*;
use crate::state::{ActivityFilter, Decision, NewDeadLetter, RunCounts, SqliteStore, Success};

const TOKEN: &str = "test-token-0123456789";
/// An order whose data tries to inject markup into the pages.
const HOSTILE: &str = "<script>alert(1)</script>\"'&";

struct TestBackend {
    dir: PathBuf,
    retried: Mutex<Vec<i64>>,
}

impl Backend for TestBackend {
    fn flows(&self) -> Vec<FlowStatus> {
        let store = SqliteStore::open(&self.dir).unwrap();
        ["orders", HOSTILE]
            .iter()
            .map(|name| FlowStatus::of(&store, name, None).unwrap())
            .collect()
    }
    fn state_dir(&self) -> &Path {
        &self.dir
    }
    fn retry_dead_letter(&self, id: i64) -> Result<String, String> {
        self.retried.lock().unwrap().push(id);
        Err(format!("the cause is not fixed yet {HOSTILE}"))
    }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 30, 0).unwrap()
}

/// A state folder with one run of `orders`: a created record, an unchanged
/// one and a failure, all with hostile text in them.
fn filled() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap().with_clock(at);
    let run = store
        .begin_run("orders", "0123456789abcdef", "0.1.0")
        .unwrap();
    store
        .record_success(&Success {
            run,
            flow: "orders",
            source_key: HOSTILE,
            decision: Decision::Create,
            target_id: "draft-<b>1</b>",
            payload_hash: "p",
            duration_ms: 42,
            cursor: None,
        })
        .unwrap();
    store
        .record_skip(
            run,
            "orders",
            "1002",
            Decision::Unchanged,
            Some("draft-2"),
            3,
            None,
        )
        .unwrap();
    let letter = NewDeadLetter {
        source_key: "1003".into(),
        error_class: "http".into(),
        error_code: Some("4000".into()),
        http_status: Some(400),
        message: format!("customerinvoicedrafts: refused {HOSTILE}"),
        api_error_body: Some(format!("{{\"Message\":\"{HOSTILE}\"}}")),
        payload: Some("{\"YourReference\":\"CCV-1003\",\"Name\":\"<redacted>\"}".into()),
        source_record: None,
    };
    store.record_failure(run, "orders", &letter, 7).unwrap();
    let counts = RunCounts {
        read: 3,
        created: 1,
        unchanged: 1,
        failed: 1,
        ..RunCounts::default()
    };
    store.finish_run(run, "partial", &counts).unwrap();
    dir
}

fn app(dir: &Path) -> (Router, Arc<TestBackend>) {
    let backend = Arc::new(TestBackend {
        dir: dir.to_path_buf(),
        retried: Mutex::default(),
    });
    let auth = Auth::from_lookup(&|k| (k == TOKEN_VAR).then(|| TOKEN.to_string())).unwrap();
    (router(backend.clone(), auth), backend)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn call(app: &Router, method: &str, uri: &str, cookie: &str, form: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// The value a `Set-Cookie` header gives cookie `name`, with its attributes.
fn set_cookie_of(a: &Answer, name: &str) -> Option<String> {
    a.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

/// The hidden CSRF field of the first form on a page.
fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    body[at..at + 64].to_string()
}

/// Signs in; returns the session cookie and its CSRF token.
async fn sign_in(app: &Router) -> (String, String) {
    let form = call(app, "GET", "/login", "", "").await;
    let login = cookie_value(&set_cookie_of(&form, LOGIN_COOKIE).unwrap());
    let csrf = csrf_of(&form.body);
    let done = call(
        app,
        "POST",
        "/login",
        &format!("{LOGIN_COOKIE}={login}"),
        &format!("csrf={csrf}&secret={TOKEN}"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let set = set_cookie_of(&done, SESSION_COOKIE).unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = format!("{SESSION_COOKIE}={}", cookie_value(&set));
    let page = call(app, "GET", "/dead-letters", &cookie, "").await;
    (cookie, csrf_of(&page.body))
}

#[tokio::test]
async fn pages_need_a_sign_in_and_a_wrong_one_is_refused() {
    let dir = filled();
    let (app, _) = app(dir.path());
    for path in ["/", "/runs", "/runs/1", "/activity?q=1002", "/dead-letters"] {
        let a = call(&app, "GET", path, "", "").await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(a.headers[header::LOCATION], "/login");
        let forged = call(
            &app,
            "GET",
            path,
            &format!("{SESSION_COOKIE}={}", "0".repeat(64)),
            "",
        )
        .await;
        assert_eq!(forged.status, StatusCode::SEE_OTHER, "{path}");
    }
    let form = call(&app, "GET", "/login", "", "").await;
    assert!(form.body.contains("name=\"secret\"") && !form.body.contains("name=\"user\""));
    let login = cookie_value(&set_cookie_of(&form, LOGIN_COOKIE).unwrap());
    let csrf = csrf_of(&form.body);
    let wrong = call(
        &app,
        "POST",
        "/login",
        &format!("{LOGIN_COOKIE}={login}"),
        &format!("csrf={csrf}&secret=not-the-token-at-all"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie_of(&wrong, SESSION_COOKIE).is_none());
    // A sign-in posted from another page (no login cookie) is refused too.
    let cross = call(
        &app,
        "POST",
        "/login",
        "",
        &format!("csrf={csrf}&secret={TOKEN}"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(set_cookie_of(&cross, SESSION_COOKIE).is_none());
}

#[tokio::test]
async fn shop_data_renders_as_text_on_every_page() {
    let dir = filled();
    let (app, _) = app(dir.path());
    let (cookie, _) = sign_in(&app).await;
    for path in [
        "/",
        "/runs",
        "/runs/1",
        "/activity",
        "/activity?q=1003",
        "/dead-letters",
    ] {
        let a = call(&app, "GET", path, &cookie, "").await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
        assert!(
            !a.body.contains("<script"),
            "{path} lets markup through:\n{}",
            a.body
        );
        assert!(!a.body.contains("<b>1"), "{path}");
        assert!(a.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
    }
    let run = call(&app, "GET", "/runs/1", &cookie, "").await;
    assert!(run
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    // A search for hostile text is echoed as text as well.
    let search = call(&app, "GET", "/activity?q=%3Cscript%3E", &cookie, "").await;
    assert!(
        search.body.contains("value=\"&lt;script&gt;\""),
        "{}",
        search.body
    );
    assert!(!search.body.contains("<script"));
}

#[tokio::test]
async fn a_retry_needs_the_session_csrf_token() {
    let dir = filled();
    let (app, backend) = app(dir.path());
    let (cookie, csrf) = sign_in(&app).await;
    let forged = call(
        &app,
        "POST",
        "/dead-letters/1/retry",
        &cookie,
        "csrf=forged",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = call(&app, "POST", "/dead-letters/1/retry", &cookie, "").await;
    assert!(missing.status.is_client_error(), "{}", missing.status);
    let anonymous = call(
        &app,
        "POST",
        "/dead-letters/1/retry",
        "",
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(backend.retried.lock().unwrap().is_empty());

    let done = call(
        &app,
        "POST",
        "/dead-letters/1/retry",
        &cookie,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(*backend.retried.lock().unwrap(), vec![1]);
    // The outcome is shown once, escaped.
    let page = call(&app, "GET", "/dead-letters", &cookie, "").await;
    assert!(page.body.contains(
        "Dead letter #1 could not be retried: the cause is not fixed yet &lt;script&gt;"
    ));
    let again = call(&app, "GET", "/dead-letters", &cookie, "").await;
    assert!(!again.body.contains("could not be retried"));
}

#[tokio::test]
async fn a_user_and_password_sign_in_needs_both() {
    let dir = filled();
    let backend = Arc::new(TestBackend {
        dir: dir.path().to_path_buf(),
        retried: Mutex::default(),
    });
    let env = |k: &str| match k {
        USER_VAR => Some("ops".to_string()),
        PASSWORD_VAR => Some("a-long-password".to_string()),
        _ => None,
    };
    let app = router(backend, Auth::from_lookup(&env).unwrap());
    let attempt = |form: &'static str| {
        let app = app.clone();
        async move {
            let page = call(&app, "GET", "/login", "", "").await;
            assert!(page.body.contains("name=\"user\""));
            let login = cookie_value(&set_cookie_of(&page, LOGIN_COOKIE).unwrap());
            let form = format!("csrf={}&{form}", csrf_of(&page.body));
            call(
                &app,
                "POST",
                "/login",
                &format!("{LOGIN_COOKIE}={login}"),
                &form,
            )
            .await
            .status
        }
    };
    assert_eq!(
        attempt("user=ops&secret=a-long-password").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        attempt("user=root&secret=a-long-password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt("secret=a-long-password").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let dir = filled();
    let (app, _) = app(dir.path());
    let (cookie, csrf) = sign_in(&app).await;
    let out = call(&app, "POST", "/logout", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        call(&app, "GET", "/", &cookie, "").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_unknown_run_is_not_found() {
    let dir = filled();
    let (app, _) = app(dir.path());
    let (cookie, _) = sign_in(&app).await;
    assert_eq!(
        call(&app, "GET", "/runs/99", &cookie, "").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/runs/x", &cookie, "").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn pages_as_users_see_them() {
    let dir = filled();
    let store = SqliteStore::open(dir.path()).unwrap();
    let run = store.run(1).unwrap().unwrap();
    let activity = store.activity(&ActivityFilter::default()).unwrap();
    let letters = store.dead_letters(None).unwrap();
    insta::assert_snapshot!("run", pages::run(&run, &activity, &letters, at()));
    insta::assert_snapshot!(
        "search",
        pages::activity("1002", &store.search_activity("1002", 10).unwrap())
    );
    insta::assert_snapshot!("dead_letters", pages::dead_letters(&letters, None, "CSRF"));
    let flows = [FlowStatus {
        name: "orders".into(),
        health: Health::of_run(Some(&run)),
        last_run: Some(run.clone()),
        next_run: Some(at() + chrono::Duration::minutes(15)),
    }];
    let counts = BTreeMap::from([("orders".to_string(), 1)]);
    insta::assert_snapshot!("flows", pages::flows(&flows, &counts, "(chart)"));
}
