//! What a store operation can fail with. Every error is `Clone` (a failed
//! group commit tells each of its waiters) and keeps its cause as a
//! `#[source]`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use peerfx_core::codec::CodecError;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this one) has the directory open.
    #[error("the data directory {} is in use by another peerfx process", .0.display())]
    Locked(PathBuf),
    /// The database was written by a newer peerfx.
    #[error("the database was written by a newer peerfx (schema {found}, this build understands up to {supported}); upgrade peerfx")]
    NewerSchema {
        /// Schema found on disk.
        found: u32,
        /// Schema this build writes.
        supported: u32,
    },
    /// The disk is full. Nothing of the operation was kept; it works again
    /// once space is freed.
    #[error("disk full while writing to {}: nothing was changed; free some space and try again", .path.display())]
    DiskFull {
        /// The database directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: Arc<io::Error>,
    },
    /// A stored value does not decode.
    #[error("corrupt record in tree {tree}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// Why it does not decode.
        #[source]
        source: CodecError,
    },
    /// Any other I/O error.
    #[error("I/O error on {}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: Arc<io::Error>,
    },
    /// An error of the database engine.
    #[error("database error in {}", .path.display())]
    Db {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// The database is closed after a failed write and is reopened as soon
    /// as it can be (see [`crate::writer`]): until then nothing can be read
    /// or written. The cause says why (a full disk, most often).
    #[error("the database is unavailable until it can be reopened")]
    Unavailable(#[source] Box<StoreError>),
    /// The store has been closed.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    pub(crate) fn from_io(e: io::Error, path: &Path) -> StoreError {
        if e.kind() == io::ErrorKind::StorageFull {
            StoreError::DiskFull {
                path: path.to_path_buf(),
                source: Arc::new(e),
            }
        } else {
            StoreError::Io {
                path: path.to_path_buf(),
                source: Arc::new(e),
            }
        }
    }

    pub(crate) fn from_sled(e: sled::Error, path: &Path) -> StoreError {
        match e {
            sled::Error::Io(io) => StoreError::from_io(io, path),
            other => StoreError::Db {
                path: path.to_path_buf(),
                source: other,
            },
        }
    }

    /// Whether the error comes from the disk or the database engine (the
    /// writer then reopens the database), not from the data.
    pub(crate) fn is_engine_failure(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull { .. } | StoreError::Io { .. } | StoreError::Db { .. }
        )
    }

    /// Whether the disk is full (or the database is closed because it was).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } => true,
            StoreError::Unavailable(cause) => cause.is_disk_full(),
            _ => false,
        }
    }
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
