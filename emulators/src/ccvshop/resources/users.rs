//! Registered customers (API notes §3.8; GET only). Guest customers exist
//! only as an order's `customer`.

use serde_json::{json, Value};

use super::{get, Render};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::collections::ordered;
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Store, User};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("users", &[("GET", list)]),
    RouteDef::new("users/{id}", &[("GET", get::<User>)]),
];

impl Render for User {
    fn render(&self, app: &App, _: &Store) -> Value {
        let own = |sub: &str| json!({ "href": app.url(&format!("users/{}/{sub}", self.id)) });
        let computed = json!({
            "href": app.url(&format!("users/{}", self.id)),
            "product_in_category_discount": "",
            "creditpoints": own("creditpoints"),
            "creditpointmutations": own("creditpointmutations"),
            "disabledpaymethods": own("disabledpaymethods"),
            "parent": { "href": app.url("users") },
        });
        resource("users").render(self, [computed])
    }
}

/// A name from the billing address, for sorting.
fn billing_name(u: &User, field: &str) -> String {
    u.userinfo
        .get("billingaddress")
        .and_then(|b| b.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
}

fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(&["start", "size", "approval_status", "orderby"])?;
    let approval = match q.string("approval_status")? {
        Some(s @ ("pending" | "accepted")) => Some(s),
        Some(other) => {
            return Err(ApiError::bad_query(format!(
                "approval_status must be pending or accepted, got '{other}'"
            )))
        }
        None => None,
    };
    let orderby = q.orderby(&["id", "first_name", "last_name"])?;
    let store = ctx.store();
    let mut hits: Vec<&User> = store
        .users
        .values()
        .filter(|u| approval.is_none_or(|a| u.approval_status == a))
        .collect();
    if let Some((field, desc)) = orderby {
        let key = |u: &User| match field.as_str() {
            "id" => (String::new(), u.id),
            name => (billing_name(u, name), 0),
        };
        hits.sort_by(|a, b| ordered((key(a), a.id), (key(b), b.id), desc));
    }
    let items = hits
        .into_iter()
        .map(|u| u.render(ctx.app, &store))
        .collect();
    ctx.page("users", items)
}
