//! `flowc serve`, the real binary, against both emulators over real HTTP:
//! CCV Shop webhooks sync exactly the order they name within seconds
//! (replays write nothing, bad signatures are refused and logged), alerts
//! reach a webhook sink and an SMTP sink once per cause with a recovery
//! message, and a SIGKILLed server restarts with its schedule and history
//! intact and no duplicate writes; SIGTERM stops cleanly.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{books, repo, Services};
use flowc::connectors::ccvshop::signing::{webhook_hash, Credentials};
use flowc::connectors::ccvshop::{CcvShopClientConfig, CcvShopConnector};
use flowc::connectors::Connector;
use flowc::state::{RunInfo, Store};
use flowc_emulators::ccvshop::SeedSource;

/// A running `flowc serve`, its log lines collected as they come.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(svc: &Services, config: &Path) -> Serve {
        Serve::start_with(svc, config, &[])
    }

    /// With some of the services' variables replaced.
    fn start_with(svc: &Services, config: &Path, replaced: &[(&str, &str)]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(["serve", "--config"])
            .arg(config)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .envs(svc.env())
            .envs(replaced.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flowc serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let started = Instant::now();
        loop {
            let found = log.lock().unwrap().iter().find_map(|l| {
                let at = l.find("address=")?;
                l[at + 8..].split_whitespace().next()?.parse().ok()
            });
            if let Some(addr) = found {
                return Serve { child, addr, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "flowc serve ended with {status}:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "flowc serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; the exit status and how long stopping took.
    fn terminate(mut self) -> (std::process::ExitStatus, Duration, String) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        (status, started.elapsed(), self.log_text())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// flowc.toml serving the flagship orders flow with `table` as its
/// `[flow.orders]` and `extra` appended.
fn config(svc: &Services, port: u16, table: &str, extra: &str) -> PathBuf {
    let path = svc.state().join("flowc.toml");
    let flow = repo().join(common::FLOW);
    let text = format!(
        "flows = [\"{}\"]\nstate = \"{}\"\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\n[flow.orders]\n{table}\n{extra}",
        flow.display(),
        svc.state().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn runs(svc: &Services) -> Vec<RunInfo> {
    svc.store().runs(Some("orders"), 0).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finished(svc: &Services) -> usize {
    runs(svc).iter().filter(|r| r.status != "running").count()
}

fn shop(svc: &Services) -> CcvShopConnector {
    let credentials = Credentials::new(svc.shop.public_key(), svc.shop.secret_key());
    CcvShopConnector::new(CcvShopClientConfig::new(svc.shop.base_url(), credentials))
}

fn drafts_referring(svc: &Services, reference: &str) -> usize {
    svc.books
        .collection("customerinvoicedrafts")
        .iter()
        .filter(|d| d["YourReference"] == reference)
        .count()
}

/// Completed, paid, not cancelled orders of the shop made unpaid (quietly,
/// in the emulator's store): (id, the reference their draft will carry).
fn unpaid_orders(svc: &Services, n: usize) -> Vec<(i64, String)> {
    svc.shop.with_store(|s| {
        s.orders
            .values_mut()
            .filter(|o| o.is_completed && o.paid && o.status != Some(8))
            .take(n)
            .map(|o| {
                o.paid = false;
                (o.id, format!("CCV-{}", o.ordernumber.unwrap_or(o.id)))
            })
            .collect()
    })
}

fn pay(shop: &CcvShopConnector, id: i64) {
    let mut changes = flowc::value::Record::default();
    changes.insert("paid", flowc::value::Value::Bool(true));
    shop.update("orders", &id.to_string(), &changes, None)
        .unwrap();
}

fn writes(svc: &Services) -> u64 {
    svc.books
        .request_counts()
        .iter()
        .filter(|(k, _)| !k.starts_with("GET"))
        .map(|(_, v)| v)
        .sum()
}

fn post(url: &str, body: &str, hash: &str) -> u16 {
    reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-hash", hash)
        .body(body.to_string())
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn webhooks_sync_exactly_the_named_order_within_seconds() {
    let svc = Services::start_delivering(SeedSource::Generated {
        orders: 60,
        products: 10,
        seed: 12,
    });
    let unpaid = unpaid_orders(&svc, 21);
    assert_eq!(unpaid.len(), 21);
    let port = free_port();
    let config = config(
        &svc,
        port,
        "every = \"1h\"\nwebhooks = [\"orders.created\", \"orders.updated.ispaid\", \"orders.updated.status\"]",
        "",
    );
    let installed = svc.flowc(&["webhooks", "install", "--config", config.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&installed.stdout).to_string();
    assert!(
        installed.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert_eq!(said.matches(": installed (webhook").count(), 3, "{said}");
    let again = svc.flowc(&["webhooks", "install", "--config", config.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .matches("already installed")
            .count(),
        3
    );
    let listed = svc.flowc(&["webhooks", "list", "--config", config.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert_eq!(
        listed.lines().filter(|l| l.ends_with("active")).count(),
        3,
        "{listed}"
    );
    let hooks = svc.store().webhooks("ccvshop").unwrap();
    assert!(
        hooks.iter().all(|h| !listed.contains(&h.key)),
        "a key was printed"
    );
    assert_eq!(hooks.len(), 3);
    assert!(hooks
        .iter()
        .all(|h| h.key.len() == 32 && h.address.ends_with("/webhooks/ccvshop")));

    let serve = Serve::start(&svc, &config);
    let started = Instant::now();
    while finished(&svc) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no first run: {:?}\n{}",
            runs(&svc),
            serve.log_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for (_, reference) in &unpaid {
        assert_eq!(
            drafts_referring(&svc, reference),
            0,
            "{reference} is not paid yet"
        );
    }
    let shop = shop(&svc);
    let mut latencies = Vec::new();
    for (id, reference) in &unpaid[..20] {
        let before = writes(&svc);
        let paid_at = Instant::now();
        pay(&shop, *id);
        wait_for(reference, Duration::from_secs(5), || {
            drafts_referring(&svc, reference) == 1
        });
        latencies.push(paid_at.elapsed());
        // Exactly that order: its customer, articles and draft, nothing else.
        wait_for("the webhook run", Duration::from_secs(5), || {
            runs(&svc).first().is_some_and(|r| r.status != "running")
        });
        let run = runs(&svc).remove(0);
        assert_eq!((run.counts.read, run.counts.created), (1, 1), "{run:?}");
        assert!(writes(&svc) - before <= 4, "{}", writes(&svc) - before);
    }
    latencies.sort();
    println!(
        "webhook → invoice draft over 20 deliveries: median {:?}, worst {:?}",
        latencies[10], latencies[19]
    );
    assert!(latencies[19] < Duration::from_secs(5));
    for (_, reference) in &unpaid[20..] {
        assert_eq!(
            drafts_referring(&svc, reference),
            0,
            "an order not named was synced"
        );
    }

    // A replayed delivery is accepted and writes nothing.
    let delivery = svc
        .shop
        .webhook_deliveries()
        .into_iter()
        .find(|d| d.event == "orders.updated.ispaid")
        .unwrap();
    let (runs_before, writes_before) = (runs(&svc).len(), writes(&svc));
    assert_eq!(
        post(
            &serve.url("/webhooks/ccvshop"),
            &delivery.body,
            &delivery.x_hash
        ),
        202
    );
    wait_for("the replayed sync", Duration::from_secs(5), || {
        finished(&svc) == runs_before + 1
    });
    let replay = runs(&svc).remove(0);
    assert_eq!(
        (replay.counts.read, replay.counts.unchanged),
        (1, 1),
        "{replay:?}"
    );
    assert_eq!(writes(&svc), writes_before, "a replay wrote to eAccounting");

    // A bad signature is refused and logged; so is an id the shop lacks.
    let forged = "0".repeat(128);
    assert_eq!(
        post(&serve.url("/webhooks/ccvshop"), &delivery.body, &forged),
        401
    );
    let key = &hooks
        .iter()
        .find(|h| h.event == "orders.updated.ispaid")
        .unwrap();
    let body = r#"{"id": 999999}"#;
    let signed = webhook_hash(&key.key, &key.address, body.as_bytes());
    assert_eq!(post(&serve.url("/webhooks/ccvshop"), body, &signed), 404);
    let unsigned_id = r#"{"order": 1}"#;
    let signed = webhook_hash(&key.key, &key.address, unsigned_id.as_bytes());
    assert_eq!(
        post(&serve.url("/webhooks/ccvshop"), unsigned_id, &signed),
        400
    );
    wait_for("the refusals in the log", Duration::from_secs(2), || {
        serve.logged("webhook refused: its x-hash matches no installed webhook")
            && serve.logged("webhook names a record the shop does not have")
    });
    assert_eq!(
        runs(&svc).len(),
        runs_before + 1,
        "refused deliveries ran nothing"
    );
    let metrics = reqwest::blocking::get(serve.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "flowc_webhook_deliveries_total{outcome=\"accepted\"} 21",
        "flowc_webhook_deliveries_total{outcome=\"bad_signature\"} 1",
        "flowc_webhook_deliveries_total{outcome=\"unknown_id\"} 1",
        "flowc_runs_total{flow=\"orders\",trigger=\"webhook\",status=\"succeeded\"} 21",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    assert!(metrics.contains("flowc_api_request_duration_seconds_bucket{connector=\"ccvshop\",endpoint=\"GET /orders/{id}\""));
    books(&svc.books);
    let (status, _, log) = serve.terminate();
    assert!(status.success(), "{log}");

    let removed = svc.flowc(&["webhooks", "remove", "--config", config.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&removed.stdout)
            .matches("removed")
            .count(),
        3
    );
    assert!(svc.store().webhooks("ccvshop").unwrap().is_empty());
    assert!(svc.shop.with_store(|s| s.webhooks.is_empty()));
}

#[test]
fn a_product_webhook_updates_exactly_that_article() {
    let svc = Services::start_delivering(SeedSource::Generated {
        orders: 5,
        products: 12,
        seed: 31,
    });
    let port = free_port();
    let config = svc.state().join("flowc.toml");
    std::fs::write(
        &config,
        format!(
            "flows = [\"{}\"]\nstate = \"{}\"\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\n[flow.products]\nevery = \"1h\"\nwebhooks = [\"products.created\", \"products.updated\"]\n",
            repo().join("flows/ccvshop-eaccounting/products.flow").display(),
            svc.state().display()
        ),
    )
    .unwrap();
    let installed = svc.flowc(&["webhooks", "install", "--config", config.to_str().unwrap()]);
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let serve = Serve::start(&svc, &config);
    let product_runs = || svc.store().runs(Some("products"), 0).unwrap();
    wait_for("the first products run", Duration::from_secs(30), || {
        product_runs()
            .first()
            .is_some_and(|r| r.status != "running")
    });
    let articles = svc.books.collection("articles");
    let article = |number: &str| {
        svc.books
            .collection("articles")
            .into_iter()
            .find(|a| a["Number"] == number)
    };
    // A product the first run made an article of.
    let (id, number) = svc.shop.with_store(|s| {
        s.products
            .values()
            .find_map(|p| {
                let number = p.productnumber.clone();
                articles
                    .iter()
                    .any(|a| a["Number"] == number.as_str())
                    .then_some((p.id, number))
            })
            .expect("an article from a product")
    });
    let before = article(&number).unwrap();
    let (runs_before, writes_before) = (product_runs().len(), writes(&svc));
    let mut changes = flowc::value::Record::default();
    changes.insert(
        "price",
        flowc::value::Value::Num(rust_decimal::Decimal::new(12345, 2)),
    );
    let changed_at = Instant::now();
    shop(&svc)
        .update("products", &id.to_string(), &changes, None)
        .unwrap();
    wait_for("the article's new price", Duration::from_secs(5), || {
        article(&number).is_some_and(|a| a != before)
    });
    println!("webhook → article update: {:?}", changed_at.elapsed());
    wait_for("the webhook run", Duration::from_secs(5), || {
        product_runs().len() == runs_before + 1 && product_runs()[0].status != "running"
    });
    let run = product_runs().remove(0);
    assert_eq!((run.counts.read, run.counts.updated), (1, 1), "{run:?}");
    assert_eq!(writes(&svc) - writes_before, 1, "one PUT of that article");
    let after = article(&number).unwrap();
    assert_eq!(after["GrossPrice"], serde_json::json!(123.45), "{after}");
    drop(serve);
}

/// Serve with the orders flow hourly, eAccounting answering after
/// `latency_ms`, once its first run has written a few drafts (and has
/// more to write).
fn writing(svc: &Services, latency_ms: u64) -> (PathBuf, Serve) {
    svc.books
        .faults()
        .set_base_latency(Duration::from_millis(latency_ms));
    let config = config(svc, free_port(), "every = \"1h\"", "");
    let serve = Serve::start(svc, &config);
    wait_for("drafts being written", Duration::from_secs(60), || {
        svc.books.collection("customerinvoicedrafts").len() >= 5
    });
    (config, serve)
}

#[test]
fn killed_and_restarted_serve_keeps_schedule_and_history_and_writes_nothing_twice() {
    let svc = Services::start(150, 20, 3, false);
    let (config, serve) = writing(&svc, 5);
    serve.kill();
    let killed = runs(&svc);
    assert_eq!(killed.len(), 1);
    assert_eq!(
        killed[0].status, "running",
        "the run was cut off: {killed:?}"
    );
    let first_next = svc
        .store()
        .next_run("orders")
        .unwrap()
        .expect("a stored next run");

    // The stored next run was due (it was the start of the killed run): it runs at once.
    let serve = Serve::start(&svc, &config);
    wait_for("the run after the restart", Duration::from_secs(60), || {
        finished(&svc) == 2
    });
    let after = runs(&svc);
    assert_eq!(after[1].id, killed[0].id, "history kept");
    assert_eq!(after[1].status, "interrupted");
    assert_eq!(after[0].status, "succeeded", "{after:?}");
    // The scheduler stores the next run once the run is done: an hour on.
    let next_after_run = || {
        let next = svc.store().next_run("orders").unwrap().unwrap();
        (next > first_next + chrono::Duration::minutes(59)).then_some(next)
    };
    wait_for("the next run an hour on", Duration::from_secs(5), || {
        next_after_run().is_some()
    });
    let next = next_after_run().unwrap();
    books(&svc.books); // every draft, customer and article once
    let drafts = svc.books.collection("customerinvoicedrafts").len();

    // Killed again and restarted: the next run stays an hour away.
    serve.kill();
    let serve = Serve::start(&svc, &config);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(&svc).len(), 2, "no run before the stored time");
    let health: serde_json::Value = reqwest::blocking::get(serve.url("/healthz"))
        .unwrap()
        .json()
        .unwrap();
    let listed = health["flows"][0]["next_run"].as_str().unwrap();
    let listed = chrono::DateTime::parse_from_rfc3339(listed)
        .unwrap()
        .to_utc();
    assert_eq!(listed, next);
    assert_eq!(health["flows"][0]["health"], "ok");
    let (status, took, log) = serve.terminate();
    assert!(status.success(), "{log}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(log.contains("stopped"), "{log}");

    // A plain run afterwards finds nothing left to write.
    let rerun = svc.flowc(&["run", common::FLOW, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(svc.books.collection("customerinvoicedrafts").len(), drafts);
}

#[test]
fn sigterm_checkpoints_the_run_in_progress_and_stops() {
    let svc = Services::start(300, 20, 5, false);
    let (_, serve) = writing(&svc, 10);
    let (status, took, log) = serve.terminate();
    assert!(status.success(), "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let run = runs(&svc).remove(0);
    assert_eq!(run.status, "interrupted", "{run:?}\n{log}");
    let written = run.counts.created as usize;
    assert_eq!(
        svc.books.collection("customerinvoicedrafts").len(),
        written,
        "nothing half-written"
    );
    assert!(
        svc.store().cursor("orders").unwrap().is_some(),
        "checkpointed"
    );
    books(&svc.books);
}

/// A sink for alert webhooks: every JSON body it receives.
fn webhook_sink() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let addr = common::serve_on_loopback(app);
    (format!("http://{addr}/hook"), got)
}

/// A minimal SMTP server: accepts every message and keeps its data.
fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&got);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let keep = Arc::clone(&keep);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 sink ESMTP\r\n");
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let verb = line.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if verb == "DATA" {
                        let _ = stream.write_all(b"354 go on\r\n");
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                break;
                            }
                            data.push_str(&l);
                        }
                        keep.lock().unwrap().push(data);
                        b"250 queued\r\n"
                    } else if verb == "QUIT" {
                        let _ = stream.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = stream.write_all(reply);
                    line.clear();
                }
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
            });
        }
    });
    (port, got)
}

#[test]
fn alerts_go_out_once_per_cause_after_the_retry_and_recover() {
    let svc = Services::start(5, 5, 9, false);
    let (hook, hooked) = webhook_sink();
    let (smtp_port, mailed) = smtp_sink();
    let alerts = format!(
        "[alerts]\nwebhook = \"{hook}\"\nemail_to = [\"ops@example.com\"]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\nsmtp_security = \"none\"\nsmtp_from = \"flowc@example.com\"\nzero_records_runs = 1000\nperiod = \"1h\"\n"
    );
    let config = config(
        &svc,
        free_port(),
        "every = \"300ms\"\nretries = 1\nretry_after = \"100ms\"",
        &alerts,
    );
    // The shop refuses to list orders: every run fails as a whole.
    svc.shop.faults().push(
        flowc_emulators::faults::Matcher::new(reqwest::Method::GET, "/orders"),
        flowc_emulators::faults::Fault::ServerError(400),
        1_000_000,
    );
    let serve = Serve::start(&svc, &config);
    wait_for("five failed runs", Duration::from_secs(30), || {
        runs(&svc).iter().filter(|r| r.status == "failed").count() >= 5
    });
    let sent = hooked.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one alert per cause and period: {sent:?}");
    // Killed and started again while the cause persists: the alert was
    // sent within the period, so it is not sent again.
    let before_restart = serve.log_text();
    serve.kill();
    let failed_before = runs(&svc).iter().filter(|r| r.status == "failed").count();
    let serve = Serve::start(&svc, &config);
    wait_for("three more failed runs", Duration::from_secs(30), || {
        runs(&svc).iter().filter(|r| r.status == "failed").count() >= failed_before + 3
    });
    let sent = hooked.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "a restart repeated the alert: {sent:?}");
    svc.shop.faults().clear();
    wait_for("the recovery message", Duration::from_secs(30), || {
        hooked.lock().unwrap().len() == 2
    });
    wait_for("both e-mails", Duration::from_secs(10), || {
        mailed.lock().unwrap().len() == 2
    });
    std::thread::sleep(Duration::from_millis(700));
    let hooked = hooked.lock().unwrap().clone();
    assert_eq!(hooked.len(), 2, "{hooked:?}");
    assert_eq!(
        (hooked[0]["cause"].as_str(), hooked[0]["state"].as_str()),
        (Some("run_failed"), Some("firing"))
    );
    assert!(
        hooked[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("[flowc] orders: run failed — "),
        "{hooked:?}"
    );
    assert_eq!(
        (hooked[1]["cause"].as_str(), hooked[1]["state"].as_str()),
        (Some("run_failed"), Some("resolved"))
    );
    let mailed = mailed.lock().unwrap().clone();
    assert!(
        mailed[0].contains("Subject: [flowc] orders: run failed"),
        "{}",
        mailed[0]
    );
    assert!(mailed[0].contains("To: ops@example.com"), "{}", mailed[0]);
    assert!(mailed[1].contains("recovered"), "{}", mailed[1]);
    // The first failure waited for its retry: the alert came after the second.
    let failed_before_alert = before_restart
        .split("alert:")
        .next()
        .unwrap()
        .matches("run failed:")
        .count();
    assert!(failed_before_alert >= 2, "{}", serve.log_text());
    drop(serve);
}

#[test]
fn the_count_of_runs_reading_nothing_survives_a_restart() {
    let svc = Services::start(0, 3, 4, false);
    let (hook, hooked) = webhook_sink();
    let config = config(
        &svc,
        free_port(),
        "every = \"400ms\"",
        &format!("[alerts]\nwebhook = \"{hook}\"\nzero_records_runs = 4\n"),
    );
    let streak = || svc.store().zero_streak("orders").unwrap();
    let serve = Serve::start(&svc, &config);
    wait_for("two runs reading nothing", Duration::from_secs(30), || {
        streak() >= 2
    });
    serve.kill();
    let counted = streak();
    assert!(
        counted < 4,
        "the alert's count was reached before the restart"
    );
    assert!(hooked.lock().unwrap().is_empty());
    let succeeded = || {
        runs(&svc)
            .iter()
            .filter(|r| r.status == "succeeded")
            .count()
    };
    let before = succeeded();

    // Started again, it goes on counting: the alert comes after the runs
    // that were missing, not after four more.
    let serve = Serve::start(&svc, &config);
    wait_for("the zero-records alert", Duration::from_secs(30), || {
        !hooked.lock().unwrap().is_empty()
    });
    let after_restart = succeeded() - before;
    let sent = hooked.lock().unwrap().clone();
    assert_eq!(sent[0]["cause"], "zero_records", "{sent:?}");
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .contains("the last 4 runs read no records"),
        "{sent:?}"
    );
    // One run more may have finished while this test polled.
    assert!(
        after_restart <= 4 - counted as usize + 1 && after_restart < 4,
        "{after_restart} runs after the restart (the count was {counted}): {}",
        serve.log_text()
    );
}

#[test]
fn the_sign_in_is_checked_between_runs_and_alerts_before_the_next_run_needs_it() {
    use flowc::connectors::eaccounting::tokens::{unix_now, StoredTokens, TokenStore};
    let svc = Services::start(3, 3, 2, false);
    let (hook, hooked) = webhook_sink();
    let config = config(
        &svc,
        free_port(),
        "every = \"1h\"",
        &format!("[alerts]\nwebhook = \"{hook}\"\nsign_in_check = \"1s\"\n"),
    );
    let serve = Serve::start(&svc, &config);
    wait_for("the first run", Duration::from_secs(60), || {
        finished(&svc) == 1
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(hooked.lock().unwrap().is_empty(), "signing in works");

    // Every token is revoked an hour before the next run: the check finds out.
    svc.books.revoke_all_tokens();
    wait_for("the sign-in alert", Duration::from_secs(10), || {
        !hooked.lock().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(2500));
    let sent = hooked.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "once per period: {sent:?}");
    assert_eq!(
        (sent[0]["flow"].as_str(), sent[0]["cause"].as_str()),
        (Some("orders"), Some("sign_in")),
        "{sent:?}"
    );
    assert_eq!(finished(&svc), 1, "raised by the check, not by a run");
    let health = |serve: &Serve| -> serde_json::Value {
        let body: serde_json::Value = reqwest::blocking::get(serve.url("/healthz"))
            .unwrap()
            .json()
            .unwrap();
        body["flows"][0].clone()
    };
    let failing = health(&serve);
    assert_eq!(failing["health"], "failing", "{failing}");
    assert!(
        failing["why"].as_str().unwrap().contains("sign-in failing"),
        "{failing}"
    );

    // Signed in again (as `flowc auth eaccounting` does): the recovery follows.
    let store = TokenStore::new(svc.state());
    let old = store.load().unwrap().expect("stored tokens");
    let scope = old.scope.clone().unwrap();
    let fresh = svc.books.tokens(&scope);
    store
        .save(&StoredTokens {
            access_token: fresh.access_token,
            refresh_token: fresh.refresh_token.unwrap(),
            expires_at: unix_now() + fresh.expires_in,
            scope: Some(fresh.scope),
            seeded_from: old.seeded_from.clone(),
            saved_at: unix_now(),
            lifetime: fresh.expires_in,
        })
        .unwrap();
    wait_for("the recovery", Duration::from_secs(10), || {
        hooked.lock().unwrap().len() == 2
    });
    let sent = hooked.lock().unwrap().clone();
    assert_eq!(
        (sent[1]["cause"].as_str(), sent[1]["state"].as_str()),
        (Some("sign_in"), Some("resolved")),
        "{sent:?}"
    );
    assert_eq!(finished(&svc), 1);
    assert_eq!(health(&serve)["health"], "ok");
    let log = serve.log_text();
    assert!(log.contains("the sign-in check was refused"), "{log}");
    assert!(!log.contains(&old.refresh_token) && !log.contains(&old.access_token));
}

/// What `flowc serve` prints when it refuses `[flow.…]` `table` of a
/// flowc.toml serving the flagship flow (the folder shown as DIR).
fn refused(table: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flowc.toml");
    let flow = repo().join(common::FLOW);
    std::fs::write(
        &config,
        format!("flows = [\"{}\"]\n\n{table}\n", flow.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    String::from_utf8_lossy(&out.stderr).replace(&dir.path().display().to_string(), "DIR")
}

#[test]
fn a_refresh_token_eaccounting_refuses_alerts_as_a_sign_in_problem() {
    let svc = Services::start(3, 3, 2, false);
    let (hook, hooked) = webhook_sink();
    let config = config(
        &svc,
        free_port(),
        "every = \"200ms\"\nretries = 0",
        &format!("[alerts]\nwebhook = \"{hook}\"\n"),
    );
    let serve = Serve::start_with(
        &svc,
        &config,
        &[("EACCOUNTING_REFRESH_TOKEN", "revoked-long-ago")],
    );
    wait_for("three failed runs", Duration::from_secs(30), || {
        runs(&svc).iter().filter(|r| r.status == "failed").count() >= 3
    });
    let hooked = hooked.lock().unwrap().clone();
    assert_eq!(hooked.len(), 1, "{hooked:?}\n{}", serve.log_text());
    assert_eq!(hooked[0]["cause"], "sign_in", "{hooked:?}");
    assert!(
        !serve.log_text().contains("revoked-long-ago"),
        "the token was logged"
    );
}

#[test]
fn a_bad_flowc_toml_is_reported_at_its_value() {
    insta::assert_snapshot!(
        "bad_flowc_toml",
        refused("[flow.orders]\nevery = \"every quarter hour\"")
    );
    insta::assert_snapshot!(
        "unknown_flow_in_flowc_toml",
        refused("[flow.ordres]\nevery = \"15m\"")
    );
}

#[test]
fn sandbox_serve_prints_the_dashboard_and_keeps_syncing_new_orders() {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args([
            "sandbox",
            "--serve",
            "--listen",
            "127.0.0.1:0",
            "--order-every",
            "200ms",
            "--state",
        ])
        .arg(state.path())
        .env("NO_COLOR", "1")
        .env_remove("FLOWC_DASHBOARD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read to the end: a closed pipe would fail the sandbox's next line.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("sandbox: dashboard at ") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let dashboard = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the dashboard line");
    let (url, login) = dashboard.split_once("  (login token: ").unwrap();
    assert_eq!(login.trim_end_matches(')').len(), 24, "{dashboard}");
    let metrics_url = format!("{}metrics", url.trim());
    let webhook_runs = || {
        let text = reqwest::blocking::get(&metrics_url)
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(
                    "flowc_runs_total{flow=\"orders\",trigger=\"webhook\",status=\"succeeded\"} ",
                )
            })
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    wait_for("three new orders synced", Duration::from_secs(30), || {
        webhook_runs() >= 3
    });
    // The dashboard is mounted at `/` and shows the scheduled flow.
    let page = signed_in_get(url.trim(), login.trim_end_matches(')'), "");
    assert!(page.contains("orders"), "{page}");
    let store = flowc::state::SqliteStore::open(state.path()).unwrap();
    let synced = store.runs(Some("orders"), 0).unwrap();
    assert!(
        synced
            .iter()
            .filter(|r| r.counts.created == 1 && r.counts.read == 1)
            .count()
            >= 3,
        "{synced:?}"
    );
    assert!(synced.iter().all(|r| r.counts.failed == 0), "{synced:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The closing note's memory figure: `flowc serve`'s resident set after
/// 1,000 scheduled runs (a flow exporting eAccounting's customers every
/// 10 ms; the client's own budget of 600 requests a minute paces it, so
/// this takes some minutes). `benches/serve.sh` runs it.
#[test]
#[ignore]
fn memory_after_1000_scheduled_runs() {
    let svc = Services::start(5, 5, 1, false);
    let dir = svc.state().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("export.flow"),
        "import \"stdlib/eaccounting.flow\"\n\nflow export {\n  source eaccounting.customers\n  target file(\"customers.ndjson\")\n  Id   -> id\n  Name -> name\n}\n",
    )
    .unwrap();
    let config = svc.state().join("flowc.toml");
    std::fs::write(
        &config,
        format!(
            "flows = [\"bench/export.flow\"]\nstate = \"{}\"\n[serve]\nlisten = \"127.0.0.1:0\"\n[flow.export]\nevery = \"10ms\"\nretries = 0\n",
            svc.state().display()
        ),
    )
    .unwrap();
    let serve = Serve::start(&svc, &config);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", serve.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .to_string()
    };
    let count = || svc.store().runs(Some("export"), 0).unwrap().len();
    let started = Instant::now();
    wait_for("10 runs", Duration::from_secs(120), || count() >= 10);
    let early = rss();
    wait_for("1,000 runs", Duration::from_secs(900), || count() >= 1000);
    let late = rss();
    let failed = svc
        .store()
        .runs(Some("export"), 0)
        .unwrap()
        .iter()
        .filter(|r| r.status != "succeeded" && r.status != "running")
        .count();
    println!(
        "flowc serve: RSS after 10 runs {early}, after {} runs {late} ({failed} not succeeded, {:?})",
        count(),
        started.elapsed()
    );
    assert_eq!(failed, 0, "{}", serve.log_text());
}

/// GETs `path` of the dashboard at `base` after signing in with `token`.
fn signed_in_get(base: &str, token: &str, path: &str) -> String {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: Vec<String> = Vec::new();
    let keep = |cookies: &mut Vec<String>, r: &reqwest::blocking::Response| {
        for c in r.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap().to_string();
            cookies.retain(|k| k.split('=').next() != pair.split('=').next());
            cookies.push(pair);
        }
    };
    let form = client.get(format!("{base}login")).send().unwrap();
    keep(&mut cookies, &form);
    let html = form.text().unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let csrf = &html[at..at + html[at..].find('"').unwrap()];
    let signed = client
        .post(format!("{base}login"))
        .header("cookie", cookies.join("; "))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&secret={token}"))
        .send()
        .unwrap();
    assert!(signed.status().is_redirection(), "{}", signed.status());
    keep(&mut cookies, &signed);
    let page = client
        .get(format!("{base}{path}"))
        .header("cookie", cookies.join("; "))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    page.text().unwrap()
}
