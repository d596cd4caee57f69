//! The mobile profile's limits, in force on a running node.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use peerfx::node::{Node, NodeConfig, Profile};

/// More peers than the mobile profile accepts.
const PEERS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mobile_node_keeps_to_its_connection_cap() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut c = NodeConfig::with_profile(dir.path(), Profile::Mobile);
    c.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    let cap = c.net.max_connections as usize;
    assert!(cap < PEERS);
    assert!(!c.net.mdns && !c.net.kad_server);
    assert!(c.store.background_flush.is_none());
    let phone = start_with(c, dir).await;

    let mut peers = Vec::new();
    for _ in 0..PEERS {
        peers.push(raw_peer(vec![phone.addr.clone()]).await);
    }
    // Every peer dialed; the phone fills up to its cap and refuses the rest.
    // Each sample must be within the cap; the wait ends once the phone is
    // full and every peer's dial has settled (connected or refused).
    let phone_id = phone.node.peer_id();
    wait_until("the phone full and every dial settled", || async {
        let on_phone = connected(&phone.node).await;
        assert!(on_phone <= cap, "{on_phone} connections, cap {cap}");
        let mut on_peers = 0;
        for p in &peers {
            let info = p.net.info().await.unwrap();
            on_peers += usize::from(info.connected.iter().any(|(id, _)| *id == phone_id));
        }
        on_phone == cap && on_peers == cap
    })
    .await;
}

async fn connected(node: &Node) -> usize {
    node.status().await.unwrap().connected_peers
}
