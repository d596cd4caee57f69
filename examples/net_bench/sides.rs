//! The two (or four) sides of the comparison: N peerfx nodes, and N bare
//! peerfx-net nodes gossiping a payload, on the same random tree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use peerfx::core::protocol::GossipMessage;
use peerfx::core::{Keypair, Market, OfferId, Signed, WireLimits};
use peerfx::net::{Acceptance, Gossip, Multiaddr, NetConfig, NetHandle};
use peerfx::node::{Node, NodeConfig, NodeEvent, OfferSpec};
use rand::{Rng, SeedableRng};

use crate::measure::{Arrivals, Meter};
use crate::{OFFERS_PER_RUN, TIMEOUT};

pub(crate) fn net_config(bootstrap: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootstrap,
        mdns: false,
        // The memory ceiling is the whole process's, and here the process holds
        // every node of every side and run (allocators keep freed memory): at
        // N = 50 it passed 512 MiB and later nodes could not connect at all.
        max_memory_bytes: usize::MAX,
        // Two networks of 50 nodes hold 4 900 connections, and their pings
        // (a new stream per connection every 15 s, each way) kept a sixth of
        // a core busy and came in waves: noise that either side's messages
        // met by chance. Both sides ping rarely here; pings carry no gossip.
        ping_interval: Duration::from_secs(600),
        ..NetConfig::default()
    }
}

pub(crate) fn market() -> Market {
    "EUR-USD".parse().expect("market")
}

/// The first address `node` listens on, with `/p2p/<id>`, once it has one.
pub(crate) async fn node_addr(node: &Node) -> Multiaddr {
    loop {
        if let Some(a) = node.status().await.expect("status").listen_addrs.first() {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first address `net` listens on, with `/p2p/<id>`, once it has one.
pub(crate) async fn listen_addr(net: &NetHandle) -> Multiaddr {
    loop {
        let addrs = net.info().await.expect("info").listen_addrs;
        if let Some(a) = addrs.first() {
            return a.clone().with_p2p(net.peer_id()).expect("p2p");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Parent of node i in a random tree: each node bootstraps from a random earlier one.
pub(crate) fn topology(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| if i == 0 { 0 } else { rng.gen_range(0..i) })
        .collect()
}

/// What a raw-gossipsub side publishes, and what a node does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Payload {
    /// A few bytes, accepted at once: the baseline.
    Trivial,
    /// A signed offer message of the size peerfx gossips, accepted at once.
    Offer,
    /// The same, decoded and its signature checked before it is accepted.
    VerifiedOffer,
}

impl Payload {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Payload::Trivial => "raw",
            Payload::Offer => "raw+offer bytes",
            Payload::VerifiedOffer => "raw+offer bytes+verify",
        }
    }

    /// The `k`th message. Offers are signed here, before the clock starts:
    /// peerfx's post includes its signing, the baseline's publish does not.
    pub(crate) fn message(self, k: usize, warm: bool) -> Vec<u8> {
        match self {
            Payload::Trivial => format!("{}-{k}", if warm { "warm" } else { "msg" }).into_bytes(),
            Payload::Offer | Payload::VerifiedOffer => {
                let maker = Keypair::generate();
                let nonce = if warm { u64::MAX - k as u64 } else { k as u64 };
                let mut o = peerfx::core::testing::offer(&maker, "EUR", "USD", "1.08", nonce);
                o.created_at = peerfx::node::now();
                o.expires_at = o.created_at.plus(3600);
                let msg = GossipMessage::offer(Signed::sign(o, &maker), None);
                peerfx::core::codec::encode(&msg)
            }
        }
    }

    /// What the receiving node does before it accepts a message: for
    /// `VerifiedOffer`, what peerfx's ingest does short of the book.
    pub(crate) fn check(self, data: &[u8], limits: &WireLimits) {
        if self == Payload::VerifiedOffer {
            let ok = match peerfx::core::codec::decode::<GossipMessage>(data) {
                Ok(GossipMessage::Offer(state)) => {
                    peerfx::core::validate(state.offer, peerfx::node::now(), limits).is_ok()
                }
                _ => false,
            };
            assert!(ok, "benchmark offer failed validation");
        }
    }
}

/// N peerfx nodes, each a whole `Node`: sign, store, gossip, validate, book.
pub(crate) struct PeerfxSide {
    nodes: Vec<Node>,
    arrivals: Arc<Arrivals<OfferId>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl PeerfxSide {
    pub(crate) async fn start(n: usize, seed: u64) -> PeerfxSide {
        eprintln!("N={n} peerfx: starting nodes");
        let mut nodes: Vec<Node> = Vec::new();
        let mut addrs: Vec<Multiaddr> = Vec::new();
        let mut dirs = Vec::new();
        for (i, parent) in topology(n, seed).into_iter().enumerate() {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut c = NodeConfig::new(dir.path());
            c.net = net_config(if i == 0 {
                vec![]
            } else {
                vec![addrs[parent].clone()]
            });
            c.markets = vec![market()];
            let node = Node::start(c).await.expect("node");
            addrs.push(node_addr(&node).await);
            nodes.push(node);
            dirs.push(dir);
        }
        let arrivals = Arrivals::new();
        for node in &nodes {
            let mut events = node.events();
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                while let Ok(e) = events.recv().await {
                    if let NodeEvent::OfferAdded { id, .. } = e {
                        arrivals.record(id);
                    }
                }
            });
        }
        PeerfxSide {
            nodes,
            arrivals,
            _dirs: dirs,
        }
    }

    /// Every node posts one offer, and each must reach everyone. That lets
    /// meshes form, and makes every node a maker in the market, as in a
    /// market in steady state: a node's first offer in a market also
    /// registers it as a provider in the DHT (a Kademlia query touching ~20
    /// peers), which happens once per node and market, not per offer.
    pub(crate) async fn warm_up(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            let rate = format!("2.{:04}", i + 1);
            let warm = node
                .post_offer(OfferSpec::parse("EUR", "100", "500", "USD", &rate).expect("spec"))
                .await
                .expect("post");
            if self
                .arrivals
                .wait(&warm.id(), self.nodes.len(), TIMEOUT)
                .await
                .is_none()
            {
                eprintln!("peerfx: warm-up offer {i} did not reach every node");
            }
        }
    }

    /// Posts offer `k` from node `from`; returns when the post started, how
    /// long it took, and when the offer was in every book.
    pub(crate) async fn send(&self, k: usize, from: usize) -> (Instant, Duration, Option<Instant>) {
        let rate = format!("1.{:04}", k + 1);
        let t0 = Instant::now();
        let offer = self.nodes[from]
            .post_offer(OfferSpec::parse("EUR", "100", "500", "USD", &rate).expect("spec"))
            .await
            .expect("post");
        let post = t0.elapsed();
        // The maker's own book counts: n arrivals.
        (
            t0,
            post,
            self.arrivals
                .wait(&offer.id(), self.nodes.len(), TIMEOUT)
                .await,
        )
    }

    pub(crate) fn meters(&self) -> Vec<Meter> {
        self.nodes.iter().cloned().map(Meter::Node).collect()
    }

    pub(crate) async fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown().await;
        }
    }
}

/// N nodes of peerfx-net alone, `payload`'s messages, each accepted once
/// [`Payload::check`] has run.
pub(crate) struct RawSide {
    payload: Payload,
    nets: Vec<NetHandle>,
    arrivals: Arc<Arrivals<Vec<u8>>>,
    /// Messages signed ahead, so that signing is not timed.
    messages: Vec<Vec<u8>>,
}

impl RawSide {
    pub(crate) async fn start(n: usize, seed: u64, payload: Payload) -> RawSide {
        eprintln!("N={n} {}: starting", payload.label());
        let arrivals = Arrivals::new();
        let mut nets = Vec::new();
        let mut addrs: Vec<Multiaddr> = Vec::new();
        for (i, parent) in topology(n, seed).into_iter().enumerate() {
            let key = Keypair::generate().to_libp2p();
            let (net, mut events) = peerfx::net::start(
                key,
                net_config(if i == 0 {
                    vec![]
                } else {
                    vec![addrs[parent].clone()]
                }),
                &Default::default(),
            )
            .await
            .expect("net");
            net.subscribe(market()).await.expect("subscribe");
            let h = net.clone();
            // Delivered to the application the way a node delivers an offer:
            // the task that consumes network events announces it on a
            // broadcast channel, then reports the verdict; a subscriber
            // takes the time.
            let (delivered, mut subscriber) = tokio::sync::broadcast::channel::<Vec<u8>>(1024);
            tokio::spawn(async move {
                let limits = WireLimits::default();
                while let Some(e) = events.gossip.recv().await {
                    {
                        let Gossip { token, data, .. } = e;
                        payload.check(&data, &limits);
                        let _ = delivered.send(data);
                        let _ = h.report(token, Acceptance::Accept).await;
                    }
                }
            });
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                while let Ok(data) = subscriber.recv().await {
                    arrivals.record(data);
                }
            });
            addrs.push(listen_addr(&net).await);
            nets.push(net);
        }
        RawSide {
            payload,
            nets,
            arrivals,
            messages: (0..OFFERS_PER_RUN)
                .map(|k| payload.message(k, false))
                .collect(),
        }
    }

    /// Publishes from node 0 until a message reaches all n-1 others.
    pub(crate) async fn warm_up(&self) {
        let n = self.nets.len();
        for k in 0..300 {
            let msg = self.payload.message(k, true);
            self.nets[0]
                .publish(market(), msg.clone())
                .await
                .expect("publish");
            let within = Duration::from_millis(100);
            if self.arrivals.wait(&msg, n - 1, within).await.is_some() {
                return;
            }
        }
        eprintln!(
            "{}: warm-up message did not reach every node in 30 s",
            self.payload.label()
        );
    }

    pub(crate) async fn send(&self, k: usize, from: usize) -> (Instant, Duration, Option<Instant>) {
        let msg = &self.messages[k];
        let t0 = Instant::now();
        self.nets[from]
            .publish(market(), msg.clone())
            .await
            .expect("publish");
        let post = t0.elapsed();
        // The publisher does not deliver its own message: n-1 arrivals.
        (
            t0,
            post,
            self.arrivals.wait(msg, self.nets.len() - 1, TIMEOUT).await,
        )
    }

    pub(crate) async fn shutdown(&self) {
        for h in &self.nets {
            let _ = h.shutdown().await;
        }
    }
}

pub(crate) enum Side {
    Peerfx(PeerfxSide),
    Raw(RawSide),
}

impl Side {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Side::Peerfx(_) => "peerfx",
            Side::Raw(r) => r.payload.label(),
        }
    }

    pub(crate) async fn warm_up(&self) {
        match self {
            Side::Peerfx(s) => s.warm_up().await,
            Side::Raw(s) => s.warm_up().await,
        }
    }

    pub(crate) async fn send(&self, k: usize, from: usize) -> (Instant, Duration, Option<Instant>) {
        match self {
            Side::Peerfx(s) => s.send(k, from).await,
            Side::Raw(s) => s.send(k, from).await,
        }
    }

    pub(crate) fn meters(&self) -> Vec<Meter> {
        match self {
            Side::Peerfx(s) => s.meters(),
            Side::Raw(s) => s.nets.iter().cloned().map(Meter::Net).collect(),
        }
    }

    pub(crate) async fn shutdown(&self) {
        match self {
            Side::Peerfx(s) => s.shutdown().await,
            Side::Raw(s) => s.shutdown().await,
        }
    }
}
