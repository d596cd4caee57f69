//! peerfx on a WAN, measured: real daemons on a `peerfx-testbed` of network
//! namespaces (public hosts, home and carrier NAT), 10–40 ms per access link
//! (so 20–80 ms one way between two hosts), ±2 ms jitter, and 1 % loss each
//! way.
//!
//! 1. **Reachability**: the time from starting each NAT'd daemon until it
//!    holds a relay reservation (AutoNAT must first find it private).
//! 2. **Propagation**: `--offers` offers posted one at a time from nodes in
//!    turn; every node's `peerfx watch` stream stamps the offer's arrival.
//!    The delay is from just before the poster's CLI starts (so it includes
//!    that process's start, a few ms) to the arrival; p50/p99/max over every
//!    (offer, node) pair. **Against raw gossipsub** in the same run: a raw
//!    peer ([`raw`]: peerfx-net alone, accepting everything) on every host
//!    next to the daemon, publishing from the same host half a second after
//!    each offer (interleaved, so both meet the same machine and links), and
//!    stamped the same way from its stdout.
//! 3. **Takes across NAT**: a home-NAT node takes a home-NAT maker's offer
//!    (its first request to that maker: DHT lookup, relay, then hole
//!    punching) and a carrier-NAT node does the same (stays relayed); the
//!    take's CLI round trip, and for the home pair the time until the
//!    connection is direct.
//! 4. **Mailbox**: the maker goes offline, and the carrier taker pays (the
//!    step waits in the relay's mailbox); then the maker's daemon starts
//!    again. The time from its start until it has the payment, and until
//!    the taker has the maker's receipt.
//!
//! Run (root; Linux): `cargo bench --bench wan_bench [-- --nodes N --offers K]`.
//! docs/BENCHMARKS.md records runs.

// A benchmark program: a failure is a failed run, with its reason.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "wan/raw.rs"]
mod raw;

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cli::wait_for;
use common::ns::{NsDaemon, BIN};
use common::wan::{has_offer, post, start, via};
use peerfx_testbed::{HostKind, HostSpec, Wan, WanSpec};

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

/// Arrivals of each offer: which node, and when.
type ByNode = HashMap<String, Vec<(usize, Instant)>>;

/// A raw peer in a host's namespace: its address, and its input.
struct RawPeer {
    child: std::process::Child,
    addr: String,
}

impl RawPeer {
    fn start(
        ns: &str,
        extra: &[&str],
        arrivals: &Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    ) -> RawPeer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(std::env::current_exe().unwrap())
            .arg(raw::FLAG)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let arrivals = arrivals.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let at = Instant::now();
                if let Some(a) = line.strip_prefix("addr ") {
                    let _ = tx.send(a.to_string());
                } else if let Some(m) = line.strip_prefix("got ") {
                    arrivals
                        .lock()
                        .unwrap()
                        .entry(m.to_string())
                        .or_default()
                        .push(at);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the raw peer's address");
        RawPeer { child, addr }
    }

    fn publish(&mut self, msg: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "pub {msg}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == raw::FLAG) {
        raw::run(&args);
        return;
    }
    let n = arg("--nodes", 20).max(6);
    let offers = arg("--offers", 20);
    let kinds: Vec<HostKind> = (0..n)
        .map(|i| match i % 3 {
            _ if i == 0 => HostKind::Public,
            1 => HostKind::Public,
            2 => HostKind::Home,
            _ => HostKind::Carrier,
        })
        .collect();
    // 10..=40 ms per access link, spread over the hosts in a shuffled order.
    let hosts = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| HostSpec {
            kind,
            delay: Duration::from_millis(10 + (30 * ((i * 7) % n) / (n - 1)) as u64),
        })
        .collect();
    let wan = Wan::build(WanSpec {
        name: format!("pfxb{}", std::process::id() % 100_000),
        hosts,
        jitter: Duration::from_millis(2),
        loss_permille: 10,
    })
    .expect("build the testbed (root, iproute2, nftables, iptables)");
    let dirs = common::wan::dirs(n);

    // 1. Reachability.
    let relay = start(&wan, 0, &dirs[0], &["--relay-server"]);
    let boot = relay.addr();
    let mut nodes = vec![relay];
    let mut started = Vec::new();
    for (i, dir) in dirs.iter().enumerate().skip(1) {
        started.push(Instant::now());
        nodes.push(start(&wan, i, dir, &["--bootstrap", &boot]));
    }
    // The raw baseline: one raw peer per host, the first a relay, the
    // others bootstrapped from it, as the daemons are, and started with
    // them, so that both meshes have had the same time to form.
    let raw_arrivals: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let mut raws = vec![RawPeer::start(
        &nodes[0].ns,
        &["--relay-server"],
        &raw_arrivals,
    )];
    let raw_boot = raws[0].addr.clone();
    for d in &nodes[1..] {
        raws.push(RawPeer::start(&d.ns, &[&raw_boot], &raw_arrivals));
    }
    let mut to_relay = Vec::new();
    for i in 1..n {
        if kinds[i].is_natted() {
            common::wan::wait_relayed(&nodes[i]);
            to_relay.push(started[i - 1].elapsed());
        }
    }
    // (Measured by polling every node in turn: an upper bound.)
    to_relay.sort();

    // Warmed up once a message from one host reaches every other.
    let reached_all = |msg: &str, arrivals: &Arc<Mutex<HashMap<String, Vec<Instant>>>>| {
        arrivals.lock().unwrap().get(msg).map_or(0, Vec::len) >= n - 1
    };
    let warm_since = Instant::now();
    for k in 0.. {
        let msg = format!("warm-{k}");
        raws[1].publish(&msg);
        std::thread::sleep(Duration::from_millis(500));
        if reached_all(&msg, &raw_arrivals) {
            break;
        }
        assert!(
            warm_since.elapsed() < Duration::from_secs(120),
            "the raw peers' mesh did not form in 2 minutes"
        );
    }

    // 2. Propagation, stamped by every node's event stream.
    // By offer: which node, and when.
    let arrivals: Arc<Mutex<ByNode>> = Arc::default();
    let mut watchers = Vec::new();
    for (i, d) in nodes.iter().enumerate() {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &d.ns, BIN, "--data-dir"])
            .arg(&d.dir)
            .arg("watch")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let arrivals = arrivals.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let at = Instant::now();
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if v["type"] == "offer_added" {
                    if let Some(id) = v["id"].as_str() {
                        arrivals
                            .lock()
                            .unwrap()
                            .entry(id.to_string())
                            .or_default()
                            .push((i, at));
                    }
                }
            }
        });
        watchers.push(child);
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut posted = Vec::new();
    let mut published = Vec::new();
    for k in 0..offers {
        let poster = 1 + k % (n - 1);
        let t0 = Instant::now();
        let id = post(&nodes[poster]);
        posted.push((id, poster, t0));
        std::thread::sleep(Duration::from_millis(250));
        let msg = format!("msg-{k}");
        let t0 = Instant::now();
        raws[poster].publish(&msg);
        published.push((msg, t0));
        std::thread::sleep(Duration::from_millis(250));
    }
    for (id, poster, _) in &posted {
        for (i, d) in nodes.iter().enumerate() {
            if i != *poster {
                wait_for("the offer everywhere", || has_offer(d, id).then_some(()));
            }
        }
    }
    for (msg, _) in &published {
        wait_for("the raw message everywhere", || {
            reached_all(msg, &raw_arrivals).then_some(())
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut raw_delays = Vec::new();
    {
        let arrivals = raw_arrivals.lock().unwrap();
        for (msg, t0) in &published {
            let got = arrivals.get(msg).map(Vec::as_slice).unwrap_or(&[]);
            raw_delays.extend(got.iter().map(|at| at.saturating_duration_since(*t0)));
        }
    }
    raw_delays.sort();
    drop(raws);
    let mut delays = Vec::new();
    let mut missing = 0;
    {
        let arrivals = arrivals.lock().unwrap();
        for (id, poster, t0) in &posted {
            // The poster's own book does not count, as a raw publisher
            // does not hear its own message.
            let got: Vec<Instant> = arrivals
                .get(id)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .filter(|(i, _)| i != poster)
                .map(|(_, at)| *at)
                .collect();
            missing += (n - 1).saturating_sub(got.len());
            delays.extend(got.iter().map(|at| at.saturating_duration_since(*t0)));
        }
    }
    delays.sort();
    for mut w in watchers {
        let _ = w.kill();
        let _ = w.wait();
    }

    println!(
        "\nWAN: {n} daemons ({} public, {} home NAT, {} carrier NAT), 10-40 ms per link, ±2 ms, 1 % loss each way\n",
        kinds.iter().filter(|k| **k == HostKind::Public).count(),
        kinds.iter().filter(|k| **k == HostKind::Home).count(),
        kinds.iter().filter(|k| **k == HostKind::Carrier).count(),
    );
    println!("| measure | p50 | p99 | max | samples |");
    println!("|---|---|---|---|---|");
    println!(
        "| NAT'd daemon start → relay reservation (ms) | {} | {} | {} | {} |",
        ms(pct(&to_relay, 50)),
        ms(pct(&to_relay, 99)),
        ms(*to_relay.last().unwrap()),
        to_relay.len()
    );
    println!(
        "| offer propagation to each node (ms) | {} | {} | {} | {} ({missing} arrivals not stamped) |",
        ms(pct(&delays, 50)),
        ms(pct(&delays, 99)),
        ms(*delays.last().unwrap()),
        delays.len()
    );
    println!(
        "| raw gossipsub, same hosts, interleaved (ms) | {} | {} | {} | {} |",
        ms(pct(&raw_delays, 50)),
        ms(pct(&raw_delays, 99)),
        ms(*raw_delays.last().unwrap()),
        raw_delays.len()
    );

    // 3. Takes across NAT. A take that fails is tried again, as a user
    // would, and each failure is reported.
    let home: Vec<usize> = (1..n).filter(|&i| kinds[i] == HostKind::Home).collect();
    let carrier = (1..n).find(|&i| kinds[i] == HostKind::Carrier).unwrap();
    let (maker, home_taker) = (home[0], home[1]);
    let maker_id = nodes[maker].peer_id();
    let take = |taker: &NsDaemon| {
        let offer = post(&nodes[maker]);
        wait_for("the offer", || has_offer(taker, &offer).then_some(()));
        for attempt in 1..=3 {
            let t0 = Instant::now();
            match taker.cli(&["take", &offer, "--amount", "150"]) {
                Ok(trade) => {
                    let id = trade["id"].as_str().unwrap().to_string();
                    return (t0, t0.elapsed(), id, attempt);
                }
                Err(e) => eprintln!("take attempt {attempt} failed: {}", e.trim()),
            }
        }
        panic!("three takes across NAT failed");
    };
    println!("\n| take across NAT | CLI round trip (ms) | then |");
    println!("|---|---|---|");
    let (t0, home_take, _, tries) = take(&nodes[home_taker]);
    wait_for("a direct connection", || {
        (via(&nodes[home_taker], &maker_id).as_deref() == Some("direct")).then_some(())
    });
    println!(
        "| home → home (first request to the maker) | {} (attempt {tries}) | direct after {} ms |",
        ms(home_take),
        ms(t0.elapsed())
    );
    let (_, carrier_take, trade, tries) = take(&nodes[carrier]);
    let carrier_via = via(&nodes[carrier], &maker_id).unwrap_or_default();
    println!(
        "| carrier → home | {} (attempt {tries}) | stays {carrier_via} |",
        ms(carrier_take)
    );

    // 4. Mailbox.
    nodes[maker].stop();
    // Stored, sent, and on failing left in the relay's mailbox before the
    // CLI returns.
    let _ = nodes[carrier].cli(&["trade", "paid", &trade]);
    let shown = |d: &NsDaemon, field: &str| -> Option<serde_json::Value> {
        Some(d.cli(&["trade", "show", &trade]).ok()?[field].clone())
    };
    let t0 = Instant::now();
    nodes[maker].restart();
    wait_for("the payment, from the mailbox", || {
        (shown(&nodes[maker], "taker_paid") == Some(serde_json::Value::Bool(true))).then_some(())
    });
    let mail_in = t0.elapsed();
    wait_for("the maker's receipt, from the mailbox", || {
        (shown(&nodes[carrier], "undelivered") == Some(serde_json::json!(0))).then_some(())
    });
    let receipt_in = t0.elapsed();
    println!("\n| mailbox (the maker offline while the taker pays) | ms after the maker's daemon starts again |");
    println!("|---|---|");
    println!("| the maker has the payment | {} |", ms(mail_in));
    println!("| the taker's step is acknowledged | {} |", ms(receipt_in));
}
