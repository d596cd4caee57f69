//! Pausing the network, for an app the phone sends to the background.
//!
//! A paused network has no connection, no listener and no timer: iOS and
//! Android take a suspended app's sockets anyway, and every timer that fires
//! wakes the CPU and, often, the radio. Pausing closes every connection and
//! listener, waits (at most [`PAUSE_GRACE`]) for the Swarm to report them
//! closed, then ends the event loop's task and parks the loop in a new task
//! that only reads commands. Ending the task is what makes the pause quiet:
//! the Swarm's own timers (gossipsub's heartbeat, AutoNAT's probe) were armed
//! with the old task's waker, so when they fire nothing is polled, and since
//! nothing polls the Swarm they are never armed again. The loop's own
//! intervals are dropped with the task.
//!
//! While paused, commands that need the network (listen, dial, requests)
//! fail at once with [`NetError::Paused`]; commands that only change state
//! (subscribe, publish, provide, block) are applied and take effect on
//! resume. Resuming listens again on the same ports where they are free,
//! re-arms relay circuits, dials the bootstrap peers, and starts the loop's
//! task again.

use std::collections::HashSet;
use std::time::Duration;

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::event_loop::EventLoop;
use crate::{Command, NetError};

/// Longest wait for connections to close before the loop parks anyway.
pub(crate) const PAUSE_GRACE: Duration = Duration::from_secs(3);

/// A listener the node asked for, and the first address it was bound to.
pub(crate) struct Listener {
    pub(crate) requested: Multiaddr,
    pub(crate) bound: Option<Multiaddr>,
}

impl Listener {
    /// The requested address with the port it was given, so that peers that
    /// remember this node's address find it again after a resume.
    fn pinned(&self) -> Multiaddr {
        let port = self.bound.as_ref().and_then(|b| {
            b.iter().find_map(|p| match p {
                Protocol::Tcp(port) | Protocol::Udp(port) => Some(port),
                _ => None,
            })
        });
        self.requested
            .iter()
            .map(|p| match (p, port) {
                (Protocol::Tcp(0), Some(port)) => Protocol::Tcp(port),
                (Protocol::Udp(0), Some(port)) => Protocol::Udp(port),
                (p, _) => p,
            })
            .collect()
    }
}

/// A pause under way: who waits for it, and until when.
pub(crate) struct Pausing {
    pub(crate) replies: Vec<oneshot::Sender<()>>,
    pub(crate) deadline: tokio::time::Instant,
}

impl EventLoop {
    /// Starts pausing: closes every listener and connection. The loop parks
    /// once [`EventLoop::pause_settled`] (or at the deadline).
    pub(crate) fn start_pausing(&mut self, reply: oneshot::Sender<()>) {
        if let Some(pausing) = &mut self.pausing {
            pausing.replies.push(reply);
            return;
        }
        self.paused = true;
        for (id, listener) in std::mem::take(&mut self.listeners) {
            self.relisten.push((listener.pinned(), listener.requested));
            self.swarm.remove_listener(id);
        }
        for (id, (relay, addr)) in std::mem::take(&mut self.circuit_listeners) {
            self.circuits_waiting.entry(relay).or_default().push(addr);
            self.swarm.remove_listener(id);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.pausing = Some(Pausing {
            replies: vec![reply],
            deadline: tokio::time::Instant::now() + PAUSE_GRACE,
        });
    }

    /// Whether every connection has closed.
    pub(crate) fn pause_settled(&self) -> bool {
        self.swarm.connected_peers().next().is_none()
    }

    /// Ends the pause's first half: whatever still waits on the network is
    /// answered now, so no caller waits through a pause.
    pub(crate) fn finish_pausing(&mut self) {
        for (_, reply) in self.sync.pending.drain() {
            let _ = reply.send(Err(NetError::Paused));
        }
        for (_, reply) in self.trade.pending.drain() {
            let _ = reply.send(Err(NetError::Paused));
        }
        for (_, reply) in self.digest.pending.drain() {
            let _ = reply.send(Err(NetError::Paused));
        }
        for (_, reply) in self.mailbox.pending.drain() {
            let _ = reply.send(Err(NetError::Paused));
        }
        self.fail_waiting();
        for (_, (found, reply)) in self.pending_providers.drain() {
            let _ = reply.send(found);
        }
        // Inbound requests whose answer the node still owes die with their
        // connections; their tokens are worthless now.
        self.sync.inbound.clear();
        self.trade.inbound.clear();
        self.digest.inbound.clear();
        self.mailbox.inbound.clear();
        if let Some(pausing) = self.pausing.take() {
            for reply in pausing.replies {
                let _ = reply.send(());
            }
        }
        tracing::info!("network paused");
    }

    /// The paused loop: commands only, no Swarm, no timer. Returns the loop
    /// to run again, or `None` once told to stop.
    pub(crate) async fn paused(mut self) -> Option<EventLoop> {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Resume(reply)) => {
                        self.resume();
                        let _ = reply.send(());
                        return Some(self);
                    }
                    Some(Command::Pause(reply)) => drop(reply.send(())),
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        return None;
                    }
                    Some(command) => self.on_command(command),
                    None => return None,
                },
                // The node still hears of the connections the pause closed.
                permit = self.outbox.control.clone().reserve_owned(), if !self.backlog.is_empty() => {
                    self.deliver_control(permit);
                }
            }
        }
    }

    fn resume(&mut self) {
        self.paused = false;
        for (pinned, requested) in std::mem::take(&mut self.relisten) {
            // The old port may have been taken meanwhile: any port will do.
            if self.listen(pinned.clone()).is_err() {
                if let Err(e) = self.listen(requested) {
                    tracing::warn!("cannot listen again on {pinned}: {e}");
                }
            }
        }
        let relays: HashSet<PeerId> = self.circuits_waiting.keys().copied().collect();
        for relay in relays {
            self.listen_via(relay);
        }
        for addr in self.config.bootstrap.clone() {
            if let Err(e) = self.dial(addr) {
                tracing::debug!("bootstrap after resume: {e}");
            }
        }
        tracing::info!("network resumed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_pinned_to_the_port_it_was_given() {
        let l = Listener {
            requested: "/ip4/0.0.0.0/tcp/0".parse().unwrap(),
            bound: Some("/ip4/127.0.0.1/tcp/4242".parse().unwrap()),
        };
        assert_eq!(l.pinned(), "/ip4/0.0.0.0/tcp/4242".parse().unwrap());
        let quic = Listener {
            requested: "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap(),
            bound: Some("/ip4/127.0.0.1/udp/5353/quic-v1".parse().unwrap()),
        };
        assert_eq!(
            quic.pinned(),
            "/ip4/127.0.0.1/udp/5353/quic-v1".parse().unwrap()
        );
        let fixed = Listener {
            requested: "/ip4/127.0.0.1/tcp/7000".parse().unwrap(),
            bound: None,
        };
        assert_eq!(fixed.pinned(), fixed.requested);
    }
}
