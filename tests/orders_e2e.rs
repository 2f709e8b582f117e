//! The shipped orders flow end to end, against both emulators holding the
//! demo shop (`flowc_emulators::ccvshop::demo`: one order for each case the
//! flow handles) and the demo company: every document type, every order's
//! document total equal to the CCV `total_price` to the cent, the same files
//! against another company, settings that name nothing, late payment, the
//! default debtor, articles that must exist, customers by e-mail, and a
//! second run that writes nothing.

// Connector callbacks return the connectors' error type as it is.
#![allow(clippy::result_large_err)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowc::check::Checked;
use flowc::engine::{Connections, Engine, EngineError, Options, Report};
use flowc::state::{SqliteStore, Store};
use flowc_emulators::ccvshop::{self, CcvShopConfig, CcvShopEmulator, SeedSource};
use flowc_emulators::eaccounting::{self, BlockingEaccountingEmulator, EaccountingConfig};
use rust_decimal::Decimal;
use serde_json::Value;

/// Both emulators, the shipped flows (with some settings changed) and a state folder.
struct Demo {
    shop: CcvShopEmulator,
    books: BlockingEaccountingEmulator,
    refresh_token: String,
    dir: tempfile::TempDir,
}

/// The eAccounting collection each document type is written to, and the
/// field holding its total in the document's currency.
const DOCUMENTS: &[(&str, &str, &str)] = &[
    ("invoice_draft", "customerinvoicedrafts", "TotalAmount"),
    ("invoice", "customerinvoices", "TotalAmountInvoiceCurrency"),
    ("order", "orders", "Amount"),
    ("quote", "quotes", "TotalAmount"),
    ("voucher", "vouchers", ""),
];

impl Demo {
    /// `settings`: `let` lines of settings.flow replaced (`("document_type", "\"order\"")`).
    fn start(settings: &[(&str, &str)]) -> Demo {
        Demo::with_company(settings, eaccounting::DEMO_SEED.to_string())
    }

    fn with_company(settings: &[(&str, &str)], seed: String) -> Demo {
        let shop = ccvshop::start_blocking(CcvShopConfig {
            data: SeedSource::Demo,
            deliver_webhooks: false,
            ..CcvShopConfig::default()
        })
        .unwrap();
        let books = eaccounting::start_blocking(EaccountingConfig {
            seed: Some(seed),
            ..EaccountingConfig::default()
        })
        .unwrap();
        let refresh_token = books.refresh_token(eaccounting::DEFAULT_SCOPE);
        let dir = tempfile::tempdir().unwrap();
        let shipped = common::repo().join("flows/ccvshop-eaccounting");
        std::fs::copy(shipped.join("orders.flow"), dir.path().join("orders.flow")).unwrap();
        let mut text = std::fs::read_to_string(shipped.join("settings.flow")).unwrap();
        for (name, value) in settings {
            text = set(&text, name, value);
        }
        std::fs::write(dir.path().join("settings.flow"), text).unwrap();
        Demo {
            shop,
            books,
            refresh_token,
            dir,
        }
    }

    fn flow_file(&self) -> PathBuf {
        self.dir.path().join("orders.flow")
    }

    fn checked(&self) -> Checked {
        common::checked(&self.flow_file())
    }

    fn state(&self) -> &Path {
        self.dir.path()
    }

    fn connections(&self, checked: &Checked) -> Connections {
        let env: BTreeMap<&str, String> = [
            ("CCVSHOP_URL", self.shop.base_url().to_string()),
            ("CCVSHOP_PUBLIC_KEY", self.shop.public_key().to_string()),
            ("CCVSHOP_SECRET_KEY", self.shop.secret_key().to_string()),
            ("EACCOUNTING_API_URL", self.books.api_url()),
            ("EACCOUNTING_IDENTITY_URL", self.books.identity_url()),
            ("EACCOUNTING_CLIENT_ID", self.books.client_id().to_string()),
            (
                "EACCOUNTING_CLIENT_SECRET",
                self.books.client_secret().to_string(),
            ),
            ("EACCOUNTING_REFRESH_TOKEN", self.refresh_token.clone()),
        ]
        .into_iter()
        .collect();
        let lookup = |k: &str| env.get(k).cloned();
        let mut connections = Connections::default();
        for (i, c) in checked.program.connections.iter().enumerate() {
            let opened =
                flowc::connectors::open(c, &checked.program, self.state(), &lookup).unwrap();
            connections.by_index.insert(i, Arc::from(opened));
        }
        connections
    }

    /// Runs the document flow the settings switch on, as `flowc run` does.
    fn run(&self) -> Result<Report, Box<EngineError>> {
        let checked = self.checked();
        let flows: Vec<_> = checked
            .program
            .flows
            .iter()
            .filter(|f| &*f.name != "write_back")
            .filter(|f| flowc::engine::flow_is_on(&checked.program, f).unwrap())
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(flows.len(), 1, "exactly one document type is on");
        self.run_flow(&flows[0])
    }

    fn run_flow(&self, name: &str) -> Result<Report, Box<EngineError>> {
        let checked = self.checked();
        let flow = checked.program.flow(name).unwrap();
        assert!(flowc::engine::flow_is_on(&checked.program, flow).unwrap());
        let store = SqliteStore::open(self.state()).unwrap();
        let engine = Engine::new(
            &checked.program,
            flow,
            &store,
            self.connections(&checked),
            Options::default(),
        );
        engine.run("e2e").map_err(Box::new)
    }

    /// The CCV orders by reference (`CCV-2004`), as the connector reads them.
    fn orders(&self) -> BTreeMap<String, Value> {
        let credentials = flowc::connectors::ccvshop::signing::Credentials::new(
            self.shop.public_key(),
            self.shop.secret_key(),
        );
        let connector = flowc::connectors::ccvshop::CcvShopConnector::new(
            flowc::connectors::ccvshop::CcvShopClientConfig::new(self.shop.base_url(), credentials),
        );
        let mut out = BTreeMap::new();
        flowc::connectors::Connector::list(
            &connector,
            "orders",
            &flowc::connectors::ListQuery::default(),
            &mut |v| {
                let o: Value = serde_json::from_str(&flowc::value::json::to_string(&v)).unwrap();
                out.insert(format!("CCV-{}", o["ordernumber"]), o);
                Ok(true)
            },
        )
        .unwrap();
        out
    }

    /// The documents of a collection by their CCV reference, each asserted unique.
    fn documents(&self, collection: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for doc in self.books.collection(collection) {
            let reference = ["YourReference", "CustomerReference", "VoucherText"]
                .iter()
                .find_map(|f| doc[*f].as_str())
                .unwrap_or_default();
            let key = reference.rsplit(' ').next().unwrap().to_string();
            assert!(
                out.insert(key.clone(), doc.clone()).is_none(),
                "two documents for {key}"
            );
        }
        out
    }

    /// Every document's total beside its order's: they must be equal.
    fn assert_totals(&self, collection: &str, total_field: &str, expected: usize) {
        let orders = self.orders();
        let documents = self.documents(collection);
        assert_eq!(documents.len(), expected, "documents in {collection}");
        for (reference, doc) in &documents {
            let total = match total_field {
                "" => voucher_debit(doc),
                f => dec(&doc[f]),
            };
            let ccv = dec(&orders[reference]["total_price"]);
            assert_eq!(total, ccv, "{collection} {reference}: {doc:#}");
        }
    }

    /// POSTs and PUTs eAccounting answered (writes), token requests aside.
    fn writes(&self) -> u64 {
        self.books
            .request_counts()
            .iter()
            .filter(|(k, _)| {
                (k.starts_with("POST") || k.starts_with("PUT")) && !k.contains("connect")
            })
            .map(|(_, v)| v)
            .sum()
    }

    fn customers(&self) -> Vec<Value> {
        self.books.collection("customers")
    }
}

/// settings.flow with `let NAME = …` set to `value`.
fn set(text: &str, name: &str, value: &str) -> String {
    let prefix = format!("let {name} = ");
    assert!(text.contains(&prefix), "settings.flow has no `{prefix}`");
    text.lines()
        .map(|l| match l.starts_with(&prefix) {
            true => format!("{prefix}{value}"),
            false => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn dec(v: &Value) -> Decimal {
    v.to_string()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {v}"))
}

fn voucher_debit(doc: &Value) -> Decimal {
    doc["Rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["AccountNumber"] == 1300)
        .map(|r| dec(&r["DebitAmount"]))
        .sum()
}

/// Orders in the demo shop that are synced: all but the unpaid and the cancelled one.
const SYNCED: usize = 13;

#[test]
fn every_document_type_adds_up_to_each_orders_total_and_a_rerun_writes_nothing() {
    for (kind, collection, total) in DOCUMENTS {
        let demo = Demo::start(&[("document_type", &format!("\"{kind}\""))]);
        let report = demo.run().unwrap();
        assert_eq!(
            (report.created, report.failed),
            (SYNCED as u64, 0),
            "{kind}: {report:?}"
        );
        demo.assert_totals(collection, total, SYNCED);
        let writes = demo.writes();
        let again = demo.run().unwrap();
        assert_eq!(
            (again.created, again.updated, again.failed),
            (0, 0, 0),
            "{kind}"
        );
        assert_eq!(demo.writes(), writes, "{kind}: the rerun wrote");
    }
}

#[test]
fn the_invoice_drafts_of_the_demo_shop_row_by_row() {
    let demo = Demo::start(&[]);
    demo.run().unwrap();
    let articles: BTreeMap<String, String> = demo
        .books
        .collection("articles")
        .iter()
        .map(|a| {
            (
                a["Id"].as_str().unwrap().to_string(),
                a["Number"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut text = String::new();
    for (reference, doc) in demo.documents("customerinvoicedrafts") {
        let vat = if doc["IncludesVat"] == true {
            "incl."
        } else {
            "excl."
        };
        text.push_str(&format!(
            "{reference} {} (prices {} VAT, {}): total {}, VAT {}\n",
            doc["CustomerName"].as_str().unwrap_or_default(),
            vat,
            doc["InvoiceCurrencyCode"].as_str().unwrap_or_default(),
            doc["TotalAmount"],
            doc["TotalVatAmount"]
        ));
        let rows = doc["Rows"].as_array().unwrap();
        for row in rows.iter().take(6) {
            let discount = dec(&row["DiscountPercentage"]);
            let article = row["ArticleId"].as_str().unwrap_or_default();
            text.push_str(&format!(
                "  {:>2} {:<16} {} × {}{}  {}\n",
                row["LineNumber"],
                articles.get(article).cloned().unwrap_or_default(),
                row["Quantity"],
                row["UnitPrice"],
                if discount.is_zero() {
                    String::new()
                } else {
                    format!(" less {discount}")
                },
                row["Text"].as_str().unwrap_or_default()
            ));
        }
        if rows.len() > 6 {
            text.push_str(&format!("  … {} rows in all\n", rows.len()));
        }
    }
    insta::assert_snapshot!(text);
}

#[test]
fn the_same_files_work_for_another_company_whose_private_customers_see_prices_without_vat() {
    // Other ids for every VAT code, term, unit and coding, and
    // ShowPricesExclVatPC: private persons' documents exclude VAT too, so
    // the flow converts the shop's prices and rounds to the cent.
    let demo = Demo::with_company(&[], eaccounting::other_company());
    let report = demo.run().unwrap();
    assert_eq!(
        (report.created, report.failed),
        (SYNCED as u64, 0),
        "{report:?}"
    );
    demo.assert_totals("customerinvoicedrafts", "TotalAmount", SYNCED);
    let drafts = demo.documents("customerinvoicedrafts");
    assert!(drafts.values().all(|d| d["IncludesVat"] == false));
    let reference = demo.books.state();
    let first_company_terms = "617692de-83e5-5d6d-b188-0ef0187a3f9f";
    assert!(!reference.to_string().contains(first_company_terms));
}

#[test]
fn settings_that_name_nothing_in_the_company_stop_the_run_before_anything_is_written() {
    let demo = Demo::start(&[
        ("article_unit", "\"stk\""),
        ("default_debtor_for", "\"private\""),
        ("default_debtor_number", "\"4711\""),
    ]);
    let err = demo.run().unwrap_err();
    let EngineError::Unresolved(d) = &*err else {
        panic!("expected E0910, got {err}")
    };
    assert_eq!(d.code.id, "E0910");
    assert!(
        d.message.contains("2 settings name nothing"),
        "{}",
        d.message
    );
    assert!(d
        .message
        .contains("eaccounting.units has no record with Code \"stk\""));
    assert!(d
        .message
        .contains("eaccounting.customers has no record with CustomerNumber \"4711\""));
    let help = d.help.clone().unwrap();
    assert!(
        help.contains("\"st\""),
        "the units that exist are listed: {help}"
    );
    assert!(help.contains("\"9000\""), "{help}");
    assert_eq!(demo.writes(), 0, "nothing was written");
}

#[test]
fn an_order_paid_a_month_after_it_was_placed_is_synced_once_it_is_paid() {
    let demo = Demo::start(&[]);
    // The demo's order 10 was placed 30 days ago; say it is not paid yet.
    demo.shop
        .with_store(|s| s.orders.get_mut(&10).unwrap().paid = false);
    let first = demo.run().unwrap();
    assert_eq!(first.created, (SYNCED - 1) as u64);
    assert!(!demo
        .documents("customerinvoicedrafts")
        .contains_key("CCV-2010"));
    demo.shop
        .with_store(|s| s.orders.get_mut(&10).unwrap().paid = true);
    let second = demo.run().unwrap();
    assert_eq!((second.created, second.failed), (1, 0), "{second:?}");
    demo.assert_totals("customerinvoicedrafts", "TotalAmount", SYNCED);
}

#[test]
fn private_persons_orders_go_to_the_default_debtor_companies_get_their_own_customer() {
    let demo = Demo::start(&[("default_debtor_for", "\"private\"")]);
    demo.run().unwrap();
    let default = demo
        .customers()
        .into_iter()
        .find(|c| c["CustomerNumber"] == "9000")
        .unwrap();
    let drafts = demo.documents("customerinvoicedrafts");
    for (reference, company) in [("CCV-2001", false), ("CCV-2004", false), ("CCV-2002", true)] {
        let on_default = drafts[reference]["CustomerId"] == default["Id"];
        assert_eq!(on_default, !company, "{reference}");
    }
    // The order's own address is on the document, not the default debtor's.
    assert_eq!(drafts["CCV-2001"]["InvoiceCity"], "Amsterdam");
    demo.assert_totals("customerinvoicedrafts", "TotalAmount", SYNCED);
    // No customer was created for a private person.
    assert!(!demo
        .customers()
        .iter()
        .any(|c| c["EmailAddress"] == "jan@example.nl"));
}

#[test]
fn with_articles_that_must_exist_an_order_with_an_unknown_sku_fails_and_says_which() {
    let demo = Demo::start(&[("missing_article", "\"fail\"")]);
    let report = demo.run().unwrap();
    // Only the orders of espresso beans (the one product article the company
    // has) and shipping (an article it has too; abroad at any rate) can be
    // written; every other order names an article it lacks.
    assert_eq!(
        (report.created, report.failed),
        (3, (SYNCED - 3) as u64),
        "{report:?}"
    );
    let written: Vec<_> = demo
        .documents("customerinvoicedrafts")
        .into_keys()
        .collect();
    assert_eq!(written, ["CCV-2006", "CCV-2008", "CCV-2010"]);
    let failure = report
        .failures
        .iter()
        .find(|(key, _)| key == "1")
        .map(|(_, d)| d.clone())
        .unwrap();
    assert_eq!(failure.code.id, "E0910");
    assert!(
        failure
            .message
            .contains("no record with Number \"ACC-100\""),
        "{}",
        failure.message
    );
    let store = SqliteStore::open(demo.state()).unwrap();
    assert_eq!(
        store.dead_letters(Some("orders")).unwrap().len(),
        SYNCED - 3
    );
}

#[test]
fn customers_are_found_by_e_mail_companies_carry_their_contact_and_valid_vat_number() {
    let demo = Demo::start(&[]);
    demo.run().unwrap();
    let customers = demo.customers();
    let by_email = |e: &str| -> Vec<&Value> {
        customers
            .iter()
            .filter(|c| {
                c["EmailAddress"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(e))
            })
            .collect()
    };
    // Ann is known as Ann@Example.com: found, not created again; her name
    // and note, edited in eAccounting, are kept.
    let ann = by_email("ann@example.com");
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0]["Name"], "Ann Smit");
    assert!(ann[0]["Note"].as_str().unwrap().starts_with("Vaste klant"));
    let peeters = by_email("inkoop@bakkerij-peeters.be")[0];
    assert_eq!(peeters["IsPrivatePerson"], false);
    assert_eq!(peeters["Name"], "Bakkerij Peeters BV");
    assert_eq!(peeters["ContactPersonName"], "Els Peeters");
    assert_eq!(peeters["ContactPersonEmail"], "inkoop@bakkerij-peeters.be");
    assert_eq!(peeters["VatNumber"], "BE0123456749");
    // "DE12345" is no German VAT number: not carried, so VAT is charged.
    let muller = by_email("einkauf@mueller-gmbh.de")[0];
    assert!(muller["VatNumber"].is_null(), "{muller:#}");
    let jan = by_email("jan@example.nl")[0];
    assert_eq!(jan["IsPrivatePerson"], true);
    assert!(jan["ContactPersonName"].is_null());
    // The dollar order's customer and document are in dollars.
    let john = by_email("john.smith@example.com")[0];
    assert_eq!(john["CurrencyCode"], "USD");
    let drafts = demo.documents("customerinvoicedrafts");
    assert_eq!(drafts["CCV-2008"]["InvoiceCurrencyCode"], "USD");
    assert_ne!(
        drafts["CCV-2008"]["TotalAmountBaseCurrency"],
        drafts["CCV-2008"]["TotalAmount"]
    );
}

#[test]
fn long_names_are_shortened_to_what_eaccounting_counts_never_split() {
    let demo = Demo::start(&[]);
    demo.run().unwrap();
    let zoe = demo
        .customers()
        .into_iter()
        .find(|c| c["EmailAddress"] == "zoe@example.nl")
        .unwrap();
    let name = zoe["Name"].as_str().unwrap();
    assert!(name.starts_with("Zoë 🌷 Marie-Louise"), "{name}");
    // eAccounting counts UTF-16 code units: the emoji is two of its 50.
    assert!(name.encode_utf16().count() <= 50, "{name}");
    assert!(name.chars().count() < 50);
    let draft = &demo.documents("customerinvoicedrafts")["CCV-2013"];
    let custom = draft["Rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Text"].as_str().unwrap().starts_with("Handgeschilderde"))
        .unwrap();
    assert!(custom["Text"].as_str().unwrap().contains("☕"));
}

#[test]
fn after_the_sync_each_order_gets_its_status_invoice_number_and_note_exactly_once() {
    let demo = Demo::start(&[
        ("document_type", "\"invoice\""),
        ("write_back_status", "7"),
        ("write_back_note", "\"Booked in eAccounting:\""),
    ]);
    // The first write-back of order 15 fails (the shop is down for it):
    // it goes to the dead letters and is sent again next run.
    demo.shop.faults().push(
        flowc_emulators::faults::Matcher::new(axum::http::Method::PATCH, "/orders/15"),
        flowc_emulators::faults::Fault::ServerError(503),
        10,
    );
    assert_eq!(demo.run().unwrap().created, SYNCED as u64);
    let first = demo.run_flow("write_back").unwrap();
    assert_eq!(
        (first.updated, first.failed),
        ((SYNCED - 1) as u64, 1),
        "{first:?}"
    );
    demo.shop.faults().clear();
    let second = demo.run_flow("write_back").unwrap();
    assert_eq!(
        (second.updated, second.unchanged, second.failed),
        (1, (SYNCED - 1) as u64, 0),
        "{second:?}"
    );
    let invoices = demo.documents("customerinvoices");
    let shop = demo.shop.state();
    for (reference, invoice) in &invoices {
        let order = shop
            .orders
            .values()
            .find(|o| format!("CCV-{}", o.ordernumber.unwrap_or_default()) == *reference)
            .unwrap();
        assert_eq!(order.status, Some(7), "{reference}");
        assert_eq!(
            order.invoicenumber,
            invoice["InvoiceNumber"].as_i64(),
            "{reference}"
        );
        assert_eq!(order.mails_sent, 0, "no e-mail unless the settings say so");
        assert_eq!(
            order.notes,
            vec![format!(
                "Booked in eAccounting: invoice {}",
                invoice["InvoiceNumber"]
            )],
            "{reference}: one note, naming the invoice"
        );
    }
    // A third run writes nothing, in the shop or in eAccounting.
    let patches = demo.shop.request_count("PATCH", "/orders/{id}");
    let third = demo.run_flow("write_back").unwrap();
    assert_eq!((third.updated, third.failed), (0, 0));
    assert_eq!(demo.shop.request_count("PATCH", "/orders/{id}"), patches);
    assert_eq!(demo.run().unwrap().created, 0, "never a second invoice");
    assert_eq!(demo.documents("customerinvoices").len(), SYNCED);
    assert!(
        demo.shop
            .state()
            .orders
            .values()
            .all(|o| o.notes.len() <= 1),
        "a note is added once"
    );
}
