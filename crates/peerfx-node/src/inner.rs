//! The state every part of a node shares, one field per responsibility.
//!
//! [`crate::Node`] is a cheap handle to one `Inner`; the node's tasks hold it
//! too. Each module owns the state of its own responsibility here (the
//! markets followed, the peers, syncs, trades, offers) and guards it with its
//! own lock, so no operation waits for an unrelated one.

use peerfx_core::{Keypair, WireLimits};
use peerfx_net::NetHandle;
use peerfx_store::{Store, StoreError};
use tokio::sync::{broadcast, watch};

use crate::config::NodeConfig;
use crate::event::NodeEvent;
use crate::metrics::Metrics;
use crate::{lookups, mailbox, markets, offers, peers, reputation, sync, trades};

pub(crate) struct Inner {
    pub(crate) key: Keypair,
    pub(crate) store: Store,
    pub(crate) net: NetHandle,
    pub(crate) config: NodeConfig,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) metrics: Metrics,
    pub(crate) markets: markets::Following,
    pub(crate) peers: peers::Peers,
    pub(crate) sync: sync::SyncState,
    pub(crate) lookups: lookups::Lookups,
    pub(crate) trades: trades::TradeRoom,
    pub(crate) offers: offers::OfferRoom,
    pub(crate) ratings: reputation::RatingRoom,
    pub(crate) mail: mailbox::Mail,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Whether the node is paused (crate::lifecycle).
    pub(crate) paused: watch::Sender<bool>,
    /// Every task the node spawns, so shutdown can wait for all of them (each
    /// may hold the store, whose lock frees the data directory only when
    /// dropped).
    pub(crate) tracker: tokio_util::task::TaskTracker,
    /// The last store failure logged, and when: the same failure (a full
    /// disk, every second) is logged once a minute, not every time.
    pub(crate) last_store_failure: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

/// How often the same store failure is logged again.
const STORE_FAILURE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Inner {
    /// The wire limits: the one copy, in the config.
    pub(crate) fn limits(&self) -> &WireLimits {
        &self.config.limits
    }

    pub(crate) fn emit(&self, event: NodeEvent) {
        // Every completion passes here, whichever side took the last step.
        if let NodeEvent::TradeUpdated {
            id,
            phase: peerfx_core::trade::Phase::Completed,
        } = &event
        {
            self.trade_completed(id);
        }
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    /// Logs a store failure that no caller is waiting to hear about.
    pub(crate) fn store_failed(&self, e: StoreError) {
        let text = crate::error::chain(&e);
        let mut last = crate::locks::lock(&self.last_store_failure);
        let repeat = last
            .as_ref()
            .is_some_and(|(t, at)| *t == text && at.elapsed() < STORE_FAILURE_LOG_EVERY);
        if !repeat {
            tracing::error!("store: {text}");
            *last = Some((text, std::time::Instant::now()));
        }
    }
}
