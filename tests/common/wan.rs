//! A WAN testbed with peerfx daemons on its hosts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use peerfx_testbed::{HostKind, HostSpec, Wan, WanSpec};
use serde_json::Value;

use super::cli::wait_for;
use super::ns::NsDaemon;

/// Testbed tests run one at a time: each runs up to 20 daemons, and the CI
/// machine has two cores.
pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A testbed named uniquely for this process and call.
pub fn build(kinds: &[HostKind], delay: Duration, loss_permille: u32) -> Wan {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "pfxt{}_{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    let spec = WanSpec {
        name,
        hosts: kinds.iter().map(|&kind| HostSpec { kind, delay }).collect(),
        jitter: delay / 10,
        loss_permille,
    };
    Wan::build(spec).expect("build the WAN testbed (needs root, iproute2, nftables, iptables)")
}

/// The daemon flags every testbed node gets: TCP and QUIC on every
/// interface of its namespace, AutoNAT believing the testbed's private
/// addresses, the market, and a book check every 5 s (30 s by default), so
/// that what a partition lost is caught up within the tests' patience.
pub fn daemon_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--listen",
        "/ip4/0.0.0.0/tcp/0",
        "--listen",
        "/ip4/0.0.0.0/udp/0/quic-v1",
        "--autonat-any-ip",
        "--market",
        "EUR-USD",
        "--book-check",
        "5s",
    ];
    args.extend_from_slice(extra);
    args
}

/// `n` data dirs, removed at the end unless PEERFX_TEST_KEEP is set (then
/// their paths are printed, logs and all, for a failure to be read).
pub fn dirs(n: usize) -> Vec<std::path::PathBuf> {
    (0..n)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            if std::env::var_os("PEERFX_TEST_KEEP").is_some() {
                let kept = dir.keep();
                eprintln!("keeping {}", kept.display());
                kept
            } else {
                // Removed when the process ends: the daemons are gone by then.
                let path = dir.path().to_path_buf();
                KEEP_UNTIL_EXIT.lock().unwrap().push(dir);
                path
            }
        })
        .collect()
}

/// Data dirs live until the test process exits.
static KEEP_UNTIL_EXIT: Mutex<Vec<tempfile::TempDir>> = Mutex::new(Vec::new());

/// Starts a daemon on host `i`, its data in `dir`.
pub fn start(wan: &Wan, i: usize, dir: &std::path::Path, extra: &[&str]) -> NsDaemon {
    let (ns, _) = wan.host(i);
    NsDaemon::start(&ns, dir, &daemon_args(extra))
}

/// Starts a daemon on every host: those in `relays` serve as relays, the
/// first of them is everyone's bootstrap. Waits until every daemon has a
/// peer and every NAT'd one a relay reservation.
pub fn start_all(wan: &Wan, dirs: &[std::path::PathBuf], relays: &[usize]) -> Vec<NsDaemon> {
    let first = relays[0];
    let boot_node = start(wan, first, &dirs[first], &["--relay-server"]);
    let boot = boot_node.addr();
    let mut nodes: Vec<Option<NsDaemon>> = (0..dirs.len()).map(|_| None).collect();
    nodes[first] = Some(boot_node);
    for (i, dir) in dirs.iter().enumerate() {
        if i == first {
            continue;
        }
        let mut args = vec!["--bootstrap", boot.as_str()];
        if relays.contains(&i) {
            args.push("--relay-server");
        }
        nodes[i] = Some(start(wan, i, dir, &args));
    }
    let nodes: Vec<NsDaemon> = nodes.into_iter().map(Option::unwrap).collect();
    for (i, d) in nodes.iter().enumerate() {
        wait_for("a peer", || {
            (d.cli(&["id"]).ok()?["peers"].as_u64()? > 0).then_some(())
        });
        if wan.spec().hosts[i].kind.is_natted() {
            wait_relayed(d);
        }
    }
    nodes
}

/// Waits until `d` is private and reachable through a relay.
pub fn wait_relayed(d: &NsDaemon) {
    wait_for("a relay reservation", || {
        let r = d.cli(&["id"]).ok()?["reachability"].clone();
        (r["nat"] == "private" && !r["relays"].as_array()?.is_empty()).then_some(())
    });
}

/// How `d` is connected to `peer` now: "direct", "relay", or None.
pub fn via(d: &NsDaemon, peer: &str) -> Option<String> {
    d.cli(&["peers"])
        .ok()?
        .as_array()?
        .iter()
        .find(|p| p["peer_id"] == peer)
        .and_then(|p| p["via"].as_str().map(String::from))
}

/// Posts a 100–500 EUR offer on `maker`; its id.
pub fn post(maker: &NsDaemon) -> String {
    let offer = maker
        .cli(&[
            "offer", "post", "--give", "EUR", "--min", "100", "--max", "500", "--want", "USD",
            "--rate", "1.08", "--pay", "sepa",
        ])
        .unwrap();
    offer["id"].as_str().unwrap().to_string()
}

/// Whether `d`'s book has offer `id`.
pub fn has_offer(d: &NsDaemon, id: &str) -> bool {
    d.cli(&["book", "--market", "EUR-USD"])
        .ok()
        .and_then(|b| b.as_array().map(|a| a.iter().any(|o| o["id"] == id)))
        .unwrap_or(false)
}

/// A trade's state on `d`.
pub fn trade_state(d: &NsDaemon, id: &str) -> Option<String> {
    d.cli(&["trade", "show", id])
        .ok()
        .and_then(|t: Value| t["state"].as_str().map(String::from))
}

/// `taker` takes 150 of `offer` and both settle it; the trade id once both
/// see it completed.
pub fn trade(maker: &NsDaemon, taker: &NsDaemon, offer: &str) -> String {
    let t = taker
        .cli(&["take", offer, "--amount", "150"])
        .unwrap_or_else(|e| panic!("take: {e}\ntaker log:\n{}", taker.log_tail()));
    let tid = t["id"].as_str().unwrap().to_string();
    taker.cli(&["trade", "paid", &tid]).unwrap();
    maker.cli(&["trade", "received", &tid]).unwrap();
    maker.cli(&["trade", "paid", &tid]).unwrap();
    taker.cli(&["trade", "received", &tid]).unwrap();
    for d in [maker, taker] {
        wait_for("the trade completed on both sides", || {
            (trade_state(d, &tid).as_deref() == Some("completed")).then_some(())
        });
    }
    tid
}
