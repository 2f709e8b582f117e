//! End-to-end tests of the CCV Shop emulator over real HTTP on loopback,
//! with reqwest as the client and flowc's own signing module.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use flowc::connectors::ccvshop::signing::{
    self, build_query, compute_hash, path_with_query, webhook_hash, Credentials, QueryValue,
};
use flowc_emulators::ccvshop::{
    start, start_blocking, CcvShopConfig, CcvShopEmulator, RateLimitConfig, SeedSource,
};
use flowc_emulators::faults::{Fault, Matcher};
use reqwest::Method;
use serde_json::{json, Value};

const API: &str = "/api/rest/v1";

struct Resp {
    status: u16,
    body: Vec<u8>,
    json: Value,
}

impl Resp {
    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
}

impl Client {
    fn new(emu: &CcvShopEmulator) -> Self {
        Self::with_creds(emu, Credentials::new(emu.public_key(), emu.secret_key()))
    }

    fn with_creds(emu: &CcvShopEmulator, creds: Credentials) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self {
            http,
            base: emu.base_url().to_string(),
            creds,
        }
    }

    /// Send a signed request and check the response signature.
    async fn send(
        &self,
        method: &str,
        pq: &str,
        body: Option<&Value>,
    ) -> Result<Resp, reqwest::Error> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("json"))
            .unwrap_or_default();
        let headers = self.creds.sign_request(method, pq, &bytes, Utc::now());
        self.send_raw(method, pq, bytes, &headers.pairs(), true)
            .await
    }

    async fn send_raw(
        &self,
        method: &str,
        pq: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
        verify: bool,
    ) -> Result<Resp, reqwest::Error> {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{pq}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        if verify {
            let x_date = h.get("x-date").and_then(|v| v.to_str().ok()).unwrap_or("");
            let x_hash = h.get("x-hash").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert_eq!(
                self.creds
                    .verify_response(method, pq, &body, x_date, x_hash),
                Ok(()),
                "response signature of {method} {pq}"
            );
        }
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Resp { status, body, json })
    }

    async fn get(&self, pq: &str) -> Resp {
        self.send("GET", pq, None).await.expect("transport")
    }

    async fn write(&self, method: &str, pq: &str, body: &Value) -> Resp {
        self.send(method, pq, Some(body)).await.expect("transport")
    }

    /// Follow `next` links from `first`, returning every page.
    async fn pages(&self, first: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut pq = first.to_string();
        loop {
            let r = self.get(&pq).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let next = r.json["next"].clone();
            out.push(r.json);
            match next {
                Value::String(url) => {
                    assert!(url.starts_with(&self.base), "next is absolute: {url}");
                    pq = url[self.base.len()..].to_string();
                }
                Value::Null => return out,
                other => panic!("bad next {other}"),
            }
        }
    }
}

async fn emulator() -> CcvShopEmulator {
    start(CcvShopConfig::default())
        .await
        .expect("emulator starts")
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect()
}

/// Move the limiter to the start of a minute so a test cannot straddle two windows.
fn align_minute(emu: &CcvShopEmulator) {
    let into = emu.limits().now().as_secs() % 60;
    emu.limits().advance(Duration::from_secs(60 - into));
}

#[test]
fn reference_test_vectors() {
    let demo = Credentials::new("demo", "demo");
    assert_eq!(
        compute_hash(&demo, "GET", "/api/rest/v1/orders?start=0&size=25", b"", "2024-01-01T12:00:00Z"),
        "f157416d27ca2f6e881e0b0a6a948553d14d6c8cbbcf0e631173b97f80fdb9c5bbad67405cbcfc3c732f7a02f540a9c2e24ec71ea04d41ec08293ac50c541013"
    );
    assert_eq!(
        compute_hash(&demo, "PATCH", "/api/rest/v1/orders/123", br#"{"status":5}"#, "2024-01-01T12:00:00Z"),
        "a378de184ef72fb96d99ef2ad7edbf92c7e65b89b24800fb7003009180b084eeed364fc7063dca04958c7f62cefae6417c3377c68dec1ac1ce158260e07921d4"
    );
}

#[tokio::test]
async fn authentication_failures_are_401_with_ccv_body() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    let pq = format!("{API}/orders");

    // Accepted date formats: Z, +00:00, +0000, milliseconds.
    let now = Utc::now();
    for date in [
        now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        now.format("%Y-%m-%dT%H:%M:%S+0000").to_string(),
        now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    ] {
        let hash = compute_hash(&c.creds, "GET", &pq, b"", &date);
        let r = c
            .send_raw(
                "GET",
                &pq,
                vec![],
                &[
                    ("x-public", c.creds.public_key()),
                    ("x-date", &date),
                    ("x-hash", &hash),
                ],
                true,
            )
            .await
            .expect("transport");
        assert_eq!(r.status, 200, "{date}: {}", r.text());
    }

    // Bad hash.
    let date = signing::format_x_date(now);
    let mut hash = compute_hash(&c.creds, "GET", &pq, b"", &date);
    hash.replace_range(0..1, if hash.starts_with('0') { "1" } else { "0" });
    let r = c
        .send_raw(
            "GET",
            &pq,
            vec![],
            &[
                ("x-public", c.creds.public_key()),
                ("x-date", &date),
                ("x-hash", &hash),
            ],
            true,
        )
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (401, "401.20"));
    assert_eq!(r.json["status"], json!(401));
    assert!(r.json["developermessage"].is_string());

    // Signed over a different query than sent.
    let hash = compute_hash(&c.creds, "GET", &format!("{pq}?start=0"), b"", &date);
    let r = c
        .send_raw(
            "GET",
            &pq,
            vec![],
            &[
                ("x-public", c.creds.public_key()),
                ("x-date", &date),
                ("x-hash", &hash),
            ],
            true,
        )
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (401, "401.20"));

    // Stale date (6 minutes), correctly signed.
    let stale = signing::format_x_date(now - chrono::Duration::minutes(6));
    let hash = compute_hash(&c.creds, "GET", &pq, b"", &stale);
    let r = c
        .send_raw(
            "GET",
            &pq,
            vec![],
            &[
                ("x-public", c.creds.public_key()),
                ("x-date", &stale),
                ("x-hash", &hash),
            ],
            true,
        )
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (401, "401.30"));

    // Wrong public key (signed consistently with it).
    // The answer is signed with the shop's own key, so it is not verified here.
    let other = Client::with_creds(&emu, Credentials::new("someone-else", emu.secret_key()));
    let h = other.creds.sign_request("GET", &pq, b"", Utc::now());
    let r = other
        .send_raw("GET", &pq, vec![], &h.pairs(), false)
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (401, "401.20"));

    // Missing header.
    let r = c
        .send_raw(
            "GET",
            &pq,
            vec![],
            &[("x-public", c.creds.public_key())],
            true,
        )
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (401, "401.10"));
}

#[tokio::test]
async fn trailing_slash_both_ways_and_root_listing() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    for pq in [
        format!("{API}/orders"),
        format!("{API}/orders/"),
        format!("{API}/orders/1"),
        format!("{API}/orders/1/"),
    ] {
        let r = c.get(&pq).await;
        assert_eq!(r.status, 200, "{pq}: {}", r.text());
    }
    for pq in [format!("{API}/"), API.to_string()] {
        let r = c.get(&pq).await;
        assert_eq!(r.status, 200);
        let names: Vec<&str> = r.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["title"].as_str())
            .collect();
        assert!(
            names.contains(&"orders") && names.contains(&"webhooks"),
            "{names:?}"
        );
    }
    assert_eq!(emu.request_count("GET", "/orders"), 2);
    assert_eq!(emu.request_count("GET", "/orders/{id}"), 2);
    assert_eq!(emu.request_count("GET", "/"), 2);
}

#[tokio::test]
async fn errors_have_ccv_shape() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    let r = c.get(&format!("{API}/nonsense")).await;
    assert_eq!((r.status, r.code()), (404, "404.20"));
    let r = c.get(&format!("{API}/orders/999999")).await;
    assert_eq!((r.status, r.code()), (404, "404.10"));
    let r = c
        .send("DELETE", &format!("{API}/orders/1"), None)
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (405, "405.10"));
    let r = c.get(&format!("{API}/orders?bogus=1")).await;
    assert_eq!((r.status, r.code()), (400, "400.10"));
    let r = c.get(&format!("{API}/orders?status=15")).await;
    assert_eq!((r.status, r.code()), (400, "400.10"));
    let r = c.get(&format!("{API}/orders?size=251")).await;
    assert_eq!((r.status, r.code()), (400, "400.10"));
    let r = c.get(&format!("{API}/orders?orderby=total_price")).await;
    assert_eq!((r.status, r.code()), (400, "400.10"));
    let r = c.get(&format!("{API}/productqueries")).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "400.10"),
        "productqueries needs a code"
    );

    // Malformed JSON, correctly signed.
    let pq = format!("{API}/orders/1");
    let body = b"{\"status\": 5".to_vec();
    let h = c.creds.sign_request("PATCH", &pq, &body, Utc::now());
    let r = c
        .send_raw("PATCH", &pq, body, &h.pairs(), true)
        .await
        .expect("transport");
    assert_eq!((r.status, r.code()), (400, "400.20"));
    let r = c.write("PATCH", &pq, &json!({ "status": 99 })).await;
    assert_eq!((r.status, r.code()), (400, "400.30"));
    let r = c.write("PATCH", &pq, &json!({ "is_paid": true })).await;
    assert_eq!((r.status, r.code()), (400, "400.30"));
    assert!(r.json["developermessage"]
        .as_str()
        .unwrap_or("")
        .contains("paid"));
    assert_eq!(
        emu.state().orders[&1].status,
        Some(5),
        "rejected PATCH left the order alone"
    );
}

#[tokio::test]
async fn pages_1000_orders_in_exactly_4_pages() {
    let emu = emulator().await;
    emu.generate(1000, 40, 42).expect("generate");
    let completed = emu
        .state()
        .orders
        .values()
        .filter(|o| o.is_completed)
        .count();
    assert!(completed > 750 && completed < 1000, "{completed}");
    let c = Client::new(&emu);
    let started = Instant::now();
    let pages = c
        .pages(&format!(
            "{API}/orders?{}",
            build_query(&[("start", 0.into()), ("size", 250.into())])
        ))
        .await;
    assert_eq!(pages.len(), 4);
    assert_eq!(pages[3]["next"], Value::Null);
    assert!(pages[0]["previous"].is_null() && pages[1]["previous"].is_string());
    let all: Vec<i64> = pages.iter().flat_map(|p| ids(&p["items"])).collect();
    assert_eq!(all.len(), completed);
    let mut dedup = all.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), completed, "no order twice");
    assert_eq!(emu.request_count("GET", "/orders"), 4);
    // The unfinished rest is there, but only on request.
    let rest = c
        .pages(&format!("{API}/orders?is_completed=false&size=250"))
        .await;
    assert_eq!(
        rest.iter().map(|p| ids(&p["items"]).len()).sum::<usize>(),
        1000 - completed
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn order_with_65_rows_is_paged_and_rows_are_a_link() {
    let emu = emulator().await;
    let id = emu.add_order_with_rows(65, 9);
    let c = Client::new(&emu);
    let order = c.get(&format!("{API}/orders/{id}")).await;
    assert_eq!(order.status, 200);
    let rows_link = order.json["orderrows"].as_object().expect("link object");
    assert_eq!(rows_link.len(), 1, "only an href: {rows_link:?}");
    let href = rows_link["href"].as_str().expect("href");
    assert!(href.starts_with(&c.base));
    let first = format!("{}?size=25", &href[c.base.len()..]);
    let pages = c.pages(&first).await;
    assert_eq!(pages.len(), 3);
    let rows: Vec<i64> = pages.iter().flat_map(|p| ids(&p["items"])).collect();
    assert_eq!(rows, emu.state().orders[&id].row_ids);
    let row = c.get(&format!("{API}/orderrows/{}", rows[64])).await;
    assert_eq!(row.json["order_id"], json!(id));
}

#[tokio::test]
async fn is_completed_defaults_to_true() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    let r = c.get(&format!("{API}/orders")).await;
    assert_eq!(
        ids(&r.json["items"]),
        vec![1, 2, 3],
        "unfinished order 4 hidden"
    );
    let r = c.get(&format!("{API}/orders?is_completed=false")).await;
    assert_eq!(ids(&r.json["items"]), vec![4]);
    assert_eq!(r.json["items"][0]["ordernumber"], Value::Null);
}

#[tokio::test]
async fn order_filters_and_sorting() {
    let emu = emulator().await;
    emu.generate(300, 20, 5).expect("generate");
    let state = emu.state();
    let c = Client::new(&emu);

    let r = c.get(&format!("{API}/orders?status=5&size=250")).await;
    let got = ids(&r.json["items"]);
    let want: Vec<i64> = state
        .orders
        .values()
        .filter(|o| o.is_completed && o.status == Some(5))
        .map(|o| o.id)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    let r = c.get(&format!("{API}/orders?is_paid=false&size=250")).await;
    let want: Vec<i64> = state
        .orders
        .values()
        .filter(|o| o.is_completed && !o.paid)
        .map(|o| o.id)
        .collect();
    assert_eq!(ids(&r.json["items"]), want);

    let cutoff = state.orders[&200].create_date;
    let q = build_query(&[
        (
            "min_create_date",
            QueryValue::from(signing::format_x_date(cutoff)),
        ),
        ("size", 250.into()),
    ]);
    let r = c.get(&format!("{API}/orders?{q}")).await;
    let want: Vec<i64> = state
        .orders
        .values()
        .filter(|o| o.is_completed && o.create_date >= cutoff)
        .map(|o| o.id)
        .collect();
    assert_eq!(ids(&r.json["items"]), want);
    assert!(
        r.json["href"]
            .as_str()
            .unwrap_or("")
            .contains("min_create_date=2024-"),
        "filters kept in links"
    );

    let r = c
        .get(&format!("{API}/orders?orderby=create_date_desc&size=5"))
        .await;
    let dates: Vec<String> = r.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["create_date"].as_str().expect("date").to_string())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    let newest = state
        .orders
        .values()
        .filter(|o| o.is_completed)
        .map(|o| o.create_date)
        .max()
        .expect("orders");
    assert_eq!(dates[0], signing::format_x_date(newest));
}

#[tokio::test]
async fn patch_order_is_204_and_visible() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    let pq = format!("{API}/orders/2/");
    let body = json!({
        "status": 5,
        "paid": true,
        "track_and_trace_code": "3SXYZ987",
        "track_and_trace_carrier": "dhl",
        "mail": true
    });
    let r = c.write("PATCH", &pq, &body).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    let o = c.get(&pq).await.json;
    assert_eq!(
        (o["status"].clone(), o["paid"].clone()),
        (json!(5), json!(true))
    );
    assert_eq!(o["track_and_trace_code"], json!("3SXYZ987"));
    assert_eq!(emu.state().orders[&2].mails_sent, 1);
    // Exact decimal digits survive the trip.
    let rows = c.get(&format!("{API}/orders/1/orderrows")).await;
    assert!(rows.text().contains("\"price\":12.50"), "{}", rows.text());
    assert!(rows.text().contains("\"count\":1.5"));
}

#[tokio::test]
async fn products_by_number_and_modifydate_desc() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    let r = c
        .get(&format!("{API}/products?productnumber=THE-010"))
        .await;
    assert_eq!(ids(&r.json["items"]), vec![2]);
    assert_eq!(r.json["items"][0]["is_active"], json!(true));

    let r = c
        .write(
            "PATCH",
            &format!("{API}/products/3"),
            &json!({ "is_active": true }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "400.30"), "writes say 'active'");
    let r = c
        .write(
            "PATCH",
            &format!("{API}/products/3"),
            &json!({ "stock": 5 }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "400.30"),
        "stock needs stockenabled"
    );
    let before = emu.state().products[&3].modifydate;
    let r = c
        .write(
            "PATCH",
            &format!("{API}/products/3"),
            &json!({ "active": true, "stockenabled": true, "stock": 5 }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(emu.state().products[&3].modifydate > before);

    let r = c
        .get(&format!("{API}/products?orderby=modifydate_desc"))
        .await;
    let got = ids(&r.json["items"]);
    assert_eq!(got[0], 3, "{got:?}");
    assert_eq!(r.json["items"][0]["is_active"], json!(true));
    assert_eq!(r.json["items"][0]["stock"], json!(5));

    let r = c
        .get(&format!("{API}/productqueries?eannumber=8712345678920"))
        .await;
    assert_eq!(ids(&r.json["items"]), vec![4]);

    // Parsed (not json!) so the literal keeps its trailing zero on the wire.
    let body: Value =
        serde_json::from_str(r#"{"productnumber": "NEW-1", "name": "Nieuw", "price": 9.90}"#)
            .expect("json");
    let created = c.write("POST", &format!("{API}/products"), &body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(created.text().contains("\"price\":9.90"));
    let id = created.json["id"].as_i64().expect("id");
    let link = c
        .write(
            "POST",
            &format!("{API}/producttocategories"),
            &json!({ "product_id": id, "category_id": 2 }),
        )
        .await;
    assert_eq!(link.status, 201);
    let links = c
        .get(&format!("{API}/products/{id}/producttocategories"))
        .await;
    assert_eq!(links.json["items"][0]["category_id"], json!(2));
    let r = c
        .send("DELETE", &format!("{API}/products/{id}"), None)
        .await
        .expect("transport");
    assert_eq!(r.status, 204);
    assert_eq!(c.get(&format!("{API}/products/{id}")).await.status, 404);
}

#[tokio::test]
async fn rate_limit_429_10_and_recovery() {
    let emu = emulator().await;
    align_minute(&emu);
    let c = Client::new(&emu);
    let pq = format!("{API}/paymethods");
    for i in 0..150 {
        let r = c.get(&pq).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    let r = c.get(&pq).await;
    assert_eq!((r.status, r.code()), (429, "429.10"));
    // Another resource has its own window.
    assert_eq!(c.get(&format!("{API}/webshops")).await.status, 200);
    emu.limits().advance(Duration::from_secs(60));
    assert_eq!(c.get(&pq).await.status, 200);
    assert_eq!(emu.request_count("GET", "/paymethods"), 152);
}

#[tokio::test]
async fn total_limit_429_11() {
    let config = CcvShopConfig {
        limits: RateLimitConfig {
            total_per_minute: 5,
            ..RateLimitConfig::default()
        },
        ..CcvShopConfig::default()
    };
    let emu = start(config).await.expect("starts");
    align_minute(&emu);
    let c = Client::new(&emu);
    for _ in 0..5 {
        assert_eq!(c.get(&format!("{API}/users")).await.status, 200);
    }
    let r = c.get(&format!("{API}/webshops")).await;
    assert_eq!((r.status, r.code()), (429, "429.11"));
}

#[tokio::test]
async fn injected_faults() {
    let emu = emulator().await;
    let c = Client::new(&emu);
    let pq = format!("{API}/orders/1");

    emu.faults()
        .push(Matcher::new(Method::GET, "/orders"), Fault::RateLimited, 1);
    let r = c.get(&pq).await;
    assert_eq!((r.status, r.code()), (429, "429.10"));

    emu.faults()
        .push(Matcher::any(), Fault::ServerError(503), 1);
    let r = c.get(&pq).await;
    assert_eq!((r.status, r.code()), (503, "503.00"));

    emu.faults()
        .push(Matcher::any(), Fault::Slow(Duration::from_millis(300)), 1);
    let t = Instant::now();
    assert_eq!(c.get(&pq).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    emu.faults()
        .push_on_writes(Fault::DropResponseAfterWrite, 1);
    let err = c.send("PATCH", &pq, Some(&json!({ "status": 6 }))).await;
    assert!(err.is_err(), "client must see a transport error");
    assert_eq!(
        emu.state().orders[&1].status,
        Some(6),
        "but the write was applied"
    );
    assert_eq!(c.get(&pq).await.json["status"], json!(6));
    assert_eq!(emu.faults().injected(), 4);
    assert_eq!(emu.request_count("PATCH", "/orders/{id}"), 1);
}

#[tokio::test]
async fn webhooks_are_signed_and_delivered() {
    type Seen = Arc<Mutex<Vec<(String, String, String)>>>;
    let seen: Seen = Arc::default();
    let receiver = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    seen.lock()
                        .expect("lock")
                        .push((h("x-hash"), h("x-date"), body));
                    "ok"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!(
        "http://{}/hook?shop=7",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let emu = emulator().await;
    let c = Client::new(&emu);
    let r = c
        .write(
            "POST",
            &format!("{API}/webhooks"),
            &json!({ "event": "orders.updated.status", "address": address }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json["key"]
        .as_str()
        .expect("server-generated key")
        .to_string();
    assert_eq!(key.len(), 32);
    let bad = c
        .write(
            "POST",
            &format!("{API}/webhooks"),
            &json!({ "event": "orders.nope", "address": address }),
        )
        .await;
    assert_eq!(bad.status, 400);

    assert_eq!(
        c.write("PATCH", &format!("{API}/orders/3"), &json!({ "status": 8 }))
            .await
            .status,
        204
    );
    let done = emu.wait_for_webhooks(1, Duration::from_secs(5)).await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].outcome, Some(Ok(200)));
    let received = seen.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    let (hash, date, body) = &received[0];
    assert!(!date.is_empty());
    assert_eq!(*hash, webhook_hash(&key, &address, body.as_bytes()));
    let payload: Value = serde_json::from_str(body).expect("json");
    assert_eq!(
        (
            payload["id"].clone(),
            payload["status"].clone(),
            payload["previous_status"].clone()
        ),
        (json!(3), json!(8), json!(7))
    );
}

#[tokio::test]
async fn custom_seed_and_base_only() {
    let emu = start(CcvShopConfig {
        data: SeedSource::Base,
        ..CcvShopConfig::default()
    })
    .await
    .expect("starts");
    let c = Client::new(&emu);
    let r = c.get(&format!("{API}/orders")).await;
    assert_eq!(r.json["items"], json!([]));
    assert_eq!(r.json["next"], Value::Null);
    let s = c.get(&format!("{API}/webshops/1/settings")).await;
    assert_eq!(s.json["order_status"].as_array().map(Vec::len), Some(14));
}

#[test]
fn blocking_variant_serves_without_a_caller_runtime() {
    let emu = start_blocking(CcvShopConfig::default()).expect("starts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = Client::new(&emu);
        let pq = path_with_query(
            &format!("{API}/products"),
            &build_query(&[("active", true.into())]),
        );
        let r = c.get(&pq).await;
        assert_eq!(r.status, 200);
        assert_eq!(ids(&r.json["items"]), vec![1, 2, 4]);
    });
}
