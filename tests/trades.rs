//! Negotiation and trades between in-process nodes on 127.0.0.1.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::trading::*;
use common::*;
use peerfx::core::protocol::{TradeRefusal, TradeRequest, TradeResponse};
use peerfx::core::trade::{Phase, StepError};
use peerfx::core::{
    Amount, Hash, RejectReason, Signed, TakeReply, TakeRequest, TradeAction, TradeMessage,
};
use peerfx::node::{NodeError, PageRequest, TradeView};

/// A take request signed by `key`, for sending by hand.
fn signed_take(
    key: &peerfx::core::Keypair,
    offer_id: Hash,
    minor: u64,
    nonce: u64,
) -> Signed<TakeRequest> {
    let request = TakeRequest {
        offer_id,
        taker: key.public(),
        give_amount: Amount(minor),
        counter_rate: None,
        payment_method: "cash".parse().unwrap(),
        created_at: peerfx::node::now(),
        nonce,
    };
    Signed::sign(request, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_trade_to_completion() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 30_000).await.unwrap();
    let id = trade.id();
    assert_eq!(trade.contract.contract.body.want_amount, Amount(32_400));

    // Both hold the same contract, with both signatures valid.
    let on_maker = maker.node.trade(&id).unwrap();
    assert_eq!(on_maker.contract, trade.contract);
    on_maker.contract.verify().unwrap();
    assert_eq!(
        maker
            .node
            .own_offer(&offer.id())
            .unwrap()
            .unwrap()
            .remaining,
        Amount(20_000)
    );

    for (node, action) in [
        (&taker.node, TradeAction::Paid),
        (
            &maker.node,
            TradeAction::Chat {
                text: "got it, sending now".into(),
            },
        ),
        (&maker.node, TradeAction::Received),
        (&maker.node, TradeAction::Paid),
        (&taker.node, TradeAction::Received),
    ] {
        let view = node.trade_step(id, action).await.unwrap();
        assert_eq!(view.undelivered, 0, "the step was not acknowledged");
    }
    phase_is(&maker.node, &id, Phase::Completed).await;
    phase_is(&taker.node, &id, Phase::Completed).await;
    let (a, b) = (
        maker.node.trade(&id).unwrap(),
        taker.node.trade(&id).unwrap(),
    );
    assert_eq!(a.log, b.log);
    for m in &a.log {
        m.verify().unwrap();
    }
    // The other side of the fill: every book learns what remains.
    announced(&taker.node, &offer.id(), Amount(20_000)).await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_takers_race_for_three_fills() {
    init_logs();
    let maker = start(vec![]).await;
    let offer = maker
        .node
        .post_offer(peerfx::node::OfferSpec::parse("EUR", "100", "300", "USD", "1.08").unwrap())
        .await
        .unwrap();
    let mut takers = Vec::new();
    for _ in 0..10 {
        takers.push(start(vec![maker.addr.clone()]).await);
    }
    for t in &takers {
        wait_until("the offer everywhere", || async {
            has_offer(&t.node, &offer.id())
        })
        .await;
    }
    let results = futures::future::join_all(
        takers
            .iter()
            .map(|t| t.node.take(offer.id(), Amount(10_000), None, None)),
    )
    .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 3, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            // Refused at once, or told "reserved", retried, and found the
            // offer filled by then.
            matches!(
                r,
                NodeError::Take(RejectReason::InsufficientRemaining { .. })
                    | NodeError::NotInBook(_)
            ),
            "unexpected refusal: {r}"
        );
    }
    let own = &maker
        .node
        .own_offers(&PageRequest::default())
        .unwrap()
        .items[0];
    assert_eq!((own.remaining, own.reserved), (Amount::ZERO, Amount::ZERO));
    assert_eq!(
        maker
            .node
            .trades(&PageRequest::default())
            .unwrap()
            .items
            .len(),
        3
    );
    for t in &takers {
        wait_until("the offer closed everywhere", || async {
            !has_offer(&t.node, &offer.id())
        })
        .await;
    }
    maker.node.shutdown().await;
    for t in &takers {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_messages_change_nothing() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let id = take(&taker.node, offer.id(), 10_000).await.unwrap().id();
    taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    let log_len = || maker.node.trade(&id).unwrap().log.len();
    assert_eq!(log_len(), 1);
    let original = taker.node.trade(&id).unwrap().log[0].clone();
    // From here on the taker's key is played by a bare peer that sends what
    // the test says; mallory is another.
    let tk = key_of(&taker);
    taker.node.shutdown().await;
    drop(taker);
    let mk = peerfx::core::Keypair::generate();
    let mallory = raw_peer_with(&mk, vec![maker.addr.clone()]).await;
    let taker = raw_peer_with(&tk, vec![maker.addr.clone()]).await;
    let msg = |key: &peerfx::core::Keypair, author, seq, action| {
        Signed::sign(
            TradeMessage {
                trade_id: id,
                author,
                seq,
                created_at: peerfx::node::now(),
                action,
            },
            key,
        )
    };
    let to = maker.node.peer_id();
    async fn send(
        from: &RawPeer,
        to: peerfx::net::PeerId,
        m: Signed<TradeMessage>,
    ) -> TradeResponse {
        from.trade(to, TradeRequest::Message(m)).await
    }
    // Wrong signer: mallory's own message for someone else's trade.
    let r = send(
        &mallory,
        to,
        msg(&mk, mk.public(), 1, TradeAction::Received),
    )
    .await;
    assert_eq!(
        r,
        TradeResponse::Refused(TradeRefusal::Step(StepError::NotAParty))
    );
    // Mallory signing as the taker: the signature does not verify.
    let r = send(
        &mallory,
        to,
        msg(&mk, tk.public(), 2, TradeAction::Received),
    )
    .await;
    assert!(
        matches!(&r, TradeResponse::Refused(TradeRefusal::Invalid(e)) if e.contains("bad signature")),
        "{r:?}"
    );
    // The taker replaying seq 1 with other content.
    let r = send(&taker, to, msg(&tk, tk.public(), 1, TradeAction::Received)).await;
    assert!(
        matches!(
            &r,
            TradeResponse::Refused(TradeRefusal::Step(StepError::Replay { seq: 1, .. }))
        ),
        "{r:?}"
    );
    // Skipping ahead.
    let r = send(&taker, to, msg(&tk, tk.public(), 5, TradeAction::Received)).await;
    assert!(
        matches!(
            &r,
            TradeResponse::Refused(TradeRefusal::Step(StepError::Gap { seq: 5, .. }))
        ),
        "{r:?}"
    );
    // An exact resend of what was stored is acknowledged again, changing nothing.
    let r = send(&taker, to, original).await;
    assert!(matches!(r, TradeResponse::Ack { seq: 1, .. }), "{r:?}");
    // A step for a trade that does not exist.
    let unknown = Signed::sign(
        TradeMessage {
            trade_id: Hash([7; 32]),
            author: tk.public(),
            seq: 1,
            created_at: peerfx::node::now(),
            action: TradeAction::Paid,
        },
        &tk,
    );
    let r = send(&taker, to, unknown).await;
    assert_eq!(r, TradeResponse::Refused(TradeRefusal::UnknownTrade));
    assert_eq!(log_len(), 1);

    // An altered contract is refused by the taker's check.
    let req = signed_take(&tk, offer.id(), 10_000, 1);
    let reply = taker.trade(to, TradeRequest::Take(req.clone())).await;
    let TradeResponse::Take(reply) = reply else {
        panic!("not a take reply")
    };
    let TakeReply::Accept(mut contract) = *reply else {
        panic!("{reply:?}")
    };
    contract.body.want_amount = Amount(1);
    let req = peerfx::core::validate(req, peerfx::node::now(), &Default::default()).unwrap();
    assert!(contract.verify().is_err());
    let bounds = peerfx::core::trade::DeadlineBounds {
        min_window_secs: 300,
        max_window_secs: 14 * 86_400,
        max_clock_skew_secs: 300,
    };
    let now = peerfx::node::now();
    assert!(
        peerfx::core::trade::check_contract(&contract.body, &offer, &req, now, &bounds).is_err()
    );
    maker.node.shutdown().await;
    for p in [&taker, &mallory] {
        p.net.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_complete_across_restarts() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("offer at taker", || async {
        has_offer(&taker.node, &offer.id())
    })
    .await;

    // Mid-negotiation: the maker has reserved and signed for a taker (a bare
    // peer, to stop at this point), then restarts.
    let tk = peerfx::core::Keypair::generate();
    let bare = raw_peer_with(&tk, vec![maker.addr.clone()]).await;
    let req = signed_take(&tk, offer.id(), 20_000, 42);
    let reply = bare
        .trade(maker.node.peer_id(), TradeRequest::Take(req.clone()))
        .await;
    let TradeResponse::Take(reply) = reply else {
        panic!("not a take reply")
    };
    let TakeReply::Accept(contract) = *reply else {
        panic!("{reply:?}")
    };
    maker.node.shutdown().await;
    let (maker_dir, maker_node) = (maker.dir, maker.node);
    drop(maker_node);
    let maker = start_with(config(maker_dir.path(), vec![]), maker_dir).await;
    assert_eq!(
        maker.node.own_offer(&offer.id()).unwrap().unwrap().reserved,
        Amount(20_000)
    );
    taker.node.dial(maker.addr.clone()).await.unwrap();
    bare.net.dial(maker.addr.clone()).await.unwrap();
    let signed = peerfx::core::SignedContract::countersign(contract, &tk);
    let r = wait_for("the countersignature accepted", || async {
        let req = TradeRequest::Countersign {
            request_id: req.id(),
            taker_signature: signed.taker_signature,
        };
        match bare.net.trade(maker.node.peer_id(), req).await {
            Ok(TradeResponse::Stored(id)) => Some(id),
            _ => None,
        }
    })
    .await;
    assert_eq!(r, signed.trade_id());
    assert!(maker.node.trade(&r).is_ok());

    // A normal trade, then the taker pays while the maker is down, restarts with
    // the step pending, and the step is delivered once both are back.
    let id = taker
        .node
        .take(offer.id(), Amount(10_000), None, None)
        .await
        .unwrap()
        .id();
    maker.node.shutdown().await;
    let (maker_dir, maker_node) = (maker.dir, maker.node);
    drop(maker_node);
    let view = taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    assert_eq!(view.undelivered, 1);
    taker.node.shutdown().await;
    let (taker_dir, taker_node) = (taker.dir, taker.node);
    drop(taker_node);

    let maker = start_with(config(maker_dir.path(), vec![]), maker_dir).await;
    let taker = start_with(
        config(taker_dir.path(), vec![maker.addr.clone()]),
        taker_dir,
    )
    .await;
    wait_until("the pending step delivered", || async {
        maker
            .node
            .trade(&id)
            .is_ok_and(|t| t.state.taker.paid.is_some())
    })
    .await;
    maker
        .node
        .trade_step(id, TradeAction::Received)
        .await
        .unwrap();
    maker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    taker
        .node
        .trade_step(id, TradeAction::Received)
        .await
        .unwrap();
    phase_is(&maker.node, &id, Phase::Completed).await;
    phase_is(&taker.node, &id, Phase::Completed).await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_rates_self_takes_and_blocked_peers() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("offer at taker", || async {
        has_offer(&taker.node, &offer.id())
    })
    .await;

    // Inside the default 0.5 % tolerance: 1.075 is 0.46 % below 1.08.
    let t = taker
        .node
        .take(
            offer.id(),
            Amount(10_000),
            Some("1.075".parse().unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(t.contract.contract.body.rate.to_string(), "1.075");
    assert_eq!(t.contract.contract.body.want_amount, Amount(10_750));
    // Outside: refused with the maker's rate.
    let err = taker
        .node
        .take(
            offer.id(),
            Amount(10_000),
            Some("1.07".parse().unwrap()),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::Take(RejectReason::RateRefused { maker_rate }) if maker_rate.to_string() == "1.08"),
        "{err}"
    );
    // A payment method the offer does not list.
    let err = taker
        .node
        .take(
            offer.id(),
            Amount(10_000),
            None,
            Some("wise".parse().unwrap()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Take(RejectReason::PaymentMethodNotOffered)),
        "{err}"
    );
    // Self-take.
    let err = maker
        .node
        .take(offer.id(), Amount(10_000), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Take(RejectReason::SelfTake)),
        "{err}"
    );

    // The maker blocks the taker: its takes fail and reserve nothing.
    maker
        .node
        .set_blocked(taker.node.peer_id(), true)
        .await
        .unwrap();
    assert!(taker
        .node
        .take(offer.id(), Amount(10_000), None, None)
        .await
        .is_err());
    assert_eq!(
        maker.node.own_offer(&offer.id()).unwrap().unwrap().reserved,
        Amount::ZERO
    );
    // The taker blocks the maker: the maker's offers vanish from its book queries.
    taker
        .node
        .set_blocked(maker.node.peer_id(), true)
        .await
        .unwrap();
    assert!(taker
        .node
        .book(&Default::default())
        .await
        .unwrap()
        .iter()
        .all(|e| e.offer.maker != maker.node.public_key()));
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// Waits until `node`'s book shows `remaining` of `offer`: its maker
/// announced it.
/// A trade that ends without a fill gives its amount back to the offer, and
/// the offer's update tells the network: five takes of 100 and five cancels
/// (by either side) leave a 500 offer whole, in the taker's book too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_trades_give_their_amount_back_to_the_offer() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let whole = offer.max_give;
    for i in 0..5 {
        let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
        assert_eq!(
            remaining(&maker.node, &offer.id()),
            Amount(whole.0 - 10_000)
        );
        let canceller = if i % 2 == 0 { &taker.node } else { &maker.node };
        canceller
            .trade_step(trade.id(), TradeAction::Cancel)
            .await
            .unwrap();
        phase_is(&maker.node, &trade.id(), Phase::Cancelled).await;
        phase_is(&taker.node, &trade.id(), Phase::Cancelled).await;
        wait_until("the amount back in the offer", || async {
            remaining(&maker.node, &offer.id()) == whole
        })
        .await;
    }
    announced(&taker.node, &offer.id(), whole).await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// A trade nobody paid before its deadline expires, and its amount goes back
/// to the offer without any step from either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_unpaid_trade_gives_its_amount_back() {
    init_logs();
    let (maker, taker) = pair_with(short_deadlines, short_deadlines).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 20_000).await.unwrap();
    assert_eq!(remaining(&maker.node, &offer.id()), Amount(30_000));
    phase_is(&maker.node, &trade.id(), Phase::Expired).await;
    wait_until("the amount back in the offer", || async {
        remaining(&maker.node, &offer.id()) == offer.max_give
    })
    .await;
    announced(&taker.node, &offer.id(), offer.max_give).await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// Takers that reserve and never countersign cannot keep an offer from an
/// honest taker: one key hammering takes and five fresh keys each get to
/// hold the offer for one take timeout at most, are then refused for a
/// while, and the honest take (which retries when told to) goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn griefers_holding_reservations_cannot_stop_an_honest_take() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    init_logs();
    let (maker, honest) = pair_with(
        |c| c.trade.take_timeout = std::time::Duration::from_secs(2),
        |_| {},
    )
    .await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let to = maker.node.peer_id();
    let stop = Arc::new(AtomicBool::new(false));
    let mut griefers = Vec::new();
    for g in 0..6u64 {
        let key = peerfx::core::Keypair::generate();
        let bare = raw_peer_with(&key, vec![maker.addr.clone()]).await;
        let (stop, offer_id) = (stop.clone(), offer.id());
        griefers.push(tokio::spawn(async move {
            // Load, not synchronisation: one take of the whole offer every
            // 200 ms from each of six keys, never countersigned.
            let mut pace = tokio::time::interval(std::time::Duration::from_millis(200));
            let mut answers = Vec::new();
            let mut nonce = g * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                nonce += 1;
                let req = signed_take(&key, offer_id, 50_000, nonce);
                answers.push(bare.trade(to, TradeRequest::Take(req)).await);
            }
            bare.net.shutdown().await.unwrap();
            answers
        }));
    }
    let trade = take(&honest.node, offer.id(), 10_000).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    phase_is(&maker.node, &trade.id(), Phase::Agreed).await;
    let mut held = 0;
    let mut throttled = 0;
    for g in griefers {
        for answer in g.await.unwrap() {
            let TradeResponse::Take(reply) = answer else {
                panic!("not a take reply: {answer:?}")
            };
            match *reply {
                TakeReply::Accept(_) => held += 1,
                TakeReply::Reject(r) => {
                    if let RejectReason::Throttled { .. } = r.body.reason {
                        throttled += 1
                    }
                }
            }
        }
    }
    // Each griefer reserved once at most: after that it was turned away.
    assert!(
        held <= 6,
        "griefers reserved {held} times ({throttled} throttled)"
    );
    assert_eq!(
        remaining(&maker.node, &offer.id()),
        Amount(offer.max_give.0 - 10_000)
    );
    // Step by step: a take left uncountersigned runs out, its amount is free
    // again, and the same key is then refused, saying for how long.
    let key = peerfx::core::Keypair::generate();
    let bare = raw_peer_with(&key, vec![maker.addr.clone()]).await;
    let ask = |nonce| TradeRequest::Take(signed_take(&key, offer.id(), 10_000, nonce));
    let TradeResponse::Take(reply) = bare.trade(to, ask(1)).await else {
        panic!("not a take reply")
    };
    assert!(matches!(*reply, TakeReply::Accept(_)), "{reply:?}");
    wait_until("the reservation run out", || async {
        maker.node.own_offer(&offer.id()).unwrap().unwrap().reserved == Amount::ZERO
    })
    .await;
    let TradeResponse::Take(reply) = bare.trade(to, ask(2)).await else {
        panic!("not a take reply")
    };
    let TakeReply::Reject(r) = *reply else {
        panic!("{reply:?}")
    };
    assert!(
        matches!(r.body.reason, RejectReason::Throttled { retry_after_secs } if retry_after_secs > 500),
        "{:?}",
        r.body.reason
    );
    bare.net.shutdown().await.unwrap();
    for t in [&maker, &honest] {
        t.node.shutdown().await;
    }
}

/// A cancel racing the other side's `Paid` across a partition: the maker
/// cancels, the taker marks paid, neither hears the other. The cancel is only
/// pending while the peer cannot answer; when they meet again both nodes end
/// in the same state (the trade paid, never cancelled on one side alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_paid_across_a_partition_ends_the_same_on_both_sides() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
    let id = trade.id();
    let (mp, tp) = (maker.node.peer_id(), taker.node.peer_id());
    maker.node.set_blocked(tp, true).await.unwrap();
    taker.node.set_blocked(mp, true).await.unwrap();
    wait_until("the partition", || async {
        !taker.node.peers().await.unwrap().contains(&mp)
    })
    .await;
    let cancel = maker
        .node
        .trade_step(id, TradeAction::Cancel)
        .await
        .unwrap();
    assert_eq!((cancel.phase, cancel.cancel_pending), (Phase::Agreed, true));
    // Nothing else goes out of the maker while its cancel is pending.
    let busy = maker
        .node
        .trade_step(id, TradeAction::Chat { text: "hi".into() })
        .await
        .unwrap_err();
    assert!(matches!(busy, NodeError::CancelPending(_)), "{busy}");
    let paid = taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    assert_eq!(paid.undelivered, 1);
    maker.node.set_blocked(tp, false).await.unwrap();
    taker.node.set_blocked(mp, false).await.unwrap();
    taker.node.dial(maker.addr.clone()).await.unwrap();
    let settled = |v: &TradeView| !v.cancel_pending && v.undelivered == 0;
    wait_until("both sides settled", || async {
        settled(&maker.node.trade(&id).unwrap()) && settled(&taker.node.trade(&id).unwrap())
    })
    .await;
    let (m, t) = (
        maker.node.trade(&id).unwrap(),
        taker.node.trade(&id).unwrap(),
    );
    assert_eq!(m.state, t.state, "the two sides disagree");
    assert_eq!(m.phase, Phase::Agreed);
    assert!(m.state.taker.paid.is_some());
    assert_eq!((m.refused.clone(), t.refused.clone()), (None, None));
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// A cancel to an unreachable peer waits, survives a restart of its author,
/// and takes effect on both sides once the peer is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_cancel_takes_effect_on_both_sides_when_the_peer_returns() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
    let id = trade.id();
    let mp = maker.node.peer_id();
    taker.node.set_blocked(mp, true).await.unwrap();
    wait_until("the partition", || async {
        !taker.node.peers().await.unwrap().contains(&mp)
    })
    .await;
    let view = taker
        .node
        .trade_step(id, TradeAction::Cancel)
        .await
        .unwrap();
    assert!(view.cancel_pending);
    taker.node.shutdown().await;
    let (dir, node) = (taker.dir, taker.node);
    drop(node);
    let taker = start_with(config(dir.path(), vec![maker.addr.clone()]), dir).await;
    assert!(taker.node.trade(&id).unwrap().cancel_pending);
    taker.node.set_blocked(mp, false).await.unwrap();
    taker.node.dial(maker.addr.clone()).await.unwrap();
    phase_is(&maker.node, &id, Phase::Cancelled).await;
    phase_is(&taker.node, &id, Phase::Cancelled).await;
    // Forgotten as pending right after it is applied.
    wait_until("the cancel no longer pending", || async {
        !taker.node.trade(&id).unwrap().cancel_pending
    })
    .await;
    wait_until("the amount back in the offer", || async {
        remaining(&maker.node, &offer.id()) == offer.max_give
    })
    .await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// A message the peer refuses for good (here: a maker whose limits allow
/// fewer chat lines) is shown with the peer's reason, across a restart, and
/// is not resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_shown_with_its_reason_and_not_resent() {
    init_logs();
    let (maker, taker) = pair_with(
        |c| c.limits.max_trade_messages = peerfx::core::WireLimits::STEP_RESERVE + 1,
        |_| {},
    )
    .await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
    let id = trade.id();
    let chat = || TradeAction::Chat {
        text: "hello".into(),
    };
    let first = taker.node.trade_step(id, chat()).await.unwrap();
    assert_eq!((first.undelivered, first.refused), (0, None));
    let second = taker.node.trade_step(id, chat()).await.unwrap();
    let (seq, reason) = second.refused.clone().unwrap();
    assert_eq!((seq, second.undelivered), (2, 1));
    assert!(reason.contains("limit"), "{reason}");
    taker.node.shutdown().await;
    let (dir, node) = (taker.dir, taker.node);
    drop(node);
    let taker = start_with(config(dir.path(), vec![maker.addr.clone()]), dir).await;
    assert_eq!(taker.node.trade(&id).unwrap().refused, Some((seq, reason)));
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// A dispute reaches both nodes, with its reason, and a dispute is the end of
/// steps for the trade's amount: it is not given back to the offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_reaches_both_sides_and_keeps_the_amount() {
    init_logs();
    let (maker, taker) = pair().await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
    let id = trade.id();
    taker.node.trade_step(id, TradeAction::Paid).await.unwrap();
    let reason = "paid 108 USD, nothing received".to_string();
    let view = maker
        .node
        .trade_step(
            id,
            TradeAction::Dispute {
                reason: reason.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!((view.phase, view.undelivered), (Phase::Disputed, 0));
    phase_is(&taker.node, &id, Phase::Disputed).await;
    let log = taker.node.trade(&id).unwrap().log;
    assert!(log.iter().any(|m| m.body.action
        == TradeAction::Dispute {
            reason: reason.clone()
        }));
    // A second dispute by the same side is refused; the amount stays sold.
    let again = maker
        .node
        .trade_step(id, TradeAction::Dispute { reason })
        .await
        .unwrap_err();
    assert!(
        matches!(again, NodeError::Step(StepError::Repeated(_))),
        "{again}"
    );
    assert_eq!(remaining(&maker.node, &offer.id()), Amount(40_000));
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// A maker that signs contracts with a deadline the taker finds absurd (here
/// 30 days) gets no trade: the taker refuses before countersigning, and the
/// reservation runs out on the maker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_with_an_absurd_deadline_is_refused_by_the_taker() {
    init_logs();
    let (maker, taker) = pair_with(
        |c| {
            c.trade.max_payment_window = std::time::Duration::from_secs(60 * 86_400);
            c.trade.payment_window = std::time::Duration::from_secs(30 * 86_400);
            c.trade.payment_windows.clear();
        },
        |_| {},
    )
    .await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let err = take(&taker.node, offer.id(), 10_000).await.unwrap_err();
    assert!(err.to_string().contains("deadline: too far away"), "{err}");
    assert!(taker
        .node
        .trades(&PageRequest::default())
        .unwrap()
        .items
        .is_empty());
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

/// A cancel still pending when the trade's deadline passes (nobody paid) is
/// dropped: the trade expired on both sides alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_cancel_is_dropped_when_the_trade_expires() {
    init_logs();
    let (maker, taker) = pair_with(short_deadlines, short_deadlines).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let trade = take(&taker.node, offer.id(), 10_000).await.unwrap();
    let id = trade.id();
    let mp = maker.node.peer_id();
    taker.node.set_blocked(mp, true).await.unwrap();
    wait_until("the partition", || async {
        !taker.node.peers().await.unwrap().contains(&mp)
    })
    .await;
    // The cancel may lose the race with the 2 s deadline; either way the
    // trade ends expired with no cancel left pending.
    if let Ok(view) = taker.node.trade_step(id, TradeAction::Cancel).await {
        assert!(view.cancel_pending);
    }
    wait_until("the pending cancel dropped", || async {
        let v = taker.node.trade(&id).unwrap();
        !v.cancel_pending && v.phase == Phase::Expired
    })
    .await;
    phase_is(&maker.node, &id, Phase::Expired).await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}
