//! How a trade that was not completed ends, and whose fault that was.
//!
//! A contract has two deadlines (see [`crate::message::Contract`]): by the
//! payment deadline both sides pay, by the settle deadline both confirm
//! receipt. peerfx holds no money, so it cannot make anyone pay; what it can
//! do is end every trade, and say from the signed log alone who failed whom.
//! That is what a counterparty, a mediator and the reputation of both parties
//! read. The rules, all from the log:
//!
//! | at | what the log shows | outcome |
//! |---|---|---|
//! | payment deadline | nobody paid | expired, nobody's fault |
//! | payment deadline | one side paid, the other did not | the payer may close: failed, **unpaid** by the other |
//! | settle deadline | one side paid, the other did not | failed, **unpaid** by the other |
//! | settle deadline | both paid, a dispute is open | failed, **disputed**: the log is for a mediator |
//! | settle deadline | both paid, one side did not confirm receipt | failed, **unconfirmed** by that side |
//! | settle deadline | both paid, neither confirmed | failed, **unconfirmed** by both |
//!
//! "Did not confirm" is the silent side's fault: a party that did not get
//! what it was owed says so with a dispute, which turns the outcome into
//! "disputed" and puts the fault to a person who reads both logs.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::trade::{Progress, Side};

/// Why a trade failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailReason {
    /// One side paid; the other did not by the payment deadline.
    Unpaid,
    /// Both paid; a dispute was still open at the settle deadline.
    Disputed,
    /// Both paid; a side neither confirmed receipt nor disputed by the
    /// settle deadline.
    Unconfirmed,
}

/// How a failed trade ended: the reason, and the side at fault when the log
/// names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Failure {
    /// Why.
    pub reason: FailReason,
    /// The side that did not do its part; `None` when both did not, or when
    /// a dispute leaves it to a mediator.
    pub at_fault: Option<Side>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.at_fault {
            Some(side) => side.to_string(),
            None => "neither side".into(),
        };
        match (self.reason, self.at_fault) {
            (FailReason::Unpaid, _) => write!(f, "the {who} did not pay by the payment deadline"),
            (FailReason::Disputed, _) => {
                f.write_str("a dispute was still open at the settle deadline")
            }
            (FailReason::Unconfirmed, Some(_)) => write!(
                f,
                "the {who} neither confirmed receipt nor disputed by the settle deadline"
            ),
            (FailReason::Unconfirmed, None) => {
                f.write_str("neither side confirmed receipt by the settle deadline")
            }
        }
    }
}

/// The outcome of a trade that ends at a deadline with `maker` and `taker`
/// as they stand, and with a dispute open or not; `None` if nobody paid (the
/// trade expired, nobody's fault).
pub fn judge(maker: &Progress, taker: &Progress, disputed: bool) -> Option<Failure> {
    let fail = |reason, at_fault| Some(Failure { reason, at_fault });
    match (maker.paid.is_some(), taker.paid.is_some()) {
        (false, false) => None,
        (true, false) => fail(FailReason::Unpaid, Some(Side::Taker)),
        (false, true) => fail(FailReason::Unpaid, Some(Side::Maker)),
        (true, true) if disputed => fail(FailReason::Disputed, None),
        (true, true) => match (maker.received.is_some(), taker.received.is_some()) {
            (true, false) => fail(FailReason::Unconfirmed, Some(Side::Taker)),
            (false, true) => fail(FailReason::Unconfirmed, Some(Side::Maker)),
            // Neither confirmed. (Both confirming completes the trade, so a
            // deadline never judges it.)
            _ => fail(FailReason::Unconfirmed, None),
        },
    }
}
