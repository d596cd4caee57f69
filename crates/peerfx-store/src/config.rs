//! Tuning of a [`crate::Store`].

use std::time::Duration;

/// Tuning for [`crate::Store::open`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// sled's page cache in bytes. sled's own default is 1 GiB, far too much for a
    /// phone; RSS runs to a few times this figure.
    pub cache_capacity_bytes: u64,
    /// Most offers in the book. Past it, a new offer of the fullest market is
    /// refused (and not forwarded), and an offer of another market takes the
    /// place of the fullest market's worst: the memory and disk a book can
    /// take are bounded even against many makers. The book is held in
    /// memory, at 1–2 KB per offer.
    pub max_book_offers: u64,
    /// Most tombstones (cancelled or closed offers remembered so that late
    /// copies cannot bring them back). Past it, the maker with the most
    /// tombstones loses its oldest.
    pub max_tombstones: u64,
    /// Most tombstones of one maker. Past it, that maker's soonest-expiring
    /// tombstone makes room: a maker flooding cancels only ever forgets its
    /// own.
    pub max_tombstones_per_maker: u64,
    /// How often sled writes what is not yet durable (`None`: never on its
    /// own). Every write that must be durable is flushed before it returns,
    /// so this only bounds how much of the write-behind book and of the
    /// remembered peers a crash can lose. sled's own thread wakes at this
    /// rate even when nothing changed, which a phone pays for in battery:
    /// the mobile profile turns it off and flushes after each book write
    /// instead ([`crate::Store::book_persist`]).
    pub background_flush: Option<Duration>,
    /// A delay before every flush of the writer: simulates a slow disk, for
    /// tests and benchmarks. Zero in production.
    pub flush_delay: Duration,
}

impl StoreConfig {
    /// Default cache: 16 MiB.
    pub const DEFAULT_CACHE_CAPACITY_BYTES: u64 = 16 * 1024 * 1024;
    /// Cache for `--profile mobile`: 4 MiB.
    pub const MOBILE_CACHE_CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
    /// Default book size: 100 000 offers, at most ~150 MB of memory.
    pub const DEFAULT_MAX_BOOK_OFFERS: u64 = 100_000;
    /// Book size for `--profile mobile`: 20 000 offers, at most ~35 MB.
    pub const MOBILE_MAX_BOOK_OFFERS: u64 = 20_000;
    /// Default background flush: sled's own default.
    pub const DEFAULT_BACKGROUND_FLUSH: Duration = Duration::from_millis(500);
    /// Default tombstones per maker: four times what one maker may have open
    /// (64), so an honest maker that re-prices all day keeps every one of its
    /// cancels remembered for a day or more.
    pub const DEFAULT_MAX_TOMBSTONES_PER_MAKER: u64 = 256;

    /// The profile for phones: a small cache and book.
    pub fn mobile() -> StoreConfig {
        StoreConfig {
            cache_capacity_bytes: Self::MOBILE_CACHE_CAPACITY_BYTES,
            max_book_offers: Self::MOBILE_MAX_BOOK_OFFERS,
            max_tombstones: Self::MOBILE_MAX_BOOK_OFFERS,
            background_flush: None,
            ..StoreConfig::default()
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity_bytes: Self::DEFAULT_CACHE_CAPACITY_BYTES,
            max_book_offers: Self::DEFAULT_MAX_BOOK_OFFERS,
            // As many as offers: a tombstone is ~100 bytes, an offer ~1.5 KB.
            max_tombstones: Self::DEFAULT_MAX_BOOK_OFFERS,
            max_tombstones_per_maker: Self::DEFAULT_MAX_TOMBSTONES_PER_MAKER,
            background_flush: Some(Self::DEFAULT_BACKGROUND_FLUSH),
            flush_delay: Duration::ZERO,
        }
    }
}
