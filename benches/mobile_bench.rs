//! What the mobile profile costs a phone, measured on a real process.
//!
//! Nine default nodes run in this process on 127.0.0.1 and hold a market of
//! [`OFFERS`] offers; a tenth node, `peerfx daemon --profile mobile`, runs as
//! a process of its own, joins them, syncs the book, and then:
//!
//! 1. **idles** for `--idle SECS` (default 600: one re-announcement period
//!    of the other nodes, so their periodic traffic is in the window). The
//!    daemon's resident memory, the context switches of all its threads (each
//!    is the kernel waking one of them: the battery cost of timers, sockets
//!    and housekeeping), its own task wake-ups (`peerfx_task_wakeups_total`)
//!    and libp2p's byte counters are read at both ends of the window;
//!    bytes are scaled to an hour;
//! 2. is **paused** (`peerfx pause`) for `--paused SECS` (default 120) and
//!    measured the same way;
//! 3. is **resumed** `--rounds` times (default 5), after [`POSTED_WHILE_PAUSED`]
//!    new offers were posted while it slept; the time from `peerfx resume`
//!    until its book holds every offer is "resume to synced" (it includes the
//!    CLI's start, a few ms).
//!
//! Run: `cargo bench --bench mobile_bench [-- --idle SECS --paused SECS --rounds N]`.
//! Linux only (it reads /proc). docs/BENCHMARKS.md records runs.

// A benchmark program: a failure is a failed run, with its reason.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use peerfx::core::Market;
use peerfx::net::{Multiaddr, NetConfig};
use peerfx::node::{Node, NodeConfig, OfferSpec};

/// In-process nodes (the phone is the tenth).
const NODES: usize = 9;
/// Offers in the market before the phone joins.
const OFFERS: usize = 200;
/// Offers posted while the phone is paused, each round.
const POSTED_WHILE_PAUSED: usize = 20;
const TIMEOUT: Duration = Duration::from_secs(120);

struct Args {
    idle: u64,
    paused: u64,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        idle: 600,
        paused: 120,
        rounds: 5,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--idle" => a.idle = value().expect("--idle SECS"),
            "--paused" => a.paused = value().expect("--paused SECS"),
            "--rounds" => a.rounds = value().expect("--rounds N") as usize,
            // cargo bench passes --bench.
            _ => {}
        }
    }
    a
}

fn market() -> Market {
    "EUR-USD".parse().unwrap()
}

/// A reading of the phone's process.
#[derive(Clone, Copy, Debug)]
struct Reading {
    at: Instant,
    rss_kib: u64,
    context_switches: u64,
    task_wakeups: u64,
    bytes_in: u64,
    bytes_out: u64,
    book: u64,
}

struct Phone {
    child: Child,
    dir: tempfile::TempDir,
    metrics: String,
    bin: &'static str,
}

impl Phone {
    fn start(bootstrap: &Multiaddr) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        // A free port for the metrics endpoint (the daemon binds it again).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let metrics = format!("127.0.0.1:{port}");
        let bin = env!("CARGO_BIN_EXE_peerfx");
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "daemon",
                "--profile",
                "mobile",
                "--no-mdns",
                "--market",
                "EUR-USD",
            ])
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
            .args(["--bootstrap", &bootstrap.to_string(), "--metrics", &metrics])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Phone {
            child,
            dir,
            metrics,
            bin,
        }
    }

    fn cli(&self, what: &str) {
        let ok = Command::new(self.bin)
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg(what)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "peerfx {what} failed");
    }

    fn metrics_text(&self) -> Option<String> {
        let mut r = ureq::get(format!("http://{}/metrics", self.metrics))
            .call()
            .ok()?;
        r.body_mut().read_to_string().ok()
    }

    fn read(&self) -> Option<Reading> {
        let text = self.metrics_text()?;
        let sum_where = |keep: &dyn Fn(&str) -> bool| -> u64 {
            text.lines()
                .filter(|l| keep(l))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .map(|v| v as u64)
                .sum()
        };
        let sum = |prefix: &str| sum_where(&|l: &str| l.starts_with(prefix));
        // By transport stack ("/ip4/tcp", "/ip4/tcp/p2p"), summed.
        let bytes = |direction: &str| {
            let label = format!("direction=\"{direction}\"");
            sum_where(&|l: &str| {
                l.starts_with("libp2p_bandwidth_bytes_total{") && l.contains(&label)
            })
        };
        let pid = self.child.id();
        Some(Reading {
            at: Instant::now(),
            rss_kib: status_field(&format!("/proc/{pid}/status"), "VmRSS:"),
            context_switches: context_switches(pid),
            task_wakeups: sum("peerfx_task_wakeups_total"),
            bytes_in: bytes("Inbound"),
            bytes_out: bytes("Outbound"),
            book: sum("peerfx_book_offers"),
        })
    }

    fn wait_book(&self, at_least: u64) -> Reading {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(r) = self.read().filter(|r| r.book >= at_least) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "the phone's book did not reach {at_least}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_field(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Context switches of every thread of `pid`, voluntary and not.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .map(|t| {
            let p = t.path().join("status");
            let p = p.to_string_lossy();
            status_field(&p, "voluntary_ctxt_switches:")
                + status_field(&p, "nonvoluntary_ctxt_switches:")
        })
        .sum()
}

fn node_config(dir: &Path, bootstrap: Vec<Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::new(dir);
    c.net = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        mdns: false,
        ..NetConfig::default()
    };
    c.markets = vec![market()];
    c
}

async fn post(nodes: &[Node], n: usize, offset: usize) {
    for i in 0..n {
        let rate = format!("1.{:04}", (offset + i) % 10_000);
        let spec = OfferSpec::parse("EUR", "10", "500", "USD", &rate).unwrap();
        nodes[(offset + i) % nodes.len()]
            .post_offer(spec)
            .await
            .unwrap();
    }
}

fn per_minute(a: &Reading, b: &Reading, v: fn(&Reading) -> u64) -> f64 {
    (v(b) - v(a)) as f64 * 60.0 / b.at.duration_since(a.at).as_secs_f64()
}

fn per_hour_kib(a: &Reading, b: &Reading, v: fn(&Reading) -> u64) -> f64 {
    (v(b) - v(a)) as f64 * 3600.0 / b.at.duration_since(a.at).as_secs_f64() / 1024.0
}

fn row(name: &str, a: &Reading, b: &Reading) {
    println!(
        "| {name} | {:.0} s | {:.1} MiB | {:.1} | {:.1} | {:.0} | {:.0} |",
        b.at.duration_since(a.at).as_secs_f64(),
        b.rss_kib as f64 / 1024.0,
        per_minute(a, b, |r| r.context_switches),
        per_minute(a, b, |r| r.task_wakeups),
        per_hour_kib(a, b, |r| r.bytes_in),
        per_hour_kib(a, b, |r| r.bytes_out),
    );
}

#[tokio::main]
async fn main() {
    let args = args();
    let dirs: Vec<tempfile::TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = Node::start(node_config(dirs[0].path(), vec![]))
        .await
        .unwrap();
    let addr = loop {
        if let Some(a) = first.status().await.unwrap().listen_addrs.first() {
            break a.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut nodes = vec![first];
    for d in &dirs[1..] {
        nodes.push(
            Node::start(node_config(d.path(), vec![addr.clone()]))
                .await
                .unwrap(),
        );
    }
    post(&nodes, OFFERS, 0).await;
    eprintln!("{NODES} nodes up with {OFFERS} offers; starting the phone");

    let phone = tokio::task::block_in_place(|| Phone::start(&addr));
    let started = Instant::now();
    let synced = tokio::task::block_in_place(|| phone.wait_book(OFFERS as u64));
    eprintln!(
        "the phone synced {OFFERS} offers in {} ms; idling {} s",
        synced.at.duration_since(started).as_millis(),
        args.idle
    );

    let idle_start = tokio::task::block_in_place(|| phone.read().unwrap());
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let idle_end = tokio::task::block_in_place(|| phone.read().unwrap());

    tokio::task::block_in_place(|| phone.cli("pause"));
    let paused_start = tokio::task::block_in_place(|| phone.read().unwrap());
    tokio::time::sleep(Duration::from_secs(args.paused)).await;
    let paused_end = tokio::task::block_in_place(|| phone.read().unwrap());

    let mut resumes = Vec::new();
    let mut expected = OFFERS;
    for round in 0..args.rounds {
        if round > 0 {
            tokio::task::block_in_place(|| phone.cli("pause"));
        }
        post(&nodes, POSTED_WHILE_PAUSED, expected).await;
        expected += POSTED_WHILE_PAUSED;
        let t = Instant::now();
        tokio::task::block_in_place(|| phone.cli("resume"));
        tokio::task::block_in_place(|| phone.wait_book(expected as u64));
        resumes.push(t.elapsed());
    }
    resumes.sort();

    println!("\nmobile profile, one `peerfx daemon --profile mobile` among {} nodes, {OFFERS} offers in its book\n", NODES + 1);
    println!("| state | window | RSS | context switches / min | task wake-ups / min | KiB in / hour | KiB out / hour |");
    println!("|---|---|---|---|---|---|---|");
    row("idle", &idle_start, &idle_end);
    row("paused", &paused_start, &paused_end);
    println!(
        "\nresume to synced ({POSTED_WHILE_PAUSED} offers posted while paused), {} rounds: min {} ms, median {} ms, max {} ms",
        resumes.len(),
        resumes.first().map_or(0, |d| d.as_millis()),
        resumes.get(resumes.len() / 2).map_or(0, |d| d.as_millis()),
        resumes.last().map_or(0, |d| d.as_millis()),
    );
    println!(
        "peak RSS {:.1} MiB",
        status_field(&format!("/proc/{}/status", phone.child.id()), "VmHWM:") as f64 / 1024.0
    );
    drop(phone);
    for n in nodes {
        n.shutdown().await;
    }
}
