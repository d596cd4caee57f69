//! What the event loop does with each command from a [`crate::NetHandle`]:
//! Swarm calls, answered on the command's oneshot. Nothing here waits;
//! while paused, what needs the network is refused at once (see
//! [`crate::pause`]).

use std::collections::HashSet;

use libp2p::{gossipsub, Multiaddr};
use peerfx_core::Market;

use crate::event_loop::{topic, EventLoop};
use crate::locate::Outbound;
use crate::{Acceptance, Command, NetError, NetInfo};

impl EventLoop {
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::Listen(_, reply) | Command::Dial(_, reply) if self.paused => {
                let _ = reply.send(Err(NetError::Paused));
            }
            Command::Sync(_, _, reply) if self.paused => drop(reply.send(Err(NetError::Paused))),
            Command::Digest(_, _, reply) if self.paused => drop(reply.send(Err(NetError::Paused))),
            Command::Mailbox(_, _, reply) if self.paused => drop(reply.send(Err(NetError::Paused))),
            Command::Trade(_, _, reply) if self.paused => drop(reply.send(Err(NetError::Paused))),
            // A lookup would wait for a query nobody runs while paused.
            Command::FindProviders(_, reply) if self.paused => drop(reply.send(HashSet::new())),
            Command::Listen(addr, reply) => {
                let _ = reply.send(self.listen(addr));
            }
            Command::Dial(addr, reply) => {
                let _ = reply.send(self.dial(addr));
            }
            Command::Subscribe(market, reply) => {
                let t = topic(&market);
                let topic_params = self.scoring.topic_params();
                let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
                let r = gossipsub
                    .subscribe(&t)
                    .map(|_| ())
                    .map_err(|source| NetError::Subscribe {
                        topic: t.to_string(),
                        source,
                    });
                if r.is_ok() && gossipsub.get_topic_params(&t).is_none() {
                    // Invalid-message penalties are per topic: without params a
                    // topic scores nothing.
                    let _ = gossipsub.set_topic_params(t, topic_params);
                }
                let _ = reply.send(r);
            }
            Command::Publish(market, data, reply) => {
                let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
                let r = match gossipsub.publish(topic(&market), data) {
                    Ok(_) => Ok(()),
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
                    Err(gossipsub::PublishError::Duplicate) => Ok(()),
                    Err(e) => Err(NetError::Publish(e)),
                };
                let _ = reply.send(r);
            }
            Command::Report(token, acceptance) => {
                let acceptance = match acceptance {
                    Acceptance::Accept => gossipsub::MessageAcceptance::Accept,
                    Acceptance::Reject => gossipsub::MessageAcceptance::Reject,
                    Acceptance::Ignore => gossipsub::MessageAcceptance::Ignore,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(
                        &gossipsub::MessageId::new(&token.id),
                        &token.source,
                        acceptance,
                    );
            }
            Command::Penalize(peer, what) => {
                tracing::debug!(%peer, ?what, "misbehaviour");
                self.police.penalize(&mut self.swarm, peer);
            }
            Command::PeersOn(market, reply) => {
                let t = market.topic();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.iter().any(|h| h.as_str() == t))
                    .map(|(p, _)| *p)
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Provide(market) => self.provide_once(market),
            Command::StopProviding(market) => self.stop_providing(market),
            Command::FindProviders(market, reply) => self.find_providers(market, reply),
            Command::Sync(peer, request, reply) => {
                self.request(peer, Outbound::Sync(request, reply));
            }
            Command::RespondSync(token, response) => {
                if let Some(channel) = self.sync.inbound.remove(&token) {
                    // Fails only if the requester went away or timed out.
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
            }
            Command::Digest(peer, request, reply) => {
                self.request(peer, Outbound::Digest(request, reply));
            }
            Command::RespondDigest(token, response) => {
                if let Some(channel) = self.digest.inbound.remove(&token) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .digest
                        .send_response(channel, response);
                }
            }
            Command::Mailbox(peer, request, reply) => {
                self.request(peer, Outbound::Mailbox(request, reply));
            }
            Command::RespondMailbox(token, response) => {
                if let Some(channel) = self.mailbox.inbound.remove(&token) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .mailbox
                        .send_response(channel, response);
                }
            }
            Command::Relays(reply) => {
                let _ = reply.send(self.known_relays());
            }
            Command::Trade(peer, request, reply) => {
                self.request(peer, Outbound::Trade(request, reply));
            }
            Command::RespondTrade(token, response) => {
                if let Some(channel) = self.trade.inbound.remove(&token) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .trade
                        .send_response(channel, response);
                }
            }
            Command::Info(reply) => {
                let _ = reply.send(self.info());
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
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::Block(peer, blocked) => {
                let list = &mut self.swarm.behaviour_mut().blocked;
                if blocked {
                    list.block_peer(peer);
                    self.police.user_blocked.insert(peer);
                } else {
                    list.unblock_peer(peer);
                    self.police.user_blocked.remove(&peer);
                }
            }
            Command::Pause(reply) => self.start_pausing(reply),
            Command::Resume(reply) => {
                // Resuming a loop that is running: nothing to do.
                let _ = reply.send(());
            }
            Command::Shutdown(reply) => {
                // Handled in `run`; answered here too should it ever arrive.
                let _ = reply.send(());
            }
        }
    }

    fn info(&self) -> NetInfo {
        let behaviour = self.swarm.behaviour();
        let mut providing: Vec<Market> = self.providing.keys().copied().collect();
        providing.sort();
        NetInfo {
            peer_id: Some(*self.swarm.local_peer_id()),
            listen_addrs: self.swarm.listeners().cloned().collect(),
            connected: self
                .connections
                .iter()
                .map(|(peer, conns)| {
                    let mut addrs: Vec<&Multiaddr> = conns.values().collect();
                    addrs.sort_by_key(|a| crate::reach::is_relayed(a));
                    let addr = addrs
                        .first()
                        .map_or_else(Multiaddr::empty, |a| (*a).clone());
                    (*peer, addr)
                })
                .collect(),
            reachability: self.reachability(),
            topics: behaviour
                .gossipsub
                .topics()
                .map(|t| t.to_string())
                .collect(),
            dropped_gossip: self.dropped_gossip,
            dropped_control: self.dropped_control,
            provide_queries: self.provide_queries,
            providing,
            banned: self.police.banned(),
            banned_total: self.police.banned_total,
        }
    }
}
