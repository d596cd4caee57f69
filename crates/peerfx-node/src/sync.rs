//! Book sync over `/peerfx/sync`: fetching a market's open offers from peers
//! that have it, and serving ours, with limits both ways.
//!
//! A sync starts whenever this node learns that a connected peer follows a
//! market it follows too (gossipsub tells us on connect, on subscribe, and so
//! after a partition heals), and when the node starts following a market (then
//! from the peers gossipsub knows on the market's topic, and from DHT
//! providers). So a late joiner converges without waiting for
//! re-announcements.
//!
//! Every offer of a page is verified as if gossiped. A page with offers that
//! fail validation costs the peer that served it: the node reports the
//! misbehaviour to the network layer, which lowers the peer's score.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerfx_core::protocol::{
    BookDigest, SyncRefusal, SyncRequest, SyncResponse, RATINGS_PAGE_BYTES,
};
use peerfx_core::Market;
use peerfx_net::{Misbehaviour, PeerId, ResponseToken};
use tokio::sync::watch;

use crate::inner::Inner;
use crate::locks::lock;
use crate::{now, Metrics};

/// Sync pages being verified and merged at once, per fetch.
const MERGES_IN_FLIGHT: usize = 2;

/// Tries per sync page while the peer stays connected.
const PAGE_ATTEMPTS: u32 = 3;

/// Wait before retrying a page, times the attempt number.
const PAGE_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Bookkeeping that keeps syncs from repeating or flooding.
#[derive(Default)]
pub(crate) struct SyncState {
    budgets: Mutex<Budgets>,
    served: crate::budget::PerMinute,
    in_flight: AtomicUsize,
}

#[derive(Default)]
struct Budgets {
    last_fetch: HashMap<(PeerId, Market), Instant>,
    /// Pairs of digests (ours, the peer's) after which a sync from the
    /// peer brought nothing (see `crate::check`).
    settled: HashMap<(PeerId, Market), (BookDigest, BookDigest)>,
}

impl SyncState {
    /// Whether a fetch from `peer` may start now; records it if so.
    fn may_fetch(&self, peer: PeerId, market: Market, min_interval: Duration) -> bool {
        let now = Instant::now();
        let mut b = lock(&self.budgets);
        match b.last_fetch.get(&(peer, market)) {
            Some(t) if now.duration_since(*t) < min_interval => false,
            _ => {
                b.last_fetch.insert((peer, market), now);
                true
            }
        }
    }

    /// The pair of digests after which a sync of `market` from `peer`
    /// last brought nothing.
    pub(crate) fn settled(&self, peer: PeerId, market: Market) -> Option<(BookDigest, BookDigest)> {
        lock(&self.budgets).settled.get(&(peer, market)).copied()
    }

    /// Records that a sync from `peer` after `pair` brought nothing.
    pub(crate) fn settle(&self, peer: PeerId, market: Market, pair: (BookDigest, BookDigest)) {
        lock(&self.budgets).settled.insert((peer, market), pair);
    }

    /// Whether `peer` may be served another page (or book check) this minute.
    pub(crate) fn may_serve(&self, peer: PeerId, per_minute: u32) -> bool {
        self.served.allow(peer, per_minute)
    }

    /// Forgets a peer that left.
    pub(crate) fn forget(&self, peer: &PeerId) {
        self.served.forget(peer);
        let mut b = lock(&self.budgets);
        b.last_fetch.retain(|(p, _), _| p != peer);
        b.settled.retain(|(p, _), _| p != peer);
    }

    /// Fetches under way.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// How long a first sync with no peer known on its topic waits for one, while
/// connected: gossipsub sends a peer's subscriptions first thing on a new
/// connection, so they arrive within a round trip or two.
const SUBSCRIPTIONS_WAIT: Duration = Duration::from_secs(1);

/// Syncs `market` from up to `sync.peers` peers that have it, and sets
/// `first` once a first page has merged, or once every fetch has ended.
///
/// Two races would settle `first` on an empty book, and both wait instead:
/// right after a connection gossipsub may not have heard which markets the
/// peer follows (no peer to ask yet: up to [`SUBSCRIPTIONS_WAIT`]), and a
/// peer's subscription arriving just after the follow starts the pump's own
/// fetch from it, so this one is skipped as a repeat (up to
/// [`crate::config::SyncConfig::first_page_wait`]). The pump passes `first`
/// to that fetch while it is unsettled.
pub(crate) fn sync_market(inner: Arc<Inner>, market: Market, first: Arc<watch::Sender<bool>>) {
    inner.tracker.clone().spawn(async move {
        let want = inner.config.sync.peers;
        let mut peers = inner.net.peers_on(market).await.unwrap_or_default();
        if peers.len() < want {
            if let Ok(providers) = providers_besides(&inner, market, &peers).await {
                peers.extend(providers);
            }
        }
        tracing::debug!(%market, peers = peers.len(), "first sync");
        let asked = !peers.is_empty();
        let mut fetched = false;
        for peer in peers.into_iter().take(want) {
            fetched |= fetch(inner.clone(), peer, market, Some(&first)).await;
        }
        if !fetched {
            let first_page = inner.config.sync.first_page_wait;
            let wait = if asked {
                // The pump's fetch from the same peer is under way.
                first_page
            } else if inner
                .net
                .info()
                .await
                .is_ok_and(|info| !info.connected.is_empty())
            {
                SUBSCRIPTIONS_WAIT.min(first_page)
            } else {
                // Nobody to hear from: an empty market is the answer.
                Duration::ZERO
            };
            let mut settled = first.subscribe();
            let _ = tokio::time::timeout(wait, settled.wait_for(|done| *done)).await;
        }
        first.send_replace(true);
    });
}

/// The DHT providers of `market` other than this node and the `known` peers.
pub(crate) async fn providers_besides(
    inner: &Inner,
    market: Market,
    known: &[PeerId],
) -> Result<Vec<PeerId>, peerfx_net::NetError> {
    let me = inner.net.peer_id();
    Ok(inner
        .net
        .find_providers(market)
        .await?
        .into_iter()
        .filter(|p| *p != me && !known.contains(p))
        .collect())
}

/// Fetches every page of `market` from `peer` (unless it was done recently).
/// `first`, if given, is told once a page has merged. False if the fetch was
/// skipped, as a repeat within [`crate::config::SyncConfig::min_interval`].
///
/// Pipelined: while pages are verified and merged on blocking threads, the
/// next is already being requested, so a large market costs about the larger of
/// transfer and verification time rather than their sum. Up to
/// [`MERGES_IN_FLIGHT`] pages merge at once (signature checks use every core;
/// the book serializes the writes), which bounds memory to that many pages
/// plus one.
pub(crate) async fn fetch(
    inner: Arc<Inner>,
    peer: PeerId,
    market: Market,
    first: Option<&watch::Sender<bool>>,
) -> bool {
    if !inner
        .sync
        .may_fetch(peer, market, inner.config.sync.min_interval)
    {
        return false;
    }
    let _in_flight = InFlight::new(&inner.sync);
    let mut merging = std::collections::VecDeque::new();
    let mut cursor = None;
    for _ in 0..inner.config.sync.max_pages {
        let request = SyncRequest {
            market,
            cursor: cursor.take(),
            limit: inner.limits().max_sync_page,
        };
        let response = request_page(&inner, peer, request).await;
        // Earlier pages merged while this one was in flight.
        while merging.len() >= MERGES_IN_FLIGHT {
            if let Some(oldest) = merging.pop_front() {
                record_merge(&inner, peer, oldest, first).await;
            }
        }
        match response {
            Ok(SyncResponse::Page {
                offers,
                next,
                ratings,
            }) => {
                let count = offers.len();
                tracing::debug!(%peer, %market, count, "sync page");
                let worker = inner.clone();
                merging.push_back(tokio::task::spawn_blocking(move || {
                    let mut outcome = worker.ingest_page(market, offers, now());
                    outcome.invalid += worker.ingest_synced_ratings(market, ratings, now());
                    outcome
                }));
                match next {
                    Some(c) if c.len() <= inner.limits().max_cursor_bytes && count > 0 => {
                        cursor = Some(c)
                    }
                    _ => break,
                }
            }
            Ok(SyncResponse::Refused(reason)) => {
                tracing::debug!(%peer, %market, "sync refused: {reason}");
                break;
            }
            Err(e) => {
                tracing::debug!(%peer, %market, "sync failed: {e}");
                break;
            }
        }
    }
    for merge in merging {
        record_merge(&inner, peer, merge, first).await;
    }
    true
}

/// Counts a fetch in [`SyncState::in_flight`] for as long as it lives.
struct InFlight<'a>(&'a SyncState);

impl<'a> InFlight<'a> {
    fn new(state: &'a SyncState) -> Self {
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Asks for one page, trying again after a failure (a timeout on a flaky link):
/// nothing else would resume this sync until the peer reconnects, so a dropped
/// page would leave the book short until the makers re-announce.
async fn request_page(
    inner: &Inner,
    peer: PeerId,
    request: SyncRequest,
) -> Result<SyncResponse, peerfx_net::NetError> {
    let mut attempt = 1;
    loop {
        match inner.net.sync(peer, request.clone()).await {
            Err(e) if attempt < PAGE_ATTEMPTS && connected(inner, peer).await => {
                tracing::debug!(%peer, attempt, "sync page failed, retrying: {e}");
                tokio::time::sleep(PAGE_RETRY_DELAY * attempt).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

async fn connected(inner: &Inner, peer: PeerId) -> bool {
    inner
        .net
        .info()
        .await
        .is_ok_and(|i| i.connected.iter().any(|(p, _)| *p == peer))
}

/// Waits for a page merge, counts what it changed, and charges the peer for
/// what was invalid.
async fn record_merge(
    inner: &Inner,
    peer: PeerId,
    merge: tokio::task::JoinHandle<crate::ingest::PageOutcome>,
    first: Option<&watch::Sender<bool>>,
) {
    let Ok(outcome) = merge.await else {
        return;
    };
    inner
        .metrics
        .synced_offers
        .fetch_add(outcome.changed as u64, Ordering::Relaxed);
    if outcome.invalid > 0 {
        tracing::debug!(%peer, invalid = outcome.invalid, "sync page with invalid offers");
        let _ = inner.net.penalize(peer, Misbehaviour::BadSyncPage).await;
    }
    if let Some(first) = first {
        first.send_replace(true);
    }
}

/// Answers a peer's sync request from the book, within its page budget.
pub(crate) fn serve(inner: Arc<Inner>, peer: PeerId, request: SyncRequest, token: ResponseToken) {
    inner.tracker.clone().spawn(async move {
        let limits = inner.limits();
        let response = if !inner
            .sync
            .may_serve(peer, inner.config.sync.pages_per_minute)
        {
            Metrics::inc(&inner.metrics.sync_refused);
            SyncResponse::Refused(SyncRefusal::RateLimited)
        } else if request
            .cursor
            .as_ref()
            .is_some_and(|c| c.len() > limits.max_cursor_bytes)
        {
            let _ = inner.net.penalize(peer, Misbehaviour::BadRequest).await;
            SyncResponse::Refused(SyncRefusal::BadCursor)
        } else {
            // The book is in memory: a page is a few hundred clones, no I/O.
            let limit = usize::from(request.limit.clamp(1, limits.max_sync_page));
            let offer_bytes = limits
                .max_sync_response_bytes
                .saturating_sub(RATINGS_PAGE_BYTES);
            match inner.store.book_page(
                request.market,
                request.cursor.as_deref(),
                limit,
                offer_bytes,
                now(),
            ) {
                Ok((offers, next)) => {
                    Metrics::inc(&inner.metrics.sync_pages_served);
                    let ratings = inner.ratings_for_page(request.market, &offers);
                    SyncResponse::Page {
                        offers,
                        next,
                        ratings,
                    }
                }
                Err(e) => {
                    inner.store_failed(e);
                    SyncResponse::Refused(SyncRefusal::Unavailable)
                }
            }
        };
        let _ = inner.net.respond_sync(token, response).await;
    });
}
