//! Reputation: a profile of any peer, computed by each node for itself from
//! the ratings it holds.
//!
//! There is no global score. Each node weighs each rating by who wrote it,
//! from its own point of view (personal trust):
//!
//! | rater | weight |
//! |---|---|
//! | this node itself | 3 |
//! | a peer this node completed a trade with | 1.5 |
//! | anyone else, by its history | 0.02 to 1 |
//!
//! A stranger's weight grows with its *maturity*: how long this node has
//! known it (full after [`MATURE_AFTER_SECS`]) times how many distinct
//! peers rated it (full at [`MATURE_COUNTERPARTIES`]). "Known since" is when
//! this node first received a rating by or about the key, never a date the
//! key claims, so it cannot be forged. All strangers that are not yet mature
//! count together for at most one mature stranger: a swarm of fresh keys is
//! worth one voice, however large it is.
//!
//! The score is a weighted mean of the scores, pulled towards the neutral 3
//! by a prior worth two mature strangers, so a peer with little behind it
//! stays near 3 whatever it is rated. Everything is integer arithmetic
//! (weights in thousandths, scores in hundredths): two nodes with the same
//! ratings and point of view compute the same profile.
//!
//! **Attacks.** (1) Twenty fresh keys rating each other five stars: each
//! gets at most one immature voice (0.02 each, capped at 1 together), so
//! its score stays below (1 x 5 + 2 x 3) / 3 = 3.67; an honest trader with
//! five mature counterparties who gave it 4.6 on average scores 4.14. (2)
//! The same clique, patient for a month and rating each other: it matures,
//! and from a stranger's point of view it ranks like real traders. What it
//! cannot buy is the weight of the viewer's own counterparties (1.5 each)
//! and the viewer's own ratings (3), which outweigh it for anyone who has
//! traded; a newcomer should prefer makers its own counterparties rated.
//! (3) One key rating a victim badly: it needs a contract the victim signed,
//! so only a real counterparty can, once per trade. (4) Flooding ratings:
//! stores bound ratings per rater and per rated peer.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::message::{Timestamp, TradeId};
use crate::rating::RatedOutcome;
use crate::trade::Side;

/// Time after which a stranger counts fully (as far as its age goes).
pub const MATURE_AFTER_SECS: u64 = 30 * 86_400;
/// Distinct peers that must have rated a stranger for it to count fully.
pub const MATURE_COUNTERPARTIES: u64 = 5;
/// Weight of this node's own ratings, in thousandths.
pub const OWN_WEIGHT: u64 = 3_000;
/// Weight of a peer this node completed a trade with.
pub const COUNTERPARTY_WEIGHT: u64 = 1_500;
/// Weight of a fully mature stranger.
pub const STRANGER_WEIGHT: u64 = 1_000;
/// Least weight of any stranger: it counts little, not nothing.
pub const MIN_WEIGHT: u64 = 20;
/// The prior's weight, at the neutral score.
pub const PRIOR_WEIGHT: u64 = 2_000;
/// The neutral score, in hundredths.
pub const NEUTRAL_SCORE: u64 = 300;
/// Weight at which a rater's "completed" counts as vouched for (a mature
/// stranger, a counterparty, or this node).
pub const VOUCHED_WEIGHT: u64 = 500;

/// One stored rating, as the profile needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatingFact {
    /// Who rated.
    pub rater: PublicKey,
    /// Who was rated.
    pub rated: PublicKey,
    /// The trade.
    pub trade_id: TradeId,
    /// The rater's side in it.
    pub rater_side: Side,
    /// How it ended, by the rater.
    pub outcome: RatedOutcome,
    /// 1..=5.
    pub score: u8,
    /// When this node first stored it, by its own clock.
    pub received_at: Timestamp,
}

/// Whose eyes: this node, the peers it completed trades with, and its clock.
#[derive(Clone, Debug)]
pub struct Viewpoint {
    /// This node's key.
    pub me: PublicKey,
    /// Peers this node completed at least one trade with.
    pub counterparties: HashSet<PublicKey>,
    /// Now.
    pub now: Timestamp,
}

/// What this node thinks of a peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Completed trades, rated by raters this node trusts at least
    /// [`VOUCHED_WEIGHT`].
    pub completed: u32,
    /// Completed trades rated only by raters without history.
    pub completed_unvouched: u32,
    /// Distinct peers that rated it.
    pub counterparties: u32,
    /// Trades that failed through its fault, by its raters.
    pub failures: u32,
    /// Ratings about it.
    pub ratings: u32,
    /// When this node first and last received a rating by or about it.
    pub first_seen: Option<Timestamp>,
    /// See `first_seen`.
    pub last_seen: Option<Timestamp>,
    /// Weighted score in hundredths (100..=500); `None` with no ratings.
    pub score: Option<u32>,
    /// The weight behind the score, in thousandths of a mature stranger.
    pub weight: u64,
}

/// The ratings a node holds, indexed for profiles: by rated peer, the
/// distinct raters of each peer, and when each key was first and last seen.
/// Kept up to date one rating at a time ([`RatingIndex::insert`]), so a
/// profile costs the ratings of that peer, not a pass over all of them.
#[derive(Clone, Debug, Default)]
pub struct RatingIndex {
    facts: Vec<RatingFact>,
    about: HashMap<PublicKey, Vec<usize>>,
    raters_of: HashMap<PublicKey, HashSet<PublicKey>>,
    seen: HashMap<PublicKey, (Timestamp, Timestamp)>,
}

impl RatingIndex {
    /// An index of `facts` (each trade and rater at most once, as stores
    /// keep them).
    pub fn from_facts(facts: impl IntoIterator<Item = RatingFact>) -> RatingIndex {
        let mut index = RatingIndex::default();
        for f in facts {
            index.insert(f);
        }
        index
    }

    /// Adds one rating. The caller keeps out a second rating of the same
    /// trade by the same rater.
    pub fn insert(&mut self, f: RatingFact) {
        let i = self.facts.len();
        self.about.entry(f.rated).or_default().push(i);
        self.raters_of.entry(f.rated).or_default().insert(f.rater);
        for key in [f.rater, f.rated] {
            let e = self
                .seen
                .entry(key)
                .or_insert((f.received_at, f.received_at));
            e.0 = e.0.min(f.received_at);
            e.1 = e.1.max(f.received_at);
        }
        self.facts.push(f);
    }

    /// Ratings held.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// How much a stranger's rating counts at `now`, in thousandths (before
    /// the cap).
    fn maturity(&self, key: &PublicKey, now: Timestamp) -> u64 {
        let age = self.seen.get(key).map_or(0, |(first, _)| now.since(*first));
        let history = self.raters_of.get(key).map_or(0, |r| r.len() as u64);
        let by_age = age.min(MATURE_AFTER_SECS) * 1_000 / MATURE_AFTER_SECS;
        let by_history = history.min(MATURE_COUNTERPARTIES) * 1_000 / MATURE_COUNTERPARTIES;
        by_age * by_history / 1_000
    }

    /// The weight of `rater`'s word from `view`, and whether it is a
    /// stranger that is not yet mature (whose weights are capped together).
    fn weight(&self, rater: &PublicKey, view: &Viewpoint) -> (u64, bool) {
        if *rater == view.me {
            return (OWN_WEIGHT, false);
        }
        if view.counterparties.contains(rater) {
            return (COUNTERPARTY_WEIGHT, false);
        }
        let m = self.maturity(rater, view.now);
        let w = (STRANGER_WEIGHT * m / 1_000).max(MIN_WEIGHT);
        (w, m < 1_000)
    }

    /// The profile of `peer` from `view`.
    pub fn profile(&self, peer: &PublicKey, view: &Viewpoint) -> Profile {
        let mut p = Profile::default();
        if let Some((first, last)) = self.seen.get(peer) {
            (p.first_seen, p.last_seen) = (Some(*first), Some(*last));
        }
        let Some(indexes) = self.about.get(peer) else {
            return p;
        };
        let (mut weighted, mut weight, mut immature) = (0u64, 0u64, 0u64);
        let mut immature_weighted = 0u64;
        for f in indexes.iter().filter_map(|i| self.facts.get(*i)) {
            p.ratings += 1;
            let (w, capped) = self.weight(&f.rater, view);
            let score = u64::from(f.score) * 100;
            if capped {
                immature += w;
                immature_weighted += w * score;
            } else {
                weight += w;
                weighted += w * score;
            }
            match f.outcome {
                RatedOutcome::Completed if w >= VOUCHED_WEIGHT => p.completed += 1,
                RatedOutcome::Completed => p.completed_unvouched += 1,
                RatedOutcome::Failed(why) if why.at_fault == Some(f.rater_side.other()) => {
                    p.failures += 1
                }
                _ => {}
            }
        }
        // All immature strangers together count as one mature stranger at most.
        if immature > STRANGER_WEIGHT {
            immature_weighted = immature_weighted * STRANGER_WEIGHT / immature;
            immature = STRANGER_WEIGHT;
        }
        weight += immature;
        weighted += immature_weighted;
        p.counterparties = self.raters_of.get(peer).map_or(0, |r| r.len() as u32);
        p.weight = weight;
        let total = weighted + PRIOR_WEIGHT * NEUTRAL_SCORE;
        p.score = Some((total / (weight + PRIOR_WEIGHT)) as u32);
        p
    }
}

/// A score in hundredths as people read it: 414 → "4.14".
pub fn score_text(hundredths: u32) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// A score as people write it ("4", "4.2", "4.25") that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("score {0:?}: use a number from 1 to 5 with at most two decimals, e.g. 4.5")]
pub struct ScoreError(pub String);

/// Parses a score as people write it into hundredths (4.2 → 420), exactly.
pub fn parse_score(text: &str) -> Result<u32, ScoreError> {
    let err = || ScoreError(text.to_string());
    let d: rust_decimal::Decimal = text.trim().parse().map_err(|_| err())?;
    let hundredths = d * rust_decimal::Decimal::from(100u32);
    if hundredths.fract() != rust_decimal::Decimal::ZERO {
        return Err(err());
    }
    let h: u32 = hundredths.trunc().try_into().map_err(|_| err())?;
    if !(100..=500).contains(&h) {
        return Err(err());
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_exactly_or_not_at_all() {
        assert_eq!(parse_score("4"), Ok(400));
        assert_eq!(parse_score("4.25"), Ok(425));
        assert_eq!(parse_score(" 1.0 "), Ok(100));
        for bad in ["0.99", "5.01", "4.255", "x", "", "-4", "1e2"] {
            assert!(parse_score(bad).is_err(), "{bad}");
        }
    }
}
