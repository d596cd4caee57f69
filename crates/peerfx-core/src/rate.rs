//! Exchange rates and conversion between amounts at a rate.
//!
//! A [`Rate`] is an exact decimal: how many major units of the offer's `want`
//! currency one major unit of its `give` currency costs. Conversion
//! ([`want_for_give`], [`give_for_want`]) is exact `u128` integer arithmetic
//! that rounds **down**, and overflow is an error, never a wrap or a panic.
//!
//! Why down: the maker computes a contract's `want_amount` (what the taker pays
//! it) from the give amount the taker asked for, and the taker recomputes it to
//! check. Rounding the maker's proceeds down means the side that computes never
//! gains from rounding; the taker pays less than one minor unit under the exact
//! price at worst.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::{Amount, Currency, MoneyError};

/// An exchange rate: major units of `want` per one major unit of `give`.
///
/// Exact decimal, normalized (no trailing zeros), so equal rates have equal bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate(Decimal);

impl Rate {
    /// Most decimal places a rate may have.
    pub const MAX_SCALE: u32 = 12;
    /// Most significant digits a rate may have.
    pub const MAX_DIGITS: u32 = 15;
    /// Smallest acceptable rate (10^-9), as a string.
    pub const MIN_STR: &'static str = "0.000000001";
    /// Largest acceptable rate (10^9), as a string.
    pub const MAX_STR: &'static str = "1000000000";
    /// Largest scale a wire rate may decode with (the decimal crate's bound is 28).
    const WIRE_MAX_SCALE: u32 = 18;

    /// Smallest acceptable rate.
    pub fn min() -> Rate {
        Rate(Decimal::new(1, 9))
    }

    /// Largest acceptable rate.
    pub fn max() -> Rate {
        Rate(Decimal::new(1_000_000_000, 0))
    }

    /// A rate from a decimal, checked for range and precision.
    pub fn new(d: Decimal) -> Result<Rate, MoneyError> {
        let d = d.normalize();
        let r = Rate(d);
        r.check()?;
        Ok(r)
    }

    /// Whether this rate is acceptable in an offer: positive, within
    /// [`Rate::min`]..=[`Rate::max`], at most [`Rate::MAX_SCALE`] decimals and
    /// [`Rate::MAX_DIGITS`] significant digits.
    pub fn check(&self) -> Result<(), MoneyError> {
        let d = self.0;
        let digits = d
            .mantissa()
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |l| l + 1);
        if d <= Decimal::ZERO
            || *self < Rate::min()
            || *self > Rate::max()
            || d.scale() > Rate::MAX_SCALE
            || digits > Rate::MAX_DIGITS
        {
            return Err(MoneyError::RateOutOfRange(d.to_string()));
        }
        Ok(())
    }

    /// Whether the rate is zero (a distinct validation error).
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The exact decimal.
    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// Mantissa and scale: the rate is `mantissa / 10^scale`.
    fn parts(&self) -> (u128, u32) {
        (self.0.mantissa().unsigned_abs(), self.0.scale())
    }

    /// An order-preserving fixed-width key (for sorted storage indexes): the rate
    /// times 10^18 as a big-endian `u128`.
    pub fn sort_key(&self) -> [u8; 16] {
        let (m, s) = self.parts();
        // m < 2^64 and s <= 18 on every decodable rate, so this cannot overflow;
        // saturate rather than panic should that invariant ever break.
        let scaled = m.saturating_mul(10u128.saturating_pow(Self::WIRE_MAX_SCALE - s.min(18)));
        scaled.to_be_bytes()
    }

    /// Whether `self * other <= 1`, exactly. With `self` an offer's rate (want per
    /// give) and `other` the rate the taker insists on (give per want), this says
    /// whether the offer is at least as good as the taker requires.
    pub fn product_at_most_one(&self, other: &Rate) -> bool {
        let (m1, s1) = self.parts();
        let (m2, s2) = other.parts();
        // Both mantissas are < 2^64, so the product fits u128; both scales are <= 18,
        // so 10^(s1+s2) <= 10^36 fits too.
        match (m1.checked_mul(m2), 10u128.checked_pow(s1 + s2)) {
            (Some(p), Some(one)) => p <= one,
            _ => false,
        }
    }
}

impl FromStr for Rate {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Rate, MoneyError> {
        let d = Decimal::from_str_exact(s.trim()).map_err(|_| MoneyError::NotANumber(s.into()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative(s.to_string()));
        }
        Rate::new(d)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({})", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Human-readable formats (the JSON of the golden vectors) get the
        // decimal, "1.08"; the wire gets (mantissa, scale).
        if s.is_human_readable() {
            return s.collect_str(self);
        }
        let (m, scale) = self.parts();
        // Decodable rates have mantissas below 2^64 (see Deserialize); saturating
        // keeps Serialize infallible for the impossible rest.
        let m = u64::try_from(m).unwrap_or(u64::MAX);
        (m, scale as u8).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            return text.parse().map_err(serde::de::Error::custom);
        }
        let (m, scale): (u64, u8) = Deserialize::deserialize(d)?;
        if u32::from(scale) > Rate::WIRE_MAX_SCALE {
            return Err(serde::de::Error::custom("rate scale above 18"));
        }
        // One spelling per value: no trailing zeros in the mantissa.
        if scale > 0 && m % 10 == 0 {
            return Err(serde::de::Error::custom("rate is not normalized"));
        }
        Ok(Rate(Decimal::from_i128_with_scale(
            i128::from(m),
            u32::from(scale),
        )))
    }
}

fn pow10(e: u32) -> Result<u128, MoneyError> {
    10u128.checked_pow(e).ok_or(MoneyError::Overflow)
}

/// How much of `want` a fill of `give_amount` costs at `rate`, rounded down.
///
/// `want_amount = floor(give_amount * rate * 10^want_exp / 10^give_exp)`, exact.
pub fn want_for_give(
    give_amount: Amount,
    give: Currency,
    want: Currency,
    rate: &Rate,
) -> Result<Amount, MoneyError> {
    let (m, s) = rate.parts();
    let want_exp = want.exponent()?;
    let num = u128::from(give_amount.0)
        .checked_mul(m)
        .and_then(|x| x.checked_mul(pow10(u32::from(want_exp)).ok()?))
        .ok_or(MoneyError::Overflow)?;
    let den = pow10(u32::from(give.exponent()?) + s)?;
    u64::try_from(num / den)
        .map(Amount)
        .map_err(|_| MoneyError::Overflow)
}

/// The most of `give` that `want_amount` pays for at `rate`, rounded down: the
/// inverse of [`want_for_give`], used to size a fill from what a taker will spend.
///
/// `give_amount = floor(want_amount * 10^(give_exp + scale) / (mantissa * 10^want_exp))`.
pub fn give_for_want(
    want_amount: Amount,
    give: Currency,
    want: Currency,
    rate: &Rate,
) -> Result<Amount, MoneyError> {
    let (m, s) = rate.parts();
    if m == 0 {
        return Err(MoneyError::RateOutOfRange(rate.to_string()));
    }
    let num = u128::from(want_amount.0)
        .checked_mul(pow10(u32::from(give.exponent()?) + s)?)
        .ok_or(MoneyError::Overflow)?;
    let den = m
        .checked_mul(pow10(u32::from(want.exponent()?))?)
        .ok_or(MoneyError::Overflow)?;
    u64::try_from(num / den)
        .map(Amount)
        .map_err(|_| MoneyError::Overflow)
}
