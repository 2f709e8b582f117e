//! The dashboard over a real state store, filled by running the shipped
//! flows against both emulators with the real binary: a record made to fail
//! by a broken setting, the setting fixed, the record retried from the
//! dashboard through `engine::retry` (the function `flowc dlq retry` uses).
//!
//! - `search_finds_orders_products_and_customers_by_their_keys`: over HTTP,
//!   an order's reference, a product's SKU and a customer's e-mail address
//!   each find their record with its decision and target id.
//! - `browser_signs_in_opens_a_run_searches_and_retries`: the same in
//!   Debian's chromium (headless, through chromedriver): sign in, open a
//!   run, search an order reference and see its decision, retry a dead
//!   letter and see it succeed. A screenshot is saved under target/ when a
//!   step fails; with FLOWC_UPDATE_SCREENSHOT=1 it also writes
//!   docs/dashboard.png, the picture in the README.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use common::{repo, shop_orders, stderr, stdout, text, Services};
use flowc::engine::retry::{retry_dead_letter, RetryError};
use flowc::serve::dashboard::{self, Auth, Backend, FlowStatus, TOKEN_VAR};
use flowc::state::{ActivityFilter, Decision, SqliteStore, Store};
use flowc_emulators::faults::{Fault, Matcher};
use serde_json::Value;

const TOKEN: &str = "dashboard-test-token-42";
const FLOWS: [&str; 3] = ["orders", "customers", "products"];

/// What `flowc serve` would give the dashboard: the flows of some files,
/// their state, and a retry that checks the files as they are now (so a
/// fixed setting counts).
struct FlowsBackend {
    files: Vec<PathBuf>,
    state: PathBuf,
    env: HashMap<String, String>,
}

impl Backend for FlowsBackend {
    fn flows(&self) -> Vec<FlowStatus> {
        let store = SqliteStore::open(&self.state).unwrap();
        FLOWS
            .iter()
            .map(|name| {
                // As if every flow ran every 15 minutes.
                let next = store
                    .last_run(name)
                    .unwrap()
                    .map(|r| r.started_at + chrono::Duration::minutes(15));
                FlowStatus::of(&store, name, next).unwrap()
            })
            .collect()
    }

    fn state_dir(&self) -> &Path {
        &self.state
    }

    fn retry_dead_letter(&self, id: i64) -> Result<String, String> {
        for file in &self.files {
            let checked = flowc::check::check_path(file).map_err(|d| d.message)?;
            let env = |k: &str| self.env.get(k).cloned();
            match retry_dead_letter(&checked, &self.state, &env, id) {
                Err(RetryError::UnknownFlow { .. }) => continue,
                Ok(retried) => return Ok(retried.summary()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("no flow file has the flow of dead letter #{id}"))
    }
}

/// The shop, the books, the flows in a folder of their own, and a run of
/// each with the real binary (customers, products, orders); then a new paid
/// order in the shop and a second run of orders while eAccounting answers
/// every new invoice draft with 503: that order is dead-lettered. Then the
/// fault is cleared: the cause is fixed.
struct Fixture {
    svc: Services,
    _dir: tempfile::TempDir,
    files: Vec<PathBuf>,
}

fn fixture() -> Fixture {
    let svc = Services::start(12, 6, 77, false);
    let dir = tempfile::tempdir().unwrap();
    let shipped = repo().join("flows/ccvshop-eaccounting");
    std::fs::copy(
        shipped.join("settings.flow"),
        dir.path().join("settings.flow"),
    )
    .unwrap();
    let run = |file: &Path, expected: i32| {
        let out = svc.flowc(&["run", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{}: {}{}",
            file.display(),
            stdout(&out),
            stderr(&out)
        );
    };
    let mut files = Vec::new();
    for flow in ["customers", "products", "orders"] {
        let name = format!("{flow}.flow");
        std::fs::copy(shipped.join(&name), dir.path().join(&name)).unwrap();
        let file = dir.path().join(name);
        run(&file, 0);
        files.push(file);
    }
    svc.shop.add_order_with_rows(2, 5);
    svc.books.faults().push(
        Matcher::new(Method::POST, "customerinvoicedrafts"),
        Fault::ServerError(503),
        1000,
    );
    run(&files[2], 1);
    svc.books.faults().clear();
    Fixture {
        svc,
        _dir: dir,
        files,
    }
}

impl Fixture {
    fn backend(&self) -> Arc<FlowsBackend> {
        Arc::new(FlowsBackend {
            files: self.files.clone(),
            state: self.svc.state().to_path_buf(),
            env: self.svc.env(),
        })
    }

    /// The dashboard on a free loopback port, served from its own thread
    /// for the rest of the test process.
    fn serve(&self) -> SocketAddr {
        let router = dashboard::router(
            self.backend(),
            Auth::from_lookup(&|k| (k == TOKEN_VAR).then(|| TOKEN.to_string())).unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        addr
    }

    /// An order whose draft was created in the first run, and its reference.
    fn created_order(&self) -> (String, String) {
        let store = self.svc.store();
        let created = store
            .activity(&ActivityFilter {
                flow: Some("orders".into()),
                ..ActivityFilter::default()
            })
            .unwrap()
            .into_iter()
            .find(|a| a.decision == Decision::Create)
            .expect("an order was created");
        (
            self.reference_of(&created.source_key),
            created.target_id.unwrap(),
        )
    }

    /// The draft reference of the shop's order `id`: `CCV-{ordernumber}`.
    fn reference_of(&self, id: &str) -> String {
        let order = shop_orders(&self.svc)
            .iter()
            .map(|o| serde_json::from_str::<Value>(o).unwrap())
            .find(|o| text(o, "id") == id)
            .unwrap();
        format!("CCV-{}", text(&order, "ordernumber"))
    }

    fn has_draft(&self, reference: &str) -> bool {
        self.svc
            .books
            .collection("customerinvoicedrafts")
            .iter()
            .any(|d| text(d, "YourReference") == reference)
    }
}

// ------------------------------------------------------------ over HTTP

/// A browser without a browser: keeps the session cookie, follows nothing.
struct Http {
    client: reqwest::blocking::Client,
    base: String,
    cookie: String,
}

impl Http {
    fn sign_in(addr: SocketAddr) -> Http {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = format!("http://{addr}");
        let form = client.get(format!("{base}/login")).send().unwrap();
        let login = cookie_of(&form, "flowc_login");
        let csrf = csrf_of(&form.text().unwrap());
        let done = client
            .post(format!("{base}/login"))
            .header("cookie", format!("flowc_login={login}"))
            .form(&[("csrf", csrf.as_str()), ("secret", TOKEN)])
            .send()
            .unwrap();
        assert_eq!(done.status(), 303);
        let cookie = format!("flowc_session={}", cookie_of(&done, "flowc_session"));
        Http {
            client,
            base,
            cookie,
        }
    }

    fn get(&self, path: &str) -> String {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.text().unwrap()
    }
}

fn cookie_of(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_string()
}

fn csrf_of(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    body[at..at + 64].to_string()
}

/// The rows of the search results table (after its header).
fn result_rows(page: &str) -> Vec<&str> {
    page.split("<tr>").skip(2).collect()
}

#[test]
fn search_finds_orders_products_and_customers_by_their_keys() {
    let fx = fixture();
    let http = Http::sign_in(fx.serve());
    let store = fx.svc.store();

    let (reference, draft) = fx.created_order();
    let page = http.get(&format!("/activity?q={reference}"));
    // Created by the first run, found unchanged by the second.
    let rows = result_rows(&page);
    assert_eq!(rows.len(), 2, "{reference}: {page}");
    assert!(
        rows[0].contains("badge quiet\">unchanged") && rows[0].contains(&draft),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("badge ok\">create") && rows[1].contains(&draft),
        "{}",
        rows[1]
    );

    // A product by its SKU (the article number the products flow writes).
    let product = store
        .activity(&ActivityFilter {
            flow: Some("products".into()),
            ..ActivityFilter::default()
        })
        .unwrap()
        .into_iter()
        .find(|a| a.target_id.is_some())
        .expect("a product was written");
    let article = fx
        .svc
        .books
        .collection("articles")
        .into_iter()
        .find(|a| Some(text(a, "Id")) == product.target_id)
        .unwrap();
    let page = http.get(&format!("/activity?q={}", text(&article, "Number")));
    assert!(
        result_rows(&page)
            .iter()
            .any(|r| r.contains(">products<") && r.contains(product.target_id.as_deref().unwrap())),
        "{page}"
    );

    // A customer by e-mail address, in another case than stored: the
    // state holds only its hash.
    let customer = fx.svc.books.collection("customers")[0].clone();
    let email = text(&customer, "EmailAddress");
    let page = http.get(&format!("/activity?q={}", email.to_uppercase()));
    assert!(
        result_rows(&page)
            .iter()
            .any(|r| r.contains(">customers<") && r.contains(&text(&customer, "Id"))),
        "{email}: {page}"
    );
    let db = std::fs::read(fx.svc.state().join(flowc::state::DB_FILE)).unwrap();
    assert!(
        !db.windows(email.len()).any(|w| w == email.as_bytes()),
        "the state file holds an e-mail address in clear"
    );

    // A dead letter that is gone (retried, dropped, purged) says so.
    let gone = fx.backend().retry_dead_letter(9999).unwrap_err();
    assert!(gone.contains("there is no dead letter #9999"), "{gone}");

    // Nothing matches a part of a key.
    let page = http.get(&format!(
        "/activity?q={}",
        &reference[..reference.len() - 1]
    ));
    assert!(result_rows(&page).is_empty(), "{page}");
}

// ------------------------------------------------------------ in a browser

/// No network beyond loopback, nothing kept between runs; root in CI (no
/// sandbox); a container's small /dev/shm does not crash it.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A program on PATH, or why the test cannot run.
fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: the dashboard's browser test drives Debian's chromium \
                 through chromedriver. Install both with \
                 `sudo apt-get install -y chromium chromium-driver` (.ci/run does this in CI)"
            )
        })
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program("chromedriver"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "chromedriver did not listen on port {port} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    driver
}

type Step = Result<(), String>;

fn check(ok: bool, what: impl FnOnce() -> String) -> Step {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

#[test]
fn browser_signs_in_opens_a_run_searches_and_retries() {
    let chromium = program("chromium");
    let driver = start_driver();
    let fx = fixture();
    let base = format!("http://{}", fx.serve());
    let letters = fx.svc.store().dead_letters(Some("orders")).unwrap();
    assert!(
        !letters.is_empty(),
        "the broken setting dead-lettered no order"
    );
    let letter = &letters[0];
    let failed_reference = fx.reference_of(&letter.source_key);
    assert!(!fx.has_draft(&failed_reference));
    let (reference, draft) = fx.created_order();
    let profile = tempfile::tempdir().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push("--window-size=1280,860".into());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": chromium, "args": args}),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("chromedriver starts a headless chromium");

        let steps = browse(
            &client,
            &base,
            &reference,
            &draft,
            letter.id,
            &letter.source_key,
            &failed_reference,
        )
        .await;
        if let Err(why) = &steps {
            let shot = repo().join("target/dashboard-browser-failure.png");
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(&shot, png);
            }
            let _ = client.close().await;
            panic!("{why}\n(screenshot of the page: {})", shot.display());
        }
        if std::env::var_os("FLOWC_UPDATE_SCREENSHOT").is_some() {
            client.goto(&format!("{base}/")).await.unwrap();
            let png = client.screenshot().await.unwrap();
            std::fs::write(repo().join("docs/dashboard.png"), png).unwrap();
        }
        client.close().await.unwrap();
    });
    assert!(
        fx.has_draft(&failed_reference),
        "the retried order has no draft"
    );
    assert!(fx.svc.store().dead_letter(letter.id).unwrap().is_none());
}

/// Waits (up to 5 s) until the browser shows a page whose path and query
/// satisfy `arrived`: a click that navigates returns before the new page is
/// there.
async fn arrive(c: &fantoccini::Client, arrived: impl Fn(&str) -> bool) -> Step {
    let started = Instant::now();
    loop {
        let url = c.current_url().await.map_err(|e| e.to_string())?;
        let at = format!(
            "{}{}",
            url.path(),
            url.query().map(|q| format!("?{q}")).unwrap_or_default()
        );
        if arrived(&at) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(5) {
            return Err(format!("the browser stayed at {at}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The steps a person takes, each checked on the page the browser shows.
async fn browse(
    c: &fantoccini::Client,
    base: &str,
    reference: &str,
    draft: &str,
    letter: i64,
    failed_key: &str,
    failed_reference: &str,
) -> Step {
    use fantoccini::Locator::{Css, XPath};
    let e = |e: fantoccini::error::CmdError| e.to_string();
    let text = |css: &'static str| async move {
        c.find(Css(css)).await.map_err(e)?.text().await.map_err(e)
    };
    let click =
        |css: String| async move { c.find(Css(&css)).await.map_err(e)?.click().await.map_err(e) };

    // Sign in: the dashboard sends a stranger to the sign-in page.
    c.goto(&format!("{base}/")).await.map_err(e)?;
    arrive(c, |at| at == "/login").await?;
    c.find(Css("input[name=secret]"))
        .await
        .map_err(e)?
        .send_keys(TOKEN)
        .await
        .map_err(e)?;
    click("form button".into()).await?;
    arrive(c, |at| at == "/").await?;
    let flows = text("main").await?;
    check(
        flows.contains("orders") && flows.contains("Records per day"),
        || format!("no flows page after signing in:\n{flows}"),
    )?;

    // Open the last run of orders from the flows page.
    c.find(XPath(
        "//tr[td/a[text()='orders']]//a[starts-with(@href, '/runs/')]",
    ))
    .await
    .map_err(e)?
    .click()
    .await
    .map_err(e)?;
    arrive(c, |at| at.starts_with("/runs/")).await?;
    let run = text("main").await?;
    check(run.contains(failed_key) && run.contains("fail"), || {
        format!("run page without the failed order {failed_key}:\n{run}")
    })?;

    // Search an order by its reference and see its decision.
    click("a[href='/activity']".into()).await?;
    arrive(c, |at| at == "/activity").await?;
    c.find(Css("input[name=q]"))
        .await
        .map_err(e)?
        .send_keys(reference)
        .await
        .map_err(e)?;
    click("form.search button".into()).await?;
    arrive(c, |at| at.starts_with("/activity?q=")).await?;
    let found = text("main tbody").await?;
    check(found.contains("create") && found.contains(draft), || {
        format!("search for {reference} shows: {found}")
    })?;

    // Retry the dead letter now that the cause is gone, and see it succeed.
    click("a[href='/dead-letters']".into()).await?;
    arrive(c, |at| at == "/dead-letters").await?;
    click(format!(
        "form[action='/dead-letters/{letter}/retry'] button"
    ))
    .await?;
    let notice = c
        .wait()
        .for_element(Css(".notice"))
        .await
        .map_err(e)?
        .text()
        .await
        .map_err(e)?;
    check(
        notice.contains(&format!("Dead letter #{letter} retried")) && notice.contains("succeeded"),
        || format!("retry of {failed_reference} says: {notice}"),
    )?;
    let gone = c
        .find_all(Css(&format!("form[action='/dead-letters/{letter}/retry']")))
        .await
        .map_err(e)?;
    check(gone.is_empty(), || {
        format!("dead letter #{letter} is still listed")
    })
}
