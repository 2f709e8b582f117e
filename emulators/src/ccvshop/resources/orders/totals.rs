//! An order's totals, derived from its rows on every read so they cannot
//! drift. CCV documents the fields, not the arithmetic; what is chosen here
//! is marked [I] and is what `flows/ccvshop-eaccounting/orders.flow`
//! reproduces, so the documents it creates add up to `total_price`:
//!
//! - [I] a row costs `count × (price − discount)`, rounded to cents, in the
//!   rows' price basis (`order_row_taxes_included`), at the row's `tax`;
//! - [I] order-level discounts — the coupon, credit points, other order
//!   discounts and negative `extra_costs` — are amounts in the rows' basis,
//!   each split over the rows' VAT rates in proportion to what the rows at
//!   each rate cost ([`split_over_rates`]);
//! - [I] shipping, payment costs and positive `extra_costs` are taxed at
//!   `shipping_tax_percentage`, in the shipping basis (`shipping_taxes_included`);
//! - [I] VAT is computed once per rate and basis over the summed amounts,
//!   rounded half away from zero to cents, as invoices show it.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::ccvshop::store::{Order, OrderRow};

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// VAT contained in (or to add to) `amount` at `rate` percent.
fn vat(amount: Decimal, rate: Decimal, included: bool) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    let v = if included {
        (amount * rate)
            .checked_div(hundred + rate)
            .unwrap_or_default()
    } else {
        amount * rate / hundred
    };
    round2(v)
}

/// What one row costs: its count at the selling price.
pub(crate) fn row_total(r: &OrderRow) -> Decimal {
    round2(r.count * (r.price - r.discount))
}

/// Splits an order-level `amount` over VAT rates in proportion to what is
/// sold at each (`subtotals`, by rate ascending): every rate but the highest
/// gets its share rounded to cents, the highest what is left, so the parts
/// add up to the amount exactly. Nothing sold: all of it at the highest rate.
pub fn split_over_rates(
    amount: Decimal,
    subtotals: &BTreeMap<Decimal, Decimal>,
) -> Vec<(Decimal, Decimal)> {
    let Some((&highest, _)) = subtotals.iter().next_back() else {
        return Vec::new();
    };
    let total: Decimal = subtotals.values().sum();
    let mut parts = Vec::new();
    let mut given = Decimal::ZERO;
    if !total.is_zero() {
        for (&rate, &sub) in subtotals.iter().filter(|(r, _)| **r != highest) {
            let share = round2(amount * sub / total);
            given += share;
            parts.push((rate, share));
        }
    }
    parts.push((highest, amount - given));
    parts
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
        let mut by_rate: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        for r in rows {
            *by_rate.entry(r.tax).or_default() += row_total(r);
        }
        let subtotals = by_rate.clone();
        let coupon = o
            .discountcoupon
            .as_ref()
            .map_or(Decimal::ZERO, |c| c.discount);
        let negative_costs = (-o.extra_costs).max(Decimal::ZERO);
        for discount in [
            coupon,
            o.credit_point_discount,
            o.order_discount,
            negative_costs,
        ] {
            if discount.is_zero() {
                continue;
            }
            for (rate, part) in split_over_rates(discount, &subtotals) {
                *by_rate.entry(rate).or_default() -= part;
            }
        }
        // (rate, prices include VAT) → amount.
        let mut groups: BTreeMap<(Decimal, bool), Decimal> = by_rate
            .into_iter()
            .map(|(rate, amount)| ((rate, o.order_row_taxes_included), amount))
            .collect();
        let costs = o.total_shipping + o.paymethod_costs + o.extra_costs.max(Decimal::ZERO);
        *groups
            .entry((o.shipping_tax_percentage, o.shipping_taxes_included))
            .or_default() += costs;
        let mut tax = Decimal::ZERO;
        let mut price = Decimal::ZERO;
        for ((rate, included), amount) in groups {
            let v = vat(amount, rate, included);
            tax += v;
            price += if included { amount } else { amount + v };
        }
        let row_discounts = round2(rows.iter().map(|r| r.count * r.discount).sum());
        Totals {
            rows: round2(row_sum),
            discounts: row_discounts + coupon + o.credit_point_discount + o.order_discount,
            weight: rows
                .iter()
                .map(|r| r.count * r.weight)
                .sum::<Decimal>()
                .normalize(),
            tax,
            price: round2(price),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_discount_split_over_rates_adds_up_exactly() {
        let subtotals = BTreeMap::from([(dec!(9), dec!(10.00)), (dec!(21), dec!(20.00))]);
        assert_eq!(
            split_over_rates(dec!(10.00), &subtotals),
            vec![(dec!(9), dec!(3.33)), (dec!(21), dec!(6.67))]
        );
        let nothing_sold = BTreeMap::from([(dec!(9), dec!(0)), (dec!(21), dec!(0))]);
        assert_eq!(
            split_over_rates(dec!(5), &nothing_sold),
            vec![(dec!(21), dec!(5))]
        );
    }
}
