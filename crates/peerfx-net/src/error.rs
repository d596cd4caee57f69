//! What can go wrong in the network layer, typed, with causes chained; and
//! what the application reports about peers.

use libp2p::{request_response, Multiaddr, PeerId};

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration cannot be used.
    #[error("network configuration: {what}")]
    Config {
        /// What could not be set up.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An address could not be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        #[source]
        source: libp2p::TransportError<std::io::Error>,
    },
    /// A peer could not be dialed.
    #[error("cannot dial {addr}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// Why.
        #[source]
        source: Box<libp2p::swarm::DialError>,
    },
    /// A request to a peer failed.
    #[error("request to {peer} failed")]
    Request {
        /// The peer.
        peer: PeerId,
        /// Why.
        #[source]
        failure: RequestFailure,
    },
    /// Subscribing to a topic failed.
    #[error("cannot subscribe to {topic}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: libp2p::gossipsub::SubscriptionError,
    },
    /// Publishing failed (other than for lack of peers, which is not an error).
    #[error("publish failed")]
    Publish(#[source] libp2p::gossipsub::PublishError),
    /// The network is paused ([`crate::NetHandle::pause`]): it neither dials
    /// nor listens until resumed.
    #[error("the node is paused: resume it first")]
    Paused,
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestFailure {
    /// The peer could not be reached (offline, or no address known).
    #[error("the peer is unreachable")]
    Unreachable,
    /// The peer did not answer in time.
    #[error("the peer did not answer in time")]
    Timeout,
    /// The connection closed before the answer came.
    #[error("the connection closed before the answer came")]
    ConnectionClosed,
    /// The peer does not speak the protocol (another version of peerfx).
    #[error("the peer does not speak this protocol version")]
    UnsupportedProtocol,
    /// Reading or writing the stream failed (a malformed or oversized answer
    /// among them).
    #[error("the stream failed")]
    Io(#[source] std::io::Error),
}

impl From<request_response::OutboundFailure> for RequestFailure {
    fn from(e: request_response::OutboundFailure) -> Self {
        match e {
            request_response::OutboundFailure::DialFailure => RequestFailure::Unreachable,
            request_response::OutboundFailure::Timeout => RequestFailure::Timeout,
            request_response::OutboundFailure::ConnectionClosed => RequestFailure::ConnectionClosed,
            request_response::OutboundFailure::UnsupportedProtocols => {
                RequestFailure::UnsupportedProtocol
            }
            request_response::OutboundFailure::Io(e) => RequestFailure::Io(e),
        }
    }
}

/// Something a peer did that gossipsub cannot see, reported by the
/// application: it lowers the peer's score as much as one invalid gossip
/// message (see [`scoring`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// A sync page with offers that fail validation.
    BadSyncPage,
    /// A request no honest client sends (a cursor longer than any served).
    BadRequest,
    /// A trade request no honest client sends (a forged signature or
    /// author, a replayed message with other content).
    TradeAbuse,
}
