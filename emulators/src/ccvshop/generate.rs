//! Deterministic synthetic shop data: the same `(orders, products, seed)`
//! always yields byte-identical data, so a failing test replays exactly.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use serde_json::{json, Map, Value};

use super::seed::SeedData;
use super::store::{Order, OrderRow, Product, ProductToCategory, Store, Table};

struct Country {
    code: &'static str,
    name: &'static str,
    lang: &'static str,
    tld: &'static str,
    eu: bool,
    cities: &'static [(&'static str, &'static str)],
    streets: &'static [&'static str],
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "NL",
        name: "Nederland",
        lang: "nl",
        tld: "nl",
        eu: true,
        cities: &[
            ("Amsterdam", "1012 AB"),
            ("Rotterdam", "3011 CD"),
            ("Utrecht", "3511 EF"),
            ("Groningen", "9711 GH"),
        ],
        streets: &["Dorpsstraat", "Kerkstraat", "Stationsweg", "Molenlaan"],
    },
    Country {
        code: "BE",
        name: "België",
        lang: "nl",
        tld: "be",
        eu: true,
        cities: &[("Antwerpen", "2000"), ("Gent", "9000"), ("Brugge", "8000")],
        streets: &["Meir", "Veldstraat", "Steenstraat"],
    },
    Country {
        code: "DE",
        name: "Deutschland",
        lang: "de",
        tld: "de",
        eu: true,
        cities: &[("Berlin", "10115"), ("München", "80331"), ("Köln", "50667")],
        streets: &["Hauptstraße", "Bahnhofstraße", "Schillerstraße"],
    },
    Country {
        code: "FR",
        name: "France",
        lang: "fr",
        tld: "fr",
        eu: true,
        cities: &[("Paris", "75001"), ("Lyon", "69001")],
        streets: &["Rue de la Paix", "Avenue Victor Hugo"],
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        lang: "en",
        tld: "co.uk",
        eu: false,
        cities: &[("London", "SW1A 1AA"), ("Leeds", "LS1 4AP")],
        streets: &["High Street", "Station Road"],
    },
];

const FIRST: &[&str] = &[
    "Jan", "Sanne", "Pieter", "Fatima", "Lukas", "Émilie", "Noah", "Zoë", "Mohamed", "Anna",
    "Sven", "Chloé",
];
const LAST: &[&str] = &[
    "de Vries",
    "Jansen",
    "Bakker",
    "El Amrani",
    "Müller",
    "Dubois",
    "Peeters",
    "Smith",
    "van den Berg",
    "O'Brien",
];
const ADJ: &[&str] = &[
    "Biologische",
    "Premium",
    "Klassieke",
    "Gebrande",
    "Luxe",
    "Dagelijkse",
    "Zachte",
    "Sterke",
];
const NOUN: &[&str] = &[
    "koffiebonen",
    "thee",
    "cacao",
    "mok",
    "filterhouder",
    "melkkan",
    "bonenblik",
    "siroop",
];
const COMPANY: &[&str] = &[
    "Horeca Groothandel",
    "Koffiebar",
    "Bakkerij",
    "Kantoorservice",
    "Hotel",
];

/// Order statuses a completed order can have, most common first.
const STATUSES: &[i64] = &[1, 1, 2, 2, 4, 5, 5, 5, 6, 7, 7, 8, 9, 10, 11, 13];

fn epoch(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn money(rng: &mut StdRng, min_cents: i64, max_cents: i64) -> Decimal {
    Decimal::new(rng.gen_range(min_cents..=max_cents), 2)
}

/// EAN-13 with a valid check digit, so connectors that validate EANs accept it.
fn ean13(n: u64) -> String {
    let body = format!("871{:09}", n % 1_000_000_000);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// The object inside a `json!` customer.
fn as_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Base seed data plus `orders` orders and `products` products.
pub fn generate(orders: usize, products: usize, seed: u64) -> Result<SeedData, String> {
    let mut data = SeedData::base().map_err(|e| format!("base seed: {e}"))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let category_ids: Vec<i64> = data.categories.iter().map(|c| c.id).collect();
    let paymethod_ids: Vec<i64> = data.paymethods.iter().map(|p| p.id).collect();
    if paymethod_ids.is_empty() {
        return Err("base seed has no paymethods".into());
    }

    let product_start = epoch(2023, 1, 1);
    for i in 0..products {
        let id = i64::try_from(i + 1).map_err(|e| e.to_string())?;
        let product = make_product(&mut rng, id, product_start + Duration::hours(id * 7));
        if !category_ids.is_empty() {
            let link_id =
                i64::try_from(data.producttocategories.len() + 1).map_err(|e| e.to_string())?;
            data.producttocategories.push(ProductToCategory {
                id: link_id,
                product_id: id,
                category_id: *pick(&mut rng, &category_ids),
                position: id,
            });
        }
        data.products.push(product);
    }

    let mut created = epoch(2024, 1, 1);
    let mut ordernumber = 10_000;
    let mut row_id = 0;
    for i in 0..orders {
        let id = i64::try_from(i + 1).map_err(|e| e.to_string())?;
        created += Duration::minutes(rng.gen_range(1..=180));
        // Skewed towards few rows, as real baskets are.
        let rows = match rng.gen_range(0..100) {
            0..=44 => 1,
            45..=74 => 2,
            75..=89 => 3,
            _ => rng.gen_range(4..=6),
        };
        let completed = rng.gen_range(0..100) >= 8;
        let number = completed.then(|| {
            ordernumber += 1;
            ordernumber
        });
        let (order, order_rows) = make_order(
            &mut rng,
            id,
            number,
            created,
            rows,
            &data.products,
            &paymethod_ids,
            &mut row_id,
        );
        data.orders.push(order);
        data.orderrows.extend(order_rows);
    }
    Ok(data)
}

/// Add one completed, paid order with exactly `rows` rows to an existing store
/// (for tests that need an order with many rows). Returns its id.
pub fn add_synthetic_order(store: &mut Store, rows: usize, seed: u64) -> i64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let id = store.next_id(Table::Orders);
    let created = store
        .orders
        .values()
        .map(|o| o.create_date)
        .max()
        .unwrap_or_else(|| epoch(2024, 1, 1))
        + Duration::minutes(5);
    let products: Vec<Product> = store.products.values().cloned().collect();
    let mut paymethod_ids: Vec<i64> = store.paymethods.keys().copied().collect();
    if paymethod_ids.is_empty() {
        paymethod_ids.push(0);
    }
    let mut last_row = 0;
    let number = Some(store.next_ordernumber());
    let (mut order, order_rows) = make_order(
        &mut rng,
        id,
        number,
        created,
        rows,
        &products,
        &paymethod_ids,
        &mut last_row,
    );
    order.status = Some(1);
    order.paid = true;
    order.row_ids.clear();
    for mut row in order_rows {
        row.id = store.next_id(Table::OrderRows);
        row.order_id = id;
        order.row_ids.push(row.id);
        store.orderrows.insert(row.id, row);
    }
    store.orders.insert(id, order);
    id
}

fn make_product(rng: &mut StdRng, id: i64, created: DateTime<Utc>) -> Product {
    let reduced = rng.gen_bool(0.6);
    let price = money(rng, 199, 19_999);
    let discount = if rng.gen_bool(0.2) {
        (price * Decimal::new(rng.gen_range(5..=30), 2)).round_dp(2)
    } else {
        Decimal::ZERO
    };
    let stockenabled = rng.gen_bool(0.85);
    let sold_by_weight = rng.gen_bool(0.1);
    let stock = stockenabled.then(|| {
        if sold_by_weight {
            Decimal::new(rng.gen_range(0..=5000), 1)
        } else {
            Decimal::from(rng.gen_range(0..=250))
        }
    });
    Product {
        id,
        is_active: rng.gen_bool(0.9),
        createdate: created,
        modifydate: created + Duration::days(rng.gen_range(0..=400)) + Duration::seconds(id),
        productnumber: format!("GEN-{id:05}"),
        eannumber: rng
            .gen_bool(0.8)
            .then(|| ean13(u64::try_from(id).unwrap_or(0) * 7919)),
        mpnnumber: rng
            .gen_bool(0.3)
            .then(|| format!("MPN{}", rng.gen_range(10_000..99_999))),
        name: format!("{} {} {id}", pick(rng, ADJ), pick(rng, NOUN)),
        shortdescription: String::new(),
        description: None,
        taxtariff: if reduced { "reduced" } else { "normal" }.to_string(),
        vatrate: if reduced {
            Decimal::from(9)
        } else {
            Decimal::from(21)
        },
        price,
        discount,
        purchaseprice: (price * Decimal::new(rng.gen_range(35..=60), 2)).round_dp(2),
        unit: if sold_by_weight { "kg" } else { "stuk" }.to_string(),
        stockenabled,
        stock,
        stocklocation: stockenabled
            .then(|| format!("R{}-{}", rng.gen_range(1..20), rng.gen_range(1..9))),
        ordering_without_stock: if rng.gen_bool(0.2) {
            "yes"
        } else {
            "global_setting"
        }
        .to_string(),
        weight: Decimal::new(rng.gen_range(5..=5000), 3),
        color: None,
        brand: None,
        package_id: Some(1),
        // Weights to the gram in stock, to 2 decimals in a basket.
        decimal_amount: if sold_by_weight { 3 } else { 0 },
        amount_sold: Decimal::from(rng.gen_range(0..=500)),
        minimal_order_amount: Decimal::ONE,
        is_visible: true,
    }
}

/// Who buys: from which country, as a consumer or a business, with the
/// customer record an order embeds.
struct Buyer {
    country: &'static Country,
    b2b: bool,
    customer: Map<String, Value>,
}

impl Buyer {
    /// B2B to another EU country: reverse charge.
    fn intra_community(&self) -> bool {
        self.b2b && self.country.eu && self.country.code != "NL"
    }

    /// No VAT: reverse charge within the EU, or export.
    fn zero_rated(&self) -> bool {
        self.intra_community() || !self.country.eu
    }
}

fn buyer(rng: &mut StdRng, id: i64) -> Buyer {
    let country = pick(rng, COUNTRIES);
    let b2b = rng.gen_bool(0.2);
    let first = *pick(rng, FIRST);
    let last = *pick(rng, LAST);
    let (city, zip) = *pick(rng, country.cities);
    let street = *pick(rng, country.streets);
    // i64, as the field is: the type decides how the generator draws.
    let housenumber: i64 = rng.gen_range(1..=250);
    let company = b2b.then(|| format!("{} {last}", pick(rng, COMPANY)));
    let full_name = format!("{first} {last}");
    let email = format!(
        "{}.{}{id}@example.{}",
        first.to_lowercase(),
        last.to_lowercase().replace([' ', '\''], ""),
        country.tld
    );
    let customer = as_map(json!({
        "email": email,
        "customertype": if b2b { "b2b" } else { "b2c" },
        // A VAT number in its country's format (VIES), so a business in
        // another EU country is reverse charge wherever it is checked.
        "btw": b2b.then(|| {
            let n = rng.gen_range(100_000_000..999_999_999);
            match country.code {
                "NL" => format!("NL{n:09}B01"),
                "BE" => format!("BE0{n:09}"),
                "FR" => format!("FR{:02}{n:09}", n % 97),
                code => format!("{code}{n:09}"),
            }
        }),
        "kvk": b2b.then(|| format!("{:08}", rng.gen_range(10_000_000..99_999_999))),
        "billingaddress": {
            "gender": if rng.gen_bool(0.5) { "male" } else { "female" },
            "first_name": first,
            "last_name": last,
            "full_name": full_name,
            "company": company,
            "street": street,
            "housenumber": housenumber,
            "housenumber_suffix": rng.gen_bool(0.15).then_some("B"),
            "zipcode": zip,
            "city": city,
            "country": country.name,
            "country_code": country.code,
            "telephone": format!(
                "+{}{}",
                rng.gen_range(30..50),
                rng.gen_range(100_000_000..999_999_999)
            ),
        },
        "deliveryaddress": {
            "full_name": full_name,
            "company": company,
            "street": street,
            "housenumber": housenumber,
            "zipcode": zip,
            "city": city,
            "country": country.name,
            "country_code": country.code,
        },
    }));
    Buyer {
        country,
        b2b,
        customer,
    }
}

/// A row with nothing in it yet.
fn blank_row(id: i64, order_id: i64) -> OrderRow {
    OrderRow {
        id,
        order_id,
        product_type: "product".into(),
        product_name: String::new(),
        product_number: String::new(),
        sub_product_number: None,
        sub_sku_number: None,
        sub_ean_number: None,
        product_id: None,
        count: Decimal::ONE,
        price: Decimal::ZERO,
        discount: Decimal::ZERO,
        tax: Decimal::ZERO,
        purchase_price: None,
        unit: "stuk".into(),
        weight: Decimal::ZERO,
        memo: None,
        package_id: None,
        stock_location: None,
        supplier: None,
    }
}

/// A row of product `p`; products sold by weight in fractional amounts.
fn product_row(rng: &mut StdRng, row: OrderRow, p: &Product, zero_rated: bool) -> OrderRow {
    let count = if p.decimal_amount > 0 {
        Decimal::new(rng.gen_range(1..=16) * 25, 2)
    } else {
        Decimal::from(rng.gen_range(1..=5))
    };
    OrderRow {
        product_name: p.name.clone(),
        product_number: p.productnumber.clone(),
        sub_ean_number: p.eannumber.clone(),
        product_id: Some(p.id),
        count: count.normalize(),
        price: p.price,
        discount: p.discount,
        tax: if zero_rated { Decimal::ZERO } else { p.vatrate },
        purchase_price: Some(p.purchaseprice),
        unit: p.unit.clone(),
        weight: p.weight,
        package_id: p.package_id,
        stock_location: p.stocklocation.clone(),
        ..row
    }
}

/// A row that names and prices itself, for a shop without products.
fn free_row(rng: &mut StdRng, row: OrderRow, zero_rated: bool) -> OrderRow {
    OrderRow {
        product_name: format!("{} {}", pick(rng, ADJ), pick(rng, NOUN)),
        product_number: format!("FREE-{}", rng.gen_range(100..999)),
        count: Decimal::from(rng.gen_range(1..=3)),
        price: money(rng, 99, 9_999),
        tax: if zero_rated {
            Decimal::ZERO
        } else {
            Decimal::from(21)
        },
        weight: Decimal::new(rng.gen_range(10..=2000), 3),
        ..row
    }
}

#[allow(clippy::too_many_arguments)]
fn make_order(
    rng: &mut StdRng,
    id: i64,
    ordernumber: Option<i64>,
    created: DateTime<Utc>,
    rows: usize,
    products: &[Product],
    paymethod_ids: &[i64],
    row_id: &mut i64,
) -> (Order, Vec<OrderRow>) {
    let buyer = buyer(rng, id);
    let mut order_rows = Vec::with_capacity(rows);
    for _ in 0..rows {
        *row_id += 1;
        let row = blank_row(*row_id, id);
        let row = match products.is_empty() {
            false => {
                let p = pick(rng, products);
                product_row(rng, row, p, buyer.zero_rated())
            }
            true => free_row(rng, row, buyer.zero_rated()),
        };
        order_rows.push(row);
    }
    let row_ids = order_rows.iter().map(|r| r.id).collect();
    let order = order(rng, id, ordernumber, created, buyer, paymethod_ids, row_ids);
    (order, order_rows)
}

/// The order itself: numbers, state, payment, shipping and totals' inputs.
fn order(
    rng: &mut StdRng,
    id: i64,
    ordernumber: Option<i64>,
    created: DateTime<Utc>,
    buyer: Buyer,
    paymethod_ids: &[i64],
    row_ids: Vec<i64>,
) -> Order {
    let completed = ordernumber.is_some();
    let paymethod_id = *pick(rng, paymethod_ids);
    let status = completed.then(|| *pick(rng, STATUSES));
    let shipped = matches!(status, Some(5..=7));
    Order {
        id,
        ordernumber_prefix: completed.then(|| "FD".to_string()),
        ordernumber,
        invoicenumber: ordernumber
            .filter(|_| rng.gen_bool(0.5))
            .map(|n| n + 40_000),
        transaction_id: rng
            .gen_bool(0.7)
            .then(|| format!("tr_{:x}", rng.gen::<u64>())),
        create_date: created,
        deliver_method: if rng.gen_bool(0.9) {
            "shipping"
        } else {
            "pickup"
        }
        .to_string(),
        deliver_date: shipped.then(|| created + Duration::days(rng.gen_range(1..=4))),
        take_out_start: None,
        take_out_end: None,
        orderedinlng: buyer.country.lang.to_string(),
        status,
        is_completed: completed,
        paid: completed && rng.gen_bool(0.75),
        paymethod_id,
        taxes_included: !buyer.b2b,
        order_row_taxes_included: !buyer.b2b,
        shipping_taxes_included: !buyer.b2b,
        shipping_tax_percentage: if buyer.zero_rated() {
            Decimal::ZERO
        } else {
            Decimal::from(21)
        },
        is_intra_community_order: buyer.intra_community(),
        total_shipping: *pick(
            rng,
            &[
                Decimal::ZERO,
                Decimal::new(495, 2),
                Decimal::new(695, 2),
                Decimal::new(1250, 2),
            ],
        ),
        paymethod_costs: if paymethod_id == 5 {
            Decimal::new(250, 2)
        } else {
            Decimal::ZERO
        },
        extra_costs: if rng.gen_bool(0.05) {
            Decimal::new(-500, 2)
        } else {
            Decimal::ZERO
        },
        extra_costs_description: String::new(),
        discountcoupon: None,
        credit_point_discount: Decimal::ZERO,
        order_discount: Decimal::ZERO,
        currency: "EUR".into(),
        track_and_trace_code: if shipped {
            format!("3S{:013}", rng.gen_range(0..9_999_999_999_999u64))
        } else {
            String::new()
        },
        track_and_trace_carrier: shipped.then(|| "postnl".to_string()),
        track_and_trace_deeplink: String::new(),
        reservationnumber: None,
        delivery_option: None,
        user_id: None,
        customer: buyer.customer,
        row_ids,
        notes: Vec::new(),
        mails_sent: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_loadable() {
        let a = generate(200, 30, 7).expect("generates");
        let b = generate(200, 30, 7).expect("generates");
        assert_eq!(a, b);
        assert_ne!(a, generate(200, 30, 8).expect("generates"));
        let store = Store::from_seed(a).expect("links");
        assert_eq!(store.orders.len(), 200);
        assert_eq!(store.products.len(), 30);
        let countries: std::collections::BTreeSet<_> = store
            .orders
            .values()
            .filter_map(|o| {
                o.customer["billingaddress"]["country_code"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert!(countries.len() >= 4, "{countries:?}");
        assert!(store.orders.values().any(|o| !o.is_completed));
        assert!(store
            .orderrows
            .values()
            .any(|r| r.count.fract() != Decimal::ZERO || r.price.fract() != Decimal::ZERO));
    }

    #[test]
    fn big_order_gets_fresh_ids() {
        let mut store = Store::from_seed(generate(10, 5, 1).expect("generates")).expect("links");
        let rows_before = store.orderrows.len();
        let id = add_synthetic_order(&mut store, 65, 3);
        assert_eq!(store.orders[&id].row_ids.len(), 65);
        assert_eq!(store.orderrows.len(), rows_before + 65);
        assert_eq!(
            store.orders[&id].ordernumber,
            Some(store.next_ordernumber() - 1)
        );
    }

    #[test]
    fn ean_check_digit() {
        // 871000000000 → weights 1,3: 8+21+1 = 30 → check digit 0.
        assert_eq!(ean13(0), "8710000000000");
    }
}
