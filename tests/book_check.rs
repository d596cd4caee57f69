//! The book check (`/peerfx/digest`): offers whose gossip was lost are
//! caught up by comparing digests with a peer, and only when they differ.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use peerfx::core::protocol::{BookDigest, DigestRequest, DigestResponse, OfferState, SyncResponse};
use peerfx::core::Keypair;
use peerfx::net::Request;

/// A bare peer in the market holds offers the node never heard of (their
/// gossip was lost) and leaves them out of its first sync page. The node's
/// checks find the books the same while the peer says so, and fetch
/// nothing; once the peer's digest differs, the node syncs and has them.
/// And a peer's check with a digest unlike ours is answered "differs" with
/// our digest, and starts our sync from that peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_gossip_is_caught_up_by_the_book_check_and_only_then() {
    init_logs();
    let key = Keypair::generate();
    let offers: Vec<OfferState> = (0..3).map(|i| open_offer(&key, i)).collect();

    // A bare peer in the market, scripted below.
    let RawPeer {
        net: peer,
        mut events,
        addr: peer_addr,
    } = raw_peer(vec![]).await;
    let differs = Arc::new(AtomicBool::new(false));
    let (checks, syncs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handle = peer.clone();
    let (differs_in, checks_in, syncs_in) = (differs.clone(), checks.clone(), syncs.clone());
    let served = offers.clone();
    tokio::spawn(async move {
        while let Some(event) = events.requests.recv().await {
            match event {
                Request::Digest { request, token, .. } => {
                    checks_in.fetch_add(1, Ordering::SeqCst);
                    let response = if differs_in.load(Ordering::SeqCst) {
                        DigestResponse::Differs(BookDigest {
                            count: 3,
                            ..request.digest
                        })
                    } else {
                        DigestResponse::Same
                    };
                    handle.respond_digest(token, response).await.unwrap();
                }
                Request::Sync { token, .. } => {
                    // The first sync (on connect) is served empty.
                    let offers = if syncs_in.fetch_add(1, Ordering::SeqCst) == 0 {
                        Vec::new()
                    } else {
                        served.clone()
                    };
                    let page = SyncResponse::Page {
                        offers,
                        next: None,
                        ratings: Vec::new(),
                    };
                    handle.respond_sync(token, page).await.unwrap();
                }
                Request::Trade { .. } | Request::Mailbox { .. } => {}
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![peer_addr]);
    c.sync.check_interval = Duration::from_millis(100);
    let node = start_with(c, dir).await;
    wait_until("a few checks answered 'same'", || async {
        checks.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(syncs.load(Ordering::SeqCst), 1, "the first sync only");
    assert_eq!(node.node.status().await.unwrap().book_size, 0);

    differs.store(true, Ordering::SeqCst);
    wait_until("the lost offers, by sync after a check", || async {
        node.node.status().await.unwrap().book_size == offers.len()
    })
    .await;

    // The other way: the peer checks with a digest unlike ours.
    let syncs_before = syncs.load(Ordering::SeqCst);
    let asked = DigestRequest {
        market: market(),
        digest: BookDigest::EMPTY,
    };
    let ours = node.node.peer_id();
    let answer = wait_for("an answer to the peer's check", || async {
        peer.digest(ours, asked.clone()).await.ok()
    })
    .await;
    let DigestResponse::Differs(digest) = answer else {
        panic!("a book of 3 offers is not the empty book: {answer:?}");
    };
    assert_eq!(digest.count, 3);
    wait_until("the node's sync from the peer that checked", || async {
        syncs.load(Ordering::SeqCst) > syncs_before
    })
    .await;
    node.node.shutdown().await;
    peer.shutdown().await.unwrap();
}
