//! What the node shows its embedder: views it owns, built from the store's
//! records, so that no caller needs (or gets) the store itself.

use peerfx_core::trade::{Failure, Phase, Side, TradeState};
use peerfx_core::{
    Amount, Market, Offer, OfferId, Signed, SignedContract, Timestamp, TradeId, TradeMessage,
    Verified,
};
use peerfx_net::{Multiaddr, PeerId};

/// Where an own offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferStatus {
    /// Takeable.
    Open,
    /// Past its expiry, with something left: can be republished.
    Expired,
    /// Withdrawn.
    Cancelled,
    /// Nothing remains.
    Filled,
}

impl std::fmt::Display for OfferStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OfferStatus::Open => "open",
            OfferStatus::Expired => "expired",
            OfferStatus::Cancelled => "cancelled",
            OfferStatus::Filled => "filled",
        })
    }
}

/// One of this node's own offers, with its accounting.
#[derive(Clone, Debug)]
pub struct OwnOfferView {
    /// The offer as signed.
    pub offer: Verified<Offer>,
    /// Not yet sold, in `give` minor units.
    pub remaining: Amount,
    /// Set aside for takes not yet countersigned.
    pub reserved: Amount,
    /// Where it stands now (expiry included).
    pub status: OfferStatus,
}

impl OwnOfferView {
    /// The offer id.
    pub fn id(&self) -> OfferId {
        self.offer.id()
    }
}

/// A trade: its contract, this node's side, the signed log and what follows
/// from it.
#[derive(Clone, Debug)]
pub struct TradeView {
    /// The contract, signed by both.
    pub contract: SignedContract,
    /// This node's side.
    pub role: Side,
    /// When this node stored it.
    pub stored_at: Timestamp,
    /// Every signed message, in the order this node stored them. Empty in
    /// list views ([`crate::Node::trades`]).
    pub log: Vec<Signed<TradeMessage>>,
    /// The state derived from the log.
    pub state: TradeState,
    /// The phase now (the deadlines included).
    pub phase: Phase,
    /// Why it failed, when [`TradeView::phase`] is [`Phase::Failed`].
    pub failure: Option<Failure>,
    /// This side may close the trade now: it paid, the other side did not,
    /// and the payment deadline passed ([`crate::Node::close_trade`]).
    pub can_close: bool,
    /// Own messages not yet acknowledged by the peer.
    pub undelivered: usize,
    /// Messages in the log, chat included.
    pub messages: u32,
    /// The own message the peer refused for good (its seq, and the peer's
    /// reason): it and every later own message stay undelivered.
    pub refused: Option<(u32, String)>,
    /// This side's cancel was sent and awaits the peer's answer; it takes
    /// effect on both sides or on neither.
    pub cancel_pending: bool,
}

impl TradeView {
    /// The trade id.
    pub fn id(&self) -> TradeId {
        self.contract.trade_id()
    }
}

/// A page of a list, newest first, and where the next one starts.
#[derive(Clone, Debug)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as [`PageRequest::after`] for the next page; `None` at the end.
    pub next: Option<String>,
}

/// Which page of a list to read.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// Where the previous page ended ([`Paged::next`]); `None`: the newest.
    pub after: Option<String>,
    /// Most items (capped at [`PageRequest::MAX_LIMIT`]; 0 means
    /// [`PageRequest::DEFAULT_LIMIT`]).
    pub limit: usize,
}

impl PageRequest {
    /// Items per page when the caller does not say.
    pub const DEFAULT_LIMIT: usize = 50;
    /// Most items per page.
    pub const MAX_LIMIT: usize = 500;

    /// The first page of `limit` items.
    pub fn first(limit: usize) -> PageRequest {
        PageRequest { after: None, limit }
    }

    pub(crate) fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// A snapshot of the node for status displays (`peerfx id`).
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// This node.
    pub peer_id: PeerId,
    /// Addresses it listens on, with `/p2p/<peer id>`.
    pub listen_addrs: Vec<Multiaddr>,
    /// Markets it follows.
    pub markets: Vec<Market>,
    /// Markets it announces in the DHT (those it has open offers in).
    pub providing: Vec<Market>,
    /// DHT provider announcements started so far.
    pub provide_queries: u64,
    /// Connected peers.
    pub connected_peers: usize,
    /// Peers remembered for redialing.
    pub remembered_peers: usize,
    /// Offers in the book.
    pub book_size: usize,
    /// Tombstones in the book (cancelled or closed offers remembered so they
    /// cannot come back).
    pub tombstones: usize,
    /// Bytes the database occupies on disk.
    pub db_bytes: u64,
    /// Peers banned now for their score.
    pub banned_peers: usize,
    /// Gossip messages ignored because the node was not keeping up.
    pub dropped_gossip: u64,
    /// Book syncs from peers under way.
    pub syncing: usize,
    /// Whether the node is paused ([`crate::Node::pause`]).
    pub paused: bool,
    /// Whether peers can dial this node, through which relays, and how
    /// hole punching went.
    pub reachability: peerfx_net::Reachability,
    /// Envelopes this node keeps for others, as a mailbox host (a relay).
    pub mailbox_envelopes: usize,
}

/// A rating this node holds, and whom it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatingView {
    /// The rating and the contract that entitles it.
    pub rated_trade: peerfx_core::rating::RatedTrade,
    /// The peer rated.
    pub rated: peerfx_core::PublicKey,
    /// When this node first stored it, by its clock.
    pub received_at: Timestamp,
}

impl From<peerfx_store::ratings::StoredRating> for RatingView {
    fn from(s: peerfx_store::ratings::StoredRating) -> RatingView {
        RatingView {
            rated_trade: s.rated_trade,
            rated: s.rated,
            received_at: s.received_at,
        }
    }
}
