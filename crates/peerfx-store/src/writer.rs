//! The one writer: a thread that makes every change to the database, so that
//! no flush ever runs on an async runtime's threads, and that shares one
//! flush among every write waiting at the same time (group commit).
//!
//! A write is a job: a closure over the [`Trees`] and a reply channel. The
//! thread takes the first job waiting, then every other job already queued
//! (up to [`MAX_GROUP`]), runs the durable ones one after the other, flushes
//! once, and only then answers each; then it runs the lazy ones. So a write is never
//! reported done before it is on disk, and eight concurrent posts cost one
//! or two flushes, not eight. Running the jobs one at a time also makes each
//! of them atomic with respect to the others (a quota check and the insert it
//! guards, a trade's state check and its append).
//!
//! **Faults.** sled poisons itself after any I/O error (a full disk, say):
//! every later operation fails, until the database is opened again. So when
//! a flush or a write fails, the writer answers every job of the group with
//! the error, and reopens the database before the next job: what the failed
//! group wrote but did not flush is gone, so a failed operation leaves
//! nothing behind, and once space is freed writes work again without a
//! restart. While the disk stays full, a reopen is tried at most every
//! [`REOPEN_EVERY`]; jobs in between fail at once with the same error, and it
//! is logged once, not once per job.
//!
//! The job channel is unbounded: its length is bounded by the callers, each
//! of which waits for its answer (at most one job per request, trade or
//! post in flight); the fire-and-forget jobs (a peer seen) come at the rate
//! of connections.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::trees::Trees;
use crate::{Result, Shared, StoreError};

/// Most jobs run between two flushes.
const MAX_GROUP: usize = 256;

/// Least time between two attempts to reopen a failed database.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// A job's write: `None` means the database is unusable, write nothing.
type Run = Box<dyn FnOnce(Option<&Trees>) -> (Completion, Option<StoreError>) + Send>;

/// A write waiting for the writer.
struct Job {
    /// Whether its answer must wait for a flush.
    durable: bool,
    /// Runs the write (`None`: the database is unusable, write nothing);
    /// returns how to answer once the group's fate is known, and the error if
    /// the write itself broke the database.
    run: Run,
}

/// The writer's queue, and its thread. Dropping the last handle ends the
/// thread, after it has written the book's last changes and flushed, and
/// waits for it, so the data directory is free when the drop returns.
pub(crate) struct WriterHandle {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    pub(crate) fn spawn(shared: Arc<Shared>) -> Result<WriterHandle> {
        let (tx, rx) = mpsc::channel();
        let path = shared.dir.clone();
        let thread = std::thread::Builder::new()
            .name("peerfx-store-writer".into())
            .spawn(move || Writer::new(shared).run(rx))
            .map_err(|e| StoreError::from_io(e, &path))?;
        Ok(WriterHandle {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `write`; the future resolves once it ran and, if `durable`,
    /// once a flush has made it durable.
    pub(crate) fn submit<T, F>(
        &self,
        durable: bool,
        write: F,
    ) -> impl std::future::Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let run = Box::new(move |trees: Option<&Trees>| {
            let result = trees.map_or(Err(StoreError::Closed), write);
            let broke = engine_failure(&result);
            // A failed group answers with its error, whatever the job did.
            let complete: Completion = Box::new(move |group: Result<()>| {
                let _ = reply.send(group.and(result));
            });
            (complete, broke)
        });
        let queued = self.tx.as_ref().ok_or(StoreError::Closed).and_then(|tx| {
            tx.send(Job { durable, run })
                .map_err(|_| StoreError::Closed)
        });
        async move {
            queued?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
    }

    /// Queues `write` without waiting for it (nothing durable: sled's own
    /// background flush or the next group's flush writes it).
    pub(crate) fn submit_detached<F>(&self, write: F) -> Result<()>
    where
        F: FnOnce(&Trees) -> Result<()> + Send + 'static,
    {
        let run = Box::new(move |trees: Option<&Trees>| {
            let result = trees.map_or(Err(StoreError::Closed), write);
            let broke = engine_failure(&result);
            if let Err(e) = result {
                tracing::debug!("store: {e}");
            }
            let complete: Completion = Box::new(|_| {});
            (complete, broke)
        });
        self.tx
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Job {
                durable: false,
                run,
            })
            .map_err(|_| StoreError::Closed)
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the store's writer thread panicked");
            }
        }
    }
}

/// The writer thread's state.
struct Writer {
    shared: Arc<Shared>,
    /// Why the database failed, while it waits to be reopened.
    failed: Option<(StoreError, Instant)>,
}

impl Writer {
    fn new(shared: Arc<Shared>) -> Writer {
        Writer {
            shared,
            failed: None,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            // What someone waits for goes first: a lazy job (the book's
            // write-behind, a peer seen) is never awaited by a user, and no
            // durable job depends on one (each reads what it changes when it
            // runs). So a post queued behind a chunk of the book does not
            // wait for it.
            let (durable, lazy): (Vec<Job>, Vec<Job>) = group.into_iter().partition(|j| j.durable);
            for group in [durable, lazy] {
                if !group.is_empty() {
                    self.run_group(group);
                }
            }
        }
        // Every handle is gone: write the book's last changes and flush.
        if self.failed.is_none() {
            if let Ok(trees) = self.shared.trees() {
                let written =
                    crate::book::persist_all(&self.shared, &trees).and_then(|_| trees.flush());
                if let Err(e) = written {
                    tracing::error!("store: final write at close: {e}");
                }
            }
        }
    }

    fn run_group(&mut self, group: Vec<Job>) {
        let trees = match self.usable() {
            Ok(trees) => trees,
            Err(e) => {
                // Write nothing: answer every job with the error.
                for job in group {
                    let (complete, _) = (job.run)(None);
                    complete(Err(e.clone()));
                }
                return;
            }
        };
        let durable = group.iter().any(|j| j.durable);
        let mut completions = Vec::with_capacity(group.len());
        let mut broke = None;
        for job in group {
            let (complete, b) = (job.run)(Some(&trees));
            completions.push(complete);
            broke = broke.or(b);
        }
        let outcome = match broke {
            Some(e) => Err(e),
            None if durable => {
                if !self.shared.config.flush_delay.is_zero() {
                    std::thread::sleep(self.shared.config.flush_delay);
                }
                trees.flush()
            }
            None => Ok(()),
        };
        if let Err(e) = &outcome {
            tracing::error!("store: a write failed ({e}); reopening the database");
            self.failed = Some((e.clone(), Instant::now()));
            // The group's unflushed writes must not survive: drop every
            // handle, which discards them, before the reopen.
            drop(trees);
            self.shared.close_after(e.clone());
            self.reopen();
        }
        for complete in completions {
            complete(outcome.clone());
        }
    }

    /// The trees, reopening the database first if it failed (at most every
    /// [`REOPEN_EVERY`]).
    fn usable(&mut self) -> Result<Arc<Trees>> {
        if let Some((e, at)) = &self.failed {
            if at.elapsed() < REOPEN_EVERY {
                return Err(e.clone());
            }
            self.reopen();
        }
        match &self.failed {
            Some((e, _)) => Err(e.clone()),
            None => self.shared.trees(),
        }
    }

    /// Opens the database again and rebuilds what the store keeps in memory
    /// from it.
    fn reopen(&mut self) {
        let Some((_, _)) = &self.failed else {
            return;
        };
        match self.shared.reopen() {
            Ok(()) => {
                tracing::info!("store: the database is writable again");
                self.failed = None;
            }
            Err(e) => {
                tracing::debug!("store: reopen failed: {e}");
                // Keep the first cause (the full disk), not the reopen's.
                if let Some((_, at)) = &mut self.failed {
                    *at = Instant::now();
                }
            }
        }
    }
}

/// The error of `result` if the disk or the database engine failed (the writer
/// then reopens the database), not the data.
fn engine_failure<T>(result: &Result<T>) -> Option<StoreError> {
    result
        .as_ref()
        .err()
        .filter(|e| e.is_engine_failure())
        .cloned()
}
