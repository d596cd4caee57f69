//! Helpers for trade tests: a maker and a taker, short deadlines, and
//! waiting for a trade's phase or an offer's remaining amount.

use peerfx::core::trade::Phase;
use peerfx::core::{Amount, Hash};
use peerfx::node::{Node, NodeConfig, NodeError, TradeView};

use super::*;

pub async fn pair() -> (TestNode, TestNode) {
    pair_with(|_| {}, |_| {}).await
}

/// A maker and a taker bootstrapped from it, each config adjusted first.
pub async fn pair_with(
    maker: impl FnOnce(&mut NodeConfig),
    taker: impl FnOnce(&mut NodeConfig),
) -> (TestNode, TestNode) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    maker(&mut c);
    let maker_node = start_with(c, dir).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![maker_node.addr.clone()]);
    taker(&mut c);
    let taker_node = start_with(c, dir).await;
    subscribed(&maker_node.node, &taker_node.node).await;
    (maker_node, taker_node)
}

/// Waits until each node knows the other follows the test market: a node
/// publishes an offer only to the subscribers it knows, so one posted
/// earlier would reach the other only at its next re-announcement.
pub async fn subscribed(a: &Node, b: &Node) {
    for (x, y) in [(a, b), (b, a)] {
        let y = y.peer_id();
        wait_until("the peer's subscription to the market", || async {
            x.market_peers(market()).await.unwrap().contains(&y)
        })
        .await;
    }
}

/// Contracts whose payment deadline is 2 s after they are made (and settle
/// deadline 4 s), and takers that accept them.
pub fn short_deadlines(c: &mut NodeConfig) {
    payment_window(2)(c)
}

/// Contracts whose payment window is `secs` (the settle deadline is twice
/// that after the contract), and takers that accept them.
pub fn payment_window(secs: u64) -> impl Fn(&mut NodeConfig) {
    move |c| {
        let window = std::time::Duration::from_secs(secs);
        (c.trade.payment_window, c.trade.min_payment_window) = (window, window);
        c.trade.payment_windows.clear();
    }
}

pub async fn phase_is(node: &Node, id: &Hash, phase: Phase) {
    wait_until("the trade's phase", || async {
        node.trade(id).is_ok_and(|t| t.phase == phase)
    })
    .await;
}

pub async fn take(taker: &Node, offer: Hash, minor: u64) -> Result<TradeView, NodeError> {
    wait_until("the offer in the taker's book", || async {
        has_offer(taker, &offer)
    })
    .await;
    taker.take(offer, Amount(minor), None, None).await
}

pub async fn announced(node: &Node, offer: &Hash, remaining: Amount) {
    wait_until("the offer's remaining announced", || async {
        node.book_get(offer)
            .unwrap()
            .is_some_and(|e| e.remaining == remaining)
    })
    .await;
}

/// What remains of an own offer, on its maker.
pub fn remaining(node: &Node, offer: &Hash) -> Amount {
    node.own_offer(offer).unwrap().unwrap().remaining
}
