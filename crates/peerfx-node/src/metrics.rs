//! Counters a node keeps about itself, for logs and the daemon's metrics endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use peerfx_core::validate::ValidationError;

use crate::IngestError;

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
    /// Valid offers left out because their maker has the most open offers
    /// allowed.
    pub offers_over_quota: AtomicU64,
    /// Valid offers left out because the book is full.
    pub offers_book_full: AtomicU64,
    /// Offers dropped from a full book to make room for another market's.
    pub offers_evicted: AtomicU64,
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
            IngestError::Invalid(v) => match v {
                ValidationError::BadSignature | ValidationError::InvalidKey => "bad_signature",
                ValidationError::TooLarge { .. } => "too_large",
                ValidationError::Malformed(_) => "malformed",
                ValidationError::Expired { .. } | ValidationError::ExpiryTooFar { .. } => "expiry",
                ValidationError::FromTheFuture { .. } => "clock_skew",
                _ => "invalid_field",
            },
        };
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    /// Rejected messages by reason.
    pub fn rejected_by_reason(&self) -> BTreeMap<&'static str, u64> {
        self.rejected.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Total rejected messages.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_by_reason().values().sum()
    }
}
