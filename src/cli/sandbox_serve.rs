//! `flowc sandbox --serve`: both emulators and `flowc serve` together. The
//! shipped orders flow is scheduled and listens to the shop's order
//! webhooks (installed in the emulated shop), and the shop gets a new paid
//! order every `--order-every`, placed over its signed API like a customer's
//! checkout, so the dashboard shows orders arriving and being synced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;

use super::print_plain;
use super::sandbox::SandboxArgs;
use crate::connectors::ccvshop::client::API_PREFIX;
use crate::connectors::ccvshop::signing::{compute_hash, format_x_date, Credentials};
use crate::connectors::{Connector, ListQuery};
use crate::diag::{codes, Diagnostic};
use crate::value::{json, Record, Value};

/// The flow the sandbox keeps current, and the events it listens to.
const FLOW: &str = "orders";
const EVENTS: &str = r#"["orders.created", "orders.updated.ispaid", "orders.updated.status"]"#;

pub(crate) fn run(
    args: &SandboxArgs,
    env: &HashMap<String, String>,
    state: &Path,
    files: &[PathBuf],
) -> u8 {
    if args.flow_file.is_some() {
        print_plain(
            &Diagnostic::new(
                &codes::E0010,
                "--serve runs the shipped flows; --flow-file is for plain runs",
            )
            .help("write a flowc.toml for your flows and run `flowc serve`"),
        );
        return 2;
    }
    super::serve::init_logs(false);
    let listen = match args.listen.port() {
        // The webhooks must name the port before serve binds it.
        0 => match std::net::TcpListener::bind(args.listen).and_then(|l| l.local_addr()) {
            Ok(a) => a,
            Err(e) => return io_failure("cannot find a free port", e),
        },
        _ => args.listen,
    };
    let config = state.join("flowc.toml");
    let flows: Vec<String> = files
        .iter()
        .map(|f| format!("{:?}", f.display().to_string()))
        .collect();
    let text = format!(
        "# Written by `flowc sandbox --serve`.\nflows = [{}]\nstate = {:?}\n\n[serve]\nlisten = \"{listen}\"\npublic_url = \"http://{listen}\"\n\n[flow.{FLOW}]\nevery = \"1m\"\njitter = \"5s\"\nwebhooks = {EVENTS}\n",
        flows.join(", "),
        state.display().to_string(),
    );
    if let Err(e) = std::fs::write(&config, text) {
        return io_failure("cannot write flowc.toml", e);
    }
    let lookup = super::run::env_with(env.clone());
    let server = match super::serve::load(&config, &lookup) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match crate::serve::webhooks::install(&server) {
        Ok(lines) => lines.iter().for_each(|l| println!("sandbox: webhook {l}")),
        Err(why) => {
            print_plain(&Diagnostic::new(
                &codes::E0402,
                format!("cannot install the sandbox's webhooks: {why}"),
            ));
            return 2;
        }
    }
    let token = match std::env::var("FLOWC_DASHBOARD_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let t: String = rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(24)
                .map(char::from)
                .collect();
            // Read by the dashboard's login; no thread runs yet.
            std::env::set_var("FLOWC_DASHBOARD_TOKEN", &t);
            t
        }
    };
    let shop = server
        .flows
        .get(FLOW)
        .and_then(|slot| server.source_of(slot))
        .cloned();
    let (url, public, secret) = (
        env.get("CCVSHOP_URL").cloned().unwrap_or_default(),
        env.get("CCVSHOP_PUBLIC_KEY").cloned().unwrap_or_default(),
        env.get("CCVSHOP_SECRET_KEY").cloned().unwrap_or_default(),
    );
    let every = args.order_every;
    super::serve::serve(server, move |addr| {
        println!("sandbox: flowc.toml in {}", config.display());
        println!("sandbox: dashboard at http://{addr}/  (login token: {token})");
        println!("sandbox: metrics at http://{addr}/metrics, health at http://{addr}/healthz");
        if let (Some(shop), false) = (shop, every.is_zero()) {
            println!(
                "sandbox: a new order every {}; stop with Ctrl-C",
                humantime::format_duration(every)
            );
            let credentials = Credentials::new(public, secret);
            std::thread::spawn(move || place_orders(&*shop, &url, &credentials, every));
        }
    })
}

/// Places a new paid order every `every`, copying the customer and rows
/// of one of the shop's orders, as a checkout would.
fn place_orders(shop: &dyn Connector, base: &str, credentials: &Credentials, every: Duration) {
    let http = reqwest::blocking::Client::new();
    // Read once: each order read costs the shop's API budget a call per order.
    let templates = templates(shop);
    loop {
        std::thread::sleep(every);
        let pick = rand::thread_rng().gen_range(0..templates.len().max(1));
        let placed = templates
            .get(pick)
            .ok_or_else(|| "the shop has no order to copy".to_string())
            .and_then(|body| post(&http, base, credentials, body));
        match placed {
            Ok(id) => tracing::info!(order = %id, "sandbox: the shop received a new order"),
            Err(why) => tracing::warn!("sandbox: could not place an order: {why}"),
        }
    }
}

/// Bodies of new orders: some of the shop's orders' customers and rows.
fn templates(shop: &dyn Connector) -> Vec<Value> {
    let mut orders = Vec::new();
    let query = ListQuery {
        page_size: Some(10),
        reads: Some(vec!["orderrows".into(), "customer".into()]),
        ..ListQuery::default()
    };
    let _ = shop.list("orders", &query, &mut |o| {
        orders.push(o);
        Ok(orders.len() < 10)
    });
    orders.iter().filter_map(template).collect()
}

/// A new order's body: an existing order's customer and rows, paid.
fn template(pick: &Value) -> Option<Value> {
    let order = pick.as_record()?;
    let rows: Vec<Value> = match order.get("orderrows") {
        Some(Value::List(rows)) => rows
            .iter()
            .filter_map(|r| {
                let r = r.as_record()?;
                let mut row = Record::default();
                match r.get("product_id").filter(|v| !v.is_missing()) {
                    Some(id) => row.insert("product_id", id.clone()),
                    None => {
                        row.insert("product_name", r.get("product_name")?.clone());
                        row.insert("price", r.get("price")?.clone());
                    }
                }
                // The VAT the shop charged this customer (an export is 0%).
                row.insert("tax", r.get("tax")?.clone());
                row.insert("count", r.get("count")?.clone());
                Some(Value::record(row))
            })
            .collect(),
        _ => return None,
    };
    let mut body = Record::default();
    body.insert("customer", order.get("customer")?.clone());
    body.insert("orderrows", Value::list(rows));
    body.insert("is_completed", Value::Bool(true));
    body.insert("paid", Value::Bool(true));
    Some(Value::record(body))
}

/// POSTs a signed order; returns the new order's id.
fn post(
    http: &reqwest::blocking::Client,
    base: &str,
    credentials: &Credentials,
    body: &Value,
) -> Result<String, String> {
    let path = format!("{API_PREFIX}/orders");
    let body = json::to_string(body);
    let x_date = format_x_date(chrono::Utc::now());
    let hash = compute_hash(credentials, "POST", &path, body.as_bytes(), &x_date);
    let answer = http
        .post(format!("{}{path}", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header("x-public", credentials.public_key())
        .header("x-date", x_date)
        .header("x-hash", hash)
        .body(body)
        .send()
        .map_err(|e| e.without_url().to_string())?;
    let status = answer.status();
    let text = answer.text().unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "the shop answered {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    let created: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(created["id"].to_string())
}

fn io_failure(what: &str, e: std::io::Error) -> u8 {
    print_plain(&Diagnostic::new(&codes::E0010, format!("{what}: {e}")));
    2
}
