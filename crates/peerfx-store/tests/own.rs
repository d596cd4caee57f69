//! The live own offers: what the per-maker quota counts and what the node
//! re-announces, kept apart from the history of every offer the node made.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::testing::{offer, verified_offer, NOW};
use peerfx_core::*;
use peerfx_store::own::{OwnStatus, PostError, Reservation};
use peerfx_store::trades::{Role, TradeRecord};
use peerfx_store::{Store, StoreConfig};

fn expiring(key: &Keypair, nonce: u64, secs: u64) -> Verified<Offer> {
    let mut o = offer(key, "EUR", "USD", "1.08", nonce);
    o.expires_at = NOW.plus(secs);
    validate(Signed::sign(o, key), NOW, &WireLimits::default()).unwrap()
}

fn cancel(key: &Keypair, id: OfferId) -> Signed<OfferCancel> {
    let c = OfferCancel {
        offer_id: id,
        maker: key.public(),
        created_at: NOW,
    };
    Signed::sign(c, key)
}

/// Sells the whole of `offer` to a made-up taker.
async fn fill(s: &Store, maker: &Keypair, offer: &Verified<Offer>) {
    let taker = Keypair::generate();
    let r = Reservation {
        id: Hash::of(&[offer.id().as_bytes()]),
        offer_id: offer.id(),
        amount: offer.max_give,
        taker: taker.public(),
        expires_at: NOW.plus(60),
        contract: None,
    };
    s.reserve(&r, NOW).await.unwrap().unwrap();
    let c = Contract {
        offer_id: offer.id(),
        request_id: r.id,
        maker: maker.public(),
        taker: taker.public(),
        give: offer.give,
        want: offer.want,
        give_amount: offer.max_give,
        want_amount: want_for_give(offer.max_give, offer.give, offer.want, &offer.rate).unwrap(),
        rate: offer.rate,
        payment_method: "cash".parse().unwrap(),
        created_at: NOW,
        deadline: NOW.plus(3600),
    };
    let trade = TradeRecord {
        contract: SignedContract::countersign(Signed::sign(c, maker), &taker),
        role: Role::Maker,
        stored_at: NOW,
        acked: 0,
    };
    assert_eq!(
        s.commit_reservation(&r.id, &trade).await.unwrap(),
        Ok(Amount::ZERO)
    );
}

fn ids(offers: &[peerfx_store::own::OwnOffer]) -> Vec<(OfferId, OwnStatus)> {
    offers
        .iter()
        .map(|o| (Verified::assume_verified(o.offer.clone()).id(), o.status))
        .collect()
}

#[tokio::test]
async fn only_open_unexpired_offers_count_and_the_index_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = Keypair::generate();
    let soon = expiring(&k, 1, 100);
    let filled = verified_offer(&k, "EUR", "USD", "1.08", 2);
    let cancelled = expiring(&k, 3, 200);
    let open = expiring(&k, 4, 300);
    let backup = {
        let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        for o in [&soon, &filled, &cancelled, &open] {
            s.own_insert(o, usize::MAX, NOW).await.unwrap().unwrap();
        }
        assert_eq!(s.own_open_count(NOW), 4);
        fill(&s, &k, &filled).await;
        assert!(s.own_cancel(&cancel(&k, cancelled.id())).await.unwrap());
        assert_eq!(s.own_open_count(NOW), 2);

        // Every live offer whatever its status (re-announcement sends the
        // cancels too), soonest expiry first.
        let live = [
            (soon.id(), OwnStatus::Open),
            (cancelled.id(), OwnStatus::Cancelled),
            (open.id(), OwnStatus::Open),
            (filled.id(), OwnStatus::Filled),
        ];
        assert_eq!(ids(&s.own_live(NOW).unwrap()), live);
        assert_eq!(ids(&s.own_live(NOW.plus(100)).unwrap()), live[1..]);
        // A clock stepped back finds the offer again.
        assert_eq!(ids(&s.own_live(NOW).unwrap()), live);
        assert_eq!(s.own_open_count(NOW.plus(100)), 1);
        assert_eq!(s.own_open_count(NOW.plus(300)), 0);
        // The history keeps them all.
        assert_eq!(s.own_page(None, 100).unwrap().len(), 4);
        s.export_backup(&k, NOW).unwrap()
    };

    // Rebuilt from the records at open.
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(s.own_open_count(NOW), 2);
    assert_eq!(s.own_live(NOW).unwrap().len(), 4);

    // And from a backup restored into an empty store.
    let other = tempfile::tempdir().unwrap();
    let restored = Store::open(other.path(), &StoreConfig::default()).unwrap();
    restored.import_backup(&backup).await.unwrap();
    assert_eq!(restored.own_open_count(NOW), 2);
    assert_eq!(
        ids(&restored.own_live(NOW).unwrap()),
        ids(&s.own_live(NOW).unwrap())
    );
}

#[tokio::test]
async fn the_quota_is_checked_with_the_insert_and_history_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let k = Keypair::generate();
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let offers: Vec<_> = (0..5)
        .map(|i| {
            let mut o = offer(&k, "EUR", "USD", "1.08", i);
            o.created_at = NOW.plus(i);
            validate(Signed::sign(o, &k), NOW.plus(i), &WireLimits::default()).unwrap()
        })
        .collect();
    // Five concurrent posts under a quota of three: exactly three get in.
    let posts = offers
        .iter()
        .map(|o| s.own_insert(o, 3, NOW))
        .collect::<Vec<_>>();
    let mut admitted = 0;
    for p in posts {
        match p.await.unwrap() {
            Ok(()) => admitted += 1,
            Err(PostError::Quota { open }) => assert_eq!(open, 3),
        }
    }
    assert_eq!(admitted, 3);
    assert_eq!(s.own_open_count(NOW), 3);
    // Pages: newest first, then after the last one seen.
    let first = s.own_page(None, 2).unwrap();
    let created: Vec<u64> = first.iter().map(|o| o.offer.body.created_at.0).collect();
    assert!(created[0] > created[1]);
    let rest = s.own_page(Some(&first[1].id()), 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest[0].offer.body.created_at < first[1].offer.body.created_at);
}
