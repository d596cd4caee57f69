//! The offer book: every open offer this node has heard of, its own included.
//!
//! Rules, all enforced in one transaction per change:
//!
//! - Inserting a verified offer is idempotent.
//! - An offer that was cancelled or closed leaves a [`Tombstone`] until it would
//!   have expired anyway, so a late copy (gossip is unordered, sync pages are
//!   stale) never brings it back. A cancel that arrives *before* its offer leaves
//!   a tombstone too; it applies only to an offer by the same maker, so nobody can
//!   pre-empt someone else's offer with a cancel of their own.
//! - Updates apply only with a `seq` strictly above the last one applied, and
//!   only from the offer's maker.
//! - Expired offers are purged through an expiry index, not a full scan.
//! - A maker has at most [`Limits::max_open_offers_per_maker`] offers in the
//!   book: the counts live in `book_makers` and change in the same transactions
//!   as the book, so they cannot drift. The book holds at most
//!   [`crate::StoreConfig::max_book_offers`]; that total is kept in memory (a
//!   key every insert wrote was a sixth of an insert's cost), so concurrent
//!   writers can pass it by at most one batch each.
//!
//! Queries walk `book_index`, whose keys sort by give currency, want currency,
//! rate, age and id: a taker's matches come out best first, and a rate bound
//! ends the scan early.

use peerfx_core::matching::BookEntry;
use peerfx_core::protocol::OfferState;
use peerfx_core::{
    Amount, Fill, Hash, Limits, Market, MatchQuery, Offer, OfferCancel, OfferId, OfferUpdate,
    PublicKey, Signed, Timestamp, Verified,
};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::sync::atomic::Ordering;

use sled::Transactional;

use crate::{decode, tx_err, Result, Store, StoreError};

/// A stored book entry: the offer and the maker's latest update, both signed, so
/// the node can pass on proof of what remains (sync pages carry them as they are).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BookRecord {
    /// The offer as received (verified before it was stored).
    pub offer: Signed<Offer>,
    /// The latest update applied (verified before it was stored).
    pub update: Option<Signed<OfferUpdate>>,
}

impl BookRecord {
    /// What remains: from the latest update, or the whole offer.
    pub fn remaining(&self) -> Amount {
        self.update
            .as_ref()
            .map_or(self.offer.body.max_give, |u| u.body.remaining)
    }

    /// Seq of the latest update; 0 if none.
    pub fn seq(&self) -> u64 {
        self.update.as_ref().map_or(0, |u| u.body.seq)
    }
}

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
    /// The book holds the most offers allowed; refused.
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

type Tx = ConflictableTransactionError<StoreError>;

fn abort<T>(r: Result<T>) -> std::result::Result<T, Tx> {
    r.map_err(ConflictableTransactionError::Abort)
}

fn index_key(offer: &Verified<Offer>) -> Vec<u8> {
    let mut k = Vec::with_capacity(62);
    k.extend_from_slice(offer.give.code().as_bytes());
    k.extend_from_slice(offer.want.code().as_bytes());
    k.extend_from_slice(&offer.rate.sort_key());
    k.extend_from_slice(&offer.created_at.0.to_be_bytes());
    k.extend_from_slice(offer.id().as_bytes());
    k
}

fn expiry_key(expires_at: Timestamp, id: &OfferId) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(&expires_at.0.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// A count in `book_makers`: u64 big-endian; anything else reads as 0.
fn decode_count(v: &[u8]) -> u64 {
    <[u8; 8]>::try_from(v).map_or(0, u64::from_be_bytes)
}

fn count(makers: &TransactionalTree, key: &[u8]) -> std::result::Result<u64, Tx> {
    Ok(makers.get(key)?.map_or(0, |v| decode_count(&v)))
}

fn set_count(makers: &TransactionalTree, key: &[u8], n: u64) -> std::result::Result<(), Tx> {
    if n == 0 {
        makers.remove(key)?;
    } else {
        makers.insert(key, &n.to_be_bytes())?;
    }
    Ok(())
}

/// The book's trees, as one transaction sees them.
struct BookTx<'a> {
    /// Offers this attempt added minus those it removed; applied to the
    /// in-memory total once the transaction commits (sled may retry it).
    delta: std::cell::Cell<i64>,
    book: &'a TransactionalTree,
    index: &'a TransactionalTree,
    expiry: &'a TransactionalTree,
    tombs: &'a TransactionalTree,
    makers: &'a TransactionalTree,
}

impl BookTx<'_> {
    /// Removes an offer's book, index and expiry entries and counts it out.
    fn remove_entry(&self, offer: &Verified<Offer>) -> std::result::Result<(), Tx> {
        if self.book.remove(offer.id().as_bytes())?.is_none() {
            return Ok(());
        }
        self.index.remove(index_key(offer))?;
        self.expiry
            .remove(expiry_key(offer.expires_at, &offer.id()))?;
        let maker = offer.maker.as_bytes();
        set_count(
            self.makers,
            maker,
            count(self.makers, maker)?.saturating_sub(1),
        )?;
        self.delta.set(self.delta.get() - 1);
        Ok(())
    }

    /// The update rules: only the maker, only a higher seq, never above the
    /// offer's maximum; nothing remaining closes the offer.
    fn apply_update(
        &self,
        update: &Verified<OfferUpdate>,
    ) -> std::result::Result<UpdateOutcome, Tx> {
        let id = update.offer_id;
        let Some(raw) = self.book.get(id.as_bytes())? else {
            return Ok(UpdateOutcome::UnknownOffer);
        };
        let mut rec: BookRecord = abort(decode("book", &raw))?;
        if rec.offer.body.maker != update.maker {
            return Ok(UpdateOutcome::WrongMaker);
        }
        if update.seq <= rec.seq() {
            return Ok(UpdateOutcome::Stale);
        }
        if update.remaining > rec.offer.body.max_give {
            return Ok(UpdateOutcome::AboveMax);
        }
        if update.remaining == Amount::ZERO {
            let offer = Verified::assume_verified(rec.offer);
            self.remove_entry(&offer)?;
            let t = Tombstone {
                maker: offer.maker,
                until: offer.expires_at,
            };
            self.tombs
                .insert(id.as_bytes(), peerfx_core::codec::encode(&t))?;
            return Ok(UpdateOutcome::Closed);
        }
        rec.update = Some(update.signed().clone());
        self.book
            .insert(id.as_bytes(), peerfx_core::codec::encode(&rec))?;
        Ok(UpdateOutcome::Applied(update.remaining))
    }
}

fn entry(rec: BookRecord) -> BookEntry {
    let (remaining, seq) = (rec.remaining(), rec.seq());
    BookEntry {
        offer: Verified::assume_verified(rec.offer),
        remaining,
        seq,
    }
}

impl Store {
    /// Runs `f` in one transaction over every book tree.
    fn book_tx<T>(&self, f: impl Fn(&BookTx<'_>) -> std::result::Result<T, Tx>) -> Result<T> {
        let (result, delta) = (
            &self.book,
            &self.book_index,
            &self.book_expiry,
            &self.tombstones,
            &self.book_makers,
        )
            .transaction(|(book, index, expiry, tombs, makers)| {
                let tx = BookTx {
                    delta: Default::default(),
                    book,
                    index,
                    expiry,
                    tombs,
                    makers,
                };
                Ok((f(&tx)?, tx.delta.get()))
            })
            .map_err(|e| tx_err(self, e))?;
        if delta >= 0 {
            self.book_total
                .fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            self.book_total
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
        Ok(result)
    }

    /// Loads the book total from the makers' counts, first counting the book
    /// into `book_makers` if that is empty while the book is not (a data
    /// directory from before the counts).
    pub(crate) fn load_book_counts(&self) -> Result<()> {
        if self.book_makers.is_empty() && !self.book.is_empty() {
            self.recount_book_makers()?;
        }
        let mut total = 0u64;
        for v in self.book_makers.iter().values() {
            total += decode_count(&v.map_err(|e| self.err(e))?);
        }
        self.book_total.store(total, Ordering::Relaxed);
        Ok(())
    }

    fn recount_book_makers(&self) -> Result<()> {
        let mut counts: std::collections::HashMap<PublicKey, u64> = Default::default();
        for item in self.book.iter().values() {
            let rec: BookRecord = decode("book", &item.map_err(|e| self.err(e))?)?;
            *counts.entry(rec.offer.body.maker).or_default() += 1;
        }
        let mut batch = sled::Batch::default();
        for (maker, n) in counts {
            batch.insert(maker.as_bytes(), &n.to_be_bytes());
        }
        self.book_makers.apply_batch(batch).map_err(|e| self.err(e))
    }

    /// Adds a verified offer to the book.
    pub fn book_insert(
        &self,
        offer: &Verified<Offer>,
        now: Timestamp,
        limits: &Limits,
    ) -> Result<InsertOutcome> {
        let outcomes = self.book_insert_many(std::slice::from_ref(offer), now, limits)?;
        Ok(outcomes
            .first()
            .copied()
            .unwrap_or(InsertOutcome::Duplicate))
    }

    /// Adds many verified offers in one transaction (a sync page, a burst of
    /// gossip): the per-transaction cost dominates a single insert, so batching
    /// is what makes bulk arrival fast. One outcome per offer, in order.
    pub fn book_insert_many(
        &self,
        offers: &[Verified<Offer>],
        now: Timestamp,
        limits: &Limits,
    ) -> Result<Vec<InsertOutcome>> {
        let items: Vec<_> = offers.iter().map(|o| (o, None)).collect();
        Ok(self
            .merge(&items, now, limits)?
            .into_iter()
            .map(|m| m.offer)
            .collect())
    }

    /// Merges offers, each with the latest update its sender had, in one
    /// transaction: what gossip and sync deliver. Each offer is inserted under
    /// the rules of [`Store::book_insert`], then its update applied under those of
    /// [`Store::book_apply_update`]. One outcome per entry, in order.
    pub fn book_merge_many(
        &self,
        states: &[(Verified<Offer>, Option<Verified<OfferUpdate>>)],
        now: Timestamp,
        limits: &Limits,
    ) -> Result<Vec<MergeOutcome>> {
        let items: Vec<_> = states.iter().map(|(o, u)| (o, u.as_ref())).collect();
        self.merge(&items, now, limits)
    }

    fn merge(
        &self,
        items: &[(&Verified<Offer>, Option<&Verified<OfferUpdate>>)],
        now: Timestamp,
        limits: &Limits,
    ) -> Result<Vec<MergeOutcome>> {
        let quota = u64::try_from(limits.max_open_offers_per_maker).unwrap_or(u64::MAX);
        struct Prepared {
            id: OfferId,
            maker: PublicKey,
            record: Vec<u8>,
            ikey: Vec<u8>,
            ekey: Vec<u8>,
        }
        // Encoding happens outside the transaction, which sled may retry.
        let prepared: Vec<Option<Prepared>> = items
            .iter()
            .map(|(o, _)| {
                (o.expires_at > now).then(|| Prepared {
                    id: o.id(),
                    maker: o.maker,
                    record: peerfx_core::codec::encode(&BookRecord {
                        offer: o.signed().clone(),
                        update: None,
                    }),
                    ikey: index_key(o),
                    ekey: expiry_key(o.expires_at, &o.id()),
                })
            })
            .collect();
        self.book_tx(|tx| {
            let mut results = Vec::with_capacity(items.len());
            for ((_, update), p) in items.iter().zip(&prepared) {
                let Some(p) = p else {
                    results.push(MergeOutcome {
                        offer: InsertOutcome::Expired,
                        update: None,
                    });
                    continue;
                };
                let offer = match tx.tombs.get(p.id.as_bytes())? {
                    Some(t) if abort(decode::<Tombstone>("tombstones", &t))?.maker == p.maker => {
                        InsertOutcome::Tombstoned
                    }
                    _ if tx.book.get(p.id.as_bytes())?.is_some() => InsertOutcome::Duplicate,
                    _ => {
                        let mine = count(tx.makers, p.maker.as_bytes())?;
                        let total = self
                            .book_total
                            .load(Ordering::Relaxed)
                            .saturating_add_signed(tx.delta.get());
                        if mine >= quota {
                            InsertOutcome::OverQuota
                        } else if total >= self.max_book_offers {
                            InsertOutcome::BookFull
                        } else {
                            tx.book.insert(p.id.as_bytes(), p.record.as_slice())?;
                            tx.index.insert(p.ikey.as_slice(), &[])?;
                            tx.expiry.insert(p.ekey.as_slice(), &[])?;
                            set_count(tx.makers, p.maker.as_bytes(), mine + 1)?;
                            tx.delta.set(tx.delta.get() + 1);
                            InsertOutcome::Inserted
                        }
                    }
                };
                let update = match (offer, update) {
                    (InsertOutcome::Inserted | InsertOutcome::Duplicate, Some(u)) => {
                        Some(tx.apply_update(u)?)
                    }
                    _ => None,
                };
                results.push(MergeOutcome { offer, update });
            }
            Ok(results)
        })
    }

    /// Applies a maker's update (remaining after fills).
    pub fn book_apply_update(&self, update: &Verified<OfferUpdate>) -> Result<UpdateOutcome> {
        self.book_tx(|tx| tx.apply_update(update))
    }

    /// Applies a maker's cancel. `limits` bounds how long a cancel for an offer not
    /// yet seen is remembered.
    pub fn book_apply_cancel(
        &self,
        cancel: &Verified<OfferCancel>,
        limits: &Limits,
    ) -> Result<CancelOutcome> {
        let id = cancel.offer_id;
        self.book_tx(|tx| {
            if tx.tombs.get(id.as_bytes())?.is_some() {
                return Ok(CancelOutcome::AlreadyGone);
            }
            let (tomb, outcome) = match tx.book.get(id.as_bytes())? {
                Some(raw) => {
                    let rec: BookRecord = abort(decode("book", &raw))?;
                    if rec.offer.body.maker != cancel.maker {
                        return Ok(CancelOutcome::WrongMaker);
                    }
                    let offer = Verified::assume_verified(rec.offer);
                    tx.remove_entry(&offer)?;
                    (
                        Tombstone {
                            maker: offer.maker,
                            until: offer.expires_at,
                        },
                        CancelOutcome::Cancelled,
                    )
                }
                // The offer can be at most this old and live at most this long.
                None => (
                    Tombstone {
                        maker: cancel.maker,
                        until: cancel
                            .created_at
                            .plus(limits.max_clock_skew_secs)
                            .plus(limits.max_offer_lifetime_secs),
                    },
                    CancelOutcome::Remembered,
                ),
            };
            tx.tombs
                .insert(id.as_bytes(), peerfx_core::codec::encode(&tomb))?;
            Ok(outcome)
        })
    }

    /// One offer of the book.
    pub fn book_get(&self, id: &OfferId) -> Result<Option<BookEntry>> {
        match self.book.get(id.as_bytes()).map_err(|e| self.err(e))? {
            Some(raw) => Ok(Some(entry(decode("book", &raw)?))),
            None => Ok(None),
        }
    }

    /// Whether the offer was cancelled or closed (and is remembered as such).
    pub fn book_is_tombstoned(&self, id: &OfferId) -> Result<bool> {
        self.tombstones
            .contains_key(id.as_bytes())
            .map_err(|e| self.err(e))
    }

    /// Number of offers in the book (a counter, not a scan).
    pub fn book_len(&self) -> usize {
        usize::try_from(self.book_total.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Number of offers `maker` has in the book.
    pub fn book_maker_offers(&self, maker: &PublicKey) -> Result<u64> {
        Ok(self
            .book_makers
            .get(maker.as_bytes())
            .map_err(|e| self.err(e))?
            .map_or(0, |v| decode_count(&v)))
    }

    /// The best `limit` matches for `query`, best first, walking the index in
    /// rate order and stopping at the query's rate bound.
    pub fn book_query(
        &self,
        query: &MatchQuery,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(BookEntry, Fill)>> {
        let mut prefix = Vec::with_capacity(6);
        prefix.extend_from_slice(query.receive.code().as_bytes());
        prefix.extend_from_slice(query.pay.code().as_bytes());
        let mut out = Vec::new();
        for key in self.book_index.scan_prefix(&prefix).keys() {
            if out.len() >= limit {
                break;
            }
            let key = key.map_err(|e| self.err(e))?;
            let Some(e) = self.entry_for_index_key(&key)? else {
                continue;
            };
            if let Some(min_rate) = &query.min_rate {
                // Rates only get worse from here on.
                if !e.offer.rate.product_at_most_one(min_rate) {
                    break;
                }
            }
            if let Some(fill) = query.fill_for(&e, now) {
                out.push((e, fill));
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
        let prefixes: Vec<Vec<u8>> = match market {
            None => vec![Vec::new()],
            Some(m) => [(m.base(), m.quote()), (m.quote(), m.base())]
                .iter()
                .map(|(a, b)| [a.code().as_bytes(), b.code().as_bytes()].concat())
                .collect(),
        };
        let mut out = Vec::new();
        for prefix in prefixes {
            for key in self.book_index.scan_prefix(&prefix).keys() {
                if out.len() >= limit {
                    return Ok(out);
                }
                let key = key.map_err(|e| self.err(e))?;
                if let Some(e) = self.entry_for_index_key(&key)? {
                    if e.offer.expires_at > now {
                        out.push(e);
                    }
                }
            }
        }
        Ok(out)
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
        let mut prefixes: Vec<Vec<u8>> = [
            (market.base(), market.quote()),
            (market.quote(), market.base()),
        ]
        .iter()
        .map(|(a, b)| [a.code().as_bytes(), b.code().as_bytes()].concat())
        .collect();
        prefixes.sort();
        let mut out = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for prefix in &prefixes {
            let start = match cursor {
                Some(c) if c.starts_with(prefix) => std::ops::Bound::Excluded(c.to_vec()),
                Some(c) if c > prefix.as_slice() => continue,
                _ => std::ops::Bound::Included(prefix.clone()),
            };
            for key in self
                .book_index
                .range((start, std::ops::Bound::Unbounded))
                .keys()
            {
                let key = key.map_err(|e| self.err(e))?;
                if !key.starts_with(prefix) {
                    break;
                }
                if out.len() >= limit {
                    return Ok((out, last));
                }
                let Some(id) = key.len().checked_sub(32).map(|i| &key[i..]) else {
                    continue;
                };
                if let Some(raw) = self.book.get(id).map_err(|e| self.err(e))? {
                    let rec: BookRecord = decode("book", &raw)?;
                    if rec.offer.body.expires_at > now {
                        out.push(OfferState {
                            offer: rec.offer,
                            update: rec.update,
                        });
                        last = Some(key.to_vec());
                    }
                }
            }
        }
        Ok((out, None))
    }

    fn entry_for_index_key(&self, key: &[u8]) -> Result<Option<BookEntry>> {
        let Some(id) = key.len().checked_sub(32).map(|i| &key[i..]) else {
            return Ok(None);
        };
        // A concurrent removal can leave the index key visible a moment longer
        // than the record: skip it.
        match self.book.get(id).map_err(|e| self.err(e))? {
            Some(raw) => Ok(Some(entry(decode("book", &raw)?))),
            None => Ok(None),
        }
    }

    /// Removes offers that expired at or before `now`, and forgets tombstones whose
    /// offer cannot be valid any more. Returns the ids of the offers removed.
    pub fn book_purge_expired(&self, now: Timestamp) -> Result<Vec<OfferId>> {
        let end = expiry_key(now, &Hash([0xff; 32]));
        let mut removed = Vec::new();
        for key in self.book_expiry.range(..=end).keys() {
            let key = key.map_err(|e| self.err(e))?;
            let Ok(id) = <[u8; 32]>::try_from(&key[8..]) else {
                continue;
            };
            let id = Hash(id);
            if let Some(e) = self.book_get(&id)? {
                self.book_tx(|tx| tx.remove_entry(&e.offer))?;
                removed.push(id);
            } else {
                self.book_expiry.remove(&key).map_err(|e| self.err(e))?;
            }
        }
        for item in self.tombstones.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let t: Tombstone = decode("tombstones", &v)?;
            if t.until <= now {
                self.tombstones.remove(k).map_err(|e| self.err(e))?;
            }
        }
        Ok(removed)
    }
}
