//! Counters a node keeps about itself, and the OpenMetrics text that the
//! daemon's `/metrics` serves: the node's counters and gauges, then
//! libp2p's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use peerfx_core::validate::ValidationError;

use crate::locks::lock;
use crate::{IngestError, Node};

/// Monotonic counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Gossip messages accepted (new or changed offers, cancels).
    pub gossip_accepted: AtomicU64,
    /// Gossip messages ignored (stale, duplicate, expired, blocked maker).
    pub gossip_ignored: AtomicU64,
    /// Offers new or changed through sync.
    pub synced_offers: AtomicU64,
    /// Sync pages served to peers.
    pub sync_pages_served: AtomicU64,
    /// Sync requests refused for asking too often.
    pub sync_refused: AtomicU64,
    /// Book checks (ours or a peer's) that found the books different.
    pub book_checks_differed: AtomicU64,
    /// Valid offers left out because their maker has the most open offers
    /// allowed.
    pub offers_over_quota: AtomicU64,
    /// Valid offers left out because the book is full.
    pub offers_book_full: AtomicU64,
    /// Offers dropped from a full book to make room for another market's.
    pub offers_evicted: AtomicU64,
    /// Valid cancels ignored (and not forwarded) because their maker had
    /// used its cancel budget.
    pub cancels_over_budget: AtomicU64,
    /// DHT lookups of followed markets with too few peers (after the first).
    pub dht_lookups: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, e: &IngestError) {
        let reason = match e {
            IngestError::Topic(_) => "topic",
            IngestError::Malformed(peerfx_core::codec::CodecError::TooLarge { .. }) => "too_large",
            IngestError::Malformed(_) => "malformed",
            IngestError::WrongMarket { .. } => "wrong_market",
            IngestError::WrongMaker => "wrong_maker",
            IngestError::AboveMax => "above_max",
            IngestError::Rating(_) => "bad_rating",
            IngestError::Invalid(v) => match v {
                ValidationError::BadSignature | ValidationError::InvalidKey => "bad_signature",
                ValidationError::TooLarge { .. } => "too_large",
                ValidationError::Malformed(_) => "malformed",
                ValidationError::Expired { .. } | ValidationError::ExpiryTooFar { .. } => "expiry",
                ValidationError::FromTheFuture { .. } => "clock_skew",
                ValidationError::ForbiddenCharacter { .. } => "forbidden_character",
                _ => "invalid_field",
            },
        };
        *lock(&self.rejected).entry(reason).or_default() += 1;
    }

    /// Rejected messages by reason.
    pub fn rejected_by_reason(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.rejected).clone()
    }

    /// Total rejected messages.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_by_reason().values().sum()
    }

    fn counters(&self) -> [(&'static str, &'static str, &AtomicU64); 11] {
        [
            (
                "peerfx_gossip_accepted",
                "Gossip messages accepted.",
                &self.gossip_accepted,
            ),
            (
                "peerfx_gossip_ignored",
                "Gossip messages ignored (stale, duplicate, blocked).",
                &self.gossip_ignored,
            ),
            (
                "peerfx_synced_offers",
                "Offers new or changed through sync.",
                &self.synced_offers,
            ),
            (
                "peerfx_sync_pages_served",
                "Sync pages served.",
                &self.sync_pages_served,
            ),
            (
                "peerfx_sync_refused",
                "Sync requests refused by rate limit.",
                &self.sync_refused,
            ),
            (
                "peerfx_book_checks_differed",
                "Book checks that found this node's book and a peer's different.",
                &self.book_checks_differed,
            ),
            (
                "peerfx_offers_over_quota",
                "Valid offers left out: their maker has the most open offers allowed.",
                &self.offers_over_quota,
            ),
            (
                "peerfx_offers_book_full",
                "Valid offers left out: the book is full.",
                &self.offers_book_full,
            ),
            (
                "peerfx_offers_evicted",
                "Offers dropped from a full book to make room for another market's.",
                &self.offers_evicted,
            ),
            (
                "peerfx_cancels_over_budget",
                "Valid cancels ignored: their maker used its cancel budget.",
                &self.cancels_over_budget,
            ),
            (
                "peerfx_dht_lookups",
                "DHT lookups retried for followed markets with too few peers.",
                &self.dht_lookups,
            ),
        ]
    }
}

impl Node {
    /// The node's counters and gauges, then libp2p's, in the OpenMetrics text
    /// format (ending in `# EOF`).
    pub async fn metrics_text(&self) -> String {
        let inner = &self.inner;
        let m = &inner.metrics;
        let mut out = String::new();
        for (name, help, value) in m.counters() {
            let v = value.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP peerfx_task_wakeups Polls of the node's tasks (event loop, pump, maintenance): each is a wake-up, which a paused node has none of.\n# TYPE peerfx_task_wakeups counter\npeerfx_task_wakeups_total {}",
            self.wakeups()
        );
        let _ = writeln!(
            out,
            "# HELP peerfx_rejected Messages rejected, by reason.\n# TYPE peerfx_rejected counter"
        );
        for (reason, n) in m.rejected_by_reason() {
            let _ = writeln!(out, "peerfx_rejected_total{{reason=\"{reason}\"}} {n}");
        }
        let gauges = [
            (
                "peerfx_book_offers",
                "Offers in the book.",
                inner.store.book_len() as u64,
            ),
            (
                "peerfx_book_tombstones",
                "Cancelled or closed offers remembered so they cannot return.",
                inner.store.book_tombstones() as u64,
            ),
            (
                "peerfx_peers",
                "Connected peers.",
                self.peers().await.map_or(0, |p| p.len() as u64),
            ),
            (
                "peerfx_remembered_peers",
                "Peers remembered for redialing.",
                inner.store.peer_count() as u64,
            ),
            (
                "peerfx_mailbox_envelopes",
                "Envelopes kept for others, as a mailbox host.",
                inner.store.mailbox_len() as u64,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP peerfx_trades Trades by state.\n# TYPE peerfx_trades gauge"
        );
        match inner.store.trade_phases(crate::now()) {
            Ok(by_phase) => {
                for (phase, n) in by_phase {
                    let _ = writeln!(out, "peerfx_trades{{state=\"{phase}\"}} {n}");
                }
            }
            Err(e) => inner.store_failed(e),
        }
        out.push_str(&inner.net.metrics_text().await.unwrap_or_default());
        out.push_str("# EOF\n");
        out
    }
}
