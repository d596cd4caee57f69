//! The book's in-memory state and its rules: one offer per id, indexed by
//! direction and rate (for queries), by expiry (for purging) and by maker
//! (for the quota); eviction from the fullest market when full; updates and
//! cancels from the offer's maker only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use peerfx_core::matching::BookEntry;
use peerfx_core::protocol::OfferState;
use peerfx_core::{
    Amount, Currency, Market, Offer, OfferCancel, OfferId, OfferUpdate, PublicKey, Timestamp,
    Verified, WireLimits,
};

use super::tombs::{CancelBudgets, Tombs, Tombstone};
use super::{CancelOutcome, InsertOutcome, UpdateOutcome};
use crate::StoreConfig;

/// One offer in memory, with its key in the ordered index.
pub(crate) struct Entry {
    pub(crate) offer: Verified<Offer>,
    pub(crate) update: Option<Verified<OfferUpdate>>,
    pub(crate) index_key: Vec<u8>,
}

impl Entry {
    pub(crate) fn remaining(&self) -> Amount {
        self.update
            .as_ref()
            .map_or(self.offer.max_give, |u| u.remaining)
    }

    pub(crate) fn to_book_entry(&self) -> BookEntry {
        BookEntry {
            offer: self.offer.clone(),
            remaining: self.remaining(),
            seq: self.update.as_ref().map_or(0, |u| u.seq),
            announced_at: self.update.as_ref().map_or(self.offer.created_at, |u| {
                u.created_at.max(self.offer.created_at)
            }),
        }
    }

    /// The offer and its latest update as signed: what a sync page carries,
    /// and what the `book` tree stores.
    pub(crate) fn to_state(&self) -> OfferState {
        OfferState {
            offer: self.offer.signed().clone(),
            update: self.update.as_ref().map(|u| u.signed().clone()),
        }
    }
}

/// Give · want · rate · created_at · id: sorts a direction's offers best rate
/// first, then oldest first.
pub(crate) fn index_key(offer: &Offer, id: &OfferId) -> Vec<u8> {
    let mut k = Vec::with_capacity(62);
    k.extend_from_slice(offer.give.code().as_bytes());
    k.extend_from_slice(offer.want.code().as_bytes());
    k.extend_from_slice(&offer.rate.sort_key());
    k.extend_from_slice(&offer.created_at.0.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The id at the end of an index key.
pub(crate) fn id_of_index_key(key: &[u8]) -> Option<OfferId> {
    let tail = key.get(key.len().checked_sub(32)?..)?;
    Some(peerfx_core::Hash(tail.try_into().ok()?))
}

/// The index prefixes of a market's two directions, in index order.
pub(crate) fn market_prefixes(market: Market) -> Vec<Vec<u8>> {
    let mut prefixes: Vec<Vec<u8>> = [
        (market.base(), market.quote()),
        (market.quote(), market.base()),
    ]
    .iter()
    .map(|(a, b)| [a.code().as_bytes(), b.code().as_bytes()].concat())
    .collect();
    prefixes.sort();
    prefixes
}

/// The book's contents, and what changed since the last persist.
pub(crate) struct BookState {
    pub(crate) entries: HashMap<OfferId, Entry>,
    pub(crate) index: BTreeSet<Vec<u8>>,
    pub(crate) expiry: BTreeSet<(Timestamp, OfferId)>,
    /// Each maker's offers by expiry, for the quota: only those not yet
    /// expired count, so a replacement is not refused while an expired offer
    /// waits for the next purge.
    pub(crate) makers: HashMap<PublicKey, BTreeSet<(Timestamp, OfferId)>>,
    /// Offers that are gone, bounded (see [`super::tombs`]).
    pub(crate) tombs: Tombs,
    /// Each maker's cancel budget.
    pub(crate) budgets: CancelBudgets,
    /// How many offers each direction (give, want) holds: which market is
    /// fullest, and which of its directions to evict from.
    pub(crate) directions: HashMap<(Currency, Currency), u64>,
    /// Offers whose record must be written (or deleted, if no longer in
    /// `entries`) at the next persist.
    pub(crate) dirty: HashSet<OfferId>,
    /// Makers of this node's own offers (see [`super::Book::note_own_maker`]).
    pub(crate) own_makers: HashSet<PublicKey>,
    pub(crate) max_offers: u64,
}

impl BookState {
    pub(crate) fn new(config: &StoreConfig) -> BookState {
        BookState {
            entries: HashMap::new(),
            index: BTreeSet::new(),
            expiry: BTreeSet::new(),
            makers: HashMap::new(),
            tombs: Tombs::new(config.max_tombstones, config.max_tombstones_per_maker),
            budgets: CancelBudgets::default(),
            directions: HashMap::new(),
            dirty: HashSet::new(),
            own_makers: HashSet::new(),
            max_offers: config.max_book_offers,
        }
    }

    pub(crate) fn add_entry(
        &mut self,
        offer: Verified<Offer>,
        update: Option<Verified<OfferUpdate>>,
    ) {
        let id = offer.id();
        let index_key = index_key(&offer, &id);
        self.index.insert(index_key.clone());
        *self.directions.entry((offer.give, offer.want)).or_default() += 1;
        self.expiry.insert((offer.expires_at, id));
        self.makers
            .entry(offer.maker)
            .or_default()
            .insert((offer.expires_at, id));
        self.entries.insert(
            id,
            Entry {
                offer,
                update,
                index_key,
            },
        );
        self.dirty.insert(id);
    }

    pub(crate) fn remove_entry(&mut self, id: &OfferId) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        self.index.remove(&e.index_key);
        let direction = (e.offer.give, e.offer.want);
        if let Some(n) = self.directions.get_mut(&direction) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.directions.remove(&direction);
            }
        }
        self.expiry.remove(&(e.offer.expires_at, *id));
        if let Some(mine) = self.makers.get_mut(&e.offer.maker) {
            mine.remove(&(e.offer.expires_at, *id));
            if mine.is_empty() {
                self.makers.remove(&e.offer.maker);
            }
        }
        self.dirty.insert(*id);
        Some(e)
    }

    /// Removes an offer that is leaving for good and leaves its tombstone.
    pub(crate) fn close(&mut self, id: &OfferId) {
        if let Some(e) = self.remove_entry(id) {
            let tomb = Tombstone {
                maker: e.offer.maker,
                until: e.offer.expires_at,
            };
            self.tombs.insert(*id, tomb, false);
        }
    }

    /// How many of `maker`'s offers expire after `now`.
    fn live_offers_of(&self, maker: &PublicKey, now: Timestamp) -> u64 {
        self.makers.get(maker).map_or(0, |mine| {
            let after_now = (now, peerfx_core::Hash([0xff; 32]));
            mine.range((Bound::Excluded(after_now), Bound::Unbounded))
                .count() as u64
        })
    }

    pub(crate) fn tombstoned(&self, id: &OfferId, maker: &PublicKey) -> bool {
        self.tombs.holds(id, maker)
    }

    pub(crate) fn insert(
        &mut self,
        offer: &Verified<Offer>,
        now: Timestamp,
        quota: u64,
    ) -> InsertOutcome {
        let id = offer.id();
        if offer.expires_at <= now {
            InsertOutcome::Expired
        } else if self.tombstoned(&id, &offer.maker) {
            InsertOutcome::Tombstoned
        } else if self.entries.contains_key(&id) {
            InsertOutcome::Duplicate
        } else if self.live_offers_of(&offer.maker, now) >= quota {
            InsertOutcome::OverQuota
        } else if self.entries.len() as u64 >= self.max_offers
            && !self.own_makers.contains(&offer.maker)
        {
            match self.make_room_for(offer) {
                Some(evicted) => {
                    self.add_entry(offer.clone(), None);
                    InsertOutcome::InsertedInPlaceOf(evicted)
                }
                None => InsertOutcome::BookFull,
            }
        } else {
            self.add_entry(offer.clone(), None);
            InsertOutcome::Inserted
        }
    }

    /// Offers of `market`, both directions.
    pub(crate) fn market_len(&self, market: Market) -> u64 {
        let d = |a, b| self.directions.get(&(a, b)).copied().unwrap_or(0);
        d(market.base(), market.quote()) + d(market.quote(), market.base())
    }

    /// In a full book, drops the worst-priced offer of the fullest market
    /// (never one of this node's own) to make room for `offer`, if that
    /// market is another one and would still hold more offers than
    /// `offer`'s. Returns the dropped offer. No tombstone: it is valid, and
    /// may come back when there is room.
    fn make_room_for(&mut self, offer: &Offer) -> Option<OfferId> {
        let market = Market::new(offer.give, offer.want).ok()?;
        let mut totals: HashMap<Market, u64> = HashMap::new();
        for (&(give, want), &n) in &self.directions {
            if let Ok(m) = Market::new(give, want) {
                *totals.entry(m).or_default() += n;
            }
        }
        // Ties go to the smaller market id, so every book picks the same one.
        let (fullest, fullest_len) = totals
            .into_iter()
            .max_by_key(|&(m, n)| (n, std::cmp::Reverse(m)))?;
        if fullest == market || fullest_len <= self.market_len(market) + 1 {
            return None;
        }
        // From its fuller direction, the last key: the worst rate, and of
        // those the newest.
        let d = |a, b| self.directions.get(&(a, b)).copied().unwrap_or(0);
        let (give, want) =
            if d(fullest.base(), fullest.quote()) >= d(fullest.quote(), fullest.base()) {
                (fullest.base(), fullest.quote())
            } else {
                (fullest.quote(), fullest.base())
            };
        let start = [give.code().as_bytes(), want.code().as_bytes()].concat();
        let mut end = start.clone();
        // Currency codes are ASCII letters: the last byte cannot overflow.
        *end.last_mut()? += 1;
        let is_own = |id: &OfferId| {
            self.entries
                .get(id)
                .is_some_and(|e| self.own_makers.contains(&e.offer.maker))
        };
        // Own offers are passed over; there are at most a quota's worth.
        let id = self
            .index
            .range(start..end)
            .rev()
            .filter_map(|k| id_of_index_key(k))
            .find(|id| !is_own(id))?;
        self.remove_entry(&id)?;
        Some(id)
    }

    /// The update rules: only the maker, only a higher seq, never above the
    /// offer's maximum; nothing remaining closes the offer.
    pub(crate) fn apply_update(&mut self, update: &Verified<OfferUpdate>) -> UpdateOutcome {
        let id = update.offer_id;
        let Some(e) = self.entries.get_mut(&id) else {
            return UpdateOutcome::UnknownOffer;
        };
        if e.offer.maker != update.maker {
            return UpdateOutcome::WrongMaker;
        }
        if update.seq <= e.update.as_ref().map_or(0, |u| u.seq) {
            return UpdateOutcome::Stale;
        }
        if update.remaining > e.offer.max_give {
            return UpdateOutcome::AboveMax;
        }
        if update.remaining == Amount::ZERO {
            self.close(&id);
            return UpdateOutcome::Closed;
        }
        e.update = Some(update.clone());
        self.dirty.insert(id);
        UpdateOutcome::Applied(update.remaining)
    }

    /// The cancel rules: only the offer's maker, within its cancel budget
    /// (unless `budgeted` is false: this node's own cancels); a cancel of an
    /// offer not seen yet is remembered (within a cap) so the offer cannot
    /// arrive later.
    pub(crate) fn apply_cancel(
        &mut self,
        cancel: &Verified<OfferCancel>,
        now: Timestamp,
        limits: &WireLimits,
        budgeted: bool,
    ) -> CancelOutcome {
        let id = cancel.offer_id;
        if self.tombstoned(&id, &cancel.maker) {
            return CancelOutcome::AlreadyGone;
        }
        match self.entries.get(&id) {
            Some(e) if e.offer.maker != cancel.maker => CancelOutcome::WrongMaker,
            Some(_) if budgeted && !self.budgets.spend(&cancel.maker, now, limits) => {
                CancelOutcome::OverBudget
            }
            // This replaces any early tombstone someone else left for the id.
            Some(_) => {
                self.close(&id);
                CancelOutcome::Cancelled
            }
            // Someone else's early cancel holds the id; one of the two is not
            // the maker, and the offer, when it comes, settles which.
            None if self.tombs.get(&id).is_some() => CancelOutcome::NotRemembered,
            // Past the cap an early cancel is not remembered: the offer, if it
            // arrives later, stays until it expires here.
            None if self.tombs.early_len() as u64 >= self.max_offers => {
                CancelOutcome::NotRemembered
            }
            None => {
                // The offer can be at most this old and live at most this long.
                let until = cancel
                    .created_at
                    .plus(limits.max_clock_skew_secs)
                    .plus(limits.max_offer_lifetime_secs);
                let tomb = Tombstone {
                    maker: cancel.maker,
                    until,
                };
                self.tombs.insert(id, tomb, true);
                CancelOutcome::Remembered
            }
        }
    }

    /// Index keys under `prefix`, from `start` on.
    pub(crate) fn index_from<'a>(
        &'a self,
        prefix: &'a [u8],
        start: Bound<Vec<u8>>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.index
            .range((start, Bound::Unbounded))
            .take_while(move |k| k.starts_with(prefix))
            .filter_map(|k| self.entries.get(&id_of_index_key(k)?))
    }
}
