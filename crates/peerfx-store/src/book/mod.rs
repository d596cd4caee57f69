//! The offer book: every open offer this node has heard of, its own included.
//!
//! The book lives in memory, and sled holds a copy written behind it. Every
//! gossiped offer changes the book on every node that hears it, so a change
//! must be cheap: an insert here costs a few microseconds under a lock, where
//! a sled transaction over the book's trees cost ~40 µs on one thread and, with
//! the log I/O sled does behind it, about a quarter of the CPU a node spent
//! per gossiped offer (docs/BENCHMARKS.md). [`Store::book_persist`] writes
//! what changed since the last call through the writer, in transactions of at
//! most [`PERSIST_CHUNK`] records, so the user's own writes queue behind one
//! chunk at most; the node calls it every second, and [`Store::flush`] and
//! closing the store call it too. A crash can therefore lose the
//! last second of *other makers'* offers, which sync and re-announcement bring
//! back; own offers, reservations and trades live in their own trees and are
//! flushed before they are acknowledged, as before.
//!
//! Rules, each applied atomically under the book's lock:
//!
//! - Inserting a verified offer is idempotent.
//! - An offer that was cancelled or closed leaves a [`Tombstone`] until it would
//!   have expired anyway, so a late copy never brings it back; tombstones are
//!   capped, fairly per maker, and a maker's cancels are budgeted (see
//!   [`tombs`]). A cancel that arrives *before* its offer leaves a tombstone
//!   too; it applies only to an offer by the same maker, so nobody can pre-empt
//!   someone else's offer with a cancel of their own. Such early tombstones
//!   are capped at the book's size.
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

mod persist;
mod state;
pub mod tombs;

use std::ops::Bound;

use peerfx_core::matching::BookEntry;
use peerfx_core::protocol::{BookDigest, OfferState};
use peerfx_core::{
    codec, Amount, Fill, Market, MatchQuery, Offer, OfferCancel, OfferId, OfferUpdate, PublicKey,
    Timestamp, Verified, WireLimits,
};

use crate::{Result, Store};
pub(crate) use persist::{persist_all, persist_chunk, Book};
use state::{market_prefixes, Entry};
pub use tombs::Tombstone;

/// Most book records written in one transaction of the writer.
pub const PERSIST_CHUNK: usize = 256;

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
    /// The maker has used its cancel budget: the cancel is ignored (and must
    /// not be forwarded); the offer stays.
    OverBudget,
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

impl Store {
    /// Writes the book's changes since the last call to sled, through the
    /// writer, [`PERSIST_CHUNK`] records at a time; returns how many records
    /// it wrote or deleted. Not flushed: [`Store::flush`] (which calls this
    /// first), the next durable write or sled's own background flush makes
    /// them durable; without a background flush
    /// ([`crate::StoreConfig::background_flush`]) this call flushes them.
    /// On an error, the changes stay pending.
    pub async fn book_persist(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let shared = self.shared.clone();
            let (n, more) = self
                .write_lazily(move |trees| persist_chunk(&shared, trees, PERSIST_CHUNK))
                .await?;
            total += n;
            if !more {
                if total > 0 && self.shared.config.background_flush.is_none() {
                    // Nobody else flushes what was just written behind.
                    self.write(|_| Ok(())).await?;
                }
                return Ok(total);
            }
        }
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
        let mut st = self.shared.book.write();
        items
            .iter()
            .map(|(offer, update)| {
                let outcome = st.insert(offer, now, quota);
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
        Ok(self.shared.book.write().apply_update(update))
    }

    /// Applies a maker's cancel from the network, within the maker's cancel
    /// budget. `limits` bounds the budget and how long a cancel for an offer
    /// not yet seen is remembered.
    pub fn book_apply_cancel(
        &self,
        cancel: &Verified<OfferCancel>,
        now: Timestamp,
        limits: &WireLimits,
    ) -> Result<CancelOutcome> {
        Ok(self
            .shared
            .book
            .write()
            .apply_cancel(cancel, now, limits, true))
    }

    /// Applies this node's own cancel: not counted against a budget (the
    /// user always withdraws at once here; peers may wait for the
    /// re-announced cancel).
    pub fn book_apply_own_cancel(
        &self,
        cancel: &Verified<OfferCancel>,
        now: Timestamp,
        limits: &WireLimits,
    ) -> Result<CancelOutcome> {
        Ok(self
            .shared
            .book
            .write()
            .apply_cancel(cancel, now, limits, false))
    }

    /// One offer of the book.
    pub fn book_get(&self, id: &OfferId) -> Result<Option<BookEntry>> {
        Ok(self
            .shared
            .book
            .read()
            .entries
            .get(id)
            .map(Entry::to_book_entry))
    }

    /// Whether the offer was cancelled or closed (and is remembered as such).
    pub fn book_is_tombstoned(&self, id: &OfferId) -> Result<bool> {
        Ok(self.shared.book.read().tombs.get(id).is_some())
    }

    /// Tombstones in the book.
    pub fn book_tombstones(&self) -> usize {
        self.shared.book.read().tombs.len()
    }

    /// Makers whose cancel budget is not full (remembered until it is).
    pub fn book_cancel_budgets(&self) -> usize {
        self.shared.book.read().budgets.len()
    }

    /// Number of offers in the book.
    pub fn book_len(&self) -> usize {
        self.shared.book.read().entries.len()
    }

    /// Number of offers `maker` has in the book (expired ones included until
    /// they are purged).
    pub fn book_maker_offers(&self, maker: &PublicKey) -> Result<u64> {
        Ok(self
            .shared
            .book
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
        let st = self.shared.book.read();
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
        let st = self.shared.book.read();
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
    /// page): at most `limit` offers and, encoded, about `max_bytes`. Returns
    /// the offers with their latest updates and the next cursor.
    pub fn book_page(
        &self,
        market: Market,
        cursor: Option<&[u8]>,
        limit: usize,
        max_bytes: usize,
        now: Timestamp,
    ) -> Result<(Vec<OfferState>, Option<Vec<u8>>)> {
        // What a page's envelope adds besides its offers.
        const PAGE_OVERHEAD: usize = 128;
        let st = self.shared.book.read();
        let mut out = Vec::new();
        let mut bytes = PAGE_OVERHEAD;
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
                let state = e.to_state();
                let size = codec::encode(&state).len();
                if out.len() >= limit || (bytes + size > max_bytes && !out.is_empty()) {
                    return Ok((out, last.map(<[u8]>::to_vec)));
                }
                bytes += size;
                out.push(state);
                last = Some(&e.index_key);
            }
        }
        Ok((out, None))
    }

    /// The digest of what [`Store::book_page`] would serve of `market` at
    /// `now`, every page together: the open offers and their update seqs.
    pub fn book_digest(&self, market: Market, now: Timestamp) -> BookDigest {
        let st = self.shared.book.read();
        let mut digest = BookDigest::EMPTY;
        for prefix in &market_prefixes(market) {
            for e in st.index_from(prefix, Bound::Included(prefix.clone())) {
                if e.offer.expires_at > now {
                    digest.add(&e.offer.id(), e.update.as_ref().map_or(0, |u| u.seq));
                }
            }
        }
        digest
    }

    /// Removes offers that expired at or before `now`, forgets tombstones
    /// whose offer cannot be valid any more and cancel budgets that are full
    /// again. Returns the ids of the offers removed.
    pub fn book_purge_expired(&self, now: Timestamp, limits: &WireLimits) -> Vec<OfferId> {
        let mut st = self.shared.book.write();
        let expired: Vec<OfferId> = st
            .expiry
            .range(..=(now, peerfx_core::Hash([0xff; 32])))
            .map(|(_, id)| *id)
            .collect();
        for id in &expired {
            st.remove_entry(id);
        }
        st.tombs.purge(now);
        st.budgets.prune(now, limits);
        expired
    }
}
