//! Two nodes in one process: one posts an offer, the other prints it from its
//! book.
//!
//! Run: `cargo run --example two_nodes`

use std::time::Duration;

use peerfx::core::Market;
use peerfx::net::NetConfig;
use peerfx::node::{Node, NodeConfig, OfferSpec};

fn config(dir: &std::path::Path, bootstrap: Vec<peerfx::net::Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::new(dir);
    c.net = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid address")],
        bootstrap,
        mdns: false,
        ..NetConfig::default()
    };
    c.markets = vec!["EUR-USD".parse().expect("valid market")];
    c
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let alice = Node::start(config(dir_a.path(), vec![])).await?;
    let alice_addr = loop {
        if let Some(a) = alice.status().await?.listen_addrs.first() {
            break a.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let bob = Node::start(config(dir_b.path(), vec![alice_addr])).await?;
    println!("alice {}\nbob   {}", alice.peer_id(), bob.peer_id());

    let mut spec = OfferSpec::parse("EUR", "100", "500", "USD", "1.08")?;
    spec.payment_methods = vec!["cash".parse()?, "sepa".parse()?];
    spec.geohash = Some("u33dc".parse()?);
    let offer = alice.post_offer(spec).await?;
    println!("alice posted {}", offer.id());

    let market: Market = "EUR-USD".parse()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let entry = loop {
        if let Some(e) = bob.book_get(&offer.id())? {
            break e;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the offer did not reach bob"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let o = entry.offer.body();
    println!(
        "bob's book ({market}): {} gives {}–{} {} for {} at {} ({}), near {}",
        o.maker.short(),
        o.min_give.display(o.give),
        entry.remaining.min(o.max_give).display(o.give),
        o.give,
        o.want,
        o.rate,
        o.payment_methods
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        o.geohash.as_ref().map_or("-", |g| g.as_str()),
    );
    alice.shutdown().await;
    bob.shutdown().await;
    Ok(())
}
