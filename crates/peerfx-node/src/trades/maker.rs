//! What a node answers to trade requests from peers: takes of its offers
//! (as maker), countersignatures, and the counterparty's steps and chat.
//!
//! Each request is handled in its own task, with no lock shared between
//! trades: a take reserves in one store transaction, a countersignature
//! commits in one, a message is checked against its trade's stored state and
//! appended in one. A request that can only come from a broken or hostile
//! client (a bad signature, a forged author, a replayed seq with other
//! content) also costs the sender its score.

use std::sync::Arc;
use std::time::Instant;

use peerfx_core::protocol::{TradeRefusal, TradeRequest, TradeResponse};
use peerfx_core::trade::{build_contract, counter_acceptable, Phase, StepError};
use peerfx_core::validate::validate;
use peerfx_core::{
    Hash, OfferId, RejectReason, Signature, Signed, SignedContract, TakeReject, TakeReply,
    TakeRequest, TradeAction, TradeMessage, Verified,
};
use peerfx_net::{Misbehaviour, PeerId, ResponseToken};
use peerfx_store::own::{Reservation, ReserveError};
use peerfx_store::trades::{Role, TradeRecord};

use crate::inner::Inner;
use crate::locks::lock;
use crate::{now, Node, NodeError, NodeEvent};

/// Handles one inbound trade request and answers it.
pub(crate) async fn serve(
    inner: Arc<Inner>,
    peer: PeerId,
    request: TradeRequest,
    token: ResponseToken,
) {
    let (response, filled) = match request {
        TradeRequest::Take(req) => (
            TradeResponse::Take(Box::new(inner.on_take(peer, req).await)),
            None,
        ),
        TradeRequest::Countersign {
            request_id,
            taker_signature,
        } => {
            inner
                .on_countersign(peer, request_id, taker_signature)
                .await
        }
        TradeRequest::Message(msg) => (inner.on_message(peer, msg).await, None),
    };
    if let TradeResponse::Refused(refusal) = &response {
        if is_abuse(refusal) {
            let _ = inner.net.penalize(peer, Misbehaviour::TradeAbuse).await;
        }
    }
    // A step may have ended the trade unfilled: its amount goes back.
    let stepped = match &response {
        TradeResponse::Ack { trade_id, .. } => Some(*trade_id),
        _ => None,
    };
    let _ = inner.net.respond_trade(token, response).await;
    if let Some(id) = stepped {
        Node {
            inner: inner.clone(),
        }
        .release_unfilled(&id)
        .await;
    }
    if let Some(offer_id) = filled {
        // Tell everyone what remains after the fill.
        match inner.store.own_get(&offer_id) {
            Ok(Some(own)) => {
                let node = Node {
                    inner: inner.clone(),
                };
                if let Err(e) = node.announce(&own).await {
                    tracing::warn!("announcing fill of {offer_id}: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => inner.store_failed(e),
        }
    }
}

/// Refusals an honest client never causes.
fn is_abuse(refusal: &TradeRefusal) -> bool {
    match refusal {
        TradeRefusal::Invalid(_)
        | TradeRefusal::NotTheAuthor
        | TradeRefusal::NotTheTaker
        | TradeRefusal::BadCountersignature => true,
        TradeRefusal::Step(e) => matches!(
            e,
            StepError::NotAParty | StepError::Replay { .. } | StepError::TooManyMessages { .. }
        ),
        _ => false,
    }
}

impl Inner {
    fn sign_reject(&self, request_id: Hash, reason: RejectReason) -> TakeReply {
        TakeReply::Reject(Signed::sign(
            TakeReject {
                request_id,
                maker: self.key.public(),
                reason,
                created_at: now(),
            },
            &self.key,
        ))
    }

    /// Maker side of a take.
    async fn on_take(&self, peer: PeerId, signed: Signed<TakeRequest>) -> TakeReply {
        let request_id = signed.id();
        let now = now();
        let request = match validate(signed, now, self.limits()) {
            Ok(r) => r,
            Err(e) => return self.sign_reject(request_id, RejectReason::Invalid(e.to_string())),
        };
        // The transport authenticated the sender; it must be the key that signed.
        if request.taker.peer_id().ok() != Some(peer) {
            return self.sign_reject(
                request_id,
                RejectReason::Invalid("the taker key is not the sender's".into()),
            );
        }
        if request.taker == self.key.public() {
            return self.sign_reject(request_id, RejectReason::SelfTake);
        }
        if self.peers.is_blocked(&request.taker) {
            return self.sign_reject(request_id, RejectReason::Blocked);
        }
        if let Some(reason) = self.reputation_shortfall(&request.taker) {
            return self.sign_reject(request_id, reason);
        }
        // Takes that ran out free their amount (and strike their takers)
        // before this one is judged, not only at the next maintenance pass.
        self.release_expired_takes(now).await;
        // A resend of a take already reserved gets its answer again, unguarded.
        let resent = matches!(self.store.reservation_get(&request_id), Ok(Some(_)));
        if !resent {
            let verdict = lock(&self.trades.guard).admit(
                peer,
                &request.taker,
                &request.offer_id,
                Instant::now(),
            );
            if let Err(wait) = verdict {
                return self.sign_reject(
                    request_id,
                    RejectReason::Throttled {
                        retry_after_secs: wait.as_secs().max(1),
                    },
                );
            }
        }
        let own = match self.store.own_get(&request.offer_id) {
            Ok(Some(own)) => own,
            Ok(None) => return self.sign_reject(request_id, RejectReason::UnknownOffer),
            Err(e) => {
                self.store_failed(e);
                return self.sign_reject(
                    request_id,
                    RejectReason::Invalid("maker storage error".into()),
                );
            }
        };
        let offer = Verified::assume_verified(own.offer);
        let tolerance = self.config.trade.counter_tolerance_bps;
        let rate = match request.counter_rate {
            None => offer.rate,
            Some(c) if counter_acceptable(&offer.rate, &c, tolerance) => c,
            Some(_) => {
                return self.sign_reject(
                    request_id,
                    RejectReason::RateRefused {
                        maker_rate: offer.rate,
                    },
                )
            }
        };
        let window = self
            .config
            .trade
            .payment_window_for(&request.payment_method)
            .as_secs();
        let contract = match build_contract(&offer, &request, rate, now, window) {
            Ok(c) => c,
            Err(reason) => return self.sign_reject(request_id, reason),
        };
        let reservation = Reservation {
            id: request_id,
            offer_id: offer.id(),
            amount: request.give_amount,
            taker: request.taker,
            expires_at: now.plus(self.config.trade.take_timeout.as_secs().max(1)),
            contract: Some(Signed::sign(contract, &self.key)),
        };
        let remaining = own.remaining;
        let reason = match self.store.reserve(&reservation, now).await {
            Ok(Ok(r)) => match r.contract {
                Some(c) => {
                    lock(&self.trades.guard).reserved(&r.taker, r.id, r.offer_id);
                    return TakeReply::Accept(c);
                }
                None => RejectReason::Invalid("reservation without contract".into()),
            },
            Ok(Err(e)) => match e {
                ReserveError::UnknownOffer => RejectReason::UnknownOffer,
                ReserveError::Closed => RejectReason::Closed,
                ReserveError::Expired => RejectReason::Expired,
                ReserveError::OutOfRange { min, max } => {
                    RejectReason::AmountOutOfRange { min, max }
                }
                ReserveError::Insufficient { .. } if remaining >= request.give_amount => {
                    // Other takes hold it; they end within a take timeout.
                    RejectReason::Reserved {
                        retry_after_secs: self.next_reservation_end(&offer.id(), now),
                    }
                }
                ReserveError::Insufficient { available } => {
                    RejectReason::InsufficientRemaining { available }
                }
                ReserveError::Conflict => RejectReason::Invalid("request id reused".into()),
            },
            Err(e) => {
                self.store_failed(e);
                RejectReason::Invalid("maker storage error".into())
            }
        };
        self.sign_reject(request_id, reason)
    }

    /// Maker side of a countersignature. Returns the response and, when a trade
    /// was stored now, the offer to re-announce with its new remaining amount.
    async fn on_countersign(
        &self,
        peer: PeerId,
        request_id: Hash,
        taker_signature: Signature,
    ) -> (TradeResponse, Option<OfferId>) {
        let refused = |r| (TradeResponse::Refused(r), None);
        let reservation = match self.store.reservation_get(&request_id) {
            Ok(r) => r,
            Err(e) => {
                self.store_failed(e);
                return refused(TradeRefusal::Storage);
            }
        };
        let Some(Reservation {
            contract: Some(contract),
            offer_id,
            ..
        }) = reservation
        else {
            // Already stored (a resend after a lost answer), or expired.
            return match self.store.trade_by_request(&request_id) {
                Ok(Some(id)) => (TradeResponse::Stored(id), None),
                Ok(None) => refused(TradeRefusal::UnknownTake),
                Err(e) => {
                    self.store_failed(e);
                    refused(TradeRefusal::Storage)
                }
            };
        };
        if contract.body.taker.peer_id().ok() != Some(peer) {
            return refused(TradeRefusal::NotTheTaker);
        }
        let signed = SignedContract {
            contract,
            taker_signature,
        };
        if signed.verify().is_err() {
            return refused(TradeRefusal::BadCountersignature);
        }
        let trade_id = signed.trade_id();
        let record = TradeRecord {
            contract: signed,
            role: Role::Maker,
            stored_at: now(),
            acked: 0,
        };
        match self.store.commit_reservation(&request_id, &record).await {
            Ok(Ok(_remaining)) => {
                lock(&self.trades.guard).ended(
                    &record.contract.contract.body.taker,
                    &request_id,
                    false,
                    Instant::now(),
                );
                self.emit(NodeEvent::TradeUpdated {
                    id: trade_id,
                    phase: Phase::Agreed,
                });
                (TradeResponse::Stored(trade_id), Some(offer_id))
            }
            // Committed by a concurrent resend of the same countersignature.
            Ok(Err(_)) => match self.store.trade_by_request(&request_id) {
                Ok(Some(id)) => (TradeResponse::Stored(id), None),
                _ => refused(TradeRefusal::UnknownTake),
            },
            Err(e) => {
                self.store_failed(e);
                refused(TradeRefusal::Storage)
            }
        }
    }

    /// Either side: a step or chat line from the counterparty.
    pub(crate) async fn on_message(
        &self,
        peer: PeerId,
        signed: Signed<TradeMessage>,
    ) -> TradeResponse {
        let refused = TradeResponse::Refused;
        let msg = match validate(signed, now(), self.limits()) {
            Ok(m) => m,
            Err(e) => return refused(TradeRefusal::Invalid(e.to_string())),
        };
        if msg.author.peer_id().ok() != Some(peer) || msg.author == self.key.public() {
            return refused(TradeRefusal::NotTheAuthor);
        }
        let trade_id = msg.trade_id;
        // A cancel is judged under the trade's lock, so this side's `Paid`
        // cannot slip in between the check and the append (see `cancel`).
        let _trade = if msg.action == TradeAction::Cancel {
            let guard = self.trades.locks.lock(trade_id).await;
            match self.unacknowledged_paid(&trade_id) {
                Ok(Some(paid_seq)) => return refused(super::cancel::crossed(paid_seq)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("trade {trade_id}: {e}");
                    return refused(TradeRefusal::Storage);
                }
            }
            Some(guard)
        } else {
            None
        };
        let (state, new) = match self.append(&trade_id, &msg).await {
            Ok(appended) => appended,
            Err(NodeError::Step(e)) => return refused(TradeRefusal::Step(e)),
            Err(NodeError::UnknownTrade(_)) => return refused(TradeRefusal::UnknownTrade),
            Err(e) => {
                tracing::error!("trade {trade_id}: {e}");
                return refused(TradeRefusal::Storage);
            }
        };
        if new {
            if let TradeAction::Chat { text } = &msg.action {
                self.emit(NodeEvent::Chat {
                    id: trade_id,
                    from: msg.author,
                    text: text.clone(),
                });
            }
            self.emit(NodeEvent::TradeUpdated {
                id: trade_id,
                phase: state.phase_at(now()),
            });
        }
        TradeResponse::Ack {
            trade_id,
            seq: msg.seq,
        }
    }
}

impl Inner {
    /// Releases the takes whose reservations ran out uncountersigned: their
    /// amount is free again, their takers are refused for a while (see
    /// [`super::guard`]) and their peers lose score.
    pub(crate) async fn release_expired_takes(&self, now: peerfx_core::Timestamp) {
        let expired = match self.store.release_expired(now).await {
            Ok(expired) => expired,
            Err(e) => return self.store_failed(e),
        };
        for r in expired {
            tracing::info!(
                "take {} of offer {} ran out uncountersigned; its taker waits",
                r.id,
                r.offer_id
            );
            lock(&self.trades.guard).ended(&r.taker, &r.id, true, Instant::now());
            if let Ok(peer) = r.taker.peer_id() {
                let _ = self.net.penalize(peer, Misbehaviour::TradeAbuse).await;
            }
        }
    }

    /// When a taker refused for "reserved" should try again: when the
    /// earliest pending take of `offer` runs out, but after two seconds at
    /// most, since an honest taker countersigns (and so ends its take) within
    /// milliseconds.
    fn next_reservation_end(&self, offer: &OfferId, now: peerfx_core::Timestamp) -> u64 {
        let earliest = self
            .store
            .reservations()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.offer_id == *offer)
            .map(|r| r.expires_at)
            .min();
        earliest.map_or(1, |t| t.since(now).clamp(1, 2))
    }
}
