//! What the control API sends and receives, and how node views become it.
//! Field names are stable (scripts read `--json`); amounts are decimal
//! strings in major units, never floats.

use peerfx_core::trade::Side;
use peerfx_core::{Amount, BookEntry, Offer, OfferId, PublicKey, TradeAction};
use peerfx_node::{NodeEvent, NodeStatus, OwnOfferView, Paged, TradeView};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// An offer as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct OfferJson {
    pub id: String,
    pub maker: String,
    pub give: String,
    pub want: String,
    pub min: String,
    pub max: String,
    pub remaining: String,
    pub rate: String,
    pub payment_methods: Vec<String>,
    pub geohash: Option<String>,
    pub note: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub status: String,
    /// The maker's score from this node's point of view ("4.14"), absent
    /// when nobody rated it (in the book only).
    #[serde(default)]
    pub maker_score: Option<String>,
    /// The maker's completed trades vouched for (in the book only).
    #[serde(default)]
    pub maker_trades: u32,
    /// "online", "away" or "offline" (in the book only): from the maker's
    /// re-announcements and whether it is connected.
    #[serde(default)]
    pub maker_presence: Option<String>,
    /// When the maker last announced this offer, Unix seconds (in the book
    /// only).
    #[serde(default)]
    pub maker_last_seen: Option<u64>,
}

/// The peer id of a key, or its hex if it is not one.
pub(crate) fn peer_of(k: &PublicKey) -> String {
    k.peer_id()
        .map(|p| p.to_string())
        .unwrap_or_else(|_| k.to_hex())
}

fn offer_json(o: &Offer, id: OfferId, remaining: Amount, status: &str) -> OfferJson {
    OfferJson {
        id: id.to_hex(),
        maker: peer_of(&o.maker),
        give: o.give.to_string(),
        want: o.want.to_string(),
        min: o.min_give.display(o.give),
        max: o.max_give.display(o.give),
        remaining: remaining.display(o.give),
        rate: o.rate.to_string(),
        payment_methods: o.payment_methods.iter().map(|p| p.to_string()).collect(),
        geohash: o.geohash.as_ref().map(|g| g.to_string()),
        note: o.note.clone(),
        created_at: o.created_at.0,
        expires_at: o.expires_at.0,
        status: status.to_string(),
        maker_score: None,
        maker_trades: 0,
        maker_presence: None,
        maker_last_seen: None,
    }
}

impl From<&OwnOfferView> for OfferJson {
    fn from(v: &OwnOfferView) -> OfferJson {
        offer_json(v.offer.body(), v.id(), v.remaining, &v.status.to_string())
    }
}

impl From<&BookEntry> for OfferJson {
    fn from(e: &BookEntry) -> OfferJson {
        offer_json(e.offer.body(), e.offer.id(), e.remaining, "open")
    }
}

/// A chat line.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ChatJson {
    pub from: String,
    pub at: u64,
    pub text: String,
}

/// A trade as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TradeJson {
    pub id: String,
    pub offer_id: String,
    pub role: String,
    pub state: String,
    pub give: String,
    pub want: String,
    pub give_amount: String,
    pub want_amount: String,
    pub rate: String,
    pub payment_method: String,
    pub counterparty: String,
    pub created_at: u64,
    /// The payment deadline: a trade nobody paid in expires then; a side
    /// that paid may close a trade the other did not pay in.
    pub deadline: u64,
    /// The settle deadline: a trade not completed by then fails.
    pub settle_by: u64,
    /// Why it failed, in words, once the state is "failed".
    pub failure: Option<String>,
    /// "maker" or "taker": the side the signed log puts the failure on
    /// (absent for a dispute, or when both failed).
    pub at_fault: Option<String>,
    /// Whether you may close the trade now (you paid, the other side did
    /// not, and the payment deadline passed).
    pub can_close: bool,
    pub maker_paid: bool,
    pub maker_received: bool,
    pub taker_paid: bool,
    pub taker_received: bool,
    pub undelivered: usize,
    /// Why the peer refused one of your messages for good (that one and the
    /// later ones stay undelivered), if it did.
    pub refused_by_peer: Option<String>,
    /// Your cancel awaits the counterparty's answer (it takes effect on both
    /// sides or on neither).
    pub cancel_pending: bool,
    /// Messages in the trade's log, chat included.
    pub messages: u32,
    /// The chat (only when one trade is shown, not in lists).
    pub chat: Vec<ChatJson>,
}

impl From<&TradeView> for TradeJson {
    fn from(t: &TradeView) -> TradeJson {
        let c = &t.contract.contract.body;
        let (role, other) = match t.role {
            Side::Maker => ("maker", c.taker),
            Side::Taker => ("taker", c.maker),
        };
        TradeJson {
            id: t.id().to_hex(),
            offer_id: c.offer_id.to_hex(),
            role: role.into(),
            state: t.phase.to_string(),
            give: c.give.to_string(),
            want: c.want.to_string(),
            give_amount: c.give_amount.display(c.give),
            want_amount: c.want_amount.display(c.want),
            rate: c.rate.to_string(),
            payment_method: c.payment_method.to_string(),
            counterparty: peer_of(&other),
            created_at: c.created_at.0,
            deadline: c.deadline.0,
            settle_by: c.settle_by().0,
            failure: t.failure.map(|f| f.to_string()),
            at_fault: t.failure.and_then(|f| f.at_fault).map(|s| s.to_string()),
            can_close: t.can_close,
            maker_paid: t.state.maker.paid.is_some(),
            maker_received: t.state.maker.received.is_some(),
            taker_paid: t.state.taker.paid.is_some(),
            taker_received: t.state.taker.received.is_some(),
            undelivered: t.undelivered,
            refused_by_peer: t
                .refused
                .as_ref()
                .map(|(seq, reason)| format!("your message {seq}: {reason}")),
            cancel_pending: t.cancel_pending,
            messages: t.messages,
            chat: t
                .log
                .iter()
                .filter_map(|m| match &m.body.action {
                    TradeAction::Chat { text } => Some(ChatJson {
                        from: peer_of(&m.body.author),
                        at: m.body.created_at.0,
                        text: text.clone(),
                    }),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// A page of a list.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PageJson<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent at the end.
    pub next: Option<String>,
}

impl<'a, V: 'a, T: From<&'a V>> From<&'a Paged<V>> for PageJson<T> {
    fn from(p: &'a Paged<V>) -> PageJson<T> {
        PageJson {
            items: p.items.iter().map(T::from).collect(),
            next: p.next.clone(),
        }
    }
}

/// The node, as `GET /v1/id` shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct StatusJson {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub api: String,
    pub data_dir: String,
    pub markets: Vec<String>,
    pub peers: usize,
    pub remembered_peers: usize,
    pub book_size: usize,
    pub syncing: usize,
    /// Absent in answers of daemons from before pause existed.
    #[serde(default)]
    pub paused: bool,
    /// Absent in answers of daemons from before reachability existed.
    #[serde(default)]
    pub reachability: ReachJson,
    /// Envelopes kept for others, as a mailbox host (a relay). Absent in
    /// answers of daemons from before mailboxes existed.
    #[serde(default)]
    pub mailbox_envelopes: usize,
}

/// Whether peers can dial the node: `nat` is "public", "private" or
/// "unknown" (AutoNAT has not concluded).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ReachJson {
    pub nat: String,
    /// The address peers dialled back, when public.
    pub public_addr: Option<String>,
    /// Relays holding a reservation for the node.
    pub relays: Vec<String>,
    pub direct_upgrades: u64,
    pub failed_upgrades: u64,
    /// Connected peers reached only through a relay.
    pub relayed_peers: usize,
}

impl From<&peerfx_net::Reachability> for ReachJson {
    fn from(r: &peerfx_net::Reachability) -> ReachJson {
        ReachJson {
            nat: r.nat.name().to_string(),
            public_addr: r.nat.public_addr().map(|a| a.to_string()),
            relays: r.relays.iter().map(|p| p.to_string()).collect(),
            direct_upgrades: r.direct_upgrades,
            failed_upgrades: r.failed_upgrades,
            relayed_peers: r.relayed_peers,
        }
    }
}

impl StatusJson {
    pub fn new(s: &NodeStatus, api: &str, data_dir: &std::path::Path) -> StatusJson {
        StatusJson {
            peer_id: s.peer_id.to_string(),
            listen_addrs: s.listen_addrs.iter().map(|a| a.to_string()).collect(),
            api: api.to_string(),
            data_dir: data_dir.display().to_string(),
            markets: s.markets.iter().map(|m| m.to_string()).collect(),
            peers: s.connected_peers,
            remembered_peers: s.remembered_peers,
            book_size: s.book_size,
            syncing: s.syncing,
            paused: s.paused,
            reachability: ReachJson::from(&s.reachability),
            mailbox_envelopes: s.mailbox_envelopes,
        }
    }
}

/// Body of `POST /v1/offers`, query of `GET /v1/book` and body of
/// `POST /v1/take`: the node's typed input, which the FFI shares.
pub use peerfx_node::input::{
    BookFilter as BookQuery, OfferText as PostOffer, TakeText as TakeBody,
};

/// Body of a trade step.
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct StepBody {
    pub reason: Option<String>,
    pub text: Option<String>,
}

/// Query of a paged list.
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct PageQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

/// An event of `GET /v1/events`.
pub fn event_json(e: &NodeEvent) -> Value {
    match e {
        NodeEvent::OfferAdded { id, market } => {
            json!({"type": "offer_added", "id": id.to_hex(), "market": market.to_string()})
        }
        NodeEvent::OfferUpdated { id, remaining } => {
            json!({"type": "offer_updated", "id": id.to_hex(), "remaining_minor": remaining.0})
        }
        NodeEvent::OfferRemoved { id, reason } => {
            json!({"type": "offer_removed", "id": id.to_hex(), "reason": format!("{reason:?}").to_lowercase()})
        }
        NodeEvent::OfferExpiringSoon { id, expires_at } => {
            json!({"type": "offer_expiring_soon", "id": id.to_hex(), "expires_at": expires_at.0})
        }
        NodeEvent::PeerConnected { peer } => {
            json!({"type": "peer_connected", "peer": peer.to_string()})
        }
        NodeEvent::PeerDisconnected { peer } => {
            json!({"type": "peer_disconnected", "peer": peer.to_string()})
        }
        NodeEvent::TradeUpdated { id, phase } => {
            json!({"type": "trade", "id": id.to_hex(), "state": phase.to_string()})
        }
        NodeEvent::Rated {
            trade_id,
            rater,
            rated,
            score,
        } => json!({
            "type": "rated", "trade": trade_id.to_hex(), "rater": peer_of(rater),
            "rated": peer_of(rated), "score": score,
        }),
        NodeEvent::Chat { id, from, text } => {
            json!({"type": "chat", "trade": id.to_hex(), "from": peer_of(from), "text": text})
        }
    }
}
