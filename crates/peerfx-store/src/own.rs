//! The node's own offers, and reservations against them.
//!
//! The maker's node is the only lock on an offer's liquidity. When a take
//! arrives, [`Store::reserve`] sets the amount aside in one sled transaction, so
//! two takers racing for the last 100 EUR cannot both get it; the reservation is
//! then either committed with the trade ([`Store::commit_reservation`], one
//! transaction again) or released when the taker does not countersign in time.
//!
//! Accounting per offer: `remaining` is what is not yet sold (max_give minus
//! committed fills); `reserved` is the sum of open reservations; what a new take
//! can get is `remaining - reserved`. Every change here is flushed before it
//! returns, because it is acknowledged to a peer or to the user.

use peerfx_core::{
    fill_range, Amount, Contract, Hash, Offer, OfferCancel, OfferId, OfferUpdate, PublicKey,
    Signed, Timestamp, TradeId, Verified,
};
use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::trades::TradeRecord;
use crate::{decode, tx_err, Result, Store, StoreError};

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

/// Liquidity set aside for one take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Id of the take request it answers.
    pub id: Hash,
    /// The offer.
    pub offer_id: OfferId,
    /// How much of the offer's `give`.
    pub amount: Amount,
    /// Who asked.
    pub taker: PublicKey,
    /// Released if not committed by then.
    pub expires_at: Timestamp,
    /// The contract the maker signed for this take, awaiting the taker's signature.
    pub contract: Option<Signed<Contract>>,
}

/// Why a reservation was refused. Maps one to one onto the reject reasons a maker
/// sends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    /// Not one of this node's offers.
    #[error("unknown offer")]
    UnknownOffer,
    /// Cancelled or filled.
    #[error("offer is closed")]
    Closed,
    /// Past its expiry.
    #[error("offer has expired")]
    Expired,
    /// Outside the offer's range for one fill.
    #[error("amount must be between {min} and {max}")]
    OutOfRange {
        /// Smallest fill now.
        min: Amount,
        /// Largest fill.
        max: Amount,
    },
    /// Not enough left.
    #[error("insufficient remaining: {available} available")]
    Insufficient {
        /// What can be taken now.
        available: Amount,
    },
    /// The same reservation id was used for different terms.
    #[error("reservation id reused for a different take")]
    Conflict,
}

/// Why a commit failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// No such reservation (never made, released, or already committed).
    #[error("no such reservation")]
    UnknownReservation,
}

/// The own offers that had not expired when last looked at, by expiry, with
/// their status.
///
/// `own_offers` keeps every offer this node ever made (the user's history),
/// while posting (the quota), re-announcing and the expiry warnings only care
/// about the live ones. Without this index each of them decoded the whole
/// history, on every post and every maintenance tick. Built at open; every
/// write of an own offer goes through [`OwnIndex::note`] after it commits.
#[derive(Debug, Default)]
pub(crate) struct OwnIndex(Mutex<BTreeMap<(Timestamp, OfferId), OwnStatus>>);

impl OwnIndex {
    /// Indexes every record in the tree; records that do not decode are left
    /// out here and reported by whoever reads them.
    /// Also returns the makers of those records: this node's own keys.
    pub(crate) fn load(tree: &sled::Tree) -> sled::Result<(OwnIndex, HashSet<PublicKey>)> {
        let index = OwnIndex::default();
        let mut makers = HashSet::new();
        for v in tree.iter().values() {
            if let Ok(rec) = crate::decode::<OwnOffer>("own_offers", &v?) {
                index.note(&rec);
                makers.insert(rec.offer.body.maker);
            }
        }
        Ok((index, makers))
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<(Timestamp, OfferId), OwnStatus>> {
        // Every change under the lock is one map operation, so a poisoned lock
        // still guards a consistent map.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an own offer's status as just written.
    pub(crate) fn note(&self, rec: &OwnOffer) {
        let id = peerfx_core::Verified::assume_verified(rec.offer.clone()).id();
        self.map()
            .insert((rec.offer.body.expires_at, id), rec.status);
    }

    /// The offers that expire after `now`, soonest first. Forgets those that
    /// expired more than [`OwnIndex::FORGET_AFTER_SECS`] before `now`: kept a
    /// while, so a clock stepped back does not hide a live offer.
    fn live(&self, now: Timestamp) -> Vec<(OfferId, OwnStatus)> {
        let mut map = self.map();
        let forget_before = Timestamp(now.0.saturating_sub(Self::FORGET_AFTER_SECS));
        let kept = map.split_off(&(forget_before, Hash([0; 32])));
        *map = kept;
        // Expiry is at a whole second: `(now + 1, MIN)` is the first live key.
        map.range((Timestamp(now.0.saturating_add(1)), Hash([0; 32]))..)
            .map(|((_, id), status)| (*id, *status))
            .collect()
    }

    /// How long an expired offer stays in the index.
    const FORGET_AFTER_SECS: u64 = 3600;
}

type Tx = ConflictableTransactionError<StoreError>;

fn abort<T>(r: Result<T>) -> std::result::Result<T, Tx> {
    r.map_err(ConflictableTransactionError::Abort)
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    peerfx_core::codec::encode(v)
}

impl Store {
    /// Records an offer this node just signed, before it is published.
    pub fn own_insert(&self, offer: &Verified<Offer>) -> Result<()> {
        let rec = OwnOffer {
            offer: offer.signed().clone(),
            remaining: offer.max_give,
            reserved: Amount::ZERO,
            status: OwnStatus::Open,
            last_update: None,
            cancel: None,
        };
        let id = offer.id();
        self.own_offers
            .insert(id.as_bytes(), enc(&rec))
            .map_err(|e| self.err(e))?;
        if let Err(e) = self.sync() {
            // The caller reports the post as failed and publishes nothing, so
            // the offer must not stay behind to be re-announced, or be written
            // by a later flush once the disk has room again.
            let _ = self.own_offers.remove(id.as_bytes());
            return Err(e);
        }
        self.note_new_own(&rec);
        Ok(())
    }

    /// Records a new own offer, written and flushed, in memory: the live
    /// index, and its maker as one of this node's keys for the book.
    pub(crate) fn note_new_own(&self, rec: &OwnOffer) {
        self.own_index.note(rec);
        self.book_mem.note_own_maker(rec.offer.body.maker);
    }

    /// One own offer.
    pub fn own_get(&self, id: &OfferId) -> Result<Option<OwnOffer>> {
        self.get_record(&self.own_offers, "own_offers", id.as_bytes())
    }

    /// All own offers, the closed and expired ones included: the user's history.
    pub fn own_list(&self) -> Result<Vec<OwnOffer>> {
        self.list_records(&self.own_offers, "own_offers")
    }

    /// Own offers that expire after `now`, whatever their status, soonest first.
    /// Costs what is live, not the whole history.
    pub fn own_live(&self, now: Timestamp) -> Result<Vec<OwnOffer>> {
        let mut out = Vec::new();
        for (id, _) in self.own_index.live(now) {
            out.extend(self.own_get(&id)?);
        }
        Ok(out)
    }

    /// How many own offers are open and expire after `now` (what the per-maker
    /// quota counts), without reading any record.
    pub fn own_open_count(&self, now: Timestamp) -> usize {
        self.own_index
            .live(now)
            .iter()
            .filter(|(_, status)| *status == OwnStatus::Open)
            .count()
    }

    /// Applies `change` to own offer `id` in one transaction and flushes. `change`
    /// returns false to leave the record as it is. Returns whether it changed.
    fn own_modify(&self, id: &OfferId, change: impl Fn(&mut OwnOffer) -> bool) -> Result<bool> {
        let changed = self
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
            .map_err(|e| tx_err(self, e))?;
        if let Some(rec) = &changed {
            self.own_index.note(rec);
        }
        self.sync()?;
        Ok(changed.is_some())
    }

    /// Marks an own offer cancelled and keeps the signed cancel (to re-announce it).
    /// Returns false if there is no such offer or it was already closed.
    pub fn own_cancel(&self, cancel: &Signed<OfferCancel>) -> Result<bool> {
        self.own_modify(&cancel.body.offer_id, |rec| {
            if rec.status != OwnStatus::Open {
                return false;
            }
            rec.status = OwnStatus::Cancelled;
            rec.cancel = Some(cancel.clone());
            true
        })
    }

    /// Keeps the latest update this node signed for an own offer. Refuses (returns
    /// false) an update whose seq is not above the current one.
    pub fn own_record_update(&self, update: &Signed<OfferUpdate>) -> Result<bool> {
        self.own_modify(&update.body.offer_id, |rec| {
            if update.body.seq <= rec.seq() {
                return false;
            }
            rec.last_update = Some(update.clone());
            true
        })
    }

    /// Sets `amount` of an own offer aside for take `reservation.id`, atomically.
    /// Retrying with the same id and terms returns the existing reservation.
    pub fn reserve(
        &self,
        reservation: &Reservation,
        now: Timestamp,
    ) -> Result<std::result::Result<Reservation, ReserveError>> {
        let r = reservation;
        let out = (&self.own_offers, &self.reservations)
            .transaction(|(own, res)| {
                if let Some(existing) = res.get(r.id.as_bytes())? {
                    let existing: Reservation = abort(decode("reservations", &existing))?;
                    return Ok(
                        if existing.offer_id == r.offer_id && existing.amount == r.amount {
                            Ok(existing)
                        } else {
                            Err(ReserveError::Conflict)
                        },
                    );
                }
                let Some(raw) = own.get(r.offer_id.as_bytes())? else {
                    return Ok(Err(ReserveError::UnknownOffer));
                };
                let mut rec: OwnOffer = abort(decode("own_offers", &raw))?;
                match rec.status {
                    OwnStatus::Open => {}
                    // Sold out: to a taker that is "nothing left", not "withdrawn".
                    OwnStatus::Filled => {
                        return Ok(Err(ReserveError::Insufficient {
                            available: Amount::ZERO,
                        }))
                    }
                    OwnStatus::Cancelled => return Ok(Err(ReserveError::Closed)),
                }
                if rec.offer.body.expires_at <= now {
                    return Ok(Err(ReserveError::Expired));
                }
                let Some((lo, _)) = fill_range(&rec.offer.body, rec.remaining) else {
                    return Ok(Err(ReserveError::Closed));
                };
                if r.amount < lo || r.amount > rec.offer.body.max_give {
                    return Ok(Err(ReserveError::OutOfRange {
                        min: lo,
                        max: rec.offer.body.max_give,
                    }));
                }
                let available = rec.available();
                if r.amount > available {
                    return Ok(Err(ReserveError::Insufficient { available }));
                }
                rec.reserved = rec.reserved.checked_add(r.amount).unwrap_or(rec.remaining);
                own.insert(r.offer_id.as_bytes(), enc(&rec))?;
                res.insert(r.id.as_bytes(), enc(r))?;
                Ok(Ok(r.clone()))
            })
            .map_err(|e| tx_err(self, e))?;
        self.sync()?;
        Ok(out)
    }

    /// Releases a reservation (the taker did not countersign). Returns it, or
    /// `None` if it was already released or committed.
    pub fn release(&self, id: &Hash) -> Result<Option<Reservation>> {
        let out = (&self.own_offers, &self.reservations)
            .transaction(|(own, res)| {
                let Some(raw) = res.remove(id.as_bytes())? else {
                    return Ok(None);
                };
                let r: Reservation = abort(decode("reservations", &raw))?;
                if let Some(raw) = own.get(r.offer_id.as_bytes())? {
                    let mut rec: OwnOffer = abort(decode("own_offers", &raw))?;
                    rec.reserved = rec.reserved.checked_sub(r.amount).unwrap_or(Amount::ZERO);
                    own.insert(r.offer_id.as_bytes(), enc(&rec))?;
                }
                Ok(Some(r))
            })
            .map_err(|e| tx_err(self, e))?;
        self.sync()?;
        Ok(out)
    }

    /// Releases every reservation that expired at or before `now`; returns them.
    /// Called periodically and at start-up, so a crash never leaves liquidity stuck.
    pub fn release_expired(&self, now: Timestamp) -> Result<Vec<Reservation>> {
        let mut expired = Vec::new();
        for v in self.reservations.iter().values() {
            let r: Reservation = decode("reservations", &v.map_err(|e| self.err(e))?)?;
            if r.expires_at <= now {
                expired.push(r.id);
            }
        }
        let mut out = Vec::new();
        for id in expired {
            out.extend(self.release(&id)?);
        }
        Ok(out)
    }

    /// One open reservation.
    pub fn reservation_get(&self, id: &Hash) -> Result<Option<Reservation>> {
        self.get_record(&self.reservations, "reservations", id.as_bytes())
    }

    /// Open reservations.
    pub fn reservations(&self) -> Result<Vec<Reservation>> {
        self.list_records(&self.reservations, "reservations")
    }

    /// Turns a reservation into a sale and stores the trade, in one transaction:
    /// either both happen or neither. Returns what remains of the offer.
    pub fn commit_reservation(
        &self,
        id: &Hash,
        trade: &TradeRecord,
    ) -> Result<std::result::Result<Amount, CommitError>> {
        let trade_id: TradeId = trade.contract.trade_id();
        let trade_bytes = enc(trade);
        let out = (&self.own_offers, &self.reservations, &self.trades)
            .transaction(|(own, res, trades)| {
                let Some(raw) = res.remove(id.as_bytes())? else {
                    return Ok(Err(CommitError::UnknownReservation));
                };
                let r: Reservation = abort(decode("reservations", &raw))?;
                let Some(raw) = own.get(r.offer_id.as_bytes())? else {
                    return Ok(Err(CommitError::UnknownReservation));
                };
                let mut rec: OwnOffer = abort(decode("own_offers", &raw))?;
                rec.reserved = rec.reserved.checked_sub(r.amount).unwrap_or(Amount::ZERO);
                rec.remaining = rec.remaining.checked_sub(r.amount).unwrap_or(Amount::ZERO);
                if rec.remaining == Amount::ZERO && rec.status == OwnStatus::Open {
                    rec.status = OwnStatus::Filled;
                }
                own.insert(r.offer_id.as_bytes(), enc(&rec))?;
                trades.insert(trade_id.as_bytes(), trade_bytes.as_slice())?;
                Ok(Ok(rec))
            })
            .map_err(|e| tx_err(self, e))?;
        if let Ok(rec) = &out {
            self.own_index.note(rec);
        }
        self.sync()?;
        Ok(out.map(|rec| rec.remaining))
    }
}
