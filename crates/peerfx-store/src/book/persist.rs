//! The book's copy on disk: loading it at open, and writing what changed
//! behind the in-memory book, a chunk per transaction of the writer.

use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use peerfx_core::protocol::OfferState;
use peerfx_core::{codec, OfferId, PublicKey, Verified};
use sled::Transactional;

use super::state::{BookState, Entry};
use super::tombs::Tombstone;
use super::PERSIST_CHUNK;
use crate::trees::Trees;
use crate::{decode, Result, Shared, StoreConfig, StoreError};

/// The in-memory book. Persisted through the writer ([`persist_chunk`]).
pub(crate) struct Book {
    state: RwLock<BookState>,
    /// Serialises persists, so an older snapshot never overwrites a newer one.
    persisting: Mutex<()>,
}

/// What [`Book::load`] found on disk.
pub(crate) struct Loaded {
    /// The book.
    pub(crate) book: Book,
    /// Records that did not decode, or that a tombstone outranks: removed
    /// from disk as they were found.
    pub(crate) dropped: usize,
}

impl Book {
    /// Reads the persisted book and tombstones and rebuilds the indexes.
    pub(crate) fn load(trees: &Trees, config: &StoreConfig) -> Result<Loaded> {
        let mut state = BookState::new(config);
        let mut dropped = 0;
        let sled_err = |e| trees.err(e);
        for item in trees.tombstones.iter() {
            let (k, v) = item.map_err(sled_err)?;
            let id = <[u8; 32]>::try_from(k.as_ref()).ok().map(peerfx_core::Hash);
            match (id, decode::<Tombstone>("tombstones", &v)) {
                (Some(id), Ok(t)) => state.tombs.load(id, t),
                _ => {
                    trees.tombstones.remove(k).map_err(sled_err)?;
                    dropped += 1;
                }
            }
        }
        for item in trees.book.iter() {
            let (k, v) = item.map_err(sled_err)?;
            let Ok(rec) = decode::<OfferState>("book", &v) else {
                trees.book.remove(k).map_err(sled_err)?;
                dropped += 1;
                continue;
            };
            // Verified before it was stored; sled checksums what it wrote.
            let offer = Verified::assume_verified(rec.offer);
            let id = offer.id();
            if k.as_ref() != id.as_bytes() || state.tombstoned(&id, &offer.maker) {
                trees.book.remove(k).map_err(sled_err)?;
                dropped += 1;
                continue;
            }
            let update = rec.update.map(Verified::assume_verified);
            state.add_entry(offer, update);
        }
        state.dirty.clear();
        // What the caps dropped while loading must go from disk too.
        let evicted_at_load = state.tombs.dirty.len();
        if evicted_at_load > 0 {
            dropped += evicted_at_load;
        }
        Ok(Loaded {
            book: Book {
                state: RwLock::new(state),
                persisting: Mutex::new(()),
            },
            dropped,
        })
    }

    /// Marks `maker` as one of this node's own keys. Its offers always find
    /// room in a full book and are never evicted, so a node always sees its
    /// own offers in its book. The book can then hold more than its maximum by
    /// at most the own makers' open-offer quota.
    pub(crate) fn note_own_maker(&self, maker: PublicKey) {
        if !self.read().own_makers.contains(&maker) {
            self.write().own_makers.insert(maker);
        }
    }

    /// Marks every record as changed: after the database was reopened, its
    /// copy of the book may be missing the last writes.
    pub(crate) fn mark_all_dirty(&self) {
        let mut st = self.write();
        let ids: Vec<OfferId> = st.entries.keys().copied().collect();
        st.dirty.extend(ids);
        let tombs: Vec<OfferId> = st.tombs.ids().copied().collect();
        st.tombs.dirty.extend(tombs);
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, BookState> {
        // Every change completes before the lock is released, and none
        // panics midway, so a poisoned lock still guards a consistent book.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, BookState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes up to `max` of the book's changes in one transaction. Returns how
/// many records it wrote or deleted, and whether more are pending. On failure
/// the changes stay pending for the next attempt.
pub(crate) fn persist_chunk(shared: &Shared, trees: &Trees, max: usize) -> Result<(usize, bool)> {
    let book = &shared.book;
    let _one_at_a_time = book
        .persisting
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Copies are taken under the lock; encoding and I/O happen outside it.
    let (records, tombs, more) = {
        let mut st = book.write();
        let take = |set: &mut std::collections::HashSet<OfferId>, n: usize| -> Vec<OfferId> {
            let ids: Vec<OfferId> = set.iter().take(n).copied().collect();
            for id in &ids {
                set.remove(id);
            }
            ids
        };
        let record_ids = take(&mut st.dirty, max);
        let tomb_ids = take(&mut st.tombs.dirty, max.saturating_sub(record_ids.len()));
        let records: Vec<(OfferId, Option<OfferState>)> = record_ids
            .into_iter()
            .map(|id| (id, st.entries.get(&id).map(Entry::to_state)))
            .collect();
        let tombs: Vec<(OfferId, Option<Tombstone>)> = tomb_ids
            .into_iter()
            .map(|id| (id, st.tombs.get(&id).cloned()))
            .collect();
        let more = !st.dirty.is_empty() || !st.tombs.dirty.is_empty();
        (records, tombs, more)
    };
    if records.is_empty() && tombs.is_empty() {
        return Ok((0, more));
    }
    let mut book_batch = sled::Batch::default();
    for (id, rec) in &records {
        match rec {
            Some(r) => book_batch.insert(id.as_bytes(), codec::encode(r)),
            None => book_batch.remove(id.as_bytes()),
        }
    }
    let mut tomb_batch = sled::Batch::default();
    for (id, t) in &tombs {
        match t {
            Some(t) => tomb_batch.insert(id.as_bytes(), codec::encode(t)),
            None => tomb_batch.remove(id.as_bytes()),
        }
    }
    let written = (&trees.book, &trees.tombstones).transaction(|(book, tombs)| {
        book.apply_batch(&book_batch)?;
        tombs.apply_batch(&tomb_batch)?;
        Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
    });
    if let Err(e) = written {
        let mut st = book.write();
        st.dirty.extend(records.into_iter().map(|(id, _)| id));
        st.tombs.dirty.extend(tombs.into_iter().map(|(id, _)| id));
        return Err(crate::tx_err(trees, e));
    }
    Ok((records.len() + tombs.len(), more))
}

/// Writes every pending change of the book (at close).
pub(crate) fn persist_all(shared: &Shared, trees: &Trees) -> Result<usize> {
    let mut total = 0;
    loop {
        let (n, more) = persist_chunk(shared, trees, PERSIST_CHUNK)?;
        total += n;
        if !more {
            return Ok(total);
        }
    }
}
