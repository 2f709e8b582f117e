//! An order's totals, derived from its rows on every read so they cannot
//! drift. How CCV computes `total_tax`/`total_price` when prices exclude
//! VAT is undocumented; here VAT is added on top in that case.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::ccvshop::store::{Order, OrderRow};

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// VAT contained in (or to add to) `amount` at `rate` percent.
fn vat(amount: Decimal, rate: Decimal, included: bool) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    if included {
        (amount * rate)
            .checked_div(hundred + rate)
            .unwrap_or_default()
    } else {
        amount * rate / hundred
    }
}

/// What one row costs: its count at the selling price.
pub(crate) fn row_total(r: &OrderRow) -> Decimal {
    round2(r.count * (r.price - r.discount))
}

pub(crate) struct Totals {
    pub rows: Decimal,
    pub discounts: Decimal,
    pub weight: Decimal,
    pub tax: Decimal,
    pub price: Decimal,
}

impl Totals {
    pub fn of(o: &Order, rows: &[&OrderRow]) -> Self {
        let row_sum: Decimal = rows.iter().map(|r| row_total(r)).sum();
        let rows_vat: Decimal = rows
            .iter()
            .map(|r| vat(row_total(r), r.tax, o.order_row_taxes_included))
            .sum();
        let shipping_vat = vat(
            o.total_shipping,
            o.shipping_tax_percentage,
            o.shipping_taxes_included,
        );
        let mut price = row_sum + o.total_shipping + o.paymethod_costs + o.extra_costs;
        if !o.order_row_taxes_included {
            price += rows_vat;
        }
        if !o.shipping_taxes_included {
            price += shipping_vat;
        }
        Totals {
            rows: round2(row_sum),
            discounts: round2(rows.iter().map(|r| r.count * r.discount).sum()),
            weight: rows
                .iter()
                .map(|r| r.count * r.weight)
                .sum::<Decimal>()
                .normalize(),
            tax: round2(rows_vat + shipping_vat),
            price: round2(price),
        }
    }
}
