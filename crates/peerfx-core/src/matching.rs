//! Matching: which offers in a book suit what a taker wants, best first, and how
//! much of each they can fill.
//!
//! The query is phrased from the taker's side: "I pay 300 EUR and want USD, at
//! least 1.07 USD per EUR". Offers that suit it are those that *give* USD and
//! *want* EUR. Their rate is quoted the maker's way (EUR per USD), so "at least
//! 1.07 USD per EUR" means `offer.rate * 1.07 <= 1`, compared exactly
//! ([`Rate::product_at_most_one`]) rather than by dividing.
//!
//! Order: lowest offer rate first (the taker pays least per unit received), then
//! oldest, then by id, so every node ranks the same book the same way. The
//! store's index keeps offers in this order, so it can stream matches without
//! sorting (see peerfx-store).

use crate::geo::{Geohash, PaymentMethod};
use crate::message::{Offer, OfferId, Timestamp, Verified};
use crate::money::{give_for_want, want_for_give, Amount, Currency, Rate};

/// An offer in a book, with what is left of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookEntry {
    /// The verified offer.
    pub offer: Verified<Offer>,
    /// What is left to fill, from the maker's latest update (or `max_give`).
    pub remaining: Amount,
    /// Seq of the latest update applied (0: none yet).
    pub seq: u64,
    /// When the maker last signed an announcement of it (the offer, or its
    /// latest update): the latest sign of life of its maker this node holds.
    /// Makers re-announce their open offers periodically, so an old one
    /// means a maker gone offline.
    pub announced_at: Timestamp,
}

/// The range of a single fill when `available` is left: at least the offer's
/// minimum, or the whole remainder if less than the minimum is left (so an offer
/// never strands an untakeable remainder), at most what is left. `None` when
/// nothing is left.
pub fn fill_range(offer: &Offer, available: Amount) -> Option<(Amount, Amount)> {
    let hi = available.min(offer.max_give);
    if hi == Amount::ZERO {
        return None;
    }
    Some((offer.min_give.min(hi), hi))
}

/// What a taker is looking for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchQuery {
    /// The currency the taker hands over (the offers' `want`).
    pub pay: Currency,
    /// The currency the taker wants (the offers' `give`).
    pub receive: Currency,
    /// How much of `pay` the taker will spend, in minor units; `None`: any amount.
    pub pay_amount: Option<Amount>,
    /// The worst rate the taker accepts: major units of `receive` per major unit
    /// of `pay`.
    pub min_rate: Option<Rate>,
    /// Only offers that accept this payment method.
    pub payment_method: Option<PaymentMethod>,
    /// Only offers within this many km of this cell (offers without a location
    /// are left out).
    pub near: Option<(Geohash, u32)>,
}

/// A fill the taker can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    /// Of the offer's `give` (what the taker receives), minor units.
    pub give_amount: Amount,
    /// Of the offer's `want` (what the taker pays), minor units, rounded down.
    pub want_amount: Amount,
}

impl MatchQuery {
    /// Whether `entry` satisfies every filter at time `now`, and with which fill.
    pub fn fill_for(&self, entry: &BookEntry, now: Timestamp) -> Option<Fill> {
        let offer = entry.offer.body();
        if offer.give != self.receive || offer.want != self.pay || offer.expires_at <= now {
            return None;
        }
        if let Some(min_rate) = &self.min_rate {
            if !offer.rate.product_at_most_one(min_rate) {
                return None;
            }
        }
        if let Some(pm) = &self.payment_method {
            if !offer.payment_methods.contains(pm) {
                return None;
            }
        }
        if let Some((here, radius_km)) = &self.near {
            let there = offer.geohash.as_ref()?;
            if !here.within_km(there, *radius_km).ok()? {
                return None;
            }
        }
        let (lo, hi) = fill_range(offer, entry.remaining)?;
        let give_amount = match self.pay_amount {
            None => hi,
            Some(budget) => {
                let affordable = give_for_want(budget, offer.give, offer.want, &offer.rate).ok()?;
                affordable.min(hi)
            }
        };
        if give_amount < lo {
            return None;
        }
        let want_amount = want_for_give(give_amount, offer.give, offer.want, &offer.rate).ok()?;
        if want_amount == Amount::ZERO {
            return None;
        }
        Some(Fill {
            give_amount,
            want_amount,
        })
    }
}

/// The ranking key: rate ascending, then oldest, then id.
pub fn rank_key(offer: &Verified<Offer>) -> ([u8; 16], Timestamp, OfferId) {
    (offer.rate.sort_key(), offer.created_at, offer.id())
}

/// Every entry that matches `query`, best first.
pub fn match_offers<'a>(
    entries: impl IntoIterator<Item = &'a BookEntry>,
    query: &MatchQuery,
    now: Timestamp,
) -> Vec<(&'a BookEntry, Fill)> {
    let mut out: Vec<_> = entries
        .into_iter()
        .filter_map(|e| query.fill_for(e, now).map(|f| (e, f)))
        .collect();
    out.sort_by_key(|(e, _)| rank_key(&e.offer));
    out
}
