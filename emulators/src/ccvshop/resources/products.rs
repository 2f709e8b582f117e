//! Products and product queries (API notes §3, §3.3).
//!
//! Reads say `is_active`, writes must say `active` (as in the real API); a
//! write with `is_active` is a 400 so the mismatch is caught in tests.
//! `stock` can only be written when stock tracking is (or becomes) enabled.

use std::collections::BTreeSet;

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::{create, delete, found, id_payload, patch_with, Change, Render, Writable};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::collections::{ordered, Query};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::events::Event;
use crate::ccvshop::input::Body;
use crate::ccvshop::json::num;
use crate::ccvshop::model::{resource, Type};
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Category, Product, Store, Table};

mod filters;

use filters::Filters;

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("products", &[("GET", list), ("POST", new)]),
    RouteDef::new(
        "products/{id}",
        &[
            ("GET", get),
            ("PATCH", change),
            ("DELETE", delete::<Product>),
        ],
    ),
    RouteDef::new("categories/{id}/products", &[("GET", of_category)]),
    RouteDef::new("productqueries", &[("GET", query)]),
];

const EXPANDABLE: &[&str] = &[
    "attributecombinations",
    "productattachments",
    "productattributesets",
    "productkeywords",
    "productphotos",
    "productrelevant",
    "productreviews",
    "productshippingcosts",
    "productstaggeredprices",
    "producttaxtariffexceptions",
    "producttocategories",
    "producttopropertygroups",
    "productvariants",
    "productvideos",
];

const ORDERBY: &[&str] = &["id", "name", "createdate", "modifydate"];

/// The Dutch VAT rate behind each tariff.
fn rate_for(taxtariff: &str) -> Option<Decimal> {
    match taxtariff {
        "normal" => Some(Decimal::from(21)),
        "reduced" => Some(Decimal::from(9)),
        "exempt" => Some(Decimal::ZERO),
        _ => None,
    }
}

fn expand_list(q: &Query) -> Result<Vec<String>, ApiError> {
    let Some(raw) = q.string("expand")? else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|part| match EXPANDABLE.contains(&part) {
            true => Ok(part.to_string()),
            false => Err(ApiError::bad_query(format!(
                "Cannot expand '{part}'; expandable: {}",
                EXPANDABLE.join(", ")
            ))),
        })
        .collect()
}

impl Product {
    /// The product as GET answers it; sub-resources named in `expand` carry
    /// their `collection`.
    fn render_expanded(&self, app: &App, store: &Store, expand: &[String]) -> Value {
        let links = || {
            store
                .producttocategories
                .values()
                .filter(|l| l.product_id == self.id)
        };
        let sub = |name: &str| {
            let mut v = json!({ "href": app.url(&format!("products/{}/{name}", self.id)) });
            if expand.iter().any(|e| e == name) {
                // The emulator stores no photos, reviews…: truthfully empty.
                let collection: Vec<Value> = match name {
                    "producttocategories" => links().map(|l| l.render(app, store)).collect(),
                    "attributecombinations" => super::combinations::of(store, self.id)
                        .map(|c| c.render(app, store))
                        .collect(),
                    _ => Vec::new(),
                };
                v["collection"] = Value::Array(collection);
            }
            v
        };
        let main_category: Option<&Category> = links()
            .min_by_key(|l| (l.position, l.id))
            .and_then(|l| store.categories.get(&l.category_id));
        let in_stock = !self.stockenabled
            || self.stock.is_some_and(|s| s > Decimal::ZERO)
            || self.ordering_without_stock == "yes";
        let alias = self
            .name
            .to_lowercase()
            .replace(|c: char| !c.is_alphanumeric(), "-");
        let zero = num(Decimal::ZERO);
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let computed = json!({
            "href": app.url(&format!("products/{}", self.id)),
            "eannumber": text(&self.eannumber),
            "mpnnumber": text(&self.mpnnumber),
            "is_multishop_product": false,
            "container_deposit_price": zero,
            "safety_deposit_price": zero,
            "stocktype": if super::combinations::of(store, self.id).next().is_some() {
                "attribute_combination"
            } else {
                "product"
            },
            "stocklocation": text(&self.stocklocation),
            "maincategory": main_category.map(|c| c.name.as_str()),
            "subcategory": "",
            "brand": self.brand.as_ref().map(|b| json!({ "href": null, "id": null, "name": b })),
            "condition": "new",
            "package": self.package_id.map(|id| json!({ "href": app.url(&format!("packages/{id}")), "id": id })),
            "deeplink": format!("{}/{alias}", app.base_url),
            "alias": alias,
            "meta_description": "",
            "meta_keywords": "",
            "page_title": "",
            "stock_delivery_number": 0,
            "stock_delivery_type": "",
            "stock_delivery_standard": "",
            "can_be_ordered": self.is_active && in_stock,
        });
        let model = resource("products");
        let is_sub = |ty: &Type| matches!(ty, Type::Object(r) if r == "subresource" || r == "productshippingcosts");
        let subs: Map<String, Value> = model
            .read_fields()
            .filter(|f| is_sub(&f.ty))
            .map(|f| (f.name.clone(), sub(sub_path(&f.name))))
            .collect();
        model.render(self, [computed, Value::Object(subs)])
    }
}

/// The path of a sub-resource; the API calls variations `productvariants`.
fn sub_path(field: &str) -> &str {
    match field {
        "productvariations" => "productvariants",
        other => other,
    }
}

impl Render for Product {
    fn render(&self, app: &App, store: &Store) -> Value {
        self.render_expanded(app, store, &[])
    }
}

impl Writable for Product {
    const MODEL: &'static str = "products";
    const TABLE: Table = Table::Products;

    fn settle(&mut self, body: &Body, _: &Store, change: Change) -> Result<(), ApiError> {
        if let Some(code) = self.eannumber.as_deref().filter(|_| body.has("eannumber")) {
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) || code.len() > 14 {
                return Err(ApiError::invalid(format!(
                    "eannumber '{code}' must be up to 14 digits"
                )));
            }
        }
        if body.has("taxtariff") {
            self.vatrate = rate_for(&self.taxtariff).ok_or_else(|| {
                ApiError::invalid(format!(
                    "taxtariff '{}' is not normal, reduced or exempt",
                    self.taxtariff
                ))
            })?;
        }
        if self.discount > self.price {
            return Err(ApiError::invalid("discount is larger than the price"));
        }
        if let Some(stock) = body.decimal("stock") {
            self.check_stock(stock)?;
        }
        let choices = ["global_setting", "yes", "no"];
        if !choices.contains(&self.ordering_without_stock.as_str()) {
            return Err(ApiError::invalid(format!(
                "ordering_without_stock '{}' is not one of {}",
                self.ordering_without_stock,
                choices.join(", ")
            )));
        }
        if change == Change::Created && self.stockenabled && self.stock.is_none() {
            self.stock = Some(Decimal::ZERO);
        }
        Ok(())
    }

    fn event(&self, change: Change) -> Option<(Event, Value)> {
        let event = match change {
            Change::Created => Event::ProductsCreated,
            Change::Updated => Event::ProductsUpdated,
            Change::Deleted => Event::ProductsDeleted,
        };
        Some((event, id_payload(self.id)))
    }

    fn after_delete(&self, store: &mut Store) {
        store
            .producttocategories
            .retain(|_, l| l.product_id != self.id);
        store
            .attributecombinations
            .retain(|_, c| c.product_id != self.id);
    }
}

impl Product {
    /// Stock needs tracking on, and whole numbers unless the product is
    /// sold in decimal amounts. Checked against the values after the write.
    fn check_stock(&self, stock: Decimal) -> Result<(), ApiError> {
        if !self.stockenabled {
            return Err(ApiError::invalid(
                "stock can only be set when stockenabled is true",
            ));
        }
        if stock.normalize().scale() > self.decimal_amount {
            return Err(ApiError::invalid(format!(
                "stock may have at most {} decimals (decimal_amount)",
                self.decimal_amount
            )));
        }
        Ok(())
    }

    /// A write that changed the product moves its modify date strictly
    /// forward, even within one clock tick, so that
    /// `orderby=modifydate_desc` always shows the change first.
    fn touch(&mut self, before: &Product) {
        self.modifydate = Utc::now().max(before.modifydate + chrono::Duration::seconds(1));
    }
}

fn sort(hits: &mut [&Product], orderby: Option<(String, bool)>) {
    let Some((field, desc)) = orderby else { return };
    hits.sort_by(|a, b| match field.as_str() {
        "name" => ordered(
            (a.name.to_lowercase(), a.id),
            (b.name.to_lowercase(), b.id),
            desc,
        ),
        "createdate" => ordered((a.createdate, a.id), (b.createdate, b.id), desc),
        "modifydate" => ordered((a.modifydate, a.id), (b.modifydate, b.id), desc),
        _ => ordered((a.id, a.id), (b.id, b.id), desc),
    });
}

/// The products of `hits`, sorted and rendered with `expand`, paged at `collection`.
fn page(
    ctx: &Ctx,
    collection: &str,
    mut hits: Vec<&Product>,
    store: &Store,
) -> Result<Reply, ApiError> {
    sort(&mut hits, ctx.query.orderby(ORDERBY)?);
    let expand = expand_list(&ctx.query)?;
    let items = hits
        .into_iter()
        .map(|p| p.render_expanded(ctx.app, store, &expand))
        .collect();
    ctx.page(collection, items)
}

fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(filters::PARAMS)?;
    let filters = Filters::parse(&ctx.query)?;
    let store = ctx.store();
    let hits = store
        .products
        .values()
        .filter(|p| filters.matches(p))
        .collect();
    page(ctx, "products", hits, &store)
}

fn of_category(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size", "orderby", "expand"])?;
    let store = ctx.store();
    let category = found::<Category>(&store, ctx.id(0))?.id;
    let linked: BTreeSet<i64> = store
        .producttocategories
        .values()
        .filter(|l| l.category_id == category)
        .map(|l| l.product_id)
        .collect();
    let hits = linked
        .iter()
        .filter_map(|id| store.products.get(id))
        .collect();
    page(
        ctx,
        &format!("categories/{category}/products"),
        hits,
        &store,
    )
}

fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["expand"])?;
    let expand = expand_list(&ctx.query)?;
    let store = ctx.store();
    let p = found::<Product>(&store, ctx.id(0))?;
    Ok(Reply::ok(p.render_expanded(ctx.app, &store, &expand)))
}

/// SKU/EAN lookup; at least one code is required. The emulator has no
/// variants, so `skunumber` (a variant code) only ever matches nothing.
fn query(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(&[
        "start",
        "size",
        "productnumber",
        "eannumber",
        "mpnnumber",
        "skunumber",
    ])?;
    let codes = Filters::codes(q)?;
    let sku = q.string("skunumber")?;
    if codes.is_empty() && sku.is_none() {
        return Err(ApiError::bad_query(
            "At least one of productnumber, eannumber, mpnnumber, skunumber is required",
        ));
    }
    let store = ctx.store();
    let items = store
        .products
        .values()
        .filter(|p| codes.matches(p) && sku.is_none())
        .map(|p| p.render(ctx.app, &store))
        .collect();
    ctx.page("productqueries", items)
}

fn change(ctx: &Ctx) -> Result<Reply, ApiError> {
    patch_with(ctx, Product::touch)
}

fn new(ctx: &Ctx) -> Result<Reply, ApiError> {
    let now = Utc::now();
    let blank = Product {
        id: 0,
        is_active: true,
        createdate: now,
        modifydate: now,
        productnumber: String::new(),
        eannumber: None,
        mpnnumber: None,
        name: String::new(),
        shortdescription: String::new(),
        description: None,
        taxtariff: "normal".into(),
        vatrate: Decimal::from(21),
        price: Decimal::ZERO,
        discount: Decimal::ZERO,
        purchaseprice: Decimal::ZERO,
        unit: String::new(),
        stockenabled: false,
        stock: None,
        stocklocation: None,
        ordering_without_stock: "global_setting".into(),
        weight: Decimal::ZERO,
        color: None,
        brand: None,
        package_id: None,
        decimal_amount: 0,
        amount_sold: Decimal::ZERO,
        minimal_order_amount: Decimal::ONE,
        is_visible: true,
    };
    create(ctx, blank)
}
