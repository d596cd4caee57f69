//! Ratings only from a party to a real contract; profiles that a clique of
//! fresh keys cannot game.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use peerfx_core::rating::{RatedOutcome, RatedTrade, Rating, RatingError};
use peerfx_core::reputation::{RatingFact, RatingIndex, Viewpoint};
use peerfx_core::testing::{verified_offer, verified_take, NOW};
use peerfx_core::trade::{build_contract, Side};
use peerfx_core::*;

fn contract(maker: &Keypair, taker: &Keypair) -> SignedContract {
    let offer = verified_offer(maker, "EUR", "USD", "1.08", 1);
    let request = verified_take(taker, &offer, 10_000);
    let c = build_contract(&offer, &request, offer.rate, NOW, 3600).unwrap();
    SignedContract::countersign(Signed::sign(c, maker), taker)
}

fn rate(contract: &SignedContract, rater: &Keypair, score: u8, comment: &str) -> RatedTrade {
    let rating = Rating {
        trade_id: contract.trade_id(),
        rater: rater.public(),
        outcome: RatedOutcome::Completed,
        score,
        comment: comment.into(),
        created_at: NOW.plus(60),
    };
    RatedTrade {
        contract: contract.clone(),
        rating: Signed::sign(rating, rater),
    }
}

#[test]
fn only_a_party_to_a_contract_both_signed_can_rate_and_each_rule_has_its_error() {
    let (maker, taker, stranger) = (
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
    );
    let c = contract(&maker, &taker);
    let limits = WireLimits::default();
    let now = NOW.plus(120);
    let ok = rate(&c, &taker, 5, "quick and friendly")
        .verify(now, &limits)
        .unwrap();
    assert_eq!((ok.rated, ok.rater_side), (maker.public(), Side::Taker));
    let err = |r: RatedTrade| r.verify(now, &limits).unwrap_err();
    assert_eq!(err(rate(&c, &stranger, 1, "")), RatingError::NotAParty);
    assert_eq!(err(rate(&c, &taker, 0, "")), RatingError::Score(0));
    assert_eq!(err(rate(&c, &taker, 6, "")), RatingError::Score(6));
    assert!(matches!(
        err(rate(&c, &taker, 3, &"x".repeat(281))),
        RatingError::Invalid(ValidationError::TextTooLong { .. })
    ));
    // A contract the rated party never signed: the rater signed both sides.
    let forged = contract(&Keypair::generate(), &taker);
    let mut r = rate(&forged, &taker, 1, "");
    r.contract.contract.body.maker = maker.public();
    r.rating = Signed::sign(
        Rating {
            trade_id: r.contract.trade_id(),
            ..r.rating.body.clone()
        },
        &taker,
    );
    assert_eq!(err(r), RatingError::BadContract);
    // A rating moved onto another contract.
    let other = contract(&Keypair::generate(), &taker);
    let mut moved = rate(&c, &taker, 5, "");
    moved.contract = other;
    assert_eq!(err(moved), RatingError::WrongTrade);
    // A tampered score.
    let mut tampered = rate(&c, &taker, 1, "");
    tampered.rating.body.score = 5;
    assert_eq!(
        err(tampered),
        RatingError::Invalid(ValidationError::BadSignature)
    );
    let mut early = rate(&c, &taker, 4, "");
    early.rating.body.created_at = NOW.minus(1);
    early.rating = Signed::sign(early.rating.body.clone(), &taker);
    assert_eq!(err(early), RatingError::BeforeTrade);
}

const DAY: u64 = 86_400;

fn fact(rater: &Keypair, rated: &Keypair, score: u8, received_at: Timestamp) -> RatingFact {
    RatingFact {
        rater: rater.public(),
        rated: rated.public(),
        trade_id: Hash::of(&[
            rater.public().as_bytes(),
            rated.public().as_bytes(),
            &received_at.0.to_be_bytes(),
        ]),
        rater_side: Side::Taker,
        outcome: RatedOutcome::Completed,
        score,
        received_at,
    }
}

/// 20 fresh keys rating each other five stars, against one honest trader
/// with 5 real trades with counterparties who trade with others too: from a
/// third node that traded with none of them, the honest trader ranks
/// higher, and above every member of the clique.
#[test]
fn a_clique_of_fresh_keys_does_not_outrank_an_honest_trader_with_history() {
    let now = NOW.plus(120 * DAY);
    let honest = Keypair::generate();
    let counterparties: Vec<Keypair> = (0..5).map(|_| Keypair::generate()).collect();
    let others: Vec<Keypair> = (0..5).map(|_| Keypair::generate()).collect();
    let mut facts = Vec::new();
    // The honest trader's counterparties have traded for months, each with
    // five other peers.
    for (i, c) in counterparties.iter().enumerate() {
        for o in &others {
            facts.push(fact(o, c, 5, NOW.plus(i as u64 * DAY)));
        }
        facts.push(fact(c, &honest, [5, 4, 5, 4, 5][i], NOW.plus(60 * DAY)));
    }
    let sybils: Vec<Keypair> = (0..20).map(|_| Keypair::generate()).collect();
    for a in &sybils {
        for b in &sybils {
            if a.public() != b.public() {
                facts.push(fact(a, b, 5, now.minus(3600)));
            }
        }
    }
    let third = Viewpoint {
        me: Keypair::generate().public(),
        counterparties: HashSet::new(),
        now,
    };
    let rep = RatingIndex::from_facts(facts.clone());
    let h = rep.profile(&honest.public(), &third);
    assert_eq!((h.completed, h.counterparties, h.failures), (5, 5, 0));
    let best_sybil = sybils
        .iter()
        .map(|s| rep.profile(&s.public(), &third))
        .max_by_key(|p| p.score)
        .unwrap();
    assert_eq!(best_sybil.completed, 0, "{best_sybil:?}");
    assert_eq!(best_sybil.completed_unvouched, 19);
    assert!(
        h.score > best_sybil.score,
        "honest {:?} vs sybil {:?}",
        h.score,
        best_sybil.score
    );
    assert!(best_sybil.score < Some(370), "{best_sybil:?}");

    // What the viewer's own counterparty says weighs more than strangers:
    // one bad rating from it pulls the honest trader down more than the
    // whole clique could pull it up.
    let mine = Keypair::generate();
    let mut with_mine = facts.clone();
    with_mine.push(fact(&mine, &honest, 1, now.minus(DAY)));
    let view = Viewpoint {
        counterparties: [mine.public()].into_iter().collect(),
        ..third.clone()
    };
    let with_mine = RatingIndex::from_facts(with_mine);
    let personal = with_mine.profile(&honest.public(), &view);
    let impersonal = with_mine.profile(&honest.public(), &third);
    assert!(personal.score < impersonal.score);
}

#[test]
fn a_peer_nobody_rated_has_no_score_and_a_failure_counts_against_the_side_at_fault() {
    let view = Viewpoint {
        me: Keypair::generate().public(),
        counterparties: HashSet::new(),
        now: NOW,
    };
    let (a, b) = (Keypair::generate(), Keypair::generate());
    let mut f = fact(&a, &b, 1, NOW);
    f.outcome = RatedOutcome::Failed(peerfx_core::trade::Failure {
        reason: peerfx_core::trade::FailReason::Unpaid,
        at_fault: Some(Side::Maker),
    });
    let rep = RatingIndex::from_facts([f]);
    let pb = rep.profile(&b.public(), &view);
    assert_eq!((pb.failures, pb.ratings), (1, 1));
    assert!(pb.score < Some(300));
    let pa = rep.profile(&a.public(), &view);
    assert_eq!((pa.ratings, pa.score), (0, None));
    assert_eq!(pa.first_seen, Some(NOW));
}
