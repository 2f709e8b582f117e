//! The filters of `GET /products` (API notes §3, from the JDK parameter
//! lists) and the codes of `GET /productqueries`.

use rust_decimal::Decimal;

use crate::ccvshop::collections::Query;
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::store::Product;

pub(super) const PARAMS: &[&str] = &[
    "start",
    "size",
    "productnumber",
    "eannumber",
    "mpnnumber",
    "productname",
    "minprice",
    "maxprice",
    "mindiscount",
    "maxdiscount",
    "minsellprice",
    "maxsellprice",
    "stock",
    "minstock",
    "maxstock",
    "color",
    "active",
    "orderby",
    "expand",
];

/// Exact product codes; a product must match every one given.
pub(super) struct Codes {
    productnumber: Option<String>,
    eannumber: Option<String>,
    mpnnumber: Option<String>,
}

impl Codes {
    pub fn is_empty(&self) -> bool {
        self.productnumber.is_none() && self.eannumber.is_none() && self.mpnnumber.is_none()
    }

    pub fn matches(&self, p: &Product) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.productnumber, Some(p.productnumber.as_str()))
            && eq(&self.eannumber, p.eannumber.as_deref())
            && eq(&self.mpnnumber, p.mpnnumber.as_deref())
    }
}

/// An inclusive range from `min…`/`max…` parameters.
struct Between(Option<Decimal>, Option<Decimal>);

impl Between {
    fn parse(q: &Query, min: &str, max: &str) -> Result<Self, ApiError> {
        Ok(Self(q.decimal(min)?, q.decimal(max)?))
    }

    fn holds(&self, v: Decimal) -> bool {
        self.0.is_none_or(|m| v >= m) && self.1.is_none_or(|m| v <= m)
    }
}

pub(super) struct Filters {
    codes: Codes,
    productname: Option<String>,
    price: Between,
    discount: Between,
    sellprice: Between,
    stock: Option<Decimal>,
    stock_range: Between,
    color: Option<String>,
    active: Option<bool>,
}

impl Filters {
    pub fn codes(q: &Query) -> Result<Codes, ApiError> {
        let text = |name: &str| q.string(name).map(|v| v.map(str::to_string));
        Ok(Codes {
            productnumber: text("productnumber")?,
            eannumber: text("eannumber")?,
            mpnnumber: text("mpnnumber")?,
        })
    }

    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        let productname = q.string("productname")?.map(str::to_string);
        if productname.as_ref().is_some_and(|n| n.chars().count() < 3) {
            return Err(ApiError::bad_query(
                "productname needs at least 3 characters",
            ));
        }
        Ok(Self {
            codes: Self::codes(q)?,
            productname,
            price: Between::parse(q, "minprice", "maxprice")?,
            discount: Between::parse(q, "mindiscount", "maxdiscount")?,
            sellprice: Between::parse(q, "minsellprice", "maxsellprice")?,
            stock: q.decimal("stock")?,
            stock_range: Between::parse(q, "minstock", "maxstock")?,
            color: q.string("color")?.map(str::to_string),
            active: q.boolean("active")?,
        })
    }

    pub fn matches(&self, p: &Product) -> bool {
        // Stock filters see no stock on a product that does not track it.
        let stock = p.stock.filter(|_| p.stockenabled);
        let name = p.name.to_lowercase();
        self.codes.matches(p)
            && self
                .color
                .as_deref()
                .is_none_or(|c| p.color.as_deref() == Some(c))
            && self
                .productname
                .as_ref()
                .is_none_or(|n| name.contains(&n.to_lowercase()))
            && self.price.holds(p.price)
            && self.discount.holds(p.discount)
            && self.sellprice.holds(p.price - p.discount)
            && self.stock.is_none_or(|s| stock == Some(s))
            && (self.stock_range.0.is_none() && self.stock_range.1.is_none()
                || stock.is_some_and(|s| self.stock_range.holds(s)))
            && self.active.is_none_or(|a| p.is_active == a)
    }
}
