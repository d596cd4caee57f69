//! A phone's lifecycle: [`Node::pause`] when the app goes to the background,
//! [`Node::resume`] when it comes back.
//!
//! A suspended app keeps its memory but not its sockets, and each timer that
//! fires costs battery. So a paused node holds no connection, no listener and
//! no timer (the network's side is in `peerfx_net::pause`; the maintenance
//! task drops its intervals), and its store is flushed: if the phone kills
//! the app while suspended, nothing is lost. Calls still work: queries read
//! the store, a post is stored and goes out on resume (peers sync it from
//! this node when they reconnect); only what needs a peer now (a take, a
//! trade step sent now) fails, with [`peerfx_net::NetError::Paused`].
//!
//! Resuming catches up: listens and dials again (remembered peers, the
//! bootstrap peers); reconnected peers sync the followed markets both ways;
//! the maintenance task starts its intervals again, whose first tick purges
//! what expired meanwhile and resends undelivered trade messages at once,
//! and the mailboxes are asked for what came meanwhile as soon as one can
//! be reached.

use crate::{Node, NodeError};

impl Node {
    /// Pauses the node: closes every connection and listener, stops every
    /// timer, writes the book and flushes the store. Cheap: it returns once
    /// the connections have closed (at most a few seconds when a peer does
    /// not answer). Pausing a paused node does nothing.
    pub async fn pause(&self) -> Result<(), NodeError> {
        let inner = &self.inner;
        inner.paused.send_replace(true);
        inner.mail.refetch();
        inner.net.pause().await?;
        inner.store.book_persist().await?;
        inner.store.flush().await?;
        tracing::info!("node paused");
        Ok(())
    }

    /// Resumes a paused node: listens again, dials remembered and bootstrap
    /// peers, and restarts the timers (see the module docs for what catches
    /// up). Resuming a running node does nothing.
    pub async fn resume(&self) -> Result<(), NodeError> {
        let inner = &self.inner;
        if !*inner.paused.borrow() {
            return Ok(());
        }
        inner.net.resume().await?;
        inner.paused.send_replace(false);
        self.redial_known_peers().await?;
        tracing::info!("node resumed");
        Ok(())
    }

    /// Whether the node is paused.
    pub fn is_paused(&self) -> bool {
        *self.inner.paused.borrow()
    }

    /// How many times the node's tasks (the network's event loop, the pump,
    /// maintenance) have woken so far. A paused node's count stands still.
    pub fn wakeups(&self) -> u64 {
        self.inner.net.wakeups().get()
    }
}
