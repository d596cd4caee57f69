//! Finding a peer's addresses for a request to it.
//!
//! A request to a peer we are not connected to would dial it at the
//! addresses the behaviours know (the routing table, identify's cache). For
//! a maker behind NAT those are often stale private addresses, or nothing:
//! only peers it connected to (its relay among them) know its circuit
//! address. So a request to an unconnected peer first waits for a DHT
//! lookup of the peers closest to it (bounded: [`MAX_WAITING_PER_PEER`]),
//! and meanwhile is dialled through the relays we are connected to (where a
//! NAT'd peer most likely holds its reservation).
//! The peer's own routing-table entry is dropped first: left in, the lookup
//! would dial the peer at those (possibly stale) addresses before anyone
//! answered, and not again when the answers bring fresh ones. The peers that
//! know it answer with its addresses, circuit ones included, and the lookup
//! dials it there; a connection puts it back in the table. The request goes
//! out as soon as a connection is up, or when the lookup ends (and then
//! fails as unreachable if nothing worked). The price is one round trip on
//! the first request to a peer we are not connected to.

use std::collections::HashMap;

use libp2p::{
    kad,
    swarm::dial_opts::{DialOpts, PeerCondition},
    PeerId,
};
use peerfx_core::protocol::{
    DigestRequest, DigestResponse, MailboxRequest, MailboxResponse, SyncRequest, SyncResponse,
    TradeRequest, TradeResponse,
};
use tokio::sync::oneshot;

use crate::event_loop::EventLoop;
use crate::NetError;

/// Peers being looked up at once, at most; past it, requests go out with
/// what is known (and fail as unreachable if that is nothing).
const MAX_LOCATING: usize = 64;

/// Requests to one peer, at most, waiting for its lookup.
const MAX_WAITING_PER_PEER: usize = 16;

/// A request to a peer.
pub(crate) enum Outbound {
    Sync(SyncRequest, oneshot::Sender<Result<SyncResponse, NetError>>),
    Digest(
        DigestRequest,
        oneshot::Sender<Result<DigestResponse, NetError>>,
    ),
    Trade(
        TradeRequest,
        oneshot::Sender<Result<TradeResponse, NetError>>,
    ),
    Mailbox(
        MailboxRequest,
        oneshot::Sender<Result<MailboxResponse, NetError>>,
    ),
}

/// Lookups in flight, by query, with the peer each looks for and the
/// requests waiting for it.
#[derive(Default)]
pub(crate) struct Locating {
    queries: HashMap<kad::QueryId, (PeerId, Vec<Outbound>)>,
}

impl Locating {
    fn find(&mut self, peer: PeerId) -> Option<&mut Vec<Outbound>> {
        self.queries
            .values_mut()
            .find(|(p, _)| *p == peer)
            .map(|(_, waiting)| waiting)
    }
}

impl EventLoop {
    /// Sends `request` to `peer`, looking the peer up first or alongside
    /// when not connected (see the module docs).
    pub(crate) fn request(&mut self, peer: PeerId, request: Outbound) {
        if self.swarm.is_connected(&peer) {
            return self.send(peer, request);
        }
        if let Some(waiting) = self.locating.find(peer) {
            if waiting.len() >= MAX_WAITING_PER_PEER {
                return self.send(peer, request);
            }
            waiting.push(request);
            return;
        }
        if self.locating.queries.len() >= MAX_LOCATING {
            return self.send(peer, request);
        }
        tracing::debug!(%peer, "not connected: looking it up before the request");
        let circuits = self.circuits_to(peer);
        if !circuits.is_empty() {
            // `Disconnected`: a dial at stale addresses (a redial, a DHT
            // refresh) may be under way and must not hold this one back.
            let opts = DialOpts::peer_id(peer)
                .addresses(circuits)
                .condition(PeerCondition::Disconnected)
                .build();
            let _ = self.swarm.dial(opts);
        }
        let kad = &mut self.swarm.behaviour_mut().kad;
        kad.remove_peer(&peer);
        let id = kad.get_closest_peers(peer);
        self.locating.queries.insert(id, (peer, vec![request]));
    }

    pub(crate) fn is_locating(&self, id: &kad::QueryId) -> bool {
        self.locating.queries.contains_key(id)
    }

    /// A lookup's progress: once it has found the peer (or ended), dial what
    /// it found and send what waited.
    pub(crate) fn on_located(&mut self, id: kad::QueryId, found: &[kad::PeerInfo], last: bool) {
        let Some((peer, _)) = self.locating.queries.get(&id) else {
            return;
        };
        let peer = *peer;
        let hit = found.iter().find(|p| p.peer_id == peer);
        if hit.is_none() && !last {
            return;
        }
        let waiting = self
            .locating
            .queries
            .remove(&id)
            .map(|(_, w)| w)
            .unwrap_or_default();
        if let Some(info) = hit {
            if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                query.finish();
            }
            if !self.swarm.is_connected(&peer) && !info.addrs.is_empty() {
                let opts = DialOpts::peer_id(peer)
                    .addresses(info.addrs.clone())
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                if let Err(e) = self.swarm.dial(opts) {
                    tracing::debug!(%peer, "dial after lookup: {e}");
                }
            }
        } else {
            tracing::debug!(%peer, ?found, "no peer knows where it is");
        }
        for request in waiting {
            self.send(peer, request);
        }
    }

    /// Connected to a peer whose requests wait for its lookup (the lookup
    /// itself reached it, or it dialled us): they go out now.
    pub(crate) fn on_reached(&mut self, peer: PeerId) {
        if let Some(waiting) = self.locating.find(peer) {
            for request in std::mem::take(waiting) {
                self.send(peer, request);
            }
        }
    }

    /// Answers every waiting request with [`NetError::Paused`].
    pub(crate) fn fail_waiting(&mut self) {
        for (_, (_, waiting)) in self.locating.queries.drain() {
            for request in waiting {
                match request {
                    Outbound::Sync(_, reply) => drop(reply.send(Err(NetError::Paused))),
                    Outbound::Digest(_, reply) => drop(reply.send(Err(NetError::Paused))),
                    Outbound::Mailbox(_, reply) => drop(reply.send(Err(NetError::Paused))),
                    Outbound::Trade(_, reply) => drop(reply.send(Err(NetError::Paused))),
                }
            }
        }
    }

    fn send(&mut self, peer: PeerId, request: Outbound) {
        let behaviour = self.swarm.behaviour_mut();
        match request {
            Outbound::Sync(request, reply) => {
                let id = behaviour.sync.send_request(&peer, request);
                self.sync.pending.insert(id, reply);
            }
            Outbound::Digest(request, reply) => {
                let id = behaviour.digest.send_request(&peer, request);
                self.digest.pending.insert(id, reply);
            }
            Outbound::Mailbox(request, reply) => {
                let id = behaviour.mailbox.send_request(&peer, request);
                self.mailbox.pending.insert(id, reply);
            }
            Outbound::Trade(request, reply) => {
                let id = behaviour.trade.send_request(&peer, request);
                self.trade.pending.insert(id, reply);
            }
        }
    }
}
