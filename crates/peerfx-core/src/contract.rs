//! Contracts: what a maker signs for a take ([`build_contract`]), and the
//! taker's check that every term follows from the offer and its request,
//! with a deadline it can live with ([`check_contract`]).

use rust_decimal::Decimal;

use crate::keys::PublicKey;
use crate::message::{Contract, Offer, RejectReason, TakeRequest, Timestamp, Verified};
use crate::money::{want_for_give, Rate};

impl Contract {
    /// The payment window: from the contract to its payment deadline.
    pub fn payment_window_secs(&self) -> u64 {
        self.deadline.since(self.created_at)
    }

    /// The settle deadline: both sides confirm receipt by then, or the trade
    /// fails. It is the payment deadline plus the payment window again (a
    /// payment takes about as long to arrive as to send), so it is fixed by
    /// the terms both signed without a field of its own.
    pub fn settle_by(&self) -> Timestamp {
        self.deadline.plus(self.payment_window_secs())
    }

    /// The party that is not `me` (the taker, unless `me` is it).
    pub fn other_party(&self, me: &PublicKey) -> PublicKey {
        if self.maker == *me {
            self.taker
        } else {
            self.maker
        }
    }
}

/// Whether a counter rate is acceptable to a maker whose offer says `rate` and
/// who tolerates `tolerance_bps` basis points below it. A counter above the
/// offer's rate favours the maker and is always acceptable.
pub fn counter_acceptable(rate: &Rate, counter: &Rate, tolerance_bps: u32) -> bool {
    let floor =
        rate.as_decimal() * (Decimal::from(10_000u32.saturating_sub(tolerance_bps.min(10_000))));
    counter.as_decimal() * Decimal::from(10_000u32) >= floor
}

/// The contract a maker signs for a take of its offer at `rate`. Checks what only
/// the offer and request decide (ids, self-take, expiry, payment method, price);
/// the caller decides rate, blocking and liquidity.
pub fn build_contract(
    offer: &Verified<Offer>,
    request: &Verified<TakeRequest>,
    rate: Rate,
    now: Timestamp,
    window_secs: u64,
) -> Result<Contract, RejectReason> {
    if request.offer_id != offer.id() {
        return Err(RejectReason::UnknownOffer);
    }
    if request.taker == offer.maker {
        return Err(RejectReason::SelfTake);
    }
    if offer.expires_at <= now {
        return Err(RejectReason::Expired);
    }
    if !offer.payment_methods.contains(&request.payment_method) {
        return Err(RejectReason::PaymentMethodNotOffered);
    }
    let want_amount = want_for_give(request.give_amount, offer.give, offer.want, &rate)
        .map_err(|e| RejectReason::Invalid(e.to_string()))?;
    if want_amount == crate::Amount::ZERO {
        return Err(RejectReason::Invalid(
            "the amount converts to nothing".into(),
        ));
    }
    Ok(Contract {
        offer_id: offer.id(),
        request_id: request.id(),
        maker: offer.maker,
        taker: request.taker,
        give: offer.give,
        want: offer.want,
        give_amount: request.give_amount,
        want_amount,
        rate,
        payment_method: request.payment_method.clone(),
        created_at: now,
        deadline: now.plus(window_secs),
    })
}

/// Why a taker refuses a contract a maker signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("contract does not match the offer and request: {0}")]
pub struct ContractMismatch(pub &'static str);

/// The bounds a taker holds a contract's time and deadline to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlineBounds {
    /// Shortest payment window (from the contract to its payment deadline),
    /// seconds.
    pub min_window_secs: u64,
    /// Longest payment window, seconds.
    pub max_window_secs: u64,
    /// How far the contract's time may be from the taker's clock, seconds.
    pub max_clock_skew_secs: u64,
}

/// The taker's check, at `now` by its clock: every term of `contract`
/// follows from the offer and the request, the amounts are computed exactly
/// as [`want_for_give`] does, the contract is dated now (within the clock
/// skew), and its payment window lies between `bounds.min_window_secs` and
/// `bounds.max_window_secs`: a maker cannot sign a contract that is expired
/// already, or one that never ends.
pub fn check_contract(
    contract: &Contract,
    offer: &Verified<Offer>,
    request: &Verified<TakeRequest>,
    now: Timestamp,
    bounds: &DeadlineBounds,
) -> Result<(), ContractMismatch> {
    let fail = |what| Err(ContractMismatch(what));
    if contract.offer_id != offer.id() || contract.request_id != request.id() {
        return fail("ids");
    }
    if contract.maker != offer.maker || contract.taker != request.taker {
        return fail("parties");
    }
    if contract.give != offer.give || contract.want != offer.want {
        return fail("currencies");
    }
    if contract.give_amount != request.give_amount {
        return fail("amount");
    }
    let expected_rate = request.counter_rate.unwrap_or(offer.rate);
    if contract.rate != expected_rate {
        return fail("rate");
    }
    match want_for_give(
        contract.give_amount,
        contract.give,
        contract.want,
        &contract.rate,
    ) {
        Ok(w) if w == contract.want_amount => {}
        _ => return fail("price"),
    }
    if contract.payment_method != request.payment_method {
        return fail("payment method");
    }
    let skew = bounds.max_clock_skew_secs;
    if contract.created_at < now.minus(skew) || contract.created_at > now.plus(skew) {
        return fail("contract time: too far from the taker's clock");
    }
    let settle = contract.deadline.since(contract.created_at);
    if contract.deadline <= contract.created_at || settle < bounds.min_window_secs {
        return fail("deadline: too soon to settle");
    }
    if settle > bounds.max_window_secs {
        return fail("deadline: too far away");
    }
    Ok(())
}
