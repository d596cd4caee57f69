//! Peers this node has met: addresses to redial after a restart, and the block
//! list (a blocked peer's offers are hidden and its takes refused).
//!
//! Bounded: [`Store::peer_prune`] keeps the most recently seen, and the
//! node only records peers it dialed (see peerfx-node's `peers`).

use peerfx_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::trees::Trees;
use crate::{decode, get_record, Result, Store};

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

fn get(trees: &Trees, peer: &str) -> Result<Option<PeerRecord>> {
    get_record(trees, &trees.peers, "peers", peer.as_bytes())
}

fn put(trees: &Trees, peer: &str, rec: &PeerRecord) -> Result<()> {
    trees
        .peers
        .insert(peer.as_bytes(), peerfx_core::codec::encode(rec))
        .map(|_| ())
        .map_err(|e| trees.err(e))
}

impl Store {
    /// Records that `peer` was seen at `now` on `addrs`. Not durable: a crash
    /// may forget the last few, which costs a redial at most.
    pub fn peer_seen(&self, peer: &str, addrs: &[String], now: Timestamp) -> Result<()> {
        let (peer, addrs) = (peer.to_string(), addrs.to_vec());
        self.writer.submit_detached(move |trees| {
            let mut rec = get(trees, &peer)?.unwrap_or_default();
            for a in addrs.iter().rev() {
                rec.addrs.retain(|x| x != a);
                rec.addrs.insert(0, a.clone());
            }
            rec.addrs.truncate(MAX_ADDRS_PER_PEER);
            rec.last_seen = now;
            put(trees, &peer, &rec)
        })
    }

    /// One peer.
    pub fn peer_get(&self, peer: &str) -> Result<Option<PeerRecord>> {
        get(&*self.trees()?, peer)
    }

    /// Every known peer.
    pub fn peer_list(&self) -> Result<Vec<(String, PeerRecord)>> {
        let trees = self.trees()?;
        trees
            .peers
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(|e| trees.err(e))?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    decode("peers", &v)?,
                ))
            })
            .collect()
    }

    /// How many peers are remembered.
    pub fn peer_count(&self) -> usize {
        self.trees().map_or(0, |t| t.peers.len())
    }

    /// Blocks or unblocks a peer; durable, as the user is told it happened.
    pub async fn peer_set_blocked(&self, peer: &str, blocked: bool) -> Result<()> {
        let peer = peer.to_string();
        self.write(move |trees| {
            let mut rec = get(trees, &peer)?.unwrap_or_default();
            rec.blocked = blocked;
            put(trees, &peer, &rec)
        })
        .await
    }

    /// Forgets the least recently seen peers beyond `keep` (blocked peers are
    /// always kept: forgetting one would unblock it). Returns how many it
    /// forgot.
    pub async fn peer_prune(&self, keep: usize) -> Result<usize> {
        self.write_lazily(move |trees| {
            if trees.peers.len() <= keep {
                return Ok(0);
            }
            let mut seen = Vec::new();
            for item in trees.peers.iter() {
                let (k, v) = item.map_err(|e| trees.err(e))?;
                match decode::<PeerRecord>("peers", &v) {
                    Ok(r) if r.blocked => {}
                    Ok(r) => seen.push((r.last_seen, k)),
                    // An unreadable record is no use for redialing.
                    Err(_) => seen.push((Timestamp(0), k)),
                }
            }
            let blocked = trees.peers.len() - seen.len();
            let excess = (blocked + seen.len()).saturating_sub(keep).min(seen.len());
            seen.sort();
            for (_, k) in seen.iter().take(excess) {
                trees.peers.remove(k).map_err(|e| trees.err(e))?;
            }
            Ok(excess)
        })
        .await
    }
}
