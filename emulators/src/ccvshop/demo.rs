//! The demo shop `flowc sandbox` syncs: one order for each thing an
//! integration has to get right (see docs/ccvshop-eaccounting.md): private
//! persons and companies in six countries (one outside the EU), prices with
//! and without VAT, 0/9/21% and mixed rates, reverse charge and export,
//! shipping, payment costs, row and order discounts, a coupon, credit
//! points, negative extra costs, a row without SKU, a 60-row order, an order
//! paid weeks after it was placed, a foreign currency, a long name with an
//! emoji, and an unpaid and a cancelled order that must not be synced.
//! Dates are relative to `now`, so "placed 30 days ago" stays true.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::seed::SeedData;

/// The products every demo order draws from: (id, SKU, name, price incl. VAT, VAT %).
const PRODUCTS: &[(i64, &str, &str, &str, i64)] = &[
    (1, "KOF-001", "Espressobonen 1 kg", "24.95", 9),
    (2, "THE-010", "Groene thee los 250 g", "12.50", 9),
    (3, "ACC-100", "Melkopschuimer", "39.00", 21),
    (4, "ACC-200", "Koffiemolen handmatig", "59.95", 21),
    (5, "CADEAU-25", "Cadeaubon 25 euro", "25.00", 0),
];

/// Who buys: (e-mail, first, last, company, VAT number, street, number,
/// postcode, city, country name, country code).
type Buyer<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

fn customer(b: Buyer) -> Value {
    let (email, first, last, company, vat, street, number, zip, city, country, code) = b;
    let full = format!("{first} {last}");
    let address = json!({
        "full_name": full, "company": company, "street": street, "housenumber": number,
        "zipcode": zip, "city": city, "country": country, "country_code": code,
    });
    let mut billing = address.clone();
    billing["first_name"] = json!(first);
    billing["last_name"] = json!(last);
    billing["telephone"] = json!("+31201234567");
    json!({
        "email": email,
        "customertype": if company.is_some() { "b2b" } else { "b2c" },
        "btw": vat,
        "billingaddress": billing,
        "deliveryaddress": address,
    })
}

/// An order: the shop's defaults for a paid, shipped Dutch order priced
/// including VAT, changed by `over`.
fn order(id: i64, placed: DateTime<Utc>, buyer: Buyer, over: Value) -> Value {
    let mut o = json!({
        "id": id, "ordernumber_prefix": "FD", "ordernumber": 2000 + id,
        "create_date": placed.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "deliver_method": "shipping", "orderedinlng": "nl", "status": 5,
        "is_completed": true, "paid": true, "paymethod_id": 1,
        "taxes_included": true, "order_row_taxes_included": true, "shipping_taxes_included": true,
        "shipping_tax_percentage": 21, "is_intra_community_order": false,
        "total_shipping": 4.95, "paymethod_costs": 0, "extra_costs": 0, "currency": "EUR",
        "customer": customer(buyer),
    });
    if let (Some(o), Some(over)) = (o.as_object_mut(), over.as_object()) {
        o.extend(over.clone());
    }
    o
}

/// A row of product `product` (index into [`PRODUCTS`]); `price` and `tax`
/// override the product's when the order needs another basis or rate.
fn row(
    id: i64,
    order: i64,
    product: usize,
    count: &str,
    price: Option<&str>,
    discount: &str,
    tax: Option<i64>,
) -> Value {
    let (pid, sku, name, list_price, rate) = PRODUCTS[product];
    json!({
        "id": id, "order_id": order, "product_id": pid, "product_number": sku, "product_name": name,
        "count": number(count), "price": number(price.unwrap_or(list_price)), "discount": number(discount),
        "tax": tax.unwrap_or(rate), "unit": "stuk", "weight": 0.5,
    })
}

/// A JSON number with exactly these digits.
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The buyers, one line each.
#[rustfmt::skip]
mod buyers {
    use super::Buyer;
    pub const JAN: Buyer = ("jan@example.nl", "Jan", "de Vries", None, None, "Keizersgracht", 123, "1015 CJ", "Amsterdam", "Nederland", "NL");
    pub const HORECA: Buyer = ("inkoop@horeca-bakker.nl", "Piet", "Bakker", Some("Horeca Groothandel Bakker B.V."), Some("NL003456789B01"), "Stationsweg", 8, "3511 EF", "Utrecht", "Nederland", "NL");
    pub const PEETERS: Buyer = ("inkoop@bakkerij-peeters.be", "Els", "Peeters", Some("Bakkerij Peeters BV"), Some("BE0123456749"), "Meir", 42, "2000", "Antwerpen", "België", "BE");
    pub const LENA: Buyer = ("lena.schmidt@example.de", "Lena", "Schmidt", None, None, "Hauptstraße", 5, "10115", "Berlin", "Deutschland", "DE");
    pub const EMILIE: Buyer = ("emilie.dubois@example.fr", "Émilie", "Dubois", None, None, "Rue de la Paix", 1, "75001", "Paris", "France", "FR");
    pub const KAFFE: Buyer = ("order@kaffebaren.se", "Sven", "Lind", Some("Kaffebaren AB"), Some("SE556677889901"), "Drottninggatan", 12, "111 51", "Stockholm", "Sverige", "SE");
    pub const MULLER: Buyer = ("einkauf@mueller-gmbh.de", "Lukas", "Müller", Some("Müller GmbH"), Some("DE12345"), "Bahnhofstraße", 3, "80331", "München", "Deutschland", "DE");
    pub const JOHN: Buyer = ("john.smith@example.com", "John", "Smith", None, None, "Main Street", 221, "10001", "New York", "United States", "US");
    pub const SANNE: Buyer = ("sanne@example.nl", "Sanne", "Bakker", None, None, "Kerkstraat", 7, "3011 CD", "Rotterdam", "Nederland", "NL");
    pub const PIETER: Buyer = ("pieter.jansen@example.nl", "Pieter", "Jansen", None, None, "Molenlaan", 19, "9711 GH", "Groningen", "Nederland", "NL");
    pub const FATIMA: Buyer = ("fatima@example.nl", "Fatima", "El Amrani", None, None, "Dorpsstraat", 4, "1012 AB", "Amsterdam", "Nederland", "NL");
    pub const NOAH: Buyer = ("noah@example.nl", "Noah", "Visser", None, None, "Dorpsstraat", 9, "1012 AB", "Amsterdam", "Nederland", "NL");
    pub const ZOE: Buyer = ("zoe@example.nl", "Zoë 🌷 Marie-Louise", "van den Berg-Oosterhuis tot Nijenrode", None, None, "Burgemeester van Roijensingel", 1, "8011 AB", "Zwolle", "Nederland", "NL");
    pub const ANN: Buyer = ("ann@example.com", "Ann", "Smit", None, None, "Kerkstraat", 2, "3511 EF", "Utrecht", "Nederland", "NL");
    pub const KANTOOR: Buyer = ("administratie@kantoorservice-jansen.nl", "Mo", "Jansen", Some("Kantoorservice Jansen B.V."), Some("NL001234567B01"), "Industrieweg", 30, "3011 CD", "Rotterdam", "Nederland", "NL");
}
use buyers::*;

/// The demo shop as of `now`.
pub fn demo(now: DateTime<Utc>) -> Result<SeedData, String> {
    let at = |days: i64, minutes: i64| now - Duration::days(days) + Duration::minutes(minutes);
    let mut orders = vec![
        // Private person, prices incl. VAT, 9% and 21% in one order, shipping.
        order(1, at(2, 0), JAN, json!({})),
        // A company buying at prices incl. VAT: its invoice shows them excl. VAT.
        order(
            2,
            at(2, 10),
            HORECA,
            json!({"paymethod_id": 4, "total_shipping": 6.95, "status": 7}),
        ),
        // EU company with a VAT number: reverse charge, prices excl. VAT,
        // payment costs, a deposit row without SKU and negative extra costs.
        order(
            3,
            at(2, 20),
            PEETERS,
            json!({
            "paymethod_id": 5, "taxes_included": false, "order_row_taxes_included": false,
            "shipping_taxes_included": false, "shipping_tax_percentage": 0, "is_intra_community_order": true,
            "total_shipping": 12.00, "paymethod_costs": 2.50, "extra_costs": -5.00,
            "extra_costs_description": "Vaste klant korting", "orderedinlng": "nl"}),
        ),
        // EU consumer with a coupon.
        order(
            4,
            at(2, 30),
            LENA,
            json!({"orderedinlng": "de", "status": 6,
            "discountcoupon": {"code": "WELKOM10", "discount": 10.00, "type": "price"}}),
        ),
        // Row discounts of 10%, credit points, card payment costs, picked up.
        order(
            5,
            at(2, 40),
            EMILIE,
            json!({"orderedinlng": "fr", "paymethod_id": 3, "paymethod_costs": 0.62,
            "total_shipping": 0, "deliver_method": "pickup", "credit_point_discount": 3.00, "status": 7}),
        ),
        // EU company, reverse charge, prices excl. VAT.
        order(
            6,
            at(2, 50),
            KAFFE,
            json!({"orderedinlng": "en", "taxes_included": false,
            "order_row_taxes_included": false, "shipping_taxes_included": false,
            "shipping_tax_percentage": 0, "is_intra_community_order": true, "total_shipping": 9.50}),
        ),
        // A company whose VAT number is not valid: Dutch VAT, a group discount.
        order(
            7,
            at(2, 60),
            MULLER,
            json!({"orderedinlng": "de", "order_discount": 5.00}),
        ),
        // Export outside the EU, in dollars.
        order(
            8,
            at(2, 70),
            JOHN,
            json!({"orderedinlng": "en", "currency": "USD",
            "shipping_tax_percentage": 0, "total_shipping": 15.00}),
        ),
        // Sixty rows.
        order(9, at(1, 0), SANNE, json!({"total_shipping": 0})),
        // Placed a month ago, paid by bank transfer only now.
        order(10, at(30, 0), PIETER, json!({"paymethod_id": 4})),
        // Not paid yet: not synced.
        order(
            11,
            at(1, 10),
            FATIMA,
            json!({"paymethod_id": 4, "paid": false, "status": 4}),
        ),
        // Cancelled: not synced, although paid.
        order(12, at(1, 20), NOAH, json!({"status": 8})),
        // A long name with an emoji, and a custom row with a long name and no SKU.
        order(13, at(1, 30), ZOE, json!({})),
        // A customer eAccounting knows as Ann@Example.com; the shop shows
        // prices excl. VAT, her invoice includes it.
        order(
            14,
            at(1, 40),
            ANN,
            json!({"taxes_included": false, "order_row_taxes_included": false,
            "shipping_taxes_included": false}),
        ),
        // A Dutch company at prices excl. VAT: the plain B2B case.
        order(
            15,
            at(1, 50),
            KANTOOR,
            json!({"paymethod_id": 5, "taxes_included": false,
            "order_row_taxes_included": false, "shipping_taxes_included": false, "paymethod_costs": 2.50,
            "total_shipping": 6.95}),
        ),
    ];
    orders.sort_by_key(|o| o["create_date"].as_str().map(str::to_string));
    let mut rows = Vec::new();
    let mut next = 0;
    let mut add = |rows: &mut Vec<Value>,
                   order: i64,
                   product: usize,
                   count: &str,
                   price: Option<&str>,
                   discount: &str,
                   tax: Option<i64>| {
        next += 1;
        rows.push(row(next, order, product, count, price, discount, tax));
    };
    add(&mut rows, 1, 0, "2", None, "0", None);
    add(&mut rows, 1, 2, "1", None, "0", None);
    add(&mut rows, 2, 3, "10", None, "5.00", None);
    add(&mut rows, 2, 1, "3", None, "1.25", None);
    add(&mut rows, 3, 3, "10", Some("49.55"), "4.13", Some(0));
    add(&mut rows, 4, 0, "2", None, "0", None);
    add(&mut rows, 4, 2, "1", None, "0", None);
    add(&mut rows, 5, 1, "4", None, "1.25", None);
    add(&mut rows, 5, 3, "1", None, "0", None);
    add(&mut rows, 6, 0, "5", Some("22.90"), "0", Some(0));
    add(&mut rows, 7, 2, "2", None, "0", None);
    add(&mut rows, 7, 1, "1.5", None, "0", None);
    add(&mut rows, 8, 0, "3", Some("27.50"), "0", Some(0));
    for i in 0..60 {
        add(
            &mut rows,
            9,
            i % 4,
            if i % 7 == 0 { "1.5" } else { "1" },
            None,
            if i % 5 == 0 { "1.00" } else { "0" },
            None,
        );
    }
    add(&mut rows, 10, 0, "1", None, "0", None);
    add(&mut rows, 11, 1, "1", None, "0", None);
    add(&mut rows, 12, 2, "1", None, "0", None);
    add(&mut rows, 13, 4, "1", None, "0", None);
    add(&mut rows, 14, 0, "2", Some("22.89"), "0", None);
    add(&mut rows, 14, 2, "1", Some("32.23"), "0", None);
    add(&mut rows, 15, 2, "3", Some("32.23"), "0", None);
    add(&mut rows, 15, 1, "6", Some("11.47"), "0.57", None);
    // A deposit without SKU on the reverse-charge order, and a custom row
    // with a long name on order 13: neither is a product of the shop.
    for (order_id, kind, name, price, tax) in [
        (3, "deposit", "Statiegeld krat", "3.90", 0),
        (
            13,
            "product",
            "Handgeschilderde mok ☕ met naam „Zoë” en een lange opdracht op de achterkant",
            "17.50",
            21,
        ),
    ] {
        next += 1;
        rows.push(json!({
            "id": next, "order_id": order_id, "product_type": kind, "product_name": name,
            "product_number": "", "product_id": null, "count": 1, "price": number(price),
            "discount": 0, "tax": tax, "unit": "stuk", "weight": 0,
        }));
    }
    let products: Vec<Value> = PRODUCTS
        .iter()
        .map(|(id, sku, name, price, rate)| {
            json!({
                "id": id, "is_active": true,
                "createdate": "2024-01-01T08:00:00Z", "modifydate": "2024-01-01T08:00:00Z",
                "productnumber": sku, "name": name,
                "taxtariff": match rate { 21 => "normal", 9 => "reduced", _ => "exempt" },
                "vatrate": rate, "price": number(price), "discount": 0, "purchaseprice": 1,
                "unit": "stuk", "stockenabled": true, "stock": 100, "weight": 0.5,
            })
        })
        .collect();
    let mut data = SeedData::base().map_err(|e| format!("base seed: {e}"))?;
    let extra: SeedData = serde_json::from_value(json!({
        "products": products, "orders": orders, "orderrows": rows,
    }))
    .map_err(|e| format!("demo seed: {e}"))?;
    data.extend(extra);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccvshop::store::Store;

    #[test]
    fn the_demo_shop_loads_and_covers_what_it_promises() {
        let store = Store::from_seed(demo(Utc::now()).expect("builds")).expect("loads");
        assert_eq!(store.orders.len(), 15);
        let countries: std::collections::BTreeSet<_> = store
            .orders
            .values()
            .filter_map(|o| o.customer["billingaddress"]["country_code"].as_str())
            .collect();
        assert_eq!(countries.len(), 6, "{countries:?}");
        assert!(store.orders.values().any(|o| o.row_ids.len() == 60));
        assert!(store.orders.values().any(|o| o.currency == "USD"));
        assert!(store.orders.values().any(|o| o.status == Some(8)));
        assert!(store.orders.values().any(|o| !o.paid));
        assert!(store.orders.values().any(|o| o.discountcoupon.is_some()));
    }
}
