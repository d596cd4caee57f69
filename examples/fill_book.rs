//! Fills a (stopped) node's book with N valid offers from random makers, for
//! measuring a daemon with a large book.
//!
//! Run: `cargo run --release --example fill_book -- DATA_DIR [N]` (default 10000),
//! then `peerfx --data-dir DATA_DIR daemon`.

use peerfx::core::{validate, Keypair, Signed, WireLimits};
use peerfx::store::{Store, StoreConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: fill_book DATA_DIR [N]"))?;
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let store = Store::open(
        std::path::Path::new(&dir).join("db"),
        &StoreConfig::default(),
    )?;
    let now = peerfx::node::now();
    // 50 offers per maker: within the open-offer quota, as in a real market.
    let makers: Vec<Keypair> = (0..n.div_ceil(50)).map(|_| Keypair::generate()).collect();
    let rates = ["1.07", "1.075", "1.08", "1.085", "1.09"];
    let offers = (0..n)
        .map(|i| {
            let k = &makers[i / 50];
            let mut o =
                peerfx::core::testing::offer(k, "EUR", "USD", rates[i % rates.len()], i as u64);
            o.created_at = now;
            o.expires_at = now.plus(86_400);
            Ok(validate(Signed::sign(o, k), now, &WireLimits::default())?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for chunk in offers.chunks(256) {
        store.book_insert_many(chunk, now, &Default::default())?;
    }
    futures::executor::block_on(store.flush())?;
    println!("{} offers in the book of {dir}", store.book_len());
    Ok(())
}
