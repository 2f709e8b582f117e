//! What the end-to-end tests share: both emulators with a generated shop,
//! connections to them as the CLI opens them or with fast retries, the
//! flagship flow, and what eAccounting holds by business key (every key
//! asserted unique: a duplicate customer, article or draft fails the test).
#![allow(dead_code)]
// Connector callbacks return the connectors' error type as it is.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use flowc::check::Checked;
use flowc::connectors::ccvshop::signing::Credentials;
use flowc::connectors::ccvshop::{CcvShopClientConfig, CcvShopConnector, ClientLimits};
use flowc::connectors::eaccounting::{ConnectorConfig, EaccountingConnector, OAuthClient};
use flowc::connectors::http::RetryPolicy;
use flowc::connectors::settings::Secret;
use flowc::connectors::Connector;
use flowc::engine::{Connections, Engine, EngineError, Options, Report};
use flowc::state::SqliteStore;
use flowc_emulators::ccvshop::{self, CcvShopConfig, CcvShopEmulator, RateLimitConfig, SeedSource};
use flowc_emulators::eaccounting::{self, BlockingEaccountingEmulator, EaccountingConfig};
use flowc_emulators::faults::Chaos;
use rust_decimal::Decimal;
use serde_json::Value;

pub const FLOW: &str = "flows/ccvshop-eaccounting/orders.flow";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Both emulators, a generated shop and a fresh state folder.
pub struct Services {
    pub shop: CcvShopEmulator,
    pub books: BlockingEaccountingEmulator,
    pub refresh_token: String,
    pub state: tempfile::TempDir,
}

impl Services {
    /// `limits`: the services' real per-minute limits (off for the chaos
    /// runs, whose many reruns would otherwise wait out minute windows).
    pub fn start(orders: usize, products: usize, seed: u64, limits: bool) -> Services {
        let data = SeedSource::Generated {
            orders,
            products,
            seed,
        };
        Services::start_with(data, limits)
    }

    /// Both emulators, the shop holding `data`.
    pub fn start_with(data: SeedSource, limits: bool) -> Services {
        Services::start_shop(data, limits, false)
    }

    /// Both emulators, the shop holding `data` and delivering the webhooks
    /// registered in it (to loopback addresses only).
    pub fn start_delivering(data: SeedSource) -> Services {
        Services::start_shop(data, false, true)
    }

    fn start_shop(data: SeedSource, limits: bool, deliver_webhooks: bool) -> Services {
        let shop = ccvshop::start_blocking(CcvShopConfig {
            data,
            limits: RateLimitConfig {
                enabled: limits,
                ..RateLimitConfig::default()
            },
            deliver_webhooks,
            ..CcvShopConfig::default()
        })
        .expect("CCV Shop emulator");
        let books = eaccounting::start_blocking(EaccountingConfig {
            rate_limit_per_minute: if limits { 600 } else { 1_000_000 },
            ..EaccountingConfig::default()
        })
        .expect("eAccounting emulator");
        let refresh_token = books.refresh_token(eaccounting::DEFAULT_SCOPE);
        Services {
            shop,
            books,
            refresh_token,
            state: tempfile::tempdir().unwrap(),
        }
    }

    pub fn state(&self) -> &Path {
        self.state.path()
    }

    /// What `flowc sandbox` sets: both services, their credentials, the state.
    pub fn env(&self) -> HashMap<String, String> {
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
            ("FLOWC_STATE", self.state().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The real binary, run from the repository root against these services.
    pub fn flowc(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flowc"));
        c.args(args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env_remove("FLOWC_CRASH_AFTER_WRITES")
            .envs(self.env());
        c.output().expect("flowc runs")
    }

    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(self.state()).unwrap()
    }

    /// Connections as the CLI opens them (`connectors::open` with the env
    /// and the state folder).
    pub fn cli_connections(&self, program: &flowc::program::Program) -> Connections {
        let env = self.env();
        let lookup = |k: &str| env.get(k).cloned();
        let mut connections = Connections::default();
        for (i, c) in program.connections.iter().enumerate() {
            let opened = flowc::connectors::open(c, program, self.state(), &lookup).unwrap();
            connections.by_index.insert(i, Arc::from(opened));
        }
        connections
    }

    /// The same connectors, but retries sleep at most a few milliseconds and
    /// the client-side rate budgets are out of the way: injected 429s would
    /// otherwise make every retry wait for the next minute.
    pub fn fast_connections(&self, program: &flowc::program::Program) -> Connections {
        let retry = RetryPolicy {
            sleep: Arc::new(|d: Duration| std::thread::sleep(d.min(Duration::from_millis(5)))),
            ..RetryPolicy::default()
        };
        let mut connections = Connections::default();
        for (i, c) in program.connections.iter().enumerate() {
            let opened: Arc<dyn Connector> = match &*c.connector {
                "ccvshop" => {
                    let credentials =
                        Credentials::new(self.shop.public_key(), self.shop.secret_key());
                    let mut config = CcvShopClientConfig::new(self.shop.base_url(), credentials);
                    config.retry = retry.clone();
                    config.limits = ClientLimits {
                        get_per_minute: 1_000_000,
                        write_per_minute: 1_000_000,
                        productqueries_per_minute: 1_000_000,
                    };
                    Arc::new(CcvShopConnector::new(config))
                }
                "eaccounting" => {
                    let oauth = OAuthClient {
                        identity_url: self.books.identity_url(),
                        client_id: self.books.client_id().to_string(),
                        client_secret: Secret::new(self.books.client_secret()),
                    };
                    let mut config =
                        ConnectorConfig::new(&self.books.api_url(), oauth, self.state());
                    config.refresh_token = Some(Secret::new(self.refresh_token.clone()));
                    config.retry = retry.clone();
                    config.rate_limit_per_minute = 1_000_000;
                    Arc::new(EaccountingConnector::new(config).unwrap())
                }
                other => panic!("unexpected connector {other}"),
            };
            connections.by_index.insert(i, opened);
        }
        connections
    }

    /// Signs in (rotating the refresh token once) before faults are switched
    /// on: a response lost after the identity server rotated the token cannot
    /// be recovered by any client (see `connectors/eaccounting/tokens.rs`).
    pub fn sign_in(&self, program: &flowc::program::Program) {
        let connections = self.fast_connections(program);
        for c in connections.by_index.values() {
            if c.kind() == "eaccounting" {
                c.get("customers", "00000000-0000-0000-0000-000000000001")
                    .unwrap();
            }
        }
    }

    pub fn chaos(&self, seed: u64) {
        self.chaos_with(seed, true);
    }

    /// Random faults on every endpoint of both services, 429s only when
    /// `rate_limited` (a `flowc` process really waits them out, to the next
    /// minute).
    pub fn chaos_with(&self, seed: u64, rate_limited: bool) {
        let limited = |per_mille| if rate_limited { per_mille } else { 0 };
        self.books.faults().set_chaos(Some(Chaos {
            seed,
            rate_limited_per_mille: limited(60),
            server_error_per_mille: 80,
            slow_per_mille: 40,
            slow_by: Duration::from_millis(100),
            drop_after_write_per_mille: 150,
        }));
        self.shop.faults().set_chaos(Some(Chaos {
            seed: seed.wrapping_mul(31).wrapping_add(7),
            rate_limited_per_mille: limited(50),
            server_error_per_mille: 60,
            slow_per_mille: 40,
            slow_by: Duration::from_millis(100),
            drop_after_write_per_mille: 0,
        }));
    }

    pub fn injected(&self) -> (u64, u64) {
        (
            self.shop.faults().injected(),
            self.books.faults().injected(),
        )
    }
}

pub fn flagship() -> Checked {
    checked(&repo().join(FLOW))
}

pub fn run_engine(
    checked: &Checked,
    store: &SqliteStore,
    connections: Connections,
    options: Options,
) -> Result<Report, Box<EngineError>> {
    run_named(checked, "orders", store, connections, options)
}

/// Runs the flow called `name` of `checked`.
pub fn run_named(
    checked: &Checked,
    name: &str,
    store: &SqliteStore,
    connections: Connections,
    options: Options,
) -> Result<Report, Box<EngineError>> {
    let flow = checked.program.flow(name).unwrap();
    Engine::new(&checked.program, flow, store, connections, options)
        .run("e2e")
        .map_err(Box::new)
}

/// A variant of the flagship flow in `dir` (with the settings beside it):
/// the flow renamed, its drafts referenced `{prefix}-…` instead of `CCV-…`,
/// and read from `source` (a `file("…")` endpoint) instead of the shop
/// when given. Two variants share customers and articles, not drafts.
pub fn flow_variant(
    dir: &Path,
    name: &str,
    prefix: &str,
    source: Option<&str>,
) -> std::path::PathBuf {
    let flows = repo().join("flows/ccvshop-eaccounting");
    let mut text = std::fs::read_to_string(flows.join("orders.flow")).unwrap();
    for (from, to) in [
        ("flow orders when".to_string(), format!("flow {name} when")),
        ("key \"CCV-{".to_string(), format!("key \"{prefix}-{{")),
    ] {
        assert!(text.contains(&from), "orders.flow has no `{from}`");
        text = text.replace(&from, &to);
    }
    if let Some(source) = source {
        text = text.replace(
            "source ccvshop.orders",
            &format!("source {source} as ccvshop.orders"),
        );
    }
    std::fs::copy(flows.join("settings.flow"), dir.join("settings.flow")).unwrap();
    let path = dir.join(format!("{name}.flow"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Checks a flow file, asserting it has no errors.
pub fn checked(path: &Path) -> Checked {
    clean(flowc::check::check_path(path).unwrap())
}

/// `checked`, asserting it has no errors.
pub fn clean(checked: Checked) -> Checked {
    let errors = errors(&checked);
    assert!(errors.is_empty(), "{errors:?}");
    checked
}

/// The messages of the errors found.
pub fn errors(checked: &Checked) -> Vec<String> {
    checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect()
}

/// The shop's orders as the CCV Shop connector reads them (rows embedded),
/// one JSON text each: what an export file of them holds.
pub fn shop_orders(svc: &Services) -> Vec<String> {
    let credentials = Credentials::new(svc.shop.public_key(), svc.shop.secret_key());
    let connector =
        CcvShopConnector::new(CcvShopClientConfig::new(svc.shop.base_url(), credentials));
    let mut out = Vec::new();
    connector
        .list(
            "orders",
            &flowc::connectors::ListQuery::default(),
            &mut |v| {
                out.push(flowc::value::json::to_string(&v));
                Ok(true)
            },
        )
        .unwrap();
    out
}

/// YourReference of every draft eAccounting holds (each asserted unique by [`books`]).
pub fn references(books: &Books, prefix: &str) -> BTreeSet<String> {
    books
        .drafts
        .keys()
        .filter(|k| k.starts_with(&format!("{prefix}-")))
        .cloned()
        .collect()
}

/// Requests per `METHOD /template` that happened between two snapshots.
pub fn delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

pub fn text(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A draft row: article number, quantity, unit price.
pub type Row = (String, String, String);
/// A draft: customer e-mail, sum of the row totals, rows.
pub type Draft = (String, String, Vec<Row>);

/// What eAccounting holds, by business key, with every key asserted unique.
#[derive(Debug, PartialEq)]
pub struct Books {
    /// YourReference → (customer e-mail, sum of the row totals, rows as
    /// (article number, quantity, unit price)). VAT is left out: the flow
    /// sets an article's VAT coding from each order row, so orders with and
    /// without VAT on one product leave the article (and the VAT of the
    /// drafts) in a state that depends on the order in which concurrent
    /// records were written, with or without faults.
    pub drafts: BTreeMap<String, Draft>,
    pub customers: BTreeSet<String>,
    pub articles: BTreeSet<String>,
}

pub fn books(emu: &BlockingEaccountingEmulator) -> Books {
    pub fn unique(items: &[Value], field: &str, what: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for v in items {
            let key = text(v, field);
            assert!(
                out.insert(key.clone(), v.clone()).is_none(),
                "duplicate {what} with {field} = {key}"
            );
        }
        out
    }
    let customers = unique(&emu.collection("customers"), "EmailAddress", "customer");
    let articles = unique(&emu.collection("articles"), "Number", "article");
    let drafts = unique(
        &emu.collection("customerinvoicedrafts"),
        "YourReference",
        "invoice draft",
    );
    let email_of: HashMap<String, String> = customers
        .iter()
        .map(|(email, c)| (text(c, "Id"), email.clone()))
        .collect();
    let number_of: HashMap<String, String> = articles
        .iter()
        .map(|(number, a)| (text(a, "Id"), number.clone()))
        .collect();
    let drafts = drafts
        .into_iter()
        .map(|(reference, d)| {
            let rows = d["Rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        number_of
                            .get(&text(r, "ArticleId"))
                            .cloned()
                            .unwrap_or_else(|| panic!("{reference}: row without known article")),
                        text(r, "Quantity"),
                        text(r, "UnitPrice"),
                    )
                })
                .collect::<Vec<_>>();
            let customer = email_of
                .get(&text(&d, "CustomerId"))
                .cloned()
                .unwrap_or_else(|| panic!("{reference}: draft without known customer"));
            let total: Decimal = rows
                .iter()
                .map(|(_, q, p): &Row| {
                    q.parse::<Decimal>().unwrap() * p.parse::<Decimal>().unwrap()
                })
                .sum();
            (reference, (customer, total.normalize().to_string(), rows))
        })
        .collect();
    Books {
        drafts,
        customers: customers.into_keys().collect(),
        articles: articles.into_keys().collect(),
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json_of(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", stdout(out), stderr(out)))
}

/// The books a fault-free in-process run leaves for this shop.
pub fn reference_books(orders: usize, products: usize, seed: u64) -> Books {
    let svc = Services::start(orders, products, seed, false);
    let checked = flagship();
    let report = run_engine(
        &checked,
        &svc.store(),
        svc.cli_connections(&checked.program),
        Options::default(),
    )
    .unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    books(&svc.books)
}

pub fn writes(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(k, _)| k.starts_with("POST /v2") || k.starts_with("PUT /v2"))
        .map(|(_, v)| v)
        .sum()
}

/// Serves `router` on a free loopback port from its own thread, for the
/// rest of the test process; returns the address.
pub fn serve_on_loopback(router: axum::Router) -> std::net::SocketAddr {
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
