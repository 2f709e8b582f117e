//! Exact arithmetic on decimals. `rust_decimal` keeps 28 significant digits
//! and, when a sum or product needs more, rounds it silently
//! (`12345678901234567890123 + 0.000001` loses the fraction). These
//! functions return the result only when it is exact, and `None` when it
//! is not (the caller fails the record with E0904): the result is compared
//! with the exact value computed in 256-bit integers.

use rust_decimal::Decimal;

/// `a + b`, or `None` if the exact sum does not fit 28 digits.
pub fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
    let r = a.checked_add(b)?;
    let s = a.scale().max(b.scale());
    if r.scale() == s {
        // No digit was dropped (rounding only ever lowers the scale).
        return Some(r);
    }
    exact_sum(a, b, r, s).then_some(r)
}

/// `a - b`, or `None` if the exact difference does not fit 28 digits.
pub fn sub(a: Decimal, b: Decimal) -> Option<Decimal> {
    add(a, -b)
}

/// `a * b`, or `None` if the exact product does not fit 28 digits.
pub fn mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let r = a.checked_mul(b)?;
    let s = a.scale() + b.scale();
    if r.scale() == s || a.is_zero() || b.is_zero() {
        return Some(r);
    }
    if r.scale() > s {
        return None;
    }
    let exact =
        U256::from(a.mantissa().unsigned_abs()).mul(&U256::from(b.mantissa().unsigned_abs()));
    let got = U256::from(r.mantissa().unsigned_abs()).mul_pow10(s - r.scale());
    let sign_ok = r.is_sign_negative() == (a.is_sign_negative() != b.is_sign_negative());
    (got == Some(exact) && sign_ok).then_some(r)
}

fn exact_sum(a: Decimal, b: Decimal, r: Decimal, s: u32) -> bool {
    let (Some(x), Some(y)) = (
        U256::from(a.mantissa().unsigned_abs()).mul_pow10(s - a.scale()),
        U256::from(b.mantissa().unsigned_abs()).mul_pow10(s - b.scale()),
    ) else {
        return false;
    };
    if r.scale() > s {
        return false;
    }
    let Some(got) = U256::from(r.mantissa().unsigned_abs()).mul_pow10(s - r.scale()) else {
        return false;
    };
    let (an, bn) = (a.mantissa() < 0, b.mantissa() < 0);
    let (magnitude, negative) = if an == bn {
        match x.add(&y) {
            Some(m) => (m, an),
            None => return false,
        }
    } else if x >= y {
        (x.sub(&y), an)
    } else {
        (y.sub(&x), bn)
    };
    got == magnitude && (magnitude.is_zero() || (r.mantissa() < 0) == negative)
}

/// A 256-bit unsigned integer, little-endian limbs: just what the checks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U256([u64; 4]);

impl U256 {
    fn from(v: u128) -> U256 {
        U256([v as u64, (v >> 64) as u64, 0, 0])
    }
    fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }
    fn mul_small(&self, m: u64) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (o, &limb) in out.iter_mut().zip(&self.0) {
            let p = u128::from(limb) * u128::from(m) + carry;
            *o = p as u64;
            carry = p >> 64;
        }
        (carry == 0).then_some(U256(out))
    }
    fn mul_pow10(&self, n: u32) -> Option<U256> {
        let mut v = *self;
        for _ in 0..n {
            v = v.mul_small(10)?;
        }
        Some(v)
    }
    /// The full product of two values below 2^128 (always fits).
    fn mul(&self, other: &U256) -> U256 {
        let mut out = [0u64; 4];
        for i in 0..2 {
            let mut carry = 0u128;
            for j in 0..2 {
                let cur =
                    u128::from(out[i + j]) + u128::from(self.0[i]) * u128::from(other.0[j]) + carry;
                out[i + j] = cur as u64;
                carry = cur >> 64;
            }
            out[i + 2] = carry as u64;
        }
        U256(out)
    }
    fn add(&self, other: &U256) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (i, o) in out.iter_mut().enumerate() {
            let s = u128::from(self.0[i]) + u128::from(other.0[i]) + carry;
            *o = s as u64;
            carry = s >> 64;
        }
        (carry == 0).then_some(U256(out))
    }
    /// `self - other` for `self >= other`.
    fn sub(&self, other: &U256) -> U256 {
        let mut out = [0u64; 4];
        let mut borrow = 0i128;
        for (i, o) in out.iter_mut().enumerate() {
            let d = i128::from(self.0[i]) - i128::from(other.0[i]) - borrow;
            if d < 0 {
                *o = (d + (1i128 << 64)) as u64;
                borrow = 1;
            } else {
                *o = d as u64;
                borrow = 0;
            }
        }
        U256(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn exact_results_pass() {
        assert_eq!(add(d("0.1"), d("0.2")), Some(d("0.3")));
        assert_eq!(sub(d("12.50"), d("0.50")), Some(d("12.00")));
        assert_eq!(mul(d("19.99"), d("1.21")), Some(d("24.1879")));
        assert_eq!(
            add(d("79228162514264337593543950334"), d("1")),
            Some(d("79228162514264337593543950335"))
        );
        // A scale that had to drop only zeros is still exact.
        assert_eq!(
            add(d("79228162514264337593543950335"), d("0.0")),
            Some(d("79228162514264337593543950335"))
        );
        assert_eq!(
            mul(d("0.0000000000000000000000000001"), d("10")).map(|r| r * d("1")),
            Some(d("0.000000000000000000000000001"))
        );
        assert_eq!(add(d("-5"), d("5")), Some(d("0")));
        assert_eq!(mul(d("-2.5"), d("4")), Some(d("-10.0")));
    }

    #[test]
    fn results_that_would_be_rounded_are_refused() {
        // 23 digits and a millionth: 29 significant digits, more than a
        // 96-bit mantissa holds when they start with a 9.
        assert_eq!(add(d("98765432109876543210987"), d("0.000001")), None);
        assert_eq!(sub(d("98765432109876543210987"), d("0.000001")), None);
        // With a 1 in front they still fit, exactly.
        assert_eq!(
            add(d("12345678901234567890123"), d("0.000001")),
            Some(d("12345678901234567890123.000001"))
        );
        assert_eq!(
            mul(d("1234567890.12345678901234567"), d("1234567890.1")),
            None
        );
        assert_eq!(mul(d("0.0000000000001"), d("0.00000000000000001")), None);
        assert_eq!(add(d("79228162514264337593543950335"), d("1")), None);
    }
}
