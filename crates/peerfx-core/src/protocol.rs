//! What peers say to each other, independent of how it travels.
//!
//! - Gossip, on one topic per market ([`crate::Market::topic`]): a
//!   [`GossipMessage`]: offers, their updates and cancels, and ratings of
//!   trades in that market.
//! - `/peerfx/sync/1`, request-response: "send me the open offers you know in
//!   market M", answered in pages ([`SyncRequest`], [`SyncResponse`]).
//!
//! Every offer in any of these is verified exactly as if it had been gossiped;
//! these types only carry signed messages, they grant no trust.

use serde::{Deserialize, Serialize};

use crate::keys::{Hash, Signature};
use crate::message::{
    Offer, OfferCancel, OfferUpdate, Signed, TakeReply, TakeRequest, TradeId, TradeMessage,
};
use crate::money::Market;
use crate::rating::RatedTrade;
use crate::trade::StepError;

/// Protocol name of book sync. Version 2: refusals are typed
/// ([`SyncRefusal`]), no longer free text. Version 3: pages carry their
/// makers' ratings.
pub const SYNC_PROTOCOL: &str = "/peerfx/sync/3";
/// Protocol name of the book check: "is your book of market M the same as
/// mine?", answered from a digest, so that peers whose gossip was lost (a
/// partition, a link that dropped packets for a while) notice and sync.
/// Optional: a peer that does not speak it is simply not asked again.
pub const DIGEST_PROTOCOL: &str = "/peerfx/digest/1";
/// Protocol name of the direct negotiation and trade messages. Version 2:
/// refusals are typed ([`TradeRefusal`]), no longer free text. Version 3:
/// the close step, its refusals, and the reputation refusal of a take.
pub const TRADE_PROTOCOL: &str = "/peerfx/trade/3";
/// Protocol name of the Kademlia DHT.
pub const KAD_PROTOCOL: &str = "/peerfx/kad/1.0.0";
/// Protocol name of identify.
pub const IDENTIFY_PROTOCOL: &str = "/peerfx/id/1.0.0";

// Every size bound of these messages is in [`crate::WireLimits`].

/// An offer and, if it has been filled or re-announced, the maker's latest update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferState {
    /// The signed offer.
    pub offer: Signed<Offer>,
    /// The maker's latest update, if any.
    pub update: Option<Signed<OfferUpdate>>,
}

/// A message on a market topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GossipMessage {
    /// A new offer, a re-announcement (with a fresh update, so that it is not a
    /// gossip duplicate), or a fill (with the update carrying what remains). The
    /// offer travels with every update, so a node that missed it catches up.
    Offer(Box<OfferState>),
    /// The maker withdrew an offer.
    Cancel(Signed<OfferCancel>),
    /// A party's rating of the other after their trade in this market ended,
    /// with the contract both signed ([`crate::rating`]).
    Rating(Box<RatedTrade>),
}

impl GossipMessage {
    /// An offer message, with the maker's latest update if any.
    pub fn offer(offer: Signed<Offer>, update: Option<Signed<OfferUpdate>>) -> GossipMessage {
        GossipMessage::Offer(Box::new(OfferState { offer, update }))
    }
}

/// "Send me the open offers you know in `market`, after `cursor`."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The market, both directions.
    pub market: Market,
    /// Where the previous page ended; `None` for the first page. Opaque.
    pub cursor: Option<Vec<u8>>,
    /// Most entries wanted (capped at [`crate::WireLimits::max_sync_page`]
    /// by the responder).
    pub limit: u16,
}

/// One page of a market's open offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// Offers, and the cursor of the next page if there is one.
    Page {
        /// The offers.
        offers: Vec<OfferState>,
        /// Pass back to get the next page.
        next: Option<Vec<u8>>,
        /// Ratings of the makers of these offers in this market, so a node
        /// that joins late learns their reputation with their offers (at
        /// most [`RATINGS_PER_PAGE`], [`RATINGS_PER_MAKER`] per maker).
        ratings: Vec<RatedTrade>,
    },
    /// The responder refuses.
    Refused(SyncRefusal),
}

/// Most ratings in one sync page.
pub const RATINGS_PER_PAGE: usize = 32;
/// Most ratings of one maker in one sync page.
pub const RATINGS_PER_MAKER: usize = 8;
/// Bytes of a sync page kept for its ratings: [`RATINGS_PER_PAGE`] ratings
/// of ~700 bytes each.
pub const RATINGS_PAGE_BYTES: usize = 24 * 1024;

/// Why a peer refused a sync request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SyncRefusal {
    /// The requester asked for more pages than its budget allows; slow down.
    #[error("too many sync requests; slow down")]
    RateLimited,
    /// The responder is overloaded; try again later.
    #[error("busy, try again later")]
    Busy,
    /// The cursor is longer than any the responder hands out.
    #[error("cursor too long")]
    BadCursor,
    /// The responder could not read its book.
    #[error("the peer could not read its book")]
    Unavailable,
}

/// A summary of one market's open offers: how many, and the XOR of
/// SHA-256(offer id ‖ update seq) over them. Order does not matter, an
/// update changes it, and two books with the same digest hold the same
/// offers at the same seqs (short of a SHA-256 collision).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BookDigest {
    /// Open offers.
    pub count: u32,
    /// XOR of the offers' hashes.
    pub xor: Hash,
}

impl BookDigest {
    /// The digest of an empty book.
    pub const EMPTY: BookDigest = BookDigest {
        count: 0,
        xor: Hash([0; 32]),
    };

    /// Adds one offer at update `seq` (0: never updated).
    pub fn add(&mut self, offer_id: &Hash, seq: u64) {
        let h = Hash::of(&[offer_id.as_bytes(), &seq.to_le_bytes()]);
        for (a, b) in self.xor.0.iter_mut().zip(h.as_bytes()) {
            *a ^= b;
        }
        self.count = self.count.saturating_add(1);
    }
}

/// "My book of `market` has this digest; has yours?" over
/// [`DIGEST_PROTOCOL`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRequest {
    /// The market, both directions.
    pub market: Market,
    /// The asker's digest of it.
    pub digest: BookDigest,
}

/// The answer to a [`DigestRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DigestResponse {
    /// The books hold the same offers.
    Same,
    /// They differ; the responder's digest. Each side then syncs from the
    /// other over [`SYNC_PROTOCOL`].
    Differs(BookDigest),
    /// The responder refuses (too many asks, or busy).
    Refused(SyncRefusal),
}

/// Largest digest request or response: a market, a count and a hash, with
/// room for framing.
pub const MAX_DIGEST_MESSAGE_BYTES: usize = 128;

/// Protocol name of the mailbox ([`crate::mailbox`]): deposit an envelope
/// for a peer that is offline, fetch and delete what waits for oneself.
/// Served by relays (and any node run as a mailbox host).
pub const MAILBOX_PROTOCOL: &str = "/peerfx/mailbox/1";

/// Envelopes in one fetched page, at most.
pub const MAILBOX_PAGE: usize = 16;

/// Largest mailbox request: one envelope and framing, or a page of ids.
pub const MAX_MAILBOX_REQUEST_BYTES: usize = crate::mailbox::MAX_SEALED_BYTES + 512;

/// Largest mailbox response: a page of envelopes.
pub const MAX_MAILBOX_RESPONSE_BYTES: usize = MAILBOX_PAGE * MAX_MAILBOX_REQUEST_BYTES;

/// A request to a mailbox host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxRequest {
    /// Keep this envelope for its recipient. The sender must be the
    /// envelope's author. Answered [`MailboxResponse::Stored`] once durable.
    Deposit(Signed<crate::mailbox::Envelope>),
    /// What waits for the asker (the connection's authenticated peer),
    /// oldest first, at most [`MAILBOX_PAGE`].
    Fetch,
    /// The asker has handled these envelopes (ids of its own, at most
    /// [`MAILBOX_PAGE`]): drop them.
    Delete(Vec<Hash>),
}

/// A mailbox host's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxResponse {
    /// The envelope is stored (and flushed).
    Stored,
    /// Envelopes for the asker; `more` if others wait behind them.
    Page {
        /// The envelopes, oldest first.
        envelopes: Vec<Signed<crate::mailbox::Envelope>>,
        /// Whether more wait.
        more: bool,
    },
    /// How many of the ids were dropped.
    Deleted(u32),
    /// Refused.
    Refused(MailboxRefusal),
}

/// Why a mailbox host refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MailboxRefusal {
    /// This node keeps no mailboxes.
    #[error("this peer keeps no mailboxes")]
    NotAHost,
    /// The envelope fails [`crate::mailbox::check`]; the detail says how.
    #[error("invalid envelope: {0}")]
    Invalid(String),
    /// The depositor is not the envelope's author.
    #[error("the depositor is not the envelope's author")]
    NotTheAuthor,
    /// The recipient's mailbox is full.
    #[error("the recipient's mailbox is full")]
    RecipientFull,
    /// The author has as many envelopes waiting here as it may.
    #[error("too many of your envelopes wait here already")]
    SenderFull,
    /// The host keeps as many envelopes as it will.
    #[error("the host's mailboxes are full")]
    Full,
    /// Too many requests from this peer; try again later.
    #[error("too many requests; slow down")]
    RateLimited,
    /// The host is overloaded; try again later.
    #[error("busy, try again later")]
    Busy,
    /// The host could not read or write its database.
    #[error("the host could not store it")]
    Storage,
}

/// What one party sends the other directly, over `/peerfx/trade/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TradeRequest {
    /// Taker → maker: take an offer. Answered with [`TradeResponse::Take`].
    Take(Signed<TakeRequest>),
    /// Taker → maker: the taker's signature over the contract the maker signed for
    /// request `request_id`. The maker stores the trade and answers
    /// [`TradeResponse::Stored`]; sent again (idempotently) until it is.
    Countersign {
        /// The take request the contract answers.
        request_id: Hash,
        /// The taker's signature over the contract's signed bytes.
        taker_signature: Signature,
    },
    /// Either party → the other: a step or chat line. Answered with
    /// [`TradeResponse::Ack`] once stored.
    Message(Signed<TradeMessage>),
}

/// The answer to a [`TradeRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TradeResponse {
    /// The maker's reply to a take.
    Take(Box<TakeReply>),
    /// The countersigned trade is stored (and flushed) on the maker's side.
    Stored(TradeId),
    /// The message is stored (and flushed) on the receiver's side.
    Ack {
        /// The trade.
        trade_id: TradeId,
        /// The seq acknowledged.
        seq: u32,
    },
    /// Refused, with the reason.
    Refused(TradeRefusal),
}

/// Why a peer refused a trade request. [`TradeRefusal::is_transient`] says
/// whether sending the same request again later can succeed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TradeRefusal {
    /// The peer is overloaded; try again later.
    #[error("busy, try again later")]
    Busy,
    /// The peer could not read or write its database; try again later.
    #[error("the peer could not store it (its disk); try again later")]
    Storage,
    /// The peer is asked too often by this sender; try again later.
    #[error("too many requests; slow down")]
    RateLimited,
    /// No take with this request id is pending: it expired, or never was.
    #[error("no pending take with this id (it may have expired)")]
    UnknownTake,
    /// The sender is not the taker of the contract it countersigns.
    #[error("not the taker of this contract")]
    NotTheTaker,
    /// The countersignature does not verify.
    #[error("bad countersignature")]
    BadCountersignature,
    /// No trade with this id.
    #[error("unknown trade")]
    UnknownTrade,
    /// A message's author is not the peer that sent it.
    #[error("the author is not the sender")]
    NotTheAuthor,
    /// The message fails validation; the detail says how.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The message does not fit the trade's state.
    #[error(transparent)]
    Step(#[from] StepError),
}

impl TradeRefusal {
    /// Whether the same request may succeed if sent again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TradeRefusal::Busy | TradeRefusal::Storage | TradeRefusal::RateLimited
        )
    }
}
