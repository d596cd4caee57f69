//! A maker that went away: its offers leave the book (unless asked for),
//! and a take of one fails at once, saying why.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::trading::*;
use common::*;
use peerfx::core::Amount;
use peerfx::node::{BookQuery, NodeConfig, NodeError, Presence};

/// The taker judges presence on a short clock: makers re-announce every
/// second, and count as gone after three silent seconds.
fn short_presence(c: &mut NodeConfig) {
    c.timers.reannounce_interval = Duration::from_secs(1);
    c.timers.offline_after = Duration::from_secs(3);
}

fn market_query(include_offline: bool) -> BookQuery {
    BookQuery {
        market: Some(market()),
        include_offline,
        ..BookQuery::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_makers_offers_are_hidden_and_cannot_be_taken() {
    init_logs();
    let (maker, taker) = pair_with(|_| {}, short_presence).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("the offer on the taker", || async {
        has_offer(&taker.node, &offer.id())
    })
    .await;
    let shown = taker.node.book(&market_query(false)).await.unwrap();
    assert_eq!(
        taker.node.presence(&shown).await.unwrap(),
        vec![Presence::Online],
        "a connected maker is online"
    );

    maker.node.shutdown().await;
    drop(maker);
    wait_until("the gone maker's offer hidden", || async {
        taker
            .node
            .book(&market_query(false))
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let all = taker.node.book(&market_query(true)).await.unwrap();
    assert_eq!(all.len(), 1, "--include-offline still shows it");
    assert_eq!(
        taker.node.presence(&all).await.unwrap(),
        vec![Presence::Offline]
    );

    let started = std::time::Instant::now();
    let err = taker
        .node
        .take(offer.id(), Amount(10_000), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::MakerOffline { id, .. } if id == offer.id()),
        "unexpected: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(err.code(), "maker_offline");
}
