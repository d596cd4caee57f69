//! # peerfx-node
//!
//! A peerfx node: the store and the network wired together, with the rules of
//! the exchange in between. This is the embeddable library: the `peerfx daemon`
//! runs one, a phone app would run one, and the tests run many in one process.
//!
//! ```no_run
//! # async fn demo() -> Result<(), peerfx_node::NodeError> {
//! use peerfx_node::{Node, NodeConfig, OfferSpec};
//! let node = Node::start(NodeConfig::new("/tmp/peerfx-a")).await?;
//! let offer = node.post_offer(OfferSpec::parse("EUR", "100", "500", "USD", "1.08")?).await?;
//! println!("posted {}", offer.id());
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! What runs inside, as tasks on the caller's tokio runtime:
//!
//! - the network event loop (in peerfx-net);
//! - the **event pump**: validates every gossiped message and reports the verdict,
//!   serves and starts book syncs, tracks peers;
//! - **maintenance**: purges expired offers, re-announces own offers.
//!
//! Own offers are stored (and flushed) before they are published, survive a
//! restart, and are re-announced periodically with a fresh signed update, so
//! books converge even across partitions.

mod identity;
mod ingest;
mod metrics;
mod sync;
mod tasks;
mod trades;

pub use trades::TradeView;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerfx_core::protocol::GossipMessage;
use peerfx_core::validate::{validate, ValidationError};
use peerfx_core::{
    codec, Amount, BookEntry, Currency, Fill, Geohash, Keypair, Market, MatchQuery, MoneyError,
    Offer, OfferCancel, OfferId, OfferUpdate, PaymentMethod, PublicKey, Rate, Signed, Timestamp,
    Verified, WireLimits,
};
use peerfx_net::{NetConfig, NetError, NetHandle, PeerId};
use peerfx_store::book::InsertOutcome;
use peerfx_store::own::{OwnOffer, OwnStatus};
use peerfx_store::{Store, StoreConfig, StoreError};
use tokio::sync::{broadcast, watch};

pub use identity::{load_or_create as load_or_create_identity, IdentityError, IDENTITY_FILE};
pub use ingest::IngestError;
pub use metrics::Metrics;

/// How a node runs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the identity key and the database live.
    pub data_dir: PathBuf,
    /// Network tuning.
    pub net: NetConfig,
    /// Database tuning.
    pub store: StoreConfig,
    /// What messages the node accepts.
    pub limits: WireLimits,
    /// Markets to follow from the start (markets of own offers are always followed).
    pub markets: Vec<Market>,
    /// How often own open offers are re-announced.
    pub reannounce_interval: Duration,
    /// How often expired offers are purged.
    pub maintenance_interval: Duration,
    /// How often the book's changes are written to disk. The book is held in
    /// memory; a crash loses at most this much of other makers' offers, which
    /// sync brings back.
    pub book_persist_interval: Duration,
    /// How many peers to sync a market from when following it.
    pub sync_peers: usize,
    /// Least time between two syncs of one market from one peer.
    pub sync_min_interval: Duration,
    /// Most sync pages served to one peer per minute.
    pub sync_pages_per_minute: u32,
    /// Most pages fetched in one sync (a page holds up to 256 offers).
    pub sync_max_pages: usize,
    /// How far below its offer's rate a counter rate may be and still be accepted
    /// automatically, in basis points (0: only the offer's rate or better).
    pub counter_tolerance_bps: u32,
    /// How long a maker holds a reservation for a taker to countersign.
    pub take_timeout: Duration,
    /// Time the parties have to settle: the contract's deadline after creation.
    pub settle_secs: u64,
    /// How often unacknowledged trade messages are resent (with backoff per trade).
    pub trade_retry_interval: Duration,
}

impl NodeConfig {
    /// Default re-announcement interval.
    pub const DEFAULT_REANNOUNCE_INTERVAL: Duration = Duration::from_secs(600);
    /// Default maintenance interval.
    pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);
    /// Default book persist interval.
    pub const DEFAULT_BOOK_PERSIST_INTERVAL: Duration = Duration::from_secs(1);
    /// Default number of peers to sync from.
    pub const DEFAULT_SYNC_PEERS: usize = 3;
    /// Default least time between syncs from one peer.
    pub const DEFAULT_SYNC_MIN_INTERVAL: Duration = Duration::from_secs(30);
    /// Default sync pages served per peer per minute.
    pub const DEFAULT_SYNC_PAGES_PER_MINUTE: u32 = 120;
    /// Default most pages fetched in one sync (about 50 000 offers).
    pub const DEFAULT_SYNC_MAX_PAGES: usize = 200;

    /// Default counter-rate tolerance: 0.5 %.
    pub const DEFAULT_COUNTER_TOLERANCE_BPS: u32 = 50;
    /// Default reservation lifetime.
    pub const DEFAULT_TAKE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default settlement time: three days.
    pub const DEFAULT_SETTLE_SECS: u64 = 3 * 24 * 3600;
    /// Default resend interval.
    pub const DEFAULT_TRADE_RETRY_INTERVAL: Duration = Duration::from_secs(2);

    /// Defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            net: NetConfig::default(),
            store: StoreConfig::default(),
            limits: WireLimits::default(),
            markets: Vec::new(),
            reannounce_interval: Self::DEFAULT_REANNOUNCE_INTERVAL,
            maintenance_interval: Self::DEFAULT_MAINTENANCE_INTERVAL,
            book_persist_interval: Self::DEFAULT_BOOK_PERSIST_INTERVAL,
            sync_peers: Self::DEFAULT_SYNC_PEERS,
            sync_min_interval: Self::DEFAULT_SYNC_MIN_INTERVAL,
            sync_pages_per_minute: Self::DEFAULT_SYNC_PAGES_PER_MINUTE,
            sync_max_pages: Self::DEFAULT_SYNC_MAX_PAGES,
            counter_tolerance_bps: Self::DEFAULT_COUNTER_TOLERANCE_BPS,
            take_timeout: Self::DEFAULT_TAKE_TIMEOUT,
            settle_secs: Self::DEFAULT_SETTLE_SECS,
            trade_retry_interval: Self::DEFAULT_TRADE_RETRY_INTERVAL,
        }
    }
}

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The identity key file.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network.
    #[error(transparent)]
    Net(#[from] NetError),
    /// An offer or message that would be invalid.
    #[error("invalid: {0}")]
    Invalid(#[from] ValidationError),
    /// A bad amount, rate or currency.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// Bad input other than money.
    #[error("{0}")]
    BadInput(String),
    /// No own offer with this id.
    #[error("no offer of yours with id {0}")]
    UnknownOffer(OfferId),
    /// The own offer is no longer open.
    #[error("offer {0} is not open")]
    NotOpen(OfferId),
    /// The offer is not in this node's book.
    #[error("offer {0} is not in the book (unknown, expired, cancelled or filled)")]
    NotInBook(OfferId),
    /// The maker refused the take.
    #[error("take refused: {0}")]
    Take(peerfx_core::RejectReason),
    /// The peer refused a trade request.
    #[error("refused by the peer: {0}")]
    TradeRefused(#[from] peerfx_core::protocol::TradeRefusal),
    /// The peer answered something that is not an answer to the request.
    #[error("the peer answered nonsense: {0}")]
    BadAnswer(String),
    /// No trade with this id.
    #[error("no trade with id {0}")]
    UnknownTrade(peerfx_core::TradeId),
    /// The step is not allowed now.
    #[error("step not allowed: {0}")]
    Step(peerfx_core::trade::StepError),
    /// Posting would pass the network's open-offer quota per maker.
    #[error(
        "you have {open} open offers, the most peers accept from one maker; \
         cancel one (or let one expire) first"
    )]
    TooManyOffers {
        /// Open offers now.
        open: usize,
    },
}

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
    /// fewer offers (see `InsertOutcome::BookFull`).
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
    /// One of this node's own open offers expires within
    /// [`EXPIRING_SOON_SECS`] (sent once per offer): time to republish it.
    OfferExpiringSoon {
        /// The offer.
        id: OfferId,
        /// When it expires.
        expires_at: Timestamp,
    },
    /// A trade was created or changed phase.
    TradeUpdated {
        /// The trade.
        id: peerfx_core::TradeId,
        /// Its phase now.
        phase: peerfx_core::trade::Phase,
    },
    /// The counterparty sent a chat line.
    Chat {
        /// The trade.
        id: peerfx_core::TradeId,
        /// Its author.
        from: PublicKey,
        /// The text.
        text: String,
    },
}

/// How long before expiry an own offer is announced as expiring soon.
pub const EXPIRING_SOON_SECS: u64 = 15 * 60;

/// What a user wants to offer, before it is signed.
#[derive(Clone, Debug)]
pub struct OfferSpec {
    /// Currency given.
    pub give: Currency,
    /// Smallest fill, minor units.
    pub min_give: Amount,
    /// Largest total, minor units.
    pub max_give: Amount,
    /// Currency wanted.
    pub want: Currency,
    /// Units of `want` per unit of `give`.
    pub rate: Rate,
    /// Payment methods; empty means `cash`.
    pub payment_methods: Vec<PaymentMethod>,
    /// Approximate location.
    pub geohash: Option<Geohash>,
    /// Free text.
    pub note: String,
    /// How long it stays valid.
    pub lifetime: Duration,
}

impl OfferSpec {
    /// Default lifetime: one day.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

    /// An offer from text as a user types it: amounts in major units ("100",
    /// "99.50"), refusing more decimals than the currency has.
    pub fn parse(
        give: &str,
        min: &str,
        max: &str,
        want: &str,
        rate: &str,
    ) -> Result<OfferSpec, NodeError> {
        let give: Currency = give.parse()?;
        let want: Currency = want.parse()?;
        Ok(OfferSpec {
            give,
            min_give: Amount::parse(min, give)?,
            max_give: Amount::parse(max, give)?,
            want,
            rate: rate.parse()?,
            payment_methods: Vec::new(),
            geohash: None,
            note: String::new(),
            lifetime: Self::DEFAULT_LIFETIME,
        })
    }
}

/// The current time as a [`Timestamp`]. The one place the node reads the clock.
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(secs)
}

pub(crate) struct Inner {
    pub(crate) key: Keypair,
    pub(crate) store: Store,
    pub(crate) net: NetHandle,
    pub(crate) limits: WireLimits,
    pub(crate) config: NodeConfig,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) metrics: Metrics,
    /// Markets this node follows (subscribed to).
    pub(crate) markets: Mutex<HashSet<Market>>,
    /// Markets each connected peer is subscribed to.
    pub(crate) peer_markets: Mutex<HashMap<PeerId, HashSet<Market>>>,
    /// Makers the user blocked.
    pub(crate) blocked: Mutex<HashSet<PublicKey>>,
    pub(crate) sync_state: Mutex<sync::SyncState>,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Serialises trade-state changes: check-then-append must not interleave.
    pub(crate) trade_lock: tokio::sync::Mutex<()>,
    /// Serialises posting: the quota check and the insert must not interleave;
    /// nor may a post and [`Node::reconcile_providing`].
    pub(crate) post_lock: tokio::sync::Mutex<()>,
    pub(crate) backoff: Mutex<trades::Backoff>,
    /// Every task the node spawns, so shutdown can wait for all of them (each may
    /// hold the store, whose lock frees the data directory only when dropped).
    pub(crate) tracker: tokio_util::task::TaskTracker,
    /// Own offers already announced as expiring soon.
    pub(crate) expiring_notified: Mutex<HashSet<OfferId>>,
    /// Book syncs from peers under way.
    pub(crate) syncs_in_flight: std::sync::atomic::AtomicUsize,
}

impl Inner {
    pub(crate) fn emit(&self, event: NodeEvent) {
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    pub(crate) fn store_failed(&self, e: StoreError) {
        tracing::error!("store: {e}");
    }

    pub(crate) fn is_blocked(&self, key: &PublicKey) -> bool {
        self.blocked.lock().is_ok_and(|b| b.contains(key))
    }
}

/// A running node. Cheap to clone; every clone is the same node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl Node {
    /// Starts a node: opens (or creates) the data directory, loads (or creates)
    /// the identity, opens the store, starts the network and the node's tasks.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| IdentityError::Io {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let key = identity::load_or_create(&config.data_dir.join(IDENTITY_FILE))?;
        let store = Store::open(config.data_dir.join("db"), &config.store)?;
        let (net, net_events) =
            peerfx_net::start(key.to_libp2p(), config.net.clone(), &config.limits).await?;

        let mut blocked = HashSet::new();
        for (peer, rec) in store.peer_list()? {
            if rec.blocked {
                if let Ok(peer) = peer.parse::<PeerId>() {
                    net.set_blocked(peer, true).await?;
                    if let Some(key) = public_key_of(&peer) {
                        blocked.insert(key);
                    }
                }
            }
        }
        let (events, _) = broadcast::channel(1024);
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            key,
            limits: config.limits.clone(),
            store,
            net,
            events,
            metrics: Metrics::default(),
            markets: Mutex::new(HashSet::new()),
            peer_markets: Mutex::new(HashMap::new()),
            blocked: Mutex::new(blocked),
            sync_state: Mutex::new(sync::SyncState::default()),
            shutdown,
            trade_lock: tokio::sync::Mutex::new(()),
            post_lock: tokio::sync::Mutex::new(()),
            backoff: Mutex::new(trades::Backoff::default()),
            tracker: tokio_util::task::TaskTracker::new(),
            expiring_notified: Mutex::new(HashSet::new()),
            syncs_in_flight: Default::default(),
            config,
        });
        let node = Node { inner };

        let mut markets: HashSet<Market> = node.inner.config.markets.iter().copied().collect();
        let start_time = now();
        for own in node.inner.store.own_live(start_time)? {
            if own.status == OwnStatus::Open {
                if let Ok(m) = own.offer.body.market() {
                    markets.insert(m);
                }
                // The book is written behind; after a crash an own offer can
                // be missing from it, though never from `own_offers`.
                let state = (
                    Verified::assume_verified(own.offer),
                    own.last_update.map(Verified::assume_verified),
                );
                node.inner.store.book_merge_many(
                    std::slice::from_ref(&state),
                    start_time,
                    &node.inner.limits,
                )?;
            }
        }
        for m in markets {
            node.follow_market(m).await?;
        }
        node.reconcile_providing().await?;
        node.redial_known_peers().await?;
        tasks::spawn(node.inner.clone(), net_events);
        tracing::info!(peer_id = %node.peer_id(), "node started");
        Ok(node)
    }

    /// This node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.inner.net.peer_id()
    }

    /// This node's public key (the author of its offers).
    pub fn public_key(&self) -> PublicKey {
        self.inner.key.public()
    }

    /// The store, for read access by embedders.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The network handle.
    pub fn net(&self) -> &NetHandle {
        &self.inner.net
    }

    /// Counters for monitoring.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A stream of what happens from now on.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// Follows a market: subscribes to its topic and syncs its book from peers
    /// that have it (connected peers subscribed to it, and DHT providers).
    pub async fn follow_market(&self, market: Market) -> Result<(), NodeError> {
        let new = self
            .inner
            .markets
            .lock()
            .map(|mut m| m.insert(market))
            .unwrap_or(false);
        if new {
            self.inner.net.subscribe(market).await?;
            sync::sync_market(self.inner.clone(), market);
        }
        Ok(())
    }

    /// Book syncs from peers under way: while any is, the book may still be
    /// filling (right after start, or after a partition heals).
    pub fn syncs_in_flight(&self) -> usize {
        self.inner
            .syncs_in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Markets this node follows.
    pub fn markets(&self) -> Vec<Market> {
        let mut v: Vec<_> = self
            .inner
            .markets
            .lock()
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Most known peers redialed at start.
    const REDIAL_AT_START: usize = 16;

    /// Dials the most recently seen peers this node once dialed, so a restarted
    /// node rejoins without being told where the network is. Unreachable ones
    /// just fail in the background.
    async fn redial_known_peers(&self) -> Result<(), NodeError> {
        let mut peers = self.inner.store.peer_list()?;
        peers.retain(|(_, r)| !r.blocked && !r.addrs.is_empty());
        peers.sort_by_key(|(_, r)| std::cmp::Reverse(r.last_seen));
        for (peer, rec) in peers.into_iter().take(Self::REDIAL_AT_START) {
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            for addr in &rec.addrs {
                if let Ok(addr) = addr.parse::<peerfx_net::Multiaddr>() {
                    let addr = addr.with_p2p(peer).unwrap_or_else(|a| a);
                    if let Err(e) = self.inner.net.dial(addr).await {
                        tracing::debug!("redial {peer}: {e}");
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes this node's DHT announcements match the markets it has open
    /// offers in: makers provide a market, and a node whose last offer there
    /// closed or expired stops. Run at start, after a cancel and on every
    /// maintenance tick, which catches fills and expiry, and announces again
    /// a market whose announcement reached no peer (the network forgets
    /// those), such as one made at start before any peer was connected.
    pub(crate) async fn reconcile_providing(&self) -> Result<(), NodeError> {
        let _posting = self.inner.post_lock.lock().await;
        let open: HashSet<Market> = self
            .inner
            .store
            .own_live(now())?
            .iter()
            .filter(|o| o.status == OwnStatus::Open)
            .filter_map(|o| o.offer.body.market().ok())
            .collect();
        let provided: HashSet<Market> =
            self.inner.net.info().await?.providing.into_iter().collect();
        for &m in open.difference(&provided) {
            self.inner.net.provide(m).await?;
        }
        for &m in provided.difference(&open) {
            tracing::debug!("no open offers left in {m}: no longer providing it");
            self.inner.net.stop_providing(m).await?;
        }
        Ok(())
    }

    /// Signs, stores (flushed) and publishes a new offer.
    pub async fn post_offer(&self, spec: OfferSpec) -> Result<Verified<Offer>, NodeError> {
        let now = now();
        let payment_methods = if spec.payment_methods.is_empty() {
            vec!["cash"
                .parse()
                .map_err(|e: peerfx_core::geo::PaymentMethodError| {
                    NodeError::BadInput(e.to_string())
                })?]
        } else {
            spec.payment_methods
        };
        let offer = Offer {
            maker: self.inner.key.public(),
            give: spec.give,
            min_give: spec.min_give,
            max_give: spec.max_give,
            want: spec.want,
            rate: spec.rate,
            payment_methods,
            geohash: spec.geohash,
            note: spec.note,
            created_at: now,
            expires_at: now.plus(spec.lifetime.as_secs()),
            nonce: rand::random(),
        };
        let offer = validate(
            Signed::sign(offer, &self.inner.key),
            now,
            &self.inner.limits,
        )?;
        let market = offer.market()?;
        let _posting = self.inner.post_lock.lock().await;
        // Peers would drop an offer past the quota; say so instead.
        let open = self.inner.store.own_open_count(now);
        if open >= self.inner.limits.max_open_offers_per_maker {
            return Err(NodeError::TooManyOffers { open });
        }
        // Stored before it is published: an offer the network knows is never one
        // this node forgot.
        self.inner.store.own_insert(&offer)?;
        let outcome = self
            .inner
            .store
            .book_insert(&offer, now, &self.inner.limits)?;
        if let InsertOutcome::InsertedInPlaceOf(evicted) = outcome {
            self.inner.evicted(evicted);
        }
        self.follow_market(market).await?;
        self.inner.net.provide(market).await?;
        self.publish(market, GossipMessage::offer(offer.signed().clone(), None))
            .await?;
        self.inner.emit(NodeEvent::OfferAdded {
            id: offer.id(),
            market,
        });
        Ok(offer)
    }

    async fn publish(&self, market: Market, msg: GossipMessage) -> Result<(), NodeError> {
        Ok(self.inner.net.publish(market, codec::encode(&msg)).await?)
    }

    /// Cancels an own offer: signs the cancel, records it, removes the offer from
    /// the book and tells the network.
    pub async fn cancel_offer(&self, id: OfferId) -> Result<(), NodeError> {
        let own = self
            .inner
            .store
            .own_get(&id)?
            .ok_or(NodeError::UnknownOffer(id))?;
        if own.status != OwnStatus::Open {
            return Err(NodeError::NotOpen(id));
        }
        let now = now();
        let cancel = Signed::sign(
            OfferCancel {
                offer_id: id,
                maker: self.inner.key.public(),
                created_at: now,
            },
            &self.inner.key,
        );
        let verified = validate(cancel.clone(), now, &self.inner.limits)?;
        if !self.inner.store.own_cancel(&cancel)? {
            return Err(NodeError::NotOpen(id));
        }
        self.inner
            .store
            .book_apply_cancel(&verified, &self.inner.limits)?;
        self.publish(own.offer.body.market()?, GossipMessage::Cancel(cancel))
            .await?;
        self.inner.emit(NodeEvent::OfferRemoved {
            id,
            reason: RemovalReason::Cancelled,
        });
        self.reconcile_providing().await
    }

    /// Signs a fresh update for an own open offer (same remaining, next seq) and
    /// gossips it with the offer. Used for re-announcement.
    pub(crate) async fn announce(&self, own: &OwnOffer) -> Result<(), NodeError> {
        let inner = &self.inner;
        let now = now();
        let offer_id = Verified::assume_verified(own.offer.clone()).id();
        let update = Signed::sign(
            OfferUpdate {
                offer_id,
                maker: inner.key.public(),
                remaining: own.remaining,
                seq: own.seq() + 1,
                created_at: now,
            },
            &inner.key,
        );
        if !inner.store.own_record_update(&update)? {
            return Ok(());
        }
        let verified = validate(update.clone(), now, &inner.limits)?;
        inner.store.book_apply_update(&verified)?;
        let market = own.offer.body.market()?;
        self.publish(
            market,
            GossipMessage::offer(own.offer.clone(), Some(update)),
        )
        .await
    }

    /// Re-announces every own open offer now, and re-sends the cancels of own
    /// offers that could still be circulating.
    pub async fn reannounce(&self) -> Result<usize, NodeError> {
        let now = now();
        let mut n = 0;
        for own in self.inner.store.own_live(now)? {
            match (&own.status, &own.cancel) {
                (OwnStatus::Open, _) => {
                    self.announce(&own).await?;
                    n += 1;
                }
                (OwnStatus::Cancelled, Some(cancel)) => {
                    self.publish(
                        own.offer.body.market()?,
                        GossipMessage::Cancel(cancel.clone()),
                    )
                    .await?;
                }
                _ => {}
            }
        }
        Ok(n)
    }

    /// This node's own offers.
    pub fn own_offers(&self) -> Result<Vec<OwnOffer>, NodeError> {
        Ok(self.inner.store.own_list()?)
    }

    /// The best `limit` matches for a taker's query; follows the market if it
    /// was not followed yet (its book fills as the sync completes).
    pub async fn book(
        &self,
        query: &MatchQuery,
        limit: usize,
    ) -> Result<Vec<(BookEntry, Fill)>, NodeError> {
        self.follow_market(Market::new(query.pay, query.receive)?)
            .await?;
        let mut out = self
            .inner
            .store
            .book_query(query, now(), limit.saturating_add(16))?;
        out.retain(|(e, _)| !self.inner.is_blocked(&e.offer.maker));
        out.truncate(limit);
        Ok(out)
    }

    /// Open offers in the book, optionally of one market.
    pub fn book_list(
        &self,
        market: Option<Market>,
        limit: usize,
    ) -> Result<Vec<BookEntry>, NodeError> {
        let mut out = self
            .inner
            .store
            .book_list(market, now(), limit.saturating_add(16))?;
        out.retain(|e| !self.inner.is_blocked(&e.offer.maker));
        out.truncate(limit);
        Ok(out)
    }

    /// One offer of the book.
    pub fn book_get(&self, id: &OfferId) -> Result<Option<BookEntry>, NodeError> {
        Ok(self.inner.store.book_get(id)?)
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NodeError> {
        Ok(self
            .inner
            .net
            .info()
            .await?
            .connected
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    /// A peer's gossipsub score, as this node sees it.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NodeError> {
        Ok(self.inner.net.peer_score(peer).await?)
    }

    /// Blocks (or unblocks) a peer: its offers are hidden, its connections refused.
    pub async fn set_blocked(&self, peer: PeerId, blocked: bool) -> Result<(), NodeError> {
        self.inner
            .store
            .peer_set_blocked(&peer.to_string(), blocked)?;
        self.inner.net.set_blocked(peer, blocked).await?;
        if let (Some(key), Ok(mut set)) = (public_key_of(&peer), self.inner.blocked.lock()) {
            if blocked {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        }
        Ok(())
    }

    /// Stops the node's tasks and the network, waits for the tasks to end, and
    /// flushes the store. Once every clone of the node is dropped, the data
    /// directory is free for another node.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let _ = self.inner.net.shutdown().await;
        self.inner.tracker.close();
        if tokio::time::timeout(Duration::from_secs(10), self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some node tasks did not stop within 10 s");
        }
        if let Err(e) = self.inner.store.flush() {
            tracing::error!("flush at shutdown: {e}");
        }
    }

    /// A backup of this node (identity, own offers, trades) as file bytes. It
    /// contains the secret key: write it somewhere only the user can read.
    pub fn export_backup(&self) -> Result<Vec<u8>, NodeError> {
        Ok(self
            .inner
            .store
            .export_backup(&self.inner.key, now())?
            .to_bytes())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }
}

/// The ed25519 public key inside an ed25519 PeerId (peerfx PeerIds always are).
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let key = libp2p_identity_from_peer(peer)?;
    Some(PublicKey(key))
}

fn libp2p_identity_from_peer(peer: &PeerId) -> Option<[u8; 32]> {
    // An ed25519 PeerId is the identity multihash of the protobuf-encoded public
    // key: the key is its last 32 bytes.
    let bytes = peer.to_bytes();
    let key: [u8; 32] = bytes.get(bytes.len().checked_sub(32)?..)?.try_into().ok()?;
    (PublicKey(key).peer_id().ok()? == *peer).then_some(key)
}
