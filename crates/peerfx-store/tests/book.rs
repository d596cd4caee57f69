//! Offer book rules: idempotence, tombstones, seq ordering, ordered queries,
//! expiry.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::testing::{cur, offer, verified_offer, NOW};
use peerfx_core::*;
use peerfx_store::book::{CancelOutcome, InsertOutcome, MergeOutcome, UpdateOutcome};
use peerfx_store::{Store, StoreConfig};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    (dir, s)
}

/// The store's sled database, opened directly (as an older peerfx left it),
/// once the store that had it has let go.
fn raw_sled(dir: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A store whose book holds at most `max` offers.
fn store_holding(max: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        max_book_offers: max,
        ..StoreConfig::default()
    };
    let s = Store::open(dir.path(), &config).unwrap();
    (dir, s)
}

fn update(key: &Keypair, id: OfferId, remaining: u64, seq: u64) -> Verified<OfferUpdate> {
    let u = OfferUpdate {
        offer_id: id,
        maker: key.public(),
        remaining: Amount(remaining),
        seq,
        created_at: NOW,
    };
    validate(Signed::sign(u, key), NOW, &WireLimits::default()).unwrap()
}

fn cancel(key: &Keypair, id: OfferId) -> Verified<OfferCancel> {
    let c = OfferCancel {
        offer_id: id,
        maker: key.public(),
        created_at: NOW,
    };
    validate(Signed::sign(c, key), NOW, &WireLimits::default()).unwrap()
}

#[test]
fn insert_is_idempotent() {
    let (_d, s) = store();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    assert_eq!(
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Duplicate
    );
    assert_eq!(s.book_len(), 1);
    assert_eq!(s.book_get(&o.id()).unwrap().unwrap().offer, o);
    assert_eq!(
        s.book_insert(&o, o.expires_at, &WireLimits::default())
            .unwrap(),
        InsertOutcome::Expired
    );
}

#[test]
fn updates_need_a_higher_seq_and_the_makers_key() {
    let (_d, s) = store();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    s.book_insert(&o, NOW, &WireLimits::default()).unwrap();
    assert_eq!(
        s.book_apply_update(&update(&k, o.id(), 40_000, 2)).unwrap(),
        UpdateOutcome::Applied(Amount(40_000))
    );
    assert_eq!(
        s.book_apply_update(&update(&k, o.id(), 45_000, 1)).unwrap(),
        UpdateOutcome::Stale
    );
    assert_eq!(
        s.book_apply_update(&update(&k, o.id(), 45_000, 2)).unwrap(),
        UpdateOutcome::Stale
    );
    assert_eq!(
        s.book_get(&o.id()).unwrap().unwrap().remaining,
        Amount(40_000)
    );
    let mallory = Keypair::generate();
    assert_eq!(
        s.book_apply_update(&update(&mallory, o.id(), 1, 9))
            .unwrap(),
        UpdateOutcome::WrongMaker
    );
    assert_eq!(
        s.book_apply_update(&update(&k, o.id(), 99_999, 3)).unwrap(),
        UpdateOutcome::AboveMax
    );
    assert_eq!(
        s.book_apply_update(&update(&k, Hash([9; 32]), 1, 3))
            .unwrap(),
        UpdateOutcome::UnknownOffer
    );
    // Closing with remaining 0 removes it for good.
    assert_eq!(
        s.book_apply_update(&update(&k, o.id(), 0, 4)).unwrap(),
        UpdateOutcome::Closed
    );
    assert!(s.book_get(&o.id()).unwrap().is_none());
    assert_eq!(
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Tombstoned
    );
}

#[test]
fn merging_applies_each_offer_then_its_update_in_one_batch() {
    let (_d, s) = store();
    let k = Keypair::generate();
    let fresh = verified_offer(&k, "EUR", "USD", "1.08", 1);
    let known = verified_offer(&k, "EUR", "USD", "1.09", 2);
    let filled = verified_offer(&k, "EUR", "USD", "1.10", 3);
    let gone = verified_offer(&k, "EUR", "USD", "1.11", 4);
    s.book_insert(&known, NOW, &WireLimits::default()).unwrap();
    s.book_apply_update(&update(&k, known.id(), 30_000, 5))
        .unwrap();
    s.book_apply_cancel(&cancel(&k, gone.id()), NOW, &WireLimits::default())
        .unwrap();

    let outcomes = s
        .book_merge_many(
            &[
                (fresh.clone(), Some(update(&k, fresh.id(), 40_000, 1))),
                // Older than what the book has: the offer is known, the update stale.
                (known.clone(), Some(update(&k, known.id(), 35_000, 4))),
                (filled.clone(), Some(update(&k, filled.id(), 0, 1))),
                (gone.clone(), Some(update(&k, gone.id(), 1, 1))),
                (verified_offer(&k, "EUR", "USD", "1.12", 5), None),
            ],
            NOW,
            &WireLimits::default(),
        )
        .unwrap();
    let expect = |offer, update| MergeOutcome { offer, update };
    assert_eq!(
        outcomes,
        vec![
            expect(
                InsertOutcome::Inserted,
                Some(UpdateOutcome::Applied(Amount(40_000)))
            ),
            expect(InsertOutcome::Duplicate, Some(UpdateOutcome::Stale)),
            expect(InsertOutcome::Inserted, Some(UpdateOutcome::Closed)),
            expect(InsertOutcome::Tombstoned, None),
            expect(InsertOutcome::Inserted, None),
        ]
    );
    assert_eq!(
        s.book_get(&fresh.id()).unwrap().unwrap().remaining,
        Amount(40_000)
    );
    assert_eq!(
        s.book_get(&known.id()).unwrap().unwrap().remaining,
        Amount(30_000)
    );
    // Filled on arrival: never listed, and a later copy stays out.
    assert!(s.book_get(&filled.id()).unwrap().is_none());
    assert_eq!(
        s.book_insert(&filled, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Tombstoned
    );
    assert!(s.book_get(&gone.id()).unwrap().is_none());
    assert_eq!(s.book_len(), 3);
}

#[test]
fn a_cancelled_offer_never_comes_back() {
    let (_d, s) = store();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    s.book_insert(&o, NOW, &WireLimits::default()).unwrap();
    let mallory = Keypair::generate();
    assert_eq!(
        s.book_apply_cancel(&cancel(&mallory, o.id()), NOW, &WireLimits::default())
            .unwrap(),
        CancelOutcome::WrongMaker
    );
    assert!(s.book_get(&o.id()).unwrap().is_some());
    assert_eq!(
        s.book_apply_cancel(&cancel(&k, o.id()), NOW, &WireLimits::default())
            .unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        s.book_apply_cancel(&cancel(&k, o.id()), NOW, &WireLimits::default())
            .unwrap(),
        CancelOutcome::AlreadyGone
    );
    assert_eq!(
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Tombstoned
    );
    assert_eq!(s.book_len(), 0);
}

#[test]
fn a_cancel_before_its_offer_is_remembered_for_the_same_maker_only() {
    let (_d, s) = store();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    assert_eq!(
        s.book_apply_cancel(&cancel(&k, o.id()), NOW, &WireLimits::default())
            .unwrap(),
        CancelOutcome::Remembered
    );
    assert_eq!(
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Tombstoned
    );

    // Someone else's early "cancel" does not keep a real offer out.
    let o2 = verified_offer(&k, "EUR", "USD", "1.08", 2);
    let mallory = Keypair::generate();
    s.book_apply_cancel(&cancel(&mallory, o2.id()), NOW, &WireLimits::default())
        .unwrap();
    assert_eq!(
        s.book_insert(&o2, NOW, &WireLimits::default()).unwrap(),
        InsertOutcome::Inserted
    );
}

#[test]
fn queries_come_best_rate_first_and_respect_filters() {
    let (_d, s) = store();
    let keys: Vec<_> = (0..3).map(|_| Keypair::generate()).collect();
    // Offers giving USD for EUR at various rates (EUR per USD), plus noise.
    let rates = ["0.95", "0.92", "0.93", "0.92", "0.99"];
    let mut ids = Vec::new();
    for (i, r) in rates.iter().enumerate() {
        let o = verified_offer(&keys[i % 3], "USD", "EUR", r, i as u64);
        ids.push(o.id());
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap();
    }
    s.book_insert(
        &verified_offer(&keys[0], "EUR", "USD", "1.08", 99),
        NOW,
        &WireLimits::default(),
    )
    .unwrap();
    s.book_insert(
        &verified_offer(&keys[0], "GBP", "EUR", "1.15", 98),
        NOW,
        &WireLimits::default(),
    )
    .unwrap();

    let q = MatchQuery {
        pay: cur("EUR"),
        receive: cur("USD"),
        pay_amount: None,
        min_rate: None,
        payment_method: None,
        near: None,
    };
    let got: Vec<String> = s
        .book_query(&q, NOW, 100)
        .unwrap()
        .iter()
        .map(|(e, _)| e.offer.rate.to_string())
        .collect();
    assert_eq!(got, ["0.92", "0.92", "0.93", "0.95", "0.99"]);

    // "At least 1.075 USD per EUR": rate * 1.075 <= 1, so 0.92 and 0.93 only.
    let q2 = MatchQuery {
        min_rate: Some("1.075".parse().unwrap()),
        ..q.clone()
    };
    let got = s.book_query(&q2, NOW, 100).unwrap();
    assert_eq!(got.len(), 3);
    // Same results as the in-memory reference matcher.
    let all: Vec<_> = s.book_list(None, NOW, 1000).unwrap();
    let reference: Vec<_> = match_offers(&all, &q2, NOW)
        .into_iter()
        .map(|(e, f)| (e.offer.id(), f))
        .collect();
    let from_store: Vec<_> = got.iter().map(|(e, f)| (e.offer.id(), *f)).collect();
    assert_eq!(from_store, reference);

    // Limit, and a budget: 100 EUR buys 100/0.92 = 108.69 USD, within 100..500.
    let q3 = MatchQuery {
        pay_amount: Some(Amount(10_000)),
        ..q.clone()
    };
    let got = s.book_query(&q3, NOW, 1).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1,
        Fill {
            give_amount: Amount(10_869),
            want_amount: Amount(9_999)
        }
    );

    // A payment method nobody offers, and a place far away.
    let q4 = MatchQuery {
        payment_method: Some("mpesa".parse().unwrap()),
        ..q.clone()
    };
    assert!(s.book_query(&q4, NOW, 100).unwrap().is_empty());
    let q5 = MatchQuery {
        near: Some(("9q8yy".parse().unwrap(), 50)),
        ..q.clone()
    };
    assert!(s.book_query(&q5, NOW, 100).unwrap().is_empty());
    let q6 = MatchQuery {
        near: Some(("u33db".parse().unwrap(), 50)),
        ..q
    };
    assert_eq!(s.book_query(&q6, NOW, 100).unwrap().len(), 5);

    let market: Market = "EUR-USD".parse().unwrap();
    assert_eq!(s.book_list(Some(market), NOW, 100).unwrap().len(), 6);
}

#[test]
fn expired_offers_and_old_tombstones_are_purged() {
    let (_d, s) = store();
    let k = Keypair::generate();
    let mut short = offer(&k, "EUR", "USD", "1.08", 1);
    short.expires_at = NOW.plus(10);
    let short = validate(Signed::sign(short, &k), NOW, &WireLimits::default()).unwrap();
    let long = verified_offer(&k, "EUR", "USD", "1.08", 2);
    s.book_insert(&short, NOW, &WireLimits::default()).unwrap();
    s.book_insert(&long, NOW, &WireLimits::default()).unwrap();
    s.book_apply_cancel(&cancel(&k, long.id()), NOW, &WireLimits::default())
        .unwrap();
    assert_eq!(
        s.book_purge_expired(NOW.plus(9), &WireLimits::default()),
        vec![]
    );
    assert_eq!(
        s.book_purge_expired(NOW.plus(10), &WireLimits::default()),
        vec![short.id()]
    );
    assert_eq!(s.book_len(), 0);
    assert!(s.book_is_tombstoned(&long.id()).unwrap());
    s.book_purge_expired(long.expires_at, &WireLimits::default());
    assert!(!s.book_is_tombstoned(&long.id()).unwrap());
}

#[test]
fn a_maker_gets_at_most_the_quota_and_room_comes_back_when_offers_leave() {
    let (_d, s) = store();
    let limits = WireLimits {
        max_open_offers_per_maker: 3,
        ..WireLimits::default()
    };
    let k = Keypair::generate();
    let offers: Vec<_> = (0..4)
        .map(|i| verified_offer(&k, "EUR", "USD", "1.08", i))
        .collect();
    let outcomes = s.book_insert_many(&offers, NOW, &limits).unwrap();
    assert_eq!(
        outcomes,
        vec![
            InsertOutcome::Inserted,
            InsertOutcome::Inserted,
            InsertOutcome::Inserted,
            InsertOutcome::OverQuota
        ]
    );
    assert_eq!(s.book_maker_offers(&k.public()).unwrap(), 3);
    // Someone else is not held to this maker's count.
    let other = verified_offer(&Keypair::generate(), "EUR", "USD", "1.08", 9);
    assert_eq!(
        s.book_insert(&other, NOW, &limits).unwrap(),
        InsertOutcome::Inserted
    );
    // A cancel, a fill and an expiry each free a place.
    s.book_apply_cancel(&cancel(&k, offers[0].id()), NOW, &limits)
        .unwrap();
    assert_eq!(
        s.book_insert(&offers[3], NOW, &limits).unwrap(),
        InsertOutcome::Inserted
    );
    s.book_apply_update(&update(&k, offers[1].id(), 0, 1))
        .unwrap();
    assert_eq!(s.book_maker_offers(&k.public()).unwrap(), 2);
    s.book_purge_expired(offers[2].expires_at, &WireLimits::default());
    assert_eq!(s.book_maker_offers(&k.public()).unwrap(), 0);
    assert_eq!(s.book_len(), 0);
}

#[test]
fn an_expired_offer_does_not_hold_a_place_while_it_waits_for_the_purge() {
    let (_d, s) = store();
    let limits = WireLimits {
        max_open_offers_per_maker: 2,
        ..WireLimits::default()
    };
    let k = Keypair::generate();
    let mut short = offer(&k, "EUR", "USD", "1.08", 1);
    short.expires_at = NOW.plus(10);
    let short = validate(Signed::sign(short, &k), NOW, &limits).unwrap();
    let long = verified_offer(&k, "EUR", "USD", "1.08", 2);
    let replacement = verified_offer(&k, "EUR", "USD", "1.08", 3);
    s.book_insert_many(&[short, long], NOW, &limits).unwrap();
    assert_eq!(
        s.book_insert(&replacement, NOW.plus(9), &limits).unwrap(),
        InsertOutcome::OverQuota
    );
    // Expired but not purged yet: it no longer counts.
    assert_eq!(
        s.book_insert(&replacement, NOW.plus(10), &limits).unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(s.book_maker_offers(&k.public()).unwrap(), 3);
}

#[test]
fn a_full_book_refuses_new_offers_until_one_leaves() {
    let (_d, s) = store_holding(2);
    let limits = WireLimits::default();
    let makers: Vec<_> = (0..3).map(|_| Keypair::generate()).collect();
    let offers: Vec<_> = makers
        .iter()
        .map(|k| verified_offer(k, "EUR", "USD", "1.08", 1))
        .collect();
    assert_eq!(
        s.book_insert_many(&offers, NOW, &limits).unwrap(),
        vec![
            InsertOutcome::Inserted,
            InsertOutcome::Inserted,
            InsertOutcome::BookFull
        ]
    );
    s.book_apply_cancel(&cancel(&makers[0], offers[0].id()), NOW, &limits)
        .unwrap();
    assert_eq!(
        s.book_insert(&offers[2], NOW, &limits).unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(s.book_len(), 2);
}

#[test]
fn a_full_book_makes_room_for_another_market_from_the_fullest_one() {
    let (_d, s) = store_holding(4);
    let limits = WireLimits::default();
    let offer_in = |give, want, rate| verified_offer(&Keypair::generate(), give, want, rate, 1);
    let insert = |o: &Verified<Offer>| s.book_insert(o, NOW, &limits).unwrap();
    // A flood fills the book in one market, one offer per key.
    let flood: Vec<_> = ["1.05", "1.09", "1.07", "1.06"]
        .iter()
        .map(|r| offer_in("EUR", "USD", r))
        .collect();
    for o in &flood {
        assert_eq!(insert(o), InsertOutcome::Inserted);
    }
    // More of the fullest market is refused, however good its price.
    assert_eq!(
        insert(&offer_in("EUR", "USD", "1.01")),
        InsertOutcome::BookFull
    );
    // Another market's offer takes the place of the flood's worst-priced one.
    let gbp_maker = Keypair::generate();
    let gbp = verified_offer(&gbp_maker, "GBP", "USD", "1.27", 1);
    assert_eq!(
        insert(&gbp),
        InsertOutcome::InsertedInPlaceOf(flood[1].id())
    );
    assert!(s.book_get(&flood[1].id()).unwrap().is_none());
    // Either direction of that market counts as that market.
    assert_eq!(
        insert(&offer_in("USD", "GBP", "0.79")),
        InsertOutcome::InsertedInPlaceOf(flood[2].id())
    );
    // Two each: the shares are even, so nobody gives way.
    let third = offer_in("GBP", "USD", "1.26");
    assert_eq!(insert(&third), InsertOutcome::BookFull);
    assert_eq!(s.book_len(), 4);
    // An evicted offer is not tombstoned: it comes back when there is room.
    assert!(!s.book_is_tombstoned(&flood[1].id()).unwrap());
    s.book_apply_cancel(&cancel(&gbp_maker, gbp.id()), NOW, &limits)
        .unwrap();
    assert_eq!(insert(&flood[1]), InsertOutcome::Inserted);
}

#[tokio::test]
async fn a_full_book_never_evicts_or_refuses_the_nodes_own_offers() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        max_book_offers: 3,
        ..StoreConfig::default()
    };
    let limits = WireLimits::default();
    let me = Keypair::generate();
    let own = |rate, nonce| verified_offer(&me, "EUR", "USD", rate, nonce);
    let foreign = |give, want, rate| verified_offer(&Keypair::generate(), give, want, rate, 1);
    let worst_own = own("1.20", 1);
    let cheap = [foreign("EUR", "USD", "1.05"), foreign("EUR", "USD", "1.06")];
    {
        let s = Store::open(dir.path(), &config).unwrap();
        let insert = |o: &Verified<Offer>| s.book_insert(o, NOW, &limits).unwrap();
        s.own_insert(&worst_own, usize::MAX, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(insert(&worst_own), InsertOutcome::Inserted);
        for o in &cheap {
            assert_eq!(insert(o), InsertOutcome::Inserted);
        }
        // The fullest market's worst price is our own offer: the next worst
        // gives way instead.
        assert_eq!(
            insert(&foreign("GBP", "USD", "1.27")),
            InsertOutcome::InsertedInPlaceOf(cheap[1].id())
        );
        // Our own offer in the fullest market of a full book still gets in.
        let second_own = own("1.19", 2);
        s.own_insert(&second_own, usize::MAX, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(insert(&second_own), InsertOutcome::Inserted);
        assert_eq!(s.book_len(), 4);
    }
    // After a reopen the store still knows which offers are its own.
    let s = Store::open(dir.path(), &config).unwrap();
    assert_eq!(
        s.book_insert(&foreign("USD", "JPY", "150"), NOW, &limits)
            .unwrap(),
        InsertOutcome::InsertedInPlaceOf(cheap[0].id())
    );
    assert!(s.book_get(&worst_own.id()).unwrap().is_some());
}

#[tokio::test]
async fn the_book_is_written_behind_and_comes_back_whole_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let limits = WireLimits::default();
    let k = Keypair::generate();
    let offers: Vec<_> = ["1.10", "1.08", "1.09"]
        .iter()
        .enumerate()
        .map(|(i, rate)| verified_offer(&k, "EUR", "USD", rate, i as u64))
        .collect();
    let unseen = verified_offer(&k, "EUR", "USD", "1.07", 9);
    {
        let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        s.book_insert_many(&offers, NOW, &limits).unwrap();
        s.book_apply_update(&update(&k, offers[0].id(), 40_000, 1))
            .unwrap();
        s.book_apply_cancel(&cancel(&k, offers[2].id()), NOW, &limits)
            .unwrap();
        s.book_apply_cancel(&cancel(&k, unseen.id()), NOW, &limits)
            .unwrap();
        // Three offers (one since deleted) and two tombstones were pending.
        assert_eq!(s.book_persist().await.unwrap(), 5);
        assert_eq!(s.book_persist().await.unwrap(), 0, "nothing left to write");
        // A change after the last persist is written when the store closes.
        s.book_apply_update(&update(&k, offers[1].id(), 30_000, 1))
            .unwrap();
    }
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(s.book_len(), 2);
    assert_eq!(s.book_maker_offers(&k.public()).unwrap(), 2);
    let listed = s.book_list(None, NOW, 10).unwrap();
    let got: Vec<(OfferId, u64)> = listed
        .iter()
        .map(|e| (e.offer.id(), e.remaining.0))
        .collect();
    // Best rate first, each with the latest update applied.
    assert_eq!(
        got,
        vec![(offers[1].id(), 30_000), (offers[0].id(), 40_000)]
    );
    for gone in [&offers[2], &unseen] {
        assert!(s.book_is_tombstoned(&gone.id()).unwrap());
        assert_eq!(
            s.book_insert(gone, NOW, &limits).unwrap(),
            InsertOutcome::Tombstoned
        );
    }
}

#[tokio::test]
async fn a_schema_1_directory_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    {
        let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        s.book_insert(&o, NOW, &WireLimits::default()).unwrap();
        s.flush().await.unwrap();
    }
    // What schema 1 left: its version, and the trees now kept in memory.
    {
        let db = raw_sled(dir.path());
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &1u32.to_be_bytes())
            .unwrap();
        for name in ["book_index", "book_expiry", "book_makers"] {
            db.open_tree(name).unwrap().insert(b"k", b"v").unwrap();
        }
        db.flush().unwrap();
    }
    drop(Store::open(dir.path(), &StoreConfig::default()).unwrap());
    let db = raw_sled(dir.path());
    let version = db.open_tree("meta").unwrap().get("schema_version").unwrap();
    assert_eq!(
        version.as_deref(),
        Some(&peerfx_store::SCHEMA_VERSION.to_be_bytes()[..])
    );
    let names: Vec<_> = db.tree_names();
    for name in ["book_index", "book_expiry", "book_makers"] {
        assert!(
            !names.iter().any(|n| n.as_ref() == name.as_bytes()),
            "{name} kept"
        );
    }
    assert!(db
        .open_tree("book")
        .unwrap()
        .contains_key(o.id().as_bytes())
        .unwrap());
}

#[test]
fn early_cancels_are_capped_and_the_makers_cancel_beats_anyone_elses() {
    let (_d, s) = store_holding(2);
    let limits = WireLimits::default();
    let k = Keypair::generate();
    let mallory = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    // Mallory's early cancel of o's id does not stop o, nor o's maker's cancel.
    assert_eq!(
        s.book_apply_cancel(&cancel(&mallory, o.id()), NOW, &limits)
            .unwrap(),
        CancelOutcome::Remembered
    );
    assert_eq!(
        s.book_insert(&o, NOW, &limits).unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        s.book_apply_cancel(&cancel(&k, o.id()), NOW, &limits)
            .unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        s.book_insert(&o, NOW, &limits).unwrap(),
        InsertOutcome::Tombstoned
    );
    // Cancels of offers nobody has seen: as many as the book holds offers.
    let unseen: Vec<_> = (10..13)
        .map(|i| verified_offer(&mallory, "EUR", "USD", "1.08", i))
        .collect();
    let outcomes: Vec<_> = unseen
        .iter()
        .map(|u| {
            s.book_apply_cancel(&cancel(&mallory, u.id()), NOW, &limits)
                .unwrap()
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            CancelOutcome::Remembered,
            CancelOutcome::Remembered,
            CancelOutcome::NotRemembered
        ]
    );
    // Room comes back as they are forgotten.
    s.book_purge_expired(Timestamp(u64::MAX), &WireLimits::default());
    assert_eq!(
        s.book_apply_cancel(&cancel(&mallory, unseen[2].id()), NOW, &limits)
            .unwrap(),
        CancelOutcome::Remembered
    );
}

/// The book check's digest: the same offers at the same seqs give the same
/// digest whatever the order they arrived in; an update, another offer or
/// the other market's book give another; expired offers do not count.
#[test]
fn the_digest_is_the_open_offers_at_their_seqs_in_any_order() {
    let (_d1, a) = store();
    let (_d2, b) = store();
    let k = Keypair::generate();
    let market: Market = "EUR-USD".parse().unwrap();
    let offers: Vec<_> = (1..=3)
        .map(|n| verified_offer(&k, "EUR", "USD", "1.08", n))
        .collect();
    let other_market = verified_offer(&k, "GBP", "USD", "1.25", 9);
    let limits = WireLimits::default();
    for o in &offers {
        a.book_insert(o, NOW, &limits).unwrap();
    }
    for o in offers.iter().rev() {
        b.book_insert(o, NOW, &limits).unwrap();
    }
    b.book_insert(&other_market, NOW, &limits).unwrap();
    let digest = a.book_digest(market, NOW);
    assert_eq!(digest.count, 3);
    assert_eq!(digest, b.book_digest(market, NOW));
    assert_ne!(digest, a.book_digest("GBP-USD".parse().unwrap(), NOW));

    b.book_apply_update(&update(&k, offers[0].id(), 40_000, 2))
        .unwrap();
    assert_ne!(a.book_digest(market, NOW), b.book_digest(market, NOW));
    a.book_apply_update(&update(&k, offers[0].id(), 40_000, 2))
        .unwrap();
    assert_eq!(a.book_digest(market, NOW), b.book_digest(market, NOW));

    let after_expiry = offers[0].body().expires_at;
    assert_eq!(a.book_digest(market, after_expiry).count, 0);
    assert_eq!(
        a.book_digest(market, after_expiry),
        peerfx_core::protocol::BookDigest::EMPTY
    );
}
