//! Every trade ends: a contract's deadline is held to bounds by the taker, and
//! a step cannot be dated back past a deadline that passed before it arrived.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::testing::{verified_offer, verified_take, NOW};
use peerfx_core::trade::{
    build_contract, check_contract, DeadlineBounds, Phase, StepError, TradeState,
};
use peerfx_core::*;

const BOUNDS: DeadlineBounds = DeadlineBounds {
    min_window_secs: 300,
    max_window_secs: 14 * 86_400,
    max_clock_skew_secs: 300,
};

struct Deal {
    maker: Keypair,
    taker: Keypair,
    offer: Verified<Offer>,
    request: Verified<TakeRequest>,
}

fn deal() -> Deal {
    let maker = Keypair::generate();
    let taker = Keypair::generate();
    let offer = verified_offer(&maker, "EUR", "USD", "1.08", 1);
    let request = verified_take(&taker, &offer, 10_000);
    Deal {
        maker,
        taker,
        offer,
        request,
    }
}

fn contract(d: &Deal, at: Timestamp, window_secs: u64) -> Contract {
    build_contract(&d.offer, &d.request, d.offer.rate, at, window_secs).unwrap()
}

#[test]
fn the_taker_refuses_a_deadline_too_soon_too_far_or_a_contract_dated_off_its_clock() {
    let d = deal();
    let check = |c: &Contract| check_contract(c, &d.offer, &d.request, NOW, &BOUNDS);
    check(&contract(&d, NOW, 3 * 86_400)).unwrap();
    check(&contract(&d, NOW, 300)).unwrap();
    let err = |c: Contract| check(&c).unwrap_err().0;
    // Already over, or over before anyone could pay.
    assert_eq!(err(contract(&d, NOW, 0)), "deadline: too soon to settle");
    assert_eq!(err(contract(&d, NOW, 299)), "deadline: too soon to settle");
    // A trade that never ends.
    assert_eq!(
        err(contract(&d, NOW, 14 * 86_400 + 1)),
        "deadline: too far away"
    );
    assert_eq!(err(contract(&d, NOW, u64::MAX)), "deadline: too far away");
    // Dated in the past (so it is nearly over) or the future.
    let clock = "contract time: too far from the taker's clock";
    assert_eq!(err(contract(&d, NOW.minus(301), 3600)), clock);
    assert_eq!(err(contract(&d, NOW.plus(301), 3600)), clock);
    check(&contract(&d, NOW.minus(300), 3600)).unwrap();
}

fn message(d: &Deal, c: &Contract, seq: u32, at: Timestamp, action: TradeAction) -> TradeMessage {
    let signed = SignedContract::countersign(Signed::sign(c.clone(), &d.maker), &d.taker);
    TradeMessage {
        trade_id: signed.trade_id(),
        author: d.taker.public(),
        seq,
        created_at: at,
        action,
    }
}

#[test]
fn a_step_cannot_be_backdated_past_a_deadline_that_passed_before_it_arrived() {
    let d = deal();
    let limits = WireLimits::default();
    let skew = limits.max_clock_skew_secs;
    let c = contract(&d, NOW, 3600);
    let paid = message(&d, &c, 1, c.deadline.minus(1), TradeAction::Paid);
    let id = paid.trade_id;
    let state = TradeState::new(&c);
    // Arriving within the skew of its date: a late clock, not a lie.
    state
        .admit(&c, &id, &paid, &limits, c.deadline.plus(skew - 1))
        .unwrap();
    // Arriving later: by the earliest date it may claim, the trade expired.
    assert_eq!(
        state.admit(&c, &id, &paid, &limits, c.deadline.plus(skew + 1)),
        Err(StepError::Backdated {
            created_at: c.deadline.minus(1).0,
            received_at: c.deadline.plus(skew + 1).0,
            phase: Phase::Expired,
        })
    );
    // The same late date is fine while no deadline lies between.
    let early = message(&d, &c, 1, NOW, TradeAction::Paid);
    state
        .admit(&c, &id, &early, &limits, NOW.plus(skew + 60))
        .unwrap();
    // A chat line changes no state: never refused for its date alone.
    let chat = message(
        &d,
        &c,
        1,
        c.deadline.minus(1),
        TradeAction::Chat { text: "hi".into() },
    );
    state
        .admit(&c, &id, &chat, &limits, c.deadline.plus(86_400))
        .unwrap();
    // Replaying a stored log reads the dates as they are.
    let mut replayed = TradeState::new(&c);
    replayed.apply(&c, &id, &paid).unwrap();
    assert_eq!(replayed.phase_at(c.deadline.plus(1)), Phase::Agreed);
}

#[test]
fn nothing_is_dated_before_its_contract() {
    let d = deal();
    let c = contract(&d, NOW, 3600);
    let state = TradeState::new(&c);
    for action in [
        TradeAction::Chat {
            text: "from 1970".into(),
        },
        TradeAction::Paid,
    ] {
        let m = message(&d, &c, 1, Timestamp(0), action);
        assert_eq!(
            state.admit(&c, &m.trade_id, &m, &WireLimits::default(), NOW),
            Err(StepError::BeforeContract {
                created_at: 0,
                contract: NOW.0
            })
        );
    }
}
