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
        let link = |sub: &str| json!({ "href": app.url(&format!("webshops/{}/{sub}", self.id)) });
        resource("webshops").render(
            self,
            [json!({
                "href": app.url(&format!("webshops/{}", self.id)),
                "domain": app.base_url,
                "settings": link("settings"),
                "products": link("products"),
                "parent": { "href": app.url("webshops") },
            })],
        )
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
