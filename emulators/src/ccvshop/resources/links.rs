//! Product ↔ category links (API notes §3.5): which categories a product
//! is shown in, at which position. A change to a link is a change to its
//! product, so it fires `products.updated`.

use serde_json::{json, Value};

use super::{create, delete, found, get, id_payload, Change, Render, Writable};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::events::Event;
use crate::ccvshop::input::Body;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Category, Product, ProductToCategory, Store, Table};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("producttocategories", &[("GET", all), ("POST", new)]),
    RouteDef::new(
        "producttocategories/{id}",
        &[
            ("GET", get::<ProductToCategory>),
            ("DELETE", delete::<ProductToCategory>),
        ],
    ),
    RouteDef::new("products/{id}/producttocategories", &[("GET", of_product)]),
    RouteDef::new(
        "categories/{id}/producttocategories",
        &[("GET", of_category)],
    ),
];

impl Render for ProductToCategory {
    fn render(&self, app: &App, _: &Store) -> Value {
        let computed = json!({
            "href": app.url(&format!("producttocategories/{}", self.id)),
            "product_href": app.url(&format!("products/{}", self.product_id)),
            "category_href": app.url(&format!("categories/{}", self.category_id)),
        });
        resource("producttocategories").render(self, [computed])
    }
}

impl Writable for ProductToCategory {
    const MODEL: &'static str = "producttocategories";
    const TABLE: Table = Table::ProductToCategories;

    fn settle(&mut self, body: &Body, store: &Store, _: Change) -> Result<(), ApiError> {
        let (product, category) = (self.product_id, self.category_id);
        if !store.products.contains_key(&product) {
            return Err(ApiError::invalid(format!(
                "product_id {product} does not exist"
            )));
        }
        if !store.categories.contains_key(&category) {
            return Err(ApiError::invalid(format!(
                "category_id {category} does not exist"
            )));
        }
        let in_category = || {
            store
                .producttocategories
                .values()
                .filter(move |l| l.category_id == category)
        };
        if in_category().any(|l| l.product_id == product) {
            return Err(ApiError::invalid(format!(
                "Product {product} is already in category {category}"
            )));
        }
        if !body.has("position") {
            // Without a position the link goes last in its category.
            self.position = in_category().map(|l| l.position).max().unwrap_or(0) + 1;
        }
        Ok(())
    }

    fn event(&self, _: Change) -> Option<(Event, Value)> {
        Some((Event::ProductsUpdated, id_payload(self.product_id)))
    }
}

/// The links that `keep` selects, paged at `collection`.
fn page(
    ctx: &Ctx,
    collection: &str,
    keep: impl Fn(&ProductToCategory) -> bool,
) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let store = ctx.store();
    let items = store
        .producttocategories
        .values()
        .filter(|l| keep(l))
        .map(|l| l.render(ctx.app, &store))
        .collect();
    ctx.page(collection, items)
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    page(ctx, "producttocategories", |_| true)
}

fn of_product(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = found::<Product>(&ctx.store(), ctx.id(0))?.id;
    page(ctx, &format!("products/{id}/producttocategories"), |l| {
        l.product_id == id
    })
}

fn of_category(ctx: &Ctx) -> Result<Reply, ApiError> {
    let id = found::<Category>(&ctx.store(), ctx.id(0))?.id;
    page(ctx, &format!("categories/{id}/producttocategories"), |l| {
        l.category_id == id
    })
}

fn new(ctx: &Ctx) -> Result<Reply, ApiError> {
    let blank = ProductToCategory {
        id: 0,
        product_id: 0,
        category_id: 0,
        position: 0,
    };
    create(ctx, blank)
}
