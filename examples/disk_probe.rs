//! How long this machine's disk takes to make a small write durable, by plain
//! `fdatasync` and through the store's own-offer path (`Store::own_insert`,
//! which `post_offer` waits for before it publishes). The tail of the first
//! bounds the tail of the second: that is what net_bench's p99 meets.
//!
//! Run: `cargo run --release --example disk_probe [-- WRITES]` (default 300,
//! 20 ms apart, in a temporary directory under the system's temp dir).

use std::io::Write;
use std::time::{Duration, Instant};

use peerfx::core::{Keypair, Signed};
use peerfx::store::{Store, StoreConfig};

/// Pause between writes: about the pace of net_bench's posts.
const GAP: Duration = Duration::from_millis(20);

fn row(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {what} | {:.2} | {:.2} | {:.2} | {:.2} |",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(0.99)),
        ms(times[times.len() - 1])
    );
}

fn main() -> anyhow::Result<()> {
    let writes: usize = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow::anyhow!("WRITES must be a positive number, not {a:?}"))?,
        None => 300,
    };
    let dir = tempfile::tempdir()?;

    let mut file = std::fs::File::create(dir.path().join("probe"))?;
    let mut plain = Vec::with_capacity(writes);
    for _ in 0..writes {
        file.write_all(&[0x5a; 1000])?;
        let t = Instant::now();
        file.sync_data()?;
        plain.push(t.elapsed());
        std::thread::sleep(GAP);
    }

    let store = Store::open(dir.path().join("db"), &StoreConfig::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let maker = Keypair::generate();
    let now = peerfx::node::now();
    let mut own = Vec::with_capacity(writes);
    for nonce in 0..writes as u64 {
        let mut o = peerfx::core::testing::offer(&maker, "EUR", "USD", "1.08", nonce);
        o.created_at = now;
        o.expires_at = now.plus(3600);
        let offer = peerfx::core::validate(Signed::sign(o, &maker), now, &Default::default())?;
        let t = Instant::now();
        runtime
            .block_on(store.own_insert(&offer, usize::MAX, now))?
            .map_err(anyhow::Error::msg)?;
        own.push(t.elapsed());
        std::thread::sleep(GAP);
    }

    println!("{writes} writes each, {GAP:?} apart (ms)\n");
    println!("| what | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|");
    row("1 000 bytes + fdatasync", plain);
    row("Store::own_insert (insert + flush, on the writer)", own);
    Ok(())
}
