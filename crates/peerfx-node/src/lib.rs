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
//! One module per responsibility; each adds its part of [`Node`]'s API:
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`NodeConfig`] and its parts, [`Profile`] |
//! | [`error`], [`event`], [`view`] | what the API returns and tells |
//! | `offers` | post, cancel, republish, (re-)announce own offers |
//! | `queries` | the book, own offers, status |
//! | `markets` | which markets the node follows |
//! | `providing` | DHT announcements of the markets with own offers |
//! | `presence` | whether a maker is online, away or offline, from its re-announcements |
//! | `peers` | block list, remembered peers, redial |
//! | `ingest` | every offer, update and cancel from the network |
//! | `sync` | book sync with peers, both ways |
//! | `lookups` | DHT lookups, with backoff, of markets with too few peers |
//! | `trades` | take (taker), serve takes and steps (maker), deliver steps |
//! | `backup` | export and import |
//! | `lifecycle` | pause and resume, for an app in the background |
//! | `pump`, `maintenance` | the node's tasks |
//! | `metrics` | counters, and the OpenMetrics text |
//!
//! Tasks run on the caller's tokio runtime: the network event loop (in
//! peerfx-net), the **pump** (validates every gossiped message and reports the
//! verdict, serves and starts syncs, answers trade requests), and
//! **maintenance** (purges what expired, re-announces own offers, writes the
//! book behind, resends trade messages).
//!
//! Own offers are stored (and flushed) before they are published, survive a
//! restart, and are re-announced periodically with a fresh signed update, so
//! books converge even across partitions.

pub mod config;
pub mod error;
pub mod event;
pub mod input;
pub mod view;

mod backup;
mod budget;
mod check;
mod identity;
mod ingest;
mod inner;
mod lifecycle;
mod locks;
mod lookups;
mod mailbox;
mod maintenance;
mod markets;
mod metrics;
mod offers;
mod peers;
mod presence;
mod providing;
mod pump;
mod queries;
mod reputation;
mod sync;
mod trades;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use peerfx_core::{PublicKey, Timestamp};
use peerfx_net::PeerId;
use peerfx_store::Store;
use tokio::sync::{broadcast, watch};

pub use backup::ImportStats;
pub use config::{NodeConfig, Profile, TradeConfig};
pub use error::NodeError;
pub use event::{NodeEvent, RemovalReason};
pub use identity::{load_or_create as load_or_create_identity, IdentityError, IDENTITY_FILE};
pub use ingest::check::{
    verify_states, CheckedBatch, CheckedGossip, Checker, GossipPayload, VerifiedState,
    GOSSIP_BATCH, MAX_BATCHES_IN_FLIGHT, VERIFY_CHUNK,
};
pub use ingest::IngestError;
pub use metrics::Metrics;
pub use offers::OfferSpec;
pub use presence::Presence;
pub use queries::{BookQuery, QueryError};
pub use view::{NodeStatus, OfferStatus, OwnOfferView, PageRequest, Paged, TradeView};

use inner::Inner;

/// The database's directory inside the data directory.
pub const DB_DIR: &str = "db";

/// The current time as a [`Timestamp`]. The one place the node reads the clock.
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(secs)
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
        config.trade.check_windows().map_err(NodeError::Config)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| IdentityError::Io {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let key = identity::load_or_create(&config.data_dir.join(IDENTITY_FILE))?;
        let store = open_store(&config.data_dir, &config.store)?;
        let ratings = reputation::RatingRoom::load(&store, &config.ratings)?;
        let (net, net_events) =
            peerfx_net::start(key.to_libp2p(), config.net.clone(), &config.limits).await?;
        let peers = peers::Peers::load(&store)?;
        for peer in peers.blocked_peers() {
            net.set_blocked(peer, true).await?;
        }
        let (shutdown, _) = watch::channel(false);
        let node = Node {
            inner: Arc::new(Inner {
                key,
                store,
                net,
                events: broadcast::channel(1024).0,
                metrics: Metrics::default(),
                markets: markets::Following::default(),
                peers,
                sync: sync::SyncState::default(),
                lookups: lookups::Lookups::default(),
                trades: trades::TradeRoom::default(),
                offers: offers::OfferRoom::default(),
                ratings,
                mail: mailbox::Mail::default(),
                shutdown,
                paused: watch::channel(false).0,
                tracker: tokio_util::task::TaskTracker::new(),
                last_store_failure: std::sync::Mutex::new(None),
                config,
            }),
        };
        let own_markets = node.restore_own_offers()?;
        let mut markets = node.inner.config.markets.clone();
        markets.extend(own_markets);
        for m in markets {
            node.follow_market(m).await?;
        }
        node.reconcile_providing().await?;
        node.redial_known_peers().await?;
        node.load_undelivered()?;
        pump::spawn(node.inner.clone(), net_events);
        maintenance::spawn(node.inner.clone());
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

    /// Counters for monitoring.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A stream of what happens from now on.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
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
        if let Err(e) = self.inner.store.flush().await {
            tracing::error!("flush at shutdown: {e}");
        }
    }
}

/// Opens the store of `data_dir`; one in use by another node is
/// [`NodeError::Running`].
pub(crate) fn open_store(
    data_dir: &Path,
    config: &peerfx_store::StoreConfig,
) -> Result<Store, NodeError> {
    Store::open(data_dir.join(DB_DIR), config).map_err(|e| match e {
        peerfx_store::StoreError::Locked(_) => NodeError::Running(data_dir.to_path_buf()),
        e => e.into(),
    })
}

/// The ed25519 public key inside an ed25519 PeerId (peerfx PeerIds always are).
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    // An ed25519 PeerId is the identity multihash of the protobuf-encoded
    // public key: the key is its last 32 bytes.
    let bytes = peer.to_bytes();
    let key: [u8; 32] = bytes.get(bytes.len().checked_sub(32)?..)?.try_into().ok()?;
    let key = PublicKey(key);
    (key.peer_id().ok()? == *peer).then_some(key)
}
