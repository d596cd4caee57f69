//! What crosses the boundary: records of strings and integers. Money is a
//! decimal string in major units ("99.50") and, where an app computes with
//! it, an integer in minor units too; never a float. Ids are hex, peers are
//! PeerIds.

use peerfx_core::reputation::{score_text, Profile as Reputation};
use peerfx_core::trade::Side;
use peerfx_core::{BookEntry, Offer as CoreOffer, OfferId, PublicKey, TradeAction};
use peerfx_node::{ImportStats, NodeStatus, OwnOfferView, Presence, TradeView};

/// Which defaults a node starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Profile {
    /// A laptop or server.
    Default,
    /// A phone: a small cache and book, few connections, slow timers, no
    /// mDNS, a DHT client only.
    Mobile,
}

/// How to start a node. Empty lists and `None` keep the profile's default.
#[derive(Clone, Debug, uniffi::Record)]
pub struct NodeOptions {
    /// Where the identity key and the database live (the app's private files).
    pub data_dir: String,
    /// Which defaults to start from.
    pub profile: Profile,
    /// Multiaddrs to listen on ("/ip4/0.0.0.0/tcp/0").
    #[uniffi(default)]
    pub listen: Vec<String>,
    /// Multiaddrs of peers to join through ("/ip4/…/tcp/…/p2p/12D3…").
    #[uniffi(default)]
    pub bootstrap: Vec<String>,
    /// Markets to follow from the start ("EUR-USD").
    #[uniffi(default)]
    pub markets: Vec<String>,
    /// Find peers on the local network with mDNS.
    #[uniffi(default)]
    pub mdns: Option<bool>,
    /// Answer other peers' DHT queries (only for a node others can reach).
    #[uniffi(default)]
    pub dht_server: Option<bool>,
}

/// This node's identity.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Identity {
    /// Its PeerId.
    pub peer_id: String,
    /// Its ed25519 public key, hex: the author of its offers.
    pub public_key: String,
}

/// A snapshot of the node.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Status {
    /// This node.
    pub peer_id: String,
    /// Where it listens, with `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// Markets it follows.
    pub markets: Vec<String>,
    /// Connected peers.
    pub connected_peers: u32,
    /// Offers in the book.
    pub book_size: u64,
    /// Book syncs under way.
    pub syncing: u32,
    /// Paused ([`crate::PeerfxNode::pause`]).
    pub paused: bool,
    /// Whether peers can dial it, and through which relays.
    pub reachability: Reachability,
}

/// Whether peers can dial the node: what an app shows as "reachable".
#[derive(Clone, Debug, uniffi::Record)]
pub struct Reachability {
    /// "public", "private" (behind NAT) or "unknown" (not probed yet).
    pub nat: String,
    /// The address peers dialled back, when public.
    pub public_addr: Option<String>,
    /// Relays holding a reservation for it (PeerIds): behind NAT, it is
    /// reachable while this is not empty.
    pub relays: Vec<String>,
    /// Relayed connections upgraded to direct ones by hole punching.
    pub direct_upgrades: u64,
    /// Hole punches that failed.
    pub failed_upgrades: u64,
    /// Connected peers reached only through a relay now.
    pub relayed_peers: u32,
}

impl From<&peerfx_net::Reachability> for Reachability {
    fn from(r: &peerfx_net::Reachability) -> Reachability {
        Reachability {
            nat: r.nat.name().to_string(),
            public_addr: r.nat.public_addr().map(|a| a.to_string()),
            relays: r.relays.iter().map(|p| p.to_string()).collect(),
            direct_upgrades: r.direct_upgrades,
            failed_upgrades: r.failed_upgrades,
            relayed_peers: count(r.relayed_peers),
        }
    }
}

impl From<&NodeStatus> for Status {
    fn from(s: &NodeStatus) -> Status {
        Status {
            peer_id: s.peer_id.to_string(),
            listen_addrs: s.listen_addrs.iter().map(|a| a.to_string()).collect(),
            markets: s.markets.iter().map(|m| m.to_string()).collect(),
            connected_peers: count(s.connected_peers),
            book_size: s.book_size as u64,
            syncing: count(s.syncing),
            paused: s.paused,
            reachability: Reachability::from(&s.reachability),
        }
    }
}

/// An offer: one of this node's own, or one in the book.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Offer {
    /// Its id, hex.
    pub id: String,
    /// The maker's PeerId.
    pub maker: String,
    /// The currency given.
    pub give: String,
    /// The currency wanted.
    pub want: String,
    /// Least per take, major units.
    pub min: String,
    /// Most in all, major units.
    pub max: String,
    /// What is left, major units.
    pub remaining: String,
    /// What is left, minor units of `give`.
    pub remaining_minor: u64,
    /// Units of `want` per unit of `give`, exact decimal.
    pub rate: String,
    /// Payment methods accepted (empty: any).
    pub payment_methods: Vec<String>,
    /// Where the maker is, if it said.
    pub geohash: Option<String>,
    /// Free text.
    pub note: String,
    /// When it was signed, Unix seconds.
    pub created_at: u64,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
    /// "open", "expired", "cancelled" or "filled".
    pub status: String,
    /// The maker's score from this node's point of view ("4.14"), in the
    /// book only, when someone rated it.
    pub maker_score: Option<String>,
    /// The maker's completed trades vouched for (in the book only).
    pub maker_trades: u32,
    /// "online", "away" or "offline" (in the book only): from the maker's
    /// re-announcements and whether it is connected.
    pub maker_presence: Option<String>,
    /// When the maker last announced this offer, Unix seconds (in the book
    /// only).
    pub maker_last_seen: Option<u64>,
}

fn offer(o: &CoreOffer, id: OfferId, remaining: peerfx_core::Amount, status: String) -> Offer {
    Offer {
        id: id.to_hex(),
        maker: peer_of(&o.maker),
        give: o.give.to_string(),
        want: o.want.to_string(),
        min: o.min_give.display(o.give),
        max: o.max_give.display(o.give),
        remaining: remaining.display(o.give),
        remaining_minor: remaining.0,
        rate: o.rate.to_string(),
        payment_methods: o.payment_methods.iter().map(|p| p.to_string()).collect(),
        geohash: o.geohash.as_ref().map(|g| g.to_string()),
        note: o.note.clone(),
        created_at: o.created_at.0,
        expires_at: o.expires_at.0,
        status,
        maker_score: None,
        maker_trades: 0,
        maker_presence: None,
        maker_last_seen: None,
    }
}

impl From<&OwnOfferView> for Offer {
    fn from(v: &OwnOfferView) -> Offer {
        offer(v.offer.body(), v.id(), v.remaining, v.status.to_string())
    }
}

impl Offer {
    /// A book entry, with what this node knows of its maker.
    pub(crate) fn in_book(e: &BookEntry, maker: &Reputation, seen: Presence) -> Offer {
        Offer {
            maker_score: maker.score.map(score_text),
            maker_trades: maker.completed,
            maker_presence: Some(seen.to_string()),
            maker_last_seen: Some(e.announced_at.0),
            ..offer(e.offer.body(), e.offer.id(), e.remaining, "open".into())
        }
    }
}

/// A page of own offers, newest first.
#[derive(Clone, Debug, uniffi::Record)]
pub struct OfferPage {
    /// The offers.
    pub items: Vec<Offer>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next: Option<String>,
}

/// A step of a trade, or a chat line.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TradeStep {
    /// "I have sent my side."
    Paid,
    /// "I have received the other side."
    Received,
    /// "I withdraw" (alone before anyone paid; afterwards both must).
    Cancel,
    /// "The payment deadline passed, I paid and you did not."
    Close,
    /// "Something is wrong."
    Dispute {
        /// What.
        reason: String,
    },
    /// A chat line.
    Chat {
        /// The text.
        text: String,
    },
}

impl From<TradeStep> for TradeAction {
    fn from(s: TradeStep) -> TradeAction {
        match s {
            TradeStep::Paid => TradeAction::Paid,
            TradeStep::Received => TradeAction::Received,
            TradeStep::Cancel => TradeAction::Cancel,
            // The node fills in what it has seen of the other side.
            TradeStep::Close => TradeAction::Close { seen: 0 },
            TradeStep::Dispute { reason } => TradeAction::Dispute { reason },
            TradeStep::Chat { text } => TradeAction::Chat { text },
        }
    }
}

/// One signed message of a trade's log.
#[derive(Clone, Debug, uniffi::Record)]
pub struct TradeMessage {
    /// Its author's PeerId.
    pub from: String,
    /// Its sequence number among its author's messages.
    pub seq: u32,
    /// When its author signed it, Unix seconds.
    pub at: u64,
    /// What it says.
    pub step: TradeStep,
}

/// A trade, from this node's side.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Trade {
    /// Its id, hex.
    pub id: String,
    /// The offer taken.
    pub offer_id: String,
    /// "maker" or "taker": this node's side.
    pub role: String,
    /// "agreed", "completed", "cancelled", "expired", "disputed" or "failed".
    pub state: String,
    /// The currency the maker gives.
    pub give: String,
    /// The currency the maker wants.
    pub want: String,
    /// What the maker gives, major units.
    pub give_amount: String,
    /// The same in minor units.
    pub give_minor: u64,
    /// What the taker gives, major units.
    pub want_amount: String,
    /// The same in minor units.
    pub want_minor: u64,
    /// The agreed rate, exact decimal.
    pub rate: String,
    /// The payment method.
    pub payment_method: String,
    /// The other side's PeerId.
    pub counterparty: String,
    /// When the contract was made, Unix seconds.
    pub created_at: u64,
    /// The payment deadline, Unix seconds.
    pub deadline: u64,
    /// The settle deadline, Unix seconds.
    pub settle_by: u64,
    /// Why it failed, in words, once failed.
    pub failure: Option<String>,
    /// You may close the trade now (you paid, they did not, the deadline passed).
    pub can_close: bool,
    /// The maker sent its side.
    pub maker_paid: bool,
    /// The maker received the taker's side.
    pub maker_received: bool,
    /// The taker sent its side.
    pub taker_paid: bool,
    /// The taker received the maker's side.
    pub taker_received: bool,
    /// Own messages the peer has not acknowledged yet (they are resent).
    pub undelivered: u32,
    /// Your cancel awaits the counterparty's answer.
    pub cancel_pending: bool,
    /// The signed log (empty in lists).
    pub log: Vec<TradeMessage>,
}

impl From<&TradeView> for Trade {
    fn from(t: &TradeView) -> Trade {
        let c = &t.contract.contract.body;
        let (role, other) = match t.role {
            Side::Maker => ("maker", c.taker),
            Side::Taker => ("taker", c.maker),
        };
        Trade {
            id: t.id().to_hex(),
            offer_id: c.offer_id.to_hex(),
            role: role.into(),
            state: t.phase.to_string(),
            give: c.give.to_string(),
            want: c.want.to_string(),
            give_amount: c.give_amount.display(c.give),
            give_minor: c.give_amount.0,
            want_amount: c.want_amount.display(c.want),
            want_minor: c.want_amount.0,
            rate: c.rate.to_string(),
            payment_method: c.payment_method.to_string(),
            counterparty: peer_of(&other),
            created_at: c.created_at.0,
            deadline: c.deadline.0,
            settle_by: c.settle_by().0,
            failure: t.failure.map(|f| f.to_string()),
            can_close: t.can_close,
            maker_paid: t.state.maker.paid.is_some(),
            maker_received: t.state.maker.received.is_some(),
            taker_paid: t.state.taker.paid.is_some(),
            taker_received: t.state.taker.received.is_some(),
            undelivered: count(t.undelivered),
            cancel_pending: t.cancel_pending,
            log: t
                .log
                .iter()
                .map(|m| TradeMessage {
                    from: peer_of(&m.body.author),
                    seq: m.body.seq,
                    at: m.body.created_at.0,
                    step: step_of(&m.body.action),
                })
                .collect(),
        }
    }
}

fn step_of(a: &TradeAction) -> TradeStep {
    match a {
        TradeAction::Paid => TradeStep::Paid,
        TradeAction::Received => TradeStep::Received,
        TradeAction::Cancel => TradeStep::Cancel,
        TradeAction::Close { .. } => TradeStep::Close,
        TradeAction::Dispute { reason } => TradeStep::Dispute {
            reason: reason.clone(),
        },
        TradeAction::Chat { text } => TradeStep::Chat { text: text.clone() },
    }
}

/// A page of trades, newest first.
#[derive(Clone, Debug, uniffi::Record)]
pub struct TradePage {
    /// The trades (without their logs).
    pub items: Vec<Trade>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next: Option<String>,
}

/// What this node thinks of a peer, from the ratings it holds.
#[derive(Clone, Debug, uniffi::Record)]
pub struct PeerProfile {
    /// The peer.
    pub peer: String,
    /// Weighted score "1.00" to "5.00"; `None` with no ratings.
    pub score: Option<String>,
    /// Completed trades rated by raters this node trusts.
    pub completed: u32,
    /// Completed trades rated only by raters without history.
    pub completed_unvouched: u32,
    /// Trades that failed through its fault.
    pub failures: u32,
    /// Distinct peers that rated it.
    pub counterparties: u32,
    /// Ratings about it.
    pub ratings: u32,
}

impl PeerProfile {
    pub(crate) fn new(peer: &PublicKey, p: &Reputation) -> PeerProfile {
        PeerProfile {
            peer: peer_of(peer),
            score: p.score.map(score_text),
            completed: p.completed,
            completed_unvouched: p.completed_unvouched,
            failures: p.failures,
            counterparties: p.counterparties,
            ratings: p.ratings,
        }
    }
}

/// What an import added.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Imported {
    /// Own offers added.
    pub offers: u64,
    /// Trades added.
    pub trades: u64,
    /// Trade messages added.
    pub messages: u64,
}

impl From<ImportStats> for Imported {
    fn from(s: ImportStats) -> Imported {
        Imported {
            offers: s.offers as u64,
            trades: s.trades as u64,
            messages: s.messages as u64,
        }
    }
}

/// The PeerId of a key, or its hex if it is not one.
pub(crate) fn peer_of(k: &PublicKey) -> String {
    k.peer_id()
        .map(|p| p.to_string())
        .unwrap_or_else(|_| k.to_hex())
}

/// A count for the boundary, where `usize` does not cross.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
