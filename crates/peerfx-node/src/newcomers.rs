//! Newcomers to a market get the own offers announced just before they came.
//!
//! A peer that starts following a market syncs the book from us when it
//! learns that we follow it, which it does as it connects. An offer we
//! announce after that sync, but before its subscription reaches us, goes
//! out on gossip to the subscribers we knew of, without it: it would reach it
//! only at the next re-announcement, ten minutes later. On a WAN link that
//! window is a round trip or more. So when a peer subscribes to a market, the
//! own offers that changed there (posted, filled, given back) within the last
//! [`WINDOW`] are announced again, with a fresh signed update. Each offer
//! goes out at most once per [`SPACING`] this way, so a crowd arriving at once
//! costs one update per offer, not one per peer.
//!
//! Cancels are not sent again here: a newcomer that missed one still holds
//! the offer, and a take of it is refused ("closed"); the periodic
//! re-announcement sends cancels again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use peerfx_core::{Market, OfferId};
use peerfx_store::own::{OwnOffer, OwnStatus};

use crate::locks::lock;
use crate::Node;

/// How long after a change an offer is announced again to a newcomer: well
/// over the time a subscription takes to arrive, even through a relay.
pub(crate) const WINDOW: Duration = Duration::from_secs(30);
/// Least time between two such announcements of one offer.
pub(crate) const SPACING: Duration = Duration::from_secs(1);

/// Own offers that changed within [`WINDOW`].
#[derive(Default)]
pub(crate) struct Recent {
    changed: Mutex<HashMap<OfferId, Change>>,
}

struct Change {
    market: Market,
    at: Instant,
    resent: Option<Instant>,
}

impl Recent {
    /// Notes that offer `id` of `market` changed just now.
    pub(crate) fn note(&self, id: OfferId, market: Market) {
        let now = Instant::now();
        let mut changed = lock(&self.changed);
        changed.retain(|_, c| now.duration_since(c.at) < WINDOW);
        changed.insert(
            id,
            Change {
                market,
                at: now,
                resent: None,
            },
        );
    }

    /// The offers of `market` to announce again to a newcomer now, marked
    /// as announced.
    fn due(&self, market: Market) -> Vec<OfferId> {
        let now = Instant::now();
        let mut changed = lock(&self.changed);
        changed.retain(|_, c| now.duration_since(c.at) < WINDOW);
        changed
            .iter_mut()
            .filter(|(_, c)| c.market == market)
            .filter(|(_, c)| c.resent.is_none_or(|t| now.duration_since(t) >= SPACING))
            .map(|(id, c)| {
                c.resent = Some(now);
                *id
            })
            .collect()
    }

    /// Whether nothing changed lately (the common case: no work at all).
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.changed).is_empty()
    }
}

impl Node {
    /// Announces what remains of an own offer after a change (a fill, an
    /// amount given back), and notes the change for newcomers.
    pub(crate) async fn announce_change(&self, own: &OwnOffer) {
        let id = peerfx_core::Verified::assume_verified(own.offer.clone()).id();
        if let Err(e) = self.announce(own).await {
            tracing::warn!("announcing {id}: {e}");
        }
        if let Ok(market) = own.offer.body.market() {
            self.inner.offers.recent.note(id, market);
        }
    }

    /// A peer subscribed to `market`: announces again the own offers that
    /// changed there lately.
    pub(crate) async fn announce_to_newcomer(&self, market: Market) {
        for id in self.inner.offers.recent.due(market) {
            match self.inner.store.own_get(&id) {
                Ok(Some(own)) if own.status == OwnStatus::Open => {
                    if let Err(e) = self.announce(&own).await {
                        tracing::debug!("announcing {id} to a newcomer: {e}");
                    }
                }
                Ok(_) => {}
                Err(e) => self.inner.store_failed(e),
            }
        }
    }
}
