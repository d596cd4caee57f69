//! The maker's guard against takes that only hold liquidity.
//!
//! A take reserves the amount until the taker countersigns. Countersigning
//! is automatic on an honest taker's node (milliseconds on a good link,
//! seconds over a relay), so a reservation that runs out was almost surely
//! left on purpose: a modified client that takes and never countersigns can
//! keep an offer showing "insufficient remaining" for everyone else. The
//! guard bounds what one taker can hold and how often it may try:
//!
//! - at most one pending take per taker and offer, and
//!   [`MAX_PENDING_PER_TAKER`] over all offers;
//! - at most [`TAKES_PER_WINDOW`] take requests per peer per
//!   [`TAKE_WINDOW`];
//! - a taker whose reservation ran out without a countersignature is
//!   refused for [`STRIKE_COOLDOWN`], and its peer is penalised in the
//!   gossip score (repeat offenders are graylisted and banned).
//!
//! Every refusal says when to come back, so an honest taker's node retries
//! on its own (see `take.rs`). Fresh keys get around the per-key limits; each
//! costs a new connection and holds an offer for one take timeout at most,
//! once. What stops a swarm of them is reputation (takers without history
//! can be refused by the maker), not this guard.
//!
//! State lives in memory, bounded by [`MAX_TRACKED`] takers: a restart forgets
//! strikes, which costs a griefer nothing it could not get from a fresh key.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use peerfx_core::{Hash, OfferId, PublicKey};
use peerfx_net::PeerId;

/// Most takes one taker may have awaiting its countersignature.
pub(crate) const MAX_PENDING_PER_TAKER: usize = 3;
/// Take requests a peer may send per [`TAKE_WINDOW`]: an honest user takes
/// a handful of offers a minute at most, and its node retries a refused take
/// every few seconds.
pub(crate) const TAKES_PER_WINDOW: u32 = 20;
/// The window of [`TAKES_PER_WINDOW`].
pub(crate) const TAKE_WINDOW: Duration = Duration::from_secs(60);
/// How long a taker that left a reservation to run out is refused.
pub(crate) const STRIKE_COOLDOWN: Duration = Duration::from_secs(600);
/// Most takers (and peers) tracked; past it the oldest entries are dropped.
pub(crate) const MAX_TRACKED: usize = 10_000;

/// What the guard knows of one taker.
#[derive(Default)]
struct Taker {
    /// Takes awaiting the countersignature: request id and offer.
    pending: Vec<(Hash, OfferId)>,
    /// Refused until then, after a reservation ran out.
    struck_until: Option<Instant>,
    /// Last time anything happened, for pruning.
    seen: Option<Instant>,
}

/// The guard's state (behind the node's lock helper).
#[derive(Default)]
pub(crate) struct TakeGuard {
    takers: HashMap<PublicKey, Taker>,
    /// Take requests per peer: window start and count.
    rate: HashMap<PeerId, (Instant, u32)>,
}

impl TakeGuard {
    /// Whether a take of `offer` by `taker`, sent by `peer`, may go on to
    /// reserve; if not, how long until it may. Counts the request.
    pub(crate) fn admit(
        &mut self,
        peer: PeerId,
        taker: &PublicKey,
        offer: &OfferId,
        now: Instant,
    ) -> Result<(), Duration> {
        let (start, count) = self.rate.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= TAKE_WINDOW {
            (*start, *count) = (now, 0);
        }
        *count += 1;
        if *count > TAKES_PER_WINDOW {
            return Err(TAKE_WINDOW.saturating_sub(now.duration_since(*start)));
        }
        let t = self.takers.entry(*taker).or_default();
        t.seen = Some(now);
        if let Some(until) = t.struck_until {
            if until > now {
                return Err(until - now);
            }
            t.struck_until = None;
        }
        if t.pending.len() >= MAX_PENDING_PER_TAKER || t.pending.iter().any(|(_, o)| o == offer) {
            // A pending take ends within one take timeout.
            return Err(Duration::from_secs(1));
        }
        self.prune(now);
        Ok(())
    }

    /// A take of `offer` by `taker` reserved its amount.
    pub(crate) fn reserved(&mut self, taker: &PublicKey, request: Hash, offer: OfferId) {
        let t = self.takers.entry(*taker).or_default();
        if !t.pending.iter().any(|(r, _)| *r == request) {
            t.pending.push((request, offer));
        }
    }

    /// A take ended: countersigned (`struck` false) or left to run out
    /// (`struck` true, and the taker is refused for a while).
    pub(crate) fn ended(&mut self, taker: &PublicKey, request: &Hash, struck: bool, now: Instant) {
        let t = self.takers.entry(*taker).or_default();
        t.pending.retain(|(r, _)| r != request);
        if struck {
            t.struck_until = Some(now + STRIKE_COOLDOWN);
        }
        t.seen = Some(now);
    }

    /// Whether `taker` is refused now.
    #[cfg(test)]
    fn is_struck(&self, taker: &PublicKey, now: Instant) -> bool {
        self.takers
            .get(taker)
            .and_then(|t| t.struck_until)
            .is_some_and(|u| u > now)
    }

    /// Forgets what no longer matters, and the oldest past [`MAX_TRACKED`].
    fn prune(&mut self, now: Instant) {
        if self.takers.len() <= MAX_TRACKED && self.rate.len() <= MAX_TRACKED {
            return;
        }
        self.rate
            .retain(|_, (start, _)| now.duration_since(*start) < TAKE_WINDOW);
        self.takers
            .retain(|_, t| !t.pending.is_empty() || t.struck_until.is_some_and(|u| u > now));
        if self.takers.len() > MAX_TRACKED {
            let mut by_age: Vec<_> = self.takers.iter().map(|(k, t)| (t.seen, *k)).collect();
            by_age.sort();
            let excess = self.takers.len() - MAX_TRACKED;
            for (_, k) in by_age.into_iter().take(excess) {
                self.takers.remove(&k);
            }
        }
        if self.rate.len() > MAX_TRACKED {
            self.rate.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerfx_core::Keypair;

    fn peer(k: &Keypair) -> PeerId {
        k.public().peer_id().unwrap_or_else(|_| PeerId::random())
    }

    #[test]
    fn one_pending_take_per_offer_a_few_overall_and_a_cooldown_after_a_strike() {
        let mut g = TakeGuard::default();
        let k = Keypair::generate();
        let (p, t) = (peer(&k), k.public());
        let now = Instant::now();
        let offers: Vec<OfferId> = (0..5u8).map(|i| Hash([i; 32])).collect();
        g.admit(p, &t, &offers[0], now).unwrap();
        g.reserved(&t, Hash([100; 32]), offers[0]);
        // The same offer again while the first is pending: refused.
        assert!(g.admit(p, &t, &offers[0], now).is_err());
        for (i, o) in offers.iter().enumerate().skip(1).take(2) {
            g.admit(p, &t, o, now).unwrap();
            g.reserved(&t, Hash([100 + i as u8; 32]), *o);
        }
        // Three pending: a fourth offer is refused too.
        assert!(g.admit(p, &t, &offers[3], now).is_err());
        // One countersigned, one ran out: the taker is struck.
        g.ended(&t, &Hash([100; 32]), false, now);
        g.ended(&t, &Hash([101; 32]), true, now);
        assert!(g.is_struck(&t, now));
        let wait = g.admit(p, &t, &offers[4], now).unwrap_err();
        assert!(wait > STRIKE_COOLDOWN - Duration::from_secs(1), "{wait:?}");
        // After the cooldown it may take again.
        let later = now + STRIKE_COOLDOWN;
        g.admit(p, &t, &offers[4], later).unwrap();
    }

    #[test]
    fn a_peer_taking_too_often_is_told_when_to_come_back() {
        let mut g = TakeGuard::default();
        let k = Keypair::generate();
        let now = Instant::now();
        for i in 0..TAKES_PER_WINDOW {
            let o = Hash([i as u8; 32]);
            g.admit(peer(&k), &Keypair::generate().public(), &o, now)
                .unwrap();
        }
        let wait = g
            .admit(peer(&k), &k.public(), &Hash([255; 32]), now)
            .unwrap_err();
        assert_eq!(wait, TAKE_WINDOW);
        g.admit(peer(&k), &k.public(), &Hash([255; 32]), now + TAKE_WINDOW)
            .unwrap();
    }
}
