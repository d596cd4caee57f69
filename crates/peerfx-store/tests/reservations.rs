//! Reservations never over-commit an offer, however many takers race.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use peerfx_core::testing::{verified_offer, NOW};
use peerfx_core::*;
use peerfx_store::own::{OwnStatus, Reservation, ReserveError};
use peerfx_store::trades::{Role, TradeRecord};
use peerfx_store::{Store, StoreConfig};

fn res(offer: OfferId, n: u64, amount: u64) -> Reservation {
    Reservation {
        id: Hash::of(&[&n.to_be_bytes(), offer.as_bytes()]),
        offer_id: offer,
        amount: Amount(amount),
        taker: PublicKey([n as u8; 32]),
        expires_at: NOW.plus(60),
        contract: None,
    }
}

fn trade_for(maker: &Keypair, offer: &Verified<Offer>, amount: u64, n: u64) -> TradeRecord {
    let taker = Keypair::from_secret(&[n as u8 + 1; 32]).unwrap();
    let c = Contract {
        offer_id: offer.id(),
        request_id: Hash([n as u8; 32]),
        maker: maker.public(),
        taker: taker.public(),
        give: offer.give,
        want: offer.want,
        give_amount: Amount(amount),
        want_amount: want_for_give(Amount(amount), offer.give, offer.want, &offer.rate).unwrap(),
        rate: offer.rate,
        payment_method: "cash".parse().unwrap(),
        created_at: NOW,
        deadline: NOW.plus(3600),
    };
    TradeRecord {
        contract: SignedContract::countersign(Signed::sign(c, maker), &taker),
        role: Role::Maker,
        stored_at: NOW,
        acked: 0,
    }
}

#[tokio::test]
async fn many_threads_racing_on_one_offer_never_over_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let k = Keypair::generate();
    // 100.00 .. 500.00 EUR: room for exactly five 100.00 takes.
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    s.own_insert(&o, usize::MAX, NOW).await.unwrap().unwrap();

    let threads = 8;
    let per_thread = 10;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (s, barrier, id) = (s.clone(), barrier.clone(), o.id());
            std::thread::spawn(move || {
                barrier.wait();
                (0..per_thread)
                    .map(|i| {
                        futures::executor::block_on(
                            s.reserve(&res(id, (t * per_thread + i) as u64, 10_000), NOW),
                        )
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 5);
    assert!(results.iter().filter(|r| r.is_err()).all(
        |r| matches!(r, Err(ReserveError::Insufficient { available }) if *available == Amount::ZERO)
    ));
    let rec = s.own_get(&o.id()).unwrap().unwrap();
    assert_eq!(rec.reserved, Amount(50_000));
    assert_eq!(rec.available(), Amount::ZERO);
}

#[tokio::test]
async fn reserve_commit_release_accounting() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    s.own_insert(&o, usize::MAX, NOW).await.unwrap().unwrap();
    let id = o.id();

    assert_eq!(
        s.reserve(&res(id, 1, 5_000), NOW).await.unwrap(),
        Err(ReserveError::OutOfRange {
            min: Amount(10_000),
            max: Amount(50_000)
        })
    );
    assert_eq!(
        s.reserve(&res(Hash([0; 32]), 1, 10_000), NOW)
            .await
            .unwrap(),
        Err(ReserveError::UnknownOffer)
    );
    assert_eq!(
        s.reserve(&res(id, 1, 10_000), o.expires_at).await.unwrap(),
        Err(ReserveError::Expired)
    );

    let r1 = s.reserve(&res(id, 1, 30_000), NOW).await.unwrap().unwrap();
    // A retry of the same take is idempotent; the same id with other terms is not.
    assert_eq!(
        s.reserve(&res(id, 1, 30_000), NOW).await.unwrap(),
        Ok(r1.clone())
    );
    assert_eq!(
        s.reserve(&res(id, 1, 20_000), NOW).await.unwrap(),
        Err(ReserveError::Conflict)
    );
    assert_eq!(
        s.reserve(&res(id, 2, 30_000), NOW).await.unwrap(),
        Err(ReserveError::Insufficient {
            available: Amount(20_000)
        })
    );

    // Commit stores the trade and sells the amount, atomically.
    let trade = trade_for(&k, &o, 30_000, 1);
    assert_eq!(
        s.commit_reservation(&r1.id, &trade).await.unwrap(),
        Ok(Amount(20_000))
    );
    assert!(s.commit_reservation(&r1.id, &trade).await.unwrap().is_err());
    assert_eq!(
        s.trade_get(&trade.contract.trade_id()).unwrap(),
        Some(trade)
    );

    // Expired reservations are released, not stuck.
    let r2 = s.reserve(&res(id, 2, 15_000), NOW).await.unwrap().unwrap();
    assert_eq!(s.own_get(&id).unwrap().unwrap().available(), Amount(5_000));
    assert!(s.release_expired(NOW.plus(59)).await.unwrap().is_empty());
    assert_eq!(s.release_expired(NOW.plus(60)).await.unwrap(), vec![r2]);
    assert_eq!(s.own_get(&id).unwrap().unwrap().available(), Amount(20_000));

    // Less than the minimum left: the remainder can be taken whole.
    let r3 = s.reserve(&res(id, 3, 20_000), NOW).await.unwrap().unwrap();
    assert_eq!(
        s.commit_reservation(&r3.id, &trade_for(&k, &o, 20_000, 3))
            .await
            .unwrap(),
        Ok(Amount::ZERO)
    );
    assert_eq!(s.own_get(&id).unwrap().unwrap().status, OwnStatus::Filled);
    assert_eq!(
        s.reserve(&res(id, 4, 10_000), NOW).await.unwrap(),
        Err(ReserveError::Insufficient {
            available: Amount::ZERO
        })
    );
    assert_eq!(s.trade_page(None, 10).unwrap().len(), 2);
}

/// A maker's trade that ends unfilled gives its amount back to the offer
/// exactly once; a trade still running, a completed one and the taker's copy
/// give nothing.
#[tokio::test]
async fn an_unfilled_end_gives_the_amount_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    s.own_insert(&o, usize::MAX, NOW).await.unwrap().unwrap();
    let id = o.id();
    let mut trades = Vec::new();
    for n in 1..=2 {
        let r = s.reserve(&res(id, n, 20_000), NOW).await.unwrap().unwrap();
        let t = trade_for(&k, &o, 20_000, n);
        s.commit_reservation(&r.id, &t).await.unwrap().unwrap();
        trades.push(t);
    }
    let remaining = |s: &Store| s.own_get(&id).unwrap().unwrap().remaining;
    assert_eq!(remaining(&s), Amount(10_000));
    let first = trades[0].contract.trade_id();
    // Running: nothing to give back, nothing to scan.
    assert_eq!(s.trade_release(&first, NOW).await.unwrap(), None);
    assert!(s.trades_to_release(NOW).unwrap().is_empty());

    // The maker cancels the first before anyone paid: cancelled.
    let cancel = Signed::sign(
        TradeMessage {
            trade_id: first,
            author: k.public(),
            seq: 1,
            created_at: NOW,
            action: TradeAction::Cancel,
        },
        &k,
    );
    let (contract, body) = (
        trades[0].contract.contract.body.clone(),
        cancel.body.clone(),
    );
    s.trade_append(&first, &cancel, move |_, state| {
        let mut next = state.clone();
        next.apply(&contract, &first, &body)?;
        Ok(next)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(s.trades_to_release(NOW).unwrap(), vec![first]);
    let back = s.trade_release(&first, NOW).await.unwrap().unwrap();
    assert_eq!(
        (back.offer_id, back.amount, back.remaining),
        (id, Amount(20_000), Amount(30_000))
    );
    assert_eq!(remaining(&s), Amount(30_000));
    // Once only, also after a reopen.
    assert_eq!(s.trade_release(&first, NOW).await.unwrap(), None);
    drop(s);
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(s.trade_release(&first, NOW).await.unwrap(), None);
    assert_eq!(remaining(&s), Amount(30_000));

    // The second expires unpaid at its deadline, and only then.
    let second = trades[1].contract.trade_id();
    let deadline = trades[1].contract.contract.body.deadline;
    assert!(s.trades_to_release(NOW.plus(60)).unwrap().is_empty());
    assert_eq!(s.trades_to_release(deadline).unwrap(), vec![second]);
    s.trade_release(&second, deadline).await.unwrap().unwrap();
    assert_eq!(remaining(&s), o.max_give);
    assert!(s.trades_to_release(deadline).unwrap().is_empty());
}

/// The taker's copy of a cancelled trade gives nothing back (it has no offer),
/// but is marked, so the maintenance scan does not find it again.
#[tokio::test]
async fn the_takers_copy_of_an_ended_trade_is_only_marked() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    let mut t = trade_for(&k, &o, 20_000, 1);
    t.role = Role::Taker;
    s.trade_insert(&t).await.unwrap();
    let deadline = t.contract.contract.body.deadline;
    let id = t.contract.trade_id();
    assert_eq!(s.trades_to_release(deadline).unwrap(), vec![id]);
    assert_eq!(s.trade_release(&id, deadline).await.unwrap(), None);
    assert!(s.trades_to_release(deadline).unwrap().is_empty());
}

/// A schema-3 directory's trade heads hold the old state layout: the upgrade
/// rebuilds every head from its log, so the trade reads as it did.
#[tokio::test]
async fn an_upgrade_rebuilds_trade_heads_from_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    let k = Keypair::generate();
    let o = verified_offer(&k, "EUR", "USD", "1.08", 1);
    let t = trade_for(&k, &o, 20_000, 1);
    let id = t.contract.trade_id();
    {
        let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        s.own_insert(&o, usize::MAX, NOW).await.unwrap().unwrap();
        let r = s
            .reserve(&res(o.id(), 1, 20_000), NOW)
            .await
            .unwrap()
            .unwrap();
        s.commit_reservation(&r.id, &t).await.unwrap().unwrap();
        let paid = Signed::sign(
            TradeMessage {
                trade_id: id,
                author: k.public(),
                seq: 1,
                created_at: NOW,
                action: TradeAction::Paid,
            },
            &k,
        );
        let (contract, body) = (t.contract.contract.body.clone(), paid.body.clone());
        s.trade_append(&id, &paid, move |_, state| {
            let mut next = state.clone();
            next.apply(&contract, &id, &body)?;
            Ok(next)
        })
        .await
        .unwrap()
        .unwrap();
        s.flush().await.unwrap();
    }
    // What schema 3 left: its version, and a head this build cannot read.
    {
        let db = sled::open(dir.path().join("sled")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &3u32.to_be_bytes())
            .unwrap();
        db.open_tree("trade_heads")
            .unwrap()
            .insert(id.as_bytes(), &[1u8, 1, 0, 0, 0][..])
            .unwrap();
        db.flush().unwrap();
    }
    let s = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let head = s.trade_head(&id).unwrap().unwrap();
    assert_eq!(head.log_len, 1);
    assert_eq!(head.state.maker.paid, Some(1));
    assert_eq!(head.state.settle_by, t.contract.contract.body.settle_by());
}
