//! Peers: the block list, the peers remembered for redialing after a restart,
//! and what the node knows of who is connected.
//!
//! The block list is in memory (loaded at start, written through to the
//! store) and fails closed: if its lock is poisoned, everyone counts as
//! blocked. Only peers this node dialed are remembered (their address is one
//! they listen on); an inbound connection leaves no record, so a stream of
//! fresh identities costs no disk. The remembered peers are pruned to
//! [`crate::config::PeersConfig::max_remembered`], least recently seen first.
//!
//! Remembered peers are dialed at start, and again whenever they are not
//! connected: every maintenance round redials those that are due, each with
//! its own backoff ([`REDIAL_MIN`] doubling to [`REDIAL_MAX`], reset by a
//! connection). That is what heals a partition or a lost Wi-Fi: the
//! connections that timed out come back once the network does, and each
//! reconnection syncs the book both ways.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use peerfx_core::PublicKey;
use peerfx_net::{Multiaddr, PeerId};
use peerfx_store::Store;

use crate::inner::Inner;
use crate::locks::{lock, read_or};
use crate::{now, public_key_of, Node, NodeError};

/// First wait before redialing a remembered peer that did not answer.
pub const REDIAL_MIN: Duration = Duration::from_secs(30);
/// Longest wait between redials of a remembered peer.
pub const REDIAL_MAX: Duration = Duration::from_secs(600);

/// The block list, and the redial backoff of remembered peers.
pub(crate) struct Peers {
    blocked: Mutex<HashSet<PublicKey>>,
    /// When each unconnected remembered peer is dialed next, and the wait
    /// after that. Bounded by the remembered peers.
    redials: Mutex<HashMap<PeerId, (Instant, Duration)>>,
}

impl Peers {
    /// Loads the block list.
    pub(crate) fn load(store: &Store) -> Result<Peers, NodeError> {
        let blocked = store
            .peer_list()?
            .into_iter()
            .filter(|(_, r)| r.blocked)
            .filter_map(|(p, _)| public_key_of(&p.parse().ok()?))
            .collect();
        Ok(Peers {
            blocked: Mutex::new(blocked),
            redials: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `peer` is due for a redial at `now`; if so, the next one
    /// waits twice as long. A peer seen for the first time is due at once.
    fn redial_due(&self, peer: PeerId, now: Instant) -> bool {
        let mut redials = lock(&self.redials);
        let (at, wait) = *redials.entry(peer).or_insert((now, REDIAL_MIN / 2));
        if now < at {
            return false;
        }
        let next = wait.saturating_mul(2).min(REDIAL_MAX);
        redials.insert(peer, (now + next, next));
        true
    }

    /// A connection: the backoff starts over when it is lost.
    fn reached(&self, peer: &PeerId) {
        lock(&self.redials).remove(peer);
    }

    /// Whether the user blocked this key. Fails closed.
    pub(crate) fn is_blocked(&self, key: &PublicKey) -> bool {
        read_or(&self.blocked, true, |b| b.contains(key))
    }

    /// The blocked peers, for the network's block list at start.
    pub(crate) fn blocked_peers(&self) -> Vec<PeerId> {
        lock(&self.blocked)
            .iter()
            .filter_map(|k| k.peer_id().ok())
            .collect()
    }
}

impl Inner {
    /// Remembers a peer this node dialed, at the address it dialed.
    pub(crate) fn peer_connected(&self, peer: PeerId, addr: &Multiaddr, dialed: bool) {
        self.peers.reached(&peer);
        if !dialed {
            return;
        }
        if let Err(e) = self
            .store
            .peer_seen(&peer.to_string(), &[addr.to_string()], now())
        {
            self.store_failed(e);
        }
    }

    /// Forgets the least recently seen peers past the configured number.
    pub(crate) async fn prune_peers(&self) {
        match self
            .store
            .peer_prune(self.config.peers.max_remembered)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!("forgot {n} least recently seen peers"),
            Err(e) => self.store_failed(e),
        }
    }
}

impl Node {
    /// Peers known to follow `market` (gossipsub has their subscription):
    /// the ones this node's offers in it are published to.
    pub async fn market_peers(
        &self,
        market: peerfx_core::Market,
    ) -> Result<Vec<PeerId>, NodeError> {
        Ok(self.inner.net.peers_on(market).await?)
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NodeError> {
        Ok(self
            .inner
            .net
            .info()
            .await?
            .connected
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    /// Connected peers, each with the address of one connection (a direct
    /// one when there is one; a relayed address has `/p2p-circuit`).
    pub async fn connections(&self) -> Result<Vec<(PeerId, Multiaddr)>, NodeError> {
        Ok(self.inner.net.info().await?.connected)
    }

    /// A peer's gossipsub score, as this node sees it.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NodeError> {
        Ok(self.inner.net.peer_score(peer).await?)
    }

    /// Dials a peer (`/p2p/<peer id>` included if known). Returns once the
    /// dial has started.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        Ok(self.inner.net.dial(addr).await?)
    }

    /// Blocks (or unblocks) a peer: its offers are hidden, its takes refused,
    /// its connections closed and refused.
    pub async fn set_blocked(&self, peer: PeerId, blocked: bool) -> Result<(), NodeError> {
        let key = public_key_of(&peer)
            .ok_or_else(|| NodeError::Invalid(peerfx_core::ValidationError::InvalidKey))?;
        self.inner
            .store
            .peer_set_blocked(&peer.to_string(), blocked)
            .await?;
        {
            let mut set = lock(&self.inner.peers.blocked);
            if blocked {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        }
        self.inner.net.set_blocked(peer, blocked).await?;
        Ok(())
    }

    /// Dials the most recently seen peers this node once dialed, so a
    /// restarted node rejoins without being told where the network is.
    /// Unreachable ones just fail in the background.
    /// Redials the remembered peers that are not connected and are due
    /// (see the module docs), at most `redial_at_start` a round, most
    /// recently seen first.
    pub(crate) async fn redial_lost_peers(&self) -> Result<(), NodeError> {
        let inner = &self.inner;
        let connected: HashSet<PeerId> = self.peers().await?.into_iter().collect();
        let peers = self.remembered()?;
        let now = Instant::now();
        let mut dialed = 0;
        for (peer, rec) in peers {
            if dialed >= inner.config.peers.redial_at_start {
                break;
            }
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            if connected.contains(&peer) || !inner.peers.redial_due(peer, now) {
                continue;
            }
            dialed += 1;
            self.dial_remembered(peer, &rec.addrs).await;
        }
        if dialed > 0 {
            tracing::debug!("redialed {dialed} remembered peers");
        }
        Ok(())
    }

    pub(crate) async fn redial_known_peers(&self) -> Result<(), NodeError> {
        let peers = self.remembered()?;
        for (peer, rec) in peers
            .into_iter()
            .take(self.inner.config.peers.redial_at_start)
        {
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            self.dial_remembered(peer, &rec.addrs).await;
        }
        Ok(())
    }

    /// The remembered peers worth dialing (not blocked, with an address),
    /// most recently seen first.
    fn remembered(&self) -> Result<Vec<(String, peerfx_store::peers::PeerRecord)>, NodeError> {
        let mut peers = self.inner.store.peer_list()?;
        peers.retain(|(_, r)| !r.blocked && !r.addrs.is_empty());
        peers.sort_by_key(|(_, r)| std::cmp::Reverse(r.last_seen));
        Ok(peers)
    }

    /// Dials a remembered peer at its remembered addresses.
    async fn dial_remembered(&self, peer: PeerId, addrs: &[String]) {
        for addr in addrs.iter().filter_map(|a| a.parse::<Multiaddr>().ok()) {
            let addr = addr.with_p2p(peer).unwrap_or_else(|a| a);
            if let Err(e) = self.inner.net.dial(addr).await {
                tracing::debug!("redial {peer}: {e}");
            }
        }
    }
}
