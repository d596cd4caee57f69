//! Requests served per peer per minute: what keeps one peer from taking
//! every answer a node can give.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use peerfx_net::PeerId;

use crate::locks::lock;

/// A count per peer that starts again every minute.
#[derive(Default)]
pub(crate) struct PerMinute {
    served: Mutex<HashMap<PeerId, (Instant, u32)>>,
}

impl PerMinute {
    /// Whether `peer` may be served once more this minute; counts it.
    pub(crate) fn allow(&self, peer: PeerId, per_minute: u32) -> bool {
        let now = Instant::now();
        let mut served = lock(&self.served);
        let entry = served.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }

    /// Forgets a peer that left.
    pub(crate) fn forget(&self, peer: &PeerId) {
        lock(&self.served).remove(peer);
    }
}
