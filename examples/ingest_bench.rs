//! Ingest on every core: how fast a node takes in gossiped offers, against
//! how fast one core verifies their signatures, both in the same run.
//!
//! - **one core, ed25519 batch verify**: `keys::verify_batch` over batches of
//!   64 signatures, on this thread: the crypto alone.
//! - **one core, validate_batch**: fields and signatures, batches of 64.
//! - **every core, ed25519 batch verify**: the same, on rayon's pool: the
//!   most two cores can give.
//! - **ingest**: what the node's pump does with gossip: batches of up to
//!   `GOSSIP_BATCH` through a [`peerfx::node::Checker`] (decode and batch
//!   signature checks on every core), and out of it, in order, the book
//!   insert on one thread (`Store::book_merge_many`, a message at a time),
//!   overlapping the checks of the next batches.
//!
//! The goal: ingest at 1.7 times or more one core's batch-verify rate, on a
//! 2-core machine. The runs are interleaved (baseline, then each row, run
//! after run) and each ratio is taken within its run: this VM's speed drifts
//! by a third from minute to minute, which best-of-runs across separate
//! phases turned into ratios anywhere from 1.1× to 1.8×.
//!
//! Run: `cargo run --release --example ingest_bench [-- OFFERS [RUNS]]`
//! (default 16384 offers, 9 runs).

use std::time::{Duration, Instant};

use peerfx::core::protocol::GossipMessage;
use peerfx::core::{codec, validate_batch, Keypair, Market, Signed, Timestamp, WireLimits};
use peerfx::store::{Store, StoreConfig};

use peerfx::node::{Checker, GOSSIP_BATCH};
use rayon::prelude::*;

/// `n` offers, `per_maker` from each maker.
fn offers(n: usize, per_maker: usize, now: Timestamp) -> Vec<Signed<peerfx::core::Offer>> {
    let makers: Vec<Keypair> = (0..n.div_ceil(per_maker))
        .map(|_| Keypair::generate())
        .collect();
    let rates = ["1.07", "1.075", "1.08", "1.085", "1.09"];
    (0..n)
        .map(|i| {
            let k = &makers[i / per_maker];
            let mut o =
                peerfx::core::testing::offer(k, "EUR", "USD", rates[i % rates.len()], i as u64);
            o.created_at = now;
            o.expires_at = now.plus(86_400);
            Signed::sign(o, k)
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(16_384);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(9);
    let now = peerfx::node::now();
    let limits = WireLimits::default();
    // 64 per maker, the open-offer quota: a market's makers post several
    // offers and sign updates of them, so keys repeat (and their
    // decompression is cached); and one each, where nothing repeats.
    let signed = offers(n, 64, now);
    let topic = Market::new("EUR".parse()?, "USD".parse()?)?.topic();
    let wire = |offers: &[Signed<peerfx::core::Offer>]| -> Vec<(String, Vec<u8>)> {
        offers
            .iter()
            .map(|o| {
                let data = codec::encode(&GossipMessage::offer(o.clone(), None));
                (topic.clone(), data)
            })
            .collect()
    };
    let wire_repeat = wire(&signed);
    let wire_distinct = wire(&offers(n, 1, now));
    let signing: Vec<Vec<u8>> = signed
        .iter()
        .map(|o| peerfx::core::message::signing_bytes(&o.body))
        .collect();

    // The library alone, as the node used it before: every key decompressed
    // for its batch, 64 signatures a batch.
    let verify_chunk = |(chunk, bytes): (&[Signed<peerfx::core::Offer>], &[Vec<u8>])| {
        let keys: Vec<_> = chunk
            .iter()
            .map(|o| {
                ed25519_dalek::VerifyingKey::from_bytes(o.body.maker.as_bytes()).expect("valid key")
            })
            .collect();
        let sigs: Vec<_> = chunk
            .iter()
            .map(|o| ed25519_dalek::Signature::from_bytes(&o.signature.0))
            .collect();
        let msgs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&msgs, &sigs, &keys).expect("valid signatures");
    };
    let verify_one_core = || {
        let t = Instant::now();
        signed
            .chunks(64)
            .zip(signing.chunks(64))
            .for_each(verify_chunk);
        t.elapsed()
    };
    // The ceiling: the same work on every core, nothing else.
    let verify_every_core = || {
        let t = Instant::now();
        signed
            .par_chunks(64)
            .zip(signing.par_chunks(64))
            .for_each(verify_chunk);
        t.elapsed()
    };
    let validate_one_core = || {
        let t = Instant::now();
        for chunk in signed.chunks(64) {
            for v in validate_batch(chunk.to_vec(), now, &limits) {
                v.expect("valid offer");
            }
        }
        t.elapsed()
    };
    // What the node's pump does with gossip: batches of up to GOSSIP_BATCH
    // go into a Checker (decode and signature checks on rayon's pool, every
    // core), and come out in order to be inserted into the book one message
    // at a time on this thread, as `ingest_offer` does, while the pool
    // checks the batches behind.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let ingest = |wire: &[(String, Vec<u8>)]| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let mut checker = Checker::new(limits.clone());
        let mut batches = wire.chunks(GOSSIP_BATCH);
        let t = Instant::now();
        runtime.block_on(async {
            loop {
                while checker.can_submit() {
                    match batches.next() {
                        Some(batch) => checker.submit(batch.to_vec(), now),
                        None => break,
                    }
                }
                let Some((_, checked)) = checker.next().await else {
                    break;
                };
                for c in checked {
                    let state = c.expect("valid offer").into_offer().expect("an offer");
                    store
                        .book_merge_many(&[state], now, &limits)
                        .expect("merge");
                }
            }
        });
        let took = t.elapsed();
        assert_eq!(store.book_len(), n, "every offer in the book");
        took
    };

    // Interleaved: each run times the baseline and then every other row, so
    // a slow spell of the machine hits a run's baseline and its rows alike.
    // Each row's ratio is taken within its run; the table gives the median.
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let mut rows: [Vec<(f64, f64)>; 5] = Default::default();
    for _ in 0..runs {
        let base = rate(verify_one_core());
        for (row, took) in rows.iter_mut().zip([
            Duration::from_secs_f64(n as f64 / base),
            verify_every_core(),
            validate_one_core(),
            ingest(&wire_repeat),
            ingest(&wire_distinct),
        ]) {
            row.push((rate(took), rate(took) / base));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{n} offers, {runs} interleaved runs, {} threads for ingest\n",
        rayon::current_num_threads()
    );
    println!("| what | offers/s, median (range) | against one core's batch verify in the same run, median (range) |");
    println!("|---|---|---|");
    let names = [
        "one core: ed25519 batch verify (64 a batch)",
        "every core: ed25519 batch verify (64 a batch), nothing else: the ceiling",
        "one core: validate_batch (fields + signatures)",
        "ingest, 64 offers per maker: Checker on every core, book insert on one, pipelined",
        "ingest, one offer per maker",
    ];
    for (what, row) in names.iter().zip(rows) {
        let rates: Vec<f64> = row.iter().map(|r| r.0).collect();
        let ratios: Vec<f64> = row.iter().map(|r| r.1).collect();
        let (lo, hi) = (
            rates.iter().copied().fold(f64::INFINITY, f64::min),
            rates.iter().copied().fold(0.0, f64::max),
        );
        let (rlo, rhi) = (
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
            ratios.iter().copied().fold(0.0, f64::max),
        );
        println!(
            "| {what} | {:.0} ({lo:.0}–{hi:.0}) | {:.2}× ({rlo:.2}–{rhi:.2}) |",
            median(rates),
            median(ratios)
        );
    }
    Ok(())
}
