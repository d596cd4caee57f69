//! How a node finds peers and lets itself be found, as part of the event
//! loop: listening (directly and through relays), Kademlia (routing, and
//! provider announcements of the markets the node has offers in), mDNS, and
//! identify.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::{
    identify, kad, mdns,
    multiaddr::Protocol,
    swarm::{dial_opts::DialOpts, dial_opts::PeerCondition},
    Multiaddr, PeerId,
};
use peerfx_core::Market;
use tokio::sync::oneshot;

use crate::behaviour::BehaviourEvent;
use crate::event_loop::EventLoop;
use crate::pause::Listener;
use crate::{NetError, NetEvent};

/// How often a market this node provides is announced to the DHT again:
/// Kademlia's own provider publication interval.
pub(crate) const REPROVIDE_AFTER: Duration = Duration::from_secs(12 * 60 * 60);

/// The relay of a `/p2p/<relay>/p2p-circuit` address.
fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut relay = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(peer) => relay = Some(peer),
            Protocol::P2pCircuit => return relay,
            _ => {}
        }
    }
    None
}

/// An address split into its peer and the rest, if it ends in `/p2p/<peer>`.
pub(crate) fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, base)),
        _ => None,
    }
}

fn market_key(market: &Market) -> kad::RecordKey {
    kad::RecordKey::new(&market.topic())
}

impl EventLoop {
    /// Listens on `addr`; a `/p2p-circuit` address waits for a connection
    /// to its relay.
    pub(crate) fn listen(&mut self, addr: Multiaddr) -> Result<(), NetError> {
        match relay_of(&addr) {
            // Listening through a relay needs a connection to it first;
            // racing a dial of our own makes the relay client give up.
            Some(relay) => {
                self.circuits_waiting.entry(relay).or_default().push(addr);
                self.listen_via(relay);
                Ok(())
            }
            None => match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    let listener = Listener {
                        requested: addr,
                        bound: None,
                    };
                    self.listeners.insert(id, listener);
                    Ok(())
                }
                Err(source) => Err(NetError::Listen { addr, source }),
            },
        }
    }

    /// Listens on the circuits waiting for `relay` if connected to it, or dials it.
    pub(crate) fn listen_via(&mut self, relay: PeerId) {
        if self.paused {
            return;
        }
        if !self.swarm.is_connected(&relay) {
            let opts = DialOpts::peer_id(relay)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            let _ = self.swarm.dial(opts);
            return;
        }
        // A relay found by identify or the DHT is asked for as
        // `/p2p/<relay>/p2p-circuit`; the relay transport needs the relay's
        // own address in front, which is the one we reached it at.
        let reached_at = self.connections.get(&relay).and_then(|c| {
            c.values()
                .find(|a| !crate::reach::is_relayed(a))
                .map(|a| split_peer(a).map_or_else(|| a.clone(), |(_, base)| base))
        });
        for addr in self.circuits_waiting.remove(&relay).unwrap_or_default() {
            let addr = match (addr.iter().next(), &reached_at) {
                (Some(Protocol::P2p(_)), Some(base)) => base.iter().chain(addr.iter()).collect(),
                _ => addr,
            };
            match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    self.circuit_listeners.insert(id, (relay, addr));
                }
                Err(e) => tracing::warn!("cannot listen on {addr}: {e}"),
            }
        }
    }

    pub(crate) fn on_new_listen_addr(&mut self, address: Multiaddr, wildcard: bool) {
        // A relay hands its external addresses to the peers it serves, who
        // build their circuit addresses from them; a relay server is by
        // configuration reachable at what it listens on.
        let relayed = address.iter().any(|p| p == Protocol::P2pCircuit);
        // Loopback is reachable only from this host: as a relay's external
        // address it would become a circuit address nobody else can use.
        // (A relay asked to listen on 127.0.0.1 itself serves this host.)
        let loopback = wildcard
            && address.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_loopback(),
                Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            });
        if self.config.relay_server && !relayed && !loopback {
            self.swarm.add_external_address(address.clone());
        }
        let addr = address
            .with_p2p(*self.swarm.local_peer_id())
            .unwrap_or_else(|a| a);
        tracing::info!("listening on {addr}");
        self.emit_control(NetEvent::Listening { addr });
    }

    pub(crate) fn on_connected(&mut self, peer: PeerId, addr: &Multiaddr, dialer: bool) {
        if dialer {
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
        }
        if self.circuits_waiting.contains_key(&peer) {
            self.listen_via(peer);
        }
        self.announce_relay_if_unannounced();
    }

    pub(crate) fn on_listener_closed(
        &mut self,
        listener: libp2p::core::transport::ListenerId,
        reason: Result<(), std::io::Error>,
    ) {
        self.listeners.remove(&listener);
        if let Some((relay, addr)) = self.circuit_listeners.remove(&listener) {
            // Re-armed for the next connection to the relay (the routing
            // refresh and peers' dials bring one).
            tracing::info!("relay listener {addr} closed ({reason:?}); will listen again");
            self.circuits_waiting.entry(relay).or_default().push(addr);
            self.listen_via(relay);
        }
    }

    /// Announces this node as a provider of `market` in the DHT.
    fn provide(&mut self, market: Market) {
        match self
            .swarm
            .behaviour_mut()
            .kad
            .start_providing(market_key(&market))
        {
            Ok(_) => {
                self.providing.insert(market, Instant::now());
                self.provide_queries += 1;
            }
            Err(e) => tracing::warn!("cannot provide {market}: {e}"),
        }
    }

    /// A provide query costs ~20 peers a round trip: once per market, then
    /// again every [`REPROVIDE_AFTER`] (see [`EventLoop::reprovide`]), not
    /// per offer.
    pub(crate) fn provide_once(&mut self, market: Market) {
        if !self.providing.contains_key(&market) {
            self.provide(market);
        }
    }

    pub(crate) fn stop_providing(&mut self, market: Market) {
        if self.providing.remove(&market).is_some() {
            self.swarm
                .behaviour_mut()
                .kad
                .stop_providing(&market_key(&market));
        }
    }

    /// Announces again the markets last announced more than
    /// [`REPROVIDE_AFTER`] ago: provider records expire, and Kademlia only
    /// republishes those its store kept.
    pub(crate) fn reprovide(&mut self) {
        let due: Vec<Market> = self
            .providing
            .iter()
            .filter(|(_, at)| at.elapsed() >= REPROVIDE_AFTER)
            .map(|(m, _)| *m)
            .collect();
        for market in due {
            self.provide(market);
        }
    }

    pub(crate) fn find_providers(
        &mut self,
        market: Market,
        reply: oneshot::Sender<HashSet<PeerId>>,
    ) {
        let id = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(market_key(&market));
        self.pending_providers.insert(id, (HashSet::new(), reply));
    }

    pub(crate) fn on_discovery_event(&mut self, event: BehaviourEvent) {
        match event {
            // `Pushed`: a peer's addresses changed (a relay accepted its
            // reservation); the routing table must hear, or nobody can find
            // a NAT'd peer at its circuit address.
            BehaviourEvent::Identify(
                identify::Event::Received { peer_id, info, .. }
                | identify::Event::Pushed { peer_id, info, .. },
            ) => {
                tracing::debug!(%peer_id, addrs = ?info.listen_addrs, "identified");
                self.on_identified(peer_id, &info);
                // Inbound peers do not enter the routing table by themselves.
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            // An announcement that reached nobody (the routing table was still
            // empty, or every peer failed) is forgotten, so the next offer in
            // that market announces it again.
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::StartProviding(result),
                stats,
                step,
                ..
            }) if step.last && (result.is_err() || stats.num_successes() == 0) => {
                let key = match &result {
                    Ok(ok) => &ok.key,
                    Err(e) => e.key(),
                };
                if *key == crate::reach::relays_key() {
                    self.relay_announce_failed();
                }
                self.providing.retain(|m, _| market_key(m) != *key);
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) if self.is_relay_lookup(&id) => {
                let found = match result {
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => providers,
                    _ => HashSet::new(),
                };
                self.on_relay_providers(found, step.last);
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetClosestPeers(result),
                step,
                ..
            }) if self.is_locating(&id) => {
                let peers = match &result {
                    Ok(ok) => &ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                self.on_located(id, peers, step.last);
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) => {
                if let Some((found, _)) = self.pending_providers.get_mut(&id) {
                    if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                        found.extend(providers);
                    }
                }
                if step.last {
                    if let Some((found, reply)) = self.pending_providers.remove(&id) {
                        let _ = reply.send(found);
                    }
                }
            }
            BehaviourEvent::RelayClient(event) => self.on_relay_client(event),
            BehaviourEvent::Autonat(event) => self.on_autonat(event),
            _ => {}
        }
    }
}
