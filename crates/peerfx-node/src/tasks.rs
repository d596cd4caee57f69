//! The node's background tasks: the event pump and maintenance.

use std::collections::HashSet;
use std::sync::Arc;

use peerfx_core::Market;
use peerfx_net::{Acceptance, NetEvent};
use tokio::sync::mpsc;

use crate::{now, sync, Inner, Metrics, Node, NodeEvent, RemovalReason};

pub(crate) fn spawn(inner: Arc<Inner>, mut net_events: mpsc::Receiver<NetEvent>) {
    let pump = inner.clone();
    let mut stop = inner.shutdown.subscribe();
    inner.tracker.spawn(async move {
        loop {
            tokio::select! {
                event = net_events.recv() => match event {
                    Some(event) => on_net_event(&pump, event).await,
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    });

    let mut stop = inner.shutdown.subscribe();
    inner.tracker.clone().spawn(async move {
        let mut maintenance = tokio::time::interval(inner.config.maintenance_interval);
        let mut reannounce = tokio::time::interval(inner.config.reannounce_interval);
        let mut retry = tokio::time::interval(inner.config.trade_retry_interval);
        let mut persist = tokio::time::interval(inner.config.book_persist_interval);
        persist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Peers that connect sync from us; the first re-announcement can wait.
        reannounce.tick().await;
        loop {
            tokio::select! {
                _ = maintenance.tick() => {
                    purge(&inner);
                    if let Err(e) = (Node { inner: inner.clone() }).reconcile_providing().await {
                        tracing::warn!("provider announcements: {e}");
                    }
                }
                _ = persist.tick() => persist_book(&inner).await,
                _ = reannounce.tick() => {
                    let node = Node { inner: inner.clone() };
                    match node.reannounce().await {
                        Ok(n) => tracing::debug!("re-announced {n} offers"),
                        Err(e) => tracing::warn!("re-announce: {e}"),
                    }
                }
                _ = retry.tick() => Node { inner: inner.clone() }.retry_pending().await,
                _ = stop.changed() => break,
            }
        }
    });
}

/// Writes the book's changes behind it, off the async threads: after a sync
/// there can be thousands.
async fn persist_book(inner: &Arc<Inner>) {
    let store = inner.store.clone();
    match tokio::task::spawn_blocking(move || store.book_persist()).await {
        Ok(Ok(n)) if n > 0 => tracing::trace!("persisted {n} book changes"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => inner.store_failed(e),
        Err(e) => tracing::error!("book persist task: {e}"),
    }
}

fn purge(inner: &Inner) {
    let now_ts = now();
    match inner.store.own_live(now_ts) {
        Ok(live) => {
            let mut notified = inner
                .expiring_notified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut still_live = HashSet::new();
            for o in live
                .iter()
                .filter(|o| o.status == peerfx_store::own::OwnStatus::Open)
            {
                let id = peerfx_core::Verified::assume_verified(o.offer.clone()).id();
                still_live.insert(id);
                let expires_at = o.offer.body.expires_at;
                if expires_at.since(now_ts) <= crate::EXPIRING_SOON_SECS && notified.insert(id) {
                    inner.emit(NodeEvent::OfferExpiringSoon { id, expires_at });
                }
            }
            // What expired or closed cannot be warned about again.
            notified.retain(|id| still_live.contains(id));
        }
        Err(e) => inner.store_failed(e),
    }
    // Reservations nobody countersigned in time go back to the offer.
    match inner.store.release_expired(now()) {
        Ok(released) => {
            for r in released {
                tracing::debug!("released reservation {} of {}", r.id, r.offer_id);
            }
        }
        Err(e) => inner.store_failed(e),
    }
    match inner.store.book_purge_expired(now()) {
        Ok(removed) => {
            for id in removed {
                inner.emit(NodeEvent::OfferRemoved {
                    id,
                    reason: RemovalReason::Expired,
                });
            }
        }
        Err(e) => inner.store_failed(e),
    }
}

async fn on_net_event(inner: &Arc<Inner>, event: NetEvent) {
    match event {
        NetEvent::Gossip {
            token, topic, data, ..
        } => {
            let verdict = inner.ingest_gossip(&topic, &data, now());
            match verdict {
                Acceptance::Accept => Metrics::inc(&inner.metrics.gossip_accepted),
                Acceptance::Ignore => Metrics::inc(&inner.metrics.gossip_ignored),
                Acceptance::Reject => {}
            }
            let _ = inner.net.report(token, verdict).await;
        }
        NetEvent::SyncRequest {
            peer,
            request,
            token,
        } => sync::serve(inner.clone(), peer, request, token),
        NetEvent::TradeRequest {
            peer,
            request,
            token,
        } => {
            inner
                .tracker
                .spawn(crate::trades::serve(inner.clone(), peer, request, token));
        }
        NetEvent::PeerSubscribed { peer, topic } => {
            let Some(market) = Market::from_topic(&topic) else {
                return;
            };
            if let Ok(mut pm) = inner.peer_markets.lock() {
                pm.entry(peer).or_default().insert(market);
            }
            let followed = inner.markets.lock().is_ok_and(|m| m.contains(&market));
            if followed {
                inner
                    .tracker
                    .spawn(sync::fetch(inner.clone(), peer, market));
            }
        }
        NetEvent::PeerConnected { peer, addr, dialed } => {
            // Only a dialed address is one the peer listens on, worth redialing.
            let addrs: Vec<String> = if dialed {
                vec![addr.to_string()]
            } else {
                Vec::new()
            };
            if let Err(e) = inner.store.peer_seen(&peer.to_string(), &addrs, now()) {
                inner.store_failed(e);
            }
            inner.emit(NodeEvent::PeerConnected { peer });
        }
        NetEvent::PeerDisconnected { peer } => {
            if let Ok(mut pm) = inner.peer_markets.lock() {
                pm.remove(&peer);
            }
            if let Ok(mut s) = inner.sync_state.lock() {
                s.forget(&peer);
            }
            inner.emit(NodeEvent::PeerDisconnected { peer });
        }
        NetEvent::Listening { .. } => {}
    }
}
