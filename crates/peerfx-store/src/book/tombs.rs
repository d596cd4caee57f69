//! What the book remembers of offers that are gone, and what it allows a
//! maker to withdraw, both bounded.
//!
//! **Tombstones.** An offer that was cancelled or closed leaves a
//! [`Tombstone`] until it would have expired anyway, so a late copy (gossip is
//! unordered, sync pages are stale) never brings it back. They are indexed by
//! expiry (purging costs what expires, not a scan) and capped twice: at most
//! `max_per_maker` per maker, past which that maker's soonest-expiring one
//! makes room (a maker flooding cancels only ever forgets its own), and at
//! most `max_total` in all, past which the maker with the most loses its
//! soonest-expiring one (fair: a flood of many keys cannot push out a quiet
//! maker's few).
//!
//! **Cancel budgets.** Each maker has a token bucket of cancels of offers in
//! the book: [`WireLimits::cancel_burst`] at once, refilled at
//! [`WireLimits::cancels_per_hour`]. A cancel past the budget is ignored and
//! not forwarded, so a post-and-cancel loop cannot make every node keep a
//! tombstone per iteration: its offers stay until they expire, and count
//! against its open-offer quota. A bucket that is full again is forgotten, so
//! the table only holds makers that cancelled within the last hour or so.

use std::collections::{BTreeSet, HashMap, HashSet};

use peerfx_core::{OfferId, PublicKey, Timestamp, WireLimits};
use serde::{Deserialize, Serialize};

/// "This offer is gone and must not come back."
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tombstone {
    /// The maker whose offer it is (or claims to be, for a cancel that came first).
    pub maker: PublicKey,
    /// When the tombstone may be forgotten: the offer cannot be valid after this.
    pub until: Timestamp,
}

/// The tombstones, with their indexes.
#[derive(Default)]
pub(crate) struct Tombs {
    map: HashMap<OfferId, Tombstone>,
    expiry: BTreeSet<(Timestamp, OfferId)>,
    by_maker: HashMap<PublicKey, BTreeSet<(Timestamp, OfferId)>>,
    /// Makers by how many tombstones they have: who loses one when the
    /// total cap is reached.
    counts: BTreeSet<(usize, PublicKey)>,
    /// Those that are cancels of offers not seen (since open).
    early: HashSet<OfferId>,
    /// Changed since the last persist.
    pub(crate) dirty: HashSet<OfferId>,
    max_total: usize,
    max_per_maker: usize,
}

impl Tombs {
    pub(crate) fn new(max_total: u64, max_per_maker: u64) -> Tombs {
        Tombs {
            max_total: usize::try_from(max_total).unwrap_or(usize::MAX).max(1),
            max_per_maker: usize::try_from(max_per_maker).unwrap_or(usize::MAX).max(1),
            ..Tombs::default()
        }
    }

    pub(crate) fn get(&self, id: &OfferId) -> Option<&Tombstone> {
        self.map.get(id)
    }

    /// Whether `maker`'s offer `id` is tombstoned.
    pub(crate) fn holds(&self, id: &OfferId, maker: &PublicKey) -> bool {
        self.map.get(id).is_some_and(|t| t.maker == *maker)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn early_len(&self) -> usize {
        self.early.len()
    }

    /// Every tombstone, for a full persist.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &OfferId> {
        self.map.keys()
    }

    /// Adds (or replaces) a tombstone, making room within the caps first.
    pub(crate) fn insert(&mut self, id: OfferId, tomb: Tombstone, early: bool) {
        self.remove(&id);
        let maker = tomb.maker;
        while self.count_of(&maker) >= self.max_per_maker {
            if !self.drop_soonest_of(&maker) {
                break;
            }
        }
        while self.map.len() >= self.max_total {
            let Some(&(_, fullest)) = self.counts.iter().next_back() else {
                break;
            };
            if !self.drop_soonest_of(&fullest) {
                break;
            }
        }
        let before = self.count_of(&maker);
        self.by_maker
            .entry(maker)
            .or_default()
            .insert((tomb.until, id));
        self.recount(&maker, before);
        self.expiry.insert((tomb.until, id));
        if early {
            self.early.insert(id);
        }
        self.map.insert(id, tomb);
        self.dirty.insert(id);
    }

    /// Loads a persisted tombstone (not dirty).
    pub(crate) fn load(&mut self, id: OfferId, tomb: Tombstone) {
        self.insert(id, tomb, false);
        self.dirty.remove(&id);
    }

    pub(crate) fn remove(&mut self, id: &OfferId) -> Option<Tombstone> {
        let tomb = self.map.remove(id)?;
        self.expiry.remove(&(tomb.until, *id));
        let before = self.count_of(&tomb.maker);
        if let Some(mine) = self.by_maker.get_mut(&tomb.maker) {
            mine.remove(&(tomb.until, *id));
            if mine.is_empty() {
                self.by_maker.remove(&tomb.maker);
            }
        }
        self.recount(&tomb.maker, before);
        self.early.remove(id);
        self.dirty.insert(*id);
        Some(tomb)
    }

    /// Forgets the tombstones whose offer cannot be valid any more.
    pub(crate) fn purge(&mut self, now: Timestamp) -> usize {
        let old: Vec<OfferId> = self
            .expiry
            .range(..=(now, peerfx_core::Hash([0xff; 32])))
            .map(|(_, id)| *id)
            .collect();
        for id in &old {
            self.remove(id);
        }
        old.len()
    }

    fn count_of(&self, maker: &PublicKey) -> usize {
        self.by_maker.get(maker).map_or(0, BTreeSet::len)
    }

    /// Moves `maker` in `counts` from `before` to its count now.
    fn recount(&mut self, maker: &PublicKey, before: usize) {
        self.counts.remove(&(before, *maker));
        let now = self.count_of(maker);
        if now > 0 {
            self.counts.insert((now, *maker));
        }
    }

    fn drop_soonest_of(&mut self, maker: &PublicKey) -> bool {
        let soonest = self
            .by_maker
            .get(maker)
            .and_then(|mine| mine.iter().next().copied());
        match soonest {
            Some((_, id)) => self.remove(&id).is_some(),
            None => false,
        }
    }
}

/// Each maker's cancel budget, as a token bucket in integer units: a cancel
/// costs one hour's worth of refill (3600 units per token), and a bucket
/// gains `cancels_per_hour` units a second.
#[derive(Default)]
pub(crate) struct CancelBudgets {
    buckets: HashMap<PublicKey, (u64, Timestamp)>,
}

impl CancelBudgets {
    const UNITS_PER_CANCEL: u64 = 3600;

    fn level(&self, maker: &PublicKey, now: Timestamp, limits: &WireLimits) -> u64 {
        let full = u64::from(limits.cancel_burst) * Self::UNITS_PER_CANCEL;
        match self.buckets.get(maker) {
            None => full,
            Some(&(units, at)) => units
                .saturating_add(
                    now.since(at)
                        .saturating_mul(u64::from(limits.cancels_per_hour)),
                )
                .min(full),
        }
    }

    /// Spends one cancel of `maker`'s budget if it has one.
    pub(crate) fn spend(&mut self, maker: &PublicKey, now: Timestamp, limits: &WireLimits) -> bool {
        let level = self.level(maker, now, limits);
        if level < Self::UNITS_PER_CANCEL {
            return false;
        }
        self.buckets
            .insert(*maker, (level - Self::UNITS_PER_CANCEL, now));
        true
    }

    /// Forgets the buckets that are full again.
    pub(crate) fn prune(&mut self, now: Timestamp, limits: &WireLimits) {
        let full = u64::from(limits.cancel_burst) * Self::UNITS_PER_CANCEL;
        let keep: Vec<PublicKey> = self
            .buckets
            .keys()
            .filter(|m| self.level(m, now, limits) < full)
            .copied()
            .collect();
        self.buckets.retain(|m, _| keep.contains(m));
    }

    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tomb(maker: u8, until: u64) -> Tombstone {
        Tombstone {
            maker: PublicKey([maker; 32]),
            until: Timestamp(until),
        }
    }

    #[test]
    fn caps_are_fair_per_maker() {
        let mut t = Tombs::new(10, 4);
        // One maker floods: it keeps only its 4 latest-expiring.
        for i in 0..100u8 {
            t.insert(
                peerfx_core::Hash([i; 32]),
                tomb(1, 1000 + u64::from(i)),
                false,
            );
        }
        assert_eq!(t.len(), 4);
        assert!(t.holds(&peerfx_core::Hash([99; 32]), &PublicKey([1; 32])));
        assert!(!t.holds(&peerfx_core::Hash([0; 32]), &PublicKey([1; 32])));
        // Quiet makers fill the rest; at the total cap the fullest loses one.
        for m in 2..8u8 {
            t.insert(peerfx_core::Hash([100 + m; 32]), tomb(m, 2000), false);
        }
        assert_eq!(t.len(), 10);
        assert_eq!(t.count_of(&PublicKey([1; 32])), 4);
        assert_eq!(t.count_of(&PublicKey([7; 32])), 1);
        // Purge goes by expiry.
        assert_eq!(t.purge(Timestamp(1500)), 4);
        assert_eq!(t.len(), 6);
        assert_eq!(t.counts.len(), 6);
    }

    #[test]
    fn a_maker_has_a_cancel_budget_that_refills() {
        let limits = WireLimits {
            cancel_burst: 3,
            cancels_per_hour: 3600,
            ..WireLimits::default()
        };
        let mut b = CancelBudgets::default();
        let m = PublicKey([1; 32]);
        let t0 = Timestamp(1_000_000);
        for _ in 0..3 {
            assert!(b.spend(&m, t0, &limits));
        }
        assert!(!b.spend(&m, t0, &limits));
        // 3600 per hour: one a second.
        assert!(b.spend(&m, t0.plus(1), &limits));
        assert!(!b.spend(&m, t0.plus(1), &limits));
        b.prune(t0.plus(2), &limits);
        assert_eq!(b.len(), 1);
        b.prune(t0.plus(10), &limits);
        assert_eq!(b.len(), 0);
    }
}
