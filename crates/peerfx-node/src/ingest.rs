//! What happens to an offer, update or cancel that arrives from the network,
//! whether by gossip or in a sync page: the same checks, the same store rules.
//!
//! Checking (decode, fields, signatures) is separate from applying (the
//! book insert): checking a batch of gossip runs on every core, applying it
//! on one thread, in order.
//!
//! The verdict tells gossipsub what to do: `Accept` forwards, `Reject` drops and
//! penalises the peer that sent it (bad signature, malformed, over limits,
//! someone else's offer), `Ignore` drops quietly (valid but stale, duplicate,
//! expired, or hidden because the maker is blocked).

use peerfx_core::protocol::{GossipMessage, OfferState};
use peerfx_core::validate::{validate, validate_batch, ValidationError};
use peerfx_core::{
    codec, Market, Offer, OfferCancel, OfferId, OfferUpdate, Signed, Timestamp, Verified,
    WireLimits,
};
use peerfx_net::{Acceptance, Gossip};
use peerfx_store::book::{CancelOutcome, InsertOutcome, MergeOutcome, UpdateOutcome};
use rayon::prelude::*;

use crate::inner::Inner;
use crate::{Metrics, NodeEvent, RemovalReason};

/// Why a message was refused, for logs and metrics.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not on a market topic.
    #[error("not a market topic: {0}")]
    Topic(String),
    /// Does not decode.
    #[error("malformed: {0}")]
    Malformed(#[from] codec::CodecError),
    /// Fails validation.
    #[error("invalid: {0}")]
    Invalid(#[from] ValidationError),
    /// Published on another market's topic.
    #[error("offer for {offer} published on {topic}")]
    WrongMarket {
        /// The offer's market.
        offer: String,
        /// The topic's.
        topic: String,
    },
    /// An update or cancel for an offer its signer did not make.
    #[error("signed by someone other than the offer's maker")]
    WrongMaker,
    /// An update claiming more than the offer's maximum.
    #[error("update claims more than the offer's maximum")]
    AboveMax,
}

/// What merging a sync page did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PageOutcome {
    /// Offers new or changed.
    pub(crate) changed: usize,
    /// Offers (or updates) that failed validation: the serving peer's fault.
    pub(crate) invalid: usize,
}

/// A gossiped message whose signatures and fields have been checked, ready
/// to be applied to the book in order.
enum Checked {
    /// Boxed: an offer is far larger than a cancel.
    Offer(Box<CheckedOffer>),
    Cancel(Verified<OfferCancel>),
    /// Valid once, but expired: a late copy, not hostile.
    Stale,
}

struct CheckedOffer {
    market: Market,
    offer: Verified<Offer>,
    update: Option<Verified<OfferUpdate>>,
}

/// Offers checked in one batch signature verification. ed25519 batch
/// verification switches to Pippenger's multiscalar multiplication for
/// large batches, which costs far less per signature: on the development VM
/// one core verifies ~40 k/s in batches of 64 and ~60 k/s in batches of 256.
pub const VERIFY_CHUNK: usize = 256;

/// Most gossip messages the pump takes in one batch: two chunks, one per
/// core of a 2-core machine; under light load batches are smaller, and a
/// message waits for nothing.
pub const GOSSIP_BATCH: usize = 2 * VERIFY_CHUNK;

/// An offer and the update it came with, both verified.
pub type VerifiedState = (Verified<Offer>, Option<Verified<OfferUpdate>>);

/// Verifies offers, each with the latest update it came with (a gossip
/// batch, a sync page), as if each had been gossiped alone: fields, sizes,
/// and signatures in batches of [`VERIFY_CHUNK`] spread over every core.
/// One result per input, in order; an offer whose update fails fails too.
/// Touches nothing shared: the caller applies the results to the book.
pub fn verify_states(
    states: Vec<OfferState>,
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<VerifiedState, ValidationError>> {
    if states.len() <= VERIFY_CHUNK {
        return verify_chunk(states, now, limits);
    }
    states
        .into_par_iter()
        .chunks(VERIFY_CHUNK)
        .flat_map_iter(|chunk| verify_chunk(chunk, now, limits))
        .collect()
}

/// [`verify_states`] on one thread: one batch check for the offers, one for
/// the updates.
fn verify_chunk(
    states: Vec<OfferState>,
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<VerifiedState, ValidationError>> {
    let (offers, updates): (Vec<Signed<Offer>>, Vec<Option<Signed<OfferUpdate>>>) =
        states.into_iter().map(|s| (s.offer, s.update)).unzip();
    let has_update: Vec<bool> = updates.iter().map(Option::is_some).collect();
    let mut updates =
        validate_batch(updates.into_iter().flatten().collect(), now, limits).into_iter();
    validate_batch(offers, now, limits)
        .into_iter()
        .zip(has_update)
        .map(|(offer, has_update)| {
            let update = if has_update { updates.next() } else { None };
            let offer = offer?;
            Ok((offer, update.transpose()?))
        })
        .collect()
}

impl Inner {
    /// Handles a batch of gossiped messages; returns one verdict each, in
    /// order. Signatures are checked in batches spread over the cores; the
    /// book changes are applied one after the other, on this thread.
    pub(crate) fn ingest_gossip_batch(&self, batch: &[Gossip], now: Timestamp) -> Vec<Acceptance> {
        self.check_gossip(batch, now)
            .into_iter()
            .zip(batch)
            .map(|(c, g)| match c.and_then(|c| self.apply_gossip(c, now)) {
                Ok(acceptance) => acceptance,
                Err(e) => {
                    tracing::debug!("rejected gossip on {}: {e}", g.topic);
                    self.metrics.rejected(&e);
                    Acceptance::Reject
                }
            })
            .collect()
    }

    /// Decodes and validates gossip: offers (and their updates) in batch
    /// signature checks spread over the cores ([`verify_states`]).
    fn check_gossip(&self, batch: &[Gossip], now: Timestamp) -> Vec<Result<Checked, IngestError>> {
        /// A message checked at once, or the `n`th offer of the batch check.
        enum Slot {
            Done(Result<Checked, IngestError>),
            Offer(usize),
        }
        let limits = self.limits();
        let mut slots = Vec::with_capacity(batch.len());
        let (mut states, mut markets) = (Vec::new(), Vec::new());
        for g in batch {
            let decoded = Market::from_topic(&g.topic)
                .ok_or_else(|| IngestError::Topic(g.topic.clone()))
                .and_then(|market| {
                    let msg: GossipMessage =
                        codec::decode_within(&g.data, limits.max_gossip_bytes())?;
                    Ok((market, msg))
                });
            slots.push(match decoded {
                Err(e) => Slot::Done(Err(e)),
                Ok((_, GossipMessage::Cancel(cancel))) => Slot::Done(
                    validate(cancel, now, limits)
                        .map(Checked::Cancel)
                        .map_err(IngestError::from),
                ),
                Ok((market, GossipMessage::Offer(state))) => {
                    markets.push(market);
                    states.push(*state);
                    Slot::Offer(states.len() - 1)
                }
            });
        }
        let mut offers: Vec<Option<Result<Checked, IngestError>>> = markets
            .into_iter()
            .zip(verify_states(states, now, limits))
            .map(|(market, verified)| {
                Some(match verified {
                    Err(ValidationError::Expired { .. }) => Ok(Checked::Stale),
                    Err(e) => Err(e.into()),
                    Ok((offer, update)) => Ok(Checked::Offer(Box::new(CheckedOffer {
                        market,
                        offer,
                        update,
                    }))),
                })
            })
            .collect();
        slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Done(r) => Some(r),
                Slot::Offer(n) => offers.get_mut(n).and_then(Option::take),
            })
            .collect()
    }

    /// Applies a checked gossip message to the book; returns the verdict.
    fn apply_gossip(&self, checked: Checked, now: Timestamp) -> Result<Acceptance, IngestError> {
        match checked {
            Checked::Stale => Ok(Acceptance::Ignore),
            Checked::Offer(o) => {
                let CheckedOffer {
                    market,
                    offer,
                    update,
                } = *o;
                self.ingest_offer(market, offer, update, now)
            }
            Checked::Cancel(cancel) => {
                match self
                    .store
                    .book_apply_cancel(&cancel, now, self.limits())
                    .map_err(|e| self.store_failed(e))
                {
                    Ok(CancelOutcome::Cancelled) => {
                        self.emit(NodeEvent::OfferRemoved {
                            id: cancel.offer_id,
                            reason: RemovalReason::Cancelled,
                        });
                        Ok(Acceptance::Accept)
                    }
                    // Remembered so the offer cannot arrive later, but not forwarded:
                    // a cancel of an offer nobody has seen costs a spammer nothing.
                    Ok(
                        CancelOutcome::Remembered
                        | CancelOutcome::NotRemembered
                        | CancelOutcome::AlreadyGone,
                    )
                    | Err(()) => Ok(Acceptance::Ignore),
                    // Valid, but past its maker's cancel budget: not applied
                    // and not forwarded, so a post-and-cancel loop stops
                    // here. The maker re-announces the cancel later.
                    Ok(CancelOutcome::OverBudget) => {
                        Metrics::inc(&self.metrics.cancels_over_budget);
                        Ok(Acceptance::Ignore)
                    }
                    Ok(CancelOutcome::WrongMaker) => Err(IngestError::WrongMaker),
                }
            }
        }
    }

    /// Stores a verified offer and its optional update (gossip's path).
    pub(crate) fn ingest_offer(
        &self,
        market: Market,
        offer: Verified<Offer>,
        update: Option<Verified<OfferUpdate>>,
        now: Timestamp,
    ) -> Result<Acceptance, IngestError> {
        if !self.admissible(market, &offer, update.as_ref())? {
            return Ok(Acceptance::Ignore);
        }
        let id = offer.id();
        match self
            .store
            .book_merge_many(&[(offer, update)], now, self.limits())
        {
            Ok(outcomes) => match outcomes.first() {
                Some(outcome) => self.merged(market, id, *outcome),
                None => Ok(Acceptance::Ignore),
            },
            Err(e) => {
                self.store_failed(e);
                Ok(Acceptance::Ignore)
            }
        }
    }

    /// Checks that do not need the book. `Ok(false)`: valid but not for the book
    /// (our own offer, or a blocked maker's).
    fn admissible(
        &self,
        market: Market,
        offer: &Verified<Offer>,
        update: Option<&Verified<OfferUpdate>>,
    ) -> Result<bool, IngestError> {
        let offer_market = offer
            .market()
            .map_err(|e| IngestError::Topic(e.to_string()))?;
        if offer_market != market {
            return Err(IngestError::WrongMarket {
                offer: offer_market.to_string(),
                topic: market.to_string(),
            });
        }
        if let Some(u) = update {
            if u.offer_id != offer.id() || u.maker != offer.maker {
                return Err(IngestError::WrongMaker);
            }
            // Judged before anything is stored, so a bad update cannot smuggle
            // its offer into the book.
            if u.remaining > offer.max_give {
                return Err(IngestError::AboveMax);
            }
        }
        Ok(offer.maker != self.key.public() && !self.peers.is_blocked(&offer.maker))
    }

    /// Announces what a merge changed; the verdict is `Accept` only if something
    /// did, so gossip forwards news and drops repeats.
    fn merged(
        &self,
        market: Market,
        id: OfferId,
        outcome: MergeOutcome,
    ) -> Result<Acceptance, IngestError> {
        let inserted = match outcome.offer {
            InsertOutcome::Inserted => {
                self.emit(NodeEvent::OfferAdded { id, market });
                true
            }
            InsertOutcome::InsertedInPlaceOf(evicted) => {
                self.evicted(evicted);
                self.emit(NodeEvent::OfferAdded { id, market });
                true
            }
            InsertOutcome::Duplicate => false,
            InsertOutcome::Tombstoned | InsertOutcome::Expired => return Ok(Acceptance::Ignore),
            // Ignored, not rejected: books differ a little (expiry, sync timing),
            // so the peer that forwarded it may have had room for it.
            InsertOutcome::OverQuota => {
                Metrics::inc(&self.metrics.offers_over_quota);
                return Ok(Acceptance::Ignore);
            }
            InsertOutcome::BookFull => {
                Metrics::inc(&self.metrics.offers_book_full);
                return Ok(Acceptance::Ignore);
            }
        };
        let news = match outcome.update {
            Some(UpdateOutcome::Applied(remaining)) => {
                self.emit(NodeEvent::OfferUpdated { id, remaining });
                true
            }
            Some(UpdateOutcome::Closed) => {
                self.emit(NodeEvent::OfferRemoved {
                    id,
                    reason: RemovalReason::Filled,
                });
                true
            }
            Some(UpdateOutcome::WrongMaker) => return Err(IngestError::WrongMaker),
            Some(UpdateOutcome::AboveMax) => return Err(IngestError::AboveMax),
            Some(UpdateOutcome::Stale | UpdateOutcome::UnknownOffer) | None => false,
        };
        Ok(if inserted || news {
            Acceptance::Accept
        } else {
            Acceptance::Ignore
        })
    }

    /// Merges a sync page: every offer is verified as if gossiped
    /// ([`verify_states`]), and the page merged into the book under one lock.
    pub(crate) fn ingest_page(
        &self,
        market: Market,
        states: Vec<OfferState>,
        now: Timestamp,
    ) -> PageOutcome {
        let mut admitted = Vec::with_capacity(states.len());
        let mut out = PageOutcome::default();
        for verified in verify_states(states, now, self.limits()) {
            // Expired between serving and checking: stale, not hostile.
            if let Err(ValidationError::Expired { .. }) = verified {
                continue;
            }
            let checked = verified
                .map_err(IngestError::from)
                .and_then(|(offer, update)| {
                    Ok(self
                        .admissible(market, &offer, update.as_ref())?
                        .then_some((offer, update)))
                });
            match checked {
                Ok(Some(state)) => admitted.push(state),
                Ok(None) => {}
                Err(e) => out.invalid += self.rejected_synced(&e),
            }
        }
        let outcomes = match self.store.book_merge_many(&admitted, now, self.limits()) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                self.store_failed(e);
                return out;
            }
        };
        for ((offer, _), outcome) in admitted.iter().zip(outcomes) {
            match self.merged(market, offer.id(), outcome) {
                Ok(Acceptance::Accept) => out.changed += 1,
                Ok(_) => {}
                Err(e) => out.invalid += self.rejected_synced(&e),
            }
        }
        out
    }

    /// Announces an offer a full book dropped to make room for another
    /// market's.
    pub(crate) fn evicted(&self, id: OfferId) {
        Metrics::inc(&self.metrics.offers_evicted);
        self.emit(NodeEvent::OfferRemoved {
            id,
            reason: RemovalReason::Evicted,
        });
    }

    /// Counts an invalid offer of a sync page; returns 1.
    fn rejected_synced(&self, e: &IngestError) -> usize {
        tracing::debug!("rejected synced offer: {e}");
        self.metrics.rejected(e);
        1
    }
}
