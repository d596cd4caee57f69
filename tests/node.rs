//! A node's own offers survive a restart and are re-announced; a data directory
//! is used by one node at a time.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use peerfx::node::{Node, NodeError, PageRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_offers_survive_a_restart_and_are_reannounced() {
    init_logs();
    let maker = start(vec![]).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let peer_id = maker.node.peer_id();

    // A second node on the same data directory is refused, clearly.
    let err = Node::start(config(maker.dir.path(), vec![]))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, NodeError::Running(_)), "{err}");
    assert!(err.to_string().contains("stop it first"), "{err}");

    maker.node.shutdown().await;
    let dir = maker.dir;
    drop(maker.node);

    // Same identity, same offers.
    let restarted = Node::start(config(dir.path(), vec![])).await.unwrap();
    assert_eq!(restarted.peer_id(), peer_id);
    let own = restarted.own_offers(&PageRequest::default()).unwrap().items;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].offer.signed(), offer.signed());
    let addr = listen_addr(&restarted).await;

    // A newcomer learns the offer, and a re-announcement carries a fresh update.
    let watcher = start(vec![addr]).await;
    wait_until("the offer at the newcomer", || async {
        has_offer(&watcher.node, &offer.id())
    })
    .await;
    let seq_before = watcher.node.book_get(&offer.id()).unwrap().unwrap().seq;
    assert_eq!(restarted.reannounce().await.unwrap(), 1);
    wait_until("the re-announcement", || async {
        watcher
            .node
            .book_get(&offer.id())
            .unwrap()
            .is_some_and(|e| e.seq > seq_before)
    })
    .await;
    restarted.shutdown().await;
    watcher.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_offer_about_to_expire_is_announced() {
    init_logs();
    let maker = start(vec![]).await;
    let mut events = maker.node.events();
    let mut short = spec("1.08");
    short.lifetime = std::time::Duration::from_secs(600);
    let offer = maker.node.post_offer(short).await.unwrap();
    let got = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Ok(peerfx::node::NodeEvent::OfferExpiringSoon { id, .. }) = events.recv().await {
                break id;
            }
        }
    })
    .await
    .expect("an expiring-soon event");
    assert_eq!(got, offer.id());
    maker.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_maker_cannot_pass_the_open_offer_quota() {
    init_logs();
    // This maker's node would let it post 4 offers; its peer keeps 2 per maker.
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.limits.max_open_offers_per_maker = 4;
    let maker = start_with(c, dir).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![maker.addr.clone()]);
    c.limits.max_open_offers_per_maker = 2;
    let peer = start_with(c, dir).await;
    wait_until("the peer in the maker's mesh", || async {
        maker.node.peers().await.is_ok_and(|p| !p.is_empty())
    })
    .await;

    let mut posted = Vec::new();
    for rate in ["1.01", "1.02", "1.03", "1.04"] {
        posted.push(maker.node.post_offer(spec(rate)).await.unwrap().id());
    }
    // Its own node says no, plainly, past its quota.
    let err = maker.node.post_offer(spec("1.05")).await.unwrap_err();
    assert!(matches!(err, NodeError::TooManyOffers { open: 4 }), "{err}");
    assert!(err.to_string().contains("cancel one"), "{err}");

    // The peer keeps two, counts the rest as over quota, and keeps that up
    // whether they came by gossip or by sync.
    wait_until("two offers at the peer, two refused", || async {
        peer.node
            .metrics()
            .offers_over_quota
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    })
    .await;
    let kept = posted.iter().filter(|id| has_offer(&peer.node, id)).count();
    assert_eq!(kept, 2);

    // A cancel makes room on both sides.
    maker.node.cancel_offer(posted[0]).await.unwrap();
    maker.node.post_offer(spec("1.05")).await.unwrap();
    maker.node.shutdown().await;
    peer.node.shutdown().await;
}
