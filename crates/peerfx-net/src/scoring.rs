//! Gossipsub peer scoring, derived from the behaviour we want to punish
//! rather than picked (Lighthouse's `gossipsub_scoring_parameters.rs` is the
//! model).
//!
//! What we want, in [`ScoringConfig`]:
//!
//! - an invalid message is remembered for `invalid_window` (its counter
//!   decays to 1 % over that time);
//! - a peer that sends one invalid message every `graylist_period`, for as
//!   long as it likes, ends up graylisted (ignored, then disconnected and
//!   banned), however much it also forwards honestly;
//! - one invalid message now and then (a clock off by a little, a bug) costs
//!   an honest peer nothing it would notice;
//! - bad sync pages and abuse of the trade protocol, which gossipsub cannot
//!   see, count exactly as an invalid gossip message (the application score,
//!   P5, with the same weight and the same window);
//! - a banned peer is let back once its score would be above the gossip
//!   threshold again.
//!
//! Offer topics are quiet (a few messages an hour), so the mesh-delivery
//! penalties (P3, P3b), which punish peers for not forwarding enough, are
//! off: they would punish honest peers for silence. IP colocation (P6) is
//! off too: phones behind one carrier NAT, or many peers behind one relay,
//! share an address.
//!
//! The derivation: with `d` the decay per `decay_interval` and one invalid
//! message every `T`, the counter just before each new message settles at
//! `c = d^k / (1 - d^k)` with `k = T / decay_interval`; P4 is `w · c²`. We
//! choose `w` so that `w · c²` plus the most a peer can earn positively on a
//! topic is [`GRAYLIST_MARGIN`] times the graylist threshold: the counter
//! only approaches `c`, so with no margin it would never quite get there.

use std::time::Duration;

use libp2p::gossipsub;

/// The score thresholds. Gossip below `gossip` stops being exchanged with a
/// peer, below `publish` our messages stop going to it, below `graylist`
/// everything from it is ignored (and we disconnect and ban it).
pub const THRESHOLDS: gossipsub::PeerScoreThresholds = gossipsub::PeerScoreThresholds {
    gossip_threshold: -10.0,
    publish_threshold: -50.0,
    graylist_threshold: -80.0,
    accept_px_threshold: 10.0,
    opportunistic_graft_threshold: 5.0,
};

/// How far past the graylist threshold the settled score of a peer sending
/// invalid messages at the graylisting rate lies.
const GRAYLIST_MARGIN: f64 = 1.25;

/// A counter below this counts as zero (gossipsub's own default).
const DECAY_TO_ZERO: f64 = 0.01;

/// The windows and rates the scores are derived from.
#[derive(Clone, Debug)]
pub struct ScoringConfig {
    /// How often counters decay. Gossipsub refuses less than a second.
    pub decay_interval: Duration,
    /// How long an invalid message (or any misbehaviour) is remembered: its
    /// counter decays to 1 % over this time.
    pub invalid_window: Duration,
    /// A peer that sends one invalid message this often is graylisted.
    pub graylist_period: Duration,
}

impl ScoringConfig {
    /// Default decay interval: a second.
    pub const DEFAULT_DECAY_INTERVAL: Duration = Duration::from_secs(1);
    /// Default memory of misbehaviour: an hour.
    pub const DEFAULT_INVALID_WINDOW: Duration = Duration::from_secs(3600);
    /// Default graylisting rate: one invalid message a minute.
    pub const DEFAULT_GRAYLIST_PERIOD: Duration = Duration::from_secs(60);
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            decay_interval: Self::DEFAULT_DECAY_INTERVAL,
            invalid_window: Self::DEFAULT_INVALID_WINDOW,
            graylist_period: Self::DEFAULT_GRAYLIST_PERIOD,
        }
    }
}

/// First-message deliveries: a small reward for forwarding news first,
/// capped, fading over a minute.
const FIRST_DELIVERY_WEIGHT: f64 = 0.5;
const FIRST_DELIVERY_CAP: f64 = 20.0;
/// Time in mesh: a point per 100 s in a mesh, capped at one.
const TIME_IN_MESH_WEIGHT: f64 = 0.01;
const TIME_IN_MESH_CAP: f64 = 100.0;

/// The derived parameters.
#[derive(Clone, Debug)]
pub struct Scoring {
    /// The inputs.
    pub config: ScoringConfig,
    /// Decay of the invalid-message and misbehaviour counters per interval.
    pub invalid_decay: f64,
    /// P4's (and P5's) weight: what one invalid message's squared counter
    /// costs.
    pub invalid_weight: f64,
    /// How long a graylisted peer stays banned.
    pub ban: Duration,
}

/// `base` to the power `exponent`, as gossipsub's own decay helpers do it.
fn decay_for(window: Duration, interval: Duration) -> f64 {
    let ticks = window.as_secs_f64() / interval.as_secs_f64().max(f64::EPSILON);
    DECAY_TO_ZERO.powf(1.0 / ticks.max(1.0))
}

impl Scoring {
    /// Derives every parameter from `config`.
    pub fn new(config: ScoringConfig) -> Scoring {
        let interval = config.decay_interval;
        let d = decay_for(config.invalid_window, interval);
        let k = config.graylist_period.as_secs_f64() / interval.as_secs_f64().max(f64::EPSILON);
        let dk = d.powf(k);
        // The counter just before each new invalid message, once settled.
        let settled = dk / (1.0 - dk).max(f64::EPSILON);
        let max_positive =
            TIME_IN_MESH_WEIGHT * TIME_IN_MESH_CAP + FIRST_DELIVERY_WEIGHT * FIRST_DELIVERY_CAP;
        let invalid_weight = (GRAYLIST_MARGIN * THRESHOLDS.graylist_threshold - max_positive)
            / settled.powi(2).max(1.0);
        // Banned until the counter has decayed from the graylist level to
        // where one message more would not reach the gossip threshold.
        let at_graylist = (THRESHOLDS.graylist_threshold / invalid_weight).sqrt();
        let forgiven = (THRESHOLDS.gossip_threshold / invalid_weight).sqrt();
        let ticks = (forgiven / at_graylist).ln() / d.ln();
        let ban = interval.mul_f64(ticks.max(1.0));
        Scoring {
            config,
            invalid_decay: d,
            invalid_weight,
            ban,
        }
    }

    /// Peer-wide parameters.
    pub fn peer_params(&self) -> gossipsub::PeerScoreParams {
        gossipsub::PeerScoreParams {
            topic_score_cap: TIME_IN_MESH_WEIGHT * TIME_IN_MESH_CAP
                + FIRST_DELIVERY_WEIGHT * FIRST_DELIVERY_CAP,
            // The application's penalty is a squared counter like P4's
            // ([`Scoring::app_score`]), so the same weight makes one bad sync
            // page cost one invalid message.
            app_specific_weight: -self.invalid_weight,
            ip_colocation_factor_weight: 0.0,
            decay_interval: self.config.decay_interval,
            decay_to_zero: DECAY_TO_ZERO,
            retain_score: self.config.invalid_window,
            ..Default::default()
        }
    }

    /// Parameters of a market topic.
    pub fn topic_params(&self) -> gossipsub::TopicScoreParams {
        let interval = self.config.decay_interval;
        gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: TIME_IN_MESH_WEIGHT,
            time_in_mesh_quantum: Duration::from_secs(1),
            time_in_mesh_cap: TIME_IN_MESH_CAP,
            first_message_deliveries_weight: FIRST_DELIVERY_WEIGHT,
            first_message_deliveries_decay: decay_for(Duration::from_secs(60), interval),
            first_message_deliveries_cap: FIRST_DELIVERY_CAP,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: self.invalid_weight,
            invalid_message_deliveries_decay: self.invalid_decay,
            ..Default::default()
        }
    }

    /// The application score of a misbehaviour counter: negative and squared
    /// like P4, so that [`Scoring::peer_params`]'s weight applies alike.
    pub fn app_score(counter: f64) -> f64 {
        -(counter * counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a peer's topic score under gossipsub's discrete decay: one
    /// invalid message every `period` intervals, for `intervals`; returns the
    /// lowest and the final score (positive contributions at their cap).
    fn simulate(s: &Scoring, period: u32, intervals: u32) -> Vec<f64> {
        let max_positive =
            TIME_IN_MESH_WEIGHT * TIME_IN_MESH_CAP + FIRST_DELIVERY_WEIGHT * FIRST_DELIVERY_CAP;
        let mut c = 0.0f64;
        let mut scores = Vec::new();
        for t in 0..intervals {
            if t % period == 0 {
                c += 1.0;
            }
            scores.push(max_positive + s.invalid_weight * c * c);
            c *= s.invalid_decay;
            if c < DECAY_TO_ZERO {
                c = 0.0;
            }
        }
        scores
    }

    #[test]
    fn one_invalid_message_a_minute_is_graylisted_and_stays_so() {
        let s = Scoring::new(ScoringConfig::default());
        let scores = simulate(&s, 60, 6 * 3600);
        // Below the graylist threshold for good within the hour.
        let last_above = scores
            .iter()
            .rposition(|&x| x > THRESHOLDS.graylist_threshold)
            .unwrap_or(0);
        assert!(
            last_above < 3600,
            "still above the graylist at {last_above} s"
        );
    }

    #[test]
    fn an_occasional_invalid_message_costs_little() {
        let s = Scoring::new(ScoringConfig::default());
        // One invalid message an hour never even reaches the gossip threshold.
        let scores = simulate(&s, 3600, 6 * 3600);
        assert!(scores.iter().all(|&x| x > THRESHOLDS.gossip_threshold));
        // One every ten minutes never reaches the graylist.
        let scores = simulate(&s, 600, 6 * 3600);
        assert!(scores.iter().all(|&x| x > THRESHOLDS.graylist_threshold));
    }

    #[test]
    fn the_ban_lasts_until_the_score_recovers() {
        let s = Scoring::new(ScoringConfig::default());
        assert!(s.ban > Duration::from_secs(60) && s.ban < s.config.invalid_window);
        // Scaled windows scale the ban.
        let fast = Scoring::new(ScoringConfig {
            decay_interval: Duration::from_secs(1),
            invalid_window: Duration::from_secs(60),
            graylist_period: Duration::from_secs(1),
        });
        assert!(fast.ban < Duration::from_secs(60));
        assert!(s.peer_params().validate().is_ok());
        assert!(s.topic_params().validate().is_ok());
        assert!(fast.topic_params().validate().is_ok());
    }
}
