//! What happens to an offer, update or cancel that arrives from the network,
//! whether by gossip or in a sync page: the same checks, the same store rules.
//!
//! Checking (decode, fields, signatures: [`check`]) is separate from
//! applying (the book insert, here): checking runs on every core, ahead of
//! applying, which stays on the pump's task, in order.
//!
//! The verdict tells gossipsub what to do: `Accept` forwards, `Reject` drops and
//! penalises the peer that sent it (bad signature, malformed, over limits,
//! someone else's offer), `Ignore` drops quietly (valid but stale, duplicate,
//! expired, or hidden because the maker is blocked).

pub mod check;

use peerfx_core::protocol::OfferState;
use peerfx_core::rating::RatingError;
use peerfx_core::validate::ValidationError;
use peerfx_core::{codec, Market, Offer, OfferId, OfferUpdate, Timestamp, Verified};
use peerfx_net::Acceptance;
use peerfx_store::book::{CancelOutcome, InsertOutcome, MergeOutcome, UpdateOutcome};

use crate::inner::Inner;
use crate::{Metrics, NodeEvent, RemovalReason};
use check::{verify_states, Checked, CheckedGossip, CheckedOffer};

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
    #[error("a message of market {offer} published on {topic}")]
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
    /// A rating that fails its checks.
    #[error(transparent)]
    Rating(#[from] RatingError),
}

/// What merging a sync page did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PageOutcome {
    /// Offers new or changed.
    pub(crate) changed: usize,
    /// Offers (or updates) that failed validation: the serving peer's fault.
    pub(crate) invalid: usize,
}

impl Inner {
    /// Applies one checked gossip message (see [`Checker`]) to the book;
    /// returns the verdict for gossipsub.
    pub(crate) fn apply_gossip(
        &self,
        checked: Result<CheckedGossip, IngestError>,
        topic: &str,
        now: Timestamp,
    ) -> Acceptance {
        match checked.and_then(|c| self.apply_checked(c.0, now)) {
            Ok(acceptance) => acceptance,
            Err(e) => {
                tracing::debug!("rejected gossip on {topic}: {e}");
                self.metrics.rejected(&e);
                Acceptance::Reject
            }
        }
    }

    fn apply_checked(&self, checked: Checked, now: Timestamp) -> Result<Acceptance, IngestError> {
        match checked {
            Checked::Stale => Ok(Acceptance::Ignore),
            Checked::Rating(rating) => Ok(self.ingest_rating(*rating, now)),
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
