//! Every validation rule, each with the precise error it must produce.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::codec::{self, CodecError};
use peerfx_core::testing::{cur, offer, NOW};
use peerfx_core::*;

fn check(o: Offer, key: &Keypair) -> Result<Verified<Offer>, ValidationError> {
    validate(Signed::sign(o, key), NOW, &WireLimits::default())
}

#[test]
fn a_good_offer_passes_and_its_author_is_its_peer() {
    let key = Keypair::generate();
    let v = check(offer(&key, "EUR", "USD", "1.08", 1), &key).unwrap();
    assert_eq!(v.maker.peer_id().unwrap(), key.peer_id());
    assert_eq!(v.id(), v.signed().id());
}

#[test]
fn each_rule_has_its_own_error() {
    let key = Keypair::generate();
    let base = || offer(&key, "EUR", "USD", "1.08", 1);
    let limits = WireLimits::default();
    type Expect = fn(&ValidationError) -> bool;
    let cases: Vec<(Offer, Expect)> = vec![
        (
            {
                let mut o = base();
                o.want = o.give;
                o
            },
            |e| matches!(e, ValidationError::SameCurrency(_)),
        ),
        (
            {
                let mut o = base();
                o.min_give = Amount(60_000);
                o
            },
            |e| matches!(e, ValidationError::MinAboveMax { .. }),
        ),
        (
            {
                let mut o = base();
                o.min_give = Amount(0);
                o
            },
            |e| matches!(e, ValidationError::ZeroAmount("min_give")),
        ),
        (
            {
                let mut o = base();
                o.expires_at = NOW;
                o
            },
            |e| matches!(e, ValidationError::Expired { .. }),
        ),
        (
            {
                let mut o = base();
                o.expires_at = NOW.plus(limits.max_offer_lifetime_secs + 1);
                o
            },
            |e| matches!(e, ValidationError::ExpiryTooFar { .. }),
        ),
        (
            {
                let mut o = base();
                o.created_at = NOW.plus(limits.max_clock_skew_secs + 1);
                o.expires_at = o.created_at.plus(100);
                o
            },
            |e| matches!(e, ValidationError::FromTheFuture { .. }),
        ),
        (
            {
                let mut o = base();
                o.note = "x".repeat(limits.max_note_bytes + 1);
                o
            },
            |e| matches!(e, ValidationError::TextTooLong { field: "note", .. }),
        ),
        (
            {
                let mut o = base();
                o.payment_methods.clear();
                o
            },
            |e| matches!(e, ValidationError::NoPaymentMethod),
        ),
        (
            {
                let mut o = base();
                o.payment_methods = (0..9).map(|i| format!("m{i}").parse().unwrap()).collect();
                o
            },
            |e| matches!(e, ValidationError::TooManyPaymentMethods { count: 9, .. }),
        ),
        (
            {
                let mut o = base();
                o.payment_methods.push("cash".parse().unwrap());
                o
            },
            |e| matches!(e, ValidationError::DuplicatePaymentMethod(_)),
        ),
        // A tiny minimum at a tiny rate costs nothing: refuse rather than trade for free.
        (
            {
                let mut o = base();
                o.min_give = Amount(1);
                o.rate = "0.001".parse().unwrap();
                o
            },
            |e| matches!(e, ValidationError::Unpriceable(_)),
        ),
    ];
    for (i, (o, expected)) in cases.into_iter().enumerate() {
        let err = check(o, &key).unwrap_err();
        assert!(expected(&err), "case {i}: got {err:?}");
        // Every error renders as a sentence a user can act on.
        assert!(!err.to_string().is_empty());
    }
}

/// Fields that cannot be built through the checked constructors are reached by
/// decoding hostile bytes: the wire types decode any well-formed value and leave
/// the verdict to validation.
#[test]
fn hostile_field_values_from_the_wire() {
    let key = Keypair::generate();
    let good = offer(&key, "EUR", "USD", "1.08", 1);

    // Unknown currency: re-encode with "XYZ" in place of "USD".
    let bytes = codec::encode(&Signed::sign(good.clone(), &key));
    let pos = bytes.windows(3).position(|w| w == b"USD").unwrap();
    let mut hostile = bytes.clone();
    hostile[pos..pos + 3].copy_from_slice(b"XYZ");
    let err = decode_and_validate::<Offer>(&hostile, NOW, &WireLimits::default()).unwrap_err();
    assert_eq!(err, ValidationError::UnknownCurrency("XYZ".into()));

    // Zero rate and absurd rate.
    for (mantissa, scale, want_zero) in [
        (0u64, 0u8, true),
        (1, 15, false),
        (5_000_000_000_000_000_000, 0, false),
    ] {
        let rate: Rate = codec::decode(&codec::encode(&(mantissa, scale))).unwrap();
        let mut o = good.clone();
        o.rate = rate;
        let err = check(o, &key).unwrap_err();
        if want_zero {
            assert_eq!(err, ValidationError::ZeroRate);
        } else {
            assert!(matches!(err, ValidationError::RateOutOfRange(_)), "{err:?}");
        }
    }

    // Bad geohash and payment method.
    let mut o = good.clone();
    o.geohash = Some(codec::decode(&codec::encode("u33a!")).unwrap());
    assert!(matches!(
        check(o, &key),
        Err(ValidationError::InvalidGeohash(_))
    ));
    let mut o = good.clone();
    o.payment_methods = vec![codec::decode(&codec::encode("Pay Pal")).unwrap()];
    assert!(matches!(
        check(o, &key),
        Err(ValidationError::InvalidPaymentMethod(_))
    ));
}

#[test]
fn signature_must_be_the_makers() {
    let maker = Keypair::generate();
    let other = Keypair::generate();
    // Signed by someone else while naming `maker` as author.
    let forged = Signed::sign(offer(&maker, "EUR", "USD", "1.08", 1), &other);
    assert_eq!(
        validate(forged, NOW, &WireLimits::default()).unwrap_err(),
        ValidationError::BadSignature
    );
    // A valid signature over a different body.
    let mut signed = Signed::sign(offer(&maker, "EUR", "USD", "1.08", 1), &maker);
    signed.body.rate = "1.09".parse().unwrap();
    assert_eq!(
        validate(signed, NOW, &WireLimits::default()).unwrap_err(),
        ValidationError::BadSignature
    );
}

#[test]
fn oversized_messages_are_refused() {
    let key = Keypair::generate();
    let mut o = offer(&key, "EUR", "USD", "1.08", 1);
    o.note = "x".repeat(5000);
    let bytes = codec::encode(&Signed::sign(o, &key));
    let err = decode_and_validate::<Offer>(&bytes, NOW, &WireLimits::default()).unwrap_err();
    assert!(matches!(err, ValidationError::TooLarge { .. }), "{err:?}");
    let huge = vec![codec::FORMAT_VERSION; codec::MAX_MESSAGE_BYTES + 1];
    let err = codec::decode::<Signed<Offer>>(&huge).unwrap_err();
    assert!(matches!(err, CodecError::TooLarge { .. }));
}

#[test]
fn a_signature_is_bound_to_its_kind() {
    // A cancel and an update signed by the maker are not interchangeable, even when
    // the bodies would encode alike: the domain differs.
    let key = Keypair::generate();
    let cancel = Signed::sign(
        OfferCancel {
            offer_id: Hash([7; 32]),
            maker: key.public(),
            created_at: NOW,
        },
        &key,
    );
    let as_update = Signed {
        body: OfferUpdate {
            offer_id: Hash([7; 32]),
            maker: key.public(),
            remaining: Amount(0),
            seq: 1,
            created_at: NOW,
        },
        signature: cancel.signature,
    };
    assert_eq!(as_update.verify(), Err(KeyError::BadSignature));
    assert!(cancel.verify().is_ok());
}

#[test]
fn batch_validation_isolates_the_bad_ones() {
    let keys: Vec<_> = (0..8).map(|_| Keypair::generate()).collect();
    let mut msgs: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Signed::sign(offer(k, "EUR", "USD", "1.08", i as u64), k))
        .collect();
    msgs[3].body.nonce += 1; // breaks the signature
    msgs[5].body.want = cur("EUR"); // breaks a rule (and the signature, checked later)
    let results = validate_batch(msgs, NOW, &WireLimits::default());
    for (i, r) in results.iter().enumerate() {
        match i {
            3 => assert_eq!(r.as_ref().unwrap_err(), &ValidationError::BadSignature),
            5 => assert!(matches!(r, Err(ValidationError::SameCurrency(_)))),
            _ => assert!(r.is_ok(), "{i}: {r:?}"),
        }
    }
}

#[test]
fn other_message_kinds_validate() {
    let maker = Keypair::generate();
    let taker = Keypair::generate();
    let limits = WireLimits::default();
    let take = TakeRequest {
        offer_id: Hash([1; 32]),
        taker: taker.public(),
        give_amount: Amount(0),
        counter_rate: None,
        payment_method: "cash".parse().unwrap(),
        created_at: NOW,
        nonce: 9,
    };
    assert_eq!(
        validate(Signed::sign(take.clone(), &taker), NOW, &limits).unwrap_err(),
        ValidationError::ZeroAmount("give_amount")
    );
    let take = TakeRequest {
        give_amount: Amount(100),
        ..take
    };
    assert!(validate(Signed::sign(take, &taker), NOW, &limits).is_ok());

    let chat = TradeMessage {
        trade_id: Hash([2; 32]),
        author: maker.public(),
        seq: 1,
        created_at: NOW,
        action: TradeAction::Chat {
            text: "y".repeat(limits.max_text_bytes + 1),
        },
    };
    assert!(matches!(
        validate(Signed::sign(chat.clone(), &maker), NOW, &limits),
        Err(ValidationError::TextTooLong {
            field: "chat text",
            ..
        })
    ));
    let zero_seq = TradeMessage {
        seq: 0,
        action: TradeAction::Paid,
        ..chat
    };
    assert_eq!(
        validate(Signed::sign(zero_seq, &maker), NOW, &limits).unwrap_err(),
        ValidationError::ZeroSeq
    );
}

#[test]
fn contract_is_signed_by_both() {
    let maker = Keypair::generate();
    let taker = Keypair::generate();
    let contract = Contract {
        offer_id: Hash([1; 32]),
        request_id: Hash([2; 32]),
        maker: maker.public(),
        taker: taker.public(),
        give: cur("EUR"),
        want: cur("USD"),
        give_amount: Amount(10_000),
        want_amount: Amount(10_800),
        rate: "1.08".parse().unwrap(),
        payment_method: "cash".parse().unwrap(),
        created_at: NOW,
        deadline: NOW.plus(86_400),
    };
    let signed = SignedContract::countersign(Signed::sign(contract.clone(), &maker), &taker);
    signed.verify().unwrap();
    assert_eq!(signed.trade_id(), Signed::sign(contract, &maker).id());
    let mut tampered = signed.clone();
    tampered.contract.body.want_amount = Amount(1);
    assert_eq!(tampered.verify(), Err(KeyError::BadSignature));
    let wrong_taker = SignedContract::countersign(signed.contract.clone(), &maker);
    assert_eq!(wrong_taker.verify(), Err(KeyError::BadSignature));
}

#[test]
fn text_from_peers_may_not_carry_terminal_control_or_bidi_overrides() {
    let key = Keypair::generate();
    let limits = WireLimits::default();
    for (bad, code_point) in [
        ("line erase \x1b[2K", 0x1b),
        ("fake\nstate completed", 0x0a),
        ("nul\0", 0x00),
        ("csi \u{9b}31m", 0x9b),
        ("rate 1.08 \u{202e}80.1", 0x202e),
    ] {
        let mut o = offer(&key, "EUR", "USD", "1.08", 1);
        o.note = bad.into();
        assert_eq!(
            check(o, &key).unwrap_err(),
            ValidationError::ForbiddenCharacter {
                field: "note",
                code_point
            },
            "{bad:?}"
        );
        let chat = TradeMessage {
            trade_id: Hash([2; 32]),
            author: key.public(),
            seq: 1,
            created_at: NOW,
            action: TradeAction::Chat { text: bad.into() },
        };
        assert!(matches!(
            validate(Signed::sign(chat, &key), NOW, &limits),
            Err(ValidationError::ForbiddenCharacter {
                field: "chat text",
                ..
            })
        ));
        let dispute = TradeMessage {
            trade_id: Hash([2; 32]),
            author: key.public(),
            seq: 1,
            created_at: NOW,
            action: TradeAction::Dispute { reason: bad.into() },
        };
        assert!(matches!(
            validate(Signed::sign(dispute, &key), NOW, &limits),
            Err(ValidationError::ForbiddenCharacter {
                field: "reason",
                ..
            })
        ));
    }
    let mut o = offer(&key, "EUR", "USD", "1.08", 1);
    o.note = "Kreuzberg — abends, 日本語 ok, \u{200f}mark".into();
    check(o, &key).unwrap();
}

#[test]
fn a_party_has_a_message_budget_per_trade_and_steps_always_fit() {
    use peerfx_core::trade::{BudgetKind, StepError, TradeState};
    let maker = Keypair::generate();
    let taker = Keypair::generate();
    let limits = WireLimits {
        max_trade_messages: 6,
        ..WireLimits::default()
    };
    let contract = Contract {
        offer_id: Hash([1; 32]),
        request_id: Hash([2; 32]),
        maker: maker.public(),
        taker: taker.public(),
        give: cur("EUR"),
        want: cur("USD"),
        give_amount: Amount(10_000),
        want_amount: Amount(10_800),
        rate: "1.08".parse().unwrap(),
        payment_method: "cash".parse().unwrap(),
        created_at: NOW,
        deadline: NOW.plus(86_400),
    };
    let id = Hash([3; 32]);
    let mut state = TradeState::new(&contract);
    let msg = |seq, action| TradeMessage {
        trade_id: id,
        author: taker.public(),
        seq,
        created_at: NOW,
        action,
    };
    let chat = |seq| msg(seq, TradeAction::Chat { text: "hi".into() });
    for seq in 1..=2 {
        state
            .admit(&contract, &id, &chat(seq), &limits, NOW)
            .unwrap();
        state.apply(&contract, &id, &chat(seq)).unwrap();
    }
    assert_eq!(
        state.admit(&contract, &id, &chat(3), &limits, NOW),
        Err(StepError::TooManyMessages {
            what: BudgetKind::Chat,
            max: 2
        })
    );
    // The four steps still fit after the chat budget is spent.
    for (seq, action) in [
        (3, TradeAction::Paid),
        (4, TradeAction::Received),
        (
            5,
            TradeAction::Dispute {
                reason: "late".into(),
            },
        ),
    ] {
        state
            .admit(&contract, &id, &msg(seq, action.clone()), &limits, NOW)
            .unwrap();
        state.apply(&contract, &id, &msg(seq, action)).unwrap();
    }
    state
        .admit(&contract, &id, &msg(6, TradeAction::Cancel), &limits, NOW)
        .unwrap();
    state
        .apply(&contract, &id, &msg(6, TradeAction::Cancel))
        .unwrap();
    assert!(matches!(
        state.admit(&contract, &id, &chat(7), &limits, NOW),
        Err(StepError::TooManyMessages {
            what: BudgetKind::Chat,
            ..
        })
    ));
    // Limits below the step reserve still bound steps.
    let tiny = WireLimits {
        max_trade_messages: 1,
        ..limits.clone()
    };
    let fresh = TradeState::new(&contract);
    fresh
        .admit(&contract, &id, &msg(1, TradeAction::Paid), &tiny, NOW)
        .unwrap();
    let mut two = fresh.clone();
    two.apply(&contract, &id, &msg(1, TradeAction::Paid))
        .unwrap();
    assert_eq!(
        two.admit(&contract, &id, &msg(2, TradeAction::Received), &tiny, NOW),
        Err(StepError::TooManyMessages {
            what: BudgetKind::Messages,
            max: 1
        })
    );
    // A stored log replays whatever the limits.
    let log = [chat(1), chat(2), chat(3)];
    assert!(TradeState::replay(&contract, &id, log.iter()).is_ok());
}

#[test]
fn the_size_limit_counts_the_whole_encoded_message() {
    let key = Keypair::generate();
    let mut o = offer(&key, "EUR", "USD", "1.08", 1);
    o.note = "n".repeat(200);
    let signed = Signed::sign(o, &key);
    let size = codec::encode(&signed).len();
    let limits = WireLimits {
        max_message_bytes: size - 1,
        max_note_bytes: 1000,
        ..WireLimits::default()
    };
    assert_eq!(
        validate(signed.clone(), NOW, &limits).unwrap_err(),
        ValidationError::TooLarge {
            size,
            max: size - 1
        }
    );
    let exact = WireLimits {
        max_message_bytes: size,
        ..limits
    };
    assert!(validate(signed.clone(), NOW, &exact).is_ok());
    assert!(validate_batch(vec![signed], NOW, &exact)[0].is_ok());
}
