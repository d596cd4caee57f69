//! Finding a peer's addresses for a request to it.
//!
//! A request to a peer we are not connected to dials it at the addresses
//! the behaviours know (the routing table, identify's cache). For a maker
//! behind NAT those are often its private addresses, or nothing: only peers
//! it connected to (its relay among them) know its circuit address. So
//! alongside the dial, a request to an unconnected peer asks the DHT for the
//! peers closest to it, which returns the peer itself with the addresses
//! others know; those are dialled too, and whichever connection comes first
//! carries the request.

use std::collections::HashMap;

use libp2p::{
    kad,
    swarm::dial_opts::{DialOpts, PeerCondition},
    PeerId,
};

use crate::event_loop::EventLoop;

/// Peers being looked up at once, at most; past it, requests go out with
/// what is known (and fail as unreachable if that is nothing).
const MAX_LOCATING: usize = 64;

/// Lookups in flight: the peer each looks for.
#[derive(Default)]
pub(crate) struct Locating {
    by_query: HashMap<kad::QueryId, PeerId>,
}

impl EventLoop {
    /// Looks `peer` up in the DHT unless connected to it (or already
    /// looking).
    pub(crate) fn locate(&mut self, peer: PeerId) {
        let loc = &self.locating.by_query;
        if self.swarm.is_connected(&peer)
            || loc.len() >= MAX_LOCATING
            || loc.values().any(|p| *p == peer)
        {
            return;
        }
        let id = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
        self.locating.by_query.insert(id, peer);
    }

    pub(crate) fn is_locating(&self, id: &kad::QueryId) -> bool {
        self.locating.by_query.contains_key(id)
    }

    /// A lookup's progress: once it has found the peer, dial it at the
    /// addresses found, and end the lookup.
    pub(crate) fn on_located(&mut self, id: kad::QueryId, found: &[kad::PeerInfo], last: bool) {
        let Some(&peer) = self.locating.by_query.get(&id) else {
            return;
        };
        let hit = found.iter().find(|p| p.peer_id == peer);
        if hit.is_none() && !last {
            return;
        }
        self.locating.by_query.remove(&id);
        let Some(info) = hit else {
            tracing::debug!(%peer, "no peer knows where it is");
            return;
        };
        if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
            query.finish();
        }
        if self.swarm.is_connected(&peer) || info.addrs.is_empty() {
            return;
        }
        // `Disconnected`, not `...AndNotDialing`: the request's own dial
        // (at stale or private addresses) may still be trying.
        let opts = DialOpts::peer_id(peer)
            .addresses(info.addrs.clone())
            .condition(PeerCondition::Disconnected)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, "dial after lookup: {e}");
        }
    }
}
