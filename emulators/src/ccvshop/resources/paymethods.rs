//! Payment methods active in the shop (API notes §3.6; GET only).

use serde_json::{json, Value};

use super::{list, Render};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Paymethod, Store};

pub(crate) const ROUTES: &[RouteDef] = &[RouteDef::new("paymethods", &[("GET", all)])];

impl Render for Paymethod {
    fn render(&self, app: &App, _: &Store) -> Value {
        let href = app.url(&format!("paymethods/{}", self.id));
        resource("paymethods").render(self, [json!({ "href": href })])
    }
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    list::<Paymethod>(ctx, "paymethods")
}
