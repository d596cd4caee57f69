//! Trades: the lifecycle, derived from the signed log. Building and checking
//! contracts is in [`crate::contract`] (re-exported here).
//!
//! A trade's state is never stored: it is derived by replaying the trade's log of
//! signed messages over its contract ([`TradeState::replay`]). Both parties hold
//! the same log, so they derive the same state, and there is no second copy of
//! the state to disagree with the log after a crash.
//!
//! Lifecycle:
//!
//! ```text
//! Agreed ──(each side: Paid, Received)──► Completed   (both sides received)
//!   │  └─(Cancel, nobody paid yet)──────► Cancelled
//!   │  └─(Cancel by both, after payment)► Cancelled
//!   │  └─(Dispute)──────────────────────► Disputed ──(both received)──► Completed
//!   ├──(payment deadline, nobody paid)──► Expired
//!   ├──(payment deadline passed; the side that paid closes)──► Failed (unpaid)
//!   └──(settle deadline, not completed; Disputed too)────────► Failed
//! ```
//!
//! [`crate::outcome`] says how a failure is judged and whose fault it is.
//!
//! Chat lines are allowed in every state. Each author numbers its messages in a
//! trade 1, 2, 3, ... without gaps, so a replayed or reordered message is
//! recognised and refused.
//!
//! **A close that crosses a payment.** A side that paid closes the trade
//! after the payment deadline, while the other side's `Paid` is on its way.
//! The closer's log never gets that `Paid` (the trade is over when it
//! arrives); the other side's log has it before the close. So a `Close`
//! carries `seen`, the number of the other side's messages its author had,
//! and is judged on the other side as it stood after those: each party's
//! progress remembers the seq of each step ([`Progress::as_of`]). Both logs
//! then replay to the same outcome.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::contract::{
    build_contract, check_contract, counter_acceptable, ContractMismatch, DeadlineBounds,
};
use crate::keys::PublicKey;
use crate::limits::WireLimits;
use crate::message::{Contract, Timestamp, TradeAction, TradeMessage};
pub use crate::outcome::{judge, FailReason, Failure};
pub use crate::step::{BudgetKind, StepError, StepKind};

/// Which party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Made the offer; gives `give_amount` of `give`.
    Maker,
    /// Took it; gives `want_amount` of `want`.
    Taker,
}

impl Side {
    /// The other party.
    pub fn other(self) -> Side {
        match self {
            Side::Maker => Side::Taker,
            Side::Taker => Side::Maker,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Maker => "maker",
            Side::Taker => "taker",
        })
    }
}

/// Where a trade stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Both signed; settlement in progress.
    Agreed,
    /// Both sides received what they were owed.
    Completed,
    /// Withdrawn.
    Cancelled,
    /// Nobody paid before the deadline.
    Expired,
    /// A party raised a dispute.
    Disputed,
    /// Someone paid but the trade did not complete by its deadlines; see
    /// [`TradeState::failure`] for why and whose fault.
    Failed,
}

impl Phase {
    /// Whether no further step (other than chat) can change it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Completed | Phase::Cancelled | Phase::Expired | Phase::Failed
        )
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Agreed => "agreed",
            Phase::Completed => "completed",
            Phase::Cancelled => "cancelled",
            Phase::Expired => "expired",
            Phase::Disputed => "disputed",
            Phase::Failed => "failed",
        })
    }
}

/// Per-party progress: each step with the seq of the message that took it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Said it sent its side (in its message with this seq).
    pub paid: Option<u32>,
    /// Said it got the other side.
    pub received: Option<u32>,
    /// Asked to cancel.
    pub cancel: Option<u32>,
    /// Raised a dispute.
    pub dispute: Option<u32>,
    /// Messages it has authored (its next seq is this + 1).
    pub last_seq: u32,
}

impl Progress {
    /// The progress as it stood after this party's first `seq` messages.
    pub fn as_of(&self, seq: u32) -> Progress {
        let upto = |step: Option<u32>| step.filter(|s| *s <= seq);
        Progress {
            paid: upto(self.paid),
            received: upto(self.received),
            cancel: upto(self.cancel),
            dispute: upto(self.dispute),
            last_seq: self.last_seq.min(seq),
        }
    }
}

/// A trade's state, derived from its contract and log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeState {
    /// The phase, not counting the deadlines (see [`TradeState::phase_at`]).
    pub phase: Phase,
    /// The maker's progress.
    pub maker: Progress,
    /// The taker's progress.
    pub taker: Progress,
    /// The payment deadline of the contract.
    pub deadline: Timestamp,
    /// The settle deadline ([`Contract::settle_by`]).
    pub settle_by: Timestamp,
    /// Why the trade failed, once [`TradeState::phase`] is
    /// [`Phase::Failed`] (see [`TradeState::outcome_at`] for a failure by
    /// the settle deadline).
    pub failure: Option<Failure>,
}

impl TradeState {
    /// The state right after both signed.
    pub fn new(contract: &Contract) -> TradeState {
        TradeState {
            phase: Phase::Agreed,
            maker: Progress::default(),
            taker: Progress::default(),
            deadline: contract.deadline,
            settle_by: contract.settle_by(),
            failure: None,
        }
    }

    /// Replays a log; every message must apply.
    pub fn replay<'a>(
        contract: &Contract,
        trade_id: &crate::TradeId,
        log: impl IntoIterator<Item = &'a TradeMessage>,
    ) -> Result<TradeState, StepError> {
        let mut s = TradeState::new(contract);
        for m in log {
            s.apply(contract, trade_id, m)?;
        }
        Ok(s)
    }

    /// Which side `key` is, if any.
    pub fn side_of(contract: &Contract, key: &PublicKey) -> Option<Side> {
        if *key == contract.maker {
            Some(Side::Maker)
        } else if *key == contract.taker {
            Some(Side::Taker)
        } else {
            None
        }
    }

    /// A party's progress.
    pub fn progress(&self, side: Side) -> &Progress {
        match side {
            Side::Maker => &self.maker,
            Side::Taker => &self.taker,
        }
    }

    fn progress_mut(&mut self, side: Side) -> &mut Progress {
        match side {
            Side::Maker => &mut self.maker,
            Side::Taker => &mut self.taker,
        }
    }

    /// The seq `side` must use next.
    pub fn next_seq(&self, side: Side) -> u32 {
        self.progress(side).last_seq + 1
    }

    /// The phase at time `now`: an open trade in which nobody paid expires at
    /// the payment deadline, and one that is still open at the settle
    /// deadline fails.
    pub fn phase_at(&self, now: Timestamp) -> Phase {
        self.outcome_at(now).0
    }

    /// The phase at time `now` and, if the trade failed, why.
    pub fn outcome_at(&self, now: Timestamp) -> (Phase, Option<Failure>) {
        if !matches!(self.phase, Phase::Agreed | Phase::Disputed) {
            return (self.phase, self.failure);
        }
        let nobody_paid = self.maker.paid.is_none() && self.taker.paid.is_none();
        if nobody_paid && now >= self.deadline {
            return (Phase::Expired, None);
        }
        if now >= self.settle_by {
            let disputed = self.phase == Phase::Disputed;
            return (Phase::Failed, judge(&self.maker, &self.taker, disputed));
        }
        (self.phase, None)
    }

    /// Checks a message against the current state without changing it.
    pub fn check(
        &self,
        contract: &Contract,
        trade_id: &crate::TradeId,
        msg: &TradeMessage,
    ) -> Result<Side, StepError> {
        if msg.trade_id != *trade_id {
            return Err(StepError::WrongTrade);
        }
        let side = Self::side_of(contract, &msg.author).ok_or(StepError::NotAParty)?;
        let expected = self.next_seq(side);
        if msg.seq < expected {
            return Err(StepError::Replay {
                seq: msg.seq,
                expected,
            });
        }
        if msg.seq > expected {
            return Err(StepError::Gap {
                seq: msg.seq,
                expected,
            });
        }
        if msg.created_at < contract.created_at {
            return Err(StepError::BeforeContract {
                created_at: msg.created_at.0,
                contract: contract.created_at.0,
            });
        }
        // Expiry is judged by the message's own time, so that replaying a log later
        // gives the same answer; [`TradeState::admit`] bounds how far back that
        // time may be.
        let phase = self.phase_at(msg.created_at);
        let me = self.progress(side);
        let repeated = |step: Option<u32>, kind| match step {
            Some(_) => Err(StepError::Repeated(kind)),
            None => Ok(()),
        };
        match &msg.action {
            TradeAction::Chat { .. } => {}
            _ if phase.is_final() => return Err(StepError::Final(phase)),
            TradeAction::Paid => repeated(me.paid, StepKind::Paid)?,
            TradeAction::Received => repeated(me.received, StepKind::Received)?,
            TradeAction::Cancel => repeated(me.cancel, StepKind::Cancel)?,
            TradeAction::Dispute { .. } if phase == Phase::Disputed => {
                return Err(StepError::Repeated(StepKind::Dispute))
            }
            TradeAction::Dispute { .. } => {}
            TradeAction::Close { seen } => self.check_close(side, *seen, msg.created_at)?,
        }
        Ok(side)
    }

    /// Whether `side` may close the trade at `now` (with everything of the
    /// other side it has seen): it paid, the other did not, the payment
    /// deadline passed and the trade is still open.
    pub fn closable(&self, side: Side, now: Timestamp) -> bool {
        !self.phase_at(now).is_final()
            && self
                .check_close(side, self.progress(side.other()).last_seq, now)
                .is_ok()
    }

    /// A close is the payer's: after the payment deadline, against a side
    /// that had not paid in the messages the closer had seen.
    fn check_close(&self, side: Side, seen: u32, at: Timestamp) -> Result<(), StepError> {
        let other = self.progress(side.other());
        if seen > other.last_seq {
            return Err(StepError::SeenAhead {
                seen,
                sent: other.last_seq,
            });
        }
        if self.progress(side).paid.is_none() || other.as_of(seen).paid.is_some() {
            return Err(StepError::NotClosable);
        }
        if at < self.deadline {
            return Err(StepError::CloseTooEarly {
                deadline: self.deadline.0,
            });
        }
        Ok(())
    }

    /// Checks a *new* message, one about to be stored, arriving at
    /// `received_at` by this node's clock: [`TradeState::check`], then the
    /// author's message budget, then its date. Replaying a stored log applies
    /// neither, so a log stored under other limits, or read later, replays.
    ///
    /// A step may be dated at most [`WireLimits::max_clock_skew_secs`] before
    /// it arrived, when that date would let it beat a deadline which had
    /// passed by then: otherwise a party could backdate a `Paid` to just
    /// before the deadline of a trade that already expired. Chat is never
    /// refused for its date (it changes no state).
    pub fn admit(
        &self,
        contract: &Contract,
        trade_id: &crate::TradeId,
        msg: &TradeMessage,
        limits: &WireLimits,
        received_at: Timestamp,
    ) -> Result<Side, StepError> {
        let side = self.check(contract, trade_id, msg)?;
        let earliest = received_at.minus(limits.max_clock_skew_secs);
        if !matches!(msg.action, TradeAction::Chat { .. }) && msg.created_at < earliest {
            let phase = self.phase_at(earliest);
            if phase.is_final() {
                return Err(StepError::Backdated {
                    created_at: msg.created_at.0,
                    received_at: received_at.0,
                    phase,
                });
            }
        }
        let (what, max) = match msg.action {
            TradeAction::Chat { .. } => (BudgetKind::Chat, limits.max_chat_lines()),
            _ => (BudgetKind::Messages, limits.max_trade_messages),
        };
        if msg.seq > max {
            return Err(StepError::TooManyMessages { what, max });
        }
        Ok(side)
    }

    /// Applies one message.
    pub fn apply(
        &mut self,
        contract: &Contract,
        trade_id: &crate::TradeId,
        msg: &TradeMessage,
    ) -> Result<(), StepError> {
        let side = self.check(contract, trade_id, msg)?;
        // A chat line after a deadline makes the deadline's outcome part of
        // the state, as the deadline itself would have.
        (self.phase, self.failure) = self.outcome_at(msg.created_at);
        let seq = Some(msg.seq);
        let p = self.progress_mut(side);
        p.last_seq = msg.seq;
        match &msg.action {
            TradeAction::Chat { .. } => {}
            TradeAction::Paid => p.paid = seq,
            TradeAction::Received => p.received = seq,
            TradeAction::Cancel => p.cancel = seq,
            TradeAction::Dispute { .. } => {
                p.dispute = seq;
                self.phase = Phase::Disputed;
            }
            TradeAction::Close { .. } => {
                self.phase = Phase::Failed;
                self.failure = Some(Failure {
                    reason: FailReason::Unpaid,
                    at_fault: Some(side.other()),
                });
                return Ok(());
            }
        }
        let (m, t) = (&self.maker, &self.taker);
        let nobody_paid = m.paid.is_none() && t.paid.is_none();
        if m.received.is_some() && t.received.is_some() {
            self.phase = Phase::Completed;
        } else if m.cancel.is_some() && t.cancel.is_some()
            || (matches!(msg.action, TradeAction::Cancel) && nobody_paid)
        {
            self.phase = Phase::Cancelled;
        }
        Ok(())
    }
}
