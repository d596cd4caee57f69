//! The live own offers: what the per-maker quota counts and what the node
//! re-announces, kept apart from the history of every offer the node made.

use peerfx_core::testing::{offer, verified_offer, NOW};
use peerfx_core::*;
use peerfx_store::own::{OwnStatus, Reservation};
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
fn fill(s: &Store, maker: &Keypair, offer: &Verified<Offer>) {
    let taker = Keypair::generate();
    let r = Reservation {
        id: Hash::of(&[offer.id().as_bytes()]),
        offer_id: offer.id(),
        amount: offer.max_give,
        taker: taker.public(),
        expires_at: NOW.plus(60),
        contract: None,
    };
    s.reserve(&r, NOW).unwrap().unwrap();
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
        s.commit_reservation(&r.id, &trade).unwrap(),
        Ok(Amount::ZERO)
    );
}

fn ids(offers: &[peerfx_store::own::OwnOffer]) -> Vec<(OfferId, OwnStatus)> {
    offers
        .iter()
        .map(|o| (Verified::assume_verified(o.offer.clone()).id(), o.status))
        .collect()
}

#[test]
fn only_open_unexpired_offers_count_and_the_index_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = Keypair::generate();
    let soon = expiring(&k, 1, 100);
    let filled = verified_offer(&k, "EUR", "USD", "1.08", 2);
    let cancelled = expiring(&k, 3, 200);
    let open = expiring(&k, 4, 300);
    let backup = {
        let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        for o in [&soon, &filled, &cancelled, &open] {
            s.own_insert(o).unwrap();
        }
        assert_eq!(s.own_open_count(NOW), 4);
        fill(&s, &k, &filled);
        assert!(s.own_cancel(&cancel(&k, cancelled.id())).unwrap());
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
        assert_eq!(s.own_list().unwrap().len(), 4);
        s.export_backup(&k, NOW).unwrap()
    };

    // Rebuilt from the records at open.
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(s.own_open_count(NOW), 2);
    assert_eq!(s.own_live(NOW).unwrap().len(), 4);

    // And from a backup restored into an empty store.
    let other = tempfile::tempdir().unwrap();
    let restored = Store::open(other.path(), &StoreConfig::default()).unwrap();
    restored.import_backup(&backup).unwrap();
    assert_eq!(restored.own_open_count(NOW), 2);
    assert_eq!(
        ids(&restored.own_live(NOW).unwrap()),
        ids(&s.own_live(NOW).unwrap())
    );
}
