//! Store costs: the whole ingest path of an incoming offer (decode, validate,
//! insert into the book), one by one and in batches, and a match query over a
//! 10 000-offer book.
//!
//! Run: `cargo bench -p peerfx-store --bench store`

// A benchmark that cannot set itself up has nothing to measure: it stops.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use peerfx_core::codec;
use peerfx_core::testing::{cur, offer, NOW};
use peerfx_core::*;
use peerfx_store::{Store, StoreConfig};

fn wire_offers(n: usize, seed: u64) -> Vec<Vec<u8>> {
    // 50 offers per maker, within the open-offer quota.
    let makers = u8::try_from(n.div_ceil(50)).expect("at most 255 makers");
    let keys: Vec<_> = (0..makers)
        .map(|i| Keypair::from_secret(&[i + 1; 32]).unwrap())
        .collect();
    let rates = ["0.91", "0.92", "0.925", "0.93", "0.94", "0.95"];
    (0..n)
        .map(|i| {
            let k = &keys[i / 50];
            let mut o = offer(
                k,
                "USD",
                "EUR",
                rates[i % rates.len()],
                seed * 1_000_000 + i as u64,
            );
            o.created_at = NOW.plus((i % 300) as u64);
            Signed::sign(o, k).to_bytes()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let limits = WireLimits::default();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(20);
    for batch in [1usize, 64] {
        g.throughput(Throughput::Elements(1024));
        g.bench_function(
            format!("decode+validate+insert 1024 offers, batch {batch}"),
            |b| {
                let mut seed = 0;
                b.iter_batched(
                    || {
                        seed += 1;
                        let dir = tempfile::tempdir().unwrap();
                        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
                        (dir, store, wire_offers(1024, seed))
                    },
                    // Returned, so closing the store (which writes the book
                    // behind) is not timed here; the next bench times that.
                    |(dir, store, wire)| {
                        for chunk in wire.chunks(batch) {
                            let decoded: Vec<Signed<Offer>> =
                                chunk.iter().map(|b| codec::decode(b).unwrap()).collect();
                            let verified: Vec<_> = validate_batch(decoded, NOW, &limits)
                                .into_iter()
                                .map(|v| v.unwrap())
                                .collect();
                            store
                                .book_insert_many(&verified, NOW, &Default::default())
                                .unwrap();
                        }
                        (dir, store)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    // The write behind: what the node does once a second, here for 1 024 new
    // offers at once (a sync page's worth, four times over).
    g.bench_function("persist 1024 new offers (four chunks of 256)", |b| {
        let mut seed = 1000;
        b.iter_batched(
            || {
                seed += 1;
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
                let verified: Vec<_> = wire_offers(1024, seed)
                    .iter()
                    .map(|b| decode_and_validate::<Offer>(b, NOW, &limits).unwrap())
                    .collect();
                store
                    .book_insert_many(&verified, NOW, &Default::default())
                    .unwrap();
                (dir, store)
            },
            |(dir, store)| {
                assert_eq!(
                    futures::executor::block_on(store.book_persist()).unwrap(),
                    1024
                );
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    for b in wire_offers(10_000, 99) {
        let v = decode_and_validate::<Offer>(&b, NOW, &limits).unwrap();
        store.book_insert(&v, NOW, &Default::default()).unwrap();
    }
    assert_eq!(
        store.book_len(),
        10_000,
        "every offer within its maker's quota"
    );
    let q = MatchQuery {
        pay: cur("EUR"),
        receive: cur("USD"),
        pay_amount: Some(Amount(30_000)),
        min_rate: Some("1.075".parse().unwrap()),
        payment_method: Some("cash".parse().unwrap()),
        near: Some(("u33db".parse().unwrap(), 25)),
    };
    let mut g = c.benchmark_group("query 10k book");
    g.bench_function("best 20 matches, all filters", |b| {
        b.iter(|| store.book_query(&q, NOW, 20).unwrap())
    });
    let all = store.book_list(None, NOW, usize::MAX).unwrap();
    g.bench_function("in-memory match_offers over 10k (reference)", |b| {
        b.iter(|| match_offers(&all, &q, NOW).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
