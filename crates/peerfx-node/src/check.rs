//! Book checks over `/peerfx/digest`: anti-entropy for gossip that was lost.
//!
//! Gossip is fire and forget. What a partition, a dropped link or a sleeping
//! phone missed is caught up by a sync when the node notices a peer
//! (connect, subscribe, a ping answered again), but a connection can survive
//! an outage without either side noticing: TCP keeps it open, and the pings
//! may fail or not depending on when they fall. So every
//! [`crate::config::SyncConfig::check_interval`] the node compares each
//! followed market's book with one random peer on it, by digest
//! ([`peerfx_core::protocol::BookDigest`], ~50 bytes each way). Only when the
//! digests differ do the two sync, each from the other.
//!
//! A random peer per round spreads what one half missed like gossip does:
//! once one node has the other half's offers, the nodes that compare with it
//! get them, so a healed partition converges in a few rounds.
//!
//! Two books can differ for good: one node has seen a cancel the other has
//! not (sync pages carry open offers, not cancels), until the offer expires.
//! A fetch that changes nothing records the pair of digests, and the same
//! pair with the same peer is not fetched again.

use std::sync::Arc;

use peerfx_core::protocol::{DigestRequest, DigestResponse, SyncRefusal};
use peerfx_core::Market;
use peerfx_net::{PeerId, ResponseToken};
use rand::seq::SliceRandom;

use crate::inner::Inner;
use crate::{now, sync, Metrics};

/// Compares every followed market with one random peer on it.
pub(crate) async fn check_books(inner: &Arc<Inner>) {
    for market in inner.markets.list() {
        let peers = inner.net.peers_on(market).await.unwrap_or_default();
        let Some(&peer) = peers.choose(&mut rand::thread_rng()) else {
            continue;
        };
        let digest = inner.store.book_digest(market, now());
        let request = DigestRequest { market, digest };
        match inner.net.digest(peer, request).await {
            Ok(DigestResponse::Same) => {}
            Ok(DigestResponse::Differs(theirs)) => {
                Metrics::inc(&inner.metrics.book_checks_differed);
                tracing::debug!(%peer, %market, ours = digest.count, theirs = theirs.count,
                    "books differ");
                let inner = inner.clone();
                inner.tracker.clone().spawn(async move {
                    fetch_unless_settled(inner, peer, market, (digest, theirs)).await
                });
            }
            Ok(DigestResponse::Refused(reason)) => {
                tracing::debug!(%peer, %market, "book check refused: {reason}");
            }
            // A peer that does not speak the protocol (the JavaScript client)
            // or went away: the next round asks another.
            Err(e) => {
                let e = crate::error::chain(&e);
                tracing::debug!(%peer, %market, "book check failed: {e}")
            }
        }
    }
}

/// Answers a peer's book check; if the books differ, also syncs from it
/// (it syncs from us on our answer), so one check heals both sides.
pub(crate) fn serve(inner: Arc<Inner>, peer: PeerId, request: DigestRequest, token: ResponseToken) {
    inner.tracker.clone().spawn(async move {
        let market = request.market;
        let response = if !inner
            .sync
            .may_serve(peer, inner.config.sync.pages_per_minute)
        {
            Metrics::inc(&inner.metrics.sync_refused);
            DigestResponse::Refused(SyncRefusal::RateLimited)
        } else if !inner.markets.contains(&market) {
            // We keep no book of it: "differs" would make the peer fetch
            // nothing from us and us nothing from it.
            DigestResponse::Same
        } else {
            let ours = inner.store.book_digest(market, now());
            if ours == request.digest {
                DigestResponse::Same
            } else {
                Metrics::inc(&inner.metrics.book_checks_differed);
                let pair = (ours, request.digest);
                let fetcher = inner.clone();
                inner
                    .tracker
                    .spawn(async move { fetch_unless_settled(fetcher, peer, market, pair).await });
                DigestResponse::Differs(ours)
            }
        };
        tracing::debug!(%peer, %market, ?response, "book check answered");
        let _ = inner.net.respond_digest(token, response).await;
    });
}

/// Syncs `market` from `peer` unless the last sync after the same pair of
/// digests (ours, theirs) brought nothing.
async fn fetch_unless_settled(
    inner: Arc<Inner>,
    peer: PeerId,
    market: Market,
    pair: (
        peerfx_core::protocol::BookDigest,
        peerfx_core::protocol::BookDigest,
    ),
) {
    if inner.sync.settled(peer, market) == Some(pair) {
        return;
    }
    if !sync::fetch(inner.clone(), peer, market, None).await {
        return;
    }
    if inner.store.book_digest(market, now()) == pair.0 {
        inner.sync.settle(peer, market, pair);
    }
}
