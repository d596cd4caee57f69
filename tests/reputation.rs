//! Ratings end to end: a party rates a finished trade, the rating reaches
//! nodes in the market by gossip and, for a node that joins later, with the
//! maker's offers in a sync page; every node computes the profile itself.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::trading::*;
use common::*;
use peerfx::core::codec;
use peerfx::core::protocol::{GossipMessage, SyncRequest, SyncResponse};
use peerfx::core::rating::{RatedOutcome, RatedTrade, Rating};
use peerfx::core::trade::Phase;
use peerfx::core::RejectReason;
use peerfx::core::Signed;
use peerfx::core::{PublicKey, TradeAction};
use peerfx::node::{BookQuery, Node, NodeError};

async fn rated(node: &Node, peer: &PublicKey, ratings: u32) {
    wait_until("the rating in the profile", || async {
        node.peer_profile(peer).is_ok_and(|p| p.ratings == ratings)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rating_reaches_the_market_by_gossip_and_by_sync_and_each_node_weighs_it() {
    init_logs();
    let (maker, taker) = pair().await;
    let early = start(vec![maker.addr.clone()]).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let id = take(&taker.node, offer.id(), 10_000).await.unwrap().id();
    match taker.node.rate_trade(id, 5, String::new()).await {
        Err(NodeError::NotFinished(_)) => {}
        other => panic!("rated an open trade: {other:?}"),
    }
    for (node, action) in [
        (&taker.node, TradeAction::Paid),
        (&maker.node, TradeAction::Paid),
        (&maker.node, TradeAction::Received),
        (&taker.node, TradeAction::Received),
    ] {
        node.trade_step(id, action).await.unwrap();
    }
    phase_is(&maker.node, &id, Phase::Completed).await;
    phase_is(&taker.node, &id, Phase::Completed).await;

    let (m, t) = (key_of(&maker).public(), key_of(&taker).public());
    let given = taker
        .node
        .rate_trade(id, 5, "smooth, on time".into())
        .await
        .unwrap();
    assert_eq!(given.rated, m);
    maker.node.rate_trade(id, 4, String::new()).await.unwrap();
    match taker.node.rate_trade(id, 1, "changed my mind".into()).await {
        Err(NodeError::AlreadyRated(_)) => {}
        other => panic!("rated twice: {other:?}"),
    }

    // By gossip, to a node in the market.
    rated(&early.node, &m, 1).await;
    rated(&early.node, &t, 1).await;
    let p = early.node.peer_profile(&m).unwrap();
    assert!(p.score > Some(300), "{p:?}");
    // The taker is a stranger to this node, with no history of its own:
    // its word counts, but does not vouch for a completed trade.
    assert_eq!((p.completed, p.completed_unvouched), (0, 1));
    // The maker's own rating of its counterparty vouches for the trade.
    let own = maker.node.peer_profile(&t).unwrap();
    assert_eq!((own.completed, own.ratings), (1, 1));
    // And the taker's word about the maker weighs as a counterparty's on
    // the maker's node (a stranger's would not vouch): its point of view
    // learnt of the completed trade.
    wait_until("the taker's rating on the maker's node", || async {
        maker.node.peer_profile(&m).is_ok_and(|p| p.ratings == 1)
    })
    .await;
    assert_eq!(maker.node.peer_profile(&m).unwrap().completed, 1);

    // The book filters by the maker's reputation, as this node sees it.
    let book = |min_trades, min_score| {
        let node = early.node.clone();
        async move {
            node.book(&BookQuery {
                market: Some(market()),
                min_trades,
                min_score,
                by_reputation: true,
                ..BookQuery::default()
            })
            .await
            .unwrap()
            .len()
        }
    };
    assert_eq!(book(0, Some(300)).await, 1);
    assert_eq!(book(0, Some(500)).await, 0);
    assert_eq!(
        book(1, None).await,
        0,
        "a stranger's word vouched for a trade"
    );

    // In a sync page: the maker's offer is still open, and the page
    // carries the maker's ratings with it.
    let asker = raw_peer(vec![maker.addr.clone()]).await;
    let mp = maker.node.peer_id();
    let ratings = wait_for("a sync page from the maker", || async {
        let req = SyncRequest {
            market: market(),
            cursor: None,
            limit: 100,
        };
        match asker.net.sync(mp, req).await {
            Ok(SyncResponse::Page { ratings, .. }) => Some(ratings),
            _ => None,
        }
    })
    .await;
    assert_eq!(ratings.len(), 1);
    assert_eq!(ratings[0].rating.body.rater, t);
    asker.net.shutdown().await.unwrap();
    // A stranger cannot rate the maker with someone else's contract: the
    // node refuses it (and charges the sender), and the profile is as it was.
    let stranger = peerfx::core::Keypair::generate();
    let evil = raw_peer_with(&stranger, vec![early.addr.clone()]).await;
    let forged = RatedTrade {
        contract: maker.node.trade(&id).unwrap().contract,
        rating: Signed::sign(
            Rating {
                trade_id: id,
                rater: stranger.public(),
                outcome: RatedOutcome::Completed,
                score: 1,
                comment: "never traded, still rating".into(),
                created_at: peerfx::node::now(),
            },
            &stranger,
        ),
    };
    let message = codec::encode(&GossipMessage::Rating(Box::new(forged)));
    let bad = "peerfx_rejected_total{reason=\"bad_rating\"}";
    wait_until("the forged rating refused", || async {
        let _ = evil.net.publish(market(), message.clone()).await;
        metric(&early.node, bad).await > 0
    })
    .await;
    assert_eq!(early.node.peer_profile(&m).unwrap().ratings, 1);
    evil.net.shutdown().await.unwrap();

    // So a node that joins later learns it (by that page, or by gossip).
    let late = start(vec![maker.addr.clone()]).await;
    rated(&late.node, &m, 1).await;
    // The profile counts a rating as it is merged; the list reads it back
    // from the store's writer a moment later.
    let about = wait_for("the rating in the list", || async {
        let about = late.node.ratings_about(&m, 10).ok()?;
        (!about.is_empty()).then_some(about)
    })
    .await;
    assert_eq!(about[0].rated_trade.rating.body.comment, "smooth, on time");
    for n in [&maker, &taker, &early, &late] {
        n.node.shutdown().await;
    }
}

/// A maker that asks for a history refuses a taker without one, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_that_asks_for_a_history_refuses_a_fresh_taker_with_the_reason() {
    init_logs();
    let (maker, taker) = pair_with(|c| c.trade.min_taker_trades = 1, |_| {}).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let err = take(&taker.node, offer.id(), 10_000).await.unwrap_err();
    match &err {
        NodeError::Take(RejectReason::Reputation {
            min_trades: 1,
            trades: 0,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("at least 1 completed trades"),
        "{err}"
    );
    // Nothing was reserved.
    assert_eq!(remaining(&maker.node, &offer.id()), offer.max_give);
    for n in [&maker, &taker] {
        n.node.shutdown().await;
    }
}
