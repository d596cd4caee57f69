//! Every trade ends, and the signed log says whose fault a failure was: the
//! payer's close after the payment deadline, the settle deadline, and a close
//! that crosses the other side's payment.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::testing::{verified_offer, verified_take, NOW};
use peerfx_core::trade::{build_contract, FailReason, Failure, Phase, Side, StepError, TradeState};
use peerfx_core::*;

const WINDOW: u64 = 3600;

struct Trade {
    maker: Keypair,
    taker: Keypair,
    contract: Contract,
    id: TradeId,
}

fn trade() -> Trade {
    let maker = Keypair::generate();
    let taker = Keypair::generate();
    let offer = verified_offer(&maker, "EUR", "USD", "1.08", 1);
    let request = verified_take(&taker, &offer, 10_000);
    let contract = build_contract(&offer, &request, offer.rate, NOW, WINDOW).unwrap();
    let id = SignedContract::countersign(Signed::sign(contract.clone(), &maker), &taker).trade_id();
    Trade {
        maker,
        taker,
        contract,
        id,
    }
}

impl Trade {
    fn msg(&self, side: Side, seq: u32, at: Timestamp, action: TradeAction) -> TradeMessage {
        let author = match side {
            Side::Maker => self.maker.public(),
            Side::Taker => self.taker.public(),
        };
        TradeMessage {
            trade_id: self.id,
            author,
            seq,
            created_at: at,
            action,
        }
    }

    fn replay(&self, log: &[TradeMessage]) -> Result<TradeState, StepError> {
        TradeState::replay(&self.contract, &self.id, log.iter())
    }
}

fn failure(reason: FailReason, at_fault: Option<Side>) -> Option<Failure> {
    Some(Failure { reason, at_fault })
}

#[test]
fn the_settle_deadline_is_the_payment_deadline_plus_the_window_again() {
    let t = trade();
    assert_eq!(t.contract.deadline, NOW.plus(WINDOW));
    assert_eq!(t.contract.settle_by(), NOW.plus(2 * WINDOW));
}

#[test]
fn the_side_that_paid_closes_after_the_payment_deadline_and_the_other_is_at_fault() {
    let t = trade();
    let c = &t.contract;
    let paid = t.msg(Side::Taker, 1, NOW.plus(10), TradeAction::Paid);
    let state = t.replay(std::slice::from_ref(&paid)).unwrap();
    let close_at = |at| t.msg(Side::Taker, 2, at, TradeAction::Close { seen: 0 });
    // Not before the deadline.
    assert_eq!(
        state.check(c, &t.id, &close_at(c.deadline.minus(1))),
        Err(StepError::CloseTooEarly {
            deadline: c.deadline.0
        })
    );
    assert!(!state.closable(Side::Taker, c.deadline.minus(1)));
    assert!(state.closable(Side::Taker, c.deadline));
    // Not by the side that did not pay.
    let maker_close = t.msg(Side::Maker, 1, c.deadline, TradeAction::Close { seen: 1 });
    assert_eq!(
        state.check(c, &t.id, &maker_close),
        Err(StepError::NotClosable)
    );
    assert!(!state.closable(Side::Maker, c.deadline));
    // Not claiming messages the other side never sent.
    let ahead = t.msg(Side::Taker, 2, c.deadline, TradeAction::Close { seen: 1 });
    assert_eq!(
        state.check(c, &t.id, &ahead),
        Err(StepError::SeenAhead { seen: 1, sent: 0 })
    );
    let closed = t.replay(&[paid, close_at(c.deadline)]).unwrap();
    assert_eq!(closed.phase, Phase::Failed);
    assert_eq!(
        closed.failure,
        failure(FailReason::Unpaid, Some(Side::Maker))
    );
    // Over: a late payment changes nothing.
    let late = t.msg(Side::Maker, 1, c.deadline.plus(5), TradeAction::Paid);
    assert_eq!(
        closed.check(c, &t.id, &late),
        Err(StepError::Final(Phase::Failed))
    );
}

#[test]
fn a_close_that_crosses_the_other_sides_payment_replays_alike_on_both_sides() {
    let t = trade();
    let c = &t.contract;
    let taker_paid = t.msg(Side::Taker, 1, NOW.plus(10), TradeAction::Paid);
    // The maker pays just after the deadline; the taker closes before that
    // payment reaches it.
    let maker_paid = t.msg(Side::Maker, 1, c.deadline.plus(1), TradeAction::Paid);
    let close = t.msg(
        Side::Taker,
        2,
        c.deadline.plus(2),
        TradeAction::Close { seen: 0 },
    );
    let takers_log = [taker_paid.clone(), close.clone()];
    let makers_log = [taker_paid, maker_paid, close];
    let on_taker = t.replay(&takers_log).unwrap();
    let on_maker = t.replay(&makers_log).unwrap();
    for s in [&on_taker, &on_maker] {
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(s.failure, failure(FailReason::Unpaid, Some(Side::Maker)));
    }
}

#[test]
fn a_trade_still_open_at_the_settle_deadline_fails_and_the_log_names_the_side() {
    let t = trade();
    let c = &t.contract;
    let settle = c.settle_by();
    let at = NOW.plus(10);
    let both_paid = vec![
        t.msg(Side::Taker, 1, at, TradeAction::Paid),
        t.msg(Side::Maker, 1, at, TradeAction::Paid),
    ];
    // Both paid and the maker confirmed; the taker went silent.
    let mut log = both_paid.clone();
    log.push(t.msg(Side::Maker, 2, at, TradeAction::Received));
    let s = t.replay(&log).unwrap();
    assert_eq!(s.phase_at(settle.minus(1)), Phase::Agreed);
    assert_eq!(
        s.outcome_at(settle),
        (
            Phase::Failed,
            failure(FailReason::Unconfirmed, Some(Side::Taker))
        )
    );
    // A dispute leaves the fault to a mediator.
    let mut log = both_paid.clone();
    log.push(t.msg(
        Side::Taker,
        2,
        at,
        TradeAction::Dispute {
            reason: "nothing arrived".into(),
        },
    ));
    let s = t.replay(&log).unwrap();
    assert_eq!(
        s.outcome_at(settle),
        (Phase::Failed, failure(FailReason::Disputed, None))
    );
    // Only one side paid: the other is at fault, closed or not.
    let s = t.replay(&both_paid[..1]).unwrap();
    assert_eq!(
        s.outcome_at(settle),
        (
            Phase::Failed,
            failure(FailReason::Unpaid, Some(Side::Maker))
        )
    );
    // Neither confirmed: both failed.
    let s = t.replay(&both_paid).unwrap();
    assert_eq!(
        s.outcome_at(settle),
        (Phase::Failed, failure(FailReason::Unconfirmed, None))
    );
    // Nobody paid: expired at the payment deadline, nobody's fault.
    let s = t.replay(&[]).unwrap();
    assert_eq!(s.outcome_at(settle), (Phase::Expired, None));
    // After the settle deadline no step applies, and a chat line written
    // then records the failure in the state.
    let mut s = t.replay(&both_paid).unwrap();
    let late = t.msg(Side::Maker, 2, settle, TradeAction::Received);
    assert_eq!(
        s.check(c, &t.id, &late),
        Err(StepError::Final(Phase::Failed))
    );
    let chat = t.msg(
        Side::Maker,
        2,
        settle,
        TradeAction::Chat {
            text: "sorry".into(),
        },
    );
    s.apply(c, &t.id, &chat).unwrap();
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.failure, failure(FailReason::Unconfirmed, None));
}

#[test]
fn a_completed_trade_never_fails() {
    let t = trade();
    let at = NOW.plus(10);
    let log = [
        t.msg(Side::Taker, 1, at, TradeAction::Paid),
        t.msg(Side::Maker, 1, at, TradeAction::Paid),
        t.msg(Side::Taker, 2, at, TradeAction::Received),
        t.msg(Side::Maker, 2, at, TradeAction::Received),
    ];
    let s = t.replay(&log).unwrap();
    assert_eq!(
        s.outcome_at(t.contract.settle_by().plus(86_400)),
        (Phase::Completed, None)
    );
}
