//! Whether a maker is there, from what this node sees: a connection to it
//! now, or the age of its latest signed announcement
//! ([`peerfx_core::BookEntry::announced_at`]).
//!
//! Makers re-announce every open offer once per
//! [`crate::config::Timers::reannounce_interval`] (10 min) with a freshly
//! signed update, so the announcements already on the wire are the
//! heartbeat: presence costs no message of its own. A maker is **online**
//! while connected to this node or within one re-announcement of its last;
//! **away** until [`crate::config::Timers::offline_after`] (three missed
//! re-announcements by default); **offline** after that. Offline makers'
//! offers are left out of the book unless asked for
//! ([`crate::BookQuery::include_offline`]), and a take of one fails at once
//! with [`crate::NodeError::MakerOffline`] instead of waiting for a dial to
//! time out.

use std::collections::HashSet;

use peerfx_core::{BookEntry, Timestamp};
use peerfx_net::PeerId;

use crate::{now, Node, NodeError};

/// How present a maker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Connected to this node, or seen within one re-announcement period.
    Online,
    /// Not seen for a while, but not yet long enough to count as gone.
    Away,
    /// Silent for longer than `offline_after`: its offers are hidden.
    Offline,
}

impl std::fmt::Display for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        })
    }
}

/// What presence is judged against: who is connected, and when.
pub(crate) struct Seen {
    connected: HashSet<PeerId>,
    now: Timestamp,
    online_within: u64,
    offline_after: u64,
}

impl Seen {
    /// The presence of the maker of `e`.
    pub(crate) fn of(&self, e: &BookEntry) -> Presence {
        let connected = e
            .offer
            .maker
            .peer_id()
            .is_ok_and(|p| self.connected.contains(&p));
        let silent = self.now.since(e.announced_at);
        if connected || silent <= self.online_within.min(self.offline_after) {
            Presence::Online
        } else if silent <= self.offline_after {
            Presence::Away
        } else {
            Presence::Offline
        }
    }
}

impl Node {
    pub(crate) async fn seen(&self) -> Result<Seen, NodeError> {
        let timers = &self.inner.config.timers;
        Ok(Seen {
            connected: self.peers().await?.into_iter().collect(),
            now: now(),
            // A re-announcement a little late (clock skew, a slow link) is
            // still on time.
            online_within: timers.reannounce_interval.as_secs() + 60,
            offline_after: timers.offline_after.as_secs(),
        })
    }

    /// The presence of the makers of `entries` (a book page), in order.
    pub async fn presence(&self, entries: &[BookEntry]) -> Result<Vec<Presence>, NodeError> {
        let seen = self.seen().await?;
        Ok(entries.iter().map(|e| seen.of(e)).collect())
    }
}
