//! `peerfx-testbed`: builds a WAN of network namespaces and keeps its delay
//! stage running until told to stop.
//!
//! ```text
//! peerfx-testbed up --name pfx --hosts public,public,home,carrier \
//!     --delay 10ms-40ms --jitter 2ms --loss-permille 10 --ready wan.hosts
//! peerfx-testbed down --name pfx
//! peerfx-testbed measure --delay 25ms --jitter 2ms --count 500
//! ```

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use peerfx_testbed::spec::{parse_duration, wan_addr};
use peerfx_testbed::{probe, wan, HostKind, HostSpec, Wan, WanSpec};

#[derive(Parser)]
#[command(
    about = "A WAN of Linux network namespaces for peerfx (needs root, iproute2, nftables, iptables)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Builds the testbed and runs its delay stage until SIGTERM or SIGINT,
    /// then removes it.
    Up {
        /// Prefix of every namespace made.
        #[arg(long)]
        name: String,
        /// One kind per host, in order: public, home or carrier.
        #[arg(long, value_delimiter = ',', required = true)]
        hosts: Vec<HostKind>,
        /// One-way delay of each access link: "20ms", or a range "10ms-40ms"
        /// spread over the hosts.
        #[arg(long, default_value = "0ms")]
        delay: String,
        /// Per-packet jitter, either way.
        #[arg(long, default_value = "0ms", value_parser = parse_duration)]
        jitter: Duration,
        /// Packets the internet drops, per thousand.
        #[arg(long, default_value_t = 0)]
        loss_permille: u32,
        /// Written once the testbed is up: one line per host,
        /// "INDEX KIND NAMESPACE ADDRESS".
        #[arg(long)]
        ready: Option<std::path::PathBuf>,
    },
    /// Removes every namespace of a testbed (after a crash, say).
    Down {
        #[arg(long)]
        name: String,
    },
    /// Builds two public hosts, measures UDP round trips between them, and
    /// prints what was asked against what was got.
    Measure {
        /// One-way delay of each access link (a path crosses two).
        #[arg(long, default_value = "20ms", value_parser = parse_duration)]
        delay: Duration,
        #[arg(long, default_value = "0ms", value_parser = parse_duration)]
        jitter: Duration,
        #[arg(long, default_value_t = 0)]
        loss_permille: u32,
        /// Probes to send.
        #[arg(long, default_value_t = 200)]
        count: usize,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Up {
            name,
            hosts,
            delay,
            jitter,
            loss_permille,
            ready,
        } => {
            let delays = spread(&delay, hosts.len())?;
            let spec = WanSpec {
                name,
                hosts: hosts
                    .into_iter()
                    .zip(delays)
                    .map(|(kind, delay)| HostSpec { kind, delay })
                    .collect(),
                jitter,
                loss_permille,
            };
            // Blocked before any thread starts, so every thread inherits the
            // mask and the signals wait for `sigwait` below.
            let signals = block_signals();
            let wan = Wan::build(spec)?;
            let mut lines = String::new();
            for (i, h) in wan.spec().hosts.iter().enumerate() {
                let (ns, addr) = wan.host(i);
                lines += &format!("{i} {} {ns} {addr} {}\n", h.kind, h.delay.as_millis());
            }
            match ready {
                Some(path) => {
                    let tmp = path.with_extension("tmp");
                    std::fs::File::create(&tmp)?.write_all(lines.as_bytes())?;
                    std::fs::rename(&tmp, &path)?;
                }
                None => print!("{lines}"),
            }
            let sig = wait_for(&signals);
            let stats = wan.teardown()?;
            eprintln!(
                "testbed down (signal {sig}): {} packets delayed, at most {} held at once, \
                 {} queue overruns",
                stats.packets, stats.max_held, stats.overruns
            );
            Ok(())
        }
        Cmd::Down { name } => {
            let n = wan::remove(&name)?;
            println!("removed {n} namespaces of testbed {name}");
            Ok(())
        }
        Cmd::Measure {
            delay,
            jitter,
            loss_permille,
            count,
        } => measure(delay, jitter, loss_permille, count),
    }
}

/// "20ms" for every host, or "10ms-40ms" spread over them (in a shuffled
/// order, so that delay does not follow host kind).
fn spread(delay: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let (lo, hi) = match delay.split_once('-') {
        Some((lo, hi)) => (parse_duration(lo), parse_duration(hi)),
        None => (parse_duration(delay), parse_duration(delay)),
    };
    let (lo, hi) = (
        lo.map_err(anyhow::Error::msg)?,
        hi.map_err(anyhow::Error::msg)?,
    );
    anyhow::ensure!(lo <= hi, "the delay range {delay:?} runs backwards");
    let span = hi - lo;
    let steps = u32::try_from(n.saturating_sub(1).max(1)).unwrap_or(u32::MAX);
    Ok((0..n)
        .map(|i| {
            let k = u32::try_from((i * 7) % n.max(1)).unwrap_or(0).min(steps);
            lo + span * k / steps
        })
        .collect())
}

fn measure(delay: Duration, jitter: Duration, loss: u32, count: usize) -> anyhow::Result<()> {
    let spec = WanSpec {
        name: format!("pfxm{}", std::process::id()),
        hosts: vec![
            HostSpec {
                kind: HostKind::Public,
                delay,
            };
            2
        ],
        jitter,
        loss_permille: loss,
    };
    let wan = Wan::build(spec)?;
    let (a, _) = wan.host(0);
    let (b, _) = wan.host(1);
    let rtts = probe::udp_rtts(&a, &b, wan_addr(1), count).context("probe")?;
    let stats = wan.teardown()?;
    let ms =
        |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3));
    println!(
        "asked: one-way {} ms per link x 2 links, jitter ±{} ms, loss {loss}‰",
        delay.as_millis(),
        jitter.as_millis()
    );
    println!("expected RTT: {} ms", 4 * delay.as_millis());
    println!(
        "got RTT over {} probes: min {} / p50 {} / p99 {} / max {} ms; lost {} ({} packets delayed)",
        count,
        ms(rtts.percentile(0)),
        ms(rtts.percentile(50)),
        ms(rtts.percentile(99)),
        ms(rtts.percentile(100)),
        rtts.lost,
        stats.packets
    );
    Ok(())
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: waits for one of the signals blocked above.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}
