//! What a shop starts with: the seed format, the two bundled seeds, and
//! loading a seed into a [`Store`] with every reference checked, so that a
//! broken seed fails loudly at start instead of as odd API answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{resource, Method};
use super::store::{
    AttributeCombination, Category, Order, OrderRow, Paymethod, Personalinfo, Product,
    ProductToCategory, Store, Table, User, Webhook, Webshop,
};

/// What a seed file holds. Every list may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedData {
    pub webshops: Vec<Webshop>,
    pub paymethods: Vec<Paymethod>,
    pub users: Vec<User>,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub producttocategories: Vec<ProductToCategory>,
    pub attributecombinations: Vec<AttributeCombination>,
    pub orders: Vec<Order>,
    pub orderrows: Vec<OrderRow>,
    pub webhooks: Vec<Webhook>,
}

const BASE_SEED: &str = include_str!("seed/base.json");
const SAMPLE_SEED: &str = include_str!("seed/sample.json");

impl SeedData {
    /// Shop settings, payment methods, users and categories: what every
    /// emulated shop has, generated or not.
    pub fn base() -> Result<Self, serde_json::Error> {
        serde_json::from_str(BASE_SEED)
    }

    /// The base plus a handful of hand-written products and orders that
    /// cover the awkward cases (B2B abroad, unfinished order, fractional
    /// counts, prices with trailing zeros).
    pub fn sample() -> Result<Self, serde_json::Error> {
        let mut data = Self::base()?;
        data.extend(serde_json::from_str(SAMPLE_SEED)?);
        Ok(data)
    }

    pub fn extend(&mut self, other: SeedData) {
        self.webshops.extend(other.webshops);
        self.paymethods.extend(other.paymethods);
        self.users.extend(other.users);
        self.categories.extend(other.categories);
        self.products.extend(other.products);
        self.producttocategories.extend(other.producttocategories);
        self.attributecombinations
            .extend(other.attributecombinations);
        self.orders.extend(other.orders);
        self.orderrows.extend(other.orderrows);
        self.webhooks.extend(other.webhooks);
    }
}

/// A record with an id, for building the tables.
trait Keyed {
    fn key(&self) -> i64;
}

macro_rules! keyed {
    ($($record:ty),*) => {
        $(impl Keyed for $record {
            fn key(&self) -> i64 {
                self.id
            }
        })*
    };
}

keyed!(
    Webshop,
    Paymethod,
    User,
    Category,
    Product,
    ProductToCategory,
    AttributeCombination,
    Order,
    OrderRow,
    Webhook
);

/// Ids must be positive and unique within their table.
fn table<T: Keyed>(items: Vec<T>, what: &str) -> Result<BTreeMap<i64, T>, String> {
    let mut out = BTreeMap::new();
    for item in items {
        let id = item.key();
        if id <= 0 {
            return Err(format!("{what} id {id} must be positive"));
        }
        if out.insert(id, item).is_some() {
            return Err(format!("duplicate {what} id {id}"));
        }
    }
    Ok(out)
}

fn check_personalinfo(info: &Personalinfo, owner: &str) -> Result<(), String> {
    resource("personalinfo")
        .check_write(Method::Post, info, "")
        .map(|_| ())
        .map_err(|e| format!("{owner}: {}", e.message))
}

impl Store {
    /// A store holding exactly `data`, once every reference resolves.
    pub fn from_seed(data: SeedData) -> Result<Self, String> {
        let mut s = Store {
            webshops: table(data.webshops, "webshop")?,
            paymethods: table(data.paymethods, "paymethod")?,
            users: table(data.users, "user")?,
            categories: table(data.categories, "category")?,
            products: table(data.products, "product")?,
            producttocategories: table(data.producttocategories, "producttocategory")?,
            attributecombinations: table(data.attributecombinations, "attributecombination")?,
            orders: table(data.orders, "order")?,
            orderrows: BTreeMap::new(),
            webhooks: table(data.webhooks, "webhook")?,
            ..Store::default()
        };
        s.check_links()?;
        // Rows join their order in seed order, unless the order lists them.
        for row in data.orderrows {
            let (order_id, row_id) = (row.order_id, row.id);
            let order = s
                .orders
                .get_mut(&order_id)
                .ok_or_else(|| format!("orderrow {row_id} belongs to unknown order {order_id}"))?;
            if !order.row_ids.contains(&row_id) {
                order.row_ids.push(row_id);
            }
            if row_id <= 0 || s.orderrows.insert(row_id, row).is_some() {
                return Err(format!(
                    "orderrow id {row_id} is not positive or not unique"
                ));
            }
        }
        for o in s.orders.values() {
            if let Some(missing) = o.row_ids.iter().find(|id| !s.orderrows.contains_key(id)) {
                return Err(format!("order {} lists unknown row {missing}", o.id));
            }
        }
        for t in Table::ALL {
            let last = s.max_id(t);
            s.last_ids.insert(t, last);
        }
        Ok(s)
    }

    fn check_links(&self) -> Result<(), String> {
        if let Some(c) = self
            .attributecombinations
            .values()
            .find(|c| !self.products.contains_key(&c.product_id))
        {
            return Err(format!(
                "attributecombination {} belongs to unknown product {}",
                c.id, c.product_id
            ));
        }
        for l in self.producttocategories.values() {
            if !self.products.contains_key(&l.product_id)
                || !self.categories.contains_key(&l.category_id)
            {
                return Err(format!("producttocategory {} links unknown ids", l.id));
            }
        }
        for o in self.orders.values() {
            if !self.paymethods.contains_key(&o.paymethod_id) {
                return Err(format!(
                    "order {} has unknown paymethod {}",
                    o.id, o.paymethod_id
                ));
            }
            check_personalinfo(&o.customer, &format!("order {} customer", o.id))?;
        }
        for u in self.users.values() {
            check_personalinfo(&u.userinfo, &format!("user {} userinfo", u.id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_seeds_load_and_link() {
        let store =
            Store::from_seed(SeedData::sample().expect("sample seed parses")).expect("links");
        assert!(!store.webshops.is_empty());
        assert!(!store.paymethods.is_empty());
        assert!(
            store.orders.values().any(|o| !o.is_completed),
            "an unfinished order"
        );
        assert!(store.orders.values().all(|o| !o.row_ids.is_empty()));
    }

    #[test]
    fn decimals_round_trip_with_exact_digits() {
        let data = SeedData::sample().expect("sample seed parses");
        let text = serde_json::to_string(&data.orderrows).expect("serializes");
        assert!(
            text.contains("\"price\":12.50"),
            "trailing zero kept: {text}"
        );
        assert!(text.contains("\"count\":1.5"), "{text}");
        let back: Vec<OrderRow> = serde_json::from_str(&text).expect("parses back");
        assert_eq!(back, data.orderrows);
    }

    #[test]
    fn broken_references_are_rejected() {
        let mut data = SeedData::base().expect("base seed parses");
        data.producttocategories.push(ProductToCategory {
            id: 1,
            product_id: 999,
            category_id: 1,
            position: 1,
        });
        assert!(Store::from_seed(data).is_err());
    }

    #[test]
    fn customers_are_checked_against_the_model() {
        let mut data = SeedData::sample().expect("sample seed parses");
        if let Some(o) = data.orders.first_mut() {
            o.customer.insert("shoe_size".into(), 44.into());
        }
        let err = Store::from_seed(data).expect_err("unknown field");
        assert!(err.contains("shoe_size"), "{err}");
    }
}
