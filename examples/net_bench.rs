//! Network benchmark: propagation latency of offers through N in-process nodes on
//! loopback, compared with raw gossipsub on the same topology, and the time to
//! sync a 10 000-offer market to a new node.
//!
//! Run: `cargo run --release --example net_bench [-- [--breakdown] N1 N2 ...]`
//! (default 10 25 50). Prints tables; docs/BENCHMARKS.md records runs.
//!
//! # How the two sides are compared
//!
//! Both networks, peerfx's and raw gossipsub's, run at once in this process,
//! and their messages are **interleaved**: offer k goes out on one side, then
//! message k on the other, the order swapping every pair. Each message is sent
//! only once the process is quiet ([`quiet`]), and its CPU cost is what the
//! process used from its send until the process is quiet again. So the two
//! sides meet the same machine within milliseconds of each other.
//!
//! Earlier versions ran one side after the other. Fifty nodes share two
//! cores, and the machine itself drifts: raw gossipsub's own p50 moved by 70 %
//! between runs of one binary, which is as wide as the gap being measured.
//! Interleaving cancels that drift; what is left is the difference between
//! the sides.
//!
//! `--breakdown` adds two more raw sides: one carrying real signed offers,
//! one that also decodes and checks each offer's signature. The overhead
//! then splits into payload, signature check and the rest of peerfx (store,
//! book, events).
//!
//! Starting N nodes is a storm: N·(N-1) connections, each with a Noise
//! handshake, identify, Kademlia and gossipsub set-up, keeps every core busy for
//! seconds at N = 50. The run waits until the process is nearly idle
//! ([`settle`]) before it sends anything, and reports how long that took.
//!
//! Linux only: CPU time is the process's CPU clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerfx::core::protocol::GossipMessage;
use peerfx::core::{Keypair, Market, OfferId, OfferUpdate, Signed, WireLimits};
use peerfx::net::{Acceptance, Gossip, Multiaddr, NetConfig, NetHandle};
use peerfx::node::{Node, NodeConfig, NodeEvent, OfferSpec};
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;

const OFFERS_PER_RUN: usize = 300;
const TIMEOUT: Duration = Duration::from_secs(30);

fn net_config(bootstrap: Vec<Multiaddr>) -> NetConfig {
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

fn market() -> Market {
    "EUR-USD".parse().expect("market")
}

/// The first address `node` listens on, with `/p2p/<id>`, once it has one.
async fn node_addr(node: &Node) -> Multiaddr {
    loop {
        if let Some(a) = node.status().await.expect("status").listen_addrs.first() {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first address `net` listens on, with `/p2p/<id>`, once it has one.
async fn listen_addr(net: &NetHandle) -> Multiaddr {
    loop {
        let addrs = net.info().await.expect("info").listen_addrs;
        if let Some(a) = addrs.first() {
            return a.clone().with_p2p(net.peer_id()).expect("p2p");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// CPU time this process has used, all threads, from the kernel's
/// nanosecond scheduler clock (`/proc/self/stat` counts only in 10 ms ticks,
/// too coarse for one message).
fn cpu_used() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel since 2.6.12 knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Waits until the start-up storm is over: the process uses less than 5 % of
/// one core over a second (or a minute passes). Returns how long that took
/// and the share of a core the process used in its last second: the idle
/// networks' own upkeep, which [`quiet`] allows for.
async fn settle() -> (Duration, f64) {
    const WINDOW: Duration = Duration::from_secs(1);
    let start = Instant::now();
    loop {
        let before = cpu_used();
        tokio::time::sleep(WINDOW).await;
        let rate = cpu_used().saturating_sub(before).as_secs_f64() / WINDOW.as_secs_f64();
        if rate < 0.05 || start.elapsed() > Duration::from_secs(60) {
            return (start.elapsed(), rate);
        }
    }
}

/// How many [`quiet`] waits gave up.
static NOT_QUIET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Waits until, over the last 20 ms, the process used no more than its idle
/// share of a core plus 10 % (or a second passes): the previous message's
/// work, forwarded copies and all, is done, and the next one starts from the
/// same state on either side.
async fn quiet(idle: f64) {
    const WINDOW: Duration = Duration::from_millis(20);
    const STEP: Duration = Duration::from_millis(1);
    let allowed = WINDOW.mul_f64(idle + 0.10);
    let start = Instant::now();
    let mut samples = std::collections::VecDeque::from([(start, cpu_used())]);
    while start.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(STEP).await;
        let (t, cpu) = (Instant::now(), cpu_used());
        samples.push_back((t, cpu));
        // Keep the newest sample that is at least a window old in front.
        while samples.len() > 1 && t.duration_since(samples[1].0) >= WINDOW {
            samples.pop_front();
        }
        let (t_old, cpu_old) = samples[0];
        if t.duration_since(t_old) >= WINDOW && cpu.saturating_sub(cpu_old) <= allowed {
            return;
        }
    }
    NOT_QUIET.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// When each message (offer id or payload) arrived at each node, with a
/// wake-up for whoever waits on them.
struct Arrivals<K> {
    times: Mutex<HashMap<K, Vec<Instant>>>,
    changed: Notify,
}

impl<K: Eq + Hash> Arrivals<K> {
    fn new() -> Arc<Self> {
        Arc::new(Arrivals {
            times: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    fn record(&self, key: K) {
        let at = Instant::now();
        self.times
            .lock()
            .expect("lock")
            .entry(key)
            .or_default()
            .push(at);
        self.changed.notify_waiters();
    }

    /// When the last of `count` arrivals of `key` happened, once there are that many.
    fn all(&self, key: &K, count: usize) -> Option<Instant> {
        let times = self.times.lock().expect("lock");
        let v = times.get(key).filter(|v| v.len() >= count)?;
        v.iter().max().copied()
    }

    /// Waits up to `within` for `count` arrivals of `key`.
    async fn wait(&self, key: &K, count: usize, within: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            if let Some(t) = self.all(key, count) {
                return Some(t);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.all(key, count);
            }
        }
    }
}

/// Gossip messages these nodes have received so far, duplicates included:
/// gossipsub's own count, taken before its duplicate check (and after its
/// signature check, which every copy pays).
/// Where a side's gossipsub metrics come from.
#[derive(Clone)]
enum Meter {
    Node(Node),
    Net(NetHandle),
}

impl Meter {
    async fn text(&self) -> String {
        match self {
            Meter::Node(n) => n.metrics_text().await,
            Meter::Net(n) => n.metrics_text().await.unwrap_or_default(),
        }
    }
}

async fn copies_received(meters: &[Meter]) -> u64 {
    let mut total = 0;
    for m in meters {
        let text = m.text().await;
        total += text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("topic_msg_recv_counts_unfiltered"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// Parent of node i in a random tree: each node bootstraps from a random earlier one.
fn topology(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| if i == 0 { 0 } else { rng.gen_range(0..i) })
        .collect()
}

/// What a raw-gossipsub side publishes, and what a node does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Payload {
    /// A few bytes, accepted at once: the baseline.
    Trivial,
    /// A signed offer message of the size peerfx gossips, accepted at once.
    Offer,
    /// The same, decoded and its signature checked before it is accepted.
    VerifiedOffer,
}

impl Payload {
    fn label(self) -> &'static str {
        match self {
            Payload::Trivial => "raw",
            Payload::Offer => "raw+offer bytes",
            Payload::VerifiedOffer => "raw+offer bytes+verify",
        }
    }

    /// The `k`th message. Offers are signed here, before the clock starts:
    /// peerfx's post includes its signing, the baseline's publish does not.
    fn message(self, k: usize, warm: bool) -> Vec<u8> {
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
    fn check(self, data: &[u8], limits: &WireLimits) {
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
struct PeerfxSide {
    nodes: Vec<Node>,
    arrivals: Arc<Arrivals<OfferId>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl PeerfxSide {
    async fn start(n: usize, seed: u64) -> PeerfxSide {
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
    async fn warm_up(&self) {
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
    async fn send(&self, k: usize, from: usize) -> (Instant, Duration, Option<Instant>) {
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

    fn meters(&self) -> Vec<Meter> {
        self.nodes.iter().cloned().map(Meter::Node).collect()
    }

    async fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown().await;
        }
    }
}

/// N nodes of peerfx-net alone, `payload`'s messages, each accepted once
/// [`Payload::check`] has run.
struct RawSide {
    payload: Payload,
    nets: Vec<NetHandle>,
    arrivals: Arc<Arrivals<Vec<u8>>>,
    /// Messages signed ahead, so that signing is not timed.
    messages: Vec<Vec<u8>>,
}

impl RawSide {
    async fn start(n: usize, seed: u64, payload: Payload) -> RawSide {
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
    async fn warm_up(&self) {
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

    async fn send(&self, k: usize, from: usize) -> (Instant, Duration, Option<Instant>) {
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

    async fn shutdown(&self) {
        for h in &self.nets {
            let _ = h.shutdown().await;
        }
    }
}

enum Side {
    Peerfx(PeerfxSide),
    Raw(RawSide),
}

impl Side {
    fn label(&self) -> &'static str {
        match self {
            Side::Peerfx(_) => "peerfx",
            Side::Raw(r) => r.payload.label(),
        }
    }

    async fn warm_up(&self) {
        match self {
            Side::Peerfx(s) => s.warm_up().await,
            Side::Raw(s) => s.warm_up().await,
        }
    }

    async fn send(&self, k: usize, from: usize) -> (Instant, Duration, Option<Instant>) {
        match self {
            Side::Peerfx(s) => s.send(k, from).await,
            Side::Raw(s) => s.send(k, from).await,
        }
    }

    fn meters(&self) -> Vec<Meter> {
        match self {
            Side::Peerfx(s) => s.meters(),
            Side::Raw(s) => s.nets.iter().cloned().map(Meter::Net).collect(),
        }
    }

    async fn shutdown(&self) {
        match self {
            Side::Peerfx(s) => s.shutdown().await,
            Side::Raw(s) => s.shutdown().await,
        }
    }
}

/// What one side measured.
#[derive(Default)]
struct Run {
    /// Send to last arrival, per message.
    latencies: Vec<Duration>,
    /// How long the send itself took (peerfx: sign, store, flush, publish).
    posts: Vec<Duration>,
    /// From the send's return until the last arrival: the network's part.
    after_post: Vec<Duration>,
    /// CPU time of the whole process, send until quiet again, less the idle
    /// networks' share, per message.
    cpu: Vec<Duration>,
    /// Copies of each message a node received, duplicates included.
    copies_per_node: f64,
    /// Messages that did not reach every node within [`TIMEOUT`].
    lost: usize,
}

fn percentiles(v: &[Duration]) -> [Duration; 4] {
    let mut v = v.to_vec();
    v.sort();
    if v.is_empty() {
        return [Duration::ZERO; 4];
    }
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    [at(0.5), at(0.95), at(0.99), v[v.len() - 1]]
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / v.len().max(1) as u32
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Starts every side for `n` nodes, interleaves their messages, and returns
/// one [`Run`] per side (peerfx first, then raw, then the breakdown sides),
/// how long settling took and the idle share of a core.
async fn propagation(n: usize, breakdown: bool) -> (Vec<(&'static str, Run)>, Duration, f64) {
    let seed = n as u64;
    let mut sides = vec![
        Side::Peerfx(PeerfxSide::start(n, seed).await),
        Side::Raw(RawSide::start(n, seed, Payload::Trivial).await),
    ];
    if breakdown {
        for p in [Payload::Offer, Payload::VerifiedOffer] {
            sides.push(Side::Raw(RawSide::start(n, seed, p).await));
        }
    }
    for side in &sides {
        eprintln!("N={n} {}: warming up", side.label());
        side.warm_up().await;
    }
    eprintln!("N={n}: settling");
    let (settled_in, idle) = settle().await;
    eprintln!(
        "N={n}: idle at {:.1} % of a core; sending {OFFERS_PER_RUN} messages per side, interleaved",
        idle * 100.0
    );
    let nets: Vec<Vec<Meter>> = sides.iter().map(Side::meters).collect();
    let mut copies_before = Vec::new();
    for nets in &nets {
        copies_before.push(copies_received(nets).await);
    }
    let mut runs: Vec<Run> = sides.iter().map(|_| Run::default()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 1);
    for k in 0..OFFERS_PER_RUN {
        // The same sender on every side; who goes first rotates.
        let from = rng.gen_range(0..n);
        for j in 0..sides.len() {
            let i = (j + k) % sides.len();
            quiet(idle).await;
            let cpu0 = cpu_used();
            let (t0, post, arrived) = sides[i].send(k, from).await;
            quiet(idle).await;
            // What the idle networks used meanwhile is nobody's message.
            let background = t0.elapsed().mul_f64(idle);
            let run = &mut runs[i];
            run.cpu
                .push(cpu_used().saturating_sub(cpu0).saturating_sub(background));
            run.posts.push(post);
            match arrived {
                Some(t) => {
                    let latency = t.saturating_duration_since(t0);
                    run.latencies.push(latency);
                    run.after_post.push(latency.saturating_sub(post));
                }
                None => run.lost += 1,
            }
        }
    }
    for ((run, nets), before) in runs.iter_mut().zip(&nets).zip(copies_before) {
        let copies = copies_received(nets).await - before;
        // A sender receives none of its own message.
        run.copies_per_node = copies as f64 / ((n - 1) * OFFERS_PER_RUN) as f64;
    }
    eprintln!("N={n}: stopping");
    for side in &sides {
        side.shutdown().await;
    }
    let not_quiet = NOT_QUIET.swap(0, std::sync::atomic::Ordering::Relaxed);
    if not_quiet > 0 {
        eprintln!("N={n}: {not_quiet} waits for a quiet process gave up after 1 s");
    }
    let labels = sides.iter().map(Side::label);
    (labels.zip(runs).collect(), settled_in, idle)
}

/// Time for a new node to sync a market of `count` offers from one peer. With
/// `updates`, every offer carries its maker's latest update (as after a
/// re-announcement), so each entry costs two signature checks.
async fn run_sync(count: usize, updates: bool) -> Duration {
    let dir_a = tempfile::tempdir().expect("tempdir");
    // Fill a's book on disk, before it starts, with offers from other makers.
    let now = peerfx::node::now();
    let limits = Default::default();
    // Within the open-offer quota per maker, as a real market would be.
    let per_maker = 50;
    let makers: Vec<Keypair> = (0..count.div_ceil(per_maker))
        .map(|_| Keypair::generate())
        .collect();
    let states: Vec<_> = (0..count)
        .map(|i| {
            let k = &makers[i / per_maker];
            let mut o = peerfx::core::testing::offer(k, "EUR", "USD", "1.08", i as u64);
            o.created_at = now;
            o.expires_at = now.plus(3600);
            let max_give = o.max_give;
            let offer = peerfx::core::validate(Signed::sign(o, k), now, &limits).expect("valid");
            let update = updates.then(|| {
                let u = OfferUpdate {
                    offer_id: offer.id(),
                    maker: k.public(),
                    remaining: max_give,
                    seq: 1,
                    created_at: now,
                };
                peerfx::core::validate(Signed::sign(u, k), now, &limits).expect("valid")
            });
            (offer, update)
        })
        .collect();
    {
        let store = peerfx::store::Store::open(
            dir_a.path().join(peerfx::node::DB_DIR),
            &Default::default(),
        )
        .expect("store");
        for chunk in states.chunks(256) {
            store.book_merge_many(chunk, now, &limits).expect("insert");
        }
        store.flush().await.expect("flush");
    }
    let mut c = NodeConfig::new(dir_a.path());
    c.net = net_config(vec![]);
    c.markets = vec![market()];
    let a = Node::start(c).await.expect("node");
    let addr = node_addr(&a).await;
    let dir_b = tempfile::tempdir().expect("tempdir");
    let mut c = NodeConfig::new(dir_b.path());
    c.net = net_config(vec![addr]);
    c.markets = vec![market()];
    let t0 = Instant::now();
    let b = Node::start(c).await.expect("node");
    let deadline = Instant::now() + Duration::from_secs(120);
    let book = || async { b.status().await.expect("status").book_size };
    while book().await < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t0.elapsed();
    let got = book().await;
    assert!(got >= count, "sync incomplete: {got}");
    a.shutdown().await;
    b.shutdown().await;
    took
}

#[tokio::main]
async fn main() {
    // Quiet unless asked: RUST_LOG=peerfx_node=debug shows sync and gossip.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let breakdown = args.iter().any(|a| a == "--breakdown");
    let mut sizes = Vec::new();
    for a in args.iter().filter(|a| *a != "--breakdown") {
        match a.parse::<usize>() {
            Ok(n) if n >= 2 => sizes.push(n),
            _ => {
                eprintln!("usage: net_bench [--breakdown] [N ...]   (each N at least 2)");
                std::process::exit(2);
            }
        }
    }
    if sizes.is_empty() {
        sizes = vec![10, 25, 50];
    }
    println!(
        "propagation: {OFFERS_PER_RUN} offers from random nodes, interleaved with as many \
         raw messages from the same nodes; time from post until in every node's book (ms); \
         msgs: copies of each message a node received, duplicates included; CPU: the whole \
         process's, send until quiet, mean per message, less the idle share (ms); idle: what \
         the idle networks used, share of one core\n"
    );
    println!(
        "| N | p50 | p95 | p99 | max | raw p50 | raw p99 | overhead p50 | overhead p99 | msgs \
         | raw msgs | CPU | raw CPU | overhead CPU | settled in (s) | idle |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut post_rows = Vec::new();
    let mut breakdown_rows = Vec::new();
    for n in sizes {
        let (runs, settled_in, idle) = propagation(n, breakdown).await;
        let (ours, raw) = (&runs[0].1, &runs[1].1);
        for (label, run) in &runs {
            if run.lost > 0 {
                eprintln!(
                    "N={n} {label}: {} messages did not reach every node",
                    run.lost
                );
            }
        }
        let [p50, p95, p99, max] = percentiles(&ours.latencies);
        let [r50, _, r99, _] = percentiles(&raw.latencies);
        let (cpu, raw_cpu) = (mean(&ours.cpu), mean(&raw.cpu));
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {:.2} | {:.2} | {} | {} \
             | {:.2}x | {:.1} | {:.1} % |",
            ms(p50),
            ms(p95),
            ms(p99),
            ms(max),
            ms(r50),
            ms(r99),
            ratio(p50, r50),
            ratio(p99, r99),
            ours.copies_per_node,
            raw.copies_per_node,
            ms(cpu),
            ms(raw_cpu),
            ratio(cpu, raw_cpu),
            settled_in.as_secs_f64(),
            idle * 100.0,
        );
        let [post50, _, post99, post_max] = percentiles(&ours.posts);
        let [rpost50, _, rpost99, rpost_max] = percentiles(&raw.posts);
        let [a50, _, a99, _] = percentiles(&ours.after_post);
        let [ra50, _, ra99, _] = percentiles(&raw.after_post);
        post_rows.push(format!(
            "| {n} | {} / {} / {} | {} / {} / {} | {} / {} | {} / {} | {:.2}x | {:.2}x |",
            ms(post50),
            ms(post99),
            ms(post_max),
            ms(rpost50),
            ms(rpost99),
            ms(rpost_max),
            ms(a50),
            ms(a99),
            ms(ra50),
            ms(ra99),
            ratio(a50, ra50),
            ratio(a99, ra99),
        ));
        if breakdown {
            // raw, raw+offer bytes, raw+offer bytes+verify, peerfx.
            let order = [1, 2, 3, 0];
            let cells: Vec<String> = order
                .iter()
                .map(|&i| {
                    let run = &runs[i].1;
                    let [p50, _, p99, _] = percentiles(&run.latencies);
                    format!("{} / {} / {}", ms(p50), ms(p99), ms(mean(&run.cpu)))
                })
                .collect();
            breakdown_rows.push(format!("| {n} | {} |", cells.join(" | ")));
        }
    }
    println!(
        "\nthe same messages split at the post's return: how long post_offer (raw: publish) \
         took, p50 / p99 / max (peerfx: sign, validate, store and flush to disk, publish), \
         then from its return until in every book, p50 / p99 (ms)\n"
    );
    println!(
        "| N | post | raw publish | after post | raw after publish | overhead after, p50 \
         | overhead after, p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in post_rows {
        println!("{row}");
    }
    if !breakdown_rows.is_empty() {
        println!(
            "\nbreakdown: p50 / p99 / CPU per message (ms) of raw gossipsub, then carrying \
             peerfx's offer bytes, then also checking each offer's signature, then peerfx\n"
        );
        println!("| N | raw | raw+offer bytes | raw+offer bytes+verify | peerfx |");
        println!("|---|---|---|---|---|");
        for row in breakdown_rows {
            println!("{row}");
        }
    }
    for updates in [false, true] {
        let took = run_sync(10_000, updates).await;
        let what = if updates {
            "offers, each with an update,"
        } else {
            "offers"
        };
        println!(
            "\nsync of a market of 10 000 {what} to a new node (start to complete book): {} ms",
            ms(took)
        );
    }
}
