//! Negotiation and trades over `/peerfx/trade/1`.
//!
//! Take, from the taker's side ([`Node::take`]):
//!
//! 1. sign a `TakeRequest` and send it to the maker;
//! 2. the maker (the only lock on its offer) checks it, reserves the amount in
//!    one transaction together with the contract it signs, and answers Accept or
//!    a signed Reject;
//! 3. the taker checks every term of the contract against the offer and its
//!    request, countersigns, stores a *negotiation* (flushed), and sends the
//!    countersignature;
//! 4. the maker commits the reservation and stores the trade in one transaction
//!    (flushed) and answers Stored; the taker then stores the trade too.
//!
//! If the answer in step 4 is lost (crash, network), the taker resends the
//! countersignature from its negotiation until the maker answers or the
//! reservation has expired; the maker's side is idempotent. So a trade one side
//! acknowledged is never lost by the other, and a reservation nobody confirms is
//! released by the maker's maintenance.
//!
//! Steps and chat ([`Node::trade_step`]) are appended to the author's own log
//! first (flushed), then delivered; the trade record remembers the highest seq
//! the peer acknowledged, and the retry task resends the rest with backoff, across
//! restarts, until acknowledged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerfx_core::protocol::{TradeRefusal, TradeRequest, TradeResponse};
use peerfx_core::trade::{
    build_contract, check_contract, counter_acceptable, Phase, Side, TradeState,
};
use peerfx_core::validate::validate;
use peerfx_core::{
    Amount, Hash, OfferId, PaymentMethod, Rate, RejectReason, Signature, Signed, SignedContract,
    TakeReject, TakeReply, TakeRequest, TradeAction, TradeId, TradeMessage, Verified,
};
use peerfx_net::PeerId;
use peerfx_store::own::{Reservation, ReserveError};
use peerfx_store::trades::{AppendOutcome, Negotiation, Role, TradeRecord};

use crate::{now, Inner, Node, NodeError, NodeEvent};

/// A trade with its log and derived state, for display.
#[derive(Clone, Debug)]
pub struct TradeView {
    /// The stored record (contract signed by both, role).
    pub record: TradeRecord,
    /// Every signed message, in the order this node stored them.
    pub log: Vec<Signed<TradeMessage>>,
    /// The state derived from the log.
    pub state: TradeState,
    /// The phase now (expiry included).
    pub phase: Phase,
    /// Own messages not yet acknowledged by the peer.
    pub undelivered: usize,
}

impl TradeView {
    /// The trade id.
    pub fn id(&self) -> TradeId {
        self.record.contract.trade_id()
    }
}

fn side(role: Role) -> Side {
    match role {
        Role::Maker => Side::Maker,
        Role::Taker => Side::Taker,
    }
}

/// Backoff per trade for resends.
#[derive(Default)]
pub(crate) struct Backoff {
    next: HashMap<Hash, (Instant, Duration)>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(60);

    fn due(&self, id: &Hash) -> bool {
        self.next
            .get(id)
            .is_none_or(|(at, _)| Instant::now() >= *at)
    }

    fn failed(&mut self, id: Hash) {
        let delay = self
            .next
            .get(&id)
            .map_or(Self::FIRST, |(_, d)| (*d * 2).min(Self::MAX));
        self.next.insert(id, (Instant::now() + delay, delay));
    }

    fn succeeded(&mut self, id: &Hash) {
        self.next.remove(id);
    }
}

impl Inner {
    fn view(&self, record: TradeRecord) -> Result<TradeView, NodeError> {
        let id = record.contract.trade_id();
        let log = self.store.trade_log(&id)?;
        let contract = &record.contract.contract.body;
        let state =
            TradeState::replay(contract, &id, log.iter().map(|m| &m.body)).map_err(|e| {
                NodeError::BadInput(format!("stored log of trade {id} does not replay: {e}"))
            })?;
        let me = self.key.public();
        let undelivered = log
            .iter()
            .filter(|m| m.body.author == me && m.body.seq > record.acked)
            .count();
        let phase = state.phase_at(now());
        Ok(TradeView {
            record,
            log,
            state,
            phase,
            undelivered,
        })
    }

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
    fn on_take(&self, peer: PeerId, signed: Signed<TakeRequest>) -> TakeReply {
        let request_id = signed.id();
        let now = now();
        let request = match validate(signed, now, &self.limits) {
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
        if self.is_blocked(&request.taker) {
            return self.sign_reject(request_id, RejectReason::Blocked);
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
        let rate = match request.counter_rate {
            None => offer.rate,
            Some(c) if counter_acceptable(&offer.rate, &c, self.config.counter_tolerance_bps) => c,
            Some(_) => {
                return self.sign_reject(
                    request_id,
                    RejectReason::RateRefused {
                        maker_rate: offer.rate,
                    },
                )
            }
        };
        let contract = match build_contract(&offer, &request, rate, now, self.config.settle_secs) {
            Ok(c) => c,
            Err(reason) => return self.sign_reject(request_id, reason),
        };
        let reservation = Reservation {
            id: request_id,
            offer_id: offer.id(),
            amount: request.give_amount,
            taker: request.taker,
            expires_at: now.plus(self.config.take_timeout.as_secs().max(1)),
            contract: Some(Signed::sign(contract, &self.key)),
        };
        let reason = match self.store.reserve(&reservation, now) {
            Ok(Ok(r)) => match r.contract {
                Some(c) => return TakeReply::Accept(c),
                None => RejectReason::Invalid("reservation without contract".into()),
            },
            Ok(Err(e)) => match e {
                ReserveError::UnknownOffer => RejectReason::UnknownOffer,
                ReserveError::Closed => RejectReason::Closed,
                ReserveError::Expired => RejectReason::Expired,
                ReserveError::OutOfRange { min, max } => {
                    RejectReason::AmountOutOfRange { min, max }
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
    fn on_countersign(
        &self,
        peer: PeerId,
        request_id: Hash,
        taker_signature: Signature,
    ) -> (TradeResponse, Option<OfferId>) {
        let reservation = match self.store.reservation_get(&request_id) {
            Ok(r) => r,
            Err(e) => {
                self.store_failed(e);
                return (TradeResponse::Refused(TradeRefusal::Storage), None);
            }
        };
        let Some(Reservation {
            contract: Some(contract),
            offer_id,
            ..
        }) = reservation
        else {
            // Already stored (a resend after a lost answer), or expired.
            let stored = self.store.trade_list().ok().and_then(|trades| {
                trades
                    .into_iter()
                    .find(|t| t.contract.contract.body.request_id == request_id)
            });
            return match stored {
                Some(t) => (TradeResponse::Stored(t.contract.trade_id()), None),
                None => (TradeResponse::Refused(TradeRefusal::UnknownTake), None),
            };
        };
        if contract.body.taker.peer_id().ok() != Some(peer) {
            return (TradeResponse::Refused(TradeRefusal::NotTheTaker), None);
        }
        let signed = SignedContract {
            contract,
            taker_signature,
        };
        if signed.verify().is_err() {
            return (
                TradeResponse::Refused(TradeRefusal::BadCountersignature),
                None,
            );
        }
        let trade_id = signed.trade_id();
        let record = TradeRecord {
            contract: signed,
            role: Role::Maker,
            stored_at: now(),
            acked: 0,
        };
        match self.store.commit_reservation(&request_id, &record) {
            Ok(Ok(_remaining)) => {
                self.emit(NodeEvent::TradeUpdated {
                    id: trade_id,
                    phase: Phase::Agreed,
                });
                (TradeResponse::Stored(trade_id), Some(offer_id))
            }
            Ok(Err(_)) => (TradeResponse::Refused(TradeRefusal::UnknownTake), None),
            Err(e) => {
                self.store_failed(e);
                (TradeResponse::Refused(TradeRefusal::Storage), None)
            }
        }
    }

    /// Either side: a step or chat line from the counterparty.
    fn on_message(&self, peer: PeerId, signed: Signed<TradeMessage>) -> TradeResponse {
        let msg = match validate(signed, now(), &self.limits) {
            Ok(m) => m,
            Err(e) => return TradeResponse::Refused(TradeRefusal::Invalid(e.to_string())),
        };
        if msg.author.peer_id().ok() != Some(peer) || msg.author == self.key.public() {
            return TradeResponse::Refused(TradeRefusal::NotTheAuthor);
        }
        let trade_id = msg.trade_id;
        let record = match self.store.trade_get(&trade_id) {
            Ok(Some(r)) => r,
            Ok(None) => return TradeResponse::Refused(TradeRefusal::UnknownTrade),
            Err(e) => {
                self.store_failed(e);
                return TradeResponse::Refused(TradeRefusal::Storage);
            }
        };
        let log = match self.store.trade_log(&trade_id) {
            Ok(l) => l,
            Err(e) => {
                self.store_failed(e);
                return TradeResponse::Refused(TradeRefusal::Storage);
            }
        };
        let contract = &record.contract.contract.body;
        let state = match TradeState::replay(contract, &trade_id, log.iter().map(|m| &m.body)) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("stored log of trade {trade_id} does not replay: {e}");
                return TradeResponse::Refused(TradeRefusal::Storage);
            }
        };
        if let Err(e) = state.admit(contract, &trade_id, &msg, &self.limits) {
            // A resend of what is already stored is acknowledged again, changing
            // nothing; anything else that reuses a seq is refused.
            if log.iter().any(|m| m.id() == msg.id()) {
                return TradeResponse::Ack {
                    trade_id,
                    seq: msg.seq,
                };
            }
            return TradeResponse::Refused(e.into());
        }
        match self.store.trade_append(&trade_id, msg.signed()) {
            Ok(AppendOutcome::Appended(_) | AppendOutcome::Duplicate) => {}
            Ok(AppendOutcome::UnknownTrade) => {
                return TradeResponse::Refused(TradeRefusal::UnknownTrade)
            }
            Err(e) => {
                self.store_failed(e);
                return TradeResponse::Refused(TradeRefusal::Storage);
            }
        }
        if let TradeAction::Chat { text } = &msg.action {
            self.emit(NodeEvent::Chat {
                id: trade_id,
                from: msg.author,
                text: text.clone(),
            });
        }
        let mut after = state;
        if after.apply(contract, &trade_id, &msg).is_ok() {
            self.emit(NodeEvent::TradeUpdated {
                id: trade_id,
                phase: after.phase_at(now()),
            });
        }
        TradeResponse::Ack {
            trade_id,
            seq: msg.seq,
        }
    }
}

/// Handles one inbound trade request and answers it.
pub(crate) async fn serve(
    inner: Arc<Inner>,
    peer: PeerId,
    request: TradeRequest,
    token: peerfx_net::ResponseToken,
) {
    let node = Node {
        inner: inner.clone(),
    };
    let _guard = inner.trade_lock.lock().await;
    let (response, reannounce) = match request {
        TradeRequest::Take(req) => (
            TradeResponse::Take(Box::new(inner.on_take(peer, req))),
            None,
        ),
        TradeRequest::Countersign {
            request_id,
            taker_signature,
        } => inner.on_countersign(peer, request_id, taker_signature),
        TradeRequest::Message(msg) => (inner.on_message(peer, msg), None),
    };
    drop(_guard);
    let _ = inner.net.respond_trade(token, response).await;
    if let Some(offer_id) = reannounce {
        // Tell everyone what remains after the fill.
        match inner.store.own_get(&offer_id) {
            Ok(Some(own)) => {
                if let Err(e) = node.announce(&own).await {
                    tracing::warn!("announcing fill of {offer_id}: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => inner.store_failed(e),
        }
    }
}

impl Node {
    /// Takes `give_amount` (minor units of the offer's `give`) of an offer in the
    /// book, optionally proposing `counter_rate` and choosing a payment method
    /// (default: the offer's first). Returns the stored trade.
    pub async fn take(
        &self,
        offer_id: OfferId,
        give_amount: Amount,
        counter_rate: Option<Rate>,
        payment_method: Option<PaymentMethod>,
    ) -> Result<TradeView, NodeError> {
        let inner = &self.inner;
        let entry = inner
            .store
            .book_get(&offer_id)?
            .ok_or(NodeError::NotInBook(offer_id))?;
        let offer = entry.offer;
        if offer.maker == inner.key.public() {
            return Err(NodeError::Take(RejectReason::SelfTake));
        }
        let maker_peer = offer
            .maker
            .peer_id()
            .map_err(|_| NodeError::BadInput("maker key is not a peer id".into()))?;
        let payment_method = match payment_method {
            Some(p) if !offer.payment_methods.contains(&p) => {
                return Err(NodeError::Take(RejectReason::PaymentMethodNotOffered))
            }
            Some(p) => p,
            None => offer
                .payment_methods
                .first()
                .cloned()
                .ok_or(NodeError::BadInput("offer has no payment method".into()))?,
        };
        let now = now();
        let request = Signed::sign(
            TakeRequest {
                offer_id,
                taker: inner.key.public(),
                give_amount,
                counter_rate,
                payment_method,
                created_at: now,
                nonce: rand::random(),
            },
            &inner.key,
        );
        let request = validate(request, now, &inner.limits)?;
        let reply = inner
            .net
            .trade(maker_peer, TradeRequest::Take(request.signed().clone()))
            .await?;
        let contract = match reply {
            TradeResponse::Take(reply) => match *reply {
                TakeReply::Accept(c) => c,
                TakeReply::Reject(r) => {
                    if r.verify().is_err()
                        || r.body.maker != offer.maker
                        || r.body.request_id != request.id()
                    {
                        return Err(NodeError::BadAnswer(
                            "the maker's reject is not signed by the maker".into(),
                        ));
                    }
                    return Err(NodeError::Take(r.body.reason));
                }
            },
            TradeResponse::Refused(e) => return Err(NodeError::TradeRefused(e)),
            other => return Err(NodeError::BadAnswer(format!("unexpected answer {other:?}"))),
        };
        let contract = validate(contract, now, &inner.limits)?;
        if contract.maker != offer.maker {
            return Err(NodeError::BadAnswer(
                "contract not signed by the maker".into(),
            ));
        }
        check_contract(&contract, &offer, &request)
            .map_err(|e| NodeError::BadAnswer(e.to_string()))?;
        let signed = SignedContract::countersign(contract.into_signed(), &inner.key);
        inner.store.negotiation_put(&Negotiation {
            contract: signed.clone(),
            expires_at: now.plus(inner.config.take_timeout.as_secs().max(1)),
        })?;
        self.confirm(&signed).await?;
        let record = inner
            .store
            .trade_get(&signed.trade_id())?
            .ok_or(NodeError::UnknownTrade(signed.trade_id()))?;
        inner.view(record)
    }

    /// Sends a countersignature and, once the maker has stored the trade, stores
    /// it too and forgets the negotiation.
    async fn confirm(&self, signed: &SignedContract) -> Result<(), NodeError> {
        let inner = &self.inner;
        let contract = &signed.contract.body;
        let maker_peer = contract
            .maker
            .peer_id()
            .map_err(|_| NodeError::BadInput("maker key".into()))?;
        let request = TradeRequest::Countersign {
            request_id: contract.request_id,
            taker_signature: signed.taker_signature,
        };
        match inner.net.trade(maker_peer, request).await? {
            TradeResponse::Stored(id) if id == signed.trade_id() => {
                let record = TradeRecord {
                    contract: signed.clone(),
                    role: Role::Taker,
                    stored_at: now(),
                    acked: 0,
                };
                inner.store.trade_insert(&record)?;
                inner.store.negotiation_remove(&contract.request_id)?;
                inner.emit(NodeEvent::TradeUpdated {
                    id,
                    phase: Phase::Agreed,
                });
                Ok(())
            }
            TradeResponse::Refused(e) => {
                inner.store.negotiation_remove(&contract.request_id)?;
                Err(NodeError::TradeRefused(e))
            }
            other => Err(NodeError::BadAnswer(format!("unexpected answer {other:?}"))),
        }
    }

    /// Signs and records a step (paid, received, cancel, dispute) or chat line,
    /// then delivers it. Returns the trade; its `undelivered` count says whether
    /// the peer has it yet (if not, it is resent until it does).
    pub async fn trade_step(
        &self,
        id: TradeId,
        action: TradeAction,
    ) -> Result<TradeView, NodeError> {
        let inner = &self.inner;
        {
            let _guard = inner.trade_lock.lock().await;
            let record = inner
                .store
                .trade_get(&id)?
                .ok_or(NodeError::UnknownTrade(id))?;
            let view = inner.view(record)?;
            let contract = &view.record.contract.contract.body;
            let msg = TradeMessage {
                trade_id: id,
                author: inner.key.public(),
                seq: view.state.next_seq(side(view.record.role)),
                created_at: now(),
                action,
            };
            let signed = validate(Signed::sign(msg, &inner.key), now(), &inner.limits)?;
            view.state
                .admit(contract, &id, &signed, &inner.limits)
                .map_err(NodeError::Step)?;
            inner.store.trade_append(&id, signed.signed())?;
            let mut state = view.state;
            if state.apply(contract, &id, &signed).is_ok() {
                inner.emit(NodeEvent::TradeUpdated {
                    id,
                    phase: state.phase_at(now()),
                });
            }
        }
        if let Err(e) = self.deliver(&id).await {
            tracing::info!("trade {id}: peer not reached ({e}); will retry");
        }
        self.trade(&id)
    }

    /// Sends this node's unacknowledged messages of a trade, in order.
    pub(crate) async fn deliver(&self, id: &TradeId) -> Result<(), NodeError> {
        let inner = &self.inner;
        let Some(record) = inner.store.trade_get(id)? else {
            return Ok(());
        };
        let me = inner.key.public();
        let c = &record.contract.contract.body;
        let peer_key = if c.maker == me { c.taker } else { c.maker };
        let peer = peer_key
            .peer_id()
            .map_err(|_| NodeError::BadInput("peer key".into()))?;
        for m in inner.store.trade_log(id)? {
            if m.body.author != me || m.body.seq <= record.acked {
                continue;
            }
            match inner
                .net
                .trade(peer, TradeRequest::Message(m.clone()))
                .await?
            {
                TradeResponse::Ack { trade_id, seq } if trade_id == *id && seq == m.body.seq => {
                    inner.store.trade_set_acked(id, seq)?;
                }
                TradeResponse::Refused(e) => return Err(NodeError::TradeRefused(e)),
                other => return Err(NodeError::BadAnswer(format!("unexpected answer {other:?}"))),
            }
        }
        Ok(())
    }

    /// One trade with its log and state.
    pub fn trade(&self, id: &TradeId) -> Result<TradeView, NodeError> {
        let record = self
            .inner
            .store
            .trade_get(id)?
            .ok_or(NodeError::UnknownTrade(*id))?;
        self.inner.view(record)
    }

    /// Every trade, newest first.
    pub fn trades(&self) -> Result<Vec<TradeView>, NodeError> {
        let mut out = self
            .inner
            .store
            .trade_list()?
            .into_iter()
            .map(|r| self.inner.view(r))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|v| std::cmp::Reverse(v.record.contract.contract.body.created_at));
        Ok(out)
    }

    /// Resends what peers have not acknowledged: countersignatures of pending
    /// negotiations and own trade messages. Called by the retry task.
    pub(crate) async fn retry_pending(&self) {
        let inner = &self.inner;
        let now_ts = now();
        if let Ok(negotiations) = inner.store.negotiation_list() {
            for n in negotiations {
                let id = n.contract.trade_id();
                if n.expires_at <= now_ts {
                    let _ = inner
                        .store
                        .negotiation_remove(&n.contract.contract.body.request_id);
                    continue;
                }
                if !inner.backoff.lock().is_ok_and(|b| b.due(&id)) {
                    continue;
                }
                let ok = self.confirm(&n.contract).await.is_ok();
                if let Ok(mut b) = inner.backoff.lock() {
                    if ok {
                        b.succeeded(&id)
                    } else {
                        b.failed(id)
                    }
                }
            }
        }
        let Ok(trades) = self.trades() else { return };
        for t in trades.into_iter().filter(|t| t.undelivered > 0) {
            let id = t.id();
            if !inner.backoff.lock().is_ok_and(|b| b.due(&id)) {
                continue;
            }
            let ok = self.deliver(&id).await.is_ok();
            if let Ok(mut b) = inner.backoff.lock() {
                if ok {
                    b.succeeded(&id)
                } else {
                    b.failed(id)
                }
            }
        }
    }
}
