//! Ingest on every core: how fast a node takes in gossiped offers, against
//! how fast one core verifies their signatures, both in the same run.
//!
//! - **one core, ed25519 batch verify**: `keys::verify_batch` over batches of
//!   64 signatures, on this thread: the crypto alone.
//! - **one core, validate_batch**: fields and signatures, batches of 64.
//! - **ingest**: what the node's pump does with gossip, batch by batch of
//!   256 (`GOSSIP_BATCH`): decode, [`peerfx::node::verify_states`] (batch
//!   signature checks spread over every core), then the book insert on one
//!   thread (`Store::book_merge_many`).
//!
//! The goal: ingest at 1.7 times or more one core's batch-verify rate, on a
//! 2-core machine. Each figure is the best of the runs.
//!
//! Run: `cargo run --release --example ingest_bench [-- OFFERS [RUNS]]`
//! (default 16384 offers, 5 runs).

use std::time::{Duration, Instant};

use peerfx::core::protocol::{GossipMessage, OfferState};
use peerfx::core::{codec, validate_batch, Keypair, Signed, Timestamp, WireLimits};
use peerfx::store::{Store, StoreConfig};

use peerfx::node::GOSSIP_BATCH;

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

fn best(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(16_384);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let now = peerfx::node::now();
    let limits = WireLimits::default();
    // 64 per maker, the open-offer quota: a market's makers post several
    // offers and sign updates of them, so keys repeat (and their
    // decompression is cached); and one each, where nothing repeats.
    let signed = offers(n, 64, now);
    let wire = |offers: &[Signed<peerfx::core::Offer>]| -> Vec<Vec<u8>> {
        offers
            .iter()
            .map(|o| codec::encode(&GossipMessage::offer(o.clone(), None)))
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
    let verify_one_core = best(runs, || {
        let t = Instant::now();
        for (chunk, bytes) in signed.chunks(64).zip(signing.chunks(64)) {
            let keys: Vec<_> = chunk
                .iter()
                .map(|o| {
                    ed25519_dalek::VerifyingKey::from_bytes(o.body.maker.as_bytes())
                        .expect("valid key")
                })
                .collect();
            let sigs: Vec<_> = chunk
                .iter()
                .map(|o| ed25519_dalek::Signature::from_bytes(&o.signature.0))
                .collect();
            let msgs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&msgs, &sigs, &keys).expect("valid signatures");
        }
        t.elapsed()
    });
    let validate_one_core = best(runs, || {
        let t = Instant::now();
        for chunk in signed.chunks(64) {
            for v in validate_batch(chunk.to_vec(), now, &limits) {
                v.expect("valid offer");
            }
        }
        t.elapsed()
    });
    let ingest = |wire: &[Vec<u8>]| {
        best(runs, || {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
            let t = Instant::now();
            for batch in wire.chunks(GOSSIP_BATCH) {
                let states: Vec<OfferState> = batch
                    .iter()
                    .map(|b| {
                        match codec::decode_within::<GossipMessage>(b, limits.max_gossip_bytes()) {
                            Ok(GossipMessage::Offer(s)) => *s,
                            other => panic!("not an offer: {other:?}"),
                        }
                    })
                    .collect();
                let verified: Vec<_> = peerfx::node::verify_states(states, now, &limits)
                    .into_iter()
                    .map(|v| v.expect("valid offer"))
                    .collect();
                store
                    .book_merge_many(&verified, now, &limits)
                    .expect("merge");
            }
            let took = t.elapsed();
            assert_eq!(store.book_len(), n, "every offer in the book");
            took
        })
    };
    let ingest_repeat = ingest(&wire_repeat);
    let ingest_distinct = ingest(&wire_distinct);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let base = rate(verify_one_core);
    println!(
        "{n} offers, best of {runs} runs, {} threads for ingest\n",
        rayon::current_num_threads()
    );
    println!("| what | offers/s | against one core's batch verify |");
    println!("|---|---|---|");
    for (what, d) in [
        (
            "one core: ed25519 batch verify (64 a batch)",
            verify_one_core,
        ),
        (
            "one core: validate_batch (fields + signatures)",
            validate_one_core,
        ),
        (
            "ingest, 64 offers per maker: decode, verify_states on every core, book insert on one",
            ingest_repeat,
        ),
        ("ingest, one offer per maker", ingest_distinct),
    ] {
        println!("| {what} | {:.0} | {:.2}× |", rate(d), rate(d) / base);
    }
    Ok(())
}
