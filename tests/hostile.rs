//! What a hostile or careless peer can make a node do, each bounded: chat
//! floods, a stream of fresh identities, a slow disk under gossip, a peer
//! that keeps sending invalid offers. In-process nodes on 127.0.0.1.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use peerfx::core::protocol::{GossipMessage, TradeRefusal, TradeRequest, TradeResponse};
use peerfx::core::trade::{BudgetKind, StepError};
use peerfx::core::{codec, Amount, Keypair, Signed, TradeAction, TradeMessage, WireLimits};
use peerfx::net::scoring::ScoringConfig;
use peerfx::node::NodeError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_flood_stops_at_the_cap_and_the_trade_still_works() {
    init_logs();
    let limits = WireLimits {
        max_trade_messages: 12,
        ..WireLimits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.limits = limits.clone();
    let maker = start_with(c, dir).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![maker.addr.clone()]);
    c.limits = limits.clone();
    let taker = start_with(c, dir).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("the offer at the taker", || async {
        has_offer(&taker.node, &offer.id())
    })
    .await;
    let id = taker
        .node
        .take(offer.id(), Amount(10_000), None, None)
        .await
        .unwrap()
        .id();

    // The taker's own node stops it at the cap, saying why.
    let chat = |n: usize| TradeAction::Chat {
        text: format!("line {n}"),
    };
    for n in 0..limits.max_chat_lines() {
        taker.node.trade_step(id, chat(n as usize)).await.unwrap();
    }
    let err = taker.node.trade_step(id, chat(99)).await.unwrap_err();
    assert!(
        matches!(
            err,
            NodeError::Step(StepError::TooManyMessages {
                what: BudgetKind::Chat,
                max: 8
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("chat line limit reached"), "{err}");

    // A modified client signing past the cap is refused by the maker, which
    // stores nothing.
    let key = key_of(&taker);
    let seq = taker.node.trade(&id).unwrap().state.taker.last_seq + 1;
    taker.node.shutdown().await;
    let TestNode {
        node: taker_node,
        dir: taker_dir,
        ..
    } = taker;
    drop(taker_node);
    let rogue = raw_peer_with(&key, vec![maker.addr.clone()]).await;
    let msg = Signed::sign(
        TradeMessage {
            trade_id: id,
            author: key.public(),
            seq,
            created_at: peerfx::node::now(),
            action: chat(100),
        },
        &key,
    );
    let r = rogue
        .trade(maker.node.peer_id(), TradeRequest::Message(msg))
        .await;
    assert_eq!(
        r,
        TradeResponse::Refused(TradeRefusal::Step(StepError::TooManyMessages {
            what: BudgetKind::Chat,
            max: 8
        }))
    );
    assert_eq!(maker.node.trade(&id).unwrap().messages, 8);
    rogue.net.shutdown().await.unwrap();

    // The steps still fit: the trade completes.
    let taker = start_with(
        config_with_limits(taker_dir.path(), vec![maker.addr.clone()], &limits),
        taker_dir,
    )
    .await;
    for (node, action) in [
        (&taker.node, TradeAction::Paid),
        (&maker.node, TradeAction::Received),
        (&maker.node, TradeAction::Paid),
        (&taker.node, TradeAction::Received),
    ] {
        let view = node.trade_step(id, action).await.unwrap();
        assert_eq!(view.undelivered, 0);
    }
    wait_until("completed on both sides", || async {
        [&maker, &taker]
            .iter()
            .all(|t| t.node.trade(&id).unwrap().phase == peerfx::core::trade::Phase::Completed)
    })
    .await;
    for t in [&maker, &taker] {
        t.node.shutdown().await;
    }
}

fn config_with_limits(
    dir: &std::path::Path,
    bootstrap: Vec<peerfx::net::Multiaddr>,
    limits: &WireLimits,
) -> peerfx::node::NodeConfig {
    let mut c = config(dir, bootstrap);
    c.limits = limits.clone();
    c
}

/// A thousand throwaway identities connect and leave: the node remembers
/// none of them (only peers it dialed are worth redialing), and what it
/// remembers is capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_fresh_inbound_identities_leave_the_peer_table_bounded() {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.peers.max_remembered = 50;
    let node = start_with(c, dir).await;
    for _ in 0..1000 {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| libp2p::swarm::dummy::Behaviour)
            .unwrap()
            .build();
        swarm.dial(node.addr.clone()).unwrap();
        tokio::time::timeout(TIMEOUT, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { .. } => break,
                    SwarmEvent::OutgoingConnectionError { error, .. } => panic!("{error}"),
                    _ => {}
                }
            }
        })
        .await
        .unwrap();
    }
    let remembered = node.node.status().await.unwrap().remembered_peers;
    assert!(remembered <= 50, "{remembered} peers remembered");
    node.node.shutdown().await;
}

/// A disk that takes two seconds per flush holds up the posts waiting for
/// it, and nothing else: gossip keeps being judged meanwhile. One runtime
/// thread, so a flush on it would stop everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_slow_disk_does_not_stall_gossip() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.store.flush_delay = Duration::from_secs(2);
    let slow = start_with(c, dir).await;
    let feeder = raw_peer(vec![slow.addr.clone()]).await;
    wait_until("the feeder knows the node's market", || async {
        feeder
            .net
            .peers_on(market())
            .await
            .unwrap()
            .contains(&slow.node.peer_id())
    })
    .await;
    // More posts than the runtime has threads: a flush on a runtime thread
    // would hold them all.
    let posts: Vec<_> = (0..4)
        .map(|i| {
            let node = slow.node.clone();
            tokio::spawn(async move { node.post_offer(spec(&format!("1.0{i}"))).await })
        })
        .collect();
    let accepted = || slow.node.metrics().gossip_accepted.load(Ordering::Relaxed);
    let before = accepted();
    let mut nonce = 0u64;
    wait_until("gossip judged while the posts wait for the disk", || {
        nonce += 1;
        let key = Keypair::generate();
        let mut o = peerfx::core::testing::offer(&key, "EUR", "USD", "1.2", nonce);
        o.created_at = peerfx::node::now();
        o.expires_at = o.created_at.plus(600);
        let msg = codec::encode(&GossipMessage::offer(Signed::sign(o, &key), None));
        let feeder = &feeder;
        async move {
            feeder.net.publish(market(), msg).await.unwrap();
            accepted() >= before + 10
        }
    })
    .await;
    assert!(
        posts.iter().all(|p| !p.is_finished()),
        "a post finished before its flush could have"
    );
    for p in posts {
        p.await.unwrap().unwrap();
    }
    feeder.net.shutdown().await.unwrap();
    slow.node.shutdown().await;
}

/// One invalid offer every period, forever: the peer is graylisted, then
/// disconnected and banned, with scores derived for that rate (here a
/// minute's worth of windows scaled down 120 times, so the test takes
/// seconds: an hour's memory is 30 s, one a minute is one every 500 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_an_invalid_offer_every_period_is_graylisted_and_banned() {
    init_logs();
    let scoring = ScoringConfig {
        decay_interval: Duration::from_secs(1),
        invalid_window: Duration::from_secs(30),
        graylist_period: Duration::from_millis(500),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.net.scoring = scoring.clone();
    let honest = start_with(c, dir).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![honest.addr.clone()]);
    c.net.scoring = scoring.clone();
    let bystander = start_with(c, dir).await;
    let key = Keypair::generate();
    let evil = raw_peer_with(&key, vec![honest.addr.clone()]).await;
    let evil_id = evil.net.peer_id();
    wait_until("evil knows the honest node's market", || async {
        evil.net
            .peers_on(market())
            .await
            .unwrap()
            .contains(&honest.node.peer_id())
    })
    .await;
    let mut tick = tokio::time::interval(scoring.graylist_period);
    let mut nonce = 0u64;
    let banned = tokio::time::timeout(TIMEOUT, async {
        loop {
            tick.tick().await;
            nonce += 1;
            let mut o = peerfx::core::testing::offer(&key, "EUR", "USD", "1.08", nonce);
            o.created_at = peerfx::node::now();
            o.expires_at = o.created_at.plus(600);
            let mut forged = Signed::sign(o, &key);
            forged.body.rate = "0.5".parse().unwrap(); // not what was signed
            let _ = evil
                .net
                .publish(market(), codec::encode(&GossipMessage::offer(forged, None)))
                .await;
            if honest.node.status().await.unwrap().banned_peers > 0 {
                break nonce;
            }
        }
    })
    .await
    .expect("evil was never banned");
    // Banned: disconnected, and it stays out.
    wait_until("evil disconnected", || async {
        !honest.node.peers().await.unwrap().contains(&evil_id)
    })
    .await;
    let _ = evil.net.dial(honest.addr.clone()).await;
    assert!(!honest.node.peers().await.unwrap().contains(&evil_id));
    // It took a while: a single mistake is not punished like this.
    assert!(banned > 10, "banned after {banned} invalid offers");
    assert!(
        honest
            .node
            .peer_score(bystander.node.peer_id())
            .await
            .unwrap()
            .unwrap_or(0.0)
            >= 0.0
    );
    evil.net.shutdown().await.unwrap();
    for t in [&honest, &bystander] {
        t.node.shutdown().await;
    }
}

/// The first look at a market a node did not follow shows a connected
/// peer's offers, not an empty book: it waits for the first sync page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_book_query_of_a_new_market_waits_for_its_first_sync_page() {
    init_logs();
    let maker = start(vec![]).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![maker.addr.clone()]);
    c.markets = vec![];
    let newcomer = start_with(c, dir).await;
    wait_connected(&newcomer.node, &maker.node).await;
    let book = newcomer
        .node
        .book(&peerfx::node::BookQuery {
            market: Some(market()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        book.iter().any(|e| e.offer.id() == offer.id()),
        "the first answer was {} offers",
        book.len()
    );
    for t in [&maker, &newcomer] {
        t.node.shutdown().await;
    }
}

/// gossipsub's subscription filter caps what a peer may make us remember
/// about it: a request with more topics than the cap is refused whole, and
/// past the cap a peer's further subscriptions are not recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_subscriptions_are_capped() {
    const CAP: usize = 4;
    let usd = "USD".parse().unwrap();
    let markets: Vec<peerfx::core::Market> = [
        "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN",
    ]
    .iter()
    .map(|c| peerfx::core::Market::new(c.parse().unwrap(), usd).unwrap())
    .collect();
    assert_eq!(markets[0], market(), "the raw peer follows the first");

    // B follows six markets before anyone connects, so it announces all six
    // in the one request that opens a connection.
    let mut b = raw_peer(vec![]).await;
    for m in &markets[1..6] {
        b.net.subscribe(*m).await.unwrap();
    }
    // A allows CAP topics a peer, follows the seventh market, and connects.
    let config = peerfx::net::NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: vec![b.addr.clone()],
        mdns: false,
        gossip_heartbeat: Duration::from_millis(100),
        max_peer_topics: CAP,
        ..Default::default()
    };
    let (a, mut a_events) =
        peerfx::net::start(Keypair::generate().to_libp2p(), config, &Default::default())
            .await
            .unwrap();
    a.subscribe(markets[6]).await.unwrap();
    let (a_ref, b_id) = (&a, b.net.peer_id());
    let on = |m: usize| {
        let market = markets[m];
        async move { a_ref.peers_on(market).await.unwrap().contains(&b_id) }
    };

    // Once B is connected, its six topics are queued ahead of anything new.
    let a_id = a.peer_id();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), b.events.control.recv()).await {
            Ok(Some(peerfx::net::NetEvent::PeerConnected { peer, .. })) if peer == a_id => break,
            Ok(Some(_)) => {}
            other => panic!("B never connected to A: {other:?}"),
        }
    }
    // One new topic is within the cap: seen. The six of the first request
    // were refused with it.
    b.net.subscribe(markets[6]).await.unwrap();
    wait_until("B's seventh subscription", || on(6)).await;
    for m in 0..6 {
        assert!(!on(m).await, "market {m} of an oversized request");
    }

    // Four more, one at a time: three fit under the cap, the last does not.
    for m in &markets[7..11] {
        b.net.subscribe(*m).await.unwrap();
    }
    // B's gossip after its subscriptions tells when A has read them all.
    let marker = b"after the subscriptions".to_vec();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    'marker: loop {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for B's marker"
        );
        // Refused until B's gossipsub knows A follows the market: retried.
        let _ = b.net.publish(markets[6], marker.clone()).await;
        while let Ok(Some(g)) =
            tokio::time::timeout(Duration::from_millis(100), a_events.gossip.recv()).await
        {
            if g.data == marker {
                break 'marker;
            }
        }
    }
    for m in 6..10 {
        assert!(on(m).await, "market {m}, within the cap");
    }
    assert!(!on(10).await, "market 10, past the cap");
    a.shutdown().await.unwrap();
    b.net.shutdown().await.unwrap();
}
