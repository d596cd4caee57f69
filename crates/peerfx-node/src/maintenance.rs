//! The node's periodic work, on one task: purging what expired, reconciling
//! DHT announcements, pruning remembered peers, writing the book behind,
//! re-announcing own offers, resending undelivered trade messages, looking
//! up markets with too few peers in the DHT again, and checking books
//! against peers' (`crate::check`), and fetching mail (`crate::mailbox`).

use std::sync::Arc;

use crate::inner::Inner;
use crate::{now, Node, NodeEvent, RemovalReason};

pub(crate) fn spawn(inner: Arc<Inner>) {
    let wakeups = inner.net.wakeups().clone();
    inner.tracker.clone().spawn(wakeups.count(async move {
        let mut stop = inner.shutdown.subscribe();
        let mut paused = inner.paused.subscribe();
        loop {
            if run_until_paused(&inner, &mut stop, &mut paused).await == Stop::Shutdown {
                break;
            }
            // Paused: the intervals are gone with `run_until_paused`, so
            // nothing wakes this task until the pause ends.
            tokio::select! {
                r = paused.wait_for(|p| !*p) => if r.is_err() { break },
                _ = stop.changed() => break,
            }
        }
    }));
}

/// How often mail is fetched after start or resume until a mailbox answers.
const MAIL_SOON: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(PartialEq, Eq)]
enum Stop {
    Shutdown,
    Paused,
}

/// The periodic work, until the node shuts down or pauses. Each interval's
/// first tick is at once (but the re-announcement's): after a resume that is
/// the catch-up (purge what expired, resend trade messages, look up thin
/// markets).
async fn run_until_paused(
    inner: &Arc<Inner>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    paused: &mut tokio::sync::watch::Receiver<bool>,
) -> Stop {
    let timers = &inner.config.timers;
    let mut maintenance = tokio::time::interval(timers.maintenance_interval);
    let mut reannounce = tokio::time::interval(timers.reannounce_interval);
    let mut retry = tokio::time::interval(inner.config.trade.retry_interval);
    let mut persist = tokio::time::interval(timers.book_persist_interval);
    // Lookups back off per market from this shortest wait (crate::lookups).
    let mut lookups = tokio::time::interval(inner.config.sync.dht_retry_min);
    let mut checks = tokio::time::interval(inner.config.sync.check_interval);
    let mut mail = tokio::time::interval(inner.config.mailbox.fetch_interval);
    // Until a mailbox has answered since start or resume (crate::mailbox),
    // for at most one fetch interval: a node that knows no relay does not
    // wake every second for nothing.
    let mut mail_soon = tokio::time::interval(MAIL_SOON);
    let mut soon_left = inner.config.mailbox.fetch_interval.as_secs();
    for t in [
        &mut mail,
        &mut mail_soon,
        &mut checks,
        &mut maintenance,
        &mut reannounce,
        &mut retry,
        &mut persist,
        &mut lookups,
    ] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    // Peers that connect (or reconnect after a pause) sync from us; the
    // first re-announcement can wait.
    reannounce.tick().await;
    // Connecting syncs already; the first check can wait a round too.
    checks.tick().await;
    let node = Node {
        inner: inner.clone(),
    };
    loop {
        if *paused.borrow_and_update() {
            return Stop::Paused;
        }
        tokio::select! {
            _ = maintenance.tick() => {
                purge(&node).await;
                if let Err(e) = node.reconcile_providing().await {
                    tracing::warn!("provider announcements: {e}");
                }
                inner.prune_peers().await;
                if let Err(e) = node.redial_lost_peers().await {
                    tracing::debug!("redial: {e}");
                }
            }
            _ = persist.tick() => persist_book(inner).await,
            _ = reannounce.tick() => match node.reannounce().await {
                Ok(n) => tracing::debug!("re-announced {n} offers"),
                Err(e) => tracing::warn!("re-announce: {e}"),
            },
            _ = retry.tick() => node.retry_pending().await,
            _ = lookups.tick() => crate::lookups::look_up_thin_markets(inner).await,
            _ = checks.tick() => crate::check::check_books(inner).await,
            _ = mail.tick() => {
                node.fetch_mail().await;
                crate::mailbox::purge(inner).await;
            }
            _ = mail_soon.tick(), if soon_left > 0 && !inner.mail.fetched() => {
                soon_left -= 1;
                node.fetch_mail().await;
            }
            _ = paused.changed() => {}
            _ = stop.changed() => return Stop::Shutdown,
        }
    }
}

/// Writes the book's changes behind it.
async fn persist_book(inner: &Inner) {
    match inner.store.book_persist().await {
        Ok(n) if n > 0 => tracing::trace!("persisted {n} book changes"),
        Ok(_) => {}
        Err(e) => inner.store_failed(e),
    }
}

async fn purge(node: &Node) {
    let inner = &node.inner;
    let now = now();
    match inner.store.own_live(now) {
        Ok(live) => node.warn_expiring(&live, now),
        Err(e) => inner.store_failed(e),
    }
    // Reservations nobody countersigned in time go back to the offer.
    inner.release_expired_takes(now).await;
    // Trades that expired unpaid (or whose release a crash interrupted)
    // give their amount back to the offer.
    match inner.store.trades_to_release(now) {
        Ok(ended) => {
            for id in ended {
                node.release_unfilled(&id).await;
            }
        }
        Err(e) => inner.store_failed(e),
    }
    for id in inner.store.book_purge_expired(now, inner.limits()) {
        inner.emit(NodeEvent::OfferRemoved {
            id,
            reason: RemovalReason::Expired,
        });
    }
}
