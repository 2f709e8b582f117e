//! The eAccounting emulator over real HTTP, checked against the reference
//! facts in `eaccounting-api.md` (not only round-trips).

use std::time::{Duration, Instant};

use flowc_emulators::eaccounting::{start, start_blocking, EaccountingConfig, EaccountingEmulator};
use flowc_emulators::faults::{Fault, Matcher};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ALL: &str = "ea:api offline_access ea:sales ea:accounting";

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(emu: &EaccountingEmulator, scope: &str) -> Self {
        Self {
            http: client(),
            base: emu.api_url(),
            token: emu.access_token(scope),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("transport");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        (status, value)
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    /// GET with query parameters encoded by reqwest (spaces, quotes, `+`).
    async fn query(&self, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(params)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("transport");
        (resp.status(), resp.json().await.expect("json"))
    }
    async fn id_of(&self, path: &str, filter: &str) -> String {
        let (status, list) = self.query(path, &[("$filter", filter)]).await;
        assert_eq!(status, 200, "{list}");
        list["Data"][0]["Id"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} {filter}: {list}"))
            .to_string()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn emulator() -> EaccountingEmulator {
    start(EaccountingConfig::default()).await.unwrap()
}

fn assert_error(body: &Value, code: u64, needle: &str) {
    assert_eq!(body["ErrorCode"], code, "{body}");
    let msg = body["DeveloperErrorMessage"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "message {msg:?} should contain {needle:?}"
    );
    let id = body["ErrorId"].as_str().unwrap_or_default();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "ErrorId must be a GUID: {body}"
    );
}

struct Refs {
    terms30: String,
    unit: String,
    coding21: String,
    coding9: String,
}

async fn refs(api: &Api) -> Refs {
    Refs {
        terms30: api.id_of("/termsofpayments", "Name eq '30 dagen'").await,
        unit: api.id_of("/units", "Code eq 'st'").await,
        coding21: api
            .id_of(
                "/articleaccountcodings",
                "startswith(Name,'Omzet hoog 21%')",
            )
            .await,
        coding9: api
            .id_of("/articleaccountcodings", "VatRatePercent eq 0.09")
            .await,
    }
}

fn customer(refs: &Refs, name: &str) -> Value {
    json!({"Name": name, "IsPrivatePerson": false, "IsActive": true, "TermsOfPaymentId": refs.terms30,
           "InvoiceAddress1": "Damrak 1", "InvoicePostalCode": "1012 LG", "InvoiceCity": "Amsterdam",
           "InvoiceCountryCode": "NL"})
}

fn article(refs: &Refs, number: &str, net: f64) -> Value {
    json!({"Number": number, "Name": format!("Article {number}"), "IsActive": true,
           "CodingId": refs.coding21, "UnitId": refs.unit, "NetPrice": net})
}

fn post_form(
    http: &reqwest::Client,
    emu: &EaccountingEmulator,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    http.post(emu.token_url())
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(form)
}

#[tokio::test]
async fn sales_orders_need_a_variant_that_offers_them() {
    let emu = emulator().await;
    let api = Api::new(&emu, "ea:api ea:sales");
    assert_eq!(
        api.get("/orders").await.0,
        200,
        "the default company is Pro"
    );
    emu.set_company_setting("ProductVariant", json!(4));
    let (status, body) = api.get("/orders").await;
    assert_eq!(status, 403);
    assert_error(&body, 4002, "NoAccessToModule");
    assert_eq!(
        api.get("/customerinvoicedrafts").await.0,
        200,
        "drafts are in every variant"
    );
}

// ---------------------------------------------------------------------------
// OAuth2

#[tokio::test]
async fn authorization_code_flow_then_rotating_refresh_tokens() {
    let emu = emulator().await;
    let http = client();
    let redirect = emu.redirect_uri().unwrap().to_string();
    let resp = http
        .get(emu.authorize_url())
        .query(&[
            ("client_id", emu.client_id()),
            ("redirect_uri", &redirect),
            ("scope", ALL),
            ("state", "xyz"),
            ("response_type", "code"),
            ("acr_values", "forceselectcompany:true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&redirect));
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "xyz");
    let code = q["code"].clone();

    let wrong_redirect = post_form(
        &http,
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://evil/cb"),
        ],
    );
    let r = wrong_redirect.send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // The failed attempt consumed the code (single use): get a fresh one.
    let code = emu.authorization_code(ALL);
    let r = post_form(
        &http,
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t1: Value = r.json().await.unwrap();
    assert_eq!(t1["token_type"], "Bearer");
    assert_eq!(t1["expires_in"], 3600);
    assert_eq!(t1["scope"], ALL);
    let replay = post_form(
        &http,
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
        ],
    );
    assert_eq!(
        replay.send().await.unwrap().status(),
        400,
        "codes are single use"
    );

    // Two consecutive refreshes, each answered with a new pair.
    let rt1 = t1["refresh_token"].as_str().unwrap();
    let t2: Value = post_form(
        &http,
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_ne!(t1["access_token"], t2["access_token"]);
    // Client credentials in the body work as well as Basic.
    let r = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("client_id", emu.client_id()),
            ("client_secret", emu.client_secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t3: Value = r.json().await.unwrap();

    // Rotated-out tokens are dead.
    for old in [rt1, rt2] {
        let r = post_form(
            &http,
            &emu,
            &[("grant_type", "refresh_token"), ("refresh_token", old)],
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
    // The newest access token works against the API.
    let r = http
        .get(format!("{}/customers", emu.api_url()))
        .bearer_auth(t3["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.token_requests(), 7);
    assert_eq!(emu.request_count("POST", "/connect/token"), 7);
    assert_eq!(emu.request_count("GET", "/connect/authorize"), 1);
}

#[tokio::test]
async fn token_endpoint_rejects_bad_clients_and_requests() {
    let emu = emulator().await;
    let http = client();
    let rt = emu.refresh_token(ALL);
    let r = http
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = http
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": rt}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "JSON bodies are not accepted");
    let r = post_form(&http, &emu, &[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    // The wrong-secret attempt did not consume the refresh token.
    let r = post_form(
        &http,
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let rt2 = r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    emu.revoke_all_tokens();
    let r = post_form(
        &http,
        &emu,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn expired_or_missing_bearer_is_401_with_4005() {
    let emu = start(EaccountingConfig {
        access_token_lifetime: Duration::from_secs(60),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&emu, ALL);
    assert_eq!(api.get("/customers").await.0, 200);
    emu.advance(Duration::from_secs(61));
    let (status, body) = api.get("/customers").await;
    assert_eq!(status, 401);
    assert_error(
        &body,
        4005,
        "Authorization has been denied for this request.",
    );

    let r = client()
        .get(format!("{}/customers", emu.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(&r.json().await.unwrap(), 4005, "AuthorizationException");

    let fresh = Api::new(&emu, ALL);
    assert_eq!(fresh.get("/customers").await.0, 200);
    emu.expire_access_tokens();
    assert_eq!(fresh.get("/customers").await.0, 401);
}

#[tokio::test]
async fn scopes_gate_endpoint_families() {
    let emu = emulator().await;
    let read_only = Api::new(&emu, "ea:api ea:sales_readonly");
    assert_eq!(read_only.get("/customers").await.0, 200);
    assert_eq!(read_only.get("/termsofpayments").await.0, 200);
    let (status, body) = read_only.post("/customers", &json!({"Name": "x"})).await;
    assert_eq!(status, 403);
    assert_error(&body, 4005, "ea:sales");
    assert_eq!(
        read_only.get("/vatcodes").await.0,
        403,
        "vat codes need an accounting scope"
    );

    let no_api = Api::new(&emu, "ea:sales");
    let (status, body) = no_api.get("/customers").await;
    assert_eq!(status, 403);
    assert_error(&body, 4005, "ea:api");

    let accounting = Api::new(&emu, "ea:api ea:accounting_readonly");
    assert_eq!(accounting.get("/vatcodes").await.0, 200);
    assert_eq!(accounting.get("/customers").await.0, 403);
    assert_eq!(accounting.get("/fiscalyears").await.0, 200);
}

// ---------------------------------------------------------------------------
// Listing, paging and OData

#[tokio::test]
async fn envelope_and_paging_arithmetic() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;
    let customers: Vec<Value> = (0..123)
        .map(|i| customer(&refs, &format!("Klant {i:03}")))
        .collect();
    emu.load_seed(&json!({"customers": customers}).to_string())
        .unwrap();

    let (status, page1) = api.get("/customers").await;
    assert_eq!(status, 200);
    let meta = &page1["Meta"];
    assert_eq!(meta["CurrentPage"], 1);
    assert_eq!(meta["PageSize"], 50);
    assert_eq!(meta["TotalNumberOfPages"], 3);
    assert_eq!(meta["TotalNumberOfResults"], 123);
    assert!(chrono::DateTime::parse_from_rfc3339(meta["ServerTimeUtc"].as_str().unwrap()).is_ok());
    assert_eq!(page1["Data"].as_array().unwrap().len(), 50);

    // Parameter names are case-insensitive ($pageSize as SQ's client sends it).
    let (_, page3) = api
        .query("/customers", &[("$page", "3"), ("$pageSize", "50")])
        .await;
    assert_eq!(page3["Data"].as_array().unwrap().len(), 23);
    assert_eq!(page3["Data"][22]["Name"], "Klant 122");
    let (_, beyond) = api.query("/customers", &[("$page", "4")]).await;
    assert_eq!(beyond["Data"].as_array().unwrap().len(), 0);
    let (_, clamped) = api.query("/customers", &[("$pagesize", "1000")]).await;
    assert_eq!(clamped["Meta"]["PageSize"], 500);
    assert_eq!(clamped["Meta"]["TotalNumberOfPages"], 1);

    let (_, sorted) = api
        .query(
            "/customers",
            &[
                ("$orderby", "Name desc"),
                ("$pagesize", "2"),
                ("$select", "Name,CustomerNumber"),
            ],
        )
        .await;
    assert_eq!(
        sorted["Data"][0],
        json!({"Name": "Klant 122", "CustomerNumber": "1123"})
    );

    let (status, body) = api.query("/customers", &[("$page", "0")]).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "$page");
}

#[tokio::test]
async fn odata_filters_match_the_reference_grammar() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;
    let mut obrien = customer(&refs, "O'Brien Fietsen");
    obrien["EmailAddress"] = json!("o'brien@example.com");
    let (status, obrien) = api.post("/customers", &obrien).await;
    assert_eq!(status, 201, "{obrien}");
    let mut acme = customer(&refs, "ACME Holding BV");
    acme["EmailAddress"] = json!("ap@acme.nl");
    acme["TermsOfPaymentId"] = json!(api.id_of("/termsofpayments", "NumberOfDays eq 14").await);
    let (_, acme) = api.post("/customers", &acme).await;

    let names = |list: &Value| -> Vec<String> {
        list["Data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, hit) = api
        .query(
            "/customers",
            &[("$filter", "EmailAddress eq 'o''brien@example.com'")],
        )
        .await;
    assert_eq!(names(&hit), ["O'Brien Fietsen"]);
    assert_eq!(hit["Data"][0]["Id"], obrien["Id"]);

    let guid = format!("TermsOfPaymentId eq {}", refs.terms30.to_uppercase());
    assert_eq!(
        names(&api.query("/customers", &[("$filter", &guid)]).await.1),
        ["O'Brien Fietsen"]
    );
    let by_id = format!("Id eq {}", acme["Id"].as_str().unwrap());
    assert_eq!(
        names(&api.query("/customers", &[("$filter", &by_id)]).await.1),
        ["ACME Holding BV"]
    );

    assert_eq!(
        names(
            &api.query("/customers", &[("$filter", "contains(Name,'Holding')")])
                .await
                .1
        ),
        ["ACME Holding BV"]
    );
    assert!(
        names(
            &api.query("/customers", &[("$filter", "contains(Name,'holding')")])
                .await
                .1
        )
        .is_empty(),
        "ordinal, case-sensitive"
    );
    assert_eq!(
        names(
            &api.query(
                "/customers",
                &[("$filter", "contains(tolower(Name),'holding')")]
            )
            .await
            .1
        ),
        ["ACME Holding BV"]
    );
    assert_eq!(
        names(
            &api.query(
                "/customers",
                &[(
                    "$filter",
                    "startswith(Name,'O''B') or CustomerNumber eq '1002'"
                )]
            )
            .await
            .1
        )
        .len(),
        2
    );
    assert_eq!(
        names(
            &api.query(
                "/customers",
                &[(
                    "$filter",
                    "not (IsActive eq true and startswith(Name,'ACME')) and EmailAddress ne null"
                )]
            )
            .await
            .1
        ),
        ["O'Brien Fietsen"]
    );
    let (_, changed) = api
        .query(
            "/customers",
            &[("$filter", "ChangedUtc gt 2020-01-01T00:00:00+01:00")],
        )
        .await;
    assert_eq!(changed["Meta"]["TotalNumberOfResults"], 2);

    for (filter, needle) in [
        ("Emailaddress eq 'x'", "did you mean 'EmailAddress'"),
        ("Foo eq 1", "could not find a property named 'Foo'"),
        ("CustomerNumber eq 1001", "incompatible types"),
        ("Name eq 'unterminated", "unterminated"),
        ("Name eq", "end of the expression"),
        ("(Name eq 'x'", "')'"),
    ] {
        let (status, body) = api.query("/customers", &[("$filter", filter)]).await;
        assert_eq!(status, 400, "{filter}");
        assert_error(&body, 2000, needle);
    }
}

// ---------------------------------------------------------------------------
// Validation and server-derived fields

#[tokio::test]
async fn customer_validation_numbers_and_full_replacement() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;

    let mut missing = customer(&refs, "x");
    missing.as_object_mut().unwrap().remove("InvoiceCity");
    let (status, body) = api.post("/customers", &missing).await;
    assert_eq!(status, 400);
    assert_error(
        &body,
        2000,
        "InvoiceCity: The InvoiceCity field is required.",
    );

    let long = customer(&refs, &"N".repeat(51));
    let (status, body) = api.post("/customers", &long).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "maximum length of 50");

    let mut bad_discount = customer(&refs, "x");
    bad_discount["DiscountPercentage"] = json!(1.5);
    let (status, body) = api.post("/customers", &bad_discount).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "DiscountPercentage");

    let mut unknown_terms = customer(&refs, "x");
    unknown_terms["TermsOfPaymentId"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, body) = api.post("/customers", &unknown_terms).await;
    assert_eq!(status, 400);
    assert_error(&body, 3000, "TermsOfPaymentId");

    let r = client()
        .post(format!("{}/customers", emu.api_url()))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{\"Name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(&r.json().await.unwrap(), 2000, "not valid JSON");

    let (status, first) = api.post("/customers", &customer(&refs, "Eerste")).await;
    assert_eq!(status, 201);
    assert_eq!(first["CustomerNumber"], "1001");
    assert_eq!(first["CurrencyCode"], "EUR");
    assert_eq!(first["TermsOfPayment"]["Name"], "30 dagen");
    assert!(first["ChangedUtc"].is_string());
    assert!(
        first.as_object().unwrap().contains_key("Telephone"),
        "every property is serialised"
    );
    let (_, second) = api.post("/customers", &customer(&refs, "Tweede")).await;
    assert_eq!(second["CustomerNumber"], "1002");

    let mut dup = customer(&refs, "Dubbel");
    dup["CustomerNumber"] = json!("1001");
    let (status, body) = api.post("/customers", &dup).await;
    assert_eq!(status, 409);
    assert_error(&body, 4000, "1001");

    // PUT replaces: fields left out are cleared. Paths are case-insensitive.
    let id = first["Id"].as_str().unwrap();
    let mut with_phone = customer(&refs, "Eerste");
    with_phone["Telephone"] = json!("020-1234567");
    assert_eq!(
        api.put(&format!("/Customers/{id}"), &with_phone).await.0,
        200
    );
    let (status, replaced) = api
        .put(
            &format!("/customers/{}", id.to_uppercase()),
            &customer(&refs, "Eerste BV"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(replaced["Telephone"], Value::Null);
    assert_eq!(
        replaced["CustomerNumber"], "1001",
        "the number is kept when omitted"
    );
    assert_eq!(
        api.get(&format!("/CUSTOMERS/{id}")).await.1["Name"],
        "Eerste BV"
    );
    assert_eq!(emu.request_count("PUT", "/customers/{id}"), 2);

    let (status, body) = api
        .get(&format!("/customers/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    assert_error(&body, 3000, "not found");
}

#[tokio::test]
async fn articles_unique_numbers_references_and_prices() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;
    let (status, a) = api.post("/articles", &article(&refs, "SKU-1", 80.0)).await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["GrossPrice"].to_string(), "96.8");
    assert_eq!(a["UnitAbbreviation"], "st");
    assert_eq!(a["CodingName"], "Omzet hoog 21% (goederen)");
    assert_eq!(a["IsServiceArticle"], false);

    let (status, body) = api.post("/articles", &article(&refs, "sku-1", 10.0)).await;
    assert_eq!(status, 409);
    assert_error(&body, 4000, "sku-1");

    let mut bad = article(&refs, "SKU-2", 1.0);
    bad["CodingId"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, body) = api.post("/articles", &bad).await;
    assert_eq!(status, 400);
    assert_error(&body, 3000, "CodingId");

    let r = client()
        .post(format!("{}/articles", emu.api_url()))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(
            article(&refs, "SKU-3", 0.0)
                .to_string()
                .replace("\"NetPrice\":0.0", "\"NetPrice\":19.999"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(
        &r.json().await.unwrap(),
        2000,
        "NetPrice: at most 2 decimals",
    );

    let mut missing = article(&refs, "SKU-4", 1.0);
    missing.as_object_mut().unwrap().remove("UnitId");
    let (status, body) = api.post("/articles", &missing).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "UnitId: The UnitId field is required.");
    assert_eq!(
        api.get("/articles").await.1["Meta"]["TotalNumberOfResults"],
        1
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/articles/{}", a["Id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 405, "articles cannot be deleted");
}

#[tokio::test]
async fn invoice_draft_totals_defaults_and_conversion() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;
    let (_, cust) = api
        .post("/customers", &customer(&refs, "Fietsen Zakelijk BV"))
        .await;
    let (_, art) = api.post("/articles", &article(&refs, "BEL-1", 19.99)).await;
    let cid = cust["Id"].as_str().unwrap();
    let aid = art["Id"].as_str().unwrap();

    let draft = json!({"CustomerId": cid, "EuThirdParty": false, "RotReducedInvoicingType": 0,
        "InvoiceDate": "2025-03-01", "YourReference": "PO-77",
        "Rows": [{"ArticleId": aid, "IsTextRow": false, "Quantity": 3, "ReversedConstructionServicesVatFree": false},
                 {"IsTextRow": true, "Text": "Bedankt!", "ReversedConstructionServicesVatFree": false}]});
    let (status, d) = api.post("/customerinvoicedrafts", &draft).await;
    assert_eq!(status, 201, "{d}");
    // 3 × 19.99 = 59.97 net; 21% VAT = 12.5937 → 12.59; total 72.56.
    assert_eq!(d["TotalAmount"].to_string(), "72.56");
    assert_eq!(d["TotalVatAmount"].to_string(), "12.59");
    assert_eq!(d["IncludesVat"], false);
    assert_eq!(d["CustomerIsPrivatePerson"], false);
    assert_eq!(d["InvoiceCustomerName"], "Fietsen Zakelijk BV");
    assert_eq!(d["InvoiceCity"], "Amsterdam");
    assert_eq!(d["CustomerNumber"], cust["CustomerNumber"]);
    assert_eq!(d["DueDate"], "2025-03-31T00:00:00");
    assert_eq!(
        d["Rows"][0]["UnitPrice"].to_string(),
        "19.99",
        "price defaults to the article's"
    );
    assert_eq!(d["Rows"][0]["Text"], "Article BEL-1");
    assert_eq!(d["Rows"][0]["ArticleNumber"], "BEL-1");
    assert_eq!(d["Rows"][1]["UnitPrice"], Value::Null);

    let mut bad = draft.clone();
    bad["Rows"][0]["DiscountPercentage"] = json!(1.5);
    let (status, body) = api.post("/customerinvoicedrafts", &bad).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "Rows[0].DiscountPercentage");

    let mut bad = draft.clone();
    bad["Rows"][0]["ArticleId"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, body) = api.post("/customerinvoicedrafts", &bad).await;
    assert_eq!(status, 400);
    assert_error(&body, 3000, "Rows[0].ArticleId");

    let mut bad = draft.clone();
    bad["Rows"][0].as_object_mut().unwrap().remove("ArticleId");
    let (status, body) = api.post("/customerinvoicedrafts", &bad).await;
    assert_eq!(status, 400);
    assert_error(
        &body,
        2000,
        "ArticleId field is required when IsTextRow is false",
    );

    let mut bad = draft.clone();
    bad.as_object_mut().unwrap().remove("EuThirdParty");
    bad.as_object_mut()
        .unwrap()
        .remove("RotReducedInvoicingType");
    let (status, body) = api.post("/customerinvoicedrafts", &bad).await;
    assert_eq!(status, 400);
    assert_error(
        &body,
        2000,
        "EuThirdParty: The EuThirdParty field is required.",
    );
    assert!(body["DeveloperErrorMessage"]
        .as_str()
        .unwrap()
        .contains("RotReducedInvoicingType"));

    let mut bad = draft.clone();
    bad["Rows"][0]["UnitPrice"] = json!(rust_decimal_macros::dec!(19.995));
    let (status, body) = api.post("/customerinvoicedrafts", &bad).await;
    assert_eq!(status, 400, "domestic prices have 2 decimals: {body}");

    // Private person: prices include VAT. 2 × 24.19 gross at 21%: VAT = 48.38 × 21/121 = 8.40.
    let mut private = customer(&refs, "Jan Jansen");
    private["IsPrivatePerson"] = json!(true);
    let (_, jan) = api.post("/customers", &private).await;
    let mut d2 = draft.clone();
    d2["CustomerId"] = jan["Id"].clone();
    d2["Rows"][0]["Quantity"] = json!(2);
    let (_, d2) = api.post("/customerinvoicedrafts", &d2).await;
    assert_eq!(d2["IncludesVat"], true);
    assert_eq!(
        d2["Rows"][0]["UnitPrice"].to_string(),
        "24.19",
        "gross article price"
    );
    assert_eq!(d2["TotalAmount"].to_string(), "48.38");
    assert_eq!(d2["TotalVatAmount"].to_string(), "8.4");

    // Convert with the caller's expected totals; a mismatch books nothing.
    let draft_id = d["Id"].as_str().unwrap();
    let (status, body) = api
        .post(
            &format!("/customerinvoicedrafts/{draft_id}/convert"),
            &json!({"TotalAmountInvoiceCurrency": 72.57}),
        )
        .await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "TotalAmountInvoiceCurrency");
    let (status, inv) = api
        .post(
            &format!("/customerinvoicedrafts/{draft_id}/convert"),
            &json!({"TotalAmountInvoiceCurrency": 72.56}),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    assert_eq!(inv["InvoiceNumber"], 2025001);
    assert_eq!(inv["CreatedFromDraftId"], d["Id"]);
    assert_eq!(inv["TotalAmount"].to_string(), "72.56");
    assert_eq!(inv["RemainingAmount"].to_string(), "72.56");
    assert_eq!(inv["Rows"][0]["AmountNoVat"].to_string(), "59.97");
    assert_eq!(inv["Rows"][0]["PercentVat"].to_string(), "0.21");
    assert_eq!(inv["YourReference"], "PO-77");
    let clock = chrono::DateTime::from_timestamp(emu.limits().now().as_secs() as i64, 0).unwrap();
    let today = clock.format("%Y-%m-%dT00:00:00").to_string();
    assert_eq!(
        inv["InvoiceDate"],
        json!(today),
        "booked today unless keepOriginalDraftDate"
    );
    let d2_id = d2["Id"].as_str().unwrap();
    let (status, kept) = api
        .post(
            &format!("/customerinvoicedrafts/{d2_id}/convert?keepOriginalDraftDate=true"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(kept["InvoiceDate"], "2025-03-01T00:00:00");
    assert_eq!(kept["DueDate"], "2025-03-31T00:00:00");
    assert_eq!(kept["InvoiceNumber"], 2025002);
    assert_eq!(
        api.get(&format!("/customerinvoicedrafts/{draft_id}"))
            .await
            .0,
        404
    );
    let (_, fetched) = api
        .get(&format!(
            "/customerinvoices/{}",
            inv["Id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched, inv);
    assert!(emu.collection("customerinvoicedrafts").is_empty());
    let (status, body) = api
        .call(Method::DELETE, &format!("/customers/{cid}"), None)
        .await;
    assert_eq!(status, 409);
    assert_error(&body, 4001, "CanNotBeDeleted");
}

#[tokio::test]
async fn orders_quotes_and_mixed_vat_rates() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;
    let (_, cust) = api.post("/customers", &customer(&refs, "Winkel BV")).await;
    let (_, a21) = api.post("/articles", &article(&refs, "A21", 10.0)).await;
    let mut low = article(&refs, "A9", 5.55);
    low["CodingId"] = json!(refs.coding9);
    let (_, a9) = api.post("/articles", &low).await;

    let order = json!({"CustomerId": cust["Id"], "CurrencyCode": "EUR", "OrderDate": "2025-02-01", "Status": 2,
        "EuThirdParty": false, "RotReducedInvoicingType": 0, "ReverseChargeOnConstructionServices": false,
        "Rows": [{"LineNumber": 1, "ArticleId": a21["Id"], "Quantity": 2, "UnitPrice": 10.0, "DiscountPercentage": 0.1,
                  "IsTextRow": false, "IsWorkCost": false, "EligibleForReverseChargeOnVat": false},
                 {"LineNumber": 2, "ArticleId": a9["Id"], "Quantity": 1.5, "IsTextRow": false, "IsWorkCost": false,
                  "EligibleForReverseChargeOnVat": false}]});
    let (status, o) = api.post("/orders", &order).await;
    assert_eq!(status, 201, "{o}");
    // 18.00 at 21% → 3.78; 8.325 → 8.33 at 9% → 0.7497 → 0.75.
    assert_eq!(o["Rows"][0]["Amount"].to_string(), "18");
    assert_eq!(o["Rows"][1]["Amount"].to_string(), "8.33");
    assert_eq!(o["VatAmount"].to_string(), "4.53");
    assert_eq!(o["Amount"].to_string(), "30.86");
    assert_eq!(o["Number"], 1);

    let mut missing = order.clone();
    missing["Rows"][0]
        .as_object_mut()
        .unwrap()
        .remove("EligibleForReverseChargeOnVat");
    let (status, body) = api.post("/orders", &missing).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "Rows[0].EligibleForReverseChargeOnVat");

    let oid = o["Id"].as_str().unwrap();
    let (status, inv) = api
        .post(&format!("/orders/{oid}/convert"), &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(inv["CreatedFromOrderId"], o["Id"]);
    assert_eq!(inv["TotalVatAmount"].to_string(), "4.53");
    assert_eq!(api.get(&format!("/orders/{oid}")).await.1["Status"], 4);
    let (status, body) = api
        .post(&format!("/orders/{oid}/convert"), &json!({}))
        .await;
    assert_eq!(status, 400);
    assert_error(&body, 4002, "already invoiced");

    let (status, q) = api
        .post(
            "/quotes",
            &json!({"CustomerId": cust["Id"], "CustomerReference": "Offerte fietsen",
            "Rows": [{"ArticleId": a21["Id"], "Quantity": 3}]}),
        )
        .await;
    assert_eq!(status, 201, "{q}");
    assert_eq!(q["Number"], 1);
    assert_eq!(q["TotalAmount"].to_string(), "36.3");
    assert_eq!(q["Status"], 1);
}

#[tokio::test]
async fn accounting_vouchers_and_accounts() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let fy = api.id_of("/fiscalyears", "StartDate eq 2025-01-01").await;
    let (status, accounts) = api.get(&format!("/accounts/{fy}")).await;
    assert_eq!(status, 200);
    assert!(accounts["Meta"]["TotalNumberOfResults"].as_u64().unwrap() >= 10);
    let (status, acc) = api.get(&format!("/accounts/{fy}/8000")).await;
    assert_eq!(status, 200);
    assert_eq!(acc["Name"], "Omzet hoog");
    let (status, body) = api.get(&format!("/accounts/{fy}/9999")).await;
    assert_eq!(status, 404);
    assert_error(&body, 3002, "9999");

    let (status, created) = api.post("/accounts", &json!({"Name": "Omzet cadeaubonnen", "Number": "8200", "FiscalYearId": fy, "IsActive": true})).await;
    assert_eq!(status, 201, "{created}");
    let (status, body) = api
        .post(
            "/accounts",
            &json!({"Name": "Dubbel", "Number": "8200", "FiscalYearId": fy, "IsActive": true}),
        )
        .await;
    assert_eq!(status, 409);
    assert_error(&body, 4000, "8200");

    let voucher = json!({"VoucherDate": "2025-04-01", "VoucherText": "Kasverkoop",
        "Rows": [{"AccountNumber": 1000, "DebitAmount": 121.0}, {"AccountNumber": 8000, "CreditAmount": 100.0},
                 {"AccountNumber": 1500, "CreditAmount": 21.0}]});
    let (status, v) = api.post("/vouchers", &voucher).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["NumberAndNumberSeries"], "A1");
    assert_eq!(v["Rows"][1]["AccountDescription"], "Omzet hoog");
    let mut unbalanced = voucher.clone();
    unbalanced["Rows"][2]["CreditAmount"] = json!(20.99);
    let (status, body) = api.post("/vouchers", &unbalanced).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "not balanced");
    let mut unknown = voucher.clone();
    unknown["Rows"][0]["AccountNumber"] = json!(1234);
    let (status, body) = api.post("/vouchers", &unknown).await;
    assert_eq!(status, 400);
    assert_error(&body, 3002, "1234");
    let mut no_year = voucher.clone();
    no_year["VoucherDate"] = json!("2030-01-01");
    assert_error(&api.post("/vouchers", &no_year).await.1, 3001, "2030");
    let (_, in_year) = api.get(&format!("/vouchers/{fy}")).await;
    assert_eq!(in_year["Meta"]["TotalNumberOfResults"], 1);
    let read_only_sales = Api::new(&emu, "ea:api ea:sales");
    assert_eq!(read_only_sales.post("/vouchers", &voucher).await.0, 403);
}

// ---------------------------------------------------------------------------
// Rate limits and faults

#[tokio::test]
async fn quota_exceeded_is_429_with_4010_and_retry_seconds() {
    let emu = start(EaccountingConfig {
        rate_limit_per_minute: 5,
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&emu, ALL);
    // Start at the top of a minute so the burst cannot straddle two windows.
    let into = emu.limits().now().as_secs() % 60;
    emu.advance(Duration::from_secs(60 - into));
    for _ in 0..5 {
        assert_eq!(api.get("/customers").await.0, 200);
    }
    let (status, body) = api.get("/customers").await;
    assert_eq!(status, 429);
    assert_error(
        &body,
        4010,
        "API calls quota exceeded! maximum admitted 5 per Minute. Try again in ",
    );
    let msg = body["DeveloperErrorMessage"].as_str().unwrap();
    let secs: u64 = msg
        .rsplit("Try again in ")
        .next()
        .unwrap()
        .trim_end_matches(" seconds.")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{msg}");
    // Per endpoint: another endpoint still has its own quota.
    assert_eq!(api.get("/articles").await.0, 200);
    emu.advance(Duration::from_secs(secs));
    assert_eq!(api.get("/customers").await.0, 200);
    assert_eq!(emu.limits().rejected(), 1);
}

#[tokio::test]
async fn injected_faults_behave_like_the_service() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;

    emu.faults().push(
        Matcher::new(Method::GET, "/customers"),
        Fault::RateLimited,
        1,
    );
    let (status, body) = api.get("/customers").await;
    assert_eq!(status, 429);
    assert_error(
        &body,
        4010,
        "API calls quota exceeded! maximum admitted 600 per Minute. Try again in",
    );
    assert_eq!(
        api.get("/customers").await.0,
        200,
        "one-shot rule is consumed"
    );

    emu.faults()
        .push(Matcher::any(), Fault::ServerError(503), 1);
    let (status, body) = api.get("/articles").await;
    assert_eq!(status, 503);
    assert!(
        body["ErrorCode"].is_number() && body["ErrorId"].is_string(),
        "{body}"
    );

    emu.faults()
        .push(Matcher::any(), Fault::Slow(Duration::from_millis(300)), 1);
    let started = Instant::now();
    assert_eq!(api.get("/units").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The write is applied, but the client never sees the answer.
    emu.faults()
        .push_on_writes(Fault::DropResponseAfterWrite, 1);
    let sent = api
        .http
        .post(format!("{}/customers", api.base))
        .bearer_auth(&api.token)
        .json(&customer(&refs, "Verloren Antwoord BV"))
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a transport error");
    let (_, found) = api
        .query(
            "/customers",
            &[("$filter", "Name eq 'Verloren Antwoord BV'")],
        )
        .await;
    assert_eq!(found["Meta"]["TotalNumberOfResults"], 1);
    assert_eq!(emu.faults().injected(), 4);
    assert_eq!(emu.request_count("POST", "/customers"), 1);
    assert_eq!(emu.request_count("GET", "/customers"), 3);
}

#[tokio::test]
async fn seed_loading_is_validated_and_state_is_observable() {
    let emu = emulator().await;
    let bad = json!({"customers": [{"Name": "no terms"}]}).to_string();
    let err = emu.load_seed(&bad).unwrap_err();
    assert!(
        err.contains("customers[0]") && err.contains("TermsOfPaymentId"),
        "{err}"
    );
    assert!(emu
        .load_seed(r#"{"klanten": []}"#)
        .unwrap_err()
        .contains("unknown collection"));
    let terms = emu.collection("termsofpayments")[0]["Id"].clone();
    let id = uuid::Uuid::new_v4().to_string();
    emu.load_seed(
        &json!({"customers": [{"Id": id, "Name": "Seeded", "CustomerNumber": "K-1", "IsPrivatePerson": true,
            "IsActive": true, "TermsOfPaymentId": terms, "InvoicePostalCode": "1234 AB", "InvoiceCity": "Utrecht"}]})
        .to_string(),
    )
    .unwrap();
    let state = emu.state();
    assert_eq!(state["customers"][0]["Id"], json!(id));
    assert_eq!(state["CompanySettings"]["CurrencyCode"], "EUR");
    let api = Api::new(&emu, ALL);
    assert_eq!(
        api.get(&format!("/customers/{id}")).await.1["CustomerNumber"],
        "K-1"
    );
}

#[test]
fn start_blocking_serves_without_an_async_caller() {
    use std::io::{Read, Write};
    let emu = start_blocking(EaccountingConfig::default()).unwrap();
    let mut stream = std::net::TcpStream::connect(emu.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /v2/customers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.contains("\"ErrorCode\":4005"));
    drop(emu);
}

#[tokio::test]
async fn hostile_input_is_a_clean_400_not_a_crash() {
    let emu = emulator().await;
    let api = Api::new(&emu, ALL);
    let refs = refs(&api).await;
    let mut c = customer(&refs, "Unicode BV");
    c["VatNumber"] = json!("ÅÅ1234567890");
    assert_error(&api.post("/customers", &c).await.1, 2000, "VatNumber");
    let (_, cust) = api.post("/customers", &customer(&refs, "Groot BV")).await;
    let (_, art) = api
        .post("/articles", &article(&refs, "BIG", 9_999_999.0))
        .await;
    let huge: Value = serde_json::from_str(&format!(
        r#"{{"CustomerId":"{}","EuThirdParty":false,"RotReducedInvoicingType":0,"InvoiceDate":"9999-12-31",
            "Rows":[{{"ArticleId":"{}","IsTextRow":false,"Quantity":79228162514264337593543950.33,
                      "ReversedConstructionServicesVatFree":false}}]}}"#,
        cust["Id"].as_str().unwrap(),
        art["Id"].as_str().unwrap()
    ))
    .unwrap();
    let (status, body) = api.post("/customerinvoicedrafts", &huge).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "out of range");
    let mut eu = huge.clone();
    eu["Rows"][0]["Quantity"] = json!(1);
    eu["EuThirdParty"] = json!(true);
    assert_error(
        &api.post("/customerinvoicedrafts", &eu).await.1,
        2000,
        "EuThirdParty",
    );
    // Far-future dates cannot overflow the due-date arithmetic.
    eu["EuThirdParty"] = json!(false);
    let (status, body) = api.post("/customerinvoicedrafts", &eu).await;
    assert_eq!(status, 400);
    assert_error(&body, 2000, "DueDate");
    for path in [
        "/customers/not-a-guid",
        "/customers?$filter=%27",
        "/customers?$orderby=Name%20up",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["ErrorCode"], 2000);
    }
    let r = api
        .http
        .post(format!("{}/customers", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (status, body) = api.call(Method::GET, "/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["ErrorCode"], 3000);
}
