//! Helpers for multi-node tests: loopback only, ephemeral ports, temp dirs, and
//! waiting for conditions with a deadline instead of sleeping.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use peerfx::core::Market;
use peerfx::net::{Multiaddr, NetConfig};
use peerfx::node::{Node, NodeConfig, OfferSpec};

pub mod cli;
#[cfg(target_os = "linux")]
pub mod ns;
pub mod trading;
#[cfg(target_os = "linux")]
pub mod wan;

/// How long any condition may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn market() -> Market {
    "EUR-USD".parse().unwrap()
}

/// A node config for tests: 127.0.0.1 only, port 0, no mDNS, fast timers.
pub fn config(dir: &std::path::Path, bootstrap: Vec<Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::new(dir);
    c.net = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        mdns: false,
        gossip_heartbeat: Duration::from_millis(100),
        ..NetConfig::default()
    };
    c.markets = vec![market()];
    c.timers.maintenance_interval = Duration::from_millis(500);
    c.sync.min_interval = Duration::from_millis(200);
    c
}

/// A bare network peer (no node behind it) for playing a hostile or
/// scripted peer: it sends what a test tells it to, signed by any key.
pub struct RawPeer {
    pub net: peerfx::net::NetHandle,
    pub events: peerfx::net::NetEvents,
    pub addr: Multiaddr,
}

pub async fn raw_peer(bootstrap: Vec<Multiaddr>) -> RawPeer {
    raw_peer_with(&peerfx::core::Keypair::generate(), bootstrap).await
}

/// A bare network peer with identity `key`.
pub async fn raw_peer_with(key: &peerfx::core::Keypair, bootstrap: Vec<Multiaddr>) -> RawPeer {
    let key = key.to_libp2p();
    let config = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        mdns: false,
        gossip_heartbeat: Duration::from_millis(100),
        ..NetConfig::default()
    };
    let (net, events) = peerfx::net::start(key, config, &Default::default())
        .await
        .unwrap();
    net.subscribe(market()).await.unwrap();
    let peer = net.peer_id();
    let addr = wait_for("the raw peer's address", || async {
        let info = net.info().await.ok()?;
        info.listen_addrs
            .first()
            .map(|a| a.clone().with_p2p(peer).unwrap())
    })
    .await;
    RawPeer { net, events, addr }
}

impl RawPeer {
    /// Sends a trade request to `to`, once connected to it.
    pub async fn trade(
        &self,
        to: peerfx::net::PeerId,
        request: peerfx::core::protocol::TradeRequest,
    ) -> peerfx::core::protocol::TradeResponse {
        wait_until("the raw peer connected", || async {
            self.net
                .info()
                .await
                .is_ok_and(|i| i.connected.iter().any(|(p, _)| *p == to))
        })
        .await;
        self.net.trade(to, request).await.unwrap()
    }
}

pub struct TestNode {
    pub node: Node,
    pub dir: tempfile::TempDir,
    pub addr: Multiaddr,
}

pub async fn start(bootstrap: Vec<Multiaddr>) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    start_with(config(dir.path(), bootstrap), dir).await
}

pub async fn start_with(config: NodeConfig, dir: tempfile::TempDir) -> TestNode {
    let node = Node::start(config).await.unwrap();
    let addr = listen_addr(&node).await;
    TestNode { node, dir, addr }
}

/// The node's first listen address with `/p2p/<id>`, once it has one.
pub async fn listen_addr(node: &Node) -> Multiaddr {
    wait_for("a listen address", || async {
        node.status().await.ok()?.listen_addrs.first().cloned()
    })
    .await
}

/// Polls `f` every 25 ms until it returns `Some`, or fails the test at [`TIMEOUT`].
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `cond` holds.
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, || {
        let fut = cond();
        async move { fut.await.then_some(()) }
    })
    .await
}

pub fn spec(rate: &str) -> OfferSpec {
    OfferSpec::parse("EUR", "100", "500", "USD", rate).unwrap()
}

pub fn has_offer(node: &Node, id: &peerfx::core::OfferId) -> bool {
    node.book_get(id).ok().flatten().is_some()
}

/// Loads a node's signing key from its data dir (tests only: to forge "the
/// maker's own" messages such as an old update).
pub fn key_of(t: &TestNode) -> peerfx::core::Keypair {
    peerfx::node::load_or_create_identity(&t.dir.path().join(peerfx::node::IDENTITY_FILE)).unwrap()
}

/// Logs to stderr when RUST_LOG is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The sum of a node's Prometheus samples whose line starts with `series`
/// (a metric name, optionally with the start of its labels).
pub async fn metric(node: &Node, series: &str) -> u64 {
    let text = node.metrics_text().await;
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Kademlia ADD_PROVIDER requests a node has received.
pub const ADD_PROVIDER: &str = "libp2p_kad_inbound_requests_total{request=\"AddProvider\"}";

/// Waits until `a` has a connection to `b`.
pub async fn wait_connected(a: &Node, b: &Node) {
    let b = b.peer_id();
    wait_until("connected", || async {
        a.peers().await.unwrap().contains(&b)
    })
    .await;
}

/// Offer `nonce` of `key` in the test market, signed, open for an hour from
/// now, as a sync page carries it.
pub fn open_offer(key: &peerfx::core::Keypair, nonce: u64) -> peerfx::core::protocol::OfferState {
    let now = peerfx::node::now();
    let mut o = peerfx::core::testing::offer(key, "EUR", "USD", "1.08", nonce);
    o.created_at = now;
    o.expires_at = now.plus(3600);
    peerfx::core::protocol::OfferState {
        offer: peerfx::core::Signed::sign(o, key),
        update: None,
    }
}
