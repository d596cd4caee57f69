//! Locks: per-key async locks, and how a poisoned std mutex is treated.
//!
//! A check-then-write on one trade (is this seq next? then append) must not
//! interleave with another on the same trade, but nothing is gained by making
//! it wait for every other trade: [`KeyedLocks`] hands out one lock per key.
//!
//! A std mutex is poisoned when a holder panicked. Where the guarded data is
//! a cache whose every update is one map operation, [`lock`] carries on with
//! it. Where a wrong answer is unsafe, [`read_or`] answers with the
//! restrictive default instead: a poisoned block list blocks, it does not
//! unblock everyone.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// One async lock per key, created on first use and forgotten when nobody
/// holds or waits for it.
pub(crate) struct KeyedLocks<K> {
    map: Mutex<HashMap<K, Weak<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        KeyedLocks {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Copy> KeyedLocks<K> {
    /// Entries kept before the dead ones are swept.
    const SWEEP_ABOVE: usize = 64;

    /// Waits for the lock of `key`.
    pub(crate) async fn lock(&self, key: K) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = {
            let mut map = lock(&self.map);
            match map.get(&key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    if map.len() >= Self::SWEEP_ABOVE {
                        map.retain(|_, w| w.strong_count() > 0);
                    }
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&m));
                    m
                }
            }
        };
        mutex.lock_owned().await
    }

    /// Keys with a live lock (for tests).
    #[cfg(test)]
    fn live(&self) -> usize {
        lock(&self.map)
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

/// Locks a mutex whose data stays consistent whatever a holder did: every
/// critical section guarded this way is one map or counter update.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads through a mutex where a poisoned lock must fail closed: `closed` is
/// the answer if a holder panicked.
pub(crate) fn read_or<T, R>(m: &Mutex<T>, closed: R, f: impl FnOnce(&T) -> R) -> R {
    match m.lock() {
        Ok(guard) => f(&guard),
        Err(_) => closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_lock_per_key_and_forgotten_when_free() {
        let locks = KeyedLocks::<u32>::default();
        let a = locks.lock(1).await;
        // Another key is not blocked by the first.
        let b = locks.lock(2).await;
        assert_eq!(locks.live(), 2);
        // The same key is.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock(1))
                .await
                .is_err()
        );
        drop((a, b));
        assert_eq!(locks.live(), 0);
        for k in 0..1000 {
            drop(locks.lock(k).await);
        }
        assert!(lock(&locks.map).len() <= KeyedLocks::<u32>::SWEEP_ABOVE + 1);
    }

    #[test]
    fn a_poisoned_lock_fails_closed() {
        let m = Arc::new(Mutex::new(std::collections::HashSet::<u8>::new()));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(read_or(&m, true, |set| set.contains(&1)));
    }
}
