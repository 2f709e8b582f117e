//! The CCV Shop connector end to end over loopback HTTP against the emulator.
//!
//! Every connector here waits on the emulator's shifted clock: its
//! `RetryPolicy::sleep` advances `limits()` and its `clock` reads it, so a
//! "wait for the next minute" costs nothing and the shop's minute windows move
//! in step with the connector's budget.

// `ConnectorError` is large by design (it carries the body for dead letters).
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowc::connectors::ccvshop::signing::Credentials;
use flowc::connectors::ccvshop::{CcvShopClientConfig, CcvShopConnector, ClientLimits};
use flowc::connectors::http::RetryPolicy;
use flowc::connectors::{
    open, Connector, ConnectorError, ErrorClass, Filter, FilterOp, ListQuery, ListStats, Settings,
};
use flowc::program::{Connection, SettingValue};
use flowc::value::json;
use flowc::value::{Record, Value};
use flowc_emulators::ccvshop::{
    start_blocking, CcvShopConfig, CcvShopEmulator, RateLimitConfig, SeedSource,
};
use flowc_emulators::faults::{Fault, Matcher};
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn emulator(data: SeedSource) -> CcvShopEmulator {
    start_blocking(CcvShopConfig {
        data,
        deliver_webhooks: false,
        ..CcvShopConfig::default()
    })
    .expect("emulator starts")
}

fn config(emu: &CcvShopEmulator) -> CcvShopClientConfig {
    let clock = emu.limits().clone();
    let sleeper = emu.limits().clone();
    let mut cfg = CcvShopClientConfig::new(
        emu.base_url(),
        Credentials::new(emu.public_key(), emu.secret_key()),
    );
    cfg.retry = RetryPolicy {
        sleep: Arc::new(move |d| sleeper.advance(d)),
        ..RetryPolicy::default()
    };
    cfg.clock = Arc::new(move || clock.now());
    cfg
}

fn connector(emu: &CcvShopEmulator) -> CcvShopConnector {
    CcvShopConnector::new(config(emu))
}

fn collect(
    c: &dyn Connector,
    resource: &str,
    query: &ListQuery,
) -> Result<(Vec<Value>, ListStats), ConnectorError> {
    let mut out = Vec::new();
    let stats = c.list(resource, query, &mut |v| {
        out.push(v);
        Ok(true)
    })?;
    Ok((out, stats))
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.as_record()
        .and_then(|r| r.get(name))
        .unwrap_or(&Value::Absent)
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Num(d) => i64::try_from(*d).expect("integer"),
        other => panic!("not a number: {other:?}"),
    }
}

fn rows(order: &Value) -> Vec<Value> {
    match field(order, "orderrows") {
        Value::List(items) => items.to_vec(),
        other => panic!("orderrows not embedded: {other:?}"),
    }
}

fn record(text: &str) -> Record {
    json::parse(text)
        .expect("json")
        .as_record()
        .expect("record")
        .clone()
}

fn filter(field: &str, op: FilterOp, value: Value) -> Filter {
    Filter {
        field: field.into(),
        op,
        value,
    }
}

fn query(filters: Vec<Filter>, order_by: Option<&str>, page_size: Option<u32>) -> ListQuery {
    ListQuery {
        filters,
        order_by: order_by.map(str::to_string),
        page_size,
        reads: None,
    }
}

#[test]
fn thousand_orders_page_with_exactly_the_predicted_calls_and_no_429() {
    let emu = emulator(SeedSource::Base);
    emu.generate(1_000, 40, 11).expect("generate");
    let state = emu.state();
    let completed: Vec<_> = state.orders.values().filter(|o| o.is_completed).collect();
    let n = completed.len() as u64;
    assert!(n > 750 && n <= 1_000, "{n}");
    assert!(completed.iter().all(|o| o.row_ids.len() <= 250));
    let c = connector(&emu);

    let started = Instant::now();
    let (orders, stats) = collect(&c, "orders", &ListQuery::default()).expect("list");
    let elapsed = started.elapsed();

    let pages = n.div_ceil(250);
    let order_calls = emu.request_count("GET", "/orders");
    let row_calls = emu.request_count("GET", "/orders/{id}/orderrows");
    let s = c.stats();
    println!(
        "1,000 generated orders ({n} completed) at size 250 in {elapsed:?}: \
         emulator saw GET /orders = {order_calls}, GET /orders/{{id}}/orderrows = {row_calls}, \
         total = {}; connector stats total = {}, retries = {}, rate_limited = {}, \
         budget wait = {} ms (virtual), emulator 429s = {}",
        emu.total_requests(),
        s.total,
        s.retries,
        s.rate_limited,
        s.budget_wait_ms,
        emu.limits().rejected()
    );
    assert_eq!(stats, ListStats { pages, records: n });
    assert_eq!(pages, 4);
    assert_eq!(order_calls, pages);
    assert_eq!(row_calls, n);
    assert_eq!(emu.total_requests(), pages + n, "no other calls, no 401s");
    assert_eq!(s.calls.get("GET /orders"), Some(&pages));
    assert_eq!(s.calls.get("GET /orders/{id}/orderrows"), Some(&n));
    assert_eq!(s.total, pages + n);
    assert_eq!((s.retries, s.rate_limited), (0, 0));
    assert_eq!(emu.limits().rejected(), 0, "the budget kept under 150/min");
    assert!(
        s.budget_wait_ms >= 5 * 60_000,
        "{} rows calls need 6+ minutes at 150/min",
        n
    );

    assert_eq!(orders.len() as u64, n);
    for o in &orders {
        let id = int(field(o, "id"));
        let want = &state.orders[&id].row_ids;
        let got: Vec<i64> = rows(o).iter().map(|r| int(field(r, "id"))).collect();
        assert_eq!(&got, want, "rows of order {id}");
    }
}

#[test]
fn an_order_with_65_rows_is_read_in_several_row_pages() {
    let emu = emulator(SeedSource::Sample);
    let id = emu.add_order_with_rows(65, 3);
    let mut cfg = config(&emu);
    cfg.row_page_size = 25;
    let c = CcvShopConnector::new(cfg);
    let order = c
        .get("orders", &id.to_string())
        .expect("get")
        .expect("exists");
    let got: Vec<i64> = rows(&order).iter().map(|r| int(field(r, "id"))).collect();
    assert_eq!(got, emu.state().orders[&id].row_ids);
    assert_eq!(got.len(), 65);
    let row_calls = emu.request_count("GET", "/orders/{id}/orderrows");
    println!("order with 65 rows at row page size 25: {row_calls} row calls");
    assert_eq!(row_calls, 3);
    assert_eq!(emu.request_count("GET", "/orders/{id}"), 1);
    assert_eq!(c.stats().total, 4);
}

#[test]
fn money_and_quantities_stay_exact() {
    let emu = emulator(SeedSource::Sample);
    let id = emu.add_order_with_rows(2, 5);
    let row_id = emu.state().orders[&id].row_ids[0];
    emu.with_store(|s| {
        let row = s.orderrows.get_mut(&row_id).expect("row");
        row.price = dec!(12.10);
        row.discount = dec!(0.00);
        row.count = dec!(0.5);
    });
    let c = connector(&emu);
    let order = c
        .get("orders", &id.to_string())
        .expect("get")
        .expect("order");
    let row = rows(&order)
        .into_iter()
        .find(|r| int(field(r, "id")) == row_id)
        .expect("row");
    let text = json::to_string(&row);
    assert!(text.contains("\"price\":12.10"), "{text}");
    assert!(text.contains("\"count\":0.5"), "{text}");
    assert!(matches!(field(&row, "price"), Value::Num(d) if d.to_string() == "12.10"));
    assert!(matches!(field(&row, "total_price"), Value::Num(d) if *d == dec!(6.05)));

    let created = c
        .create(
            "products",
            &record(r#"{"productnumber":"EXACT-1","name":"Exact","price":12.10,"stockenabled":true,"decimal_amount":1,"stock":0.5}"#),
        )
        .expect("create");
    assert!(matches!(field(&created, "price"), Value::Num(d) if d.to_string() == "12.10"));
    assert!(matches!(field(&created, "stock"), Value::Num(d) if *d == dec!(0.5)));
}

#[test]
fn filters_are_pushed_down_and_match_the_shop_data() {
    let emu = emulator(SeedSource::Base);
    emu.generate(400, 10, 21).expect("generate");
    let state = emu.state();
    let c = connector(&emu);
    let completed = || state.orders.values().filter(|o| o.is_completed);

    // status + paid, pushed down: only the matching orders' pages and rows are fetched.
    let want = completed()
        .filter(|o| o.status == Some(1) && o.paid)
        .count() as u64;
    assert!(want > 0);
    emu.reset_request_counts();
    let (orders, stats) = collect(
        &c,
        "orders",
        &query(
            vec![
                filter("status", FilterOp::Eq, Value::int(1)),
                filter("paid", FilterOp::Eq, Value::Bool(true)),
            ],
            None,
            Some(20),
        ),
    )
    .expect("list");
    assert_eq!(stats.records, want);
    assert!(orders
        .iter()
        .all(|o| int(field(o, "status")) == 1 && field(o, "paid") == &Value::Bool(true)));
    assert_eq!(
        emu.request_count("GET", "/orders"),
        want.div_ceil(20).max(1)
    );
    assert_eq!(emu.request_count("GET", "/orders/{id}/orderrows"), want);

    // create_date window (Ge and Le pushed down as min/max_create_date).
    let mut dates: Vec<_> = completed().map(|o| o.create_date).collect();
    dates.sort();
    let (lo, hi) = (dates[50], dates[149]);
    let want = completed()
        .filter(|o| o.create_date >= lo && o.create_date <= hi)
        .count() as u64;
    emu.reset_request_counts();
    let (_, stats) = collect(
        &c,
        "orders",
        &query(
            vec![
                filter(
                    "create_date",
                    FilterOp::Ge,
                    Value::DateTime(lo.fixed_offset()),
                ),
                filter(
                    "create_date",
                    FilterOp::Le,
                    Value::DateTime(hi.fixed_offset()),
                ),
            ],
            None,
            Some(25),
        ),
    )
    .expect("list");
    assert_eq!(stats.records, want);
    assert!(want >= 100);
    assert_eq!(emu.request_count("GET", "/orders"), want.div_ceil(25));

    // A filter the API lacks is applied client-side (and needs no row calls for dropped orders).
    let want = completed()
        .filter(|o| o.currency == "EUR" && !o.paid)
        .count() as u64;
    emu.reset_request_counts();
    let (orders, _) = collect(
        &c,
        "orders",
        &query(
            vec![
                filter("currency", FilterOp::Eq, Value::str("EUR")),
                filter("paid", FilterOp::Eq, Value::Bool(false)),
            ],
            None,
            None,
        ),
    )
    .expect("list");
    assert_eq!(orders.len() as u64, want);
    assert_eq!(emu.request_count("GET", "/orders/{id}/orderrows"), want);

    // Find by ordernumber pushes the filter down: one page, one rows call.
    let target = completed().nth(7).expect("order");
    emu.reset_request_counts();
    let found = c
        .find(
            "orders",
            "ordernumber",
            &Value::int(target.ordernumber.expect("number")),
        )
        .expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(int(field(&found[0], "id")), target.id);
    assert_eq!(emu.total_requests(), 2);
}

#[test]
fn order_by_is_pushed_down_and_falls_back_to_client_side() {
    let emu = emulator(SeedSource::Base);
    emu.generate(120, 30, 5).expect("generate");
    let c = connector(&emu);
    let (orders, stats) =
        collect(&c, "orders", &query(vec![], Some("-create_date"), Some(50))).expect("list");
    let dates: Vec<String> = orders
        .iter()
        .map(|o| field(o, "create_date").as_str().expect("date").to_string())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    assert_eq!(stats.pages, (orders.len() as u64).div_ceil(50));

    let (products, _) =
        collect(&c, "products", &query(vec![], Some("-modifydate"), None)).expect("list");
    let mods: Vec<&str> = products
        .iter()
        .map(|p| field(p, "modifydate").as_str().expect("date"))
        .collect();
    assert!(mods.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(products.len(), 30);

    // No orderby for total_price in the API: sorted by flowc.
    let (orders, _) =
        collect(&c, "orders", &query(vec![], Some("total_price"), None)).expect("list");
    let totals: Vec<Decimal> = orders
        .iter()
        .map(|o| match field(o, "total_price") {
            Value::Num(d) => *d,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn patch_order_status_is_visible_and_counts_its_calls() {
    let emu = emulator(SeedSource::Sample);
    let id = emu.add_order_with_rows(3, 9);
    let c = connector(&emu);
    let changes = record(r#"{"status":5,"track_and_trace_code":"3SABC123"}"#);

    // Without `current`: PATCH, then GET order + its rows.
    let updated = c
        .update("orders", &id.to_string(), &changes, None)
        .expect("update");
    assert_eq!(int(field(&updated, "status")), 5);
    assert_eq!(
        field(&updated, "track_and_trace_code"),
        &Value::str("3SABC123")
    );
    assert_eq!(rows(&updated).len(), 3);
    let o = &emu.state().orders[&id];
    assert_eq!(
        (o.status, o.track_and_trace_code.as_str()),
        (Some(5), "3SABC123")
    );
    assert_eq!(emu.request_count("PATCH", "/orders/{id}"), 1);
    assert_eq!(c.stats().total, 3);

    // With `current`: PATCH only, the stored record is current + changes.
    let current = c
        .get("orders", &id.to_string())
        .expect("get")
        .expect("order");
    let before = c.stats().total;
    let merged = c
        .update(
            "orders",
            &id.to_string(),
            &record(r#"{"status":6,"paid":false,"mail":false}"#),
            current.as_record(),
        )
        .expect("update");
    assert_eq!(c.stats().total, before + 1);
    assert_eq!(int(field(&merged, "status")), 6);
    assert_eq!(field(&merged, "paid"), &Value::Bool(false));
    assert_eq!(field(&merged, "mail"), &Value::Absent);
    let fresh = c
        .get("orders", &id.to_string())
        .expect("get")
        .expect("order");
    assert_eq!(field(&fresh, "status"), field(&merged, "status"));
    assert_eq!(field(&fresh, "paid"), field(&merged, "paid"));

    // Unknown id: a NotFound error.
    let err = c
        .update("orders", "999999", &changes, None)
        .expect_err("missing");
    assert_eq!(err.class, ErrorClass::NotFound);
    assert_eq!(c.get("orders", "999999").expect("get"), None);
    assert_eq!(c.get("orders", "abc").expect("get"), None);
}

#[test]
fn post_product_then_find_and_update_it() {
    let emu = emulator(SeedSource::Sample);
    let c = connector(&emu);
    let created = c
        .create(
            "products",
            &record(r#"{"productnumber":"FLOW-0001","eannumber":"8719999000017","name":"Flow mug","price":12.10,"is_active":true}"#),
        )
        .expect("create");
    let id = int(field(&created, "id"));
    assert_eq!(field(&created, "is_active"), &Value::Bool(true));
    assert_eq!(emu.request_count("POST", "/products"), 1);

    emu.reset_request_counts();
    let found = c
        .find("products", "productnumber", &Value::str("FLOW-0001"))
        .expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(int(field(&found[0], "id")), id);
    let by_ean = c
        .find("products", "eannumber", &Value::str("8719999000017"))
        .expect("find");
    assert_eq!(by_ean.len(), 1);
    assert_eq!(emu.request_count("GET", "/products"), 2, "one page each");

    let updated = c
        .update(
            "products",
            &id.to_string(),
            &record(r#"{"price":13.95,"stockenabled":true,"stock":7,"shortdescription":"Blue"}"#),
            None,
        )
        .expect("update");
    assert!(matches!(field(&updated, "price"), Value::Num(d) if *d == dec!(13.95)));
    assert_eq!(emu.state().products[&id].stock, Some(dec!(7)));

    let cat = c
        .create("categories", &record(r#"{"name":"Mugs"}"#))
        .expect("category");
    let link = c
        .create(
            "producttocategories",
            &record(&format!(
                r#"{{"product_id":{id},"category_id":{}}}"#,
                int(field(&cat, "id"))
            )),
        )
        .expect("link");
    assert_eq!(int(field(&link, "product_id")), id);

    let err = c
        .create("products", &record(r#"{"name":"no number"}"#))
        .expect_err("invalid");
    assert_eq!(err.class, ErrorClass::Validation);
    assert_eq!(err.status, Some(400));
    assert!(err
        .body
        .as_deref()
        .is_some_and(|b| b.contains("developermessage")));
    assert!(!err.outcome_unknown);
}

#[test]
fn other_resources_list() {
    let emu = emulator(SeedSource::Sample);
    let c = connector(&emu);
    for resource in [
        "categories",
        "producttocategories",
        "paymethods",
        "users",
        "webshops",
        "products",
    ] {
        let (items, stats) = collect(&c, resource, &ListQuery::default()).expect(resource);
        assert!(!items.is_empty(), "{resource}");
        assert_eq!(stats.records, items.len() as u64);
    }
    let err = c
        .list("nope", &ListQuery::default(), &mut |_| Ok(true))
        .expect_err("unknown");
    assert_eq!(err.class, ErrorClass::Config);
}

/// A connector whose sleeps are recorded (and still advance the emulator's clock).
fn recording(emu: &CcvShopEmulator) -> (CcvShopConnector, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let w = waits.clone();
    let limits = emu.limits().clone();
    let mut cfg = config(emu);
    cfg.retry.sleep = Arc::new(move |d| {
        w.lock().expect("lock").push(d);
        limits.advance(d);
    });
    (CcvShopConnector::new(cfg), waits)
}

#[test]
fn rate_limited_reads_and_writes_wait_for_the_next_minute_and_retry() {
    let emu = emulator(SeedSource::Sample);
    let (c, waits) = recording(&emu);
    emu.faults().push(
        Matcher::new(Method::GET, "/paymethods"),
        Fault::RateLimited,
        1,
    );
    let (items, _) = collect(&c, "paymethods", &ListQuery::default()).expect("retried");
    assert!(!items.is_empty());
    let s = c.stats();
    assert_eq!((s.rate_limited, s.retries), (1, 1));
    assert_eq!(emu.request_count("GET", "/paymethods"), 2);
    let wait = waits.lock().expect("lock")[0];
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(61),
        "{wait:?}"
    );
    // The wait ends just past a minute boundary of the shop's clock.
    let into_minute = emu.limits().now().as_secs() % 60;
    assert!(into_minute < 5, "{into_minute}");

    let id = emu.add_order_with_rows(1, 1);
    emu.faults().push(
        Matcher::new(Method::PATCH, "/orders"),
        Fault::RateLimited,
        1,
    );
    c.update("orders", &id.to_string(), &record(r#"{"status":2}"#), None)
        .expect("a 429 applied nothing, so the write is retried");
    assert_eq!(emu.request_count("PATCH", "/orders/{id}"), 2);
    assert_eq!(emu.state().orders[&id].status, Some(2));
}

#[test]
fn real_rate_limits_are_respected_or_waited_out() {
    // The shop allows 5 GETs per minute per resource.
    let emu = start_blocking(CcvShopConfig {
        data: SeedSource::Generated {
            orders: 0,
            products: 30,
            seed: 1,
        },
        limits: RateLimitConfig {
            get_per_minute: 5,
            ..RateLimitConfig::default()
        },
        deliver_webhooks: false,
        ..CcvShopConfig::default()
    })
    .expect("emulator");
    // A connector that believes the documented 150/min meets real 429s and waits them out.
    let c = connector(&emu);
    let (items, stats) = collect(&c, "products", &query(vec![], None, Some(3))).expect("list");
    assert_eq!((items.len(), stats.pages), (30, 10));
    assert!(emu.limits().rejected() >= 1);
    assert_eq!(c.stats().rate_limited, emu.limits().rejected());

    // A connector configured with the shop's real limit never hits one.
    let before = emu.limits().rejected();
    let mut cfg = config(&emu);
    cfg.limits = ClientLimits {
        get_per_minute: 5,
        ..ClientLimits::default()
    };
    let c = CcvShopConnector::new(cfg);
    emu.limits().advance(Duration::from_secs(120));
    let (items, _) = collect(&c, "products", &query(vec![], None, Some(3))).expect("list");
    assert_eq!(items.len(), 30);
    assert_eq!(emu.limits().rejected(), before);
    assert!(c.stats().budget_wait_ms > 60_000);
}

#[test]
fn server_errors_and_timeouts_on_reads_are_retried() {
    let emu = emulator(SeedSource::Sample);
    let c = connector(&emu);
    emu.faults().push(
        Matcher::new(Method::GET, "/webshops"),
        Fault::ServerError(503),
        2,
    );
    let (items, _) = collect(&c, "webshops", &ListQuery::default()).expect("retried");
    assert!(!items.is_empty());
    assert_eq!(emu.request_count("GET", "/webshops"), 3);
    assert_eq!(c.stats().retries, 2);

    // Slow but within the timeout: succeeds, slower.
    emu.faults().push(
        Matcher::new(Method::GET, "/paymethods"),
        Fault::Slow(Duration::from_millis(300)),
        1,
    );
    let started = Instant::now();
    collect(&c, "paymethods", &ListQuery::default()).expect("slow is fine");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(emu.request_count("GET", "/paymethods"), 1);

    // Slower than the timeout: a Timeout, retried.
    let mut cfg = config(&emu);
    cfg.timeout = Duration::from_millis(800);
    let c = CcvShopConnector::new(cfg);
    emu.faults().push(
        Matcher::new(Method::GET, "/users"),
        Fault::Slow(Duration::from_millis(2_500)),
        1,
    );
    let (items, _) = collect(&c, "users", &ListQuery::default()).expect("retried after timeout");
    assert!(!items.is_empty());
    assert_eq!(c.stats().retries, 1);
    assert_eq!(emu.request_count("GET", "/users"), 2);
}

#[test]
fn writes_with_unknown_outcome_are_returned_not_retried() {
    let emu = emulator(SeedSource::Sample);
    let c = connector(&emu);
    let id = emu.add_order_with_rows(1, 2);

    emu.faults().push(
        Matcher::new(Method::PATCH, "/orders"),
        Fault::DropResponseAfterWrite,
        1,
    );
    let err = c
        .update("orders", &id.to_string(), &record(r#"{"status":7}"#), None)
        .expect_err("dropped");
    assert!(err.outcome_unknown, "{err:?}");
    assert!(
        matches!(err.class, ErrorClass::Connection | ErrorClass::Timeout),
        "{err:?}"
    );
    assert_eq!(emu.request_count("PATCH", "/orders/{id}"), 1);
    assert_eq!(
        emu.state().orders[&id].status,
        Some(7),
        "applied nonetheless"
    );

    emu.faults().push(
        Matcher::new(Method::PATCH, "/orders"),
        Fault::ServerError(500),
        1,
    );
    let err = c
        .update("orders", &id.to_string(), &record(r#"{"status":8}"#), None)
        .expect_err("500");
    assert_eq!(err.class, ErrorClass::Server);
    assert_eq!(err.status, Some(500));
    assert!(err.outcome_unknown);
    assert_eq!(emu.request_count("PATCH", "/orders/{id}"), 2, "not retried");

    emu.faults().push(
        Matcher::new(Method::POST, "/products"),
        Fault::ServerError(503),
        1,
    );
    let err = c
        .create(
            "products",
            &record(r#"{"productnumber":"X-1","name":"X","price":1}"#),
        )
        .expect_err("503");
    assert!(err.outcome_unknown && err.class == ErrorClass::Server);
    assert_eq!(emu.request_count("POST", "/products"), 1);
}

#[test]
fn a_bad_secret_is_an_auth_error_that_does_not_show_the_secret() {
    let emu = emulator(SeedSource::Sample);
    let secret = "Sup3r-Secret_value^that*must!not!leak";
    let mut cfg = config(&emu);
    cfg.credentials = Credentials::new(emu.public_key(), secret);
    let c = CcvShopConnector::new(cfg);
    let err = c
        .list("paymethods", &ListQuery::default(), &mut |_| Ok(true))
        .expect_err("401");
    assert_eq!(err.class, ErrorClass::Auth);
    assert_eq!(err.status, Some(401));
    assert_eq!(err.code.as_deref(), Some("401.20"));
    let shown = format!("{err} {err:?}");
    println!("bad secret: {err}");
    assert!(shown.contains("secret_key"), "{shown}");
    assert!(!shown.contains(secret));
    assert_eq!(c.stats().total, 1, "auth errors are not retried");
}

#[test]
fn verified_responses_pass_against_the_shop() {
    let emu = emulator(SeedSource::Sample);
    let mut cfg = config(&emu);
    cfg.verify_responses = true;
    let c = CcvShopConnector::new(cfg);
    let id = emu.add_order_with_rows(2, 4);
    let order = c
        .get("orders", &id.to_string())
        .expect("verified")
        .expect("order");
    assert_eq!(rows(&order).len(), 2);
    c.update("orders", &id.to_string(), &record(r#"{"paid":true}"#), None)
        .expect("a verified 204");
    // Query strings with encoded characters are signed and verified byte for byte.
    let found = c
        .find("products", "productnumber", &Value::str("A B/+é,1"))
        .expect("find");
    assert!(found.is_empty());
}

#[test]
fn opened_from_a_connection_block() {
    let emu = emulator(SeedSource::Sample);
    let conn = |secret_var: &str, verify: &str| Connection {
        name: Arc::from("shop"),
        connector: Arc::from("ccvshop"),
        settings: vec![
            (
                Arc::from("url"),
                SettingValue::Literal(Value::str(&format!("{}/", emu.base_url()))),
            ),
            (
                Arc::from("public_key"),
                SettingValue::Literal(Value::str(emu.public_key())),
            ),
            (
                Arc::from("secret_key"),
                SettingValue::Env {
                    name: Arc::from(secret_var),
                    default: None,
                },
            ),
            (
                Arc::from("verify_responses"),
                SettingValue::Literal(Value::str(verify)),
            ),
        ],
    };
    let secret = emu.secret_key().to_string();
    let env = move |k: &str| (k == "SHOP_SECRET").then(|| secret.clone());
    let c = open(
        &conn("SHOP_SECRET", "true"),
        &flowc::program::Program::default(),
        std::path::Path::new(".flowc"),
        &env,
    )
    .expect("opens");
    assert_eq!(c.kind(), "ccvshop");
    assert_eq!(c.spec().id_field, Some("id"));
    let (items, _) = collect(c.as_ref(), "paymethods", &ListQuery::default()).expect("list");
    assert!(!items.is_empty());

    let err = open(
        &conn("MISSING", "true"),
        &flowc::program::Program::default(),
        std::path::Path::new(".flowc"),
        &env,
    )
    .err()
    .expect("no secret");
    assert_eq!(err.class, ErrorClass::Config);
    assert!(err.message.contains("MISSING"), "{}", err.message);
    let err = open(
        &conn("SHOP_SECRET", "perhaps"),
        &flowc::program::Program::default(),
        std::path::Path::new(".flowc"),
        &env,
    )
    .err()
    .expect("bad flag");
    assert_eq!(err.class, ErrorClass::Config);

    let s = Settings::from_pairs(
        &flowc::connectors::ccvshop::SPEC,
        "shop",
        &[("url", "ftp://x"), ("public_key", "p"), ("secret_key", "s")],
    )
    .expect("declared settings");
    assert_eq!(
        CcvShopConnector::from_settings(&s).err().map(|e| e.class),
        Some(ErrorClass::Config)
    );
}
