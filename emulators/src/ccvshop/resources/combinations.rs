//! A product's attribute combinations (API notes §3.3): the variants of a
//! product, each with its own codes and stock. `PATCH` sets the stock (and
//! the active flag); they are created in the shop's back office, so the API
//! offers no POST. A change to one is a change to its product.

use serde_json::{json, Value};

use super::{found, get, id_payload, patch, Change, Render, Writable};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::events::Event;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{AttributeCombination, Product, Store, Table};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new(
        "products/{id}/attributecombinations",
        &[("GET", of_product)],
    ),
    RouteDef::new(
        "attributecombinations/{id}",
        &[
            ("GET", get::<AttributeCombination>),
            ("PATCH", patch::<AttributeCombination>),
        ],
    ),
];

impl Render for AttributeCombination {
    fn render(&self, app: &App, _: &Store) -> Value {
        let computed = json!({
            "href": app.url(&format!("attributecombinations/{}", self.id)),
            "parent": { "href": app.url(&format!("products/{}", self.product_id)) },
        });
        resource("attributecombinations").render(self, [computed])
    }
}

impl Writable for AttributeCombination {
    const MODEL: &'static str = "attributecombinations";
    const TABLE: Table = Table::AttributeCombinations;

    fn event(&self, _: Change) -> Option<(Event, Value)> {
        Some((Event::ProductsUpdated, id_payload(self.product_id)))
    }
}

/// The combinations of one product, in id order.
pub(crate) fn of(store: &Store, product: i64) -> impl Iterator<Item = &AttributeCombination> {
    store
        .attributecombinations
        .values()
        .filter(move |c| c.product_id == product)
}

fn of_product(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let store = ctx.store();
    let id = found::<Product>(&store, ctx.id(0))?.id;
    let items = of(&store, id).map(|c| c.render(ctx.app, &store)).collect();
    ctx.page(&format!("products/{id}/attributecombinations"), items)
}
