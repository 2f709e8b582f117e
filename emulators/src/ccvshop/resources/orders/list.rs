//! The filters and sort orders of `GET /orders` (API notes §3). Unfinished
//! (abandoned) checkouts are hidden unless `is_completed=false` asks for them.

use chrono::{DateTime, NaiveDate, Utc};

use crate::ccvshop::collections::{ordered, Query};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::store::Order;

pub(super) const PARAMS: &[&str] = &[
    "start",
    "size",
    "ordernumber",
    "status",
    "is_paid",
    "is_completed",
    "deliver_date",
    "take_out_date",
    "min_create_date",
    "max_create_date",
    "paymethod_id",
    "transaction_id",
    "orderby",
];

const ORDERBY: &[&str] = &["id", "ordernumber", "create_date", "deliver_date"];

pub(super) struct Filters {
    ordernumber: Option<i64>,
    status: Option<i64>,
    is_paid: Option<bool>,
    is_completed: bool,
    deliver_day: Option<NaiveDate>,
    take_out_day: Option<NaiveDate>,
    min_create: Option<DateTime<Utc>>,
    max_create: Option<DateTime<Utc>>,
    paymethod_id: Option<i64>,
    transaction_id: Option<String>,
    orderby: Option<(String, bool)>,
}

/// Whether an optional timestamp falls on `day`.
fn on(day: Option<NaiveDate>, at: Option<DateTime<Utc>>) -> bool {
    day.is_none_or(|d| at.is_some_and(|x| x.date_naive() == d))
}

impl Filters {
    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        Ok(Self {
            ordernumber: q.int("ordernumber", 0, i64::MAX)?,
            status: q.int("status", 1, 14)?,
            is_paid: q.boolean("is_paid")?,
            is_completed: q.boolean("is_completed")?.unwrap_or(true),
            deliver_day: q.day("deliver_date")?,
            take_out_day: q.day("take_out_date")?,
            min_create: q.date("min_create_date", false)?,
            max_create: q.date("max_create_date", true)?,
            paymethod_id: q.int("paymethod_id", 0, i64::MAX)?,
            transaction_id: q.string("transaction_id")?.map(str::to_string),
            orderby: q.orderby(ORDERBY)?,
        })
    }

    pub fn matches(&self, o: &Order) -> bool {
        o.is_completed == self.is_completed
            && self.ordernumber.is_none_or(|n| o.ordernumber == Some(n))
            && self.status.is_none_or(|s| o.status == Some(s))
            && self.is_paid.is_none_or(|p| o.paid == p)
            && on(self.deliver_day, o.deliver_date)
            && on(self.take_out_day, o.take_out_start)
            && self.min_create.is_none_or(|m| o.create_date >= m)
            && self.max_create.is_none_or(|m| o.create_date <= m)
            && self.paymethod_id.is_none_or(|p| o.paymethod_id == p)
            && self
                .transaction_id
                .as_deref()
                .is_none_or(|t| o.transaction_id.as_deref() == Some(t))
    }

    pub fn sort(&self, hits: &mut [&Order]) {
        let Some((field, desc)) = &self.orderby else {
            return;
        };
        let desc = *desc;
        hits.sort_by(|a, b| match field.as_str() {
            "ordernumber" => ordered((a.ordernumber, a.id), (b.ordernumber, b.id), desc),
            "create_date" => ordered((a.create_date, a.id), (b.create_date, b.id), desc),
            "deliver_date" => ordered((a.deliver_date, a.id), (b.deliver_date, b.id), desc),
            _ => ordered((a.id, a.id), (b.id, b.id), desc),
        });
    }
}
