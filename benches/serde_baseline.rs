//! Plain Rust baseline for the mapping benchmark: the same mapping as
//! benches/orders.flow, hand-written with serde_json (typed structs) and
//! rust_decimal, no flowc involved. Money is exact decimal, never f64.
//!
//!     cargo bench --bench serde_baseline -- IN.ndjson OUT.ndjson

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Order {
    id: u64,
    ordernumber: u64,
    status: u8,
    paid: bool,
    create_date: String,
    email: String,
    currency: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    total_price: Decimal,
    billing: Address,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Address {
    company: Option<String>,
    full_name: String,
    street: String,
    zipcode: String,
    city: String,
    country_code: String,
}

#[derive(Deserialize)]
struct Row {
    product_number: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    count: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    price: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    discount: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    tax: Decimal,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Record<'a> {
    source_id: u64,
    number: u64,
    order_date: &'a str,
    email: &'a str,
    currency: &'a str,
    customer_name: &'a str,
    street: &'a str,
    postal_code: &'a str,
    city: &'a str,
    country: &'a str,
    revenue_account: u32,
    vat_rate: u32,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    total: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    net: Decimal,
    rows: Vec<OutRow<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OutRow<'a> {
    sku: &'a str,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    quantity: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    unit_price: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    vat: Decimal,
}

fn revenue_account(country: &str) -> u32 {
    match country {
        "NL" => 8000,
        "BE" => 8010,
        "DE" => 8020,
        "FR" => 8030,
        "LU" => 8040,
        "AT" => 8050,
        "ES" => 8060,
        "IT" => 8070,
        "PT" => 8080,
        "IE" => 8090,
        "DK" => 8110,
        "SE" => 8120,
        "FI" => 8130,
        "PL" => 8140,
        "CZ" => 8150,
        "SK" => 8160,
        "HU" => 8170,
        "SI" => 8180,
        "HR" => 8190,
        "RO" => 8200,
        "BG" => 8210,
        "GR" => 8220,
        "CY" => 8230,
        "MT" => 8240,
        "EE" => 8250,
        "LV" => 8260,
        "LT" => 8270,
        "GB" => 8300,
        "CH" => 8310,
        "NO" => 8320,
        _ => 8100,
    }
}

fn vat_rate(country: &str) -> u32 {
    match country {
        "NL" | "BE" | "ES" => 21,
        "DE" => 19,
        "FR" | "AT" | "GB" => 20,
        "LU" => 17,
        "IT" => 22,
        _ => 0,
    }
}

/// flowc's `round(x, 2)`: half away from zero, always 2 decimals.
fn round2(x: Decimal) -> Decimal {
    let mut r = x.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [input, output] = &args[..] else {
        eprintln!("usage: serde_baseline IN.ndjson OUT.ndjson");
        std::process::exit(2);
    };
    let mut reader = BufReader::with_capacity(1 << 16, File::open(input).expect("open input"));
    let mut out = BufWriter::with_capacity(1 << 16, File::create(output).expect("create output"));
    let hundred = Decimal::ONE_HUNDRED;
    let mut line = String::new();
    let (mut read, mut written) = (0usize, 0usize);
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read") == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        read += 1;
        let o: Order = serde_json::from_str(&line).expect("valid order");
        if o.status == 8 || !o.paid {
            continue;
        }
        let bill = &o.billing;
        let vat = vat_rate(&bill.country_code);
        let rec = Record {
            source_id: o.id,
            number: o.ordernumber,
            order_date: &o.create_date[..10],
            email: &o.email,
            currency: &o.currency,
            customer_name: bill.company.as_deref().unwrap_or(&bill.full_name),
            street: &bill.street,
            postal_code: &bill.zipcode,
            city: &bill.city,
            country: &bill.country_code,
            revenue_account: revenue_account(&bill.country_code),
            vat_rate: vat,
            total: round2(o.total_price),
            net: round2(o.total_price / (Decimal::ONE + Decimal::from(vat) / hundred)),
            rows: o
                .rows
                .iter()
                .map(|r| {
                    let unit = r.price - r.discount;
                    OutRow {
                        sku: &r.product_number,
                        quantity: r.count,
                        unit_price: unit,
                        vat: round2(unit * r.count * r.tax / (hundred + r.tax)),
                    }
                })
                .collect(),
        };
        serde_json::to_writer(&mut out, &rec).expect("write");
        out.write_all(b"\n").expect("write");
        written += 1;
    }
    out.flush().expect("flush");
    eprintln!("serde_baseline: read {read}, written {written}");
}
