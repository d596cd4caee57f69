//! DHT announcements: a node announces itself as a provider of exactly the
//! markets it has open offers in, so that a node joining a market finds
//! makers to sync from, and a maker whose last offer there closed stops
//! attracting syncs.

use std::collections::HashSet;

use peerfx_core::Market;
use peerfx_store::own::OwnStatus;

use crate::{now, Node, NodeError};

impl Node {
    /// Makes this node's DHT announcements match the markets it has open
    /// offers in. Run at start, after a cancel and on every maintenance tick,
    /// which catches fills and expiry, and announces again a market whose
    /// announcement reached no peer (the network forgets those), such as one
    /// made at start before any peer was connected.
    pub(crate) async fn reconcile_providing(&self) -> Result<(), NodeError> {
        let inner = &self.inner;
        let _posting = inner.offers.post.write().await;
        let open: HashSet<Market> = inner
            .store
            .own_live(now())?
            .iter()
            .filter(|o| o.status == OwnStatus::Open)
            .filter_map(|o| o.offer.body.market().ok())
            .collect();
        let provided: HashSet<Market> = inner.net.info().await?.providing.into_iter().collect();
        for &m in open.difference(&provided) {
            inner.net.provide(m).await?;
        }
        for &m in provided.difference(&open) {
            tracing::debug!("no open offers left in {m}: no longer providing it");
            inner.net.stop_providing(m).await?;
        }
        Ok(())
    }
}
