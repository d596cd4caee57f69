//! The sled database of one data directory and its trees, opened and brought
//! to the current schema.
//!
//! [`Trees`] is what the writer writes to and readers read from. It is
//! replaced as a whole when the writer reopens the database after a failed
//! write (see [`crate::writer`]), so nothing else keeps a sled handle.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use peerfx_core::codec::CodecError;

use crate::{trades, Result, StoreConfig, StoreError};

/// The schema this build writes. Bumped on any incompatible change of a tree's
/// keys or values.
///
/// - 1: the book with its index, expiry and makers' counts in sled.
/// - 2: those three are kept in memory and rebuilt at open; their trees are
///   dropped.
/// - 3: every trade gets a head (its log's length and the state it replays
///   to), an index of its messages' ids, and indexes by take request and by
///   time; built from the trades and their logs on upgrade.
/// - 4: a head's state remembers the seq of each party's steps, the settle
///   deadline and how a failed trade failed; heads are rebuilt from the logs
///   on upgrade.
pub const SCHEMA_VERSION: u32 = 4;

/// Trees of older schemas, dropped on upgrade.
const RETIRED_TREES: [&str; 3] = ["book_index", "book_expiry", "book_makers"];

const SCHEMA_KEY: &[u8] = b"schema_version";

/// The database and its trees.
pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    pub(crate) path: PathBuf,
    pub(crate) book: sled::Tree,
    pub(crate) tombstones: sled::Tree,
    pub(crate) own_offers: sled::Tree,
    pub(crate) reservations: sled::Tree,
    pub(crate) trades: sled::Tree,
    pub(crate) trade_log: sled::Tree,
    pub(crate) trade_heads: sled::Tree,
    pub(crate) trade_msgs: sled::Tree,
    pub(crate) trade_by_request: sled::Tree,
    pub(crate) trade_by_time: sled::Tree,
    /// Maker trades that ended unfilled and gave their amount back to the
    /// offer: keys only, so that it happens once.
    pub(crate) trade_released: sled::Tree,
    /// Own trade messages the peer refused for good (trade id → seq and
    /// reason): delivery stops there.
    pub(crate) trade_refusals: sled::Tree,
    /// Own cancels sent but not yet acknowledged (trade id → the signed
    /// message): applied only once the peer has them.
    pub(crate) pending_cancels: sled::Tree,
    pub(crate) negotiations: sled::Tree,
    pub(crate) peers: sled::Tree,
    /// Verified ratings, by rated peer (see [`crate::ratings`]).
    pub(crate) ratings: sled::Tree,
    /// The same ratings' keys, by rater.
    pub(crate) ratings_by_rater: sled::Tree,
    /// Envelopes kept for others, by recipient (see [`crate::mailbox`]).
    pub(crate) mailbox: sled::Tree,
    /// The same envelopes, by author.
    pub(crate) mailbox_by_sender: sled::Tree,
}

impl Trees {
    /// Opens the database in `dir` (whose `LOCK` the caller holds) and
    /// migrates it to [`SCHEMA_VERSION`].
    pub(crate) fn open(dir: &Path, config: &StoreConfig) -> Result<Trees> {
        let path = dir.to_path_buf();
        let db = open_sled(
            sled::Config::new()
                .path(dir.join("sled"))
                .cache_capacity(config.cache_capacity_bytes)
                .flush_every_ms(
                    config
                        .background_flush
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
                ),
        )
        .map_err(|e| StoreError::from_sled(e, dir))?;
        let tree = |name: &str| {
            db.open_tree(name)
                .map_err(|e| StoreError::from_sled(e, dir))
        };
        let meta = tree("meta")?;
        let found = schema_of(&db, &meta).map_err(|e| e.into_store(dir))?;
        let trees = Trees {
            book: tree("book")?,
            tombstones: tree("tombstones")?,
            own_offers: tree("own_offers")?,
            reservations: tree("reservations")?,
            trades: tree("trades")?,
            trade_log: tree("trade_log")?,
            trade_heads: tree("trade_heads")?,
            trade_msgs: tree("trade_msgs")?,
            trade_by_request: tree("trade_by_request")?,
            trade_by_time: tree("trade_by_time")?,
            trade_released: tree("trade_released")?,
            trade_refusals: tree("trade_refusals")?,
            pending_cancels: tree("pending_cancels")?,
            negotiations: tree("negotiations")?,
            peers: tree("peers")?,
            ratings: tree("ratings")?,
            ratings_by_rater: tree("ratings_by_rater")?,
            mailbox: tree("mailbox")?,
            mailbox_by_sender: tree("mailbox_by_sender")?,
            db,
            path,
        };
        match found {
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            Some(SCHEMA_VERSION) => {}
            found => {
                if found.is_some_and(|v| v < 2) {
                    for name in RETIRED_TREES {
                        trees.db.drop_tree(name).map_err(|e| trees.err(e))?;
                    }
                }
                if found.is_some() {
                    trades::rebuild_indexes(&trees)?;
                }
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| trees.err(e))?;
                trees.db.flush().map_err(|e| trees.err(e))?;
            }
        }
        Ok(trees)
    }

    pub(crate) fn err(&self, e: sled::Error) -> StoreError {
        StoreError::from_sled(e, &self.path)
    }

    /// Makes every write so far durable.
    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }
}

/// Opens sled, waiting a little if its own file lock is still held. We hold
/// `LOCK`, so no other live store has this directory; sled's lock can only
/// belong to a database of this process that was just dropped (or is being
/// reopened) and whose I/O threads are still letting go of the file.
pub(crate) fn open_sled(config: sled::Config) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

enum SchemaError {
    Db(sled::Error),
    Corrupt,
}

impl SchemaError {
    fn into_store(self, dir: &Path) -> StoreError {
        match self {
            SchemaError::Db(e) => StoreError::from_sled(e, dir),
            SchemaError::Corrupt => StoreError::Corrupt {
                tree: "meta",
                source: CodecError::Malformed("schema version is not 4 bytes".into()),
            },
        }
    }
}

/// The schema on disk: `None` for a new database.
fn schema_of(db: &sled::Db, meta: &sled::Tree) -> Result<Option<u32>, SchemaError> {
    match meta.get(SCHEMA_KEY).map_err(SchemaError::Db)? {
        None if db.tree_names().iter().all(|n| n.as_ref() != b"book") => Ok(None),
        // A database from before the version was stamped would have a book.
        None => Ok(Some(1)),
        Some(v) => <[u8; 4]>::try_from(v.as_ref())
            .map(|b| Some(u32::from_be_bytes(b)))
            .map_err(|_| SchemaError::Corrupt),
    }
}

#[cfg(test)]
pub(crate) fn set_schema(dir: &Path, version: u32) {
    let db = open_sled(sled::Config::new().path(dir.join("sled"))).unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert(SCHEMA_KEY, &version.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
}
