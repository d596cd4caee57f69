//! The WAN benchmark's baseline: raw gossipsub, that is peerfx-net alone
//! (the same transports, DHT, relays, AutoNAT and gossipsub settings as a
//! daemon), with no node behind it: every message is accepted the moment
//! it arrives. The benchmark runs one on each host, in the host's
//! namespace next to the daemon, by starting itself again with [`FLAG`].
//!
//! Protocol on the pipes: it prints `addr <multiaddr>` once it listens on a
//! non-loopback address, then `got <message>` per arrival; it reads
//! `pub <message>` lines and publishes them.

use std::io::Write;
use std::time::Duration;

use peerfx::core::{Keypair, Market};
use peerfx::net::multiaddr::Protocol;
use peerfx::net::{Acceptance, Multiaddr, NetConfig};

/// The argument that makes the benchmark binary a raw peer:
/// `--raw-peer [--relay-server] [BOOTSTRAP_MULTIADDR]`.
pub const FLAG: &str = "--raw-peer";

/// Runs a raw peer until stdin closes.
pub fn run(args: &[String]) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(serve(args));
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe ends the benchmark's interest; nothing to do about it.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn serve(args: &[String]) {
    let market: Market = "EUR-USD".parse().unwrap();
    // args[0] is this program's path, which starts with '/' too.
    let bootstrap: Vec<Multiaddr> = args
        .iter()
        .skip(1)
        .filter(|a| a.starts_with('/'))
        .map(|a| a.parse().unwrap())
        .collect();
    let config = NetConfig {
        listen: vec![
            "/ip4/0.0.0.0/tcp/0".parse().unwrap(),
            "/ip4/0.0.0.0/udp/0/quic-v1".parse().unwrap(),
        ],
        bootstrap,
        mdns: false,
        autonat_any_ip: true,
        relay_server: args.iter().any(|a| a == "--relay-server"),
        ..NetConfig::default()
    };
    let (net, mut events) =
        peerfx::net::start(Keypair::generate().to_libp2p(), config, &Default::default())
            .await
            .unwrap();
    net.subscribe(market).await.unwrap();
    let addr = loop {
        let info = net.info().await.unwrap();
        let public = info.listen_addrs.into_iter().find(|a| {
            !a.iter()
                .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()))
        });
        if let Some(a) = public {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    say(&format!("addr {}", addr.with_p2p(net.peer_id()).unwrap()));
    // Nothing here reads control events or answers requests: drain them.
    let mut control = events.control;
    tokio::spawn(async move { while control.recv().await.is_some() {} });
    let mut requests = events.requests;
    tokio::spawn(async move { while requests.recv().await.is_some() {} });
    let h = net.clone();
    tokio::spawn(async move {
        while let Some(g) = events.gossip.recv().await {
            say(&format!("got {}", String::from_utf8_lossy(&g.data)));
            let _ = h.report(g.token, Acceptance::Accept).await;
        }
    });
    // stdin on a thread of its own (tokio's needs a feature nothing else
    // here does).
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        if let Some(msg) = line.strip_prefix("pub ") {
            let _ = net.publish(market, msg.as_bytes().to_vec()).await;
        }
    }
    let _ = net.shutdown().await;
}
