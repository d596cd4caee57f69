//! The task that owns the Swarm.
//!
//! It turns commands into Swarm calls and Swarm events into what the node
//! hears ([`crate::NetEvents`]), keeps the bookkeeping that pairs requests
//! with replies, and nothing else: it never awaits application work, and it
//! never blocks on the node. Each kind of event fails its own way when the
//! node is behind:
//!
//! - gossip goes out with `try_send`; a full channel means the message is
//!   ignored (gossipsub's Ignore: the sender did nothing wrong) and counted;
//! - an inbound request that finds its channel full is answered "busy";
//! - control events (connections, subscriptions) are never dropped: one that
//!   finds its channel full waits in a backlog that the loop drains as the
//!   node reads, without ever waiting for it.
//!
//! Commands are in [`crate::commands`]; discovery (Kademlia, mDNS, identify,
//! relays) in [`crate::discovery`]; pausing in [`crate::pause`]; what the
//! loop does about misbehaving peers in [`crate::police`].

use std::collections::{HashMap, HashSet, VecDeque};

use futures::StreamExt;
use libp2p::{
    gossipsub, kad,
    swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use peerfx_core::protocol::{
    DigestResponse, MailboxRefusal, MailboxResponse, SyncRefusal, SyncResponse, TradeRefusal,
    TradeResponse,
};
use peerfx_core::Market;
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::locate::Locating;
use crate::pause::{Listener, Pausing};
use crate::police::Police;
use crate::reach::Reach;
use crate::rpc::Rpc;
use crate::scoring::Scoring;
use crate::wake::Wakeups;
use crate::{discovery, Command, Gossip, GossipToken, NetConfig, NetError, NetEvent, Request};

/// Control events waiting for the node, at most. The node reads them as
/// fast as they come; a backlog this long means it has stopped, and the
/// oldest are dropped (and counted) rather than held without bound.
const MAX_CONTROL_BACKLOG: usize = 65_536;

/// Peers remembered as failing pings, at most (one per connection at most,
/// and forgotten on disconnect; this only bounds a flood of connections).
const MAX_SUSPECT: usize = 4096;

/// The three channels to the node.
pub(crate) struct Outbox {
    pub(crate) gossip: mpsc::Sender<Gossip>,
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) control: mpsc::Sender<NetEvent>,
}

pub(crate) struct EventLoop {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) outbox: Outbox,
    /// Control events the node has not taken yet.
    pub(crate) backlog: VecDeque<NetEvent>,
    pub(crate) config: NetConfig,
    pub(crate) scoring: Scoring,
    pub(crate) sync: Rpc<SyncResponse>,
    pub(crate) digest: Rpc<DigestResponse>,
    pub(crate) mailbox: Rpc<MailboxResponse>,
    pub(crate) trade: Rpc<TradeResponse>,
    pub(crate) pending_providers:
        HashMap<kad::QueryId, (HashSet<PeerId>, oneshot::Sender<HashSet<PeerId>>)>,
    /// Markets this node provides, and when it last announced each. Kept here
    /// rather than read from Kademlia's store: that store keeps at most 20
    /// providers per key and silently drops our own record once 20 others
    /// are there, so in any market with more makers it would look as if we
    /// never provided, and every post would start a provider query again.
    pub(crate) providing: HashMap<Market, std::time::Instant>,
    pub(crate) provide_queries: u64,
    next_token: u64,
    pub(crate) dropped_gossip: u64,
    pub(crate) dropped_control: u64,
    metrics: libp2p::metrics::Metrics,
    pub(crate) registry: libp2p::metrics::Registry,
    /// Circuit addresses to listen on once connected to their relay, by relay.
    pub(crate) circuits_waiting: HashMap<PeerId, Vec<Multiaddr>>,
    /// Circuit listeners, to re-arm if the relay drops them.
    pub(crate) circuit_listeners: HashMap<libp2p::core::transport::ListenerId, (PeerId, Multiaddr)>,
    pub(crate) police: Police,
    /// Listeners asked for, by id, to listen on again after a pause.
    pub(crate) listeners: HashMap<libp2p::core::transport::ListenerId, Listener>,
    /// While paused: the addresses to listen on again, pinned and as asked.
    pub(crate) relisten: Vec<(Multiaddr, Multiaddr)>,
    /// Pausing or paused: the network refuses to dial or listen.
    pub(crate) paused: bool,
    pub(crate) pausing: Option<Pausing>,
    pub(crate) wakeups: Wakeups,
    /// Open connections by peer, with their remote addresses (a relayed
    /// one's has `/p2p-circuit`).
    pub(crate) connections: HashMap<PeerId, HashMap<ConnectionId, Multiaddr>>,
    pub(crate) reach: Reach,
    pub(crate) locating: Locating,
    /// Connected peers whose last ping failed.
    pub(crate) suspect: HashSet<PeerId>,
}

pub(crate) fn topic(market: &Market) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(market.topic())
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        mut registry: libp2p::metrics::Registry,
        commands: mpsc::Receiver<Command>,
        outbox: Outbox,
        config: NetConfig,
        scoring: Scoring,
        wakeups: Wakeups,
    ) -> EventLoop {
        let metrics = libp2p::metrics::Metrics::new(&mut registry);
        EventLoop {
            swarm,
            commands,
            outbox,
            backlog: VecDeque::new(),
            config,
            scoring,
            sync: Rpc::default(),
            digest: Rpc::default(),
            mailbox: Rpc::default(),
            trade: Rpc::default(),
            pending_providers: HashMap::new(),
            providing: HashMap::new(),
            provide_queries: 0,
            next_token: 0,
            dropped_gossip: 0,
            dropped_control: 0,
            metrics,
            registry,
            circuits_waiting: HashMap::new(),
            circuit_listeners: HashMap::new(),
            police: Police::default(),
            listeners: HashMap::new(),
            relisten: Vec::new(),
            paused: false,
            pausing: None,
            wakeups,
            connections: HashMap::new(),
            reach: Reach::default(),
            locating: Locating::default(),
            suspect: HashSet::new(),
        }
    }

    /// Runs the loop in a task of its own, counted on [`EventLoop::wakeups`],
    /// until it stops; a pause moves it to a task of its own too (see
    /// [`crate::pause`]).
    pub(crate) fn spawn(self) {
        let wakeups = self.wakeups.clone();
        tokio::spawn(wakeups.count(async move {
            if let Some(paused) = self.run().await {
                paused.spawn_paused();
            }
        }));
    }

    fn spawn_paused(self) {
        let wakeups = self.wakeups.clone();
        tokio::spawn(wakeups.count(async move {
            if let Some(resumed) = self.paused().await {
                resumed.spawn();
            }
        }));
    }

    /// The running loop. Returns itself once paused, `None` once stopped;
    /// its intervals end with it, so a paused loop has no timer.
    async fn run(mut self) -> Option<EventLoop> {
        let mut refresh = tokio::time::interval(self.config.kad_bootstrap_interval);
        let mut police = tokio::time::interval(self.scoring.config.decay_interval);
        police.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let pause_deadline = self.pausing.as_ref().map(|p| p.deadline);
            let mut pause_now = false;
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(Command::Pause(reply)) => self.start_pausing(reply),
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use the network any more.
                    None => break,
                },
                // An owned permit: a borrowed one would hold `self` across
                // every branch of the select.
                permit = self.outbox.control.clone().reserve_owned(), if !self.backlog.is_empty() => {
                    self.deliver_control(permit);
                }
                _ = refresh.tick(), if !self.paused => {
                    // NoKnownPeers just means we are alone for now.
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    self.reprovide();
                    self.refresh_reach();
                }
                _ = police.tick() => self.police.tick(&mut self.swarm, &self.scoring),
                _ = tokio::time::sleep_until(pause_deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if pause_deadline.is_some() => pause_now = true,
            }
            if self.pausing.is_some() && (pause_now || self.pause_settled()) {
                self.finish_pausing();
                return Some(self);
            }
        }
        tracing::debug!("network event loop stopped");
        None
    }

    /// Hands the oldest waiting control event to the node, now that the
    /// channel has room.
    pub(crate) fn deliver_control(
        &mut self,
        permit: Result<mpsc::OwnedPermit<NetEvent>, mpsc::error::SendError<()>>,
    ) {
        match (permit, self.backlog.pop_front()) {
            (Ok(permit), Some(event)) => drop(permit.send(event)),
            // The node is gone: nobody to tell.
            _ => self.backlog.clear(),
        }
    }

    /// Hands a control event to the node, or queues it behind the others.
    pub(crate) fn emit_control(&mut self, event: NetEvent) {
        if self.backlog.is_empty() {
            match self.outbox.control.try_send(event) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(event)) => self.backlog.push_back(event),
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        } else {
            self.backlog.push_back(event);
        }
        if self.backlog.len() > MAX_CONTROL_BACKLOG {
            self.backlog.pop_front();
            self.dropped_control += 1;
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        self.metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                if let Some(listener) = self.listeners.get_mut(&listener_id) {
                    listener.bound.get_or_insert_with(|| address.clone());
                }
                // Listening on every interface (0.0.0.0) includes loopback,
                // which is reachable only from this host.
                let wildcard = self.listeners.get(&listener_id).is_some_and(|l| {
                    l.requested.iter().any(|p| match p {
                        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
                        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
                        _ => false,
                    })
                });
                self.on_new_listen_addr(address, wildcard)
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                // An inbound relayed connection's remote address is a bare
                // `/p2p/<peer>`; our circuit address says how it came.
                let via = match &endpoint {
                    libp2p::core::ConnectedPoint::Listener { local_addr, .. }
                        if endpoint.is_relayed() =>
                    {
                        local_addr.clone()
                    }
                    _ => endpoint.get_remote_address().clone(),
                };
                self.connections
                    .entry(peer_id)
                    .or_default()
                    .insert(connection_id, via);
                if self.paused {
                    // A dial from before the pause that succeeded after it.
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
                let addr = endpoint.get_remote_address().clone();
                self.on_connected(peer_id, &addr, endpoint.is_dialer());
                self.on_reached(peer_id);
                if num_established.get() == 1 {
                    tracing::debug!(%peer_id, %addr, "peer connected");
                    self.emit_control(NetEvent::PeerConnected {
                        peer: peer_id,
                        addr,
                        dialed: endpoint.is_dialer(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(conns) = self.connections.get_mut(&peer_id) {
                    conns.remove(&connection_id);
                    if conns.is_empty() {
                        self.connections.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    self.suspect.remove(&peer_id);
                    tracing::debug!(%peer_id, "peer disconnected");
                    self.on_relay_lost(peer_id);
                    self.emit_control(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => self.on_listener_closed(listener_id, reason),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
                if let Some(peer) = peer_id {
                    self.on_relay_lost(peer);
                }
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
            BehaviourEvent::Ping(e) => {
                self.metrics.record(e);
                // TCP keeps a connection open through a partition, while
                // gossip sent meanwhile is dropped for good (gossipsub's
                // send queues time out). A failed ping marks the peer; its
                // next answered ping tells the node the link is back, and
                // the node syncs what it missed. Closing the connection
                // instead would also close it on a merely slow peer.
                match &e.result {
                    Err(failure) => {
                        tracing::debug!(peer = %e.peer, "ping failed: {failure}");
                        if self.suspect.len() < MAX_SUSPECT {
                            self.suspect.insert(e.peer);
                        }
                    }
                    Ok(_) if self.suspect.remove(&e.peer) => {
                        tracing::debug!(peer = %e.peer, "answers pings again");
                        self.emit_control(NetEvent::PeerResumed { peer: e.peer });
                    }
                    Ok(_) => {}
                }
            }
            BehaviourEvent::RelayServer(e) => self.metrics.record(e),
            BehaviourEvent::Dcutr(e) => {
                self.metrics.record(e);
                self.on_dcutr(e);
            }
            _ => {}
        }
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let gossip = Gossip {
                    token: GossipToken {
                        id: message_id.0.clone(),
                        source: propagation_source,
                    },
                    source: propagation_source,
                    topic: message.topic.to_string(),
                    data: message.data,
                };
                if self.outbox.gossip.try_send(gossip).is_err() {
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
            BehaviourEvent::Gossipsub(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            }) => {
                tracing::debug!(%peer_id, ?failed_messages, "gossip to a slow peer was dropped");
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic }) => {
                self.emit_control(NetEvent::PeerSubscribed {
                    peer: peer_id,
                    topic: topic.to_string(),
                });
            }
            BehaviourEvent::Sync(event) => self.sync.forward(
                event,
                &mut self.next_token,
                &self.outbox.requests,
                &mut self.swarm.behaviour_mut().sync,
                |peer, request, token| Request::Sync {
                    peer,
                    request,
                    token,
                },
                SyncResponse::Refused(SyncRefusal::Busy),
            ),
            BehaviourEvent::Digest(event) => self.digest.forward(
                event,
                &mut self.next_token,
                &self.outbox.requests,
                &mut self.swarm.behaviour_mut().digest,
                |peer, request, token| Request::Digest {
                    peer,
                    request,
                    token,
                },
                DigestResponse::Refused(SyncRefusal::Busy),
            ),
            BehaviourEvent::Mailbox(event) => self.mailbox.forward(
                event,
                &mut self.next_token,
                &self.outbox.requests,
                &mut self.swarm.behaviour_mut().mailbox,
                |peer, request, token| Request::Mailbox {
                    peer,
                    request,
                    token,
                },
                MailboxResponse::Refused(MailboxRefusal::Busy),
            ),
            BehaviourEvent::Trade(event) => self.trade.forward(
                event,
                &mut self.next_token,
                &self.outbox.requests,
                &mut self.swarm.behaviour_mut().trade,
                |peer, request, token| Request::Trade {
                    peer,
                    request,
                    token,
                },
                TradeResponse::Refused(TradeRefusal::Busy),
            ),
            other => self.on_discovery_event(other),
        }
    }

    pub(crate) fn dial(&mut self, addr: Multiaddr) -> Result<(), NetError> {
        let opts = match discovery::split_peer(&addr) {
            Some((peer, base)) => {
                self.swarm.behaviour_mut().kad.add_address(&peer, base);
                DialOpts::peer_id(peer)
                    .addresses(vec![addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build()
            }
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        match self.swarm.dial(opts) {
            Ok(()) => Ok(()),
            // Already connected or dialing: what the caller wanted.
            Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => Ok(()),
            Err(source) => Err(NetError::Dial {
                addr,
                source: Box::new(source),
            }),
        }
    }
}
