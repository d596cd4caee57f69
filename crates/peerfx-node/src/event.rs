//! What a node tells its embedder as it happens: a broadcast of
//! [`NodeEvent`]s ([`crate::Node::events`]). A slow subscriber misses events
//! (it sees a lag) rather than slowing the node.

use peerfx_core::trade::Phase;
use peerfx_core::{Amount, Market, OfferId, PublicKey, Timestamp, TradeId};
use peerfx_net::PeerId;

/// Why an offer left the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    /// Its maker cancelled it.
    Cancelled,
    /// Nothing remains.
    Filled,
    /// It expired.
    Expired,
    /// The book was full, and it made room for an offer of a market with
    /// fewer offers.
    Evicted,
}

/// Something that happened, for UIs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// An offer entered the book.
    OfferAdded {
        /// The offer.
        id: OfferId,
        /// Its market.
        market: Market,
    },
    /// An offer's remaining amount changed.
    OfferUpdated {
        /// The offer.
        id: OfferId,
        /// What remains.
        remaining: Amount,
    },
    /// An offer left the book.
    OfferRemoved {
        /// The offer.
        id: OfferId,
        /// Why.
        reason: RemovalReason,
    },
    /// A peer connected.
    PeerConnected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer disconnected.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// One of this node's own open offers expires soon (sent once per
    /// offer, [`crate::config::Timers::expiring_soon`] ahead): time to
    /// republish it.
    OfferExpiringSoon {
        /// The offer.
        id: OfferId,
        /// When it expires.
        expires_at: Timestamp,
    },
    /// A trade was created or changed phase.
    TradeUpdated {
        /// The trade.
        id: TradeId,
        /// Its phase now.
        phase: Phase,
    },
    /// A rating arrived (or this node rated a trade).
    Rated {
        /// The trade rated.
        trade_id: TradeId,
        /// Who rated.
        rater: PublicKey,
        /// Who was rated.
        rated: PublicKey,
        /// 1..=5.
        score: u8,
    },
    /// The counterparty sent a chat line.
    Chat {
        /// The trade.
        id: TradeId,
        /// Its author.
        from: PublicKey,
        /// The text (validated: no control or bidi characters).
        text: String,
    },
}
