//! Store and forward: a maker and a taker who are never online at the same
//! time after the take complete their trade through a relay's mailbox.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::trading::*;
use common::*;
use peerfx::core::trade::Phase;
use peerfx::core::{Hash, TradeAction};
use peerfx::net::Multiaddr;

/// Envelopes the relay keeps.
const KEPT: &str = "peerfx_mailbox_envelopes";

/// A node that asks its mailboxes every 200 ms.
async fn start_in(dir: tempfile::TempDir, bootstrap: Vec<Multiaddr>, relay: bool) -> TestNode {
    let mut c = config(dir.path(), bootstrap);
    c.mailbox.fetch_interval = Duration::from_millis(200);
    c.net.relay_server = relay;
    start_with(c, dir).await
}

/// Stops a node; its data dir, for starting it again.
async fn stop(t: TestNode) -> tempfile::TempDir {
    t.node.shutdown().await;
    t.dir
}

async fn kept_is(relay: &TestNode, n: u64) {
    let what = format!("{n} envelopes at the relay");
    wait_until(&what, || async { metric(&relay.node, KEPT).await == n }).await;
}

async fn log_has(t: &TestNode, id: &Hash, n: usize) {
    wait_until("the trade's messages", || async {
        t.node.trade(id).is_ok_and(|v| v.log.len() == n)
    })
    .await;
}

async fn delivered(t: &TestNode, id: &Hash) {
    wait_until("own messages acknowledged", || async {
        t.node.trade(id).is_ok_and(|v| v.undelivered == 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traders_never_online_together_complete_a_trade_through_a_mailbox() {
    init_logs();
    let relay = start_in(tempfile::tempdir().unwrap(), vec![], true).await;
    let boot = vec![relay.addr.clone()];
    let maker = start_in(tempfile::tempdir().unwrap(), boot.clone(), false).await;
    let taker = start_in(tempfile::tempdir().unwrap(), boot.clone(), false).await;
    subscribed(&maker.node, &taker.node).await;
    // The take needs both: it reserves the maker's amount for seconds.
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let id = take(&taker.node, offer.id(), 30_000).await.unwrap().id();
    let maker_dir = stop(maker).await;

    // The taker pays while the maker is away: the step waits at the relay.
    let view = taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    assert_eq!(view.undelivered, 1);
    kept_is(&relay, 1).await;
    let taker_dir = stop(taker).await;

    // The maker comes back, alone: it gets the payment, leaves a receipt,
    // confirms and pays back; both wait at the relay.
    let maker = start_in(maker_dir, boot.clone(), false).await;
    log_has(&maker, &id, 1).await;
    assert!(maker.node.trade(&id).unwrap().state.taker.paid.is_some());
    for action in [TradeAction::Received, TradeAction::Paid] {
        maker.node.trade_step(id, action).await.unwrap();
    }
    // The receipt and the maker's two steps; the payment, handled, is gone.
    kept_is(&relay, 3).await;
    let maker_dir = stop(maker).await;

    // The taker comes back, alone: its payment is acknowledged end to end,
    // it has the maker's steps, and it confirms: done on its side.
    let taker = start_in(taker_dir, boot.clone(), false).await;
    log_has(&taker, &id, 3).await;
    delivered(&taker, &id).await;
    taker
        .node
        .trade_step(id, TradeAction::Received)
        .await
        .unwrap();
    phase_is(&taker.node, &id, Phase::Completed).await;
    // Its receipt for the maker's steps, and its confirmation.
    kept_is(&relay, 2).await;
    stop(taker).await;

    // The maker again: the confirmation completes the trade on its side
    // too, and its own steps are acknowledged.
    let maker = start_in(maker_dir, boot, false).await;
    phase_is(&maker.node, &id, Phase::Completed).await;
    delivered(&maker, &id).await;
    maker.node.shutdown().await;
    relay.node.shutdown().await;
}
