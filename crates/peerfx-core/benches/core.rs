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

criterion_group!(benches, bench);
criterion_main!(benches);
