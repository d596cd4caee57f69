//! Helpers for tests and benchmarks in this workspace (feature `test-util`): a
//! deterministic way to make valid signed offers.

use crate::keys::Keypair;
use crate::limits::WireLimits;
use crate::message::{Offer, Signed, TakeRequest, Timestamp, Verified};
use crate::money::{Amount, Currency, Rate};
use crate::validate::validate;

/// A fixed "now" for tests: 2026-01-01T00:00:00Z.
pub const NOW: Timestamp = Timestamp(1_767_225_600);

/// A currency by code; panics on a bad code (tests only).
pub fn cur(code: &str) -> Currency {
    code.parse().expect("test currency")
}

/// An offer giving `give` for `want` at `rate`, 100.00–500.00, cash and sepa,
/// created at [`NOW`], valid for a day.
pub fn offer(maker: &Keypair, give: &str, want: &str, rate: &str, nonce: u64) -> Offer {
    Offer {
        maker: maker.public(),
        give: cur(give),
        min_give: Amount(10_000),
        max_give: Amount(50_000),
        want: cur(want),
        rate: rate.parse::<Rate>().expect("test rate"),
        payment_methods: vec!["cash".parse().expect("pm"), "sepa".parse().expect("pm")],
        geohash: Some("u33dc".parse().expect("geohash")),
        note: String::new(),
        created_at: NOW,
        expires_at: NOW.plus(86_400),
        nonce,
    }
}

/// [`offer`], signed and validated at [`NOW`].
pub fn verified_offer(
    maker: &Keypair,
    give: &str,
    want: &str,
    rate: &str,
    nonce: u64,
) -> Verified<Offer> {
    validate(
        Signed::sign(offer(maker, give, want, rate, nonce), maker),
        NOW,
        &WireLimits::default(),
    )
    .expect("test offer is valid")
}

/// A take of `amount` minor units of `offer` by `taker`, paying cash, signed
/// and validated at [`NOW`].
pub fn verified_take(
    taker: &Keypair,
    offer: &Verified<Offer>,
    amount: u64,
) -> Verified<TakeRequest> {
    let request = TakeRequest {
        offer_id: offer.id(),
        taker: taker.public(),
        give_amount: Amount(amount),
        counter_rate: None,
        payment_method: "cash".parse().expect("pm"),
        created_at: NOW,
        nonce: 1,
    };
    validate(Signed::sign(request, taker), NOW, &WireLimits::default()).expect("test take is valid")
}
