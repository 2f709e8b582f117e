//! `GET /api/rest/v1/`: the resources these credentials may use (API notes §2).

use serde_json::{json, Value};

use crate::ccvshop::app::{Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::routes::{top_level_resources, RouteDef};

pub(crate) const ROUTES: &[RouteDef] = &[RouteDef::new("", &[("GET", root)])];

fn root(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let items: Vec<Value> = top_level_resources()
        .map(|name| {
            json!({
                "href": ctx.url(name),
                "title": name,
                "description": format!("The {name} resource"),
                "uri": format!("/{name}/"),
            })
        })
        .collect();
    Ok(Reply::ok(
        json!({ "href": ctx.app.api_root.clone() + "/", "items": items }),
    ))
}
