//! Golden vectors: every message and envelope that crosses the network, as
//! JSON files under `tests/vectors/`, so the wire format cannot drift unnoticed
//! and a second implementation has something exact to test against
//! (docs/PROTOCOL.md says how to read them; `clients/js` does).
//!
//! Each file holds:
//! - `type`: the type as docs/PROTOCOL.md names it;
//! - `hex`: the encoding, version byte first;
//! - `value`: the decoded value as JSON (keys, ids and signatures in hex,
//!   rates as decimal strings, enums as `{"Variant": ...}` or `"Variant"`);
//! - `signed_by`: the roles in `keys.json` whose signatures it carries;
//! - `id`: the content id (signed messages), the trade id (contracts and
//!   ratings' trades) or the gossipsub message id (gossip), where one exists.
//!
//! If the format changes on purpose, bump `codec::FORMAT_VERSION` and
//! regenerate with `PEERFX_BLESS_VECTORS=1 cargo test --test vectors`.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use peerfx::core::codec;
use peerfx::core::outcome::{FailReason, Failure};
use peerfx::core::protocol::*;
use peerfx::core::rating::{RatedOutcome, RatedTrade, Rating};
use peerfx::core::trade::{BudgetKind, Phase, Side, StepError, StepKind};
use peerfx::core::*;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const T0: Timestamp = Timestamp(1_767_225_600);

fn maker() -> Keypair {
    Keypair::from_secret(&[1; 32]).unwrap()
}
fn taker() -> Keypair {
    Keypair::from_secret(&[2; 32]).unwrap()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn blessing() -> bool {
    std::env::var_os("PEERFX_BLESS_VECTORS").is_some()
}

/// Compares (or, when blessing, writes) one vector, then decodes the stored
/// bytes and checks they are the value again, and the stored JSON too.
fn vector<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    name: &str,
    type_name: &str,
    value: &T,
    signed_by: &[&str],
    id: Option<String>,
) {
    let wire = codec::encode(value);
    let mut doc = json!({
        "type": type_name,
        "hex": hex::encode(&wire),
        "value": serde_json::to_value(value).unwrap(),
        "signed_by": signed_by,
    });
    if let Some(id) = id {
        doc["id"] = Value::String(id);
    }
    let path = dir().join(format!("{name}.json"));
    if blessing() {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(
        stored["hex"], doc["hex"],
        "{name}: the encoding drifted from the golden vector"
    );
    assert_eq!(stored, doc, "{name}: the vector's JSON drifted");
    let bytes = hex::decode(stored["hex"].as_str().unwrap()).unwrap();
    let decoded: T = codec::decode_within(&bytes, 64 * 1024).unwrap();
    assert_eq!(&decoded, value, "{name}: decodes to something else");
    let from_json: T = serde_json::from_value(stored["value"].clone()).unwrap();
    assert_eq!(
        &from_json, value,
        "{name}: its JSON reads back as something else"
    );
}

fn signed<T: Body + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    name: &str,
    type_name: &str,
    value: &Signed<T>,
    signer: &str,
) {
    value.verify().unwrap();
    vector(name, type_name, value, &[signer], Some(value.id().to_hex()));
}

/// The gossipsub message id: the first 20 bytes of SHA-256 of the data.
fn gossip(name: &str, message: &GossipMessage, signed_by: &[&str]) {
    let id = hex::encode(&Sha256::digest(codec::encode(message))[..20]);
    vector(name, "GossipMessage", message, signed_by, Some(id));
}

fn the_offer() -> Signed<Offer> {
    Signed::sign(
        Offer {
            maker: maker().public(),
            give: "EUR".parse().unwrap(),
            min_give: Amount(10_000),
            max_give: Amount(50_000),
            want: "USD".parse().unwrap(),
            rate: "1.08".parse().unwrap(),
            payment_methods: vec!["cash".parse().unwrap(), "sepa".parse().unwrap()],
            geohash: Some("u33d".parse().unwrap()),
            note: "Kreuzberg, evenings".into(),
            created_at: T0,
            expires_at: T0.plus(86_400),
            nonce: 42,
        },
        &maker(),
    )
}

/// An offer whose every integer takes a wider varint form (251..2^16,
/// 2^16..2^32, 2^32..2^64) and whose optional fields are absent.
fn the_wide_offer() -> Signed<Offer> {
    Signed::sign(
        Offer {
            maker: maker().public(),
            give: "JPY".parse().unwrap(),
            min_give: Amount(251),
            max_give: Amount(5_000_000_000),
            want: "CHF".parse().unwrap(),
            rate: "0.005712".parse().unwrap(),
            payment_methods: vec!["bank".parse().unwrap()],
            geohash: None,
            note: String::new(),
            created_at: T0,
            expires_at: T0.plus(65_536),
            nonce: u64::MAX,
        },
        &maker(),
    )
}

fn the_update() -> Signed<OfferUpdate> {
    Signed::sign(
        OfferUpdate {
            offer_id: the_offer().id(),
            maker: maker().public(),
            remaining: Amount(20_000),
            seq: 1,
            created_at: T0.plus(70),
        },
        &maker(),
    )
}

fn the_cancel() -> Signed<OfferCancel> {
    Signed::sign(
        OfferCancel {
            offer_id: the_offer().id(),
            maker: maker().public(),
            created_at: T0.plus(80),
        },
        &maker(),
    )
}

fn the_take() -> Signed<TakeRequest> {
    Signed::sign(
        TakeRequest {
            offer_id: the_offer().id(),
            taker: taker().public(),
            give_amount: Amount(30_000),
            counter_rate: Some("1.07".parse().unwrap()),
            payment_method: "cash".parse().unwrap(),
            created_at: T0.plus(60),
            nonce: 7,
        },
        &taker(),
    )
}

fn the_reject() -> Signed<TakeReject> {
    Signed::sign(
        TakeReject {
            request_id: the_take().id(),
            maker: maker().public(),
            reason: RejectReason::RateRefused {
                maker_rate: "1.08".parse().unwrap(),
            },
            created_at: T0.plus(61),
        },
        &maker(),
    )
}

fn the_maker_contract() -> Signed<Contract> {
    let contract = Contract {
        offer_id: the_offer().id(),
        request_id: the_take().id(),
        maker: maker().public(),
        taker: taker().public(),
        give: "EUR".parse().unwrap(),
        want: "USD".parse().unwrap(),
        give_amount: Amount(30_000),
        want_amount: Amount(32_100),
        rate: "1.07".parse().unwrap(),
        payment_method: "cash".parse().unwrap(),
        created_at: T0.plus(61),
        deadline: T0.plus(61 + 4 * 3_600),
    };
    Signed::sign(contract, &maker())
}

fn the_contract() -> SignedContract {
    SignedContract::countersign(the_maker_contract(), &taker())
}

fn message(author: &Keypair, seq: u32, action: TradeAction) -> Signed<TradeMessage> {
    Signed::sign(
        TradeMessage {
            trade_id: the_contract().trade_id(),
            author: author.public(),
            seq,
            created_at: T0.plus(120),
            action,
        },
        author,
    )
}

fn the_rating() -> RatedTrade {
    let rating = Rating {
        trade_id: the_contract().trade_id(),
        rater: taker().public(),
        outcome: RatedOutcome::Completed,
        score: 5,
        comment: "On time, friendly.".into(),
        created_at: T0.plus(3_600),
    };
    RatedTrade {
        contract: the_contract(),
        rating: Signed::sign(rating, &taker()),
    }
}

fn the_failed_rating() -> Signed<Rating> {
    Signed::sign(
        Rating {
            trade_id: the_contract().trade_id(),
            rater: maker().public(),
            outcome: RatedOutcome::Failed(Failure {
                reason: FailReason::Unpaid,
                at_fault: Some(Side::Taker),
            }),
            score: 1,
            comment: String::new(),
            created_at: T0.plus(40_000),
        },
        &maker(),
    )
}

#[test]
fn keys() {
    let role = |k: Keypair| {
        json!({
            "secret": hex::encode(k.secret_bytes()),
            "public": k.public().to_hex(),
            "peer_id": k.peer_id().to_string(),
        })
    };
    let doc = json!({ "maker": role(maker()), "taker": role(taker()) });
    let path = dir().join("keys.json");
    if blessing() {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, doc);
}

/// The currencies a peer accepts and their minor-unit digits: ISO 4217 as
/// this build knows it, pinned here so that two implementations agree on
/// the list and on every price (docs/PROTOCOL.md, section 6).
#[test]
fn currencies() {
    let mut table = serde_json::Map::new();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b, c]).unwrap();
                if let Ok(currency) = code.parse::<Currency>() {
                    table.insert(code, json!(currency.exponent().unwrap()));
                }
            }
        }
    }
    let doc = Value::Object(table);
    let path = dir().join("currencies.json");
    if blessing() {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        stored, doc,
        "the currency table drifted: a new ISO 4217 list?"
    );
}

#[test]
fn signed_messages() {
    let offer = the_offer();
    signed("offer", "Signed<Offer>", &offer, "maker");
    let v = validate(offer, T0, &WireLimits::default()).unwrap();
    assert_eq!(v.maker.peer_id().unwrap(), maker().peer_id());
    signed("offer-wide", "Signed<Offer>", &the_wide_offer(), "maker");
    signed(
        "offer-update",
        "Signed<OfferUpdate>",
        &the_update(),
        "maker",
    );
    signed(
        "offer-cancel",
        "Signed<OfferCancel>",
        &the_cancel(),
        "maker",
    );
    signed("take-request", "Signed<TakeRequest>", &the_take(), "taker");
    signed("take-reject", "Signed<TakeReject>", &the_reject(), "maker");
    signed(
        "contract",
        "Signed<Contract>",
        &the_maker_contract(),
        "maker",
    );
    let both = the_contract();
    both.verify().unwrap();
    vector(
        "signed-contract",
        "SignedContract",
        &both,
        &["maker", "taker"],
        Some(both.trade_id().to_hex()),
    );
    let rated = the_rating();
    signed("rating", "Signed<Rating>", &rated.rating, "taker");
    signed(
        "rating-failed",
        "Signed<Rating>",
        &the_failed_rating(),
        "maker",
    );
    rated
        .clone()
        .verify(T0.plus(3_700), &WireLimits::default())
        .unwrap();
    vector(
        "rated-trade",
        "RatedTrade",
        &rated,
        &["maker", "taker"],
        Some(rated.rating.id().to_hex()),
    );
}

#[test]
fn trade_messages() {
    let actions = [
        ("trade-msg-paid", taker(), "taker", 1, TradeAction::Paid),
        (
            "trade-msg-received",
            maker(),
            "maker",
            2,
            TradeAction::Received,
        ),
        ("trade-msg-cancel", maker(), "maker", 1, TradeAction::Cancel),
        (
            "trade-msg-dispute",
            taker(),
            "taker",
            2,
            TradeAction::Dispute {
                reason: "Only 200 of 321 USD arrived.".into(),
            },
        ),
        (
            "trade-msg-chat",
            maker(),
            "maker",
            1,
            TradeAction::Chat {
                text: "See you at 6 at the U-Bahn exit. \u{1F44B}".into(),
            },
        ),
        (
            "trade-msg-close",
            taker(),
            "taker",
            3,
            TradeAction::Close { seen: 1 },
        ),
    ];
    for (name, key, role, seq, action) in actions {
        signed(
            name,
            "Signed<TradeMessage>",
            &message(&key, seq, action),
            role,
        );
    }
}

#[test]
fn gossip_messages() {
    gossip(
        "gossip-offer",
        &GossipMessage::offer(the_offer(), None),
        &["maker"],
    );
    gossip(
        "gossip-offer-updated",
        &GossipMessage::offer(the_offer(), Some(the_update())),
        &["maker"],
    );
    gossip(
        "gossip-cancel",
        &GossipMessage::Cancel(the_cancel()),
        &["maker"],
    );
    gossip(
        "gossip-rating",
        &GossipMessage::Rating(Box::new(the_rating())),
        &["maker", "taker"],
    );
}

#[test]
fn sync_messages() {
    let market: Market = "USD-EUR".parse().unwrap();
    vector(
        "sync-request-first",
        "SyncRequest",
        &SyncRequest {
            market,
            cursor: None,
            limit: 256,
        },
        &[],
        None,
    );
    vector(
        "sync-request-next",
        "SyncRequest",
        &SyncRequest {
            market,
            cursor: Some(the_offer().id().0.to_vec()),
            limit: 64,
        },
        &[],
        None,
    );
    vector(
        "sync-page",
        "SyncResponse",
        &SyncResponse::Page {
            offers: vec![
                OfferState {
                    offer: the_offer(),
                    update: Some(the_update()),
                },
                OfferState {
                    offer: the_wide_offer(),
                    update: None,
                },
            ],
            next: Some(the_wide_offer().id().0.to_vec()),
            ratings: vec![the_rating()],
        },
        &["maker", "taker"],
        None,
    );
    vector(
        "sync-page-last",
        "SyncResponse",
        &SyncResponse::Page {
            offers: vec![],
            next: None,
            ratings: vec![],
        },
        &[],
        None,
    );
    vector(
        "sync-refused",
        "SyncResponse",
        &SyncResponse::Refused(SyncRefusal::RateLimited),
        &[],
        None,
    );
}

#[test]
fn trade_requests_and_responses() {
    let take = the_take();
    vector(
        "trade-request-take",
        "TradeRequest",
        &TradeRequest::Take(take.clone()),
        &["taker"],
        Some(take.id().to_hex()),
    );
    let both = the_contract();
    vector(
        "trade-request-countersign",
        "TradeRequest",
        &TradeRequest::Countersign {
            request_id: take.id(),
            taker_signature: both.taker_signature,
        },
        &["taker"],
        None,
    );
    let paid = message(&taker(), 1, TradeAction::Paid);
    vector(
        "trade-request-message",
        "TradeRequest",
        &TradeRequest::Message(paid.clone()),
        &["taker"],
        Some(paid.id().to_hex()),
    );
    vector(
        "trade-response-accept",
        "TradeResponse",
        &TradeResponse::Take(Box::new(TakeReply::Accept(the_maker_contract()))),
        &["maker"],
        Some(the_maker_contract().id().to_hex()),
    );
    vector(
        "trade-response-reject",
        "TradeResponse",
        &TradeResponse::Take(Box::new(TakeReply::Reject(the_reject()))),
        &["maker"],
        Some(the_reject().id().to_hex()),
    );
    let reputation = Signed::sign(
        TakeReject {
            request_id: take.id(),
            maker: maker().public(),
            reason: RejectReason::Reputation {
                min_trades: 3,
                min_score: Some(400),
                trades: 0,
                score: None,
            },
            created_at: T0.plus(61),
        },
        &maker(),
    );
    vector(
        "trade-response-reject-reputation",
        "TradeResponse",
        &TradeResponse::Take(Box::new(TakeReply::Reject(reputation.clone()))),
        &["maker"],
        Some(reputation.id().to_hex()),
    );
    vector(
        "trade-response-stored",
        "TradeResponse",
        &TradeResponse::Stored(both.trade_id()),
        &[],
        None,
    );
    vector(
        "trade-response-ack",
        "TradeResponse",
        &TradeResponse::Ack {
            trade_id: both.trade_id(),
            seq: 1,
        },
        &[],
        None,
    );
    vector(
        "trade-response-refused-busy",
        "TradeResponse",
        &TradeResponse::Refused(TradeRefusal::Busy),
        &[],
        None,
    );
    vector(
        "trade-response-refused-step",
        "TradeResponse",
        &TradeResponse::Refused(TradeRefusal::Step(StepError::Replay {
            seq: 1,
            expected: 2,
        })),
        &[],
        None,
    );
    vector(
        "trade-response-refused-invalid",
        "TradeResponse",
        &TradeResponse::Refused(TradeRefusal::Invalid("note is 2001 bytes".into())),
        &[],
        None,
    );
}

/// Every variant of every enum of PROTOCOL.md section 5 that no envelope
/// above carries, so each tag a peer may send is pinned by a vector. The
/// `match`es without a wildcard stop the build when a variant is added
/// without a vector.
#[test]
fn every_enum_variant() {
    let reasons = vec![
        RejectReason::UnknownOffer,
        RejectReason::Closed,
        RejectReason::Expired,
        RejectReason::InsufficientRemaining {
            available: Amount(2500),
        },
        RejectReason::AmountOutOfRange {
            min: Amount(10000),
            max: Amount(50000),
        },
        RejectReason::RateRefused {
            maker_rate: "1.08".parse().unwrap(),
        },
        RejectReason::PaymentMethodNotOffered,
        RejectReason::Blocked,
        RejectReason::SelfTake,
        RejectReason::Invalid("bad request".into()),
        RejectReason::Reserved {
            retry_after_secs: 12,
        },
        RejectReason::Throttled {
            retry_after_secs: 300,
        },
        RejectReason::Reputation {
            min_trades: 1,
            min_score: None,
            trades: 0,
            score: Some(350),
        },
    ];
    for r in &reasons {
        match r {
            RejectReason::UnknownOffer
            | RejectReason::Closed
            | RejectReason::Expired
            | RejectReason::InsufficientRemaining { .. }
            | RejectReason::AmountOutOfRange { .. }
            | RejectReason::RateRefused { .. }
            | RejectReason::PaymentMethodNotOffered
            | RejectReason::Blocked
            | RejectReason::SelfTake
            | RejectReason::Invalid(_)
            | RejectReason::Reserved { .. }
            | RejectReason::Throttled { .. }
            | RejectReason::Reputation { .. } => {}
        }
    }
    vector(
        "enum-reject-reasons",
        "list<RejectReason>",
        &reasons,
        &[],
        None,
    );

    let steps = vec![
        StepError::NotAParty,
        StepError::WrongTrade,
        StepError::Replay {
            seq: 1,
            expected: 2,
        },
        StepError::Gap {
            seq: 3,
            expected: 2,
        },
        StepError::Final(Phase::Completed),
        StepError::Final(Phase::Agreed),
        StepError::Final(Phase::Cancelled),
        StepError::Final(Phase::Expired),
        StepError::Final(Phase::Disputed),
        StepError::Final(Phase::Failed),
        StepError::Repeated(StepKind::Paid),
        StepError::Repeated(StepKind::Received),
        StepError::Repeated(StepKind::Cancel),
        StepError::Repeated(StepKind::Dispute),
        StepError::Repeated(StepKind::Close),
        StepError::TooManyMessages {
            what: BudgetKind::Chat,
            max: 124,
        },
        StepError::TooManyMessages {
            what: BudgetKind::Messages,
            max: 128,
        },
        StepError::BeforeContract {
            created_at: T0.0 - 1,
            contract: T0.0,
        },
        StepError::Backdated {
            created_at: T0.0,
            received_at: T0.0 + 4_000,
            phase: Phase::Expired,
        },
        StepError::CrossedPaid { paid_seq: 2 },
        StepError::CloseTooEarly {
            deadline: T0.0 + 3_600,
        },
        StepError::NotClosable,
        StepError::SeenAhead { seen: 5, sent: 3 },
    ];
    for e in &steps {
        match e {
            StepError::NotAParty
            | StepError::WrongTrade
            | StepError::Replay { .. }
            | StepError::Gap { .. }
            | StepError::Final(_)
            | StepError::Repeated(_)
            | StepError::TooManyMessages { .. }
            | StepError::BeforeContract { .. }
            | StepError::Backdated { .. }
            | StepError::CrossedPaid { .. }
            | StepError::CloseTooEarly { .. }
            | StepError::NotClosable
            | StepError::SeenAhead { .. } => {}
        }
    }
    vector("enum-step-errors", "list<StepError>", &steps, &[], None);

    let refusals = vec![
        TradeRefusal::Busy,
        TradeRefusal::Storage,
        TradeRefusal::RateLimited,
        TradeRefusal::UnknownTake,
        TradeRefusal::NotTheTaker,
        TradeRefusal::BadCountersignature,
        TradeRefusal::UnknownTrade,
        TradeRefusal::NotTheAuthor,
        TradeRefusal::Invalid("seq must start at 1".into()),
        TradeRefusal::Step(StepError::NotClosable),
    ];
    for r in &refusals {
        match r {
            TradeRefusal::Busy
            | TradeRefusal::Storage
            | TradeRefusal::RateLimited
            | TradeRefusal::UnknownTake
            | TradeRefusal::NotTheTaker
            | TradeRefusal::BadCountersignature
            | TradeRefusal::UnknownTrade
            | TradeRefusal::NotTheAuthor
            | TradeRefusal::Invalid(_)
            | TradeRefusal::Step(_) => {}
        }
    }
    vector(
        "enum-trade-refusals",
        "list<TradeRefusal>",
        &refusals,
        &[],
        None,
    );

    let sync = vec![
        SyncRefusal::RateLimited,
        SyncRefusal::Busy,
        SyncRefusal::BadCursor,
        SyncRefusal::Unavailable,
    ];
    for r in &sync {
        match r {
            SyncRefusal::RateLimited
            | SyncRefusal::Busy
            | SyncRefusal::BadCursor
            | SyncRefusal::Unavailable => {}
        }
    }
    vector("enum-sync-refusals", "list<SyncRefusal>", &sync, &[], None);

    let failed = |reason, at_fault| RatedOutcome::Failed(Failure { reason, at_fault });
    let outcomes = vec![
        RatedOutcome::Completed,
        RatedOutcome::Cancelled,
        RatedOutcome::Expired,
        failed(FailReason::Unpaid, Some(Side::Maker)),
        failed(FailReason::Disputed, None),
        failed(FailReason::Unconfirmed, Some(Side::Taker)),
    ];
    for o in &outcomes {
        match o {
            RatedOutcome::Completed | RatedOutcome::Cancelled | RatedOutcome::Expired => {}
            RatedOutcome::Failed(Failure { reason, .. }) => match reason {
                FailReason::Unpaid | FailReason::Disputed | FailReason::Unconfirmed => {}
            },
        }
    }
    vector(
        "enum-rated-outcomes",
        "list<RatedOutcome>",
        &outcomes,
        &[],
        None,
    );
}

/// The vectors on disk are exactly the ones this file writes: a stale file
/// left behind would mislead a second implementation.
#[test]
fn no_stray_vectors() {
    let here = std::fs::read_to_string(file!()).unwrap();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name
            .strip_suffix(".json")
            .unwrap_or_else(|| panic!("tests/vectors/{name}: only .json vectors belong there"));
        assert!(
            ["keys", "currencies", "trade-logs"].contains(&stem)
                || here.contains(&format!("\"{stem}\"")),
            "tests/vectors/{name} is not written by this test"
        );
    }
}
