//! DHT lookups of followed markets that have too few peers, retried with
//! backoff.
//!
//! Following a market looks its providers up once ([`crate::sync`]). That
//! finds nobody when the node follows a market before any maker there has
//! announced it, or before the node's routing table reaches the provider
//! records; gossipsub finds a market's peers only through peers already
//! connected. So while a followed market has fewer than
//! [`crate::config::SyncConfig::peers`] peers, the maintenance task looks it up
//! again after [`crate::config::SyncConfig::dht_retry_min`], doubling the
//! wait after each lookup up to [`crate::config::SyncConfig::dht_retry_max`],
//! and syncs from every provider found (which dials it). A market that has
//! its peers is left alone, and starts from the shortest wait again if it
//! loses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerfx_core::Market;

use crate::inner::Inner;
use crate::locks::lock;
use crate::sync;

/// When each thin market is looked up next, and the wait after that.
#[derive(Default)]
pub(crate) struct Lookups {
    due: Mutex<HashMap<Market, (Instant, Duration)>>,
}

impl Lookups {
    /// Whether `market` is due for a lookup at `now`; if so, schedules the
    /// next one after the doubled wait. A market seen for the first time is
    /// due after `min`, not at once: following it has just looked it up.
    fn take_due(&self, market: Market, now: Instant, min: Duration, max: Duration) -> bool {
        let mut due = lock(&self.due);
        let (at, wait) = *due.entry(market).or_insert((now + min, min));
        if now < at {
            return false;
        }
        let next = wait.saturating_mul(2).min(max);
        due.insert(market, (now + next, next));
        true
    }

    /// Forgets `market`'s backoff: it has its peers.
    fn satisfied(&self, market: &Market) {
        lock(&self.due).remove(market);
    }

    /// The wait after the next lookup of `market`, for the logs.
    fn wait(&self, market: &Market) -> Option<Duration> {
        lock(&self.due).get(market).map(|(_, w)| *w)
    }
}

/// One round: every followed market with too few peers that is due is
/// looked up, and every provider found is synced from.
pub(crate) async fn look_up_thin_markets(inner: &Arc<Inner>) {
    let want = inner.config.sync.peers;
    let (min, max) = (
        inner.config.sync.dht_retry_min,
        inner.config.sync.dht_retry_max,
    );
    for market in inner.markets.list() {
        let peers = inner.net.peers_on(market).await.unwrap_or_default();
        if peers.len() >= want {
            inner.lookups.satisfied(&market);
            continue;
        }
        if !inner.lookups.take_due(market, Instant::now(), min, max) {
            continue;
        }
        crate::Metrics::inc(&inner.metrics.dht_lookups);
        let new = match sync::providers_besides(inner, market, &peers).await {
            Ok(new) => new,
            Err(e) => {
                tracing::debug!(%market, "DHT lookup failed: {e}");
                continue;
            }
        };
        tracing::debug!(
            %market,
            peers = peers.len(),
            found = new.len(),
            next_in = ?inner.lookups.wait(&market),
            "DHT lookup of a thin market"
        );
        for peer in new {
            let inner = inner.clone();
            inner.tracker.clone().spawn(async move {
                sync::fetch(inner, peer, market, None).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thin_market_is_looked_up_with_doubling_waits_up_to_the_cap() {
        let l = Lookups::default();
        let m: Market = "EUR-USD".parse().unwrap();
        let (min, max) = (Duration::from_secs(5), Duration::from_secs(30));
        let t0 = Instant::now();
        // Following the market looked it up already: the first retry waits.
        assert!(!l.take_due(m, t0, min, max));
        let mut at = t0 + min;
        let mut waits = Vec::new();
        for _ in 0..5 {
            assert!(!l.take_due(m, at - Duration::from_millis(1), min, max));
            assert!(l.take_due(m, at, min, max));
            let wait = l.wait(&m).unwrap();
            waits.push(wait.as_secs());
            at += wait;
        }
        assert_eq!(waits, [10, 20, 30, 30, 30]);
        // Peers found: the backoff starts over if the market thins again.
        l.satisfied(&m);
        assert!(!l.take_due(m, at, min, max));
        assert!(l.take_due(m, at + min, min, max));
        assert_eq!(l.wait(&m), Some(Duration::from_secs(10)));
    }
}
