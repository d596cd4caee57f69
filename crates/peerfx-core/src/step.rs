//! Why a trade message cannot be applied. A [`StepError`] travels to the
//! peer that sent the message, so it is part of the wire format.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::trade::Phase;

/// A step a party takes (everything but chat), for errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// "I have sent my side."
    Paid,
    /// "I have received the other side."
    Received,
    /// "I withdraw."
    Cancel,
    /// "Something is wrong."
    Dispute,
    /// "You did not pay: I close."
    Close,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepKind::Paid => "paid",
            StepKind::Received => "received",
            StepKind::Cancel => "cancel",
            StepKind::Dispute => "disputed",
            StepKind::Close => "closed",
        })
    }
}

/// Why a trade message cannot be applied. Travels to the peer that sent the
/// message, so it is part of the wire format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StepError {
    /// Author is neither maker nor taker.
    #[error("the author is not a party to this trade")]
    NotAParty,
    /// Wrong trade id.
    #[error("message is for another trade")]
    WrongTrade,
    /// seq already used: a replay (or a conflicting message).
    #[error("seq {seq} already used (next is {expected})")]
    Replay {
        /// Seq of the message.
        seq: u32,
        /// Expected seq.
        expected: u32,
    },
    /// seq skips ahead: an earlier message is missing.
    #[error("seq {seq} skips ahead (next is {expected})")]
    Gap {
        /// Seq of the message.
        seq: u32,
        /// Expected seq.
        expected: u32,
    },
    /// The trade is over.
    #[error("the trade is {0}")]
    Final(Phase),
    /// The step was already taken by this party.
    #[error("already marked {0}")]
    Repeated(StepKind),
    /// The author has used its message budget for this trade
    /// ([`WireLimits::max_trade_messages`]; chat lines stop
    /// [`WireLimits::STEP_RESERVE`] earlier, so steps always fit).
    #[error("{what} limit reached: at most {max} per party in one trade")]
    TooManyMessages {
        /// "chat lines" or "messages".
        what: BudgetKind,
        /// The limit.
        max: u32,
    },
    /// Dated before the contract it belongs to was made.
    #[error("dated {created_at}, before the contract ({contract})")]
    BeforeContract {
        /// The message's time (unix seconds).
        created_at: u64,
        /// The contract's time.
        contract: u64,
    },
    /// Dated further back than the clock skew allows, to before a deadline
    /// that had passed when it arrived.
    #[error(
        "dated {created_at}, more than the clock skew before it arrived ({received_at}): \
         the trade was {phase} by then"
    )]
    Backdated {
        /// The message's time (unix seconds).
        created_at: u64,
        /// When it arrived, by the receiver's clock.
        received_at: u64,
        /// What the trade was at the earliest time the message may claim.
        phase: Phase,
    },
    /// A cancel that crossed the receiver's `Paid`: the receiver marked paid
    /// (its message `paid_seq`) and the canceller had not acknowledged that
    /// yet, so it cancelled without knowing. Refused, so that both sides
    /// keep the payment and neither holds the trade cancelled alone.
    #[error("your cancel crossed the counterparty's payment (its message {paid_seq}): the trade goes on")]
    CrossedPaid {
        /// The seq of the receiver's `Paid`.
        paid_seq: u32,
    },
    /// A close before the payment deadline.
    #[error("the payment deadline (unix time {deadline}) has not passed: the trade cannot be closed yet")]
    CloseTooEarly {
        /// The payment deadline (unix seconds).
        deadline: u64,
    },
    /// A close by a side that did not pay, or against a side that did.
    #[error("only a side that paid may close, and only while the other has not paid")]
    NotClosable,
    /// A close that claims more of the other side's messages than exist.
    #[error("the close claims {seen} messages of the other side; it sent {sent}")]
    SeenAhead {
        /// What the close claims.
        seen: u32,
        /// What the other side sent.
        sent: u32,
    },
}

/// Which message budget ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BudgetKind {
    /// Chat lines.
    Chat,
    /// Messages of any kind.
    Messages,
}

impl fmt::Display for BudgetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BudgetKind::Chat => "chat line",
            BudgetKind::Messages => "message",
        })
    }
}
