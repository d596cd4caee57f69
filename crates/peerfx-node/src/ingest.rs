//! What happens to an offer, update or cancel that arrives from the network,
//! whether by gossip or in a sync page: the same checks, the same store rules.
//!
//! The verdict tells gossipsub what to do: `Accept` forwards, `Reject` drops and
//! penalises the peer that sent it (bad signature, malformed, over limits,
//! someone else's offer), `Ignore` drops quietly (valid but stale, duplicate,
//! expired, or hidden because the maker is blocked).

use peerfx_core::protocol::{GossipMessage, OfferState};
use peerfx_core::validate::{validate, validate_batch, ValidationError};
use peerfx_core::{codec, Market, Offer, OfferId, OfferUpdate, Signed, Timestamp, Verified};
use peerfx_net::Acceptance;
use peerfx_store::book::{CancelOutcome, InsertOutcome, MergeOutcome, UpdateOutcome};

use crate::{Inner, Metrics, NodeEvent, RemovalReason};

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

impl Inner {
    /// Handles one gossiped message; returns the verdict.
    pub(crate) fn ingest_gossip(&self, topic: &str, data: &[u8], now: Timestamp) -> Acceptance {
        match self.try_ingest_gossip(topic, data, now) {
            Ok(acceptance) => acceptance,
            Err(e) => {
                tracing::debug!("rejected gossip on {topic}: {e}");
                self.metrics.rejected(&e);
                Acceptance::Reject
            }
        }
    }

    fn try_ingest_gossip(
        &self,
        topic: &str,
        data: &[u8],
        now: Timestamp,
    ) -> Result<Acceptance, IngestError> {
        let market = Market::from_topic(topic).ok_or_else(|| IngestError::Topic(topic.into()))?;
        let msg: GossipMessage = codec::decode_within(data, self.limits.max_gossip_bytes())?;
        match msg {
            GossipMessage::Offer(state) => {
                let offer = match validate(state.offer, now, &self.limits) {
                    // A late copy of an expired offer is stale, not hostile.
                    Err(ValidationError::Expired { .. }) => return Ok(Acceptance::Ignore),
                    other => other?,
                };
                let update = state
                    .update
                    .map(|u| validate(u, now, &self.limits))
                    .transpose()?;
                self.ingest_offer(market, offer, update, now)
            }
            GossipMessage::Cancel(cancel) => {
                let cancel = validate(cancel, now, &self.limits)?;
                match self
                    .store
                    .book_apply_cancel(&cancel, &self.limits)
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
            .book_merge_many(&[(offer, update)], now, &self.limits)
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
        Ok(offer.maker != self.key.public() && !self.is_blocked(&offer.maker))
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

    /// Merges a sync page: every offer is verified as if gossiped, with one batch
    /// signature check and one store transaction for the page. Returns how many
    /// offers were new or changed.
    pub(crate) fn ingest_page(
        &self,
        market: Market,
        states: Vec<OfferState>,
        now: Timestamp,
    ) -> usize {
        let (offers, updates): (Vec<Signed<Offer>>, Vec<Option<Signed<OfferUpdate>>>) =
            states.into_iter().map(|s| (s.offer, s.update)).unzip();
        // Updates are checked in one batch too: after a re-announcement every
        // offer carries one.
        let has_update: Vec<bool> = updates.iter().map(Option::is_some).collect();
        let mut updates =
            validate_batch(updates.into_iter().flatten().collect(), now, &self.limits).into_iter();
        let mut admitted = Vec::with_capacity(offers.len());
        for (offer, has_update) in validate_batch(offers, now, &self.limits)
            .into_iter()
            .zip(has_update)
        {
            let update = if has_update { updates.next() } else { None };
            let checked = offer.map_err(IngestError::from).and_then(|offer| {
                let update = update.transpose()?;
                Ok(self
                    .admissible(market, &offer, update.as_ref())?
                    .then_some((offer, update)))
            });
            match checked {
                Ok(Some(state)) => admitted.push(state),
                Ok(None) => {}
                Err(e) => self.rejected_synced(&e),
            }
        }
        let outcomes = match self.store.book_merge_many(&admitted, now, &self.limits) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                self.store_failed(e);
                return 0;
            }
        };
        let mut changed = 0;
        for ((offer, _), outcome) in admitted.iter().zip(outcomes) {
            match self.merged(market, offer.id(), outcome) {
                Ok(Acceptance::Accept) => changed += 1,
                Ok(_) => {}
                Err(e) => self.rejected_synced(&e),
            }
        }
        changed
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

    fn rejected_synced(&self, e: &IngestError) {
        tracing::debug!("rejected synced offer: {e}");
        self.metrics.rejected(e);
    }
}
