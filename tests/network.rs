//! Multi-node network tests: in-process nodes on 127.0.0.1, ephemeral ports,
//! temp dirs, and no fixed sleeps (every wait is for a condition, with a deadline).

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use peerfx::core::protocol::{GossipMessage, SyncRequest, SyncResponse};
use peerfx::core::{codec, Amount, OfferUpdate, Signed};
use peerfx::net::NetConfig;
use peerfx::node::Node;

/// Publishes `data` from a bare peer, again until gossipsub has a peer to
/// send it to (the first attempts may find no mesh yet), and the node `to`
/// has seen it: counted in its metrics as gossip it handled.
async fn publish_until_heard(
    from: &RawPeer,
    market: peerfx::core::Market,
    data: Vec<u8>,
    to: &Node,
) {
    let seen = || async {
        let m = to.metrics();
        m.gossip_accepted.load(std::sync::atomic::Ordering::Relaxed)
            + m.gossip_ignored.load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = seen().await;
    let mut tries = 0u32;
    wait_until("the published message heard", || {
        tries += 1;
        let data = data.clone();
        async move {
            if tries % 20 == 1 {
                from.net.publish(market, data).await.unwrap();
            }
            seen().await > before
        }
    })
    .await;
}

/// Publishes a marker offer from `from` and waits until every node has it: gossip
/// sent before it has had every chance to arrive, so an absence is meaningful.
async fn flush_gossip(from: &Node, all: &[&Node]) {
    let marker = from.post_offer(spec("1.5")).await.unwrap();
    for n in all {
        wait_until("the marker offer", || async { has_offer(n, &marker.id()) }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_in_a_line_share_offers_cancels_and_updates() {
    init_logs();
    // Each node bootstraps from the previous one: a line, the longest path.
    let mut nodes = vec![start(vec![]).await];
    for i in 1..10 {
        let prev = nodes[i - 1].addr.clone();
        nodes.push(start(vec![prev]).await);
    }
    let all: Vec<&Node> = nodes.iter().map(|t| &t.node).collect();
    let maker = &nodes[9];

    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    for n in &all {
        wait_until("the offer in every book", || async {
            has_offer(n, &offer.id())
        })
        .await;
    }

    // An update with a lower seq than one already applied is ignored everywhere.
    let key = key_of(maker);
    let update = |remaining: u64, seq: u64| {
        let u = OfferUpdate {
            offer_id: offer.id(),
            maker: key.public(),
            remaining: Amount(remaining),
            seq,
            created_at: peerfx::node::now(),
        };
        codec::encode(&GossipMessage::offer(
            offer.signed().clone(),
            Some(Signed::sign(u, &key)),
        ))
    };
    let market = market();
    // The maker's own updates, replayed by a bare peer at the start of the
    // line: the maker ignores news of its own offers, the nine others hear.
    let replayer = raw_peer(vec![nodes[0].addr.clone()]).await;
    wait_until("the replayer in the mesh", || async {
        nodes[0]
            .node
            .peers()
            .await
            .unwrap()
            .contains(&replayer.net.peer_id())
    })
    .await;
    let others = &all[..9];
    publish_until_heard(&replayer, market, update(40_000, 5), all[0]).await;
    for n in others {
        wait_until("the seq-5 update", || async {
            n.book_get(&offer.id())
                .unwrap()
                .is_some_and(|e| e.remaining == Amount(40_000))
        })
        .await;
    }
    publish_until_heard(&replayer, market, update(45_000, 4), all[0]).await;
    flush_gossip(&maker.node, &all).await;
    for n in others {
        assert_eq!(
            n.book_get(&offer.id()).unwrap().unwrap().remaining,
            Amount(40_000)
        );
    }

    // A cancel reaches every book...
    maker.node.cancel_offer(offer.id()).await.unwrap();
    for n in &all {
        wait_until("the cancel everywhere", || async {
            !has_offer(n, &offer.id())
        })
        .await;
    }
    // ...and a late copy of the offer (with a newer update, so it is not a gossip
    // duplicate) does not bring it back.
    publish_until_heard(&replayer, market, update(40_000, 9), all[0]).await;
    flush_gossip(&maker.node, &all).await;
    for n in &all {
        assert!(!has_offer(n, &offer.id()), "a cancelled offer came back");
    }
    replayer.net.shutdown().await.unwrap();
    for t in &nodes {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_the_book_by_sync() {
    init_logs();
    let a = start(vec![]).await;
    let b = start(vec![a.addr.clone()]).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let offer = if i % 2 == 0 { &a } else { &b }
            .node
            .post_offer(spec(&format!("1.{:02}", i + 1)))
            .await
            .unwrap();
        ids.push(offer.id());
    }
    // Re-announcement is ten minutes away (the default) and the test's deadline
    // is one: the offers arrive by sync (a few may also come from gossipsub's
    // short IHAVE history, which is fine).
    let c = start(vec![b.addr.clone()]).await;
    wait_until("all 50 offers at the late joiner", || async {
        ids.iter().all(|id| has_offer(&c.node, id))
    })
    .await;
    for t in [&a, &b, &c] {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_offers_stay_out_and_cost_the_sender_its_score() {
    init_logs();
    let honest = start(vec![]).await;
    let other = start(vec![honest.addr.clone()]).await;
    let key = peerfx::core::Keypair::generate();
    let evil = raw_peer_with(&key, vec![honest.addr.clone()]).await;
    let evil_id = evil.net.peer_id();
    wait_until("the mesh", || async {
        honest.node.peers().await.unwrap().contains(&evil_id)
    })
    .await;
    let market = market();

    // Three kinds of garbage from the same peer. Each attempt uses fresh bytes:
    // gossipsub refuses to publish the same bytes twice, and the first attempts
    // may go out before evil has learned that anyone subscribes.
    let offer = |nonce: u64, note: usize| {
        let mut o = peerfx::core::testing::offer(&key, "EUR", "USD", "1.08", nonce);
        o.created_at = peerfx::node::now();
        o.expires_at = o.created_at.plus(3600);
        o.note = "x".repeat(note);
        Signed::sign(o, &key)
    };
    let mut sent_ids = Vec::new();
    let mut attempt = 0u64;
    wait_until("honest rejects all three kinds", || {
        attempt += 1;
        let mut forged = offer(attempt, 0);
        forged.body.rate = "0.5".parse().unwrap(); // no longer what was signed
        let huge = offer(attempt, 5_000);
        sent_ids.push(forged.id());
        sent_ids.push(huge.id());
        let msgs = [
            codec::encode(&GossipMessage::offer(forged, None)),
            vec![
                codec::FORMAT_VERSION,
                0xff,
                0xff,
                0x01,
                attempt as u8,
                (attempt >> 8) as u8,
            ],
            codec::encode(&GossipMessage::offer(huge, None)),
        ];
        let (evil, honest) = (&evil, &honest);
        async move {
            for m in msgs {
                evil.net.publish(market, m).await.unwrap();
            }
            let r = honest.node.metrics().rejected_by_reason();
            ["bad_signature", "malformed", "too_large"]
                .iter()
                .all(|k| r.contains_key(k))
        }
    })
    .await;
    // Everything evil sent has been handled once an honest marker arrives.
    flush_gossip(&other.node, &[&honest.node]).await;
    for n in [&honest.node, &other.node] {
        assert!(
            sent_ids.iter().all(|id| !has_offer(n, id)),
            "an invalid offer got into a book"
        );
    }
    let score = honest.node.peer_score(evil_id).await.unwrap().unwrap();
    let honest_score = honest
        .node
        .peer_score(other.node.peer_id())
        .await
        .unwrap()
        .unwrap_or(0.0);
    assert!(score < 0.0, "evil's score is {score}");
    assert!(
        honest_score >= 0.0,
        "an honest peer was penalised: {honest_score}"
    );
    // And gossipsub's own metrics count the rejections.
    let invalid = metric(
        &honest.node,
        "libp2p_gossipsub_rejected_messages_per_topic_total",
    )
    .await;
    assert!(invalid > 0, "no rejections in gossipsub's metrics");
    evil.net.shutdown().await.unwrap();
    for t in [&honest, &other] {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_converge_after_a_partition_heals() {
    init_logs();
    let a = start(vec![]).await;
    let b = start(vec![a.addr.clone()]).await;
    let c = start(vec![b.addr.clone()]).await;
    let d = start(vec![c.addr.clone()]).await;
    let left = [&a, &b];
    let right = [&c, &d];
    wait_until("b and c connected", || async {
        b.node.peers().await.unwrap().contains(&c.node.peer_id())
    })
    .await;

    // Partition: every node on one side blocks every node on the other.
    for (l, r) in left.iter().flat_map(|l| right.iter().map(move |r| (l, r))) {
        l.node.set_blocked(r.node.peer_id(), true).await.unwrap();
        r.node.set_blocked(l.node.peer_id(), true).await.unwrap();
    }
    for l in left {
        wait_until("the partition", || async {
            let peers = l.node.peers().await.unwrap();
            right.iter().all(|r| !peers.contains(&r.node.peer_id()))
        })
        .await;
    }
    let on_left = a.node.post_offer(spec("1.08")).await.unwrap();
    let on_right = d.node.post_offer(spec("1.09")).await.unwrap();
    wait_until("left side has its offer", || async {
        has_offer(&b.node, &on_left.id())
    })
    .await;
    wait_until("right side has its offer", || async {
        has_offer(&c.node, &on_right.id())
    })
    .await;
    assert!(!has_offer(&c.node, &on_left.id()) && !has_offer(&b.node, &on_right.id()));

    // Heal and reconnect b and c.
    for (l, r) in left.iter().flat_map(|l| right.iter().map(move |r| (l, r))) {
        l.node.set_blocked(r.node.peer_id(), false).await.unwrap();
        r.node.set_blocked(l.node.peer_id(), false).await.unwrap();
    }
    b.node.dial(c.addr.clone()).await.unwrap();
    for n in [&a, &b, &c, &d] {
        wait_until("both offers everywhere", || async {
            has_offer(&n.node, &on_left.id()) && has_offer(&n.node, &on_right.id())
        })
        .await;
    }
    for t in [&a, &b, &c, &d] {
        t.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reachable_only_through_a_relay_gets_gossip_and_answers_sync() {
    init_logs();
    // The relay is an ordinary node that also serves circuits; it does not follow
    // the market, so nothing about the market can come from it.
    let relay_dir = tempfile::tempdir().unwrap();
    let mut relay_config = config(relay_dir.path(), vec![]);
    relay_config.net.relay_server = true;
    relay_config.markets = vec![];
    let relay = start_with(relay_config, relay_dir).await;

    // The hidden node listens only on a circuit through the relay.
    let hidden_dir = tempfile::tempdir().unwrap();
    let circuit = relay
        .addr
        .clone()
        .with(peerfx::net::multiaddr::Protocol::P2pCircuit);
    let mut hidden_config = config(hidden_dir.path(), vec![relay.addr.clone()]);
    hidden_config.net = NetConfig {
        listen: vec![circuit.clone()],
        ..hidden_config.net
    };
    let hidden_node = Node::start(hidden_config).await.unwrap();
    let hidden_id = hidden_node.peer_id();
    let hidden_addr = wait_for("the circuit reservation", || async {
        let status = hidden_node.status().await.ok()?;
        status
            .listen_addrs
            .iter()
            .find(|a| a.to_string().contains("p2p-circuit"))
            .cloned()
    })
    .await;
    let hidden_addr = hidden_addr.with_p2p(hidden_id).unwrap_or_else(|a| a);
    assert!(hidden_addr
        .to_string()
        .contains(&relay.node.peer_id().to_string()));

    // Two peers reach it only through that circuit address.
    let poster = start(vec![hidden_addr.clone()]).await;
    let asker = raw_peer(vec![hidden_addr.clone()]).await;
    let offer = poster.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("gossip reaches the relayed node", || async {
        has_offer(&hidden_node, &offer.id())
    })
    .await;

    // The asker syncs straight from the hidden node, over the relayed connection.
    let page = wait_for("a sync answer from the relayed node", || async {
        let req = SyncRequest {
            market: market(),
            cursor: None,
            limit: 100,
        };
        match asker.net.sync(hidden_id, req).await {
            Ok(SyncResponse::Page { offers, .. }) if !offers.is_empty() => Some(offers),
            _ => None,
        }
    })
    .await;
    assert!(page.iter().any(|s| s.offer.id() == offer.id()));
    hidden_node.shutdown().await;
    asker.net.shutdown().await.unwrap();
    for t in [&relay, &poster] {
        t.node.shutdown().await;
    }
}

/// A sync page lost on the way (the peer never answers, so the request times
/// out) is asked for again while the peer stays connected, and the book ends
/// up whole. Without the retry the sync would stop at the lost page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sync_page_is_asked_for_again() {
    use peerfx::core::protocol::OfferState;
    use peerfx::core::Keypair;
    use peerfx::net::Request;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    init_logs();
    // Two pages' worth of valid offers, from makers within the quota.
    let offers: Vec<OfferState> = (0..300)
        .map(|i| open_offer(&Keypair::from_secret(&[(i / 50 + 1) as u8; 32]).unwrap(), i))
        .collect();
    let total = offers.len();

    // A bare peer in the market that serves those offers, except that it
    // leaves the second page's first request unanswered.
    let (server, mut events) = peerfx::net::start(
        Keypair::generate().to_libp2p(),
        NetConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            mdns: false,
            gossip_heartbeat: std::time::Duration::from_millis(100),
            ..NetConfig::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    server.subscribe(market()).await.unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let handle = server.clone();
    tokio::spawn(async move {
        let page = usize::from(peerfx::core::WireLimits::default().max_sync_page);
        while let Some(event) = events.requests.recv().await {
            let Request::Sync { request, token, .. } = event else {
                continue;
            };
            if seen.fetch_add(1, Ordering::SeqCst) == 1 {
                continue; // lost: the requester times out
            }
            let response = match request.cursor {
                None => SyncResponse::Page {
                    offers: offers[..page].to_vec(),
                    next: Some(b"second".to_vec()),
                    ratings: Vec::new(),
                },
                Some(_) => SyncResponse::Page {
                    offers: offers[page..].to_vec(),
                    next: None,
                    ratings: Vec::new(),
                },
            };
            handle.respond_sync(token, response).await.unwrap();
        }
    });
    let server_addr = wait_for("the server's address", || async {
        let info = server.info().await.ok()?;
        let a = info.listen_addrs.first()?.clone();
        a.with_p2p(server.peer_id()).ok()
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![server_addr]);
    // Long enough for a page on loopback, short enough for a quick retry.
    c.net.request_timeout = std::time::Duration::from_secs(2);
    let joiner = start_with(c, dir).await;
    wait_until("the whole book, second page included", || async {
        joiner.node.status().await.unwrap().book_size == total
    })
    .await;
    // First page, lost request, retried request; more only if a loaded
    // machine made an answered request time out too.
    assert!(requests.load(Ordering::SeqCst) >= 3);
    joiner.node.shutdown().await;
    server.shutdown().await.unwrap();
}

/// A node provides a market in the DHT once, not once per offer, even when
/// its DHT store is full of other providers of that market and has dropped
/// its own record (Kademlia keeps 20 per key; here 1, so one other maker
/// fills it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_is_provided_once_however_many_makers_it_has() {
    init_logs();
    let other = start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![other.addr.clone()]);
    c.net.kad_max_providers_per_key = 1;
    let maker = start_with(c, dir).await;
    wait_connected(&maker.node, &other.node).await;
    // The other maker's provider record reaches the maker's store first. An
    // announcement made before the other's routing table knew the maker
    // reached nobody; the next post announces again.
    let mut polls = 0u32;
    wait_until("the other maker's provider record", || {
        polls += 1;
        let post = polls % 20 == 1;
        let (maker, other) = (&maker, &other);
        async move {
            if post {
                other.node.post_offer(spec("1.07")).await.unwrap();
            }
            metric(&maker.node, ADD_PROVIDER).await > 0
        }
    })
    .await;
    for rate in ["1.08", "1.09", "1.10"] {
        maker.node.post_offer(spec(rate)).await.unwrap();
    }
    let status = maker.node.status().await.unwrap();
    assert_eq!(status.provide_queries, 1);
    for t in [&maker, &other] {
        t.node.shutdown().await;
    }
}

/// Makers provide a market; a node whose last offer there closed stops
/// announcing it, whether the offer was cancelled or expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stops_providing_a_market_when_its_last_offer_there_closes() {
    init_logs();
    // A provider announcement that reaches no peer is dropped (and made again
    // at the next maintenance tick), so the maker needs a peer.
    let other = start(vec![]).await;
    let t = start(vec![other.addr.clone()]).await;
    wait_connected(&t.node, &other.node).await;
    let providing = || async { t.node.status().await.unwrap().providing };
    let first = t.node.post_offer(spec("1.08")).await.unwrap();
    let second = t.node.post_offer(spec("1.09")).await.unwrap();
    assert_eq!(providing().await, vec![market()]);

    t.node.cancel_offer(first.id()).await.unwrap();
    assert_eq!(providing().await, vec![market()], "one offer is still open");
    t.node.cancel_offer(second.id()).await.unwrap();
    assert_eq!(providing().await, vec![]);

    // Expiry is noticed by the maintenance tick.
    let mut short = spec("1.10");
    short.lifetime = std::time::Duration::from_secs(1);
    t.node.post_offer(short).await.unwrap();
    assert_eq!(providing().await, vec![market()]);
    wait_until(
        "the expired offer's market is no longer provided",
        || async { providing().await.is_empty() },
    )
    .await;
    for t in [&t, &other] {
        t.node.shutdown().await;
    }
}

/// An announcement that reached no peer (the maker was alone) is made again
/// once there is someone to tell, without waiting for the maker's next post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_announced_while_alone_is_announced_again_once_a_peer_connects() {
    init_logs();
    let maker = start(vec![]).await;
    maker.node.post_offer(spec("1.08")).await.unwrap();
    let providing = || async { maker.node.status().await.unwrap().providing };
    wait_until("the lonely announcement is given up", || async {
        providing().await.is_empty()
    })
    .await;
    let queries = maker.node.status().await.unwrap().provide_queries;

    // A peer that joins later can find the maker by asking it directly, so
    // what shows the announcement was made again is that it arrived.
    let other = start(vec![maker.addr.clone()]).await;
    wait_until("the maker's announcement reaches the new peer", || async {
        metric(&other.node, ADD_PROVIDER).await > 0
    })
    .await;
    assert!(maker.node.status().await.unwrap().provide_queries > queries);
    for t in [&maker, &other] {
        t.node.shutdown().await;
    }
}

/// The bootstrap node follows another market, so gossip through it cannot
/// carry the maker's offers: the joiner finds the maker through the DHT's
/// provider records only. The joiner is what a phone behind NAT is: it
/// listens nowhere and is a DHT client, so no query of the maker's can reach
/// it. It follows the market first, when nobody provides it yet, so the
/// lookup it made on following finds nobody. The maker comes later, and only
/// the retried lookup finds it (with `dht_retry_min` set to an hour, this
/// test times out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_the_bootstrap_node_does_not_follow_is_found_through_the_dht() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.markets = vec!["GBP-JPY".parse().unwrap()];
    let hub = start_with(c, dir).await;

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![hub.addr.clone()]);
    c.net.kad_server = false;
    c.net.listen = vec![];
    c.sync.dht_retry_min = std::time::Duration::from_millis(200);
    c.sync.dht_retry_max = std::time::Duration::from_secs(1);
    // Listening nowhere: the joiner dials, nobody can dial it.
    let joiner = Node::start(c).await.unwrap();
    wait_connected(&joiner, &hub.node).await;
    // A book query waits for the first sync of the market, so the lookup
    // made on following it is over (and found nobody) before the maker comes.
    let query = peerfx::node::BookQuery {
        market: Some(market()),
        ..Default::default()
    };
    assert!(joiner.book(&query).await.unwrap().is_empty());

    let maker = start(vec![hub.addr.clone()]).await;
    let offer = maker.node.post_offer(spec("1.08")).await.unwrap();
    wait_until("the maker's offer at the joiner", || async {
        has_offer(&joiner, &offer.id())
    })
    .await;
    assert!(metric(&joiner, "peerfx_dht_lookups_total").await > 0);
    assert!(
        !has_offer(&hub.node, &offer.id()),
        "the hub does not follow EUR-USD, so it cannot have relayed the offer"
    );
    joiner.shutdown().await;
    for t in [&maker, &hub] {
        t.node.shutdown().await;
    }
}
