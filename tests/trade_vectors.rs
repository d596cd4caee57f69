//! Golden trade logs: the trade state machine of docs/PROTOCOL.md section 10,
//! as scenarios a second implementation replays to the same answers.
//!
//! `tests/vectors/trade-logs.json` holds, per scenario, the contract and a
//! list of messages, each with when it arrived, whether the receiver admits
//! it (or the `StepError` it refuses it with) and the state after it; then
//! the outcome at given times. Regenerate with
//! `PEERFX_BLESS_VECTORS=1 cargo test --test trade_vectors`.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use peerfx::core::trade::TradeState;
use peerfx::core::*;
use serde_json::{json, Value};

const T: u64 = 1_767_225_600;
/// The payment window of every scenario's contract: one hour, so the
/// payment deadline is T + 3600 and the settle deadline T + 7200.
const WINDOW: i64 = 3_600;

fn maker() -> PublicKey {
    Keypair::from_secret(&[1; 32]).unwrap().public()
}
fn taker() -> PublicKey {
    Keypair::from_secret(&[2; 32]).unwrap().public()
}

fn contract() -> Contract {
    Contract {
        offer_id: Hash([7; 32]),
        request_id: Hash([8; 32]),
        maker: maker(),
        taker: taker(),
        give: "EUR".parse().unwrap(),
        want: "USD".parse().unwrap(),
        give_amount: Amount(10_000),
        want_amount: Amount(10_800),
        rate: "1.08".parse().unwrap(),
        payment_method: "sepa".parse().unwrap(),
        created_at: Timestamp(T),
        deadline: at_offset(WINDOW),
    }
}

/// One message of a scenario: author, seq, time offset from T (negative is
/// before the contract), action, and when it arrives (offset from T; its
/// own time if `None`).
struct Step(PublicKey, u32, i64, TradeAction, Option<i64>);

fn at_offset(offset: i64) -> Timestamp {
    Timestamp(T.checked_add_signed(offset).unwrap())
}

fn state_json(s: &TradeState) -> Value {
    json!({
        "phase": s.phase,
        "failure": s.failure,
        "maker": s.maker,
        "taker": s.taker,
    })
}

fn scenario(name: &str, steps: Vec<Step>, outcomes_at: &[i64]) -> Value {
    let c = contract();
    let trade_id = Signed::sign(c.clone(), &Keypair::from_secret(&[1; 32]).unwrap()).id();
    let limits = WireLimits::default();
    let mut state = TradeState::new(&c);
    let mut out = Vec::new();
    for Step(author, seq, at, action, arrives) in steps {
        let msg = TradeMessage {
            trade_id,
            author,
            seq,
            created_at: at_offset(at),
            action,
        };
        let received_at = at_offset(arrives.unwrap_or(at));
        let result = match state.admit(&c, &trade_id, &msg, &limits, received_at) {
            Ok(_) => {
                state.apply(&c, &trade_id, &msg).unwrap();
                json!("ok")
            }
            Err(e) => json!({ "refused": e }),
        };
        out.push(json!({
            "message": msg,
            "received_at": received_at,
            "result": result,
            "state": state_json(&state),
        }));
    }
    let outcomes: Vec<Value> = outcomes_at
        .iter()
        .map(|at| {
            let (phase, failure) = state.outcome_at(at_offset(*at));
            json!({ "at": at_offset(*at), "phase": phase, "failure": failure })
        })
        .collect();
    json!({
        "name": name,
        "trade_id": trade_id,
        "steps": out,
        "outcomes": outcomes,
    })
}

fn all() -> Value {
    use TradeAction::*;
    let (m, t) = (maker(), taker());
    let chat = |text: &str| Chat { text: text.into() };
    let scenarios = vec![
        scenario(
            "completed",
            vec![
                Step(t, 1, 10, Paid, None),
                Step(m, 1, 20, Paid, None),
                Step(m, 2, 30, Received, None),
                Step(t, 2, 40, Received, None),
                Step(t, 3, 50, Paid, None),
                Step(m, 3, 60, chat("thanks!"), None),
            ],
            &[100, WINDOW, 2 * WINDOW],
        ),
        scenario(
            "seq rules",
            vec![
                Step(t, 2, 10, Paid, None),
                Step(t, 1, 10, Paid, None),
                Step(t, 1, 11, Paid, None),
                Step(t, 2, 12, Paid, None),
                Step(m, 1, -5, chat("before the contract?"), None),
            ],
            &[],
        ),
        scenario(
            "cancel before anyone paid",
            vec![Step(m, 1, 10, Cancel, None), Step(t, 1, 20, Paid, None)],
            &[WINDOW],
        ),
        scenario(
            "cancel after a payment needs both",
            vec![
                Step(t, 1, 10, Paid, None),
                Step(m, 1, 20, Cancel, None),
                Step(m, 2, 21, Cancel, None),
                Step(t, 2, 30, Cancel, None),
            ],
            &[],
        ),
        scenario(
            "expired: nobody paid by the payment deadline",
            vec![
                Step(t, 1, WINDOW - 1, chat("on my way"), None),
                Step(t, 2, WINDOW, Paid, None),
                Step(t, 2, WINDOW - 1, Paid, Some(WINDOW + 301)),
            ],
            &[WINDOW - 1, WINDOW],
        ),
        scenario(
            "close by the payer",
            vec![
                Step(t, 1, 10, Paid, None),
                Step(t, 2, 100, Close { seen: 0 }, None),
                Step(m, 1, WINDOW, Close { seen: 1 }, None),
                Step(t, 2, WINDOW, Close { seen: 1 }, None),
                Step(t, 2, WINDOW, Close { seen: 0 }, None),
                Step(m, 1, WINDOW + 1, Paid, None),
            ],
            &[WINDOW + 2],
        ),
        scenario(
            "close judged on what the closer had seen",
            vec![
                Step(t, 1, 10, Paid, None),
                Step(m, 1, WINDOW - 5, chat("paying now"), None),
                Step(m, 2, WINDOW - 1, Paid, None),
                Step(t, 2, WINDOW, Close { seen: 2 }, None),
                Step(t, 2, WINDOW, Close { seen: 1 }, None),
            ],
            &[],
        ),
        scenario(
            "settle deadline: one side did not confirm",
            vec![
                Step(t, 1, 10, Paid, None),
                Step(m, 1, 20, Paid, None),
                Step(m, 2, 30, Received, None),
            ],
            &[2 * WINDOW - 1, 2 * WINDOW],
        ),
        scenario(
            "settle deadline: only one side paid",
            vec![Step(m, 1, 20, Paid, None)],
            &[WINDOW, 2 * WINDOW],
        ),
        scenario(
            "dispute",
            vec![
                Step(t, 1, 10, Paid, None),
                Step(m, 1, 20, Paid, None),
                Step(
                    t,
                    2,
                    30,
                    Dispute {
                        reason: "short".into(),
                    },
                    None,
                ),
                Step(
                    t,
                    3,
                    40,
                    Dispute {
                        reason: "again".into(),
                    },
                    None,
                ),
                Step(m, 2, 2 * WINDOW, chat("let us talk"), None),
            ],
            &[2 * WINDOW],
        ),
    ];
    json!({ "contract": contract(), "scenarios": scenarios })
}

#[test]
fn trade_logs() {
    let doc = all();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/trade-logs.json");
    if std::env::var_os("PEERFX_BLESS_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        stored, doc,
        "the trade state machine drifted from its golden logs"
    );
    // Every refusal kind the scenarios mean to show is in them.
    let text = doc.to_string();
    for refusal in [
        "Replay",
        "Gap",
        "Repeated",
        "Final",
        "BeforeContract",
        "Backdated",
        "CloseTooEarly",
        "NotClosable",
        "SeenAhead",
    ] {
        assert!(text.contains(refusal), "no scenario shows {refusal}");
    }
}
