//! Core costs: sign, verify, batch verify, encode, strict decode, validation.
//!
//! Run: `cargo bench -p peerfx-core --bench core`

// A benchmark that cannot set itself up has nothing to measure: it stops.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use peerfx_core::codec;
use peerfx_core::message::signing_bytes;
use peerfx_core::testing::{offer, NOW};
use peerfx_core::*;

fn signed_offers(n: usize) -> Vec<Signed<Offer>> {
    let keys: Vec<_> = (0..16u8)
        .map(|i| Keypair::from_secret(&[i + 1; 32]).unwrap())
        .collect();
    (0..n)
        .map(|i| {
            let k = &keys[i % keys.len()];
            Signed::sign(offer(k, "EUR", "USD", "1.08", i as u64), k)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let key = Keypair::from_secret(&[1; 32]).unwrap();
    let o = offer(&key, "EUR", "USD", "1.08", 1);
    let signed = Signed::sign(o.clone(), &key);
    let bytes = signed.to_bytes();
    let msg = signing_bytes(&o);
    let limits = WireLimits::default();

    let mut g = c.benchmark_group("crypto");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign offer", |b| b.iter(|| Signed::sign(o.clone(), &key)));
    g.bench_function("verify one", |b| {
        b.iter(|| key.public().verify(&msg, &signed.signature).unwrap())
    });
    let batch = signed_offers(64);
    let batch_bytes: Vec<_> = batch.iter().map(|s| signing_bytes(&s.body)).collect();
    let items: Vec<_> = batch
        .iter()
        .zip(&batch_bytes)
        .map(|(s, b)| (s.body.maker, b.as_slice(), s.signature))
        .collect();
    g.throughput(Throughput::Elements(64));
    g.bench_function("verify batch of 64", |b| {
        b.iter(|| keys::verify_batch(&items).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode signed offer", |b| b.iter(|| codec::encode(&signed)));
    g.bench_function("decode signed offer (strict)", |b| {
        b.iter(|| codec::decode::<Signed<Offer>>(&bytes).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode + validate one", |b| {
        b.iter(|| decode_and_validate::<Offer>(&bytes, NOW, &limits).unwrap())
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("validate batch of 64", |b| {
        b.iter_batched(
            || batch.clone(),
            |m| validate_batch(m, NOW, &limits),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// `n` rating facts: 5 000 peers, each rated by others, received over 90
/// days, so maturity varies as it would.
fn facts(n: usize) -> (Vec<reputation::RatingFact>, Vec<PublicKey>) {
    use peerfx_core::rating::RatedOutcome;
    use peerfx_core::trade::Side;
    let peers: Vec<PublicKey> = (0..5_000u32)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_be_bytes());
            PublicKey(b)
        })
        .collect();
    let facts = (0..n)
        .map(|i| reputation::RatingFact {
            rater: peers[(i * 7 + 1) % peers.len()],
            rated: peers[i % peers.len()],
            trade_id: Hash::of(&[&(i as u64).to_be_bytes()]),
            rater_side: Side::Taker,
            outcome: RatedOutcome::Completed,
            score: (i % 5) as u8 + 1,
            received_at: NOW.plus((i as u64 * 7_919) % (90 * 86_400)),
        })
        .collect();
    (facts, peers)
}

fn bench_reputation(c: &mut Criterion) {
    use peerfx_core::rating::{RatedOutcome, RatedTrade, Rating};
    use peerfx_core::reputation::{RatingIndex, Viewpoint};
    let (maker, taker) = (Keypair::generate(), Keypair::generate());
    let o = testing::verified_offer(&maker, "EUR", "USD", "1.08", 1);
    let request = testing::verified_take(&taker, &o, 10_000);
    let contract = trade::build_contract(&o, &request, o.rate, NOW, 3600).unwrap();
    let contract = SignedContract::countersign(Signed::sign(contract, &maker), &taker);
    let rated = RatedTrade {
        rating: Signed::sign(
            Rating {
                trade_id: contract.trade_id(),
                rater: taker.public(),
                outcome: RatedOutcome::Completed,
                score: 5,
                comment: "on time".into(),
                created_at: NOW.plus(60),
            },
            &taker,
        ),
        contract,
    };
    let limits = WireLimits::default();
    let mut g = c.benchmark_group("reputation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify a rating with its contract", |b| {
        b.iter(|| rated.clone().verify(NOW.plus(120), &limits).unwrap())
    });
    let (all, peers) = facts(50_000);
    let view = Viewpoint {
        me: peers[0],
        counterparties: peers[1..20].iter().copied().collect(),
        now: NOW.plus(90 * 86_400),
    };
    let page: Vec<PublicKey> = peers[..100].to_vec();
    g.throughput(Throughput::Elements(100));
    let index = RatingIndex::from_facts(all.clone());
    g.bench_function("profiles of 100 makers over 50 000 ratings", |b| {
        b.iter(|| {
            page.iter()
                .map(|p| index.profile(p, &view))
                .collect::<Vec<_>>()
        })
    });

    g.finish();
}

criterion_group!(benches, bench, bench_reputation);
criterion_main!(benches);
