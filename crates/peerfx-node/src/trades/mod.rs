//! Negotiation and trades over `/peerfx/trade`.
//!
//! - [`take`]: the taker's side of a take: request, check the contract,
//!   countersign, store.
//! - [`maker`]: what a node answers to takes, countersignatures and trade
//!   messages from peers.
//! - [`guard`]: how much and how often one taker may reserve.
//! - [`cancel`]: a cancel takes effect on both sides or on neither.
//! - [`delivery`]: sending this node's steps and chat lines until the peer
//!   acknowledges them, with backoff, across restarts.
//! - here: the trade views, and taking a step.
//!
//! A trade's state is derived from its signed log. The store keeps, beside
//! each log, its length and the state it replays to (written in the same
//! transaction as each message), so a message costs one check against that
//! state and one append, however long the log: nothing is decoded or
//! replayed per message. Check-then-append runs inside the store's writer,
//! so two messages of one trade can never both pass the same check; a lock
//! per trade orders this node's own steps (each takes the next seq).

mod cancel;
mod delivery;
mod guard;
mod maker;
mod take;

pub(crate) use delivery::Backoff;
pub(crate) use maker::serve;

use std::collections::HashSet;
use std::sync::Mutex;

use peerfx_core::evidence::{evidence, Evidence};
use peerfx_core::trade::{Side, TradeState};
use peerfx_core::validate::validate;
use peerfx_core::{Signed, TradeAction, TradeId, TradeMessage, Verified};
use peerfx_store::own::OwnStatus;
use peerfx_store::trades::{AppendOutcome, Role, TradeHead, TradeRecord};

use crate::inner::Inner;
use crate::locks::{lock, KeyedLocks};
use crate::view::{PageRequest, Paged, TradeView};
use crate::{now, Node, NodeError, NodeEvent};

/// Trade bookkeeping shared by the node's tasks.
#[derive(Default)]
pub(crate) struct TradeRoom {
    /// One lock per trade, for this node's own steps.
    pub(crate) locks: KeyedLocks<TradeId>,
    /// Resend backoff per trade.
    pub(crate) backoff: Mutex<Backoff>,
    /// Trades with own messages the peer has not acknowledged: what the
    /// retry task looks at, instead of every trade.
    pub(crate) undelivered: Mutex<HashSet<TradeId>>,
    /// What takers of this node's offers may hold and how often they may try.
    pub(crate) guard: Mutex<guard::TakeGuard>,
}

pub(crate) fn side(role: Role) -> Side {
    match role {
        Role::Maker => Side::Maker,
        Role::Taker => Side::Taker,
    }
}

impl Inner {
    /// A view of a trade; its log only if `with_log`.
    fn view(
        &self,
        record: TradeRecord,
        head: TradeHead,
        with_log: bool,
    ) -> Result<TradeView, NodeError> {
        let id = record.contract.trade_id();
        let log = if with_log {
            self.store.trade_log(&id)?
        } else {
            Vec::new()
        };
        let role = side(record.role);
        let own_last = head.state.progress(role).last_seq;
        let (phase, failure) = head.state.outcome_at(now());
        Ok(TradeView {
            cancel_pending: self.store.pending_cancel(&id)?.is_some(),
            refused: self.store.trade_refusal(&id)?,
            phase,
            failure,
            can_close: head.state.closable(role, now()),
            undelivered: own_last.saturating_sub(record.acked) as usize,
            messages: head.log_len,
            state: head.state,
            role,
            stored_at: record.stored_at,
            contract: record.contract,
            log,
        })
    }

    /// A stored trade with its head, or [`NodeError::UnknownTrade`].
    fn trade_record(&self, id: &TradeId) -> Result<(TradeRecord, TradeHead), NodeError> {
        let record = self
            .store
            .trade_get(id)?
            .ok_or(NodeError::UnknownTrade(*id))?;
        let head = self
            .store
            .trade_head(id)?
            .ok_or(NodeError::UnknownTrade(*id))?;
        Ok((record, head))
    }
}

impl Node {
    /// One trade with its log and state.
    pub fn trade(&self, id: &TradeId) -> Result<TradeView, NodeError> {
        let (record, head) = self.inner.trade_record(id)?;
        self.inner.view(record, head, true)
    }

    /// The evidence of a trade: its contract signed by both and its whole
    /// signed log, which anyone can check without a node
    /// ([`peerfx_core::evidence::verify_evidence`]).
    pub fn trade_evidence(&self, id: &TradeId) -> Result<Evidence, NodeError> {
        let (record, _) = self.inner.trade_record(id)?;
        let log = self.inner.store.trade_log(id)?;
        Ok(evidence(&record.contract, &log))
    }

    /// Trades, newest first, a page at a time, without their logs (see
    /// [`Node::trade`] for one trade's log and chat).
    pub fn trades(&self, page: &PageRequest) -> Result<Paged<TradeView>, NodeError> {
        let after = page
            .after
            .as_deref()
            .map(|c| c.parse::<TradeId>())
            .transpose()
            .map_err(|_| NodeError::BadCursor)?;
        let limit = page.effective_limit();
        let rows = self.inner.store.trade_page(after.as_ref(), limit + 1)?;
        let more = rows.len() > limit;
        let items = rows
            .into_iter()
            .take(limit)
            .map(|(record, head)| self.inner.view(record, head, false))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more {
            items.last().map(|t| t.id().to_hex())
        } else {
            None
        };
        Ok(Paged { items, next })
    }

    /// Signs and records a step (paid, received, cancel, dispute, close) or
    /// chat line, then delivers it. For a close the node fills in `seen`. Returns the trade; its `undelivered` count says whether
    /// the peer has it yet (if not, it is resent until it does). A cancel is
    /// sent first and recorded only once the peer has it (see [`cancel`]).
    pub async fn trade_step(
        &self,
        id: TradeId,
        action: TradeAction,
    ) -> Result<TradeView, NodeError> {
        if action == TradeAction::Cancel {
            return self.cancel_trade(id).await;
        }
        let inner = &self.inner;
        {
            let _trade = inner.trades.locks.lock(id).await;
            if inner.store.pending_cancel(&id)?.is_some() {
                return Err(NodeError::CancelPending(id));
            }
            let (record, head) = inner.trade_record(&id)?;
            let contract = &record.contract.contract.body;
            let me = side(record.role);
            // A close is judged on what this node has of the other side
            // (see [`peerfx_core::trade`]), so the node says how much that is.
            let action = match action {
                TradeAction::Close { .. } => TradeAction::Close {
                    seen: head.state.progress(me.other()).last_seq,
                },
                other => other,
            };
            let msg = TradeMessage {
                trade_id: id,
                author: inner.key.public(),
                seq: head.state.next_seq(me),
                created_at: now(),
                action,
            };
            let signed = validate(Signed::sign(msg, &inner.key), now(), inner.limits())?;
            // Checked here for a clear error before anything is written; the
            // store checks again, atomically with the append.
            head.state
                .admit(contract, &id, &signed, inner.limits(), now())
                .map_err(NodeError::Step)?;
            let (state, _) = inner.append(&id, &signed).await?;
            lock(&inner.trades.undelivered).insert(id);
            inner.emit(NodeEvent::TradeUpdated {
                id,
                phase: state.phase_at(now()),
            });
        }
        self.release_unfilled(&id).await;
        if let Err(e) = self.deliver(&id).await {
            tracing::info!("trade {id}: peer not reached ({e}); will retry");
        }
        self.trade(&id)
    }
}

impl Inner {
    /// Appends a verified message to its trade's log if it is admissible
    /// there now, atomically; returns the trade's state after it, and whether
    /// the message is new (one already in the log is not appended again).
    pub(crate) async fn append(
        &self,
        id: &TradeId,
        msg: &Verified<TradeMessage>,
    ) -> Result<(TradeState, bool), NodeError> {
        let limits = self.limits().clone();
        let body = msg.body().clone();
        let trade_id = *id;
        let received_at = now();
        let outcome = self
            .store
            .trade_append(id, msg.signed(), move |record, state| {
                let contract = &record.contract.contract.body;
                state.admit(contract, &trade_id, &body, &limits, received_at)?;
                let mut next = state.clone();
                next.apply(contract, &trade_id, &body)?;
                Ok(next)
            })
            .await?
            .map_err(NodeError::Step)?;
        match outcome {
            AppendOutcome::Appended { state, .. } => Ok((state, true)),
            AppendOutcome::Duplicate { state } => Ok((state, false)),
            AppendOutcome::UnknownTrade => Err(NodeError::UnknownTrade(*id)),
        }
    }
}

impl Node {
    /// If trade `id` ended without a fill (cancelled, or expired with nobody
    /// paid) and this node is its maker, gives its amount back to the offer,
    /// once, and announces what remains (see
    /// [`peerfx_store::Store::trade_release`]). Called after every step of a
    /// trade and, for expiries, by the maintenance task.
    pub(crate) async fn release_unfilled(&self, id: &TradeId) {
        let inner = &self.inner;
        let released = match inner.store.trade_release(id, now()).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => return inner.store_failed(e),
        };
        tracing::info!(
            "trade {id} ended unfilled: {} back to offer {}, {} remaining",
            released.amount,
            released.offer_id,
            released.remaining
        );
        match inner.store.own_get(&released.offer_id) {
            Ok(Some(own)) if own.status == OwnStatus::Open => {
                if let Err(e) = self.announce(&own).await {
                    tracing::warn!("announcing {}: {e}", released.offer_id);
                }
            }
            Ok(_) => {}
            Err(e) => inner.store_failed(e),
        }
    }
}
