//! Which markets this node follows: it is subscribed to their topics, keeps
//! their offers in its book and syncs them from peers.
//!
//! Following a market starts a sync from the peers that follow it (as
//! gossipsub reports them) and from its DHT providers. A book query on a
//! market followed only just now waits briefly for that sync's first page
//! ([`crate::config::SyncConfig::first_page_wait`]), so the first answer is
//! not an empty book while a peer's offers are a round trip away.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use peerfx_core::Market;
use tokio::sync::watch;

use crate::locks::lock;
use crate::{sync, Node, NodeError};

/// The markets followed, and the first sync of each.
#[derive(Default)]
pub(crate) struct Following {
    markets: Mutex<HashSet<Market>>,
    /// Turns true once the first sync of a market has merged a page, or has
    /// ended without one. Shared, so that a peer who subscribes while the
    /// first sync is still looking can answer it.
    first_sync: Mutex<HashMap<Market, Arc<watch::Sender<bool>>>>,
}

impl Following {
    pub(crate) fn contains(&self, market: &Market) -> bool {
        lock(&self.markets).contains(market)
    }

    /// The markets followed, sorted.
    pub(crate) fn list(&self) -> Vec<Market> {
        let mut v: Vec<_> = lock(&self.markets).iter().copied().collect();
        v.sort();
        v
    }

    /// The first sync of `market`, while it has not merged a page yet.
    pub(crate) fn unsettled(&self, market: &Market) -> Option<Arc<watch::Sender<bool>>> {
        lock(&self.first_sync)
            .get(market)
            .filter(|first| !*first.borrow())
            .cloned()
    }
}

impl Node {
    /// Follows a market: subscribes to its topic and syncs its book from peers
    /// that have it (connected peers that follow it, and DHT providers).
    pub async fn follow_market(&self, market: Market) -> Result<(), NodeError> {
        let inner = &self.inner;
        if !lock(&inner.markets.markets).insert(market) {
            return Ok(());
        }
        // In place before the subscription, so that a peer answering it at
        // once finds the first sync to settle.
        let first = Arc::new(watch::channel(false).0);
        lock(&inner.markets.first_sync).insert(market, first.clone());
        if let Err(e) = inner.net.subscribe(market).await {
            lock(&inner.markets.markets).remove(&market);
            lock(&inner.markets.first_sync).remove(&market);
            return Err(e.into());
        }
        sync::sync_market(inner.clone(), market, first);
        Ok(())
    }

    /// Markets this node follows.
    pub fn markets(&self) -> Vec<Market> {
        self.inner.markets.list()
    }

    /// Follows `market` if it was not followed yet, and then waits (at most
    /// the configured time) for the first page of its first sync.
    pub(crate) async fn follow_and_settle(&self, market: Market) -> Result<(), NodeError> {
        self.follow_market(market).await?;
        let first = lock(&self.inner.markets.first_sync)
            .get(&market)
            .map(|first| first.subscribe());
        if let Some(mut first) = first {
            let wait = self.inner.config.sync.first_page_wait;
            let _ = tokio::time::timeout(wait, first.wait_for(|done| *done)).await;
            if *first.borrow() {
                // Settled: later queries need not look.
                lock(&self.inner.markets.first_sync).remove(&market);
            }
        }
        Ok(())
    }
}
