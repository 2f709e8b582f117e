//! The sync benchmark: N CCV Shop orders from C customers with S SKUs into
//! eAccounting invoice drafts, against both emulators with added latency and
//! their default rate limits, through the real engine and HTTP connectors.
//!
//! `cargo bench --bench sync -- [orders] [customers] [skus] [latency_ms]`
//! (defaults 1000 300 200 20). Prints API calls per order for a first run and
//! a rerun, the share of the rate limit reached on the bottleneck endpoint,
//! the 429s answered, and the peak memory.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowc::engine::{Connections, Engine, Options};
use flowc::state::SqliteStore;
use flowc_emulators::ccvshop::{self, generate, CcvShopConfig, SeedSource};
use flowc_emulators::eaccounting::{self, EaccountingConfig};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let (orders, customers, skus, latency) = (
        arg(0, 1000) as usize,
        arg(1, 300) as usize,
        arg(2, 200) as usize,
        arg(3, 20),
    );
    // A shop where every order is complete, paid and invoiceable, bought by
    // one of `customers` customers: an order goes to one of the first
    // customers of its own kind (country, consumer or business), so the VAT
    // the shop charged still fits its buyer.
    let mut data = generate::generate(orders, skus, 7).expect("generate the shop");
    let kind = |c: &serde_json::Map<String, serde_json::Value>| {
        format!(
            "{}/{}",
            c["billingaddress"]["country_code"], c["customertype"]
        )
    };
    let mut pools: HashMap<String, Vec<_>> = HashMap::new();
    for o in data.orders.iter().take(customers) {
        pools
            .entry(kind(&o.customer))
            .or_default()
            .push(o.customer.clone());
    }
    for (i, o) in data.orders.iter_mut().enumerate() {
        if let Some(pool) = pools.get(&kind(&o.customer)) {
            o.customer = pool[i % pool.len()].clone();
        }
        o.paid = true;
        o.is_completed = true;
        o.status = Some(5);
        if o.ordernumber.is_none() {
            o.ordernumber = Some(900_000 + o.id);
        }
    }
    let shop = ccvshop::start_blocking(CcvShopConfig {
        data: SeedSource::Custom(Box::new(data)),
        deliver_webhooks: false,
        ..CcvShopConfig::default()
    })
    .expect("start the CCV Shop emulator");
    let books = eaccounting::start_blocking(EaccountingConfig::default())
        .expect("start the eAccounting emulator");
    shop.faults()
        .set_base_latency(Duration::from_millis(latency));
    books
        .faults()
        .set_base_latency(Duration::from_millis(latency));

    let state = tempfile::tempdir().expect("temp dir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("CCVSHOP_URL".into(), shop.base_url().to_string());
    env.insert("CCVSHOP_PUBLIC_KEY".into(), shop.public_key().to_string());
    env.insert("CCVSHOP_SECRET_KEY".into(), shop.secret_key().to_string());
    env.insert("EACCOUNTING_API_URL".into(), books.api_url());
    env.insert("EACCOUNTING_IDENTITY_URL".into(), books.identity_url());
    env.insert(
        "EACCOUNTING_CLIENT_ID".into(),
        books.client_id().to_string(),
    );
    env.insert(
        "EACCOUNTING_CLIENT_SECRET".into(),
        books.client_secret().to_string(),
    );
    env.insert(
        "EACCOUNTING_REFRESH_TOKEN".into(),
        books.refresh_token(eaccounting::DEFAULT_SCOPE),
    );
    let env = move |k: &str| env.get(k).cloned();

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/ccvshop-eaccounting/orders.flow");
    let checked = flowc::check::check_path(&file).expect("read the flow");
    assert!(!checked.has_errors(), "the flow must check");
    let program = &checked.program;
    let flow = program.flow("orders").expect("flow orders");
    let store = SqliteStore::open(state.path()).expect("state store");

    println!("sync benchmark: {orders} orders, {customers} customers, {skus} SKUs, {latency} ms latency, default rate limits");
    for (label, n) in [("first run", 1), ("rerun, no changes", 2)] {
        let mut connections = Connections::default();
        for (i, c) in program.connections.iter().enumerate() {
            let opened =
                flowc::connectors::open(c, program, state.path(), &env).expect("open connection");
            connections.by_index.insert(i, Arc::from(opened));
        }
        let shop_before = shop.request_counts();
        let books_before = books.request_counts();
        let started = Instant::now();
        let engine = Engine::new(program, flow, &store, connections, Options::default());
        let report = engine.run("bench").expect("run");
        let elapsed = started.elapsed();
        let delta = |after: BTreeMap<String, u64>,
                     before: BTreeMap<String, u64>|
         -> BTreeMap<String, u64> {
            after
                .into_iter()
                .map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        let shop_calls = delta(shop.request_counts(), shop_before);
        let books_calls = delta(books.request_counts(), books_before);
        let total: u64 = shop_calls.values().sum::<u64>() + books_calls.values().sum::<u64>();
        let writes: u64 = books_calls
            .iter()
            .filter(|(k, _)| k.starts_with("POST") || k.starts_with("PUT"))
            .filter(|(k, _)| !k.contains("connect/token"))
            .map(|(_, v)| v)
            .sum();
        println!(
            "\n{label} (run {n}): {}",
            report.human().replace('\n', "\n  ")
        );
        println!(
            "  wall time {:.1}s; HTTP requests {total} = {:.2} per order; writes {writes}",
            elapsed.as_secs_f64(),
            total as f64 / report.read.max(1) as f64
        );
        for (k, v) in shop_calls.iter() {
            println!("    ccvshop     {k:<45} {v}");
        }
        for (k, v) in books_calls.iter() {
            println!("    eaccounting {k:<45} {v}");
        }
        // The bottleneck: the endpoint whose calls most exceed what its limit allows per minute.
        let minutes = elapsed.as_secs_f64() / 60.0;
        let mut worst: Option<(String, f64)> = None;
        for (k, v) in shop_calls.iter() {
            let limit = if k.starts_with("GET") { 150.0 } else { 100.0 };
            let share = *v as f64 / minutes / limit;
            if worst.as_ref().is_none_or(|w| share > w.1) {
                worst = Some((format!("ccvshop {k}"), share));
            }
        }
        for (k, v) in books_calls.iter() {
            let share = *v as f64 / minutes / 600.0;
            if worst.as_ref().is_none_or(|w| share > w.1) {
                worst = Some((format!("eaccounting {k}"), share));
            }
        }
        if let Some((k, share)) = worst {
            println!(
                "  bottleneck {k}: {:.0}% of its rate limit over the run",
                share * 100.0
            );
        }
    }
    let rejected = shop.limits().rejected() + books.limits().rejected();
    println!(
        "\n429 answers: {rejected}; peak memory {:.1} MB",
        peak_rss_mb()
    );
}
