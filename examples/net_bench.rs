//! Network benchmark: propagation latency of offers through N in-process nodes on
//! loopback, compared with raw gossipsub on the same topology, and the time to
//! sync a 10 000-offer market to a new node.
//!
//! Run: `cargo run --release --example net_bench [-- [--rounds R] [--breakdown] N1 N2 ...]`
//! (default 10 25 50, one round). With R rounds each N is measured R times,
//! rotating which side runs first, and a summary gives the median overhead.
//! `--breakdown` adds two raw-gossipsub sides between the baseline and
//! peerfx: one carrying real signed offers, one that also decodes and checks
//! each offer's signature, so the overhead splits into payload, signature check
//! and the rest of peerfx (store, book, events).
//! Prints tables; docs/BENCHMARKS.md records a run.
//!
//! All N nodes share this process and the machine's cores, so starting them is
//! a storm: N·(N-1) connections, each with a Noise handshake, identify, Kademlia
//! and gossipsub set-up, keeps every core busy for seconds at N = 50. Latency
//! measured during the storm measures the storm. Each run therefore waits until
//! the process is nearly idle ([`settle`]) before it posts, and reports how long
//! that took; the raw-gossipsub baseline gets the same treatment.
//!
//! Linux only: CPU time comes from `/proc/self/stat`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerfx::core::protocol::GossipMessage;
use peerfx::core::{Keypair, Limits, Market, OfferId, OfferUpdate, Signed};
use peerfx::net::{Acceptance, Multiaddr, NetConfig, NetEvent, NetHandle};
use peerfx::node::{Node, NodeConfig, NodeEvent, OfferSpec};
use rand::{Rng, SeedableRng};

const OFFERS_PER_RUN: usize = 300;
const TIMEOUT: Duration = Duration::from_secs(30);

fn net_config(bootstrap: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootstrap,
        mdns: false,
        gossip_heartbeat: Duration::from_millis(200),
        // The memory ceiling is the whole process's, and here the process holds
        // every node of every run (allocators keep freed memory): at N = 50 it
        // passed 512 MiB and the next run's nodes could not connect at all.
        max_memory_bytes: usize::MAX,
        ..NetConfig::default()
    }
}

fn market() -> Market {
    "EUR-USD".parse().expect("market")
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

/// CPU time this process has used (user + system), from `/proc/self/stat`,
/// whose fields 14 and 15 count it in clock ticks of 1/100 s (Linux's USER_HZ).
fn cpu_used() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name, field 2, may contain spaces; it ends at the last ')'.
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Waits until the process uses less than 3 % of one core over a second (or a
/// minute passes); returns how long that took.
async fn settle() -> Duration {
    const WINDOW: Duration = Duration::from_secs(1);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let before = cpu_used();
        tokio::time::sleep(WINDOW).await;
        if cpu_used().saturating_sub(before) < WINDOW * 3 / 100 {
            break;
        }
    }
    start.elapsed()
}

/// What one propagation run measured.
struct Run {
    /// Post to last arrival, per offer.
    latencies: Vec<Duration>,
    /// How long the post itself took (peerfx: sign, store, flush, publish).
    posts: Vec<Duration>,
    /// CPU time of the whole process per offer, while offers were posted.
    cpu_per_offer: Duration,
    /// Time from the warm-up message's arrival until the process was idle.
    settled_in: Duration,
    /// Copies of each message a node received, duplicates included.
    copies_per_node: f64,
}

fn percentiles(v: &[Duration]) -> [Duration; 4] {
    let mut v = v.to_vec();
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    [at(0.5), at(0.95), at(0.99), *v.last().expect("samples")]
}

/// "median (lowest–highest)" of ratios.
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    format!(
        "{median:.2}x ({:.2}–{:.2}x)",
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0)
    )
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// One row of the breakdown table: p50 / p99 / CPU of each side.
fn breakdown_row(n: usize, first: &str, sides: &[(&str, &Run)]) -> String {
    let cells: Vec<String> = sides
        .iter()
        .map(|(_, run)| {
            let [p50, _, p99, _] = percentiles(&run.latencies);
            format!("{} / {} / {}", ms(p50), ms(p99), ms(run.cpu_per_offer))
        })
        .collect();
    format!("| {n} | {first} | {} |", cells.join(" | "))
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Parent of node i in a random tree: each node bootstraps from a random earlier one.
fn topology(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| if i == 0 { 0 } else { rng.gen_range(0..i) })
        .collect()
}

/// Arrival times of each message (offer id or payload) at each node.
type Arrivals<K> = Arc<Mutex<HashMap<K, Vec<Instant>>>>;

/// When the last of `count` arrivals of `key` happened, once there are that many.
fn all_arrived<K: Eq + std::hash::Hash>(
    arrivals: &Arrivals<K>,
    key: &K,
    count: usize,
) -> Option<Instant> {
    let arrivals = arrivals.lock().expect("lock");
    let times = arrivals.get(key).filter(|v| v.len() >= count)?;
    times.iter().max().copied()
}

/// Gossip messages the nodes have received so far, duplicates included:
/// gossipsub's own count, taken before its duplicate check (and after its
/// signature check, which every copy pays).
async fn copies_received(nets: &[&NetHandle]) -> u64 {
    let mut total = 0;
    for net in nets {
        let text = net.metrics_text().await.unwrap_or_default();
        total += text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("topic_msg_recv_counts_unfiltered"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

async fn wait_mesh(check: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// peerfx nodes, each a whole `Node`: sign, store, gossip, validate, book.
async fn run_peerfx(n: usize, seed: u64) -> Run {
    eprintln!("N={n} peerfx: starting nodes");
    let parents = topology(n, seed);
    let mut nodes: Vec<Node> = Vec::new();
    let mut addrs: Vec<Multiaddr> = Vec::new();
    let mut dirs = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = NodeConfig::new(dir.path());
        c.net = net_config(if i == 0 {
            vec![]
        } else {
            vec![addrs[*parent].clone()]
        });
        c.markets = vec![market()];
        let node = Node::start(c).await.expect("node");
        addrs.push(listen_addr(node.net()).await);
        nodes.push(node);
        dirs.push(dir);
    }
    // Arrival times per offer per node.
    let arrivals: Arrivals<OfferId> = Arc::default();
    for node in &nodes {
        let mut events = node.events();
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                if let NodeEvent::OfferAdded { id, .. } = e {
                    arrivals
                        .lock()
                        .expect("lock")
                        .entry(id)
                        .or_default()
                        .push(Instant::now());
                }
            }
        });
    }
    // Warm-up: every node posts one offer, and each must reach everyone. That
    // lets meshes form, and makes every node a maker in the market, as in a
    // market in steady state: a node's first offer in a market also registers
    // it as a provider in the DHT (a Kademlia query touching ~20 peers), which
    // happens once per node and market, not per offer.
    for (i, node) in nodes.iter().enumerate() {
        let rate = format!("2.{:04}", i + 1);
        let warm = node
            .post_offer(OfferSpec::parse("EUR", "100", "500", "USD", &rate).expect("spec"))
            .await
            .expect("post");
        wait_mesh(|| all_arrived(&arrivals, &warm.id(), n).is_some()).await;
    }
    eprintln!("N={n} peerfx: warmed up, settling");
    let settled_in = settle().await;
    eprintln!("N={n} peerfx: posting");
    let nets: Vec<&NetHandle> = nodes.iter().map(Node::net).collect();
    let cpu_before = cpu_used();
    let copies_before = copies_received(&nets).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 1);
    let mut latencies = Vec::new();
    let mut posts = Vec::new();
    for k in 0..OFFERS_PER_RUN {
        let from = rng.gen_range(0..n);
        let rate = format!("1.{:04}", k + 1);
        let t0 = Instant::now();
        let offer = nodes[from]
            .post_offer(OfferSpec::parse("EUR", "100", "500", "USD", &rate).expect("spec"))
            .await
            .expect("post");
        posts.push(t0.elapsed());
        wait_mesh(|| all_arrived(&arrivals, &offer.id(), n).is_some()).await;
        match all_arrived(&arrivals, &offer.id(), n) {
            Some(t) => latencies.push(t.saturating_duration_since(t0)),
            None => eprintln!("offer {k} did not reach every node within {TIMEOUT:?}"),
        }
    }
    let cpu_per_offer = cpu_used().saturating_sub(cpu_before) / OFFERS_PER_RUN as u32;
    let copies = copies_received(&nets).await - copies_before;
    eprintln!("N={n} peerfx: stopping");
    for node in &nodes {
        node.shutdown().await;
    }
    Run {
        latencies,
        posts,
        cpu_per_offer,
        settled_in,
        // The maker receives none of its own offer.
        copies_per_node: copies as f64 / ((n - 1) * OFFERS_PER_RUN) as f64,
    }
}

/// What the raw-gossipsub side publishes, and what a node does with it.
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
                let mut o = peerfx::core::testing::offer(&maker, "EUR", "USD", "1.08", k as u64);
                o.created_at = peerfx::node::now();
                o.expires_at = o.created_at.plus(3600);
                let msg = GossipMessage::offer(Signed::sign(o, &maker), None);
                peerfx::core::codec::encode(&msg)
            }
        }
    }

    /// What the receiving node does before it accepts a message: for
    /// `VerifiedOffer`, what peerfx's ingest does short of the book.
    fn check(self, data: &[u8], limits: &Limits) {
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

/// Raw gossipsub through peerfx-net alone: same topology, `payload`'s
/// messages, each accepted once [`Payload::check`] has run.
async fn run_raw(n: usize, seed: u64, payload: Payload) -> Run {
    let label = payload.label();
    eprintln!("N={n} {label}: starting");
    let parents = topology(n, seed);
    let arrivals: Arrivals<Vec<u8>> = Arc::default();
    let mut handles = Vec::new();
    let mut addrs: Vec<Multiaddr> = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        let key = Keypair::generate().to_libp2p();
        let (net, mut events) = peerfx::net::start(
            key,
            net_config(if i == 0 {
                vec![]
            } else {
                vec![addrs[*parent].clone()]
            }),
        )
        .await
        .expect("net");
        net.subscribe(market()).await.expect("subscribe");
        let h = net.clone();
        // Delivered to the application the way a node delivers an offer: the
        // task that consumes network events announces it on a broadcast
        // channel, then reports the verdict; a subscriber takes the time.
        let (delivered, mut subscriber) = tokio::sync::broadcast::channel::<Vec<u8>>(1024);
        tokio::spawn(async move {
            let limits = Limits::default();
            while let Some(e) = events.recv().await {
                if let NetEvent::Gossip { token, data, .. } = e {
                    payload.check(&data, &limits);
                    let _ = delivered.send(data);
                    let _ = h.report(token, Acceptance::Accept).await;
                }
            }
        });
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Ok(data) = subscriber.recv().await {
                arrivals
                    .lock()
                    .expect("lock")
                    .entry(data)
                    .or_default()
                    .push(Instant::now());
            }
        });
        addrs.push(listen_addr(&net).await);
        handles.push(net);
    }
    // Warm-up until a message reaches all n-1 others.
    let mut k = 0u32;
    loop {
        k += 1;
        let msg = payload.message(k as usize, true);
        handles[0]
            .publish(market(), msg.clone())
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(100)).await;
        if all_arrived(&arrivals, &msg, n - 1).is_some() {
            break;
        }
        if k > 300 {
            eprintln!("N={n} {label}: warm-up message did not reach every node in 30 s");
            break;
        }
    }
    eprintln!("N={n} {label}: warmed up, settling");
    let messages: Vec<Vec<u8>> = (0..OFFERS_PER_RUN)
        .map(|k| payload.message(k, false))
        .collect();
    let settled_in = settle().await;
    eprintln!("N={n} {label}: publishing");
    let nets: Vec<&NetHandle> = handles.iter().collect();
    let cpu_before = cpu_used();
    let copies_before = copies_received(&nets).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 1);
    let mut latencies = Vec::new();
    let mut posts = Vec::new();
    for (k, msg) in messages.into_iter().enumerate() {
        let from = rng.gen_range(0..n);
        let t0 = Instant::now();
        handles[from]
            .publish(market(), msg.clone())
            .await
            .expect("publish");
        posts.push(t0.elapsed());
        wait_mesh(|| all_arrived(&arrivals, &msg, n - 1).is_some()).await;
        match all_arrived(&arrivals, &msg, n - 1) {
            Some(t) => latencies.push(t.saturating_duration_since(t0)),
            None => eprintln!("message {k} did not reach every node within {TIMEOUT:?}"),
        }
    }
    let cpu_per_offer = cpu_used().saturating_sub(cpu_before) / OFFERS_PER_RUN as u32;
    let copies = copies_received(&nets).await - copies_before;
    eprintln!("N={n} {label}: stopping");
    for h in &handles {
        let _ = h.shutdown().await;
    }
    Run {
        latencies,
        posts,
        cpu_per_offer,
        settled_in,
        copies_per_node: copies as f64 / ((n - 1) * OFFERS_PER_RUN) as f64,
    }
}

/// Time for a new node to sync a market of `count` offers from one peer. With
/// `updates`, every offer carries its maker's latest update (as after a
/// re-announcement), so each entry costs two signature checks.
async fn run_sync(count: usize, updates: bool) -> Duration {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let mut c = NodeConfig::new(dir_a.path());
    c.net = net_config(vec![]);
    c.markets = vec![market()];
    let a = Node::start(c).await.expect("node");
    // Fill a's book directly with offers from other makers.
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
    for chunk in states.chunks(256) {
        a.store()
            .book_merge_many(chunk, now, &limits)
            .expect("insert");
    }
    let addr = listen_addr(a.net()).await;
    let dir_b = tempfile::tempdir().expect("tempdir");
    let mut c = NodeConfig::new(dir_b.path());
    c.net = net_config(vec![addr]);
    c.markets = vec![market()];
    let t0 = Instant::now();
    let b = Node::start(c).await.expect("node");
    let deadline = Instant::now() + Duration::from_secs(120);
    while b.store().book_len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t0.elapsed();
    assert!(
        b.store().book_len() >= count,
        "sync incomplete: {}",
        b.store().book_len()
    );
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
    let rounds = match args.iter().position(|a| a == "--rounds") {
        Some(i) => match args.get(i + 1).and_then(|r| r.parse::<usize>().ok()) {
            Some(r) if r > 0 => r,
            _ => {
                eprintln!("--rounds takes a positive number");
                std::process::exit(2);
            }
        },
        None => 1,
    };
    let breakdown = args.iter().any(|a| a == "--breakdown");
    let sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || args[i - 1] != "--rounds")
        .filter_map(|(_, a)| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 25, 50]
    } else {
        sizes
    };
    println!(
        "propagation: {OFFERS_PER_RUN} offers from random nodes; time from post until in \
         every node's book (ms); post: how long post_offer (raw: publish) took, p50; \
         msgs: copies of each offer a node received, duplicates included; \
         CPU is the whole process's, per offer (ms); first: which side ran first\n"
    );
    println!(
        "| N | first | p50 | p95 | p99 | max | post | msgs | CPU/offer | raw p50 | raw p99 \
         | raw post | raw msgs | raw CPU/offer | overhead p50 | overhead p99 | settled in (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut summaries = Vec::new();
    let mut extra_rows = Vec::new();
    for n in sizes {
        let mut ratios = Vec::new();
        for round in 0..rounds {
            // Rotating which side runs first cancels what an earlier run
            // leaves a later one (a warm allocator, pages already faulted in).
            let mut sides: Vec<Option<Payload>> = vec![None, Some(Payload::Trivial)];
            if breakdown {
                sides.extend([Some(Payload::Offer), Some(Payload::VerifiedOffer)]);
            }
            let first = round % sides.len();
            sides.rotate_left(first);
            let mut ours = None;
            let mut raws = HashMap::new();
            for side in &sides {
                match side {
                    None => ours = Some(run_peerfx(n, n as u64).await),
                    Some(p) => {
                        raws.insert(*p, run_raw(n, n as u64, *p).await);
                    }
                }
            }
            let (Some(ours), Some(raw)) = (ours, raws.remove(&Payload::Trivial)) else {
                unreachable!("both sides ran");
            };
            let [p50, p95, p99, max] = percentiles(&ours.latencies);
            let [r50, _, r99, _] = percentiles(&raw.latencies);
            let [post50, ..] = percentiles(&ours.posts);
            let [raw_post50, ..] = percentiles(&raw.posts);
            ratios.push((ratio(p50, r50), ratio(p99, r99)));
            let first = sides[0].map_or("peerfx", Payload::label);
            println!(
                "| {n} | {first} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {:.2} | {} \
                 | {:.2}x | {:.2}x | {:.1} / {:.1} |",
                ms(p50),
                ms(p95),
                ms(p99),
                ms(max),
                ms(post50),
                ours.copies_per_node,
                ms(ours.cpu_per_offer),
                ms(r50),
                ms(r99),
                ms(raw_post50),
                raw.copies_per_node,
                ms(raw.cpu_per_offer),
                ratio(p50, r50),
                ratio(p99, r99),
                ours.settled_in.as_secs_f64(),
                raw.settled_in.as_secs_f64(),
            );
            let mut by_side = vec![("raw", &raw)];
            by_side.extend(
                [Payload::Offer, Payload::VerifiedOffer]
                    .iter()
                    .filter_map(|p| Some((p.label(), raws.get(p)?))),
            );
            by_side.push(("peerfx", &ours));
            if by_side.len() > 2 {
                extra_rows.push(breakdown_row(n, first, &by_side));
            }
        }
        summaries.push((n, ratios));
    }
    if rounds > 1 {
        println!("\noverhead over {rounds} rounds: median (lowest to highest)\n");
        println!("| N | p50 | p99 |");
        println!("|---|---|---|");
        for (n, ratios) in summaries {
            let (p50s, p99s): (Vec<f64>, Vec<f64>) = ratios.into_iter().unzip();
            println!("| {n} | {} | {} |", spread(p50s), spread(p99s));
        }
    }
    if !extra_rows.is_empty() {
        println!(
            "\nbreakdown: p50 / p99 / CPU per offer (ms) of raw gossipsub carrying peerfx's \
             offer bytes, then also checking each offer's signature, between raw and peerfx\n"
        );
        println!("| N | first | raw | raw+offer bytes | raw+offer bytes+verify | peerfx |");
        println!("|---|---|---|---|---|---|");
        for row in extra_rows {
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
