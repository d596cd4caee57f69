//! A node's own offers survive a restart and are re-announced; a data directory
//! is used by one node at a time.

mod common;

use common::*;
use peerfx::node::{Node, NodeError};
use peerfx::store::StoreError;

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
    assert!(
        matches!(err, NodeError::Store(StoreError::Locked(_))),
        "{err}"
    );
    assert!(err.to_string().contains("in use by another peerfx process"));

    maker.node.shutdown().await;
    let dir = maker.dir;
    drop(maker.node);

    // Same identity, same offers.
    let restarted = Node::start(config(dir.path(), vec![])).await.unwrap();
    assert_eq!(restarted.peer_id(), peer_id);
    let own = restarted.own_offers().unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].offer, *offer.signed());
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
