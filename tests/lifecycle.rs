//! A phone's lifecycle: pause (the app goes to the background) and resume.
//! A paused node holds no connection and no listener, and none of its tasks
//! wakes; a take fails at once with the reason; what happened meanwhile
//! (offers posted on either side, a trade step taken while paused) catches
//! up after resume.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::trading::*;
use common::*;
use peerfx::core::message::TradeAction;
use peerfx::core::trade::Phase;
use peerfx::net::NetError;
use peerfx::node::{Node, NodeConfig, NodeError};

/// Timers short enough that a running node wakes many times a second: the
/// clock that shows a paused node does not.
fn busy(c: &mut NodeConfig) {
    c.timers.maintenance_interval = Duration::from_millis(50);
    c.timers.book_persist_interval = Duration::from_millis(50);
    c.trade.retry_interval = Duration::from_millis(50);
    c.sync.dht_retry_min = Duration::from_millis(50);
    c.net.gossip_heartbeat = Duration::from_millis(50);
    c.net.ping_interval = Duration::from_millis(200);
    c.net.kad_bootstrap_interval = Duration::from_millis(200);
}

/// Waits until `clock` has woken `n` more times.
async fn ticks(clock: &Node, n: u64) {
    let until = clock.wakeups() + n;
    wait_until("the running node's timers", || async {
        clock.wakeups() >= until
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_sleeps_and_catches_up_when_resumed() {
    init_logs();
    let (a, b) = pair_with(busy, busy).await;
    let before = a.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("the offer on b", || async {
        has_offer(&b.node, &before.id())
    })
    .await;
    let port = b.node.status().await.unwrap().listen_addrs[0].clone();

    b.node.pause().await.unwrap();
    let s = b.node.status().await.unwrap();
    assert!(s.paused);
    assert_eq!(s.connected_peers, 0, "a paused node keeps no connection");
    assert!(s.listen_addrs.is_empty(), "nor a listener");
    b.node.pause().await.unwrap();

    // What was under way when the pause began settles while `a` ticks;
    // from then on nothing wakes `b`, while `a` wakes hundreds of times.
    ticks(&a.node, 40).await;
    let asleep = b.node.wakeups();
    ticks(&a.node, 150).await;
    assert_eq!(b.node.wakeups(), asleep, "a timer woke the paused node");

    // A take needs the maker now: it fails at once, saying why.
    let started = std::time::Instant::now();
    let err = b
        .node
        .take(before.id(), peerfx::core::Amount(10_000), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Net(NetError::Paused)),
        "unexpected: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Queries and posts still work; the post goes out after the resume.
    assert!(has_offer(&b.node, &before.id()));
    let from_b = b.node.post_offer(spec("1.09")).await.unwrap();
    let from_a = a.node.post_offer(spec("1.07")).await.unwrap();
    assert!(!has_offer(&b.node, &from_a.id()));

    b.node.resume().await.unwrap();
    assert!(!b.node.is_paused());
    wait_until("a's offer posted during the pause, on b", || async {
        has_offer(&b.node, &from_a.id())
    })
    .await;
    wait_until("b's offer posted during the pause, on a", || async {
        has_offer(&a.node, &from_b.id())
    })
    .await;
    let s = b.node.status().await.unwrap();
    assert_eq!(s.listen_addrs[0], port, "b listens on its old port again");
    assert!(b.node.wakeups() > asleep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_taken_while_paused_is_delivered_on_resume() {
    init_logs();
    let (maker, taker) = pair_with(busy, busy).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 30_000).await.unwrap();
    let id = trade.id();

    taker.node.pause().await.unwrap();
    // Recorded and signed now, sent when the network is back.
    let view = taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    assert_eq!(view.undelivered, 1);
    assert_eq!(maker.node.trade(&id).unwrap().log.len(), 0);
    taker.node.resume().await.unwrap();
    wait_until("the step on the maker", || async {
        maker.node.trade(&id).is_ok_and(|t| t.log.len() == 1)
    })
    .await;
    wait_until("the step acknowledged", || async {
        taker.node.trade(&id).is_ok_and(|t| t.undelivered == 0)
    })
    .await;
    // And the trade goes on to the end.
    for (node, action) in [
        (&maker.node, TradeAction::Received),
        (&maker.node, TradeAction::Paid),
        (&taker.node, TradeAction::Received),
    ] {
        node.trade_step(id, action).await.unwrap();
    }
    phase_is(&maker.node, &id, Phase::Completed).await;
    phase_is(&taker.node, &id, Phase::Completed).await;
}
