//! Orders (API notes §3.1, §3.9).
//!
//! An order never embeds its rows: `orderrows` is only an `{href}` link, so a
//! connector must page `/orders/{id}/orderrows` like it would on a real shop.

mod list;
mod totals;
mod writes;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{get, Render};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::json::{num, opt_ts};
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Order, Store};

pub(crate) use totals::row_total;

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("orders", &[("GET", all), ("POST", writes::create)]),
    RouteDef::new(
        "orders/{id}",
        &[("GET", get::<Order>), ("PATCH", writes::change)],
    ),
];

impl Render for Order {
    fn render(&self, app: &App, store: &Store) -> Value {
        let computed = [
            self.identity(app),
            self.money(store),
            self.links(app, store),
        ];
        resource("orders").render(self, computed)
    }
}

/// What GET shows besides the stored fields, derived on every read.
impl Order {
    /// Numbers and state.
    fn identity(&self, app: &App) -> Value {
        let open = (!self.is_completed).then_some(self.id);
        json!({
            "href": app.url(&format!("orders/{}", self.id)),
            "ordernumber_full": self.ordernumber.map(|n| match &self.ordernumber_prefix {
                Some(p) if !p.is_empty() => format!("{p}-{n}"),
                _ => n.to_string(),
            }),
            "take_out_window": { "start": opt_ts(self.take_out_start), "end": opt_ts(self.take_out_end) },
            "is_platform_sale": false,
            "basket_href": open.map(|id| format!("{}/basket/{id}", app.base_url)),
            "checkout_href": open.map(|id| format!("{}/checkout/{id}", app.base_url)),
        })
    }

    /// Payment and totals.
    fn money(&self, store: &Store) -> Value {
        let t = totals::Totals::of(self, &store.rows_of(self));
        let paymethod = store.paymethods.get(&self.paymethod_id);
        let zero = num(Decimal::ZERO);
        json!({
            "safety_deposit_returned": false,
            "paymethod": paymethod.map(|p| p.combined_name.as_str()).unwrap_or(""),
            "paymethod_label": paymethod.map(|p| p.label.as_str()).unwrap_or(""),
            "total_orderrow_price": num(t.rows),
            "total_discounts": num(t.discounts),
            "total_price": num(t.price),
            "total_tax": num(t.tax),
            "total_weight": num(t.weight),
            "extra_payment_option": "",
            "extra_payment_option_no_sentprice": false,
            "extra_payment_option_pay_on_pickup": false,
            "extra_price": zero,
        })
    }

    /// The registered user and the links to what hangs off the order.
    fn links(&self, app: &App, store: &Store) -> Value {
        let link = |sub: &str| json!({ "href": app.url(&format!("orders/{}/{sub}", self.id)) });
        let user = self.user_id.and_then(|id| store.users.get(&id));
        json!({
            "user": {
                "id": self.user_id,
                "discount_percentage": user.map(|_| num(Decimal::ZERO)),
                "href": self.user_id.map(|id| app.url(&format!("users/{id}"))),
            },
            "packing_slip_deeplink": self.is_completed.then(|| format!("{}/packingslip/{}", app.base_url, self.id)),
            "orderrows": link("orderrows"),
            "ordernotes": link("ordernotes"),
            "ordermessages": link("ordermessages"),
            "ordernotifications": link("ordernotifications"),
            "orderaffiliatenetworks": link("orderaffiliatenetworks"),
            "orderlabels": link("orderlabels"),
            "invoices": link("invoices"),
        })
    }
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(list::PARAMS)?;
    let filters = list::Filters::parse(&ctx.query)?;
    let store = ctx.store();
    let mut hits: Vec<&Order> = store
        .orders
        .values()
        .filter(|o| filters.matches(o))
        .collect();
    filters.sort(&mut hits);
    let items = hits
        .into_iter()
        .map(|o| o.render(ctx.app, &store))
        .collect();
    ctx.page("orders", items)
}
