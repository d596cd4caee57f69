//! What the open-offer quota's counts cost a book insert, in sled alone.
//!
//! Run: `cargo run --release -p peerfx-store --example quota_cost`
//!
//! Times 20 000 single-offer transactions shaped like `book_insert`'s (two
//! reads, three writes over four trees), then with a maker's count in a fifth
//! tree, then with a book total that every insert also writes. The last is why
//! the store keeps the total in memory. Prints a table; docs/BENCHMARKS.md
//! records a run.

use std::time::Instant;

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

const INSERTS: u64 = 20_000;
const MAKERS: u64 = 200;

#[derive(Clone, Copy, PartialEq)]
enum Counts {
    None,
    Maker,
    MakerAndTotal,
}

fn count(
    tree: &sled::transaction::TransactionalTree,
    key: &[u8],
) -> Result<u64, sled::transaction::UnabortableTransactionError> {
    Ok(tree
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

fn run(counts: Counts) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(16 << 20)
        .open()
        .expect("open");
    let tree = |name: &str| db.open_tree(name).expect("tree");
    let (book, index, expiry, tombs, makers) = (
        tree("book"),
        tree("index"),
        tree("expiry"),
        tree("tombs"),
        tree("makers"),
    );
    let record = vec![7u8; 600];
    let start = Instant::now();
    for i in 0..INSERTS {
        let id = (i * 7919).to_be_bytes();
        let maker = [(i % MAKERS) as u8; 32];
        (&book, &index, &expiry, &tombs, &makers)
            .transaction(|(book, index, expiry, tombs, makers)| {
                if tombs.get(id)?.is_some() || book.get(id)?.is_some() {
                    return Ok(());
                }
                book.insert(&id, record.as_slice())?;
                index.insert([&[1u8; 30][..], &id].concat(), &[])?;
                expiry.insert([&[2u8; 8][..], &id].concat(), &[])?;
                if counts != Counts::None {
                    let n = count(makers, &maker)?;
                    makers.insert(&maker, &(n + 1).to_be_bytes())?;
                }
                if counts == Counts::MakerAndTotal {
                    let n = count(makers, b"total")?;
                    makers.insert(b"total", &(n + 1).to_be_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .expect("transaction");
    }
    start.elapsed().as_secs_f64() * 1e6 / INSERTS as f64
}

fn main() {
    println!("| transaction | µs per insert |");
    println!("|---|---|");
    for (label, counts) in [
        ("book, index, expiry, tombstones", Counts::None),
        ("+ the maker's count", Counts::Maker),
        ("+ a book total every insert writes", Counts::MakerAndTotal),
    ] {
        println!("| {label} | {:.1} |", run(counts));
    }
}
