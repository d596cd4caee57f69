//! Reachability: whether peers can dial this node, and what it does when
//! they cannot.
//!
//! - AutoNAT asks connected peers to dial us back. When it finds this node
//!   private (behind NAT), the node reserves slots on up to
//!   [`RELAYS_WANTED`] relays and listens through them: its circuit
//!   addresses reach peers by identify, and from them the DHT.
//! - Relays are found two ways: a connected peer whose identify lists the
//!   circuit relay's hop protocol, and the DHT, where every node run with
//!   `relay_server` provides [`relays_key`].
//! - A peer that reaches us through a relay starts DCUtR (hole punching);
//!   each upgrade to a direct connection, or failure, is counted.
//!
//! What this node knows is [`Reachability`], which `peerfx id` puts in
//! words.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use libp2p::{autonat, dcutr, identify, kad, multiaddr::Protocol, relay, Multiaddr, PeerId};

use crate::event_loop::EventLoop;

/// Relays a private node keeps a reservation on: one spare, so that losing
/// a relay does not make the node unreachable until it finds another.
pub const RELAYS_WANTED: usize = 2;

/// Relay candidates remembered, at most (peers choose what they announce).
const MAX_CANDIDATES: usize = 32;

/// Relays tried at once to reach a peer we know no address of.
const MAX_CIRCUIT_GUESSES: usize = 4;

/// The circuit relay v2 protocol a relay serves.
const HOP_PROTOCOL: &str = "/libp2p/circuit/relay/0.2.0/hop";

/// The DHT key relays announce themselves under.
pub fn relays_key() -> kad::RecordKey {
    kad::RecordKey::new(&"/peerfx/relays/1")
}

/// What AutoNAT concluded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Nat {
    /// Not probed yet, or no peer could probe.
    #[default]
    Unknown,
    /// Peers dialled us back at this address.
    Public(Multiaddr),
    /// Peers could not dial us back: behind NAT or a firewall.
    Private,
}

impl Nat {
    /// "public", "private" or "unknown": what the API and the apps show.
    pub fn name(&self) -> &'static str {
        match self {
            Nat::Public(_) => "public",
            Nat::Private => "private",
            Nat::Unknown => "unknown",
        }
    }

    /// The address peers dialled back, when public.
    pub fn public_addr(&self) -> Option<&Multiaddr> {
        match self {
            Nat::Public(addr) => Some(addr),
            _ => None,
        }
    }
}

/// How this node can be reached, as far as it knows.
#[derive(Clone, Debug, Default)]
pub struct Reachability {
    /// What AutoNAT found.
    pub nat: Nat,
    /// Relays holding a reservation for us now (we are reachable through
    /// them), sorted.
    pub relays: Vec<PeerId>,
    /// Relayed connections upgraded to direct ones by hole punching.
    pub direct_upgrades: u64,
    /// Hole punches that failed (the connection stayed relayed).
    pub failed_upgrades: u64,
    /// Connected peers reached only through a relay now.
    pub relayed_peers: usize,
}

/// The event loop's reachability state.
#[derive(Default)]
pub(crate) struct Reach {
    nat: Nat,
    candidates: BTreeSet<PeerId>,
    /// Relays we asked for a reservation (waiting or listening).
    requested: HashSet<PeerId>,
    reserved: HashSet<PeerId>,
    lookup: Option<kad::QueryId>,
    provided_at: Option<Instant>,
    direct_upgrades: u64,
    failed_upgrades: u64,
}

/// Whether a connection goes through a relay.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

impl EventLoop {
    /// What [`Reachability`] says now.
    pub(crate) fn reachability(&self) -> Reachability {
        let mut relays: Vec<PeerId> = self.reach.reserved.iter().copied().collect();
        relays.sort();
        Reachability {
            nat: self.reach.nat.clone(),
            relays,
            direct_upgrades: self.reach.direct_upgrades,
            failed_upgrades: self.reach.failed_upgrades,
            relayed_peers: self
                .connections
                .values()
                .filter(|c| c.values().all(is_relayed))
                .count(),
        }
    }

    pub(crate) fn on_identified(&mut self, peer: PeerId, info: &identify::Info) {
        let is_relay = info.protocols.iter().any(|p| p.as_ref() == HOP_PROTOCOL);
        if is_relay && self.reach.candidates.len() < MAX_CANDIDATES {
            self.reach.candidates.insert(peer);
            self.seek_relays();
        }
    }

    pub(crate) fn on_autonat(&mut self, event: autonat::Event) {
        if let autonat::Event::StatusChanged { new, .. } = event {
            self.reach.nat = match new {
                autonat::NatStatus::Public(addr) => Nat::Public(addr),
                autonat::NatStatus::Private => Nat::Private,
                autonat::NatStatus::Unknown => Nat::Unknown,
            };
            tracing::info!(nat = ?self.reach.nat, "reachability changed");
            self.seek_relays();
        }
    }

    pub(crate) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            } => {
                if !renewal {
                    tracing::info!(relay = %relay_peer_id, "reachable through a relay");
                }
                self.reach.reserved.insert(relay_peer_id);
            }
            other => tracing::debug!("relay client: {other:?}"),
        }
    }

    pub(crate) fn on_dcutr(&mut self, event: &dcutr::Event) {
        match &event.result {
            Ok(_) => {
                self.reach.direct_upgrades += 1;
                // The relayed connection is left to close by itself (idle,
                // or at the relay's limits): closing it now would fail what
                // is in flight on it, a take among them.
                tracing::info!(peer = %event.remote_peer_id, "hole punched: direct connection");
            }
            Err(e) => {
                self.reach.failed_upgrades += 1;
                tracing::info!(peer = %event.remote_peer_id, "hole punching failed, staying relayed: {e}");
            }
        }
    }

    /// A relay we wanted could not be dialled, or dropped us: try another.
    pub(crate) fn on_relay_lost(&mut self, peer: PeerId) {
        self.reach.reserved.remove(&peer);
        if self.reach.requested.contains(&peer) && !self.swarm.is_connected(&peer) {
            self.reach.requested.remove(&peer);
            self.reach.candidates.remove(&peer);
            self.circuits_waiting.remove(&peer);
            self.seek_relays();
        }
    }

    /// Providers of [`relays_key`] found by a lookup in flight: dialled
    /// now, while the query still holds their addresses.
    pub(crate) fn on_relay_providers(&mut self, providers: HashSet<PeerId>, last: bool) {
        let me = *self.swarm.local_peer_id();
        for p in providers {
            if p != me && self.reach.candidates.len() < MAX_CANDIDATES {
                self.reach.candidates.insert(p);
            }
        }
        self.seek_relays();
        if last {
            self.reach.lookup = None;
        }
    }

    /// Addresses that reach `peer` through the relays we are connected to,
    /// at most [`MAX_CIRCUIT_GUESSES`]: a NAT'd peer is most often reserved
    /// on the same few relays as everyone else, and a relay answers "no
    /// reservation" at once when it is not.
    pub(crate) fn circuits_to(&self, peer: PeerId) -> Vec<Multiaddr> {
        self.reach
            .candidates
            .iter()
            .filter(|relay| **relay != peer)
            .filter_map(|relay| {
                let conns = self.connections.get(relay)?;
                let base = conns.values().find(|a| !is_relayed(a))?;
                let base =
                    crate::discovery::split_peer(base).map_or_else(|| base.clone(), |(_, b)| b);
                Some(
                    base.with(Protocol::P2p(*relay))
                        .with(Protocol::P2pCircuit)
                        .with(Protocol::P2p(peer)),
                )
            })
            .take(MAX_CIRCUIT_GUESSES)
            .collect()
    }

    /// The relays this node knows, sorted.
    pub(crate) fn known_relays(&self) -> Vec<PeerId> {
        let mut relays: Vec<PeerId> = self.reach.candidates.iter().copied().collect();
        relays.sort();
        relays
    }

    pub(crate) fn is_relay_lookup(&self, id: &kad::QueryId) -> bool {
        self.reach.lookup.as_ref() == Some(id)
    }

    /// Every refresh: a relay announces itself again when due; a private
    /// node tops up its reservations.
    pub(crate) fn refresh_reach(&mut self) {
        if self.config.relay_server
            && self
                .reach
                .provided_at
                .is_none_or(|at| at.elapsed() >= crate::discovery::REPROVIDE_AFTER)
        {
            match self.swarm.behaviour_mut().kad.start_providing(relays_key()) {
                Ok(_) => self.reach.provided_at = Some(Instant::now()),
                Err(e) => tracing::warn!("cannot announce this relay: {e}"),
            }
        }
        self.seek_relays();
    }

    /// A relay's first announcement usually finds an empty routing table
    /// and fails; the next connection is the moment to try again.
    pub(crate) fn announce_relay_if_unannounced(&mut self) {
        if self.config.relay_server && self.reach.provided_at.is_none() && !self.paused {
            self.refresh_reach();
        }
    }

    /// An announcement of this relay that reached nobody: announce again at
    /// the next refresh.
    pub(crate) fn relay_announce_failed(&mut self) {
        self.reach.provided_at = None;
    }

    /// While private: asks relays for reservations until [`RELAYS_WANTED`]
    /// are asked, and looks relays up in the DHT when it knows too few.
    fn seek_relays(&mut self) {
        if self.reach.nat != Nat::Private || self.paused {
            return;
        }
        let fresh: Vec<PeerId> = self
            .reach
            .candidates
            .iter()
            .filter(|p| !self.reach.requested.contains(p))
            .copied()
            .collect();
        for relay in fresh {
            if self.reach.requested.len() >= RELAYS_WANTED {
                return;
            }
            let circuit = Multiaddr::empty()
                .with(Protocol::P2p(relay))
                .with(Protocol::P2pCircuit);
            if self.listen(circuit).is_ok() {
                self.reach.requested.insert(relay);
            }
        }
        if self.reach.requested.len() < RELAYS_WANTED && self.reach.lookup.is_none() {
            self.reach.lookup = Some(self.swarm.behaviour_mut().kad.get_providers(relays_key()));
        }
    }
}
