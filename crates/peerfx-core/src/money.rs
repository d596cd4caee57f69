//! Money: currencies, markets, amounts in minor units; exact rates and
//! conversion are in [`crate::rate`] (re-exported here).
//!
//! No floating point touches money. An [`Amount`] is a `u64` count of the
//! currency's minor units (cents for EUR, yen for JPY, fils for BHD).
//!
//! Wire values of these types decode if they are well-formed (a three-letter
//! code, a normalized decimal); whether they are *acceptable* (a known currency,
//! a sane rate) is decided by [`crate::validate`], which says precisely what is
//! wrong. Constructors for local input ([`Currency::from_str`], [`Rate::from_str`])
//! check everything at once.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::rate::{give_for_want, want_for_give, Rate};

/// Why a money value could not be built or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an ISO 4217 currency that can be traded (funds, metals and test codes
    /// have no minor unit and are refused).
    #[error("unknown currency {0:?}: expected an ISO 4217 code such as EUR or USD")]
    UnknownCurrency(String),
    /// A market needs two different currencies.
    #[error("a market needs two different currencies, got {0} twice")]
    SameCurrency(Currency),
    /// Not a decimal number.
    #[error("{0:?} is not a decimal number")]
    NotANumber(String),
    /// An amount with more decimals than the currency has.
    #[error("{currency} has {exponent} decimal places; {input:?} has more")]
    TooManyDecimals {
        /// The currency.
        currency: Currency,
        /// Its minor-unit exponent.
        exponent: u8,
        /// What was given.
        input: String,
    },
    /// Negative amounts and rates do not exist.
    #[error("{0:?} is negative")]
    Negative(String),
    /// A rate that is zero, or outside [`Rate::MIN`]..=[`Rate::MAX`], or more
    /// precise than [`Rate::MAX_SCALE`] decimals or [`Rate::MAX_DIGITS`] digits.
    #[error("rate {0} is out of range: it must be between {min} and {max}, with at most {digits} significant digits and {scale} decimals", min = Rate::MIN_STR, max = Rate::MAX_STR, digits = Rate::MAX_DIGITS, scale = Rate::MAX_SCALE)]
    RateOutOfRange(String),
    /// The result does not fit in a `u64` of minor units.
    #[error("amount overflows")]
    Overflow,
}

/// An ISO 4217 currency that has a minor unit, e.g. EUR (2 decimals), JPY (0),
/// BHD (3).
///
/// On the wire it is the three-letter code; a decoded code may be unknown until
/// [`crate::validate`] has checked it ([`Currency::is_known`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The ISO 4217 alphabetic code.
    pub fn code(&self) -> &str {
        // Invariant: construction only admits ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    fn iso(&self) -> Option<iso_currency::Currency> {
        let c = iso_currency::Currency::from_code(self.code())?;
        if c.is_fund() || c.is_special() || c.exponent().is_none() {
            return None;
        }
        Some(c)
    }

    /// Whether this is a currency peerfx trades: in ISO 4217, with a minor unit,
    /// not a fund or special code.
    pub fn is_known(&self) -> bool {
        self.iso().is_some()
    }

    /// Number of decimal places of the minor unit, or an error for an unknown code.
    pub fn exponent(&self) -> Result<u8, MoneyError> {
        self.iso()
            .and_then(|c| c.exponent())
            .and_then(|e| u8::try_from(e).ok())
            .ok_or_else(|| MoneyError::UnknownCurrency(self.code().to_string()))
    }

    fn from_code_shape(code: &str) -> Option<Currency> {
        let b: [u8; 3] = code.as_bytes().try_into().ok()?;
        b.iter().all(u8::is_ascii_uppercase).then_some(Currency(b))
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    /// Parses a code, case-insensitively, and refuses codes peerfx does not trade.
    fn from_str(s: &str) -> Result<Currency, MoneyError> {
        let c = Currency::from_code_shape(&s.trim().to_ascii_uppercase())
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_string()))?;
        if !c.is_known() {
            return Err(MoneyError::UnknownCurrency(s.to_string()));
        }
        Ok(c)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_code_shape(&s)
            .ok_or_else(|| serde::de::Error::custom("currency code must be three letters A-Z"))
    }
}

/// An unordered pair of currencies, stored in canonical order (`base < quote` by
/// code), so that "EUR for USD" and "USD for EUR" offers meet in one market.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Market {
    base: Currency,
    quote: Currency,
}

impl Market {
    /// The market of two different currencies, in either order.
    pub fn new(a: Currency, b: Currency) -> Result<Market, MoneyError> {
        match a.cmp(&b) {
            Ordering::Less => Ok(Market { base: a, quote: b }),
            Ordering::Greater => Ok(Market { base: b, quote: a }),
            Ordering::Equal => Err(MoneyError::SameCurrency(a)),
        }
    }

    /// The currency that sorts first.
    pub fn base(&self) -> Currency {
        self.base
    }

    /// The currency that sorts second.
    pub fn quote(&self) -> Currency {
        self.quote
    }

    /// What every market topic starts with; the rest is the market,
    /// `BASE-QUOTE` in canonical order.
    pub const TOPIC_PREFIX: &'static str = "peerfx/1/market/";

    /// The gossipsub topic of this market.
    pub fn topic(&self) -> String {
        format!("{}{}-{}", Self::TOPIC_PREFIX, self.base, self.quote)
    }

    /// The market whose [`Market::topic`] is `topic`, if it is one: the
    /// canonical spelling only, so one market has exactly one topic.
    pub fn from_topic(topic: &str) -> Option<Market> {
        let market: Market = topic.strip_prefix(Self::TOPIC_PREFIX)?.parse().ok()?;
        (market.topic() == topic).then_some(market)
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.base, self.quote)
    }
}

impl Serialize for Market {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.base, self.quote).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Market {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (base, quote): (Currency, Currency) = Deserialize::deserialize(d)?;
        // One spelling per market: canonical order only.
        if base >= quote {
            return Err(serde::de::Error::custom("market currencies out of order"));
        }
        Ok(Market { base, quote })
    }
}

impl FromStr for Market {
    type Err = MoneyError;
    /// Parses "EUR-USD" or "EUR/USD" (either order).
    fn from_str(s: &str) -> Result<Market, MoneyError> {
        let (a, b) = s
            .split_once(['-', '/'])
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_string()))?;
        Market::new(a.parse()?, b.parse()?)
    }
}

/// An amount of some currency, in its minor units.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub u64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if negative.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Parses a decimal amount in major units ("100", "99.50") for `currency`,
    /// refusing more decimals than the currency has.
    pub fn parse(s: &str, currency: Currency) -> Result<Amount, MoneyError> {
        let exponent = currency.exponent()?;
        let trimmed = s.trim();
        let d =
            Decimal::from_str_exact(trimmed).map_err(|_| MoneyError::NotANumber(s.to_string()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative(s.to_string()));
        }
        let d = d.normalize();
        if d.scale() > u32::from(exponent) {
            return Err(MoneyError::TooManyDecimals {
                currency,
                exponent,
                input: s.to_string(),
            });
        }
        // mantissa * 10^(exponent - scale) minor units, exactly.
        let mantissa = u128::try_from(d.mantissa()).map_err(|_| MoneyError::Overflow)?;
        let factor = 10u128.pow(u32::from(exponent) - d.scale());
        let minor = mantissa.checked_mul(factor).ok_or(MoneyError::Overflow)?;
        u64::try_from(minor)
            .map(Amount)
            .map_err(|_| MoneyError::Overflow)
    }

    /// Formats in major units with exactly the currency's decimals ("99.50").
    /// Unknown currencies show the raw minor units.
    pub fn display(&self, currency: Currency) -> String {
        match currency.exponent() {
            Ok(0) => self.0.to_string(),
            Ok(e) => {
                let div = 10u64.pow(u32::from(e));
                format!(
                    "{}.{:0width$}",
                    self.0 / div,
                    self.0 % div,
                    width = usize::from(e)
                )
            }
            Err(_) => format!("{} minor units", self.0),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
