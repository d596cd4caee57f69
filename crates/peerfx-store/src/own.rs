//! The node's own offers: every offer it ever made, with its accounting.
//!
//! `remaining` is what is not yet sold (max_give minus committed fills);
//! `reserved` the sum of open reservations (see [`crate::reservations`] for
//! how takes set amounts aside). Every change here is flushed before its
//! future resolves, because it is acknowledged to the user or a peer.
//!
//! [`OwnIndex`] keeps in memory what the node asks about often: every own
//! offer by creation time (for the newest-first history, a page at a time)
//! and the live ones by expiry with their status (for the quota, expiry
//! warnings and re-announcement), so none of those decodes the whole history.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use peerfx_core::{
    Amount, Hash, Offer, OfferCancel, OfferId, OfferUpdate, PublicKey, Signed, Timestamp, Verified,
};
use serde::{Deserialize, Serialize};

use crate::trees::Trees;
use crate::{abort, decode, get_record, tx_err, Result, Store};

pub use crate::reservations::{CommitError, Reservation, ReserveError};

/// Lifecycle of an own offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnStatus {
    /// Takeable.
    Open,
    /// Withdrawn by the user.
    Cancelled,
    /// Nothing remains.
    Filled,
}

/// An offer this node made, with its accounting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnOffer {
    /// The signed offer.
    pub offer: Signed<Offer>,
    /// Not yet sold, in `give` minor units.
    pub remaining: Amount,
    /// Set aside for takes not yet countersigned.
    pub reserved: Amount,
    /// Status.
    pub status: OwnStatus,
    /// The latest update this node signed (its seq is the offer's current seq).
    pub last_update: Option<Signed<OfferUpdate>>,
    /// The cancel, if cancelled.
    pub cancel: Option<Signed<OfferCancel>>,
}

impl OwnOffer {
    /// A new own offer, nothing sold or reserved.
    pub fn new(offer: &Verified<Offer>) -> OwnOffer {
        OwnOffer {
            offer: offer.signed().clone(),
            remaining: offer.max_give,
            reserved: Amount::ZERO,
            status: OwnStatus::Open,
            last_update: None,
            cancel: None,
        }
    }

    /// The offer's id.
    pub fn id(&self) -> OfferId {
        Verified::assume_verified(self.offer.clone()).id()
    }

    /// What a new take can get now.
    pub fn available(&self) -> Amount {
        self.remaining
            .checked_sub(self.reserved)
            .unwrap_or(Amount::ZERO)
    }

    /// The seq of the latest update (0: none yet).
    pub fn seq(&self) -> u64 {
        self.last_update.as_ref().map_or(0, |u| u.body.seq)
    }
}

/// Why posting an own offer was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The node already has the most open offers peers accept from one maker.
    #[error("{open} open offers: the most peers accept from one maker")]
    Quota {
        /// Open (and live) offers now.
        open: usize,
    },
}

/// Why a republish (replace) was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplaceError {
    /// The old offer is not open any more (it changed since it was read).
    #[error("the offer is not open")]
    NotOpen,
    /// A take of the old offer awaits its countersignature.
    #[error("a take of the offer is being confirmed")]
    Reserved,
    /// Past the open-offer quota.
    #[error(transparent)]
    Post(#[from] PostError),
}

/// Every own offer by creation, and the live ones by expiry.
#[derive(Debug, Default)]
pub(crate) struct OwnIndex(Mutex<IndexState>);

#[derive(Debug, Default)]
struct IndexState {
    /// Every own offer: (created_at, id).
    all: BTreeSet<(Timestamp, OfferId)>,
    /// The offers that had not expired more than [`OwnIndex::FORGET_AFTER_SECS`]
    /// ago when last looked at: (expires_at, id) → status.
    live: BTreeMap<(Timestamp, OfferId), OwnStatus>,
    /// The keys that made them: this node's own.
    makers: HashSet<PublicKey>,
}

impl OwnIndex {
    /// How long an expired offer stays in the live index: a clock stepped
    /// back does not hide a live offer.
    const FORGET_AFTER_SECS: u64 = 3600;

    fn state(&self) -> MutexGuard<'_, IndexState> {
        // Every change under the lock is one map operation, so a poisoned lock
        // still guards a consistent map.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Rebuilds the index from the tree (at open, and after a reopen).
    /// Records that do not decode are left out here and reported by whoever
    /// reads them.
    pub(crate) fn reload(&self, trees: &Trees) -> Result<()> {
        let mut fresh = IndexState::default();
        for v in trees.own_offers.iter().values() {
            if let Ok(rec) = decode::<OwnOffer>("own_offers", &v.map_err(|e| trees.err(e))?) {
                fresh.note(&rec);
            }
        }
        *self.state() = fresh;
        Ok(())
    }

    /// Records an own offer's status as just written.
    pub(crate) fn note(&self, rec: &OwnOffer) {
        self.state().note(rec);
    }

    /// This node's keys (of its offers).
    pub(crate) fn makers(&self) -> Vec<PublicKey> {
        self.state().makers.iter().copied().collect()
    }

    /// The offers that expire after `now`, soonest first, forgetting those
    /// long expired.
    fn live(&self, now: Timestamp) -> Vec<(OfferId, OwnStatus)> {
        let mut st = self.state();
        let forget_before = Timestamp(now.0.saturating_sub(Self::FORGET_AFTER_SECS));
        let kept = st.live.split_off(&(forget_before, Hash([0; 32])));
        st.live = kept;
        // Expiry is at a whole second: `(now + 1, MIN)` is the first live key.
        st.live
            .range((Timestamp(now.0.saturating_add(1)), Hash([0; 32]))..)
            .map(|((_, id), status)| (*id, *status))
            .collect()
    }

    fn open_count(&self, now: Timestamp) -> usize {
        self.live(now)
            .iter()
            .filter(|(_, status)| *status == OwnStatus::Open)
            .count()
    }

    /// Up to `limit` ids, newest first, after `after` (its creation time).
    fn page(&self, after: Option<(Timestamp, OfferId)>, limit: usize) -> Vec<OfferId> {
        let st = self.state();
        let upper = match after {
            Some(key) => st.all.range(..key),
            None => st.all.range(..),
        };
        upper.rev().take(limit).map(|(_, id)| *id).collect()
    }
}

impl IndexState {
    fn note(&mut self, rec: &OwnOffer) {
        let id = rec.id();
        let body = &rec.offer.body;
        self.all.insert((body.created_at, id));
        self.live.insert((body.expires_at, id), rec.status);
        self.makers.insert(body.maker);
    }
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    peerfx_core::codec::encode(v)
}

/// Open and live own offers (what the quota counts), read from the trees
/// through the index's ids: only called inside a writer job, where it is
/// atomic with the insert it guards.
fn open_now(store_index: &OwnIndex, now: Timestamp) -> usize {
    store_index.open_count(now)
}

impl Store {
    /// Records an offer this node just signed, before it is published,
    /// unless the node already has `quota` open offers (checked and inserted
    /// in one step of the writer, so concurrent posts cannot both pass).
    pub async fn own_insert(
        &self,
        offer: &Verified<Offer>,
        quota: usize,
        now: Timestamp,
    ) -> Result<std::result::Result<(), PostError>> {
        let rec = OwnOffer::new(offer);
        let shared = self.shared.clone();
        let written = self
            .write(move |trees| {
                let open = open_now(&shared.own_index, now);
                if open >= quota {
                    return Ok(Err(PostError::Quota { open }));
                }
                trees
                    .own_offers
                    .insert(rec.id().as_bytes(), enc(&rec))
                    .map_err(|e| trees.err(e))?;
                // Noted now, so the next job's quota check counts it; a
                // failed flush reopens the database and rebuilds the index.
                shared.own_index.note(&rec);
                Ok(Ok(rec))
            })
            .await?;
        Ok(written.map(|rec| self.shared.book.note_own_maker(rec.offer.body.maker)))
    }

    /// One own offer.
    pub fn own_get(&self, id: &OfferId) -> Result<Option<OwnOffer>> {
        let trees = self.trees()?;
        get_record(&trees, &trees.own_offers, "own_offers", id.as_bytes())
    }

    /// Own offers, newest first: up to `limit` created before offer `after`
    /// (or the newest, without it). Costs the page, not the history.
    pub fn own_page(&self, after: Option<&OfferId>, limit: usize) -> Result<Vec<OwnOffer>> {
        let after = match after {
            Some(id) => match self.own_get(id)? {
                Some(o) => Some((o.offer.body.created_at, *id)),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut out = Vec::new();
        for id in self.shared.own_index.page(after, limit) {
            out.extend(self.own_get(&id)?);
        }
        Ok(out)
    }

    /// Own offers that expire after `now`, whatever their status, soonest first.
    /// Costs what is live, not the whole history.
    pub fn own_live(&self, now: Timestamp) -> Result<Vec<OwnOffer>> {
        let mut out = Vec::new();
        for (id, _) in self.shared.own_index.live(now) {
            out.extend(self.own_get(&id)?);
        }
        Ok(out)
    }

    /// How many own offers are open and expire after `now` (what the per-maker
    /// quota counts), without reading any record.
    pub fn own_open_count(&self, now: Timestamp) -> usize {
        self.shared.own_index.open_count(now)
    }

    /// Applies `change` to own offer `id` in one transaction, durably.
    /// `change` returns false to leave the record as it is. Returns whether
    /// it changed.
    async fn own_modify(
        &self,
        id: OfferId,
        change: impl Fn(&mut OwnOffer) -> bool + Send + 'static,
    ) -> Result<bool> {
        let shared = self.shared.clone();
        self.write(move |trees| {
            let changed = trees
                .own_offers
                .transaction(|own| {
                    let Some(raw) = own.get(id.as_bytes())? else {
                        return Ok(None);
                    };
                    let mut rec: OwnOffer = abort(decode("own_offers", &raw))?;
                    if !change(&mut rec) {
                        return Ok(None);
                    }
                    own.insert(id.as_bytes(), enc(&rec))?;
                    Ok(Some(rec))
                })
                .map_err(|e| tx_err(trees, e))?;
            if let Some(rec) = &changed {
                shared.own_index.note(rec);
            }
            Ok(changed.is_some())
        })
        .await
    }

    /// Marks an own offer cancelled and keeps the signed cancel (to re-announce it).
    /// Returns false if there is no such offer or it was already closed.
    pub async fn own_cancel(&self, cancel: &Signed<OfferCancel>) -> Result<bool> {
        let cancel = cancel.clone();
        self.own_modify(cancel.body.offer_id, move |rec| {
            if rec.status != OwnStatus::Open {
                return false;
            }
            rec.status = OwnStatus::Cancelled;
            rec.cancel = Some(cancel.clone());
            true
        })
        .await
    }

    /// Keeps the latest update this node signed for an own offer. Refuses (returns
    /// false) an update whose seq is not above the current one.
    pub async fn own_record_update(&self, update: &Signed<OfferUpdate>) -> Result<bool> {
        let update = update.clone();
        self.own_modify(update.body.offer_id, move |rec| {
            if update.body.seq <= rec.seq() {
                return false;
            }
            rec.last_update = Some(update.clone());
            true
        })
        .await
    }

    /// Republishes: cancels own offer `cancel.offer_id` (if `cancel` is
    /// given: the old offer is open) and records `offer` in its place, in one
    /// transaction, under the open-offer `quota`. Either both happen, or
    /// neither.
    pub async fn own_replace(
        &self,
        cancel: Option<&Signed<OfferCancel>>,
        offer: &Verified<Offer>,
        quota: usize,
        now: Timestamp,
    ) -> Result<std::result::Result<(), ReplaceError>> {
        let cancel = cancel.cloned();
        let rec = OwnOffer::new(offer);
        let shared = self.shared.clone();
        let written = self
            .write(move |trees| {
                let freed = cancel.is_some();
                let open = open_now(&shared.own_index, now);
                if open.saturating_sub(usize::from(freed)) >= quota {
                    return Ok(Err(PostError::Quota { open }.into()));
                }
                let outcome = trees
                    .own_offers
                    .transaction(|own| {
                        let mut old = None;
                        if let Some(cancel) = &cancel {
                            let id = cancel.body.offer_id;
                            let Some(raw) = own.get(id.as_bytes())? else {
                                return Ok(Err(ReplaceError::NotOpen));
                            };
                            let mut prev: OwnOffer = abort(decode("own_offers", &raw))?;
                            if prev.status != OwnStatus::Open {
                                return Ok(Err(ReplaceError::NotOpen));
                            }
                            if prev.reserved > Amount::ZERO {
                                return Ok(Err(ReplaceError::Reserved));
                            }
                            prev.status = OwnStatus::Cancelled;
                            prev.cancel = Some(cancel.clone());
                            own.insert(id.as_bytes(), enc(&prev))?;
                            old = Some(prev);
                        }
                        own.insert(rec.id().as_bytes(), enc(&rec))?;
                        Ok(Ok(old))
                    })
                    .map_err(|e| tx_err(trees, e))?;
                Ok(outcome.map(|old| {
                    if let Some(old) = &old {
                        shared.own_index.note(old);
                    }
                    shared.own_index.note(&rec);
                }))
            })
            .await?;
        Ok(written)
    }

    /// Notes a new own offer written outside [`Store::own_insert`] (a backup
    /// import) in memory.
    pub(crate) fn note_new_own(&self, rec: &OwnOffer) {
        self.shared.own_index.note(rec);
        self.shared.book.note_own_maker(rec.offer.body.maker);
    }
}
