//! The task that owns the Swarm.
//!
//! It turns commands into Swarm calls and Swarm events into [`NetEvent`]s, keeps
//! the bookkeeping that pairs requests with replies, and nothing else: it never
//! awaits application work, and it never blocks on the node (events go out with
//! `try_send`; a full channel means the node is behind, and the message is
//! ignored rather than queued without bound).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use libp2p::{
    gossipsub, identify, kad, mdns,
    multiaddr::Protocol,
    request_response,
    swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use peerfx_core::protocol::{SyncRefusal, SyncResponse, TradeRefusal, TradeResponse};
use peerfx_core::Market;
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{topic_score_params, Behaviour, BehaviourEvent};
use crate::{
    Acceptance, Command, GossipToken, NetConfig, NetError, NetEvent, NetInfo, ResponseToken,
};

/// Most inbound requests awaiting the node's answer. Beyond this the oldest is
/// dropped (its requester sees a failure), so a node that stops answering cannot
/// make the loop hold channels without bound.
const MAX_PENDING_INBOUND: usize = 1024;

/// How often a market this node provides is announced to the DHT again:
/// Kademlia's own provider publication interval.
const REPROVIDE_AFTER: std::time::Duration = std::time::Duration::from_secs(12 * 60 * 60);

/// Request-response bookkeeping of one protocol: answers owed to local callers,
/// and inbound requests whose response the node still owes.
struct Rpc<Resp> {
    pending: HashMap<request_response::OutboundRequestId, oneshot::Sender<Result<Resp, NetError>>>,
    inbound: BTreeMap<ResponseToken, request_response::ResponseChannel<Resp>>,
}

impl<Resp> Default for Rpc<Resp> {
    fn default() -> Self {
        Rpc {
            pending: HashMap::new(),
            inbound: BTreeMap::new(),
        }
    }
}

impl<Resp> Rpc<Resp> {
    /// Settles answers and failures; returns an inbound request, with the token
    /// its response must carry, for the node to handle.
    fn on_event<Req>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        next_token: &mut u64,
    ) -> Option<(PeerId, Req, ResponseToken)> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let token = ResponseToken(*next_token);
                    *next_token += 1;
                    if self.inbound.len() >= MAX_PENDING_INBOUND {
                        self.inbound.pop_first();
                    }
                    self.inbound.insert(token, channel);
                    Some((peer, request, token))
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                    None
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer: peer.to_string(),
                        reason: error.to_string(),
                    }));
                }
                None
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => None,
        }
    }
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    config: NetConfig,
    sync: Rpc<SyncResponse>,
    trade: Rpc<TradeResponse>,
    pending_providers: HashMap<kad::QueryId, (HashSet<PeerId>, oneshot::Sender<HashSet<PeerId>>)>,
    /// Markets this node provides, and when it last announced each. Kept here
    /// rather than read from Kademlia's store: that store keeps at most 20
    /// providers per key and silently drops our own record once 20 others
    /// are there, so in any market with more makers it would look as if we
    /// never provided, and every post would start a provider query again.
    providing: HashMap<Market, std::time::Instant>,
    provide_queries: u64,
    next_token: u64,
    dropped_gossip: u64,
    metrics: libp2p::metrics::Metrics,
    registry: libp2p::metrics::Registry,
    /// Circuit addresses to listen on once connected to their relay, by relay.
    circuits_waiting: HashMap<PeerId, Vec<Multiaddr>>,
    /// Circuit listeners, to re-arm if the relay drops them.
    circuit_listeners: HashMap<libp2p::core::transport::ListenerId, (PeerId, Multiaddr)>,
}

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

fn topic(market: &Market) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(market.topic())
}

fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, base)),
        _ => None,
    }
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        mut registry: libp2p::metrics::Registry,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        config: NetConfig,
    ) -> EventLoop {
        let metrics = libp2p::metrics::Metrics::new(&mut registry);
        EventLoop {
            swarm,
            commands,
            events,
            config,
            sync: Rpc::default(),
            trade: Rpc::default(),
            pending_providers: HashMap::new(),
            providing: HashMap::new(),
            provide_queries: 0,
            next_token: 0,
            dropped_gossip: 0,
            metrics,
            registry,
            circuits_waiting: HashMap::new(),
            circuit_listeners: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut refresh = tokio::time::interval(self.config.kad_bootstrap_interval);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use the network any more.
                    None => break,
                },
                _ = refresh.tick() => {
                    // NoKnownPeers just means we are alone for now.
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    self.reprovide();
                }
            }
        }
        tracing::debug!("network event loop stopped");
    }

    /// Announces this node as a provider of `market` in the DHT.
    fn provide(&mut self, market: Market) {
        let key = kad::RecordKey::new(&market.topic());
        match self.swarm.behaviour_mut().kad.start_providing(key) {
            Ok(_) => {
                self.providing.insert(market, std::time::Instant::now());
                self.provide_queries += 1;
            }
            Err(e) => tracing::warn!("cannot provide {market}: {e}"),
        }
    }

    /// Announces again the markets last announced more than
    /// [`REPROVIDE_AFTER`] ago: provider records expire, and Kademlia only
    /// republishes those its store kept.
    fn reprovide(&mut self) {
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

    fn on_command(&mut self, command: Command) {
        let b = self.swarm.behaviour_mut();
        match command {
            Command::Listen(addr, reply) => {
                let r = match relay_of(&addr) {
                    // Listening through a relay needs a connection to it first;
                    // racing a dial of our own makes the relay client give up.
                    Some(relay) => {
                        self.circuits_waiting
                            .entry(relay)
                            .or_default()
                            .push(addr.clone());
                        self.listen_via(relay);
                        Ok(())
                    }
                    None => self.swarm.listen_on(addr.clone()).map(|_| ()).map_err(|e| {
                        NetError::Listen {
                            addr: addr.to_string(),
                            reason: e.to_string(),
                        }
                    }),
                };
                let _ = reply.send(r);
            }
            Command::Dial(addr, reply) => {
                let opts = match split_peer(&addr) {
                    Some((peer, base)) => {
                        self.swarm.behaviour_mut().kad.add_address(&peer, base);
                        DialOpts::peer_id(peer)
                            .addresses(vec![addr.clone()])
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build()
                    }
                    None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                };
                let r = match self.swarm.dial(opts) {
                    Ok(()) => Ok(()),
                    // Already connected or dialing: what the caller wanted.
                    Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => Ok(()),
                    Err(e) => Err(NetError::Dial {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    }),
                };
                let _ = reply.send(r);
            }
            Command::Subscribe(market, reply) => {
                let t = topic(&market);
                let r = b
                    .gossipsub
                    .subscribe(&t)
                    .map(|_| ())
                    .map_err(|e| NetError::Config(format!("subscribe {t}: {e}")));
                if r.is_ok() && b.gossipsub.get_topic_params(&t).is_none() {
                    // Invalid-message penalties are per topic: without params a
                    // topic scores nothing.
                    let _ = b.gossipsub.set_topic_params(t, topic_score_params());
                }
                let _ = reply.send(r);
            }
            Command::Publish(market, data, reply) => {
                let r = match b.gossipsub.publish(topic(&market), data) {
                    Ok(_) => Ok(()),
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
                    Err(gossipsub::PublishError::Duplicate) => Ok(()),
                    Err(e) => Err(NetError::Publish(e.to_string())),
                };
                let _ = reply.send(r);
            }
            Command::Report(token, acceptance) => {
                let acceptance = match acceptance {
                    Acceptance::Accept => gossipsub::MessageAcceptance::Accept,
                    Acceptance::Reject => gossipsub::MessageAcceptance::Reject,
                    Acceptance::Ignore => gossipsub::MessageAcceptance::Ignore,
                };
                b.gossipsub.report_message_validation_result(
                    &gossipsub::MessageId::new(&token.id),
                    &token.source,
                    acceptance,
                );
            }
            // A provide query costs ~20 peers a round trip: once per market,
            // then again every REPROVIDE_AFTER (see `reprovide`), not per offer.
            Command::Provide(market) => {
                if !self.providing.contains_key(&market) {
                    self.provide(market);
                }
            }
            Command::StopProviding(market) => {
                if self.providing.remove(&market).is_some() {
                    b.kad.stop_providing(&kad::RecordKey::new(&market.topic()));
                }
            }
            Command::FindProviders(market, reply) => {
                let id = b.kad.get_providers(kad::RecordKey::new(&market.topic()));
                self.pending_providers.insert(id, (HashSet::new(), reply));
            }
            Command::Sync(peer, request, reply) => {
                let id = b.sync.send_request(&peer, request);
                self.sync.pending.insert(id, reply);
            }
            Command::RespondSync(token, response) => {
                if let Some(channel) = self.sync.inbound.remove(&token) {
                    // Fails only if the requester went away or timed out.
                    let _ = b.sync.send_response(channel, response);
                }
            }
            Command::Trade(peer, request, reply) => {
                let id = b.trade.send_request(&peer, request);
                self.trade.pending.insert(id, reply);
            }
            Command::RespondTrade(token, response) => {
                if let Some(channel) = self.trade.inbound.remove(&token) {
                    let _ = b.trade.send_response(channel, response);
                }
            }
            Command::Info(reply) => {
                let connected = self
                    .swarm
                    .connected_peers()
                    .copied()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|p| (p, Multiaddr::empty()))
                    .collect();
                let _ = reply.send(NetInfo {
                    peer_id: Some(*self.swarm.local_peer_id()),
                    listen_addrs: self.swarm.listeners().cloned().collect(),
                    connected,
                    topics: self
                        .swarm
                        .behaviour()
                        .gossipsub
                        .topics()
                        .map(|t| t.to_string())
                        .collect(),
                    dropped_gossip: self.dropped_gossip,
                    provide_queries: self.provide_queries,
                    providing: {
                        let mut v: Vec<Market> = self.providing.keys().copied().collect();
                        v.sort();
                        v
                    },
                });
            }
            Command::Metrics(reply) => {
                let mut text = String::new();
                if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_ok() {
                    if let Some(stripped) = text.strip_suffix("# EOF\n") {
                        text.truncate(stripped.len());
                    }
                }
                let _ = reply.send(text);
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(b.gossipsub.peer_score(&peer));
            }
            Command::Block(peer, blocked) => {
                if blocked {
                    b.blocked.block_peer(peer);
                } else {
                    b.blocked.unblock_peer(peer);
                }
            }
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    /// Listens on the circuits waiting for `relay` if connected to it, or dials it.
    fn listen_via(&mut self, relay: PeerId) {
        if !self.swarm.is_connected(&relay) {
            let opts = DialOpts::peer_id(relay)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            let _ = self.swarm.dial(opts);
            return;
        }
        for addr in self.circuits_waiting.remove(&relay).unwrap_or_default() {
            match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    self.circuit_listeners.insert(id, (relay, addr));
                }
                Err(e) => tracing::warn!("cannot listen on {addr}: {e}"),
            }
        }
    }

    /// Hands an event to the node without waiting; false if the node is behind.
    fn emit(&mut self, event: NetEvent) -> bool {
        self.events.try_send(event).is_ok()
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        self.metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                // A relay hands its external addresses to the peers it serves, who
                // build their circuit addresses from them; a relay server is by
                // configuration reachable at what it listens on.
                let relayed = address.iter().any(|p| p == Protocol::P2pCircuit);
                if self.config.relay_server && !relayed {
                    self.swarm.add_external_address(address.clone());
                }
                let addr = address
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                tracing::info!("listening on {addr}");
                self.emit(NetEvent::Listening { addr });
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                if endpoint.is_dialer() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
                if self.circuits_waiting.contains_key(&peer_id) {
                    self.listen_via(peer_id);
                }
                if num_established.get() == 1 {
                    tracing::debug!(%peer_id, %addr, "peer connected");
                    self.emit(NetEvent::PeerConnected {
                        peer: peer_id,
                        addr,
                        dialed: endpoint.is_dialer(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::debug!(%peer_id, "peer disconnected");
                self.emit(NetEvent::PeerDisconnected { peer: peer_id });
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some((relay, addr)) = self.circuit_listeners.remove(&listener_id) {
                    // Re-armed for the next connection to the relay (the routing
                    // refresh and peers' dials bring one).
                    tracing::info!("relay listener {addr} closed ({reason:?}); will listen again");
                    self.circuits_waiting.entry(relay).or_default().push(addr);
                    self.listen_via(relay);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        use libp2p::metrics::Recorder;
        match &event {
            BehaviourEvent::Gossipsub(e) => self.metrics.record(e),
            BehaviourEvent::Identify(e) => self.metrics.record(e),
            BehaviourEvent::Kad(e) => self.metrics.record(e),
            BehaviourEvent::Ping(e) => self.metrics.record(e),
            BehaviourEvent::RelayServer(e) => self.metrics.record(e),
            BehaviourEvent::Dcutr(e) => self.metrics.record(e),
            _ => {}
        }
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let token = GossipToken {
                    id: message_id.0.clone(),
                    source: propagation_source,
                };
                let event = NetEvent::Gossip {
                    token: token.clone(),
                    source: propagation_source,
                    topic: message.topic.to_string(),
                    data: message.data,
                };
                if !self.emit(event) {
                    self.dropped_gossip += 1;
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic }) => {
                self.emit(NetEvent::PeerSubscribed {
                    peer: peer_id,
                    topic: topic.to_string(),
                });
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
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
                self.providing
                    .retain(|m, _| kad::RecordKey::new(&m.topic()) != *key);
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
            BehaviourEvent::Sync(event) => {
                if let Some((peer, request, token)) =
                    self.sync.on_event(event, &mut self.next_token)
                {
                    if !self.emit(NetEvent::SyncRequest {
                        peer,
                        request,
                        token,
                    }) {
                        if let Some(channel) = self.sync.inbound.remove(&token) {
                            let busy = SyncResponse::Refused(SyncRefusal::Busy);
                            let _ = self.swarm.behaviour_mut().sync.send_response(channel, busy);
                        }
                    }
                }
            }
            BehaviourEvent::Trade(event) => {
                if let Some((peer, request, token)) =
                    self.trade.on_event(event, &mut self.next_token)
                {
                    if !self.emit(NetEvent::TradeRequest {
                        peer,
                        request,
                        token,
                    }) {
                        if let Some(channel) = self.trade.inbound.remove(&token) {
                            let busy = TradeResponse::Refused(TradeRefusal::Busy);
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .trade
                                .send_response(channel, busy);
                        }
                    }
                }
            }
            BehaviourEvent::RelayClient(event) => tracing::debug!("relay client: {event:?}"),
            _ => {}
        }
    }
}
