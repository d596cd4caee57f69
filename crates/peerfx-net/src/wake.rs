//! Counting how often the node's tasks wake.
//!
//! On a phone every wake-up of the CPU costs battery, so "nothing wakes a
//! paused node" is a promise worth checking. [`Wakeups`] counts the polls of
//! the tasks it wraps: a poll is a wake-up of that task, whoever caused it (a
//! timer, a socket, a channel). The event loop, the node's pump and its
//! maintenance task are all counted on one [`Wakeups`], read by the tests
//! and exported as `peerfx_task_wakeups_total`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// A shared count of task wake-ups. Cheap to clone; clones share the count.
#[derive(Clone, Debug, Default)]
pub struct Wakeups(Arc<AtomicU64>);

impl Wakeups {
    /// Wake-ups so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// `task`, counting each of its polls here.
    pub fn count<F: Future>(&self, task: F) -> Counted<F> {
        Counted {
            task: Box::pin(task),
            wakeups: self.clone(),
        }
    }
}

/// A future whose polls are counted ([`Wakeups::count`]).
pub struct Counted<F> {
    // Boxed so that `Counted` is `Unpin` without a pin-projection crate.
    task: Pin<Box<F>>,
    wakeups: Wakeups,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.wakeups.0.fetch_add(1, Ordering::Relaxed);
        self.task.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_poll_is_counted() {
        let wakeups = Wakeups::default();
        wakeups.count(async {}).await;
        assert_eq!(wakeups.get(), 1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(wakeups.count(rx));
        // Wait until the task has been polled once and is parked on `rx`.
        while wakeups.get() < 2 {
            tokio::task::yield_now().await;
        }
        tx.send(()).ok();
        task.await.ok();
        assert_eq!(wakeups.get(), 3);
    }
}
