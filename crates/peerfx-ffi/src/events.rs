//! Events, pushed to the app through a trait the app implements
//! ([`EventListener`]).
//!
//! The node never waits for the app: events go out on a broadcast channel
//! that drops the oldest for a reader that falls behind. One thread of its
//! own per listener reads that channel and calls the app, so a slow or
//! blocking callback delays only the events after it (and, past the
//! channel's capacity, becomes [`Event::Missed`]), never the node.

use std::sync::Arc;

use peerfx_node::{NodeEvent, RemovalReason};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::types::peer_of;

/// Something that happened. Ids are hex, peers PeerIds.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Event {
    /// An offer entered the book.
    OfferAdded {
        /// The offer.
        id: String,
        /// Its market.
        market: String,
    },
    /// An offer's remaining amount changed.
    OfferUpdated {
        /// The offer.
        id: String,
        /// What remains, minor units of its `give` currency.
        remaining_minor: u64,
    },
    /// An offer left the book: "cancelled", "filled", "expired", "evicted".
    OfferRemoved {
        /// The offer.
        id: String,
        /// Why.
        reason: String,
    },
    /// One of your open offers expires soon: time to republish it.
    OfferExpiringSoon {
        /// The offer.
        id: String,
        /// When, Unix seconds.
        expires_at: u64,
    },
    /// A peer connected.
    PeerConnected {
        /// The peer.
        peer: String,
    },
    /// A peer disconnected.
    PeerDisconnected {
        /// The peer.
        peer: String,
    },
    /// A trade was created or changed state.
    TradeUpdated {
        /// The trade.
        id: String,
        /// Its state now.
        state: String,
    },
    /// A rating arrived, or you rated a trade.
    Rated {
        /// The trade rated.
        trade_id: String,
        /// Who rated.
        rater: String,
        /// Who was rated.
        rated: String,
        /// 1 to 5.
        score: u8,
    },
    /// The counterparty sent a chat line.
    Chat {
        /// The trade.
        trade_id: String,
        /// Its author.
        from: String,
        /// The text.
        text: String,
    },
    /// The listener fell behind and this many events were dropped: read
    /// what matters (trades, book) again.
    Missed {
        /// How many.
        count: u64,
    },
}

impl From<NodeEvent> for Event {
    fn from(e: NodeEvent) -> Event {
        match e {
            NodeEvent::OfferAdded { id, market } => Event::OfferAdded {
                id: id.to_hex(),
                market: market.to_string(),
            },
            NodeEvent::OfferUpdated { id, remaining } => Event::OfferUpdated {
                id: id.to_hex(),
                remaining_minor: remaining.0,
            },
            NodeEvent::OfferRemoved { id, reason } => Event::OfferRemoved {
                id: id.to_hex(),
                reason: match reason {
                    RemovalReason::Cancelled => "cancelled",
                    RemovalReason::Filled => "filled",
                    RemovalReason::Expired => "expired",
                    RemovalReason::Evicted => "evicted",
                }
                .into(),
            },
            NodeEvent::OfferExpiringSoon { id, expires_at } => Event::OfferExpiringSoon {
                id: id.to_hex(),
                expires_at: expires_at.0,
            },
            NodeEvent::PeerConnected { peer } => Event::PeerConnected {
                peer: peer.to_string(),
            },
            NodeEvent::PeerDisconnected { peer } => Event::PeerDisconnected {
                peer: peer.to_string(),
            },
            NodeEvent::TradeUpdated { id, phase } => Event::TradeUpdated {
                id: id.to_hex(),
                state: phase.to_string(),
            },
            NodeEvent::Rated {
                trade_id,
                rater,
                rated,
                score,
            } => Event::Rated {
                trade_id: trade_id.to_hex(),
                rater: peer_of(&rater),
                rated: peer_of(&rated),
                score,
            },
            NodeEvent::Chat { id, from, text } => Event::Chat {
                trade_id: id.to_hex(),
                from: peer_of(&from),
                text,
            },
        }
    }
}

/// What the app implements to hear events. Called on a thread of its own,
/// one event at a time, in order.
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: Event);
}

/// A running listener thread; stops when dropped.
pub(crate) struct Listening {
    stop: CancellationToken,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts a thread that hands every event of `events` to `listener`.
pub(crate) fn listen(
    runtime: &tokio::runtime::Handle,
    mut events: broadcast::Receiver<NodeEvent>,
    listener: Arc<dyn EventListener>,
) -> std::io::Result<Listening> {
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let runtime = runtime.clone();
    std::thread::Builder::new()
        .name("peerfx-events".into())
        .spawn(move || loop {
            let next = runtime.block_on(async {
                tokio::select! {
                    e = events.recv() => Some(e),
                    _ = stopped.cancelled() => None,
                }
            });
            match next {
                Some(Ok(e)) => listener.on_event(e.into()),
                Some(Err(RecvError::Lagged(count))) => listener.on_event(Event::Missed { count }),
                // The node is gone, or the listener was replaced.
                Some(Err(RecvError::Closed)) | None => break,
            }
        })?;
    Ok(Listening { stop })
}
