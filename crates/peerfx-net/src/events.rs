//! What the network hands the node: gossip awaiting a verdict, inbound
//! requests awaiting an answer, and control events, each on its own
//! channel ([`NetEvents`]), with the tokens that tie an answer to its
//! question.

use peerfx_core::protocol::{DigestRequest, MailboxRequest, SyncRequest, TradeRequest};
use tokio::sync::mpsc;

use crate::{Multiaddr, PeerId};

/// The verdict on a gossiped message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid and new: forward it.
    Accept,
    /// Invalid: drop it and penalise the peer that sent it.
    Reject,
    /// Valid but not worth forwarding (stale, duplicate): drop it quietly.
    Ignore,
}

/// Identifies a gossiped message awaiting its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GossipToken {
    pub(crate) id: Vec<u8>,
    pub(crate) source: PeerId,
}

/// Identifies an inbound request awaiting its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseToken(pub(crate) u64);

/// A gossiped message awaiting the node's verdict ([`crate::NetHandle::report`]).
#[derive(Debug)]
pub struct Gossip {
    /// The verdict token.
    pub token: GossipToken,
    /// The peer that forwarded it.
    pub source: PeerId,
    /// The topic.
    pub topic: String,
    /// The payload.
    pub data: Vec<u8>,
}

/// An inbound request awaiting the node's answer.
#[derive(Debug)]
pub enum Request {
    /// A peer asks for a page of a market; answer with [`crate::NetHandle::respond_sync`].
    Sync {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: SyncRequest,
        /// The response token.
        token: ResponseToken,
    },
    /// A peer compares its book of a market with ours; answer with
    /// [`crate::NetHandle::respond_digest`].
    Digest {
        /// Who asks.
        peer: PeerId,
        /// Its digest.
        request: DigestRequest,
        /// The response token.
        token: ResponseToken,
    },
    /// A peer deposits, fetches or deletes mailbox envelopes; answer with
    /// [`crate::NetHandle::respond_mailbox`].
    Mailbox {
        /// Who asks.
        peer: PeerId,
        /// What.
        request: MailboxRequest,
        /// The response token.
        token: ResponseToken,
    },
    /// A peer sends a negotiation or trade message; answer with
    /// [`crate::NetHandle::respond_trade`].
    Trade {
        /// Who sends it.
        peer: PeerId,
        /// What.
        request: TradeRequest,
        /// The response token.
        token: ResponseToken,
    },
}

/// A change in who is connected and who follows what.
#[derive(Debug)]
pub enum NetEvent {
    /// A peer is subscribed to a topic (learned on connect or when it subscribes).
    PeerSubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: String,
    },
    /// First connection to a peer established.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// The remote address of the connection.
        addr: Multiaddr,
        /// Whether this node dialed it (then `addr` is one the peer listens on;
        /// for inbound connections it is only the peer's source port).
        dialed: bool,
    },
    /// A connected peer answers pings again after failing to: the link was
    /// down (a partition, a phone between networks) while the connection
    /// stayed open, and gossip sent meanwhile was lost both ways.
    PeerResumed {
        /// The peer.
        peer: PeerId,
    },
    /// Last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// Listening on a new address.
    Listening {
        /// The address, with `/p2p/<own peer id>`.
        addr: Multiaddr,
    },
}

/// What the network hands the node, on three channels that never block the
/// event loop and fail differently when the node falls behind: gossip is
/// ignored (gossipsub's verdict Ignore: the sender did nothing wrong),
/// requests are answered "busy", and control events are never dropped (they
/// wait in the loop, see `event_loop`).
#[derive(Debug)]
pub struct NetEvents {
    /// Gossip to validate.
    pub gossip: mpsc::Receiver<Gossip>,
    /// Inbound requests to answer.
    pub requests: mpsc::Receiver<Request>,
    /// Connections and subscriptions.
    pub control: mpsc::Receiver<NetEvent>,
}
