//! Validation: everything from the network is hostile until it passes here.
//!
//! [`validate`] turns a decoded `Signed<T>` into a [`Verified<T>`] after checking
//! its size, its fields against [`WireLimits`] and the current time, and its
//! signature, in that order (cheap checks first, so junk costs little). Every
//! failure is a [`ValidationError`] that says exactly what is wrong; gossip uses
//! it to decide Reject vs. Ignore, and the control API shows it to the user.
//!
//! [`validate_batch`] does the same for many messages with one ed25519 batch
//! verification, which roughly halves the cost per signature for sync pages.

use crate::codec::{self, CodecError};
use crate::keys::{self, KeyError, Signature};
use crate::limits::WireLimits;
use crate::message::{
    signing_bytes, Body, Contract, Offer, OfferCancel, OfferUpdate, Signed, TakeReject,
    TakeRequest, Timestamp, TradeAction, TradeMessage, Verified,
};
use crate::money::{want_for_give, Amount, Currency, MoneyError, Rate};

/// What exactly is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Not a decodable message.
    #[error(transparent)]
    Malformed(#[from] CodecError),
    /// Encoded size over the limit.
    #[error("message too large: {size} bytes, limit {max}")]
    TooLarge {
        /// Size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Signature does not verify for the author.
    #[error("bad signature")]
    BadSignature,
    /// The author key is not a usable ed25519 key.
    #[error("invalid author key")]
    InvalidKey,
    /// A currency code peerfx does not trade.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// Give and want are the same currency.
    #[error("give and want are both {0}")]
    SameCurrency(Currency),
    /// An amount that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroAmount(&'static str),
    /// min_give > max_give.
    #[error("minimum {min} is above maximum {max}")]
    MinAboveMax {
        /// Minimum.
        min: Amount,
        /// Maximum.
        max: Amount,
    },
    /// The rate is zero.
    #[error("rate is zero")]
    ZeroRate,
    /// The rate is absurd (range or precision).
    #[error(transparent)]
    RateOutOfRange(MoneyError),
    /// Amounts that convert to nothing or overflow at this rate.
    #[error("amounts do not convert at this rate: {0}")]
    Unpriceable(String),
    /// Expired, or expires at creation.
    #[error("expired at {expires_at:?} (now {now:?})")]
    Expired {
        /// Expiry.
        expires_at: Timestamp,
        /// Now.
        now: Timestamp,
    },
    /// Lifetime beyond the maximum.
    #[error("expiry {expires_at:?} is more than {max_secs} s after creation")]
    ExpiryTooFar {
        /// Expiry.
        expires_at: Timestamp,
        /// The longest lifetime.
        max_secs: u64,
    },
    /// Signed in the future beyond the clock-skew bound.
    #[error(
        "created_at {created_at:?} is in the future (now {now:?}, skew allowed {skew_secs} s)"
    )]
    FromTheFuture {
        /// Claimed creation.
        created_at: Timestamp,
        /// Now.
        now: Timestamp,
        /// Allowed skew.
        skew_secs: u64,
    },
    /// Note or chat text too long.
    #[error("{field} is {len} bytes, limit {max}")]
    TextTooLong {
        /// Which field.
        field: &'static str,
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Text with a control character or a bidirectional override (see
    /// [`crate::text`]).
    #[error(
        "{field} contains the control or bidi character U+{code_point:04X}, which peerfx refuses"
    )]
    ForbiddenCharacter {
        /// Which field.
        field: &'static str,
        /// The character.
        code_point: u32,
    },
    /// An offer with no way to settle.
    #[error("an offer needs at least one payment method")]
    NoPaymentMethod,
    /// Too many payment methods.
    #[error("{count} payment methods, limit {max}")]
    TooManyPaymentMethods {
        /// Count.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A malformed payment method name.
    #[error("invalid payment method {0:?}")]
    InvalidPaymentMethod(String),
    /// The same payment method twice.
    #[error("payment method {0:?} listed twice")]
    DuplicatePaymentMethod(String),
    /// A malformed geohash.
    #[error("invalid geohash {0:?}")]
    InvalidGeohash(String),
    /// A sequence number that must start at 1 is 0.
    #[error("seq must start at 1")]
    ZeroSeq,
}

impl From<KeyError> for ValidationError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::BadSignature => ValidationError::BadSignature,
            KeyError::InvalidKey | KeyError::InvalidSecret => ValidationError::InvalidKey,
        }
    }
}

/// The field rules of one message kind (everything except the signature).
pub trait Check: Body {
    /// Checks the body's fields against `limits` at time `now`.
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError>;
}

pub(crate) fn check_created_at(
    created_at: Timestamp,
    now: Timestamp,
    limits: &WireLimits,
) -> Result<(), ValidationError> {
    if created_at > now.plus(limits.max_clock_skew_secs) {
        return Err(ValidationError::FromTheFuture {
            created_at,
            now,
            skew_secs: limits.max_clock_skew_secs,
        });
    }
    Ok(())
}

fn check_currency(c: Currency) -> Result<(), ValidationError> {
    if c.is_known() {
        Ok(())
    } else {
        Err(ValidationError::UnknownCurrency(c.code().to_string()))
    }
}

fn check_rate(rate: &Rate) -> Result<(), ValidationError> {
    if rate.is_zero() {
        return Err(ValidationError::ZeroRate);
    }
    rate.check().map_err(ValidationError::RateOutOfRange)
}

pub(crate) fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<(), ValidationError> {
    if text.len() > max {
        return Err(ValidationError::TextTooLong {
            field,
            len: text.len(),
            max,
        });
    }
    if let Some(c) = crate::text::first_forbidden(text) {
        return Err(ValidationError::ForbiddenCharacter {
            field,
            code_point: u32::from(c),
        });
    }
    Ok(())
}

impl Check for Offer {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        check_currency(self.give)?;
        check_currency(self.want)?;
        if self.give == self.want {
            return Err(ValidationError::SameCurrency(self.give));
        }
        if self.min_give == Amount::ZERO {
            return Err(ValidationError::ZeroAmount("min_give"));
        }
        if self.min_give > self.max_give {
            return Err(ValidationError::MinAboveMax {
                min: self.min_give,
                max: self.max_give,
            });
        }
        check_rate(&self.rate)?;
        // The smallest fill must cost something, and the largest must not overflow.
        let unpriceable = |e: MoneyError| ValidationError::Unpriceable(e.to_string());
        let min_want =
            want_for_give(self.min_give, self.give, self.want, &self.rate).map_err(unpriceable)?;
        if min_want == Amount::ZERO {
            return Err(ValidationError::Unpriceable(
                "the minimum fill converts to zero".into(),
            ));
        }
        want_for_give(self.max_give, self.give, self.want, &self.rate).map_err(unpriceable)?;

        if self.payment_methods.is_empty() {
            return Err(ValidationError::NoPaymentMethod);
        }
        if self.payment_methods.len() > limits.max_payment_methods {
            return Err(ValidationError::TooManyPaymentMethods {
                count: self.payment_methods.len(),
                max: limits.max_payment_methods,
            });
        }
        for (i, p) in self.payment_methods.iter().enumerate() {
            p.check()
                .map_err(|e| ValidationError::InvalidPaymentMethod(e.0))?;
            if self.payment_methods[..i].contains(p) {
                return Err(ValidationError::DuplicatePaymentMethod(p.to_string()));
            }
        }
        if let Some(g) = &self.geohash {
            g.check()
                .map_err(|e| ValidationError::InvalidGeohash(e.0))?;
        }
        check_text("note", &self.note, limits.max_note_bytes)?;
        check_created_at(self.created_at, now, limits)?;
        if self.expires_at <= now || self.expires_at <= self.created_at {
            return Err(ValidationError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        if self.expires_at.since(self.created_at) > limits.max_offer_lifetime_secs {
            return Err(ValidationError::ExpiryTooFar {
                expires_at: self.expires_at,
                max_secs: limits.max_offer_lifetime_secs,
            });
        }
        Ok(())
    }
}

impl Check for OfferUpdate {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        if self.seq == 0 {
            return Err(ValidationError::ZeroSeq);
        }
        check_created_at(self.created_at, now, limits)
    }
}

impl Check for OfferCancel {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        check_created_at(self.created_at, now, limits)
    }
}

impl Check for TakeRequest {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        if self.give_amount == Amount::ZERO {
            return Err(ValidationError::ZeroAmount("give_amount"));
        }
        if let Some(r) = &self.counter_rate {
            check_rate(r)?;
        }
        self.payment_method
            .check()
            .map_err(|e| ValidationError::InvalidPaymentMethod(e.0))?;
        check_created_at(self.created_at, now, limits)
    }
}

impl Check for TakeReject {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        if let crate::message::RejectReason::Invalid(detail) = &self.reason {
            check_text("reject detail", detail, limits.max_text_bytes)?;
        }
        check_created_at(self.created_at, now, limits)
    }
}

impl Check for Contract {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        check_currency(self.give)?;
        check_currency(self.want)?;
        if self.give == self.want {
            return Err(ValidationError::SameCurrency(self.give));
        }
        if self.give_amount == Amount::ZERO {
            return Err(ValidationError::ZeroAmount("give_amount"));
        }
        if self.want_amount == Amount::ZERO {
            return Err(ValidationError::ZeroAmount("want_amount"));
        }
        check_rate(&self.rate)?;
        self.payment_method
            .check()
            .map_err(|e| ValidationError::InvalidPaymentMethod(e.0))?;
        check_created_at(self.created_at, now, limits)
    }
}

impl Check for TradeMessage {
    fn check(&self, now: Timestamp, limits: &WireLimits) -> Result<(), ValidationError> {
        if self.seq == 0 {
            return Err(ValidationError::ZeroSeq);
        }
        match &self.action {
            TradeAction::Dispute { reason } => check_text("reason", reason, limits.max_text_bytes)?,
            TradeAction::Chat { text } => check_text("chat text", text, limits.max_text_bytes)?,
            TradeAction::Paid
            | TradeAction::Received
            | TradeAction::Cancel
            | TradeAction::Close { .. } => {}
        }
        check_created_at(self.created_at, now, limits)
    }
}

/// The encoded size of `signed`, from its signing bytes (`DOMAIN || 0x00 ||
/// encode(body)`): the encoding of a `Signed<T>` is the version byte, the
/// body's encoding and the signature's (a one-byte length, 64 bytes), so no
/// second encoding is needed.
fn encoded_size<T: Body>(signing: &[u8]) -> usize {
    signing.len() - T::DOMAIN.len() - 1 + 1 + Signature::LEN
}

fn check_size(size: usize, limits: &WireLimits) -> Result<(), ValidationError> {
    if size > limits.max_message_bytes {
        return Err(ValidationError::TooLarge {
            size,
            max: limits.max_message_bytes,
        });
    }
    Ok(())
}

/// Validates one signed message: size, fields, then signature.
pub fn validate<T: Check>(
    signed: Signed<T>,
    now: Timestamp,
    limits: &WireLimits,
) -> Result<Verified<T>, ValidationError> {
    let signing = signing_bytes(&signed.body);
    check_size(encoded_size::<T>(&signing), limits)?;
    signed.body.check(now, limits)?;
    signed.body.author().verify(&signing, &signed.signature)?;
    Ok(Verified::from_signing_bytes(signed, &signing))
}

/// Decodes and validates one signed message from the wire.
pub fn decode_and_validate<T: Check>(
    bytes: &[u8],
    now: Timestamp,
    limits: &WireLimits,
) -> Result<Verified<T>, ValidationError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ValidationError::TooLarge {
            size: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    validate(codec::decode::<Signed<T>>(bytes)?, now, limits)
}

/// Fewer signatures than this are verified one by one: a batch of them would
/// cost more.
const MIN_BATCH: usize = 4;

/// A message that passed its checks, with the bytes its signature covers.
type Encoded<T> = (Signed<T>, Vec<u8>);

/// Validates many messages, verifying their signatures in one batch (fewer
/// than [`MIN_BATCH`]: one by one). The result has one entry per input, in
/// order. If the batch fails, each signature is checked on its own so that
/// only the bad ones are refused.
pub fn validate_batch<T: Check>(
    messages: Vec<Signed<T>>,
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<Verified<T>, ValidationError>> {
    // Each message is encoded once: its signing bytes give its size, the
    // bytes the batch verifies, and its id.
    let mut results: Vec<Result<Encoded<T>, ValidationError>> = messages
        .into_iter()
        .map(|m| {
            let signing = signing_bytes(&m.body);
            check_size(encoded_size::<T>(&signing), limits)?;
            m.body.check(now, limits)?;
            Ok((m, signing))
        })
        .collect();
    let items: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(m, b)| (*m.body.author(), b.as_slice(), m.signature))
        .collect();
    // A batch check costs a fixed overhead (random coefficients, one large
    // multiscalar multiplication) that only pays off from a few signatures
    // up; a lone message, gossip's usual case when traffic is light, is
    // checked on its own.
    // One by one also when the batch fails, to refuse only the bad ones.
    let one_by_one = match items.len() {
        0 => false,
        n if n < MIN_BATCH => true,
        _ => keys::verify_batch(&items).is_err(),
    };
    if one_by_one {
        for r in results.iter_mut() {
            if let Ok((m, b)) = r {
                if let Err(e) = m.body.author().verify(b, &m.signature) {
                    *r = Err(e.into());
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.map(|(m, b)| Verified::from_signing_bytes(m, &b)))
        .collect()
}
