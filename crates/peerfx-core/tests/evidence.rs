//! Trade evidence: a record of a real trade verifies to the state both nodes
//! reached, and every kind of tampering fails with the exact reason.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::evidence::{evidence, verify_evidence, Evidence, EvidenceError, Place};
use peerfx_core::testing::{verified_offer, verified_take, NOW};
use peerfx_core::trade::{build_contract, Phase, StepError};
use peerfx_core::*;

struct Trade {
    contract: SignedContract,
    log: Vec<Signed<TradeMessage>>,
}

fn completed_trade() -> Trade {
    let maker = Keypair::generate();
    let taker = Keypair::generate();
    let offer = verified_offer(&maker, "EUR", "USD", "1.08", 1);
    let request = verified_take(&taker, &offer, 10_000);
    let c = build_contract(&offer, &request, offer.rate, NOW, 3600).unwrap();
    let contract = SignedContract::countersign(Signed::sign(c, &maker), &taker);
    let id = contract.trade_id();
    let step = |key: &Keypair, seq, action| {
        Signed::sign(
            TradeMessage {
                trade_id: id,
                author: key.public(),
                seq,
                created_at: NOW.plus(60),
                action,
            },
            key,
        )
    };
    let log = vec![
        step(&taker, 1, TradeAction::Paid),
        step(
            &maker,
            1,
            TradeAction::Chat {
                text: "got it".into(),
            },
        ),
        step(&maker, 2, TradeAction::Received),
        step(&maker, 3, TradeAction::Paid),
        step(&taker, 2, TradeAction::Received),
    ];
    Trade { contract, log }
}

fn check(e: &Evidence) -> Result<peerfx_core::evidence::Checked, EvidenceError> {
    verify_evidence(e, NOW.plus(3600), &WireLimits::default())
}

/// Re-encodes item `i` of the log after `change`, keeping its signature.
fn altered_message(t: &Trade, i: usize, change: impl FnOnce(&mut TradeMessage)) -> Evidence {
    let mut log = t.log.clone();
    change(&mut log[i].body);
    evidence(&t.contract, &log)
}

#[test]
fn a_real_trade_verifies_to_its_state() {
    let t = completed_trade();
    let checked = check(&evidence(&t.contract, &t.log)).unwrap();
    assert_eq!(checked.trade_id, t.contract.trade_id());
    assert_eq!(checked.state.phase, Phase::Completed);
    assert_eq!(checked.log.len(), 5);
    // An unfinished log is evidence too, of where the trade stands.
    let partial = check(&evidence(&t.contract, &t.log[..1])).unwrap();
    assert!(partial.state.taker.paid.is_some() && partial.state.maker.received.is_none());
}

#[test]
fn every_kind_of_tampering_fails_with_its_reason() {
    let t = completed_trade();
    let good = evidence(&t.contract, &t.log);

    // The contract's amount raised after both signed.
    let mut c = t.contract.clone();
    c.contract.body.want_amount = Amount(1_000_000);
    let e = Evidence {
        contract: hex::encode(codec::encode(&c)),
        ..good.clone()
    };
    assert!(matches!(check(&e), Err(EvidenceError::MakerSignature(_))));

    // The taker's countersignature replaced.
    let mut c = t.contract.clone();
    c.taker_signature = c.contract.signature;
    let e = Evidence {
        contract: hex::encode(codec::encode(&c)),
        ..good.clone()
    };
    assert!(matches!(check(&e), Err(EvidenceError::TakerSignature(_))));

    // A step changed: "received" turned into "paid".
    let e = altered_message(&t, 2, |m| m.action = TradeAction::Paid);
    let err = check(&e).unwrap_err();
    assert!(
        matches!(err, EvidenceError::Invalid(Place::Message(3), _)),
        "{err}"
    );
    assert!(err.to_string().starts_with("message 3: "), "{err}");

    // A message taken out: the next of that author skips ahead.
    let mut log = t.log.clone();
    log.remove(2);
    let err = check(&evidence(&t.contract, &log)).unwrap_err();
    assert!(
        matches!(
            err,
            EvidenceError::Step {
                place: Place::Message(3),
                seq: 3,
                source: StepError::Gap {
                    seq: 3,
                    expected: 2
                },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "message 3 (seq 3 by the maker): seq 3 skips ahead (next is 2)"
    );

    // A message of another trade slipped in.
    let other = completed_trade();
    let mut log = t.log.clone();
    log.insert(1, other.log[1].clone());
    let err = check(&evidence(&t.contract, &log)).unwrap_err();
    assert!(
        matches!(
            err,
            EvidenceError::Step {
                place: Place::Message(2),
                source: StepError::WrongTrade,
                ..
            }
        ),
        "{err}"
    );

    // A record naming another trade, bytes that are not hex, another format.
    let e = Evidence {
        trade_id: other.contract.trade_id().to_hex(),
        ..good.clone()
    };
    assert!(matches!(check(&e), Err(EvidenceError::TradeId { .. })));
    let mut e = good.clone();
    e.log[0] = "zz".into();
    assert!(matches!(
        check(&e),
        Err(EvidenceError::Hex(Place::Message(1)))
    ));
    let mut e = good.clone();
    e.log[0].truncate(10);
    assert!(matches!(
        check(&e),
        Err(EvidenceError::Decode(Place::Message(1), _))
    ));
    let e = Evidence {
        format: "peerfx-trade-evidence/0".into(),
        ..good
    };
    assert!(matches!(check(&e), Err(EvidenceError::Format(_))));
}
