//! Delivering this node's trade messages: each is appended to the author's
//! own log first (flushed), then sent; the trade record remembers the
//! highest seq the peer acknowledged, and the retry task resends the rest
//! with backoff per trade, across restarts, until acknowledged, or until the
//! peer refuses one for good (its reason is kept and shown; resending could
//! not change it, and later messages would only queue behind), or until a
//! day past the trade's settle deadline ([`RESEND_GRACE_SECS`]). The same task
//! resends the countersignatures of takes the maker has not confirmed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use peerfx_core::protocol::{TradeRefusal, TradeRequest, TradeResponse};
use peerfx_core::{Hash, TradeId};

use crate::locks::lock;
use crate::{now, Node, NodeError};

/// Whether a refusal of a trade message holds for good: the peer's state or
/// rules decided, not its load or disk.
pub(crate) fn is_final(refusal: &TradeRefusal) -> bool {
    matches!(
        refusal,
        TradeRefusal::Step(_)
            | TradeRefusal::UnknownTrade
            | TradeRefusal::NotTheAuthor
            | TradeRefusal::Invalid(_)
    )
}

/// How long after a trade's settle deadline its messages are still resent.
/// Past the settle deadline both nodes judge the trade from what they hold
/// (a close that never arrived judges the same way), so later delivery
/// changes no outcome: a day more gives a peer that was offline the chat
/// and the last steps, and then resending stops.
pub(crate) const RESEND_GRACE_SECS: u64 = 86_400;

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

impl Node {
    /// Sends this node's unacknowledged messages of a trade, in order.
    pub(crate) async fn deliver(&self, id: &TradeId) -> Result<(), NodeError> {
        let inner = &self.inner;
        let Some(record) = inner.store.trade_get(id)? else {
            return Ok(());
        };
        let me = inner.key.public();
        let c = &record.contract.contract.body;
        let peer_key = c.other_party(&me);
        let peer = peer_key
            .peer_id()
            .map_err(|_| NodeError::NotAPeer(peer_key))?;
        if now() >= c.settle_by().plus(RESEND_GRACE_SECS) {
            tracing::info!("trade {id}: a day past its settle deadline; no longer resent");
            lock(&inner.trades.undelivered).remove(id);
            return Ok(());
        }
        let mut acked = record.acked;
        for m in inner.store.trade_log(id)? {
            if m.body.author != me || m.body.seq <= acked {
                continue;
            }
            let answer = match inner
                .net
                .trade(peer, TradeRequest::Message(m.clone()))
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    // Unreachable: the rest waits in its mailboxes too.
                    if let Err(mail) = self.mail_undelivered(id).await {
                        tracing::debug!("trade {id}: not left in a mailbox: {mail}");
                    }
                    return Err(e.into());
                }
            };
            match answer {
                TradeResponse::Ack { trade_id, seq } if trade_id == *id && seq == m.body.seq => {
                    inner.store.trade_set_acked(id, seq).await?;
                    acked = seq;
                }
                TradeResponse::Refused(e) => {
                    if is_final(&e) {
                        // Resending cannot change the answer, and every later
                        // message would queue behind this one: stop, and keep
                        // the reason for the user.
                        tracing::warn!("trade {id}: the peer refused message {}: {e}", m.body.seq);
                        inner
                            .store
                            .trade_set_refused(id, m.body.seq, e.to_string())
                            .await?;
                        lock(&inner.trades.undelivered).remove(id);
                    }
                    return Err(NodeError::TradeRefused(e));
                }
                _ => return Err(NodeError::BadAnswer("an answer of another kind")),
            }
        }
        lock(&inner.trades.undelivered).remove(id);
        Ok(())
    }

    /// Resends what peers have not acknowledged: countersignatures of pending
    /// negotiations, own trade messages, and pending cancels. Called by the
    /// retry task.
    pub(crate) async fn retry_pending(&self) {
        let inner = &self.inner;
        let now_ts = now();
        if let Ok(negotiations) = inner.store.negotiation_list() {
            for n in negotiations {
                let id = n.contract.trade_id();
                if n.expires_at <= now_ts {
                    let request = n.contract.contract.body.request_id;
                    if let Err(e) = inner.store.negotiation_remove(&request).await {
                        inner.store_failed(e);
                    }
                    continue;
                }
                if !self.backoff_due(&id) {
                    continue;
                }
                let ok = self.confirm(&n.contract).await.is_ok();
                self.settle_backoff(id, ok);
            }
        }
        let pending: Vec<TradeId> = lock(&inner.trades.undelivered).iter().copied().collect();
        for id in pending {
            if !self.backoff_due(&id) {
                continue;
            }
            let ok = self.deliver(&id).await.is_ok();
            self.settle_backoff(id, ok);
        }
        self.retry_cancels().await;
    }

    /// Whether trade (or negotiation) `id` may be resent now.
    pub(crate) fn backoff_due(&self, id: &Hash) -> bool {
        lock(&self.inner.trades.backoff).due(id)
    }

    pub(crate) fn settle_backoff(&self, id: Hash, ok: bool) {
        let mut b = lock(&self.inner.trades.backoff);
        if ok {
            b.succeeded(&id)
        } else {
            b.failed(id)
        }
    }

    /// Finds the trades with undelivered own messages, at start.
    pub(crate) fn load_undelivered(&self) -> Result<(), NodeError> {
        let inner = &self.inner;
        let found = inner.store.trades_with_unacked(&inner.key.public())?;
        lock(&inner.trades.undelivered).extend(found);
        Ok(())
    }
}
