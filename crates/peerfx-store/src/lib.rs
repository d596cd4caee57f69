//! # peerfx-store
//!
//! A node's local database, on sled 0.34. One [`Store`] per data directory, with
//! these trees:
//!
//! | tree            | key                                         | value |
//! |-----------------|---------------------------------------------|-------|
//! | `meta`          | `schema_version`                            | u32 BE |
//! | `book`          | offer id                                    | [`peerfx_core::protocol::OfferState`]: the book's persisted copy |
//! | `tombstones`    | offer id                                    | [`book::Tombstone`]: cancelled or closed, never to return |
//! | `own_offers`    | offer id                                    | [`own::OwnOffer`] |
//! | `reservations`  | reservation id                              | [`own::Reservation`] |
//! | `trades`        | trade id                                    | [`trades::TradeRecord`] |
//! | `trade_log`     | trade id · index                            | one signed trade message, append-only |
//! | `negotiations`  | take request id                             | [`trades::Negotiation`]: countersigned, awaiting the maker |
//! | `peers`         | peer id                                     | [`peers::PeerRecord`] |
//!
//! Values are encoded with `peerfx_core::codec`, the workspace's one encoding.
//! Changes that touch several keys happen in one sled transaction.
//!
//! The offer book is held in memory (with its index by market and rate, its
//! expiry order and its makers' counts) and written to `book` and
//! `tombstones` behind it: see [`book`].
//!
//! Durability: sled only makes writes durable on `flush`, and its background
//! flush runs every 500 ms, so a write reported done can be lost to a crash.
//! Every operation whose result is acknowledged to a peer or a user (own offers,
//! reservations, trades) flushes before it returns. Book changes do not: the book
//! is a cache of the network that sync refills, persisted by
//! [`Store::book_persist`].
//!
//! Exclusivity: opening takes an exclusive lock on `<dir>/LOCK`, so a second
//! process (or a second `Store` in the same process) gets [`StoreError::Locked`].

pub mod backup;
pub mod book;
pub mod own;
pub mod peers;
pub mod trades;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use peerfx_core::codec::{self, CodecError};
use serde::{de::DeserializeOwned, Serialize};

/// The schema this build writes. Bumped on any incompatible change of a tree's
/// keys or values.
///
/// - 1: the book with its index, expiry and makers' counts in sled.
/// - 2: those three are kept in memory and rebuilt at open; their trees are
///   dropped. A build that knows only 1 would find the book without its index.
pub const SCHEMA_VERSION: u32 = 2;

/// Trees of older schemas, dropped on upgrade.
const RETIRED_TREES: [&str; 3] = ["book_index", "book_expiry", "book_makers"];

const SCHEMA_KEY: &[u8] = b"schema_version";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this one) has the directory open.
    #[error("the data directory {0} is in use by another peerfx process")]
    Locked(PathBuf),
    /// The database was written by a newer peerfx.
    #[error("the database was written by a newer peerfx (schema {found}, this build understands up to {supported}); upgrade peerfx")]
    NewerSchema {
        /// Schema found on disk.
        found: u32,
        /// Schema this build writes.
        supported: u32,
    },
    /// The disk is full: nothing was changed.
    #[error("disk full while writing to {0}")]
    DiskFull(PathBuf),
    /// A stored value does not decode.
    #[error("corrupt record in tree {tree}: {source}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// Why it does not decode.
        source: CodecError,
    },
    /// Any other I/O or database error.
    #[error("database error: {0}")]
    Db(String),
}

impl StoreError {
    fn from_io(e: io::Error, path: &Path) -> StoreError {
        if e.kind() == io::ErrorKind::StorageFull {
            StoreError::DiskFull(path.to_path_buf())
        } else {
            StoreError::Db(format!("{}: {e}", path.display()))
        }
    }
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Tuning for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// sled's page cache in bytes. sled's own default is 1 GiB, far too much for a
    /// phone; RSS runs to a few times this figure.
    pub cache_capacity_bytes: u64,
    /// Most offers in the book. Past it, new offers are refused (and not
    /// forwarded) until some leave: the memory and disk a book can take are
    /// bounded even against many makers. The book is held in memory, at
    /// 1–2 KB per offer (a daemon with 10 000 offers: 37 MB RSS).
    pub max_book_offers: u64,
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
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity_bytes: Self::DEFAULT_CACHE_CAPACITY_BYTES,
            max_book_offers: Self::DEFAULT_MAX_BOOK_OFFERS,
        }
    }
}

/// The node's database. Cheap to clone (sled trees are reference-counted) and
/// safe to share between threads.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    /// The offer book, in memory, written behind to the `book` and
    /// `tombstones` trees.
    pub(crate) book_mem: std::sync::Arc<book::Book>,
    pub(crate) own_offers: sled::Tree,
    /// The live own offers, in memory.
    pub(crate) own_index: std::sync::Arc<own::OwnIndex>,
    pub(crate) reservations: sled::Tree,
    pub(crate) trades: sled::Tree,
    pub(crate) trade_log: sled::Tree,
    pub(crate) negotiations: sled::Tree,
    pub(crate) peers: sled::Tree,
    /// Last, so it is released after the book has written its last changes
    /// (fields drop in order).
    _lock: std::sync::Arc<File>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: impl AsRef<Path>, config: &StoreConfig) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::from_io(e, &dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::from_io(e, &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::from_io(e, &lock_path)),
        }

        let db = open_sled(
            sled::Config::new()
                .path(dir.join("sled"))
                .cache_capacity(config.cache_capacity_bytes),
        )
        .map_err(|e| db_err(e, &dir))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| db_err(e, &dir));
        let meta = tree("meta")?;
        check_schema(&db, &meta).map_err(|e| match e {
            SchemaError::Db(e) => db_err(e, &dir),
            SchemaError::Store(e) => e,
        })?;
        let loaded = book::Book::load(tree("book")?, tree("tombstones")?, config.max_book_offers)
            .map_err(|e| db_err(e, &dir))?;
        if loaded.dropped > 0 {
            tracing::warn!(
                "{} book records were unreadable or outranked by a tombstone; dropped",
                loaded.dropped
            );
        }
        let own_offers = tree("own_offers")?;
        let (own_index, own_makers) =
            own::OwnIndex::load(&own_offers).map_err(|e| db_err(e, &dir))?;
        for maker in own_makers {
            loaded.book.note_own_maker(maker);
        }
        let store = Store {
            book_mem: std::sync::Arc::new(loaded.book),
            own_offers,
            own_index: std::sync::Arc::new(own_index),
            reservations: tree("reservations")?,
            trades: tree("trades")?,
            trade_log: tree("trade_log")?,
            negotiations: tree("negotiations")?,
            peers: tree("peers")?,
            db,
            path: dir,
            _lock: std::sync::Arc::new(lock),
        };
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every write so far durable, the book's pending changes included.
    pub fn flush(&self) -> Result<()> {
        self.book_persist()?;
        self.sync()
    }

    /// Makes the writes to sled's trees durable, but not the book's pending
    /// changes: what the user is told happened (an own offer, a trade step)
    /// must wait for the disk; a second's worth of other makers' offers, which
    /// sync brings back, need not wait in front of it.
    pub(crate) fn sync(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(|e| self.err(e))
    }

    pub(crate) fn err(&self, e: sled::Error) -> StoreError {
        db_err(e, &self.path)
    }
}

/// Opens sled, waiting a little if its own file lock is still held. We hold
/// `LOCK`, so no other live store has this directory; sled's lock can only
/// belong to a store of this process that was just dropped and whose I/O
/// threads are still letting go of the file.
fn open_sled(config: sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

enum SchemaError {
    Db(sled::Error),
    Store(StoreError),
}

impl From<sled::Error> for SchemaError {
    fn from(e: sled::Error) -> Self {
        SchemaError::Db(e)
    }
}

/// Refuses a newer schema, migrates an older one, stamps a new database.
fn check_schema(db: &sled::Db, meta: &sled::Tree) -> Result<(), SchemaError> {
    let found = match meta.get(SCHEMA_KEY)? {
        None if db.tree_names().iter().all(|n| n.as_ref() != b"book") => None,
        // A database from before the version was stamped would have a book.
        None => Some(1),
        Some(v) => Some(
            <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| {
                    SchemaError::Store(StoreError::Corrupt {
                        tree: "meta",
                        source: CodecError::Malformed("schema version is not 4 bytes".into()),
                    })
                })?,
        ),
    };
    match found {
        Some(found) if found > SCHEMA_VERSION => Err(SchemaError::Store(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        })),
        Some(SCHEMA_VERSION) => Ok(()),
        _ => {
            // 1 → 2: the book's derived trees now live in memory.
            for name in RETIRED_TREES {
                db.drop_tree(name)?;
            }
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            db.flush()?;
            Ok(())
        }
    }
}

fn db_err(e: sled::Error, path: &Path) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::from_io(io, path),
        other => StoreError::Db(other.to_string()),
    }
}

impl Store {
    /// Reads and decodes one value of `tree` (named `name` in errors).
    pub(crate) fn get_record<T: Serialize + DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        match tree.get(key).map_err(|e| self.err(e))? {
            Some(raw) => Ok(Some(decode(name, &raw)?)),
            None => Ok(None),
        }
    }

    /// Reads and decodes every value of `tree`, in key order.
    pub(crate) fn list_records<T: Serialize + DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &'static str,
    ) -> Result<Vec<T>> {
        tree.iter()
            .values()
            .map(|v| decode(name, &v.map_err(|e| self.err(e))?))
            .collect()
    }
}

/// Decodes a stored value, naming the tree if it is corrupt.
pub(crate) fn decode<T: Serialize + DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T> {
    codec::decode_with_limit::<T, { 1 << 20 }>(bytes)
        .map_err(|source| StoreError::Corrupt { tree, source })
}

/// Maps a sled transaction error whose abort type is [`StoreError`].
pub(crate) fn tx_err(
    store: &Store,
    e: sled::transaction::TransactionError<StoreError>,
) -> StoreError {
    match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => store.err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_of_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let second = Store::open(dir.path(), &StoreConfig::default());
        assert!(matches!(second, Err(StoreError::Locked(_))), "{second:?}");
        drop(first);
        Store::open(dir.path(), &StoreConfig::default()).unwrap();
    }

    #[test]
    fn newer_schema_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), &StoreConfig::default()).unwrap());
        {
            let db = open_sled(sled::Config::new().path(dir.path().join("sled"))).unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path(), &StoreConfig::default()).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1)
        );
        assert!(err.to_string().contains("upgrade peerfx"));
    }
}
