//! Why a maker refuses a take: the reason travels to the taker inside a
//! signed [`crate::message::TakeReject`], so it is part of the wire format.

use serde::{Deserialize, Serialize};

use crate::money::{Amount, Rate};

/// Why a maker refused a take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RejectReason {
    /// The maker does not have this offer (never had, or it is gone).
    #[error("unknown offer")]
    UnknownOffer,
    /// The offer was cancelled or completely filled.
    #[error("offer is closed")]
    Closed,
    /// The offer has expired.
    #[error("offer has expired")]
    Expired,
    /// Less is left than was asked for.
    #[error("insufficient remaining: {available} minor units available")]
    InsufficientRemaining {
        /// What can still be taken now.
        available: Amount,
    },
    /// The amount is outside the offer's min..=max.
    #[error("amount out of range: must be between {min} and {max} minor units")]
    AmountOutOfRange {
        /// Offer minimum.
        min: Amount,
        /// Offer maximum.
        max: Amount,
    },
    /// The counter rate is outside the maker's tolerance.
    #[error("rate refused: the maker's rate is {maker_rate}")]
    RateRefused {
        /// The rate the maker will trade at.
        maker_rate: Rate,
    },
    /// The payment method is not one the offer lists.
    #[error("payment method not offered")]
    PaymentMethodNotOffered,
    /// The maker blocked the taker.
    #[error("blocked by the maker")]
    Blocked,
    /// A node does not take its own offer.
    #[error("cannot take your own offer")]
    SelfTake,
    /// The request itself is invalid.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Other takes hold the amount until their takers countersign (seconds).
    #[error("reserved by other takes: retry in {retry_after_secs} s")]
    Reserved {
        /// When the earliest of them ends, at the latest.
        retry_after_secs: u64,
    },
    /// This taker has too many takes under way, takes too often, or left a
    /// take uncountersigned and must wait.
    #[error("too many takes from you: retry in {retry_after_secs} s")]
    Throttled {
        /// How long to wait.
        retry_after_secs: u64,
    },
    /// The maker takes only peers with a reputation, from its own point of
    /// view, and the taker's falls short.
    #[error("{}", reputation_refusal(*min_trades, *min_score, *trades, *score))]
    Reputation {
        /// Completed trades the maker asks for.
        min_trades: u32,
        /// The score it asks for, in hundredths.
        min_score: Option<u32>,
        /// The taker's completed trades, as the maker counts them.
        trades: u32,
        /// The taker's score, as the maker computes it.
        score: Option<u32>,
    },
}

fn reputation_refusal(
    min_trades: u32,
    min_score: Option<u32>,
    trades: u32,
    score: Option<u32>,
) -> String {
    let hundredths = crate::reputation::score_text;
    let mut asks = format!("at least {min_trades} completed trades");
    if let Some(min) = min_score {
        asks.push_str(&format!(" and a score of {}", hundredths(min)));
    }
    let has = match score {
        Some(s) => format!("{trades} and {}", hundredths(s)),
        None => format!("{trades} and no score"),
    };
    format!("this maker takes only peers with {asks}; it counts {has} for you")
}
