//! The catalog flows end to end (`flows/ccvshop-eaccounting/customers.flow`,
//! `products.flow`, `products-to-ccvshop.flow`, `stock.flow`), over real
//! loopback HTTP against both emulators: one test per promise of issue 9,
//! each asserting what both services hold afterwards, that a rerun writes
//! nothing, and printing the API calls per record of each run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use flowc::check::Checked;
use flowc::engine::{Connections, Engine, Options, Report};
use flowc::state::{ActivityFilter, Decision, SqliteStore, Store};
use flowc_emulators::ccvshop::seed::SeedData;
use flowc_emulators::ccvshop::{self, CcvShopConfig, CcvShopEmulator, SeedSource};
use flowc_emulators::eaccounting::{self, BlockingEaccountingEmulator, EaccountingConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const FLOWS: &str = "flows/ccvshop-eaccounting";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Both emulators, and one state folder for every run of every flow.
struct Services {
    shop: CcvShopEmulator,
    books: BlockingEaccountingEmulator,
    refresh_token: String,
    state: tempfile::TempDir,
    /// Where the flows are read from (a copy when a test changes settings).
    flows: PathBuf,
}

impl Services {
    fn start(shop: SeedData) -> Services {
        let shop = ccvshop::start_blocking(CcvShopConfig {
            data: SeedSource::Custom(shop),
            deliver_webhooks: false,
            ..CcvShopConfig::default()
        })
        .expect("CCV Shop emulator");
        let books = eaccounting::start_blocking(EaccountingConfig::default())
            .expect("eAccounting emulator");
        let refresh_token = books.refresh_token(eaccounting::DEFAULT_SCOPE);
        Services {
            shop,
            books,
            refresh_token,
            state: tempfile::tempdir().unwrap(),
            flows: repo().join(FLOWS),
        }
    }

    /// Runs `flow` of `file` once, as `flowc run` does (connections opened
    /// from the environment `flowc sandbox` sets, state in the state folder).
    fn run(&self, file: &str, flow: &str) -> Report {
        let checked = check(&self.flows.join(file));
        let env = self.env();
        let lookup = |k: &str| env.get(k).cloned();
        let mut connections = Connections::default();
        for (i, c) in checked.program.connections.iter().enumerate() {
            let opened = flowc::connectors::open(c, &checked.program, self.state.path(), &lookup)
                .expect("connection");
            connections.by_index.insert(i, Arc::from(opened));
        }
        let store = self.store();
        let flow = checked.program.flow(flow).expect("the flow");
        let report = Engine::new(
            &checked.program,
            flow,
            &store,
            connections,
            Options::default(),
        )
        .run("e2e")
        .expect("the run");
        assert_eq!(report.failed, 0, "{:#?}", report.failures);
        report
    }

    fn env(&self) -> HashMap<String, String> {
        let b = &self.books;
        [
            ("CCVSHOP_URL", self.shop.base_url().to_string()),
            ("CCVSHOP_PUBLIC_KEY", self.shop.public_key().to_string()),
            ("CCVSHOP_SECRET_KEY", self.shop.secret_key().to_string()),
            ("EACCOUNTING_API_URL", b.api_url()),
            ("EACCOUNTING_IDENTITY_URL", b.identity_url()),
            ("EACCOUNTING_CLIENT_ID", b.client_id().to_string()),
            ("EACCOUNTING_CLIENT_SECRET", b.client_secret().to_string()),
            ("EACCOUNTING_REFRESH_TOKEN", self.refresh_token.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.state.path()).unwrap()
    }

    /// Writes to either service since `before` (CCV counts, eAccounting counts).
    fn writes_since(&self, before: &Counts) -> BTreeMap<String, u64> {
        let now = Counts::of(self);
        now.0
            .iter()
            .chain(now.1.iter())
            .filter(|(k, _)| !k.starts_with("GET") && !k.contains("/connect/"))
            .map(|(k, v)| {
                let was = before.0.get(k).or(before.1.get(k)).copied().unwrap_or(0);
                (k.clone(), v - was)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Why each skipped record of `flow` was skipped, by source key.
    fn skip_reasons(&self, flow: &str) -> BTreeMap<String, String> {
        let rows = self
            .store()
            .activity(&ActivityFilter {
                flow: Some(flow.to_string()),
                ..ActivityFilter::default()
            })
            .unwrap();
        rows.into_iter()
            .filter(|r| r.decision == Decision::Skip)
            .map(|r| (r.source_key, r.error.unwrap_or_default()))
            .collect()
    }

    /// Changes a setting in a copy of the flows folder the next runs use.
    fn set(&mut self, setting: &str, value: &str) {
        if self.flows == repo().join(FLOWS) {
            let copy = self.state.path().join("flows");
            std::fs::create_dir_all(&copy).unwrap();
            for entry in std::fs::read_dir(repo().join(FLOWS)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
            }
            self.flows = copy;
        }
        let path = self.flows.join("settings.flow");
        let text = std::fs::read_to_string(&path).unwrap();
        let prefix = format!("let {setting} = ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no setting {setting}"))
            .to_string();
        std::fs::write(&path, text.replace(&line, &format!("{prefix}{value}"))).unwrap();
    }
}

/// Calls per `METHOD /template` of both services.
struct Counts(BTreeMap<String, u64>, BTreeMap<String, u64>);

impl Counts {
    fn of(s: &Services) -> Counts {
        Counts(s.shop.request_counts(), s.books.request_counts())
    }
}

fn check(path: &Path) -> Checked {
    let checked = flowc::check::check_path(path).unwrap();
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    checked
}

fn summary(what: &str, r: &Report) -> String {
    format!(
        "{what}: read {}, created {}, updated {}, unchanged {}, skipped {}, {} calls ({:.2} per record)",
        r.read,
        r.created,
        r.updated,
        r.unchanged,
        r.skipped,
        r.calls.total,
        r.calls_per_record()
    )
}

fn text(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The records of an eAccounting collection by one field, each key once.
fn by(emu: &BlockingEaccountingEmulator, collection: &str, field: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for v in emu.collection(collection) {
        let key = text(&v, field);
        assert!(
            out.insert(key.clone(), v).is_none(),
            "two {collection} with {field} {key}"
        );
    }
    out
}

fn dec(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap()
}

// ---------------------------------------------------------------- customers

fn user(id: i64, email: &str, status: bool, approval: &str, billing: Value, extra: Value) -> Value {
    let mut info = json!({"email": email, "billingaddress": billing});
    if let (Some(info), Some(extra)) = (info.as_object_mut(), extra.as_object()) {
        info.extend(extra.clone());
    }
    json!({
        "id": id, "username": email, "group_id": null, "status": status,
        "approval_status": approval, "createdate": "2024-01-01T00:00:00Z", "userinfo": info
    })
}

fn shop_with_users(users: Vec<Value>) -> SeedData {
    let mut data = SeedData::base().unwrap();
    data.users = serde_json::from_value(Value::Array(users)).unwrap();
    data
}

#[test]
fn customers_one_per_address_companies_with_contact_and_only_changes_written() {
    let jan = json!({"first_name": "Jan", "last_name": "de Vries", "full_name": "Jan de Vries",
        "street": "Keizersgracht", "housenumber": 123, "housenumber_suffix": "A",
        "zipcode": "1015 CJ", "city": "Amsterdam", "country_code": "NL"});
    let els = json!({"full_name": "Els Peeters", "company": "Fietsen B.V.", "address_line_1": "Meir 42",
        "zipcode": "2000", "city": "Antwerpen", "country_code": "BE", "telephone": "+32 3 123 45 67"});
    let svc = Services::start(shop_with_users(vec![
        user(
            1,
            "jan@example.nl",
            true,
            "accepted",
            jan.clone(),
            json!({}),
        ),
        user(
            2,
            "Inkoop@Fietsen.BE",
            true,
            "accepted",
            els,
            json!({"btw": "be 0123.456.749"}),
        ),
        user(
            3,
            "wacht@example.nl",
            true,
            "pending",
            json!({"full_name": "Wacht Even"}),
            json!({}),
        ),
        user(
            4,
            "weg@example.nl",
            false,
            "accepted",
            json!({"full_name": "Oud Klant", "city": "Breda"}),
            json!({}),
        ),
    ]));
    // The accountant keeps Jan under another case, with a number, a note,
    // a discount and terms of her own: all of it must survive.
    let fourteen_days = "edd4f555-8f83-5e6e-9334-b20692b77e9f";
    svc.books
        .load_seed(
            &json!({"customers": [{
                "Id": "0b6f2f1e-5d4c-4b3a-9a8b-7c6d5e4f3a2b", "CustomerNumber": "K-77",
                "EmailAddress": "Jan@Example.NL", "Name": "J. de Vries", "IsPrivatePerson": true,
                "IsActive": true, "InvoicePostalCode": "1000 AA", "InvoiceCity": "Amsterdam",
                "TermsOfPaymentId": fourteen_days, "Note": "Belt altijd eerst", "DiscountPercentage": 0.1
            }]})
            .to_string(),
        )
        .unwrap();

    let first = svc.run("customers.flow", "customers");
    println!("{}", summary("customers, first run", &first));
    let customers = by(&svc.books, "customers", "EmailAddress");
    assert_eq!(
        customers.keys().collect::<Vec<_>>(),
        ["inkoop@fietsen.be", "jan@example.nl", "weg@example.nl"],
        "one customer per address; the pending user is skipped"
    );
    let jan_c = &customers["jan@example.nl"];
    assert_eq!(
        text(jan_c, "Id"),
        "0b6f2f1e-5d4c-4b3a-9a8b-7c6d5e4f3a2b",
        "reused, not duplicated"
    );
    assert_eq!(text(jan_c, "CustomerNumber"), "K-77");
    assert_eq!(text(jan_c, "Note"), "Belt altijd eerst");
    assert_eq!(dec(&jan_c["DiscountPercentage"]), Decimal::new(1, 1));
    assert_eq!(text(jan_c, "TermsOfPaymentId"), fourteen_days);
    assert_eq!(text(jan_c, "Name"), "Jan de Vries");
    assert_eq!(text(jan_c, "InvoiceAddress1"), "Keizersgracht 123A");
    assert_eq!(jan_c["IsPrivatePerson"], json!(true));
    let company = &customers["inkoop@fietsen.be"];
    assert_eq!(company["IsPrivatePerson"], json!(false));
    assert_eq!(text(company, "Name"), "Fietsen B.V.");
    assert_eq!(text(company, "ContactPersonName"), "Els Peeters");
    assert_eq!(text(company, "VatNumber"), "BE0123456749");
    assert_eq!(text(company, "InvoiceCountryCode"), "BE");
    assert_eq!(
        text(company, "TermsOfPaymentId"),
        "617692de-83e5-5d6d-b188-0ef0187a3f9f"
    );
    assert_eq!(
        customers["weg@example.nl"]["IsActive"],
        json!(false),
        "disabled → inactive"
    );
    assert_eq!(
        svc.skip_reasons("customers").get("3").map(String::as_str),
        Some("user 3 is waiting for approval, and the settings skip such users")
    );

    let before = Counts::of(&svc);
    let rerun = svc.run("customers.flow", "customers");
    println!("{}", summary("customers, rerun", &rerun));
    assert_eq!(
        svc.writes_since(&before),
        BTreeMap::new(),
        "a rerun writes nothing"
    );
    assert_eq!((rerun.created, rerun.updated), (0, 0));

    // Jan moves; a new user registers. Only those two are written.
    svc.shop.with_store(|s| {
        let info = &mut s.users.get_mut(&1).unwrap().userinfo;
        info["billingaddress"]["city"] = json!("Utrecht");
        info["billingaddress"]["zipcode"] = json!("3511 AB");
        s.users.insert(
            5,
            serde_json::from_value(user(
                5,
                "nieuw@example.nl",
                true,
                "accepted",
                json!({"full_name": "Nieuwe Klant", "zipcode": "9711 AA", "city": "Groningen"}),
                json!({}),
            ))
            .unwrap(),
        );
    });
    let before = Counts::of(&svc);
    let changed = svc.run("customers.flow", "customers");
    println!(
        "{}",
        summary("customers, after a move and a new user", &changed)
    );
    assert_eq!(
        svc.writes_since(&before),
        BTreeMap::from([
            ("POST /v2/customers".to_string(), 1),
            ("PUT /v2/customers/{id}".to_string(), 1)
        ])
    );
    let customers = by(&svc.books, "customers", "EmailAddress");
    let jan_c = &customers["jan@example.nl"];
    assert_eq!(
        (text(jan_c, "InvoiceCity"), text(jan_c, "InvoicePostalCode")),
        ("Utrecht".into(), "3511 AB".into())
    );
    assert_eq!(
        text(jan_c, "Note"),
        "Belt altijd eerst",
        "the accountant's note survives a second PUT"
    );
    assert_eq!(text(jan_c, "CustomerNumber"), "K-77");
    assert!(customers.contains_key("nieuw@example.nl"));
    let _ = Utc::now();
}
