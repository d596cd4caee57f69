//! Post latency and throughput: how fast a node stores (durably) and publishes
//! its own offers.
//!
//! 1. **Concurrent posts**: 8 callers post 250 offers each at once into one
//!    node with no peers. Every post is flushed to disk before it returns, so
//!    this measures how well durable writes share their flushes (group
//!    commit).
//! 2. **Posts while the book persists**: a raw peer gossips offers from many
//!    makers at a steady rate into the node, whose book writes them behind
//!    once a second; meanwhile one caller posts 300 offers, one after the
//!    other, 20 ms apart. The p99 says whether the book's write-behind gets in
//!    the way of what the user waits for.
//!
//! Run: `cargo run --release --example post_bench [-- GOSSIP_PER_SEC]`
//! (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use peerfx::core::protocol::GossipMessage;
use peerfx::core::{codec, Keypair, Market, Signed, WireLimits};
use peerfx::net::{Multiaddr, NetConfig};
use peerfx::node::{Node, NodeConfig, OfferSpec};

fn market() -> Market {
    "EUR-USD".parse().expect("market")
}

fn net_config(bootstrap: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootstrap,
        mdns: false,
        gossip_heartbeat: Duration::from_millis(100),
        ..NetConfig::default()
    }
}

/// A node that takes far more open offers from one maker than the network
/// allows, so that thousands of posts fit.
fn config(dir: &std::path::Path) -> NodeConfig {
    let mut c = NodeConfig::new(dir);
    c.net = net_config(vec![]);
    c.markets = vec![market()];
    c.limits = WireLimits {
        max_open_offers_per_maker: 1_000_000,
        ..WireLimits::default()
    };
    c
}

fn spec(i: usize) -> OfferSpec {
    let mut s = OfferSpec::parse("EUR", "100", "500", "USD", "1.08").expect("spec");
    s.note = format!("bench {i}");
    s
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn listen_addr(node: &Node) -> anyhow::Result<Multiaddr> {
    loop {
        if let Some(a) = node.status().await?.listen_addrs.first() {
            return Ok(a.clone());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn concurrent_posts(callers: usize, each: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(config(dir.path())).await?;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(each);
            for i in 0..each {
                let t = Instant::now();
                node.post_offer(spec(c * each + i)).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let took = t0.elapsed();
    lat.sort();
    println!(
        "| {callers} callers × {each} posts | {:.0} posts/s | {:.2} | {:.2} | {:.2} |",
        lat.len() as f64 / took.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
    node.shutdown().await;
    Ok(())
}

async fn posts_while_the_book_persists(per_sec: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(config(dir.path())).await?;
    let addr = listen_addr(&node)
        .await?
        .with_p2p(node.peer_id())
        .expect("p2p");
    // A raw peer in the market that gossips other makers' offers.
    let (feeder, _events) = peerfx::net::start(
        Keypair::generate().to_libp2p(),
        net_config(vec![addr]),
        &WireLimits::default(),
    )
    .await?;
    feeder.subscribe(market()).await?;
    let makers: Arc<Vec<Keypair>> = Arc::new((0..2000).map(|_| Keypair::generate()).collect());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gossip = {
        let (feeder, makers, stop) = (feeder.clone(), makers.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let per_tick = (per_sec / 100).max(1);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..per_tick {
                    let k = &makers[(n % makers.len() as u64) as usize];
                    let mut o = peerfx::core::testing::offer(k, "EUR", "USD", "1.08", n);
                    o.created_at = peerfx::node::now();
                    o.expires_at = o.created_at.plus(3600);
                    let msg = GossipMessage::offer(Signed::sign(o, k), None);
                    let _ = feeder.publish(market(), codec::encode(&msg)).await;
                    n += 1;
                }
            }
            n
        })
    };
    // Let the mesh form and the book start filling.
    let warm = Instant::now();
    while node.status().await?.book_size < 1000 {
        anyhow::ensure!(
            warm.elapsed() < Duration::from_secs(30),
            "the feeder's offers do not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        node.post_offer(spec(i)).await?;
        lat.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = gossip.await?;
    let book = node.status().await?.book_size;
    lat.sort();
    println!(
        "| 1 caller, {per_sec} gossiped offers/s into the book | {:.2} | {:.2} | {:.2} | {} offers gossiped, book {} |",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        sent,
        book,
    );
    feeder.shutdown().await?;
    node.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let per_sec: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!("| run | throughput | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    concurrent_posts(1, 2000).await?;
    concurrent_posts(8, 250).await?;
    println!();
    println!("| run | p50 ms | p99 ms | max ms | load |");
    println!("|---|---|---|---|---|");
    posts_while_the_book_persists(per_sec).await?;
    Ok(())
}
