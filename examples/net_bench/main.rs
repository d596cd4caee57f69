//! Network benchmark: propagation latency of offers through N in-process nodes on
//! loopback, compared with raw gossipsub on the same topology, and the time to
//! sync a 10 000-offer market to a new node.
//!
//! Run: `cargo run --release --example net_bench [-- [--breakdown] N1 N2 ...]`
//! (default 10 25 50). Prints tables; docs/BENCHMARKS.md records runs.
//!
//! # How the two sides are compared
//!
//! Both networks, peerfx's and raw gossipsub's, run at once in this process,
//! and their messages are **interleaved**: offer k goes out on one side, then
//! message k on the other, the order swapping every pair. Each message is sent
//! only once the process is quiet ([`quiet`]), and its CPU cost is what the
//! process used from its send until the process is quiet again. So the two
//! sides meet the same machine within milliseconds of each other.
//!
//! Earlier versions ran one side after the other. Fifty nodes share two
//! cores, and the machine itself drifts: raw gossipsub's own p50 moved by 70 %
//! between runs of one binary, which is as wide as the gap being measured.
//! Interleaving cancels that drift; what is left is the difference between
//! the sides.
//!
//! `--breakdown` adds two more raw sides: one carrying real signed offers,
//! one that also decodes and checks each offer's signature. The overhead
//! then splits into payload, signature check and the rest of peerfx (store,
//! book, events).
//!
//! Starting N nodes is a storm: N·(N-1) connections, each with a Noise
//! handshake, identify, Kademlia and gossipsub set-up, keeps every core busy for
//! seconds at N = 50. The run waits until the process is nearly idle
//! ([`settle`]) before it sends anything, and reports how long that took.
//!
//! Linux only: CPU time is the process's CPU clock.

mod measure;
mod sides;

use std::time::{Duration, Instant};

use peerfx::core::{Keypair, OfferUpdate, Signed};
use peerfx::node::{Node, NodeConfig};
use rand::{Rng, SeedableRng};

use measure::{copies_received, cpu_used, quiet, settle, Meter, NOT_QUIET};
use sides::{market, net_config, node_addr, Payload, PeerfxSide, RawSide, Side};

pub(crate) const OFFERS_PER_RUN: usize = 300;
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// What one side measured.
#[derive(Default)]
struct Run {
    /// Send to last arrival, per message.
    latencies: Vec<Duration>,
    /// How long the send itself took (peerfx: sign, store, flush, publish).
    posts: Vec<Duration>,
    /// From the send's return until the last arrival: the network's part.
    after_post: Vec<Duration>,
    /// CPU time of the whole process, send until quiet again, less the idle
    /// networks' share, per message.
    cpu: Vec<Duration>,
    /// Copies of each message a node received, duplicates included.
    copies_per_node: f64,
    /// Messages that did not reach every node within [`TIMEOUT`].
    lost: usize,
}

fn percentiles(v: &[Duration]) -> [Duration; 4] {
    let mut v = v.to_vec();
    v.sort();
    if v.is_empty() {
        return [Duration::ZERO; 4];
    }
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    [at(0.5), at(0.95), at(0.99), v[v.len() - 1]]
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / v.len().max(1) as u32
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Starts every side for `n` nodes, interleaves their messages, and returns
/// one [`Run`] per side (peerfx first, then raw, then the breakdown sides),
/// how long settling took and the idle share of a core.
async fn propagation(n: usize, breakdown: bool) -> (Vec<(&'static str, Run)>, Duration, f64) {
    let seed = n as u64;
    let mut sides = vec![
        Side::Peerfx(PeerfxSide::start(n, seed).await),
        Side::Raw(RawSide::start(n, seed, Payload::Trivial).await),
    ];
    if breakdown {
        for p in [Payload::Offer, Payload::VerifiedOffer] {
            sides.push(Side::Raw(RawSide::start(n, seed, p).await));
        }
    }
    for side in &sides {
        eprintln!("N={n} {}: warming up", side.label());
        side.warm_up().await;
    }
    eprintln!("N={n}: settling");
    let (settled_in, idle) = settle().await;
    eprintln!(
        "N={n}: idle at {:.1} % of a core; sending {OFFERS_PER_RUN} messages per side, interleaved",
        idle * 100.0
    );
    let nets: Vec<Vec<Meter>> = sides.iter().map(Side::meters).collect();
    let mut copies_before = Vec::new();
    for nets in &nets {
        copies_before.push(copies_received(nets).await);
    }
    let mut runs: Vec<Run> = sides.iter().map(|_| Run::default()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 1);
    for k in 0..OFFERS_PER_RUN {
        // The same sender on every side; who goes first rotates.
        let from = rng.gen_range(0..n);
        for j in 0..sides.len() {
            let i = (j + k) % sides.len();
            quiet(idle).await;
            let cpu0 = cpu_used();
            let (t0, post, arrived) = sides[i].send(k, from).await;
            quiet(idle).await;
            // What the idle networks used meanwhile is nobody's message.
            let background = t0.elapsed().mul_f64(idle);
            let run = &mut runs[i];
            run.cpu
                .push(cpu_used().saturating_sub(cpu0).saturating_sub(background));
            run.posts.push(post);
            match arrived {
                Some(t) => {
                    let latency = t.saturating_duration_since(t0);
                    run.latencies.push(latency);
                    run.after_post.push(latency.saturating_sub(post));
                }
                None => run.lost += 1,
            }
        }
    }
    for ((run, nets), before) in runs.iter_mut().zip(&nets).zip(copies_before) {
        let copies = copies_received(nets).await - before;
        // A sender receives none of its own message.
        run.copies_per_node = copies as f64 / ((n - 1) * OFFERS_PER_RUN) as f64;
    }
    eprintln!("N={n}: stopping");
    for side in &sides {
        side.shutdown().await;
    }
    let not_quiet = NOT_QUIET.swap(0, std::sync::atomic::Ordering::Relaxed);
    if not_quiet > 0 {
        eprintln!("N={n}: {not_quiet} waits for a quiet process gave up after 1 s");
    }
    let labels = sides.iter().map(Side::label);
    (labels.zip(runs).collect(), settled_in, idle)
}

/// Time for a new node to sync a market of `count` offers from one peer. With
/// `updates`, every offer carries its maker's latest update (as after a
/// re-announcement), so each entry costs two signature checks.
async fn run_sync(count: usize, updates: bool) -> Duration {
    let dir_a = tempfile::tempdir().expect("tempdir");
    // Fill a's book on disk, before it starts, with offers from other makers.
    let now = peerfx::node::now();
    let limits = Default::default();
    // Within the open-offer quota per maker, as a real market would be.
    let per_maker = 50;
    let makers: Vec<Keypair> = (0..count.div_ceil(per_maker))
        .map(|_| Keypair::generate())
        .collect();
    let states: Vec<_> = (0..count)
        .map(|i| {
            let k = &makers[i / per_maker];
            let mut o = peerfx::core::testing::offer(k, "EUR", "USD", "1.08", i as u64);
            o.created_at = now;
            o.expires_at = now.plus(3600);
            let max_give = o.max_give;
            let offer = peerfx::core::validate(Signed::sign(o, k), now, &limits).expect("valid");
            let update = updates.then(|| {
                let u = OfferUpdate {
                    offer_id: offer.id(),
                    maker: k.public(),
                    remaining: max_give,
                    seq: 1,
                    created_at: now,
                };
                peerfx::core::validate(Signed::sign(u, k), now, &limits).expect("valid")
            });
            (offer, update)
        })
        .collect();
    {
        let store = peerfx::store::Store::open(
            dir_a.path().join(peerfx::node::DB_DIR),
            &Default::default(),
        )
        .expect("store");
        for chunk in states.chunks(256) {
            store.book_merge_many(chunk, now, &limits).expect("insert");
        }
        store.flush().await.expect("flush");
    }
    let mut c = NodeConfig::new(dir_a.path());
    c.net = net_config(vec![]);
    c.markets = vec![market()];
    let a = Node::start(c).await.expect("node");
    let addr = node_addr(&a).await;
    let dir_b = tempfile::tempdir().expect("tempdir");
    let mut c = NodeConfig::new(dir_b.path());
    c.net = net_config(vec![addr]);
    c.markets = vec![market()];
    let t0 = Instant::now();
    let b = Node::start(c).await.expect("node");
    let deadline = Instant::now() + Duration::from_secs(120);
    let book = || async { b.status().await.expect("status").book_size };
    while book().await < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t0.elapsed();
    let got = book().await;
    assert!(got >= count, "sync incomplete: {got}");
    a.shutdown().await;
    b.shutdown().await;
    took
}

#[tokio::main]
async fn main() {
    // Quiet unless asked: RUST_LOG=peerfx_node=debug shows sync and gossip.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let breakdown = args.iter().any(|a| a == "--breakdown");
    let mut sizes = Vec::new();
    for a in args.iter().filter(|a| *a != "--breakdown") {
        match a.parse::<usize>() {
            Ok(n) if n >= 2 => sizes.push(n),
            _ => {
                eprintln!("usage: net_bench [--breakdown] [N ...]   (each N at least 2)");
                std::process::exit(2);
            }
        }
    }
    if sizes.is_empty() {
        sizes = vec![10, 25, 50];
    }
    println!(
        "propagation: {OFFERS_PER_RUN} offers from random nodes, interleaved with as many \
         raw messages from the same nodes; time from post until in every node's book (ms); \
         msgs: copies of each message a node received, duplicates included; CPU: the whole \
         process's, send until quiet, mean per message, less the idle share (ms); idle: what \
         the idle networks used, share of one core\n"
    );
    println!(
        "| N | p50 | p95 | p99 | max | raw p50 | raw p99 | overhead p50 | overhead p99 | msgs \
         | raw msgs | CPU | raw CPU | overhead CPU | settled in (s) | idle |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut post_rows = Vec::new();
    let mut breakdown_rows = Vec::new();
    for n in sizes {
        let (runs, settled_in, idle) = propagation(n, breakdown).await;
        let (ours, raw) = (&runs[0].1, &runs[1].1);
        for (label, run) in &runs {
            if run.lost > 0 {
                eprintln!(
                    "N={n} {label}: {} messages did not reach every node",
                    run.lost
                );
            }
        }
        let [p50, p95, p99, max] = percentiles(&ours.latencies);
        let [r50, _, r99, _] = percentiles(&raw.latencies);
        let (cpu, raw_cpu) = (mean(&ours.cpu), mean(&raw.cpu));
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {:.2} | {:.2} | {} | {} \
             | {:.2}x | {:.1} | {:.1} % |",
            ms(p50),
            ms(p95),
            ms(p99),
            ms(max),
            ms(r50),
            ms(r99),
            ratio(p50, r50),
            ratio(p99, r99),
            ours.copies_per_node,
            raw.copies_per_node,
            ms(cpu),
            ms(raw_cpu),
            ratio(cpu, raw_cpu),
            settled_in.as_secs_f64(),
            idle * 100.0,
        );
        let [post50, _, post99, post_max] = percentiles(&ours.posts);
        let [rpost50, _, rpost99, rpost_max] = percentiles(&raw.posts);
        let [a50, _, a99, _] = percentiles(&ours.after_post);
        let [ra50, _, ra99, _] = percentiles(&raw.after_post);
        post_rows.push(format!(
            "| {n} | {} / {} / {} | {} / {} / {} | {} / {} | {} / {} | {:.2}x | {:.2}x |",
            ms(post50),
            ms(post99),
            ms(post_max),
            ms(rpost50),
            ms(rpost99),
            ms(rpost_max),
            ms(a50),
            ms(a99),
            ms(ra50),
            ms(ra99),
            ratio(a50, ra50),
            ratio(a99, ra99),
        ));
        if breakdown {
            // raw, raw+offer bytes, raw+offer bytes+verify, peerfx.
            let order = [1, 2, 3, 0];
            let cells: Vec<String> = order
                .iter()
                .map(|&i| {
                    let run = &runs[i].1;
                    let [p50, _, p99, _] = percentiles(&run.latencies);
                    format!("{} / {} / {}", ms(p50), ms(p99), ms(mean(&run.cpu)))
                })
                .collect();
            breakdown_rows.push(format!("| {n} | {} |", cells.join(" | ")));
        }
    }
    println!(
        "\nthe same messages split at the post's return: how long post_offer (raw: publish) \
         took, p50 / p99 / max (peerfx: sign, validate, store and flush to disk, publish), \
         then from its return until in every book, p50 / p99 (ms)\n"
    );
    println!(
        "| N | post | raw publish | after post | raw after publish | overhead after, p50 \
         | overhead after, p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in post_rows {
        println!("{row}");
    }
    if !breakdown_rows.is_empty() {
        println!(
            "\nbreakdown: p50 / p99 / CPU per message (ms) of raw gossipsub, then carrying \
             peerfx's offer bytes, then also checking each offer's signature, then peerfx\n"
        );
        println!("| N | raw | raw+offer bytes | raw+offer bytes+verify | peerfx |");
        println!("|---|---|---|---|---|");
        for row in breakdown_rows {
            println!("{row}");
        }
    }
    for updates in [false, true] {
        let took = run_sync(10_000, updates).await;
        let what = if updates {
            "offers, each with an update,"
        } else {
            "offers"
        };
        println!(
            "\nsync of a market of 10 000 {what} to a new node (start to complete book): {} ms",
            ms(took)
        );
    }
}
