//! What can go wrong in a node operation, as one typed error with its cause
//! chained (`#[source]`), so a caller can tell a full disk from an offline
//! peer from bad input without reading messages.

use peerfx_core::protocol::TradeRefusal;
use peerfx_core::trade::{ContractMismatch, StepError};
use peerfx_core::validate::ValidationError;
use peerfx_core::{Amount, Currency, MoneyError, OfferId, PublicKey, RejectReason, TradeId};
use peerfx_net::NetError;
use peerfx_store::StoreError;

use crate::identity::IdentityError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The identity key file.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The database (a full disk is [`StoreError::DiskFull`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network, or a peer that could not be reached.
    #[error(transparent)]
    Net(#[from] NetError),
    /// An offer or message that would be invalid.
    #[error("invalid: {0}")]
    Invalid(#[from] ValidationError),
    /// A field of typed input that does not parse ([`crate::input`]).
    #[error("{what}: {message}")]
    Input {
        /// The field.
        what: &'static str,
        /// Why it does not parse.
        message: String,
    },
    /// A bad amount, rate or currency.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// This side's cancel awaits the counterparty's answer.
    #[error("your cancel of trade {0} awaits the counterparty's answer; nothing else can be sent until then")]
    CancelPending(TradeId),
    /// A trade that has not ended cannot be rated yet.
    #[error(
        "trade {0} has not ended yet: rate it once it is completed, cancelled, expired or failed"
    )]
    NotFinished(TradeId),
    /// This node already rated this trade.
    #[error("you already rated trade {0}")]
    AlreadyRated(TradeId),
    /// A rating bound is reached.
    #[error("no room for another rating: the {0} limit is reached")]
    RatingsFull(&'static str),
    /// A rating that fails its checks.
    #[error(transparent)]
    Rating(#[from] peerfx_core::rating::RatingError),
    /// A configuration that contradicts itself.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An envelope that cannot be sealed to the counterparty.
    #[error("mailbox: {0}")]
    Mail(#[from] peerfx_core::mailbox::MailError),
    /// A key that is not a usable peer identity.
    #[error("key {0} is not an ed25519 peer identity")]
    NotAPeer(PublicKey),
    /// No own offer with this id.
    #[error("no offer of yours with id {0}")]
    UnknownOffer(OfferId),
    /// The own offer is no longer open.
    #[error("offer {0} is not open")]
    NotOpen(OfferId),
    /// A take of the offer awaits its countersignature: its amount is neither
    /// sold nor free yet.
    #[error("a take of offer {0} is being confirmed; try again in a minute")]
    TakeInProgress(OfferId),
    /// Nothing of the offer is left to republish.
    #[error("nothing remains of offer {0}")]
    NothingRemains(OfferId),
    /// The offer is not in this node's book.
    #[error("offer {0} is not in the book (unknown, expired, cancelled or filled)")]
    NotInBook(OfferId),
    /// A take of an amount the offer cannot fill now.
    #[error(
        "amount must be between {} and {} {currency}",
        min.display(*currency),
        max.display(*currency)
    )]
    AmountOutOfRange {
        /// Smallest fill now.
        min: Amount,
        /// Largest fill now.
        max: Amount,
        /// The offer's give currency.
        currency: Currency,
    },
    /// The maker refused the take.
    #[error("take refused: {0}")]
    Take(RejectReason),
    /// The peer refused a trade request.
    #[error("refused by the peer: {0}")]
    TradeRefused(#[from] TradeRefusal),
    /// The peer answered something that is not an answer to the request.
    #[error("the peer answered nonsense: {0}")]
    BadAnswer(&'static str),
    /// The maker's contract does not follow from its offer and the request.
    #[error(transparent)]
    BadContract(#[from] ContractMismatch),
    /// The offer's maker has gone offline (not connected, and silent for
    /// longer than `offline_after`): a take would wait for nothing.
    #[error("the maker of offer {id} is offline: last seen {} minutes ago", .silent_secs / 60)]
    MakerOffline {
        /// The offer.
        id: OfferId,
        /// Seconds since its maker's last announcement.
        silent_secs: u64,
    },
    /// No trade with this id.
    #[error("no trade with id {0}")]
    UnknownTrade(TradeId),
    /// The step is not allowed now.
    #[error("step not allowed: {0}")]
    Step(#[source] StepError),
    /// A stored trade log that does not replay: the database is damaged.
    #[error("the stored log of trade {id} does not replay")]
    CorruptTrade {
        /// The trade.
        id: TradeId,
        /// Where the replay failed.
        #[source]
        source: StepError,
    },
    /// Posting would pass the network's open-offer quota per maker.
    #[error(
        "you have {open} open offers, the most peers accept from one maker; \
         cancel one (or let one expire) first"
    )]
    TooManyOffers {
        /// Open offers now.
        open: usize,
    },
    /// A book query that cannot be answered as asked.
    #[error(transparent)]
    Query(#[from] crate::queries::QueryError),
    /// A paging cursor this node did not hand out.
    #[error("bad paging cursor")]
    BadCursor,
    /// A backup file that cannot be restored.
    #[error(transparent)]
    Backup(#[from] peerfx_store::backup::BackupError),
    /// A node is running on the data directory (an import needs it stopped).
    #[error("a peerfx node is running on {}; stop it first", .0.display())]
    Running(std::path::PathBuf),
    /// The data directory belongs to another identity.
    #[error("{0} already has a different identity; import into a new data directory")]
    OtherIdentity(String),
}

/// What kind of failure a [`NodeError`] is, for each edge to say in its own
/// vocabulary: an HTTP status, an FFI error variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is wrong; the same call will fail again.
    Invalid,
    /// No such offer or trade.
    NotFound,
    /// Not now: the offer, trade or rating is not in a state that allows it.
    Conflict,
    /// The node is paused ([`crate::Node::pause`]).
    Paused,
    /// The disk, or a bounded store, is full; nothing changed.
    Full,
    /// The peer could not be reached.
    Unreachable,
    /// The peer refused, or answered something invalid.
    PeerRefused,
    /// A fault of this node (its store, its configuration).
    Internal,
}

impl NodeError {
    /// Whether the disk is full (so the operation changed nothing, and will
    /// work once space is freed).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, NodeError::Store(e) if e.is_disk_full())
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.classify().0
    }

    /// A stable machine-readable code ("unknown_offer", "insufficient_remaining"):
    /// finer than [`NodeError::kind`], the same in the HTTP API and the FFI.
    pub fn code(&self) -> &'static str {
        self.classify().1
    }

    fn classify(&self) -> (ErrorKind, &'static str) {
        use ErrorKind as K;
        match self {
            _ if self.is_disk_full() => (K::Full, "disk_full"),
            NodeError::Invalid(_)
            | NodeError::Input { .. }
            | NodeError::Money(_)
            | NodeError::Query(_)
            | NodeError::Rating(_)
            | NodeError::Mail(_)
            | NodeError::NotAPeer(_) => (K::Invalid, "invalid"),
            NodeError::BadCursor => (K::Invalid, "bad_cursor"),
            NodeError::Backup(_) => (K::Invalid, "bad_backup"),
            NodeError::UnknownOffer(_) | NodeError::NotInBook(_) => (K::NotFound, "unknown_offer"),
            NodeError::UnknownTrade(_) => (K::NotFound, "unknown_trade"),
            NodeError::NotOpen(_) => (K::Conflict, "not_open"),
            NodeError::NothingRemains(_) => (K::Conflict, "nothing_remains"),
            NodeError::TakeInProgress(_) => (K::Conflict, "take_in_progress"),
            NodeError::TooManyOffers { .. } => (K::Conflict, "too_many_offers"),
            NodeError::AmountOutOfRange { .. } => (K::Conflict, "amount_out_of_range"),
            NodeError::Step(_) => (K::Conflict, "step_not_allowed"),
            NodeError::CancelPending(_) => (K::Conflict, "cancel_pending"),
            NodeError::NotFinished(_) => (K::Conflict, "not_finished"),
            NodeError::AlreadyRated(_) => (K::Conflict, "already_rated"),
            NodeError::Running(_) | NodeError::OtherIdentity(_) => (K::Conflict, "conflict"),
            NodeError::RatingsFull(_) => (K::Full, "ratings_full"),
            NodeError::Take(reason) => (K::Conflict, reject_code(reason)),
            NodeError::TradeRefused(_) => (K::PeerRefused, "refused_by_peer"),
            NodeError::BadAnswer(_) | NodeError::BadContract(_) => (K::PeerRefused, "bad_answer"),
            NodeError::Net(NetError::Paused) => (K::Paused, "paused"),
            NodeError::Net(_) => (K::Unreachable, "peer_unreachable"),
            NodeError::MakerOffline { .. } => (K::Unreachable, "maker_offline"),
            NodeError::Store(_)
            | NodeError::Identity(_)
            | NodeError::CorruptTrade { .. }
            | NodeError::Config(_) => (K::Internal, "internal"),
        }
    }
}

fn reject_code(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::InsufficientRemaining { .. } => "insufficient_remaining",
        RejectReason::AmountOutOfRange { .. } => "amount_out_of_range",
        RejectReason::RateRefused { .. } => "rate_refused",
        RejectReason::SelfTake => "self_take",
        RejectReason::Blocked => "blocked",
        RejectReason::Expired => "expired",
        RejectReason::Closed => "closed",
        RejectReason::UnknownOffer => "unknown_offer",
        RejectReason::PaymentMethodNotOffered => "payment_method_not_offered",
        RejectReason::Invalid(_) => "invalid",
        RejectReason::Reserved { .. } => "reserved",
        RejectReason::Throttled { .. } => "throttled",
        RejectReason::Reputation { .. } => "reputation",
    }
}

/// `e` and its causes, joined with ": " (thiserror's `transparent` layers,
/// which repeat their inner message, are folded).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
