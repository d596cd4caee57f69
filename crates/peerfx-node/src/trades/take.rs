//! The taker's side of a take.
//!
//! 1. sign a `TakeRequest` and send it to the maker;
//! 2. the maker (the only lock on its offer) checks it, reserves the amount in
//!    one transaction together with the contract it signs, and answers Accept
//!    or a signed Reject;
//! 3. the taker checks every term of the contract against the offer and its
//!    request, countersigns, stores a *negotiation* (flushed), and sends the
//!    countersignature;
//! 4. the maker commits the reservation and stores the trade in one
//!    transaction (flushed) and answers Stored; the taker then stores the
//!    trade too.
//!
//! If the answer in step 4 is lost (crash, network), the taker resends the
//! countersignature from its negotiation until the maker answers or the
//! reservation has expired ([`super::delivery`]); the maker's side is
//! idempotent. So a trade one side acknowledged is never lost by the other,
//! and a reservation nobody confirms is released by the maker's maintenance.

use std::time::{Duration, Instant};

use peerfx_core::protocol::{TradeRequest, TradeResponse};
use peerfx_core::trade::{check_contract, DeadlineBounds, Phase};
use peerfx_core::validate::validate;
use peerfx_core::{
    fill_range, Amount, OfferId, PaymentMethod, Rate, RejectReason, Signed, SignedContract,
    TakeReply, TakeRequest,
};
use peerfx_store::trades::{Negotiation, Role, TradeRecord};

use crate::view::TradeView;
use crate::{now, Node, NodeError, NodeEvent};

impl Node {
    /// Takes `give_amount` (minor units of the offer's `give`) of an offer in the
    /// book, optionally proposing `counter_rate` and choosing a payment method
    /// (default: the offer's first). Returns the stored trade.
    ///
    /// A maker that answers "reserved by other takes" or "too many takes"
    /// says when to come back; the take tries again then, for up to
    /// [`crate::config::TradeConfig::take_patience`], and otherwise fails
    /// with that answer.
    pub async fn take(
        &self,
        offer_id: OfferId,
        give_amount: Amount,
        counter_rate: Option<Rate>,
        payment_method: Option<PaymentMethod>,
    ) -> Result<TradeView, NodeError> {
        let give_up = Instant::now() + self.inner.config.trade.take_patience;
        loop {
            let attempt = self
                .take_once(offer_id, give_amount, counter_rate, payment_method.clone())
                .await;
            let wait = match &attempt {
                Err(NodeError::Take(
                    RejectReason::Reserved { retry_after_secs }
                    | RejectReason::Throttled { retry_after_secs },
                )) => Duration::from_secs(*retry_after_secs),
                _ => return attempt,
            };
            if Instant::now() + wait > give_up {
                return attempt;
            }
            tracing::info!(
                "take of {offer_id}: {:?}; trying again in {wait:?}",
                attempt.err()
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One try of [`Node::take`].
    async fn take_once(
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
        if self.seen().await?.of(&entry) == crate::Presence::Offline {
            return Err(NodeError::MakerOffline {
                id: offer_id,
                silent_secs: crate::now().since(entry.announced_at),
            });
        }
        let offer = entry.offer;
        if offer.maker == inner.key.public() {
            return Err(NodeError::Take(RejectReason::SelfTake));
        }
        // What the book says can be taken: the maker decides, but a take
        // that cannot fit is refused here with the range it can.
        if let Some((min, max)) = fill_range(offer.body(), entry.remaining) {
            if give_amount < min || give_amount > max {
                return Err(NodeError::AmountOutOfRange {
                    min,
                    max,
                    currency: offer.give,
                });
            }
        }
        let maker_peer = offer
            .maker
            .peer_id()
            .map_err(|_| NodeError::NotAPeer(offer.maker))?;
        let payment_method = match payment_method {
            Some(p) if !offer.payment_methods.contains(&p) => {
                return Err(NodeError::Take(RejectReason::PaymentMethodNotOffered))
            }
            Some(p) => p,
            // Validation guarantees at least one.
            None => offer
                .payment_methods
                .first()
                .cloned()
                .unwrap_or_else(PaymentMethod::cash),
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
        let request = validate(request, now, inner.limits())?;
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
                        return Err(NodeError::BadAnswer("a reject not signed by the maker"));
                    }
                    return Err(NodeError::Take(r.body.reason));
                }
            },
            TradeResponse::Refused(e) => return Err(NodeError::TradeRefused(e)),
            _ => return Err(NodeError::BadAnswer("an answer of another kind")),
        };
        let contract = validate(contract, now, inner.limits())?;
        if contract.maker != offer.maker {
            return Err(NodeError::BadAnswer("a contract not signed by the maker"));
        }
        let trade = &inner.config.trade;
        let bounds = DeadlineBounds {
            min_window_secs: trade.min_payment_window.as_secs(),
            max_window_secs: trade.max_payment_window.as_secs(),
            max_clock_skew_secs: inner.limits().max_clock_skew_secs,
        };
        check_contract(&contract, &offer, &request, now, &bounds)?;
        let signed = SignedContract::countersign(contract.into_signed(), &inner.key);
        inner
            .store
            .negotiation_put(&Negotiation {
                contract: signed.clone(),
                expires_at: now.plus(inner.config.trade.take_timeout.as_secs().max(1)),
            })
            .await?;
        self.confirm(&signed).await?;
        self.trade(&signed.trade_id())
    }

    /// Sends a countersignature and, once the maker has stored the trade, stores
    /// it too and forgets the negotiation.
    pub(crate) async fn confirm(&self, signed: &SignedContract) -> Result<(), NodeError> {
        let inner = &self.inner;
        let contract = &signed.contract.body;
        let maker_peer = contract
            .maker
            .peer_id()
            .map_err(|_| NodeError::NotAPeer(contract.maker))?;
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
                inner.store.trade_insert(&record).await?;
                inner.store.negotiation_remove(&contract.request_id).await?;
                inner.emit(NodeEvent::TradeUpdated {
                    id,
                    phase: Phase::Agreed,
                });
                Ok(())
            }
            TradeResponse::Refused(e) if !e.is_transient() => {
                inner.store.negotiation_remove(&contract.request_id).await?;
                Err(NodeError::TradeRefused(e))
            }
            TradeResponse::Refused(e) => Err(NodeError::TradeRefused(e)),
            _ => Err(NodeError::BadAnswer("an answer of another kind")),
        }
    }
}
