//! Ratings: what one party of a finished trade says about the other.
//!
//! A [`Rating`] is signed by its rater and travels together with the
//! contract both parties signed ([`RatedTrade`]): anyone can check that the
//! rater and the rated peer really made that trade, so nobody can rate
//! someone they never traded with. A contract gives at most one rating per
//! side; stores keep the first they see (see [`RatedTrade::key`]).
//!
//! A rating says what the rater claims: the outcome and a score. Nothing in
//! it proves the claim, which is why [`crate::reputation`] weighs each
//! rating by who wrote it.

use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::limits::WireLimits;
use crate::message::{Body, Signed, SignedContract, Timestamp, TradeId};
use crate::money::Market;
use crate::outcome::Failure;
use crate::trade::{Phase, Side};
use crate::validate::{check_created_at, check_text, Check, ValidationError};

/// Lowest score.
pub const MIN_SCORE: u8 = 1;
/// Highest score.
pub const MAX_SCORE: u8 = 5;
/// Longest comment, in bytes: a line, not a review.
pub const MAX_COMMENT_BYTES: usize = 280;

/// How the trade ended, as the rater saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RatedOutcome {
    /// Both sides confirmed receipt.
    Completed,
    /// Withdrawn before anyone paid, or by both.
    Cancelled,
    /// Nobody paid by the payment deadline.
    Expired,
    /// Someone paid, and the trade did not complete by its deadlines.
    Failed(Failure),
}

impl RatedOutcome {
    /// The outcome of a trade in `phase` (with `failure` if it failed);
    /// `None` while the trade is still open.
    pub fn of(phase: Phase, failure: Option<Failure>) -> Option<RatedOutcome> {
        match phase {
            Phase::Completed => Some(RatedOutcome::Completed),
            Phase::Cancelled => Some(RatedOutcome::Cancelled),
            Phase::Expired => Some(RatedOutcome::Expired),
            Phase::Failed => failure.map(RatedOutcome::Failed),
            Phase::Agreed | Phase::Disputed => None,
        }
    }
}

impl std::fmt::Display for RatedOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RatedOutcome::Completed => f.write_str("completed"),
            RatedOutcome::Cancelled => f.write_str("cancelled"),
            RatedOutcome::Expired => f.write_str("expired"),
            RatedOutcome::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// One party's rating of the other, after their trade ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The trade (the id of the contract it travels with).
    pub trade_id: TradeId,
    /// The party that rates.
    pub rater: PublicKey,
    /// How the trade ended.
    pub outcome: RatedOutcome,
    /// 1 (worst) to 5 (best).
    pub score: u8,
    /// A short comment, possibly empty.
    pub comment: String,
    /// When the rater signed it.
    pub created_at: Timestamp,
}

impl Body for Rating {
    const DOMAIN: &'static str = "peerfx/rating/v1";
    fn author(&self) -> &PublicKey {
        &self.rater
    }
}

/// A rating and the contract that entitles its rater to give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedTrade {
    /// The contract, signed by both parties.
    pub contract: SignedContract,
    /// The rating, signed by one of them.
    pub rating: Signed<Rating>,
}

/// Why a rating is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    /// A field or the rating's signature fails validation.
    #[error("rating: {0}")]
    Invalid(#[from] ValidationError),
    /// The contract's signatures do not verify.
    #[error("the contract it rates is not signed by both parties")]
    BadContract,
    /// The rating names another trade than the contract's.
    #[error("the rating is for another trade than its contract")]
    WrongTrade,
    /// The rater is not a party to the contract.
    #[error("the rater is not a party to the trade")]
    NotAParty,
    /// The score is out of range.
    #[error("score {0} is outside {MIN_SCORE}..={MAX_SCORE}")]
    Score(u8),
    /// Dated before the trade it rates.
    #[error("the rating is dated before its trade")]
    BeforeTrade,
}

/// A rating that passed [`RatedTrade::verify`], with what follows from its
/// contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRating {
    /// The checked rating and contract.
    pub rated_trade: RatedTrade,
    /// The party that was rated.
    pub rated: PublicKey,
    /// The rater's side in the trade.
    pub rater_side: Side,
    /// The trade's market.
    pub market: Market,
}

impl VerifiedRating {
    /// The rating.
    pub fn rating(&self) -> &Rating {
        &self.rated_trade.rating.body
    }
}

impl RatedTrade {
    /// What identifies it in a store: one rating per trade and rater.
    pub fn key(&self) -> (TradeId, PublicKey) {
        (self.rating.body.trade_id, self.rating.body.rater)
    }

    /// Checks the rating's fields and signature, both signatures on the
    /// contract, and that the rater is a party to it, at `now`.
    pub fn verify(
        self,
        now: Timestamp,
        limits: &WireLimits,
    ) -> Result<VerifiedRating, RatingError> {
        let r = &self.rating.body;
        if !(MIN_SCORE..=MAX_SCORE).contains(&r.score) {
            return Err(RatingError::Score(r.score));
        }
        check_text(
            "comment",
            &r.comment,
            MAX_COMMENT_BYTES.min(limits.max_text_bytes),
        )?;
        check_created_at(r.created_at, now, limits)?;
        self.rating.verify().map_err(ValidationError::from)?;
        let c = &self.contract.contract.body;
        c.check(now, limits)?;
        self.contract
            .verify()
            .map_err(|_| RatingError::BadContract)?;
        if r.trade_id != self.contract.trade_id() {
            return Err(RatingError::WrongTrade);
        }
        if r.created_at < c.created_at {
            return Err(RatingError::BeforeTrade);
        }
        let (rater_side, rated) = if r.rater == c.maker {
            (Side::Maker, c.taker)
        } else if r.rater == c.taker {
            (Side::Taker, c.maker)
        } else {
            return Err(RatingError::NotAParty);
        };
        let market = Market::new(c.give, c.want).map_err(|_| RatingError::BadContract)?;
        Ok(VerifiedRating {
            rated_trade: self,
            rated,
            rater_side,
            market,
        })
    }
}
