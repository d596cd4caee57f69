//! The offer book: every open offer this node has heard of, its own included.
//!
//! The book lives in memory, and sled holds a copy written behind it. Every
//! gossiped offer changes the book on every node that hears it, so a change
//! must be cheap: an insert here costs a few microseconds under a lock, where
//! a sled transaction over the book's trees cost ~40 µs on one thread and, with
//! the log I/O sled does behind it, about a quarter of the CPU a node spent
//! per gossiped offer (docs/BENCHMARKS.md). [`Store::book_persist`] writes
//! what changed since the last call, all of it in one sled transaction; the
//! node calls it every second, at shutdown, and [`Store::flush`] and dropping
//! the last clone of the store call it too. A crash can therefore lose the
//! last second of *other makers'* offers, which sync and re-announcement bring
//! back; own offers, reservations and trades live in their own trees and are
//! flushed before they are acknowledged, as before.
//!
//! Rules, each applied atomically under the book's lock:
//!
//! - Inserting a verified offer is idempotent.
//! - An offer that was cancelled or closed leaves a [`Tombstone`] until it would
//!   have expired anyway, so a late copy (gossip is unordered, sync pages are
//!   stale) never brings it back. A cancel that arrives *before* its offer leaves
//!   a tombstone too; it applies only to an offer by the same maker, so nobody can
//!   pre-empt someone else's offer with a cancel of their own. Such early
//!   tombstones are capped at the book's size, so a flood of cancels for offers
//!   nobody made cannot grow memory without bound.
//! - Updates apply only with a `seq` strictly above the last one applied, and
//!   only from the offer's maker.
//! - Expired offers are purged through an expiry index, not a full scan.
//! - A maker has at most [`WireLimits::max_open_offers_per_maker`] unexpired
//!   offers in the book, and the book at most
//!   [`crate::StoreConfig::max_book_offers`] besides this node's own, which
//!   a full book never refuses or evicts.
//!
//! Queries walk an ordered index whose keys sort by give currency, want
//! currency, rate, age and id: a taker's matches come out best first, and a
//! rate bound ends the scan early. Only the `book` and `tombstones` trees are
//! persisted; the index, the expiry order and the makers' counts are rebuilt
//! from them at open.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use peerfx_core::matching::BookEntry;
use peerfx_core::protocol::OfferState;
use peerfx_core::{
    codec, Amount, Currency, Fill, Market, MatchQuery, Offer, OfferCancel, OfferId, OfferUpdate,
    PublicKey, Timestamp, Verified, WireLimits,
};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use crate::{decode, Result, Store};

/// "This offer is gone and must not come back."
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tombstone {
    /// The maker whose offer it is (or claims to be, for a cancel that came first).
    pub maker: PublicKey,
    /// When the tombstone may be forgotten: the offer cannot be valid after this.
    pub until: Timestamp,
}

/// What inserting an offer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New in the book.
    Inserted,
    /// Already there; nothing changed.
    Duplicate,
    /// Cancelled or closed before; refused.
    Tombstoned,
    /// Already expired; refused.
    Expired,
    /// Its maker already has the most open offers allowed; refused.
    OverQuota,
    /// New in the book, in place of this offer of the market with the most
    /// offers, which left it: the book was full (see [`BookFull`]).
    ///
    /// [`BookFull`]: InsertOutcome::BookFull
    InsertedInPlaceOf(OfferId),
    /// The book holds the most offers allowed, and the offer's market holds
    /// as many as any other (or one fewer); refused. A full book makes room
    /// for another market's offer by dropping the worst-priced offer of the
    /// fullest market, so a flood in one market fills only that market's
    /// share and never starves the others.
    BookFull,
}

/// What applying an update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Applied; this much remains.
    Applied(Amount),
    /// Nothing remains: the offer left the book.
    Closed,
    /// Seq not above the last applied one; ignored.
    Stale,
    /// The offer is not in the book (not yet arrived, or gone).
    UnknownOffer,
    /// Signed by someone other than the offer's maker.
    WrongMaker,
    /// Claims more remaining than the offer's maximum.
    AboveMax,
}

/// What applying a cancel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The offer left the book.
    Cancelled,
    /// The offer is not known yet; the cancel is remembered for when it arrives.
    Remembered,
    /// Already gone (cancelled, closed or expired before); nothing changed.
    AlreadyGone,
    /// Signed by someone other than the offer's maker.
    WrongMaker,
    /// The offer is not known and the cancel was not remembered: the cap on
    /// early cancels was reached, or another key's early cancel holds the id.
    NotRemembered,
}

/// What merging an offer and its latest update did (see [`Store::book_merge_many`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeOutcome {
    /// What happened to the offer.
    pub offer: InsertOutcome,
    /// What happened to the update: `None` if there was none, or the offer is
    /// not in the book (tombstoned or expired).
    pub update: Option<UpdateOutcome>,
}

/// One offer in memory, with its key in the ordered index.
struct Entry {
    offer: Verified<Offer>,
    update: Option<Verified<OfferUpdate>>,
    index_key: Vec<u8>,
}

impl Entry {
    fn remaining(&self) -> Amount {
        self.update
            .as_ref()
            .map_or(self.offer.max_give, |u| u.remaining)
    }

    fn to_book_entry(&self) -> BookEntry {
        BookEntry {
            offer: self.offer.clone(),
            remaining: self.remaining(),
            seq: self.update.as_ref().map_or(0, |u| u.seq),
        }
    }

    /// The offer and its latest update as signed: what a sync page carries,
    /// and what the `book` tree stores.
    fn to_state(&self) -> OfferState {
        OfferState {
            offer: self.offer.signed().clone(),
            update: self.update.as_ref().map(|u| u.signed().clone()),
        }
    }
}

/// Give · want · rate · created_at · id: sorts a direction's offers best rate
/// first, then oldest first.
fn index_key(offer: &Offer, id: &OfferId) -> Vec<u8> {
    let mut k = Vec::with_capacity(62);
    k.extend_from_slice(offer.give.code().as_bytes());
    k.extend_from_slice(offer.want.code().as_bytes());
    k.extend_from_slice(&offer.rate.sort_key());
    k.extend_from_slice(&offer.created_at.0.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The id at the end of an index key.
fn id_of_index_key(key: &[u8]) -> Option<OfferId> {
    let tail = key.get(key.len().checked_sub(32)?..)?;
    Some(peerfx_core::Hash(tail.try_into().ok()?))
}

/// The index prefixes of a market's two directions, in index order.
fn market_prefixes(market: Market) -> Vec<Vec<u8>> {
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
#[derive(Default)]
struct BookState {
    entries: HashMap<OfferId, Entry>,
    index: BTreeSet<Vec<u8>>,
    expiry: BTreeSet<(Timestamp, OfferId)>,
    /// Each maker's offers by expiry, for the quota: only those not yet
    /// expired count, so a replacement is not refused while an expired offer
    /// waits for the next purge.
    makers: HashMap<PublicKey, BTreeSet<(Timestamp, OfferId)>>,
    tombs: HashMap<OfferId, Tombstone>,
    /// How many offers each direction (give, want) holds: which market is
    /// fullest, and which of its directions to evict from.
    directions: HashMap<(Currency, Currency), u64>,
    /// Those of `tombs` that are cancels of offers not seen (since open).
    early: HashSet<OfferId>,
    /// Offers whose record must be written (or deleted, if no longer in
    /// `entries`) at the next persist.
    dirty: HashSet<OfferId>,
    /// Likewise for tombstones.
    dirty_tombs: HashSet<OfferId>,
    /// Makers of this node's own offers (see [`Book::note_own_maker`]).
    own_makers: HashSet<PublicKey>,
}

impl BookState {
    fn add_entry(&mut self, offer: Verified<Offer>, update: Option<Verified<OfferUpdate>>) {
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

    fn remove_entry(&mut self, id: &OfferId) -> Option<Entry> {
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

    fn set_tomb(&mut self, id: OfferId, tomb: Tombstone, early: bool) {
        self.tombs.insert(id, tomb);
        if early {
            self.early.insert(id);
        } else {
            self.early.remove(&id);
        }
        self.dirty_tombs.insert(id);
    }

    fn remove_tomb(&mut self, id: &OfferId) {
        self.tombs.remove(id);
        self.early.remove(id);
        self.dirty_tombs.insert(*id);
    }

    /// Removes an offer that is leaving for good and leaves its tombstone.
    fn close(&mut self, id: &OfferId) {
        if let Some(e) = self.remove_entry(id) {
            let tomb = Tombstone {
                maker: e.offer.maker,
                until: e.offer.expires_at,
            };
            self.set_tomb(*id, tomb, false);
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

    fn tombstoned(&self, id: &OfferId, maker: &PublicKey) -> bool {
        self.tombs.get(id).is_some_and(|t| t.maker == *maker)
    }

    fn insert(
        &mut self,
        offer: &Verified<Offer>,
        now: Timestamp,
        quota: u64,
        max_offers: u64,
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
        } else if self.entries.len() as u64 >= max_offers && !self.own_makers.contains(&offer.maker)
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
    fn market_len(&self, market: Market) -> u64 {
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
    fn apply_update(&mut self, update: &Verified<OfferUpdate>) -> UpdateOutcome {
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

    fn apply_cancel(
        &mut self,
        cancel: &Verified<OfferCancel>,
        limits: &WireLimits,
        max_early: usize,
    ) -> CancelOutcome {
        let id = cancel.offer_id;
        if self.tombstoned(&id, &cancel.maker) {
            return CancelOutcome::AlreadyGone;
        }
        match self.entries.get(&id) {
            Some(e) if e.offer.maker != cancel.maker => CancelOutcome::WrongMaker,
            // This replaces any early tombstone someone else left for the id.
            Some(_) => {
                self.close(&id);
                CancelOutcome::Cancelled
            }
            // Someone else's early cancel holds the id; one of the two is not
            // the maker, and the offer, when it comes, settles which.
            None if self.tombs.contains_key(&id) => CancelOutcome::NotRemembered,
            // Past the cap an early cancel is not remembered: the offer, if it
            // arrives later, stays until it expires here.
            None if self.early.len() >= max_early => CancelOutcome::NotRemembered,
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
                self.set_tomb(id, tomb, true);
                CancelOutcome::Remembered
            }
        }
    }

    /// Index keys under `prefix`, from `start` on.
    fn index_from<'a>(
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

/// The in-memory book and its persisted copy. Shared by every clone of a
/// [`Store`]; when the last one goes, what changed since the last persist is
/// written.
pub(crate) struct Book {
    state: RwLock<BookState>,
    /// Serialises persists, so an older snapshot never overwrites a newer one.
    persisting: Mutex<()>,
    max_offers: u64,
    tree: sled::Tree,
    tombs_tree: sled::Tree,
}

/// What [`Book::load`] found on disk.
pub(crate) struct Loaded {
    /// The book.
    pub(crate) book: Book,
    /// Records that did not decode, or that a tombstone outranks: removed
    /// from disk as they were found.
    pub(crate) dropped: usize,
}

impl Book {
    /// Reads the persisted book and tombstones and rebuilds the indexes.
    pub(crate) fn load(
        tree: sled::Tree,
        tombs_tree: sled::Tree,
        max_offers: u64,
    ) -> std::result::Result<Loaded, sled::Error> {
        let mut state = BookState::default();
        let mut dropped = 0;
        for item in tombs_tree.iter() {
            let (k, v) = item?;
            let id = <[u8; 32]>::try_from(k.as_ref()).ok().map(peerfx_core::Hash);
            match (id, decode::<Tombstone>("tombstones", &v)) {
                (Some(id), Ok(t)) => {
                    state.tombs.insert(id, t);
                }
                _ => {
                    tombs_tree.remove(k)?;
                    dropped += 1;
                }
            }
        }
        for item in tree.iter() {
            let (k, v) = item?;
            let Ok(rec) = decode::<OfferState>("book", &v) else {
                tree.remove(k)?;
                dropped += 1;
                continue;
            };
            // Verified before it was stored; sled checksums what it wrote.
            let offer = Verified::assume_verified(rec.offer);
            let id = offer.id();
            if k.as_ref() != id.as_bytes() || state.tombstoned(&id, &offer.maker) {
                tree.remove(k)?;
                dropped += 1;
                continue;
            }
            let update = rec.update.map(Verified::assume_verified);
            state.add_entry(offer, update);
        }
        state.dirty.clear();
        Ok(Loaded {
            book: Book {
                state: RwLock::new(state),
                persisting: Mutex::new(()),
                max_offers,
                tree,
                tombs_tree,
            },
            dropped,
        })
    }

    /// Marks `maker` as one of this node's own keys. Its offers always find
    /// room in a full book and are never evicted, so a node always sees its
    /// own offers in its book. The book can then hold more than its maximum by
    /// at most the own makers' open-offer quota.
    pub(crate) fn note_own_maker(&self, maker: PublicKey) {
        if !self.read().own_makers.contains(&maker) {
            self.write().own_makers.insert(maker);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, BookState> {
        // Every change completes before the lock is released, and none
        // panics midway, so a poisoned lock still guards a consistent book.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BookState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what changed since the last persist in one transaction; returns
    /// how many records it wrote or deleted. On failure the changes stay
    /// pending for the next attempt.
    fn persist(&self) -> std::result::Result<usize, sled::transaction::TransactionError> {
        let _one_at_a_time = self
            .persisting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Copies are taken under the lock; encoding and I/O happen outside it.
        let (records, tombs) = {
            let mut st = self.write();
            let dirty = std::mem::take(&mut st.dirty);
            let dirty_tombs = std::mem::take(&mut st.dirty_tombs);
            let records: Vec<(OfferId, Option<OfferState>)> = dirty
                .into_iter()
                .map(|id| (id, st.entries.get(&id).map(Entry::to_state)))
                .collect();
            let tombs: Vec<(OfferId, Option<Tombstone>)> = dirty_tombs
                .into_iter()
                .map(|id| (id, st.tombs.get(&id).cloned()))
                .collect();
            (records, tombs)
        };
        if records.is_empty() && tombs.is_empty() {
            return Ok(0);
        }
        let mut book_batch = sled::Batch::default();
        for (id, rec) in &records {
            match rec {
                Some(r) => book_batch.insert(id.as_bytes(), codec::encode(r)),
                None => book_batch.remove(id.as_bytes()),
            }
        }
        let mut tomb_batch = sled::Batch::default();
        for (id, t) in &tombs {
            match t {
                Some(t) => tomb_batch.insert(id.as_bytes(), codec::encode(t)),
                None => tomb_batch.remove(id.as_bytes()),
            }
        }
        let written = (&self.tree, &self.tombs_tree).transaction(|(book, tombs)| {
            book.apply_batch(&book_batch)?;
            tombs.apply_batch(&tomb_batch)?;
            Ok::<_, sled::transaction::ConflictableTransactionError>(())
        });
        if let Err(e) = written {
            let mut st = self.write();
            st.dirty.extend(records.into_iter().map(|(id, _)| id));
            st.dirty_tombs.extend(tombs.into_iter().map(|(id, _)| id));
            return Err(e);
        }
        Ok(records.len() + tombs.len())
    }
}

impl Drop for Book {
    fn drop(&mut self) {
        // Flushed too, so that closing the store means the book is on disk
        // and sled's I/O is done with the files.
        let written = self
            .persist()
            .map_err(|e| e.to_string())
            .and_then(|_| self.tree.flush().map_err(|e| e.to_string()));
        if let Err(e) = written {
            tracing::error!("book changes not written at close: {e}");
        }
    }
}

impl Store {
    /// Writes the book's changes since the last call to sled, in one
    /// transaction; returns how many records it wrote or deleted. Not flushed:
    /// [`Store::flush`] (which calls this first) or sled's own background
    /// flush makes them durable. On an error, the changes stay pending.
    pub fn book_persist(&self) -> Result<usize> {
        self.book_mem.persist().map_err(|e| match e {
            sled::transaction::TransactionError::Abort(e)
            | sled::transaction::TransactionError::Storage(e) => self.err(e),
        })
    }

    /// Adds a verified offer to the book.
    pub fn book_insert(
        &self,
        offer: &Verified<Offer>,
        now: Timestamp,
        limits: &WireLimits,
    ) -> Result<InsertOutcome> {
        let outcomes = self.book_insert_many(std::slice::from_ref(offer), now, limits)?;
        Ok(outcomes
            .first()
            .copied()
            .unwrap_or(InsertOutcome::Duplicate))
    }

    /// Adds many verified offers at once (a sync page, a burst of gossip), under
    /// one lock. One outcome per offer, in order.
    pub fn book_insert_many(
        &self,
        offers: &[Verified<Offer>],
        now: Timestamp,
        limits: &WireLimits,
    ) -> Result<Vec<InsertOutcome>> {
        let items: Vec<_> = offers.iter().map(|o| (o, None)).collect();
        Ok(self
            .merge(&items, now, limits)
            .into_iter()
            .map(|m| m.offer)
            .collect())
    }

    /// Merges offers, each with the latest update its sender had, under one
    /// lock: what gossip and sync deliver. Each offer is inserted under the
    /// rules of [`Store::book_insert`], then its update applied under those of
    /// [`Store::book_apply_update`]. One outcome per entry, in order.
    pub fn book_merge_many(
        &self,
        states: &[(Verified<Offer>, Option<Verified<OfferUpdate>>)],
        now: Timestamp,
        limits: &WireLimits,
    ) -> Result<Vec<MergeOutcome>> {
        let items: Vec<_> = states.iter().map(|(o, u)| (o, u.as_ref())).collect();
        Ok(self.merge(&items, now, limits))
    }

    fn merge(
        &self,
        items: &[(&Verified<Offer>, Option<&Verified<OfferUpdate>>)],
        now: Timestamp,
        limits: &WireLimits,
    ) -> Vec<MergeOutcome> {
        let quota = u64::try_from(limits.max_open_offers_per_maker).unwrap_or(u64::MAX);
        let max = self.book_mem.max_offers;
        let mut st = self.book_mem.write();
        items
            .iter()
            .map(|(offer, update)| {
                let outcome = st.insert(offer, now, quota, max);
                let update = match (outcome, update) {
                    (
                        InsertOutcome::Inserted
                        | InsertOutcome::InsertedInPlaceOf(_)
                        | InsertOutcome::Duplicate,
                        Some(u),
                    ) => Some(st.apply_update(u)),
                    _ => None,
                };
                MergeOutcome {
                    offer: outcome,
                    update,
                }
            })
            .collect()
    }

    /// Applies a maker's update (remaining after fills).
    pub fn book_apply_update(&self, update: &Verified<OfferUpdate>) -> Result<UpdateOutcome> {
        Ok(self.book_mem.write().apply_update(update))
    }

    /// Applies a maker's cancel. `limits` bounds how long a cancel for an offer not
    /// yet seen is remembered.
    pub fn book_apply_cancel(
        &self,
        cancel: &Verified<OfferCancel>,
        limits: &WireLimits,
    ) -> Result<CancelOutcome> {
        let max_early = usize::try_from(self.book_mem.max_offers).unwrap_or(usize::MAX);
        Ok(self
            .book_mem
            .write()
            .apply_cancel(cancel, limits, max_early))
    }

    /// One offer of the book.
    pub fn book_get(&self, id: &OfferId) -> Result<Option<BookEntry>> {
        Ok(self
            .book_mem
            .read()
            .entries
            .get(id)
            .map(Entry::to_book_entry))
    }

    /// Whether the offer was cancelled or closed (and is remembered as such).
    pub fn book_is_tombstoned(&self, id: &OfferId) -> Result<bool> {
        Ok(self.book_mem.read().tombs.contains_key(id))
    }

    /// Number of offers in the book.
    pub fn book_len(&self) -> usize {
        self.book_mem.read().entries.len()
    }

    /// Number of offers `maker` has in the book (expired ones included until
    /// they are purged).
    pub fn book_maker_offers(&self, maker: &PublicKey) -> Result<u64> {
        Ok(self
            .book_mem
            .read()
            .makers
            .get(maker)
            .map_or(0, |mine| mine.len() as u64))
    }

    /// The best `limit` matches for `query`, best first, walking the index in
    /// rate order and stopping at the query's rate bound.
    pub fn book_query(
        &self,
        query: &MatchQuery,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(BookEntry, Fill)>> {
        let prefix = [query.receive.code().as_bytes(), query.pay.code().as_bytes()].concat();
        let st = self.book_mem.read();
        let mut out = Vec::new();
        for e in st.index_from(&prefix, Bound::Included(prefix.clone())) {
            if out.len() >= limit {
                break;
            }
            if let Some(min_rate) = &query.min_rate {
                // Rates only get worse from here on.
                if !e.offer.rate.product_at_most_one(min_rate) {
                    break;
                }
            }
            let entry = e.to_book_entry();
            if let Some(fill) = query.fill_for(&entry, now) {
                out.push((entry, fill));
            }
        }
        Ok(out)
    }

    /// Open offers, optionally of one market (both directions), in index order:
    /// by direction, then best rate first. At most `limit`.
    pub fn book_list(
        &self,
        market: Option<Market>,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<BookEntry>> {
        let prefixes = market.map_or_else(|| vec![Vec::new()], market_prefixes);
        let st = self.book_mem.read();
        Ok(prefixes
            .iter()
            .flat_map(|p| st.index_from(p, Bound::Included(p.clone())))
            .filter(|e| e.offer.expires_at > now)
            .take(limit)
            .map(Entry::to_book_entry)
            .collect())
    }

    /// One page of a market's open offers (both directions) for a sync response,
    /// in index order, starting after `cursor` (an index key from the previous
    /// page). Returns the offers with their latest updates and the next cursor.
    pub fn book_page(
        &self,
        market: Market,
        cursor: Option<&[u8]>,
        limit: usize,
        now: Timestamp,
    ) -> Result<(Vec<OfferState>, Option<Vec<u8>>)> {
        let st = self.book_mem.read();
        let mut out = Vec::new();
        let prefixes = market_prefixes(market);
        let mut last: Option<&[u8]> = None;
        for prefix in &prefixes {
            let start = match cursor {
                Some(c) if c.starts_with(prefix) => Bound::Excluded(c.to_vec()),
                Some(c) if c > prefix.as_slice() => continue,
                _ => Bound::Included(prefix.clone()),
            };
            for e in st.index_from(prefix, start) {
                if e.offer.expires_at <= now {
                    continue;
                }
                if out.len() >= limit {
                    return Ok((out, last.map(<[u8]>::to_vec)));
                }
                out.push(e.to_state());
                last = Some(&e.index_key);
            }
        }
        Ok((out, None))
    }

    /// Removes offers that expired at or before `now`, and forgets tombstones whose
    /// offer cannot be valid any more. Returns the ids of the offers removed.
    pub fn book_purge_expired(&self, now: Timestamp) -> Result<Vec<OfferId>> {
        let mut st = self.book_mem.write();
        let expired: Vec<OfferId> = st
            .expiry
            .range(..=(now, peerfx_core::Hash([0xff; 32])))
            .map(|(_, id)| *id)
            .collect();
        for id in &expired {
            st.remove_entry(id);
        }
        let old: Vec<OfferId> = st
            .tombs
            .iter()
            .filter(|(_, t)| t.until <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            st.remove_tomb(id);
        }
        Ok(expired)
    }
}
