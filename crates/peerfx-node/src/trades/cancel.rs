//! Cancelling a trade: on both sides, or on neither.
//!
//! A cancel before anyone paid ends the trade at once, and that is where a
//! race splits two nodes: the maker cancels while the taker marks paid, each
//! message crosses the other, the maker holds the trade cancelled and refuses
//! the `Paid`, the taker holds it paid. So a cancel is never applied on the
//! author's side first:
//!
//! 1. the signed cancel is kept as *pending* (durably) and sent;
//! 2. the peer applies it and acknowledges, and only then does the author
//!    append it to its own log: both logs hold it, both states agree;
//! 3. a peer that has marked paid, where the canceller has not acknowledged
//!    that `Paid` yet, refuses the cancel ([`StepError::CrossedPaid`]): the
//!    canceller cancelled without knowing. It drops the cancel, the `Paid`
//!    arrives through the peer's own delivery, and both hold the trade paid;
//! 4. while the peer is unreachable the cancel stays pending and is resent
//!    with the other undelivered messages; nothing else of this side can be
//!    sent meanwhile (it would take the cancel's seq). The deadline still
//!    ends an unpaid trade on both sides if the peer never returns.
//!
//! A peer that already holds the trade final (its own cancel came first, or
//! it expired) answers with a refusal or an acknowledgement that changes
//! nothing: either way the two sides agree.

use peerfx_core::protocol::{TradeRefusal, TradeRequest, TradeResponse};
use peerfx_core::trade::StepError;
use peerfx_core::validate::validate;
use peerfx_core::{Signed, TradeAction, TradeId, TradeMessage};

use super::delivery::is_final;
use super::side;
use crate::inner::Inner;
use crate::view::TradeView;
use crate::{now, Node, NodeError, NodeEvent};

/// What became of a pending cancel that was sent.
pub(crate) enum Sent {
    /// Acknowledged, and applied here too.
    Applied,
    /// Refused for good: dropped, nothing changed on either side.
    Refused(TradeRefusal),
    /// Not answered (unreachable, busy): still pending.
    NotYet(NodeError),
}

impl Node {
    /// [`Node::trade_step`] for a cancel: see the module doc.
    pub(crate) async fn cancel_trade(&self, id: TradeId) -> Result<TradeView, NodeError> {
        let inner = &self.inner;
        let signed = {
            let _trade = inner.trades.locks.lock(id).await;
            if inner.store.pending_cancel(&id)?.is_some() {
                return Err(NodeError::CancelPending(id));
            }
            let (record, head) = inner.trade_record(&id)?;
            let msg = TradeMessage {
                trade_id: id,
                author: inner.key.public(),
                seq: head.state.next_seq(side(record.role)),
                created_at: now(),
                action: TradeAction::Cancel,
            };
            let signed = validate(Signed::sign(msg, &inner.key), now(), inner.limits())?;
            head.state
                .admit(
                    &record.contract.contract.body,
                    &id,
                    &signed,
                    inner.limits(),
                    now(),
                )
                .map_err(NodeError::Step)?;
            inner.store.pending_cancel_put(&id, signed.signed()).await?;
            signed.into_signed()
        };
        match self.send_cancel(&id, &signed).await? {
            Sent::Applied => {}
            Sent::Refused(e) => return Err(NodeError::TradeRefused(e)),
            Sent::NotYet(e) => {
                tracing::info!("trade {id}: cancel not answered yet ({e}); resent until it is")
            }
        }
        self.trade(&id)
    }

    /// Sends a pending cancel (after this side's earlier undelivered
    /// messages, which the peer needs first); applies it once acknowledged,
    /// drops it once refused for good.
    pub(crate) async fn send_cancel(
        &self,
        id: &TradeId,
        msg: &Signed<TradeMessage>,
    ) -> Result<Sent, NodeError> {
        let inner = &self.inner;
        if let Err(e) = self.deliver(id).await {
            return Ok(Sent::NotYet(e));
        }
        let peer = inner.peer_of_trade(id)?;
        let answer = match inner
            .net
            .trade(peer, TradeRequest::Message(msg.clone()))
            .await
        {
            Ok(answer) => answer,
            Err(e) => return Ok(Sent::NotYet(e.into())),
        };
        match answer {
            TradeResponse::Ack { trade_id, seq } if trade_id == *id && seq == msg.body.seq => {
                self.apply_acknowledged_cancel(id, msg).await?;
                Ok(Sent::Applied)
            }
            TradeResponse::Refused(e) if is_final(&e) => {
                tracing::info!("trade {id}: the peer refused the cancel: {e}");
                inner.store.pending_cancel_remove(id).await?;
                Ok(Sent::Refused(e))
            }
            TradeResponse::Refused(e) => Ok(Sent::NotYet(NodeError::TradeRefused(e))),
            _ => Ok(Sent::NotYet(NodeError::BadAnswer(
                "an answer of another kind",
            ))),
        }
    }

    /// The peer has the cancel: append it here too (a duplicate is fine),
    /// record the acknowledgement, forget it as pending.
    async fn apply_acknowledged_cancel(
        &self,
        id: &TradeId,
        msg: &Signed<TradeMessage>,
    ) -> Result<(), NodeError> {
        let inner = &self.inner;
        let verified = validate(msg.clone(), now(), inner.limits())?;
        match inner.append(id, &verified).await {
            Ok((state, _)) => inner.emit(NodeEvent::TradeUpdated {
                id: *id,
                phase: state.phase_at(now()),
            }),
            // Final here already (the peer's cancel came first, or the
            // deadline passed): the cancel changes nothing on either side.
            Err(NodeError::Step(e)) => {
                tracing::info!("trade {id}: the acknowledged cancel changes nothing here: {e}")
            }
            Err(e) => return Err(e),
        }
        inner.store.trade_set_acked(id, msg.body.seq).await?;
        inner.store.pending_cancel_remove(id).await?;
        self.release_unfilled(id).await;
        Ok(())
    }

    /// Resends the pending cancels whose backoff is due (the retry task).
    pub(crate) async fn retry_cancels(&self) {
        let pending = match self.inner.store.pending_cancels() {
            Ok(p) => p,
            Err(e) => return self.inner.store_failed(e),
        };
        for msg in pending {
            let id = msg.body.trade_id;
            // Ended meanwhile (the deadline passed with nobody paid, on both
            // sides alike): the cancel has nothing left to do.
            let ended = self
                .inner
                .store
                .trade_head(&id)
                .map(|h| h.is_none_or(|h| h.state.phase_at(now()).is_final()));
            if matches!(ended, Ok(true)) {
                tracing::info!("trade {id} ended before its cancel was answered; dropped");
                if let Err(e) = self.inner.store.pending_cancel_remove(&id).await {
                    self.inner.store_failed(e);
                }
                continue;
            }
            if !self.backoff_due(&id) {
                continue;
            }
            let ok = matches!(
                self.send_cancel(&id, &msg).await,
                Ok(Sent::Applied | Sent::Refused(_))
            );
            self.settle_backoff(id, ok);
        }
    }
}

impl Inner {
    /// The counterparty of a stored trade, as a peer.
    pub(crate) fn peer_of_trade(&self, id: &TradeId) -> Result<peerfx_net::PeerId, NodeError> {
        let record = self
            .store
            .trade_get(id)?
            .ok_or(NodeError::UnknownTrade(*id))?;
        let other = record
            .contract
            .contract
            .body
            .other_party(&self.key.public());
        other.peer_id().map_err(|_| NodeError::NotAPeer(other))
    }

    /// As the receiver of a cancel: the seq of this node's `Paid` in trade
    /// `id` if the peer has not acknowledged it yet (the cancel then crossed
    /// it, see the module doc).
    pub(crate) fn unacknowledged_paid(&self, id: &TradeId) -> Result<Option<u32>, NodeError> {
        let Some(record) = self.store.trade_get(id)? else {
            return Ok(None);
        };
        let me = self.key.public();
        let paid = self
            .store
            .trade_log(id)?
            .into_iter()
            .find(|m| m.body.author == me && m.body.action == TradeAction::Paid)
            .map(|m| m.body.seq);
        Ok(paid.filter(|seq| *seq > record.acked))
    }
}

/// The refusal for a cancel that crossed this node's `Paid`.
pub(crate) fn crossed(paid_seq: u32) -> TradeRefusal {
    TradeRefusal::Step(StepError::CrossedPaid { paid_seq })
}
