//! Reservations: the liquidity a maker sets aside for a take until the taker
//! countersigns.
//!
//! The maker's node is the only lock on an offer's liquidity. When a take
//! arrives, [`Store::reserve`] sets the amount aside in one transaction, so
//! two takers racing for the last 100 EUR cannot both get it; the reservation
//! is then either committed with the trade ([`Store::commit_reservation`], one
//! transaction again) or released when the taker does not countersign in
//! time. A committed trade that ends without a fill (cancelled, or expired
//! with nobody paid) gives its amount back to the offer
//! ([`Store::trade_release`]), once. Every change is flushed before its future
//! resolves.

use peerfx_core::trade::Phase;
use peerfx_core::{
    fill_range, Amount, Contract, Hash, OfferId, PublicKey, Signed, Timestamp, TradeId,
};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use crate::own::{OwnOffer, OwnStatus};
use crate::trades::{Role, TradeHead, TradeRecord, TradeTx};
use crate::trees::Trees;
use crate::{abort, decode, get_record, list_records, tx_err, Result, Store};

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

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    peerfx_core::codec::encode(v)
}

/// Releases reservation `id` in one transaction; returns it and the offer
/// as changed.
fn release_tx(trees: &Trees, id: &Hash) -> Result<Option<(Reservation, Option<OwnOffer>)>> {
    (&trees.own_offers, &trees.reservations)
        .transaction(|(own, res)| {
            let Some(raw) = res.remove(id.as_bytes())? else {
                return Ok(None);
            };
            let r: Reservation = abort(decode("reservations", &raw))?;
            let mut changed = None;
            if let Some(raw) = own.get(r.offer_id.as_bytes())? {
                let mut rec: OwnOffer = abort(decode("own_offers", &raw))?;
                rec.reserved = rec.reserved.checked_sub(r.amount).unwrap_or(Amount::ZERO);
                own.insert(r.offer_id.as_bytes(), enc(&rec))?;
                changed = Some(rec);
            }
            Ok(Some((r, changed)))
        })
        .map_err(|e| tx_err(trees, e))
}

impl Store {
    /// Sets `amount` of an own offer aside for take `reservation.id`, atomically.
    /// Retrying with the same id and terms returns the existing reservation.
    pub async fn reserve(
        &self,
        reservation: &Reservation,
        now: Timestamp,
    ) -> Result<std::result::Result<Reservation, ReserveError>> {
        let r = reservation.clone();
        self.write(move |trees| {
            (&trees.own_offers, &trees.reservations)
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
                    res.insert(r.id.as_bytes(), enc(&r))?;
                    Ok(Ok(r.clone()))
                })
                .map_err(|e| tx_err(trees, e))
        })
        .await
    }

    /// Releases a reservation (the taker did not countersign). Returns it, or
    /// `None` if it was already released or committed.
    pub async fn release(&self, id: &Hash) -> Result<Option<Reservation>> {
        let id = *id;
        self.write(move |trees| Ok(release_tx(trees, &id)?.map(|(r, _)| r)))
            .await
    }

    /// Releases every reservation that expired at or before `now`; returns them.
    /// Called periodically and at start-up, so a crash never leaves liquidity stuck.
    pub async fn release_expired(&self, now: Timestamp) -> Result<Vec<Reservation>> {
        // A read first: most calls (one per take) find nothing to release,
        // and a write would cost a flush.
        if !self.reservations()?.iter().any(|r| r.expires_at <= now) {
            return Ok(Vec::new());
        }
        self.write(move |trees| {
            let mut expired = Vec::new();
            for v in trees.reservations.iter().values() {
                let r: Reservation = decode("reservations", &v.map_err(|e| trees.err(e))?)?;
                if r.expires_at <= now {
                    expired.push(r.id);
                }
            }
            let mut out = Vec::new();
            for id in expired {
                out.extend(release_tx(trees, &id)?.map(|(r, _)| r));
            }
            Ok(out)
        })
        .await
    }

    /// One open reservation.
    pub fn reservation_get(&self, id: &Hash) -> Result<Option<Reservation>> {
        let trees = self.trees()?;
        get_record(&trees, &trees.reservations, "reservations", id.as_bytes())
    }

    /// Open reservations.
    pub fn reservations(&self) -> Result<Vec<Reservation>> {
        let trees = self.trees()?;
        list_records(&trees, &trees.reservations, "reservations")
    }

    /// Turns a reservation into a sale and stores the trade, in one transaction:
    /// either both happen or neither. Returns what remains of the offer.
    pub async fn commit_reservation(
        &self,
        id: &Hash,
        trade: &TradeRecord,
    ) -> Result<std::result::Result<Amount, CommitError>> {
        let (id, trade) = (*id, trade.clone());
        let shared = self.shared.clone();
        let out = self
            .write(move |trees| {
                (
                    &trees.own_offers,
                    &trees.reservations,
                    &trees.trades,
                    &trees.trade_heads,
                    &trees.trade_by_request,
                    &trees.trade_by_time,
                )
                    .transaction(|(own, res, trades, heads, by_request, by_time)| {
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
                        TradeTx {
                            trades,
                            heads,
                            by_request,
                            by_time,
                        }
                        .insert(&trade)?;
                        Ok(Ok(rec))
                    })
                    .map_err(|e| tx_err(trees, e))
                    .inspect(|out| {
                        if let Ok(rec) = out {
                            shared.own_index.note(rec);
                        }
                    })
            })
            .await?;
        Ok(out.map(|rec| rec.remaining))
    }
}

/// What a trade that ended unfilled gave back to its offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// The offer.
    pub offer_id: OfferId,
    /// The trade's amount, back in the offer.
    pub amount: Amount,
    /// What remains of the offer now.
    pub remaining: Amount,
}

/// Whether a trade in `phase` ended without a fill: its amount belongs to the
/// offer again. A dispute or a completed trade keeps it.
pub(crate) fn unfilled(phase: Phase) -> bool {
    matches!(phase, Phase::Cancelled | Phase::Expired)
}

impl Store {
    /// Gives the amount of a maker trade that ended unfilled (cancelled, or
    /// expired at `now` with nobody paid) back to its offer, in one
    /// transaction with the mark that it did, so it happens once. The
    /// remaining never exceeds the offer's maximum. A filled offer stays
    /// closed (peers dropped it when nothing remained); `republish` posts
    /// what it got back.
    /// `None`: not a maker trade, not ended unfilled, or already given back.
    pub async fn trade_release(&self, trade: &TradeId, now: Timestamp) -> Result<Option<Released>> {
        let trade = *trade;
        let shared = self.shared.clone();
        self.write(move |trees| {
            (
                &trees.trades,
                &trees.trade_heads,
                &trees.trade_released,
                &trees.own_offers,
            )
                .transaction(|(trades, heads, released, own)| {
                    if released.get(trade.as_bytes())?.is_some() {
                        return Ok(None);
                    }
                    let Some(raw) = trades.get(trade.as_bytes())? else {
                        return Ok(None);
                    };
                    let record: TradeRecord = abort(decode("trades", &raw))?;
                    let Some(raw) = heads.get(trade.as_bytes())? else {
                        return Ok(None);
                    };
                    let head: TradeHead = abort(decode("trade_heads", &raw))?;
                    if !unfilled(head.state.phase_at(now)) {
                        return Ok(None);
                    }
                    // Marked on either side, so the maintenance scan skips it.
                    released.insert(trade.as_bytes(), &[][..])?;
                    if record.role != Role::Maker {
                        return Ok(None);
                    }
                    let contract = &record.contract.contract.body;
                    let Some(raw) = own.get(contract.offer_id.as_bytes())? else {
                        // The offer is gone (purged): nothing to give back to.
                        return Ok(None);
                    };
                    let mut rec: OwnOffer = abort(decode("own_offers", &raw))?;
                    let max = rec.offer.body.max_give;
                    rec.remaining = rec
                        .remaining
                        .checked_add(contract.give_amount)
                        .map_or(max, |r| r.min(max));
                    own.insert(contract.offer_id.as_bytes(), enc(&rec))?;
                    Ok(Some((rec, contract.offer_id, contract.give_amount)))
                })
                .map_err(|e| tx_err(trees, e))
                .map(|out| {
                    out.map(|(rec, offer_id, amount)| {
                        shared.own_index.note(&rec);
                        Released {
                            offer_id,
                            amount,
                            remaining: rec.remaining,
                        }
                    })
                })
        })
        .await
    }

    /// Trades that ended unfilled at `now` and have not been through
    /// [`Store::trade_release`] yet (on the taker's side it only marks them). A scan of
    /// every trade's head: the maintenance task runs it once a period, to
    /// catch expiries and a release a crash interrupted.
    pub fn trades_to_release(&self, now: Timestamp) -> Result<Vec<TradeId>> {
        let trees = self.trees()?;
        let mut out = Vec::new();
        for item in trees.trade_heads.iter() {
            let (key, raw) = item.map_err(|e| trees.err(e))?;
            let head: TradeHead = decode("trade_heads", &raw)?;
            if !unfilled(head.state.phase_at(now))
                || trees
                    .trade_released
                    .contains_key(&key)
                    .map_err(|e| trees.err(e))?
            {
                continue;
            }
            if let Ok(id) = <[u8; 32]>::try_from(key.as_ref()) {
                out.push(peerfx_core::Hash(id));
            }
        }
        Ok(out)
    }
}
