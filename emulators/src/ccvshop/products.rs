//! Products and product queries (API notes §3, §3.3).
//!
//! Reads say `is_active`, writes must say `active` (as in the real API); a
//! write with `is_active` is a 400 so the mismatch is caught in tests.
//! `stock` can only be written when stock tracking is (or becomes) enabled.

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::categories::render_link;
use super::collections::{envelope, ordered, Query};
use super::errors::ApiError;
use super::input::Fields;
use super::store::{Product, Store, Table};
use super::webhooks::{emit, Event};
use super::{merge_objects, num, opt_num, ts, App, Ctx, Reply};

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

const LIST_PARAMS: &[&str] = &[
    "start",
    "size",
    "productnumber",
    "eannumber",
    "mpnnumber",
    "productname",
    "minprice",
    "maxprice",
    "mindiscount",
    "maxdiscount",
    "minsellprice",
    "maxsellprice",
    "stock",
    "minstock",
    "maxstock",
    "color",
    "active",
    "orderby",
    "expand",
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
    let mut out = Vec::new();
    for part in raw.split(',') {
        if !EXPANDABLE.contains(&part) {
            return Err(ApiError::bad_query(format!(
                "Cannot expand '{part}'; expandable: {}",
                EXPANDABLE.join(", ")
            )));
        }
        out.push(part.to_string());
    }
    Ok(out)
}

pub(crate) fn render_product(app: &App, store: &Store, p: &Product, expand: &[String]) -> Value {
    let sub = |name: &str| {
        let mut v = json!({ "href": app.url(&format!("products/{}/{name}", p.id)) });
        if expand.iter().any(|e| e == name) {
            let collection: Vec<Value> = if name == "producttocategories" {
                store
                    .producttocategories
                    .values()
                    .filter(|l| l.product_id == p.id)
                    .map(|l| render_link(app, l))
                    .collect()
            } else {
                // The emulator stores no photos, variants, reviews…: truthfully empty.
                Vec::new()
            };
            v["collection"] = Value::Array(collection);
        }
        v
    };
    let main_category = store
        .producttocategories
        .values()
        .filter(|l| l.product_id == p.id)
        .min_by_key(|l| (l.position, l.id))
        .and_then(|l| store.categories.get(&l.category_id));
    let in_stock =
        !p.stockenabled || p.stock.is_some_and(|s| s > Decimal::ZERO) || p.ordering_without_stock;
    let alias = p
        .name
        .to_lowercase()
        .replace(|c: char| !c.is_alphanumeric(), "-");
    // In parts: one json! of this size exceeds the macro recursion limit.
    let head = json!({
        "href": app.url(&format!("products/{}", p.id)),
        "id": p.id,
        "is_active": p.is_active,
        "createdate": ts(p.createdate),
        "modifydate": ts(p.modifydate),
        "productnumber": p.productnumber,
        "eannumber": p.eannumber,
        "mpnnumber": p.mpnnumber,
        "is_multishop_product": false,
        "name": p.name,
        "shortdescription": p.shortdescription,
        "description": p.description,
        "vatrate": num(p.vatrate),
        "taxtariff": p.taxtariff,
        "price": num(p.price),
        "discount": num(p.discount),
        "purchaseprice": num(p.purchaseprice),
        "container_deposit_price": num(Decimal::ZERO),
        "safety_deposit_price": num(Decimal::ZERO),
        "unit": p.unit,
        "stockenabled": p.stockenabled,
        "stocktype": "product",
        "stock": opt_num(p.stock),
        "stocklocation": p.stocklocation,
        "ordering_without_stock": p.ordering_without_stock,
    });
    let tail = json!({
        "weight": num(p.weight),
        "maincategory": main_category.map(|c| json!({
            "href": app.url(&format!("categories/{}", c.id)), "id": c.id, "name": c.name,
        })),
        "subcategory": Value::Null,
        "brand": p.brand.as_ref().map(|b| json!({ "href": Value::Null, "id": Value::Null, "name": b })),
        "supplier": Value::Null,
        "condition": "new",
        "color": p.color,
        "package": p.package_id.map(|id| json!({ "href": app.url(&format!("packages/{id}")), "id": id })),
        "productmainphoto": Value::Null,
        "deeplink": format!("{}/{alias}", app.base_url),
        "alias": alias,
        "meta_description": Value::Null,
        "meta_keywords": Value::Null,
        "page_title": Value::Null,
        "decimal_amount": p.decimal_amount,
        "amount_sold": num(p.amount_sold),
        "minimal_order_amount": num(p.minimal_order_amount),
        "is_visible": p.is_visible,
        "can_be_ordered": p.is_active && in_stock,
        "productshippingcosts": sub("productshippingcosts"),
        "productphotos": sub("productphotos"),
        "producttocategories": sub("producttocategories"),
        "attributecombinations": sub("attributecombinations"),
        "productlabels": sub("productlabels"),
        "productvariations": sub("productvariants"),
        "productattachments": sub("productattachments"),
        "productkeywords": sub("productkeywords"),
        "productreviews": sub("productreviews"),
        "productstaggeredprices": sub("productstaggeredprices"),
        "parent": { "href": app.url("products") },
    });
    merge_objects([head, tail])
}

struct Filters {
    productnumber: Option<String>,
    eannumber: Option<String>,
    mpnnumber: Option<String>,
    productname: Option<String>,
    minprice: Option<Decimal>,
    maxprice: Option<Decimal>,
    mindiscount: Option<Decimal>,
    maxdiscount: Option<Decimal>,
    minsellprice: Option<Decimal>,
    maxsellprice: Option<Decimal>,
    stock: Option<Decimal>,
    minstock: Option<Decimal>,
    maxstock: Option<Decimal>,
    color: Option<String>,
    active: Option<bool>,
}

impl Filters {
    fn parse(q: &Query) -> Result<Self, ApiError> {
        let productname = q.string("productname")?.map(str::to_string);
        if productname.as_ref().is_some_and(|n| n.chars().count() < 3) {
            return Err(ApiError::bad_query(
                "productname needs at least 3 characters",
            ));
        }
        Ok(Self {
            productnumber: q.string("productnumber")?.map(str::to_string),
            eannumber: q.string("eannumber")?.map(str::to_string),
            mpnnumber: q.string("mpnnumber")?.map(str::to_string),
            productname,
            minprice: q.decimal("minprice")?,
            maxprice: q.decimal("maxprice")?,
            mindiscount: q.decimal("mindiscount")?,
            maxdiscount: q.decimal("maxdiscount")?,
            minsellprice: q.decimal("minsellprice")?,
            maxsellprice: q.decimal("maxsellprice")?,
            stock: q.decimal("stock")?,
            minstock: q.decimal("minstock")?,
            maxstock: q.decimal("maxstock")?,
            color: q.string("color")?.map(str::to_string),
            active: q.boolean("active")?,
        })
    }

    fn matches(&self, p: &Product) -> bool {
        let sell = p.price - p.discount;
        let stock = p.stock.filter(|_| p.stockenabled);
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.productnumber, Some(p.productnumber.as_str()))
            && eq(&self.eannumber, p.eannumber.as_deref())
            && eq(&self.mpnnumber, p.mpnnumber.as_deref())
            && eq(&self.color, p.color.as_deref())
            && self
                .productname
                .as_ref()
                .is_none_or(|n| p.name.to_lowercase().contains(&n.to_lowercase()))
            && self.minprice.is_none_or(|m| p.price >= m)
            && self.maxprice.is_none_or(|m| p.price <= m)
            && self.mindiscount.is_none_or(|m| p.discount >= m)
            && self.maxdiscount.is_none_or(|m| p.discount <= m)
            && self.minsellprice.is_none_or(|m| sell >= m)
            && self.maxsellprice.is_none_or(|m| sell <= m)
            && self.stock.is_none_or(|s| stock == Some(s))
            && self.minstock.is_none_or(|m| stock.is_some_and(|s| s >= m))
            && self.maxstock.is_none_or(|m| stock.is_some_and(|s| s <= m))
            && self.active.is_none_or(|a| p.is_active == a)
    }
}

fn sort(hits: &mut [&Product], orderby: Option<(String, bool)>) {
    if let Some((field, desc)) = orderby {
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
}

pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(LIST_PARAMS)?;
    let paging = ctx.paging()?;
    let filters = Filters::parse(q)?;
    let orderby = q.orderby(ORDERBY)?;
    let expand = expand_list(q)?;
    let store = ctx.store();
    let mut hits: Vec<&Product> = store
        .products
        .values()
        .filter(|p| filters.matches(p))
        .collect();
    sort(&mut hits, orderby);
    let items = hits
        .into_iter()
        .map(|p| render_product(ctx.app, &store, p, &expand))
        .collect();
    Ok(Reply::ok(envelope(&ctx.url("products"), q, paging, items)))
}

pub fn of_category(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(&["start", "size", "orderby", "expand"])?;
    let paging = ctx.paging()?;
    let orderby = q.orderby(ORDERBY)?;
    let expand = expand_list(q)?;
    let store = ctx.store();
    let category = ctx.id(0);
    if !store.categories.contains_key(&category) {
        return Err(ApiError::not_found("category", category));
    }
    let linked: std::collections::BTreeSet<i64> = store
        .producttocategories
        .values()
        .filter(|l| l.category_id == category)
        .map(|l| l.product_id)
        .collect();
    let mut hits: Vec<&Product> = linked
        .iter()
        .filter_map(|id| store.products.get(id))
        .collect();
    sort(&mut hits, orderby);
    let items = hits
        .into_iter()
        .map(|p| render_product(ctx.app, &store, p, &expand))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url(&format!("categories/{category}/products")),
        q,
        paging,
        items,
    )))
}

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["expand"])?;
    let expand = expand_list(&ctx.query)?;
    let store = ctx.store();
    let p = store
        .products
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("product", ctx.id(0)))?;
    Ok(Reply::ok(render_product(ctx.app, &store, p, &expand)))
}

/// SKU/EAN lookup; at least one code is required. The emulator has no
/// variants, so `skunumber` (a variant code) only ever matches nothing.
pub fn query(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(&[
        "start",
        "size",
        "productnumber",
        "eannumber",
        "mpnnumber",
        "skunumber",
    ])?;
    let paging = ctx.paging()?;
    let productnumber = q.string("productnumber")?;
    let eannumber = q.string("eannumber")?;
    let mpnnumber = q.string("mpnnumber")?;
    let skunumber = q.string("skunumber")?;
    if productnumber.is_none() && eannumber.is_none() && mpnnumber.is_none() && skunumber.is_none()
    {
        return Err(ApiError::bad_query(
            "At least one of productnumber, eannumber, mpnnumber, skunumber is required",
        ));
    }
    let store = ctx.store();
    let items = store
        .products
        .values()
        .filter(|p| productnumber.is_none_or(|n| p.productnumber == n))
        .filter(|p| eannumber.is_none_or(|n| p.eannumber.as_deref() == Some(n)))
        .filter(|p| mpnnumber.is_none_or(|n| p.mpnnumber.as_deref() == Some(n)))
        .filter(|_| skunumber.is_none())
        .map(|p| render_product(ctx.app, &store, p, &[]))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url("productqueries"),
        q,
        paging,
        items,
    )))
}

const WRITABLE: &[&str] = &[
    "active",
    "productnumber",
    "eannumber",
    "mpnnumber",
    "name",
    "shortdescription",
    "description",
    "taxtariff",
    "price",
    "discount",
    "purchaseprice",
    "unit",
    "stockenabled",
    "stock",
    "stocklocation",
    "ordering_without_stock",
    "weight",
    "color",
    "package_id",
    "decimal_amount",
    "minimal_order_amount",
];

const HINTS: &[(&str, &str)] = &[
    ("is_active", "on write the flag is called 'active'"),
    (
        "vatrate",
        "deprecated; write 'taxtariff' (normal, reduced, exempt)",
    ),
    ("id", "read-only"),
    ("href", "read-only"),
    ("createdate", "read-only"),
    ("modifydate", "read-only, set by the shop"),
];

/// Apply a validated write to `p`. Stock rules need the final `stockenabled`.
fn apply(f: &Fields, p: &mut Product) -> Result<(), ApiError> {
    if let Some(v) = f.boolean("active")? {
        p.is_active = v;
    }
    if let Some(v) = f.nonempty("productnumber")? {
        p.productnumber = v;
    }
    if let Some(v) = f.nullable_string("eannumber")? {
        if let Some(code) = &v {
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) || code.len() > 14 {
                return Err(ApiError::invalid(format!(
                    "eannumber '{code}' must be up to 14 digits"
                )));
            }
        }
        p.eannumber = v;
    }
    if let Some(v) = f.nullable_string("mpnnumber")? {
        p.mpnnumber = v;
    }
    if let Some(v) = f.nonempty("name")? {
        p.name = v;
    }
    if let Some(v) = f.string("shortdescription")? {
        p.shortdescription = v;
    }
    if let Some(v) = f.nullable_string("description")? {
        p.description = v;
    }
    if let Some(t) = f.string("taxtariff")? {
        p.vatrate = rate_for(&t).ok_or_else(|| {
            ApiError::invalid(format!("taxtariff '{t}' is not normal, reduced or exempt"))
        })?;
        p.taxtariff = t;
    }
    if let Some(v) = f.non_negative("price")? {
        p.price = v;
    }
    if let Some(v) = f.non_negative("discount")? {
        p.discount = v;
    }
    if p.discount > p.price {
        return Err(ApiError::invalid("discount is larger than the price"));
    }
    if let Some(v) = f.non_negative("purchaseprice")? {
        p.purchaseprice = v;
    }
    if let Some(v) = f.string("unit")? {
        p.unit = v;
    }
    if let Some(v) = f.boolean("decimal_amount")? {
        p.decimal_amount = v;
    }
    if let Some(v) = f.boolean("stockenabled")? {
        p.stockenabled = v;
    }
    if let Some(stock) = f.decimal("stock")? {
        if !p.stockenabled {
            return Err(ApiError::invalid(
                "stock can only be set when stockenabled is true",
            ));
        }
        if !p.decimal_amount && stock.fract() != Decimal::ZERO {
            return Err(ApiError::invalid(
                "stock must be whole for a product without decimal_amount",
            ));
        }
        p.stock = Some(stock);
    }
    if let Some(v) = f.nullable_string("stocklocation")? {
        p.stocklocation = v;
    }
    if let Some(v) = f.boolean("ordering_without_stock")? {
        p.ordering_without_stock = v;
    }
    if let Some(v) = f.non_negative("weight")? {
        p.weight = v;
    }
    if let Some(v) = f.nullable_string("color")? {
        p.color = v;
    }
    if let Some(v) = f.nullable_int("package_id", 1, i64::MAX)? {
        p.package_id = v;
    }
    if let Some(v) = f.non_negative("minimal_order_amount")? {
        p.minimal_order_amount = v;
    }
    Ok(())
}

pub fn create(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(WRITABLE, HINTS)?;
    for required in ["productnumber", "name", "price"] {
        if !f.has(required) {
            return Err(ApiError::invalid(format!(
                "Property '{required}' is required"
            )));
        }
    }
    let now = Utc::now();
    let mut p = Product {
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
        ordering_without_stock: false,
        weight: Decimal::ZERO,
        color: None,
        brand: None,
        package_id: None,
        decimal_amount: false,
        amount_sold: Decimal::ZERO,
        minimal_order_amount: Decimal::ONE,
        is_visible: true,
    };
    apply(&f, &mut p)?;
    if p.stockenabled && p.stock.is_none() {
        p.stock = Some(Decimal::ZERO);
    }
    let mut store = ctx.store();
    p.id = store.next_id(Table::Products);
    let id = p.id;
    store.products.insert(id, p);
    emit(
        ctx.app,
        &mut store,
        Event::ProductsCreated,
        json!({ "id": id }),
    );
    let rendered = store
        .products
        .get(&id)
        .map(|p| render_product(ctx.app, &store, p, &[]))
        .unwrap_or(Value::Null);
    Ok(Reply::created(rendered))
}

pub fn patch(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(WRITABLE, HINTS)?;
    let id = ctx.id(0);
    let mut store = ctx.store();
    let before = store
        .products
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("product", id))?;
    let mut p = before.clone();
    apply(&f, &mut p)?;
    if p != before {
        // Strictly later than before, even within one clock tick, so that
        // `orderby=modifydate_desc` always shows the change first.
        p.modifydate = Utc::now().max(before.modifydate + chrono::Duration::seconds(1));
        store.products.insert(id, p);
        emit(
            ctx.app,
            &mut store,
            Event::ProductsUpdated,
            json!({ "id": id }),
        );
    }
    Ok(Reply::NoContent)
}

pub fn delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let id = ctx.id(0);
    let mut store = ctx.store();
    store
        .products
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("product", id))?;
    store.producttocategories.retain(|_, l| l.product_id != id);
    emit(
        ctx.app,
        &mut store,
        Event::ProductsDeleted,
        json!({ "id": id }),
    );
    Ok(Reply::NoContent)
}
