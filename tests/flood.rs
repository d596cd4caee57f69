//! A post-and-cancel flood from one key (issue: 20 000 valid offer+cancel
//! pairs were all accepted and forwarded, leaving a tombstone each on every
//! node). Alone in its test binary, so the process's memory is this test's.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;

use common::*;
use peerfx::core::protocol::GossipMessage;
use peerfx::core::{codec, Keypair, OfferCancel, Signed, WireLimits};
use peerfx::node::Node;

/// Gossip messages `node` has handled, whatever the verdict.
fn handled(node: &Node) -> u64 {
    let m = node.metrics();
    m.gossip_accepted.load(Ordering::Relaxed)
        + m.gossip_ignored.load(Ordering::Relaxed)
        + m.rejected_total()
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_and_cancel_flood_is_throttled_and_leaves_bounded_state() {
    init_logs();
    let first = start(vec![]).await;
    let second = start(vec![first.addr.clone()]).await;
    wait_connected(&second.node, &first.node).await;
    let flooder_key = Keypair::generate();
    let flooder = raw_peer(vec![first.addr.clone()]).await;
    // Until the flooder knows the first node follows the market, what it
    // publishes goes nowhere.
    wait_until("the flooder knows the first node's market", || async {
        flooder
            .net
            .peers_on(market())
            .await
            .unwrap()
            .contains(&first.node.peer_id())
    })
    .await;
    let disk_before: Vec<u64> = vec![
        first.node.status().await.unwrap().db_bytes,
        second.node.status().await.unwrap().db_bytes,
    ];
    let rss_before = rss();

    // 20 000 pairs, each valid: an offer, then its maker's cancel, signed
    // up front. Sent in rounds the first node has handled before the next
    // goes out, so every message is judged (none is dropped for a full queue,
    // or left waiting in the sender's queue past gossipsub's publish timeout).
    let market = market();
    let pairs = 20_000u64;
    let now = peerfx::node::now();
    let messages: Vec<Vec<u8>> = (0..pairs)
        .flat_map(|i| {
            let mut o = peerfx::core::testing::offer(&flooder_key, "EUR", "USD", "1.08", i);
            o.created_at = now;
            o.expires_at = now.plus(3600);
            let offer = Signed::sign(o, &flooder_key);
            let cancel = Signed::sign(
                OfferCancel {
                    offer_id: offer.id(),
                    maker: flooder_key.public(),
                    created_at: now,
                },
                &flooder_key,
            );
            [
                codec::encode(&GossipMessage::offer(offer, None)),
                codec::encode(&GossipMessage::Cancel(cancel)),
            ]
        })
        .collect();
    // Gossipsub is best effort: a burst can lose messages (sync and
    // re-announcement repair that for honest makers). So each round ends
    // with a marker offer from another key, sent again until the first node
    // has it: messages of one stream arrive in order and are judged in
    // order, so once the marker is in, what arrived of the round is judged.
    let start_handled = handled(&first.node);
    let mut markers = 0u64;
    for round in messages.chunks(500) {
        for m in round {
            flooder.net.publish(market, m.clone()).await.unwrap();
        }
        let mut tries = 0u32;
        let mut marker_ids = Vec::new();
        wait_until("the round's marker", || {
            tries += 1;
            let resend = tries % 20 == 1;
            // A fresh key each: markers must not run into a maker's quota.
            let marker = resend.then(|| {
                markers += 1;
                let key = Keypair::generate();
                let mut o = peerfx::core::testing::offer(&key, "EUR", "USD", "2.0", markers);
                o.created_at = peerfx::node::now();
                o.expires_at = o.created_at.plus(60);
                let marker = Signed::sign(o, &key);
                marker_ids.push(marker.id());
                marker
            });
            let (n, fl, ids) = (&first.node, &flooder, marker_ids.clone());
            async move {
                if let Some(marker) = marker {
                    let msg = GossipMessage::offer(marker, None);
                    fl.net.publish(market, codec::encode(&msg)).await.unwrap();
                }
                ids.iter().any(|id| has_offer(n, id))
            }
        })
        .await;
    }
    let sent = messages.len() as u64;
    let judged = handled(&first.node) - start_handled;
    // The flood was real: most of it reached the first node and was judged.
    assert!(
        judged > sent / 2,
        "only {judged} of {sent} flood messages arrived"
    );
    // Whatever the first node forwarded has reached the second.
    flush_gossip_to(&first.node, &second.node).await;

    let limits = WireLimits::default();
    let caps = peerfx::store::StoreConfig::default();
    for (n, t) in [&first, &second].into_iter().enumerate() {
        let status = t.node.status().await.unwrap();
        assert!(
            status.tombstones as u64 <= caps.max_tombstones_per_maker,
            "node {n}: {} tombstones",
            status.tombstones
        );
        let theirs = t
            .node
            .book(&peerfx::node::BookQuery {
                market: Some(market),
                limit: peerfx::node::BookQuery::MAX_LIMIT,
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .filter(|e| e.offer.maker == flooder_key.public())
            .count();
        assert!(
            theirs <= limits.max_open_offers_per_maker,
            "node {n}: {theirs} offers"
        );
        let grown = status.db_bytes.saturating_sub(disk_before[n]);
        // The figures, for `--nocapture` (the closing notes quote them).
        eprintln!(
            "node {n}: {} tombstones, {theirs} of the flooder's offers, data dir +{} KB",
            status.tombstones,
            grown / 1024
        );
        assert!(
            grown < 4 * 1024 * 1024,
            "node {n}: the data dir grew {grown} bytes"
        );
    }
    // Throttled: cancels past the budget were ignored, and the second node
    // heard a small fraction of the flood.
    let over = first
        .node
        .metrics()
        .cancels_over_budget
        .load(Ordering::Relaxed);
    assert!(over > 0, "no cancel was over budget");
    let heard = handled(&second.node);
    assert!(
        heard < sent / 20,
        "the second node heard {heard} of {sent} flood messages"
    );
    let grown = rss().saturating_sub(rss_before);
    eprintln!(
        "{sent} flood messages sent, {judged} judged by the first node, {over} cancels over budget, \
         {heard} heard by the second; RSS +{} MB",
        grown / 1024 / 1024
    );
    assert!(
        grown < 64 * 1024 * 1024,
        "RSS grew {} MB",
        grown / 1024 / 1024
    );
    flooder.net.shutdown().await.unwrap();
    for t in [&first, &second] {
        t.node.shutdown().await;
    }
}

/// Posts a marker on `from` and waits until `to` has it: what `from`
/// forwarded before has arrived.
async fn flush_gossip_to(from: &Node, to: &Node) {
    let marker = from.post_offer(spec("1.5")).await.unwrap();
    wait_until("the marker offer", || async { has_offer(to, &marker.id()) }).await;
}
