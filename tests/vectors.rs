//! Golden vectors: signed messages as hex under `tests/vectors/`, so the wire
//! format cannot drift unnoticed. Each file has a `wire` line (the encoded signed
//! message) and an `id` line (its content id).
//!
//! If the format changes on purpose, bump `codec::FORMAT_VERSION` and regenerate
//! with `PEERFX_BLESS_VECTORS=1 cargo test --test vectors`.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use peerfx::core::codec;
use peerfx::core::*;
use serde::{de::DeserializeOwned, Serialize};

const T0: Timestamp = Timestamp(1_767_225_600);

fn maker() -> Keypair {
    Keypair::from_secret(&[1; 32]).unwrap()
}
fn taker() -> Keypair {
    Keypair::from_secret(&[2; 32]).unwrap()
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

fn the_contract() -> SignedContract {
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
        deadline: T0.plus(61 + 3 * 86_400),
    };
    SignedContract::countersign(Signed::sign(contract, &maker()), &taker())
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(format!("{name}.hex"))
}

/// Compares (or, when blessing, writes) one vector, then decodes the stored bytes
/// and hands them back for the caller's checks.
fn vector<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    name: &str,
    value: &T,
    id: Hash,
) -> T {
    let wire = hex::encode(codec::encode(value));
    let text = format!("wire {wire}\nid {id}\n");
    if std::env::var_os("PEERFX_BLESS_VECTORS").is_some() {
        std::fs::write(path(name), &text).unwrap();
    }
    let stored = std::fs::read_to_string(path(name))
        .unwrap_or_else(|e| panic!("{}: {e}", path(name).display()));
    let field = |key: &str| {
        stored
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{name}: no {key:?} line"))
            .trim()
            .to_string()
    };
    assert_eq!(
        field("wire "),
        wire,
        "{name}: the encoding drifted from the golden vector"
    );
    assert_eq!(field("id "), id.to_hex(), "{name}: the id drifted");
    let decoded: T = codec::decode(&hex::decode(field("wire ")).unwrap()).unwrap();
    assert_eq!(&decoded, value);
    decoded
}

#[test]
fn offer_vector() {
    let o = the_offer();
    let back: Signed<Offer> = vector("offer", &o, o.id());
    let v = validate(back, T0, &WireLimits::default()).unwrap();
    assert_eq!(v.maker.peer_id().unwrap(), maker().peer_id());
}

#[test]
fn update_and_cancel_vectors() {
    let u = Signed::sign(
        OfferUpdate {
            offer_id: the_offer().id(),
            maker: maker().public(),
            remaining: Amount(20_000),
            seq: 1,
            created_at: T0.plus(70),
        },
        &maker(),
    );
    vector("offer-update", &u, u.id()).verify().unwrap();
    let c = Signed::sign(
        OfferCancel {
            offer_id: the_offer().id(),
            maker: maker().public(),
            created_at: T0.plus(80),
        },
        &maker(),
    );
    vector("offer-cancel", &c, c.id()).verify().unwrap();
}

#[test]
fn take_reply_and_contract_vectors() {
    let t = the_take();
    vector("take-request", &t, t.id()).verify().unwrap();
    let reject = TakeReply::Reject(Signed::sign(
        TakeReject {
            request_id: t.id(),
            maker: maker().public(),
            reason: RejectReason::RateRefused {
                maker_rate: "1.08".parse().unwrap(),
            },
            created_at: T0.plus(61),
        },
        &maker(),
    ));
    let TakeReply::Reject(r) = vector("take-reject", &reject, t.id()) else {
        panic!("not a reject")
    };
    r.verify().unwrap();
    let c = the_contract();
    vector("contract", &c, c.trade_id()).verify().unwrap();
}

#[test]
fn trade_message_vectors() {
    let trade_id = the_contract().trade_id();
    for (name, author, seq, action) in [
        ("trade-paid", taker(), 1, TradeAction::Paid),
        (
            "trade-chat",
            maker(),
            1,
            TradeAction::Chat {
                text: "See you at 6 at the U-Bahn exit.".into(),
            },
        ),
    ] {
        let m = Signed::sign(
            TradeMessage {
                trade_id,
                author: author.public(),
                seq,
                created_at: T0.plus(120),
                action,
            },
            &author,
        );
        vector(name, &m, m.id()).verify().unwrap();
    }
}
