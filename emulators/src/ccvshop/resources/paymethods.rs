//! Payment methods active in the shop (API notes §3.6; GET only).

use serde_json::Value;

use super::{list, Render};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Paymethod, Store};

pub(crate) const ROUTES: &[RouteDef] = &[RouteDef::new("paymethods", &[("GET", all)])];

impl Render for Paymethod {
    /// Payment methods carry no links of their own.
    fn render(&self, _: &App, _: &Store) -> Value {
        resource("paymethods").render(self, [])
    }
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    list::<Paymethod>(ctx, "paymethods")
}
