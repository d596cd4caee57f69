//! # peerfx-store
//!
//! A node's local database, on sled 0.34. One [`Store`] per data directory, with
//! these trees:
//!
//! | tree               | key                               | value |
//! |--------------------|-----------------------------------|-------|
//! | `meta`             | `schema_version`                  | u32 BE |
//! | `book`             | offer id                          | [`peerfx_core::protocol::OfferState`]: the book's persisted copy |
//! | `tombstones`       | offer id                          | [`book::Tombstone`]: cancelled or closed, never to return |
//! | `own_offers`       | offer id                          | [`own::OwnOffer`] |
//! | `reservations`     | reservation id                    | [`own::Reservation`] |
//! | `trades`           | trade id                          | [`trades::TradeRecord`] |
//! | `trade_log`        | trade id · index (u32 BE)         | one signed trade message, append-only |
//! | `trade_heads`      | trade id                          | [`trades::TradeHead`]: the log's length and the state it replays to |
//! | `trade_msgs`       | trade id · message id             | index in the log |
//! | `trade_by_request` | take request id                   | trade id |
//! | `trade_by_time`    | created at (u64 BE) · trade id    | (empty) |
//! | `negotiations`     | take request id                   | [`trades::Negotiation`]: countersigned, awaiting the maker |
//! | `peers`            | peer id                           | [`peers::PeerRecord`] |
//! | `ratings`          | rated · trade id · rater          | [`ratings::StoredRating`] |
//! | `ratings_by_rater` | rater · trade id · rated          | (empty) |
//!
//! Values are encoded with `peerfx_core::codec`, the workspace's one encoding.
//! Changes that touch several keys happen in one sled transaction.
//!
//! **Reads** are synchronous and direct. **Writes** go through one writer
//! thread ([`writer`]) and are `async`: they never block a runtime thread,
//! several waiting at once share one flush, and a write whose flush fails
//! leaves nothing behind (the writer reopens the database, discarding it).
//!
//! The offer book is held in memory (with its index by market and rate, its
//! expiry order, its makers' counts and its tombstones) and written to `book`
//! and `tombstones` behind it: see [`book`]. The live own offers have an
//! in-memory index too ([`own`]).
//!
//! Durability: sled only makes writes durable on `flush`. Every operation
//! whose result is acknowledged to a peer or a user (own offers,
//! reservations, trades, blocks) is flushed before its future resolves. Book
//! changes are not: the book is a cache of the network that sync refills.
//!
//! Exclusivity: opening takes an exclusive lock on `<dir>/LOCK`, so a second
//! process (or a second `Store` in the same process) gets [`StoreError::Locked`].

pub mod backup;
pub mod book;
mod config;
mod delivery;
mod error;
pub mod mailbox;
pub mod own;
pub mod peers;
pub mod ratings;
mod reservations;
pub mod trades;
mod trees;
mod writer;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use peerfx_core::codec;
use serde::{de::DeserializeOwned, Serialize};

pub use config::StoreConfig;
pub use error::{Result, StoreError};
pub use trees::SCHEMA_VERSION;

use trees::Trees;
use writer::WriterHandle;

/// What every clone of a [`Store`] shares.
pub(crate) struct Shared {
    dir: PathBuf,
    pub(crate) config: StoreConfig,
    /// The database; `None` after a failed write until the writer has
    /// reopened it, with the failure in `failure`.
    trees: RwLock<Option<Arc<Trees>>>,
    failure: std::sync::Mutex<Option<StoreError>>,
    /// The offer book, in memory, written behind to `book` and `tombstones`.
    book: book::Book,
    /// The live own offers, in memory.
    own_index: own::OwnIndex,
    /// Held for as long as the store is open; last, so it is released after
    /// everything else (fields drop in order).
    _lock: File,
}

impl Shared {
    /// The current trees.
    pub(crate) fn trees(&self) -> Result<Arc<Trees>> {
        match self
            .trees
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            Some(trees) => Ok(trees),
            None => {
                let cause = self
                    .failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or(StoreError::Closed);
                Err(StoreError::Unavailable(Box::new(cause)))
            }
        }
    }

    /// Closes the database after a failed write: what was written but not
    /// flushed is discarded with the handle (sled would otherwise show it to
    /// readers, and write it at its next flush). Reads fail with `cause`
    /// until [`Shared::reopen`] succeeds.
    pub(crate) fn close_after(&self, cause: StoreError) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(cause);
        let old = self
            .trees
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(old);
    }

    /// Opens the database again and rebuilds what is kept in memory from
    /// what is on disk.
    pub(crate) fn reopen(&self) -> Result<()> {
        let trees = Arc::new(Trees::open(&self.dir, &self.config)?);
        self.own_index.reload(&trees)?;
        self.book.mark_all_dirty();
        *self.trees.write().unwrap_or_else(PoisonError::into_inner) = Some(trees);
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }
}

/// The node's database. Cheap to clone and safe to share between threads;
/// dropping the last clone writes the book's last changes, flushes, and
/// frees the directory.
#[derive(Clone)]
pub struct Store {
    /// First, so that the writer has finished before `shared` may drop.
    writer: Arc<WriterHandle>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.dir)
            .finish()
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
        let trees = Trees::open(&dir, config)?;
        let loaded = book::Book::load(&trees, config)?;
        if loaded.dropped > 0 {
            tracing::warn!(
                "{} book records were unreadable or outranked by a tombstone; dropped",
                loaded.dropped
            );
        }
        let own_index = own::OwnIndex::default();
        own_index.reload(&trees)?;
        for maker in own_index.makers() {
            loaded.book.note_own_maker(maker);
        }
        let shared = Arc::new(Shared {
            dir,
            config: config.clone(),
            trees: RwLock::new(Some(Arc::new(trees))),
            failure: std::sync::Mutex::new(None),
            book: loaded.book,
            own_index,
            _lock: lock,
        });
        let writer = Arc::new(WriterHandle::spawn(shared.clone())?);
        Ok(Store { writer, shared })
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.shared.dir
    }

    /// Writes the book's pending changes and makes every write so far
    /// durable.
    pub async fn flush(&self) -> Result<()> {
        self.book_persist().await?;
        self.write(|_| Ok(())).await
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        let trees = self.trees()?;
        trees.db.size_on_disk().map_err(|e| trees.err(e))
    }

    pub(crate) fn trees(&self) -> Result<Arc<Trees>> {
        self.shared.trees()
    }

    /// A durable write: resolves once `f` ran on the writer and a flush made
    /// it durable.
    pub(crate) fn write<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T> + Send + 'static,
    {
        self.writer.submit(true, f)
    }

    /// A write that need not be durable when it resolves.
    pub(crate) fn write_lazily<T, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T> + Send + 'static,
    {
        self.writer.submit(false, f)
    }
}

/// Reads and decodes one value of `tree` (named `name` in errors).
pub(crate) fn get_record<T: Serialize + DeserializeOwned>(
    trees: &Trees,
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
) -> Result<Option<T>> {
    match tree.get(key).map_err(|e| trees.err(e))? {
        Some(raw) => Ok(Some(decode(name, &raw)?)),
        None => Ok(None),
    }
}

/// Reads and decodes every value of `tree`, in key order.
pub(crate) fn list_records<T: Serialize + DeserializeOwned>(
    trees: &Trees,
    tree: &sled::Tree,
    name: &'static str,
) -> Result<Vec<T>> {
    tree.iter()
        .values()
        .map(|v| decode(name, &v.map_err(|e| trees.err(e))?))
        .collect()
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
    trees: &Trees,
    e: sled::transaction::TransactionError<StoreError>,
) -> StoreError {
    match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => trees.err(e),
    }
}

/// How many keys of `tree` start with `prefix`, counting up to `upto` (a
/// bound's check need not count past the bound).
pub(crate) fn count_prefix(
    trees: &Trees,
    tree: &sled::Tree,
    prefix: &[u8],
    upto: usize,
) -> Result<usize> {
    let mut n = 0;
    for item in tree.scan_prefix(prefix).keys().take(upto) {
        item.map_err(|e| trees.err(e))?;
        n += 1;
    }
    Ok(n)
}

/// Aborts a sled transaction with a store error.
pub(crate) fn abort<T>(
    r: Result<T>,
) -> std::result::Result<T, sled::transaction::ConflictableTransactionError<StoreError>> {
    r.map_err(sled::transaction::ConflictableTransactionError::Abort)
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
        trees::set_schema(dir.path(), SCHEMA_VERSION + 1);
        let err = Store::open(dir.path(), &StoreConfig::default()).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1)
        );
        assert!(err.to_string().contains("upgrade peerfx"));
    }
}
