//! Peers this node has met: addresses to redial after a restart, and the block
//! list (a blocked peer's offers are hidden and its takes refused).

use peerfx_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{decode, Result, Store};

/// What is known of a peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Multiaddrs it was reached at (most recent first), as text.
    pub addrs: Vec<String>,
    /// Last time it was connected.
    pub last_seen: Timestamp,
    /// Blocked by the user.
    pub blocked: bool,
}

/// Most addresses kept per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;

impl Store {
    /// Records that `peer` was seen at `now` on `addrs`.
    pub fn peer_seen(&self, peer: &str, addrs: &[String], now: Timestamp) -> Result<()> {
        let mut rec = self.peer_get(peer)?.unwrap_or_default();
        for a in addrs.iter().rev() {
            rec.addrs.retain(|x| x != a);
            rec.addrs.insert(0, a.clone());
        }
        rec.addrs.truncate(MAX_ADDRS_PER_PEER);
        rec.last_seen = now;
        self.peers
            .insert(peer.as_bytes(), peerfx_core::codec::encode(&rec))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One peer.
    pub fn peer_get(&self, peer: &str) -> Result<Option<PeerRecord>> {
        self.get_record(&self.peers, "peers", peer.as_bytes())
    }

    /// Every known peer.
    pub fn peer_list(&self) -> Result<Vec<(String, PeerRecord)>> {
        self.peers
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(|e| self.err(e))?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    decode("peers", &v)?,
                ))
            })
            .collect()
    }

    /// Blocks or unblocks a peer; flushed, as the user is told it happened.
    pub fn peer_set_blocked(&self, peer: &str, blocked: bool) -> Result<()> {
        let mut rec = self.peer_get(peer)?.unwrap_or_default();
        rec.blocked = blocked;
        self.peers
            .insert(peer.as_bytes(), peerfx_core::codec::encode(&rec))
            .map_err(|e| self.err(e))?;
        self.sync()
    }

    /// Whether the user blocked this peer.
    pub fn peer_is_blocked(&self, peer: &str) -> Result<bool> {
        Ok(self.peer_get(peer)?.is_some_and(|r| r.blocked))
    }
}
