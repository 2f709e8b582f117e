//! The shop itself and its settings (GET only). The settings hold the
//! merchant's names for the order statuses.

use serde_json::{json, Value};

use super::{found, get, list, Render};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Store, Webshop};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("webshops", &[("GET", all)]),
    RouteDef::new("webshops/{id}", &[("GET", get::<Webshop>)]),
    RouteDef::new("webshops/{id}/settings", &[("GET", settings)]),
];

impl Render for Webshop {
    fn render(&self, app: &App, _: &Store) -> Value {
        let computed = json!({
            "href": app.url(&format!("webshops/{}", self.id)),
            "product_limit": -1,
            "product_limit_left": -1,
            "api_root": app.api_root,
            "webshops": { "href": app.url(&format!("webshops/{}/webshops", self.id)) },
            "parent": { "href": app.url("webshops") },
        });
        resource("webshops").render(self, [computed])
    }
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    list::<Webshop>(ctx, "webshops")
}

fn settings(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let w = found::<Webshop>(&store, ctx.id(0))?;
    let computed = json!({
        "href": ctx.url(&format!("webshops/{}/settings", w.id)),
        "multishop_readonly_properties": [],
        "parent": { "href": ctx.url(&format!("webshops/{}", w.id)) },
    });
    Ok(Reply::ok(resource("settings").render(w, [computed])))
}
