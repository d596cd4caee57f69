//! Take latency: from `take` to a contract signed by both and flushed on both
//! sides, over many takes between two nodes on loopback.
//!
//! Run: `cargo run --release --example trade_bench [-- TAKES]` (default 1000).

use std::time::{Duration, Instant};

use peerfx::core::Amount;
use peerfx::net::NetConfig;
use peerfx::node::{Node, NodeConfig, OfferSpec};

fn config(dir: &std::path::Path, bootstrap: Vec<peerfx::net::Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::new(dir);
    c.net = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootstrap,
        mdns: false,
        ..NetConfig::default()
    };
    c.markets = vec!["EUR-USD".parse().expect("market")];
    c
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let takes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let maker = Node::start(config(da.path(), vec![])).await?;
    let addr = loop {
        if let Some(a) = maker.status().await?.listen_addrs.first() {
            break a.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let taker = Node::start(config(db.path(), vec![addr])).await?;
    // One offer large enough for every take.
    let max = (takes as u64 + 1).to_string();
    let offer = maker
        .post_offer(OfferSpec::parse("EUR", "1", &max, "USD", "1.08")?)
        .await?;
    while taker.book_get(&offer.id())?.is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lat = Vec::with_capacity(takes);
    for _ in 0..takes {
        let t0 = Instant::now();
        taker.take(offer.id(), Amount(100), None, None).await?;
        lat.push(t0.elapsed());
    }
    lat.sort();
    let at = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("takes: {takes}");
    println!("| p50 | p90 | p99 | max |\n|---|---|---|---|");
    println!(
        "| {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*lat.last().expect("takes"))
    );
    maker.shutdown().await;
    taker.shutdown().await;
    Ok(())
}
