//! Every trade ends, the same on both nodes: a side that paid closes a trade
//! the other did not pay in, a trade still open at its settle deadline
//! fails, and each node reads the same outcome after a restart.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::trading::*;
use common::*;
use peerfx::core::trade::{FailReason, Failure, Phase, Side, StepError};
use peerfx::core::{Amount, Hash, TradeAction};
use peerfx::node::{Node, NodeError};

/// The phase and failure both nodes must reach.
async fn failed_as(node: &Node, id: &Hash, failure: Failure) {
    wait_until("the trade failed", || async {
        node.trade(id)
            .is_ok_and(|t| t.phase == Phase::Failed && t.failure == Some(failure))
    })
    .await;
}

/// Stops `t` and starts a node on its data directory again.
async fn restart(t: TestNode) -> TestNode {
    let TestNode { node, dir, .. } = t;
    node.shutdown().await;
    drop(node);
    let mut c = config(dir.path(), vec![]);
    payment_window(5)(&mut c);
    start_with(c, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_taker_who_paid_closes_after_the_payment_deadline_and_both_nodes_agree() {
    init_logs();
    // Long enough for the steps before the deadline on a loaded machine.
    let (maker, taker) = pair_with(payment_window(5), payment_window(5)).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
    let id = trade.id();
    // Too early: the payment deadline has not passed.
    let view = taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    assert!(!view.can_close);
    // The maker did not pay: neither side could close before the deadline,
    // and the maker never can.
    match maker
        .node
        .trade_step(id, TradeAction::Close { seen: 0 })
        .await
    {
        Err(NodeError::Step(StepError::NotClosable)) => {}
        other => panic!("the maker closed: {other:?}"),
    }
    wait_until("the taker may close", || async {
        taker.node.trade(&id).is_ok_and(|t| t.can_close)
    })
    .await;
    let closed = taker
        .node
        .trade_step(id, TradeAction::Close { seen: 0 })
        .await
        .unwrap();
    assert_eq!(closed.undelivered, 0, "the close was not acknowledged");
    let unpaid = Failure {
        reason: FailReason::Unpaid,
        at_fault: Some(Side::Maker),
    };
    failed_as(&taker.node, &id, unpaid).await;
    failed_as(&maker.node, &id, unpaid).await;
    // A failed trade was paid into: its amount does not go back to the offer.
    assert_eq!(
        remaining(&maker.node, &offer.id()),
        Amount(offer.max_give.0 - 10_000)
    );

    // The same outcome after a restart of the maker: it replays its log.
    let again = restart(maker).await;
    failed_as(&again.node, &id, unpaid).await;
    assert_eq!(
        again.node.trade(&id).unwrap().log,
        taker.node.trade(&id).unwrap().log
    );
    // And of the taker.
    let taker = restart(taker).await;
    failed_as(&taker.node, &id, unpaid).await;
    for t in [&again, &taker] {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_still_open_at_the_settle_deadline_fails_on_both_nodes() {
    init_logs();
    // Long enough for the steps before the deadline on a loaded machine.
    let (maker, taker) = pair_with(payment_window(5), payment_window(5)).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let id = take(&taker.node, offer.id(), 10_000).await.unwrap().id();
    // Both paid, the maker confirmed; the taker goes silent.
    for (node, action) in [
        (&taker.node, TradeAction::Paid),
        (&maker.node, TradeAction::Paid),
        (&maker.node, TradeAction::Received),
    ] {
        let view = node.trade_step(id, action).await.unwrap();
        assert_eq!(view.undelivered, 0);
    }
    let silent = Failure {
        reason: FailReason::Unconfirmed,
        at_fault: Some(Side::Taker),
    };
    failed_as(&maker.node, &id, silent).await;
    failed_as(&taker.node, &id, silent).await;
    // Over: a late confirmation is refused.
    match taker.node.trade_step(id, TradeAction::Received).await {
        Err(NodeError::Step(StepError::Final(Phase::Failed))) => {}
        other => panic!("a step after the settle deadline: {other:?}"),
    }
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}
