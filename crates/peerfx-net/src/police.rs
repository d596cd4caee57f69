//! What the event loop does about misbehaving peers, beyond gossipsub's own
//! scores (see [`crate::scoring`] for how those are derived):
//!
//! - misbehaviour the application reports ([`crate::Misbehaviour`]) goes into
//!   a counter per peer, decayed like gossipsub's invalid-message counter and
//!   handed to gossipsub as the peer's application score;
//! - a connected peer whose score falls to the graylist threshold is
//!   disconnected and banned (the block list refuses its connections) for
//!   [`crate::scoring::Scoring::ban`], long enough for its score to recover.
//!   Gossipsub alone would only ignore it, and keep its connection.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use libp2p::{PeerId, Swarm};

use crate::behaviour::Behaviour;
use crate::scoring::{Scoring, THRESHOLDS};

/// Peers with a misbehaviour counter, at most. Beyond it the one with the
/// lowest counter is forgotten: a swarm of fresh identities cannot grow the
/// table.
const MAX_PENALIZED: usize = 10_000;

/// A counter below this counts as zero.
const FORGOTTEN_BELOW: f64 = 0.01;

#[derive(Default)]
pub(crate) struct Police {
    penalties: HashMap<PeerId, f64>,
    /// Peers banned for their score, until when.
    bans: HashMap<PeerId, Instant>,
    /// Peers the user blocked: never unbanned by a timer.
    pub(crate) user_blocked: HashSet<PeerId>,
    /// Peers banned so far (for metrics and tests).
    pub(crate) banned_total: u64,
}

impl Police {
    /// Counts one misbehaviour of `peer`.
    pub(crate) fn penalize(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) {
        let counter = self.penalties.entry(peer).or_default();
        *counter += 1.0;
        let score = Scoring::app_score(*counter);
        swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, score);
        if self.penalties.len() > MAX_PENALIZED {
            if let Some(least) = self
                .penalties
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(p, _)| *p)
            {
                self.penalties.remove(&least);
            }
        }
    }

    /// Once per decay interval: decays the counters, bans the graylisted,
    /// lets the banned whose time is up back in.
    pub(crate) fn tick(&mut self, swarm: &mut Swarm<Behaviour>, scoring: &Scoring) {
        let gossipsub = &mut swarm.behaviour_mut().gossipsub;
        self.penalties.retain(|peer, counter| {
            *counter *= scoring.invalid_decay;
            let keep = *counter >= FORGOTTEN_BELOW;
            let score = if keep {
                Scoring::app_score(*counter)
            } else {
                0.0
            };
            gossipsub.set_application_score(peer, score);
            keep
        });
        let now = Instant::now();
        let graylisted: Vec<PeerId> = swarm
            .connected_peers()
            .filter(|p| !self.bans.contains_key(p))
            .filter(|p| {
                swarm
                    .behaviour()
                    .gossipsub
                    .peer_score(p)
                    .is_some_and(|s| s <= THRESHOLDS.graylist_threshold)
            })
            .copied()
            .collect();
        for peer in graylisted {
            tracing::info!(%peer, "graylisted: disconnecting and banning it for {:?}", scoring.ban);
            // Blocking closes its connections and refuses new ones.
            swarm.behaviour_mut().blocked.block_peer(peer);
            self.bans.insert(peer, now + scoring.ban);
            self.banned_total += 1;
        }
        let user_blocked = &self.user_blocked;
        let blocked = &mut swarm.behaviour_mut().blocked;
        self.bans.retain(|peer, until| {
            if *until > now {
                return true;
            }
            if !user_blocked.contains(peer) {
                blocked.unblock_peer(*peer);
            }
            false
        });
    }

    /// Peers banned now.
    pub(crate) fn banned(&self) -> usize {
        self.bans.len()
    }
}
