//! The pump: the task that takes what the network hands the node and acts on
//! it. Gossip is validated and its verdict reported (only then does
//! gossipsub forward it); sync and trade requests are served on tasks of
//! their own; control events (a peer connected, left, or follows a market)
//! update the node's bookkeeping and start syncs.
//!
//! Gossip arrives in batches of whatever is queued. A [`Checker`] checks
//! batches on every core while this task applies the ones before them to
//! the book, in order, and reports each verdict.

use std::sync::Arc;

use peerfx_core::Market;
use peerfx_net::{Acceptance, NetEvent, NetEvents, Request};

use crate::ingest::check::{Checker, GOSSIP_BATCH};
use crate::inner::Inner;
use crate::{check, mailbox, now, sync, Metrics, NodeEvent};

pub(crate) fn spawn(inner: Arc<Inner>, mut net: NetEvents) {
    let mut stop = inner.shutdown.subscribe();
    let wakeups = inner.net.wakeups().clone();
    inner.tracker.clone().spawn(wakeups.count(async move {
        let mut batch = Vec::with_capacity(GOSSIP_BATCH);
        let mut checker = Checker::new(inner.limits().clone());
        loop {
            tokio::select! {
                // Control first: a connect or a subscription must not wait
                // behind a flood of gossip.
                biased;
                _ = stop.changed() => break,
                event = net.control.recv() => match event {
                    Some(event) => on_control(&inner, event),
                    None => break,
                },
                request = net.requests.recv() => match request {
                    Some(request) => on_request(&inner, request),
                    None => break,
                },
                // Ahead of applying: the pool checks the next batch while
                // this task applies the one before.
                n = net.gossip.recv_many(&mut batch, GOSSIP_BATCH), if checker.can_submit() => {
                    if n == 0 {
                        break;
                    }
                    let next = Vec::with_capacity(GOSSIP_BATCH);
                    checker.submit(std::mem::replace(&mut batch, next), now());
                }
                Some((gossip, checked)) = checker.next(), if checker.in_flight() > 0 => {
                    let now = now();
                    for (gossip, checked) in gossip.into_iter().zip(checked) {
                        let verdict = inner.apply_gossip(checked, &gossip.topic, now);
                        match verdict {
                            Acceptance::Accept => Metrics::inc(&inner.metrics.gossip_accepted),
                            Acceptance::Ignore => Metrics::inc(&inner.metrics.gossip_ignored),
                            Acceptance::Reject => {}
                        }
                        let _ = inner.net.report(gossip.token, verdict).await;
                    }
                }
            }
        }
    }));
}

fn on_request(inner: &Arc<Inner>, request: Request) {
    match request {
        Request::Sync {
            peer,
            request,
            token,
        } => sync::serve(inner.clone(), peer, request, token),
        Request::Digest {
            peer,
            request,
            token,
        } => check::serve(inner.clone(), peer, request, token),
        Request::Mailbox {
            peer,
            request,
            token,
        } => mailbox::serve(inner.clone(), peer, request, token),
        Request::Trade {
            peer,
            request,
            token,
        } => {
            inner
                .tracker
                .spawn(crate::trades::serve(inner.clone(), peer, request, token));
        }
    }
}

fn on_control(inner: &Arc<Inner>, event: NetEvent) {
    match event {
        NetEvent::PeerSubscribed { peer, topic } => {
            let Some(market) = Market::from_topic(&topic) else {
                return;
            };
            if inner.markets.contains(&market) {
                // A first sync still looking for a peer settles on this one.
                let first = inner.markets.unsettled(&market);
                let inner = inner.clone();
                inner
                    .tracker
                    .clone()
                    .spawn(async move { sync::fetch(inner, peer, market, first.as_deref()).await });
            }
        }
        NetEvent::PeerConnected { peer, addr, dialed } => {
            inner.peer_connected(peer, &addr, dialed);
            inner.emit(NodeEvent::PeerConnected { peer });
        }
        NetEvent::PeerResumed { peer } => {
            // The link was down with the connection open: what either side
            // gossiped meanwhile never arrived. We fetch theirs; they, having
            // seen our pings fail too, fetch ours.
            let inner = inner.clone();
            inner.tracker.clone().spawn(async move {
                for market in inner.markets.list() {
                    let on = inner.net.peers_on(market).await.unwrap_or_default();
                    if on.contains(&peer) {
                        sync::fetch(inner.clone(), peer, market, None).await;
                    }
                }
            });
        }
        NetEvent::PeerDisconnected { peer } => {
            inner.sync.forget(&peer);
            inner.mail.forget(&peer);
            inner.emit(NodeEvent::PeerDisconnected { peer });
        }
        NetEvent::Listening { .. } => {}
    }
}
