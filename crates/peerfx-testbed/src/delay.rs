//! The delay stage: the internet namespace's forward hook hands every packet
//! to an NFQUEUE, and this loop gives the verdict ACCEPT once the packet's
//! time has come.
//!
//! Why NFQUEUE: the kernel lacks `sch_netem`, and a userspace forwarder (TUN
//! or raw sockets) must re-inject packets, which fights checksum and
//! segmentation offloads and routing. With NFQUEUE the packet never leaves
//! the kernel: we only read its first 20 bytes (the IPv4 header) and say
//! when it may go on. Out-of-order verdicts are allowed, so packets on
//! different paths do not wait for each other.
//!
//! A packet from link a to link b waits `delay(a) + delay(b) ± jitter`.
//! Packets on one path leave in the order they came (a later packet never
//! overtakes an earlier one): jitter without reordering, as on a real access
//! link, where reordering is rare and TCP would read it as loss.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nfq::{Message, Queue, Verdict};
use rand::Rng;

use crate::spec::link_of;

/// The NFQUEUE number the internet's forward chain uses.
pub const QUEUE: u16 = 0;

/// Packets the kernel holds for us at most; past it, it drops them (as a
/// full router queue would). A 50-node gossip burst at 80 ms is well below.
const QUEUE_MAX_LEN: u32 = 65_536;

/// How long the loop sleeps at most between looks at the queue: the delay
/// stage's resolution.
const TICK: Duration = Duration::from_micros(250);

/// The one-way delay of each access link, and the jitter.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Indexed by link.
    pub link_delay: Vec<Duration>,
    /// Each packet's delay varies uniformly by up to this much either way.
    pub jitter: Duration,
}

impl Plan {
    fn base(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Duration {
        let of = |a| {
            link_of(a)
                .and_then(|i| self.link_delay.get(i).copied())
                .unwrap_or_default()
        };
        of(src) + of(dst)
    }
}

/// What the stage did, for its caller to report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Packets delayed and released.
    pub packets: u64,
    /// Most packets held at once.
    pub max_held: usize,
    /// Times the kernel dropped packets because this loop fell behind
    /// (ENOBUFS on the queue's socket): a router queue overflowing.
    pub overruns: u64,
    /// Verdicts for packets the kernel had dropped meanwhile (a hook was
    /// removed: see `Wan::heal`).
    pub vanished: u64,
}

struct Held {
    at: Instant,
    seq: u64,
    msg: Message,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Runs the stage in the calling thread's namespace until `stop` is set,
/// calling `ready` once the queue is bound (until then the forward chain
/// drops what it would queue). Packets still held at the end are released.
pub fn run(plan: &Plan, stop: &Arc<AtomicBool>, ready: impl FnOnce()) -> anyhow::Result<Stats> {
    let mut queue = Queue::open().context("open an NFQUEUE socket (needs root)")?;
    queue.bind(QUEUE).context("bind NFQUEUE 0")?;
    queue.set_copy_range(QUEUE, 20)?;
    queue.set_queue_max_len(QUEUE, QUEUE_MAX_LEN)?;
    // Segments the sender's offload merged stay one packet: we never touch
    // the payload, and splitting them costs the kernel for nothing.
    queue.set_recv_gso(QUEUE, true)?;
    queue.set_fail_open(QUEUE, false)?;
    queue.set_nonblocking(true);
    ready();

    let mut rng = rand::thread_rng();
    let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let mut last_on_path: HashMap<(Ipv4Addr, Ipv4Addr), Instant> = HashMap::new();
    let mut stats = Stats::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        loop {
            let mut msg = match queue.recv() {
                Ok(msg) => msg,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // The socket's buffer overflowed while we slept: the kernel
                // dropped what did not fit (and those packets are lost, as
                // on a congested router). The queue itself is fine; ending
                // here would stall the whole WAN.
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    stats.overruns += 1;
                    continue;
                }
                // A verdict for a packet the kernel no longer holds: removing
                // a table with a hook in this namespace (`Wan::heal`) drops
                // every queued packet. Those are lost, and the queue goes on.
                Err(e) if e.raw_os_error() == Some(ENOENT) => {
                    stats.vanished += 1;
                    continue;
                }
                Err(e) => return Err(e).context("read from NFQUEUE"),
            };
            msg.set_verdict(Verdict::Accept);
            let now = Instant::now();
            let at = match ipv4_ends(msg.get_payload()) {
                Some((src, dst)) => {
                    let at = now + jittered(plan.base(src, dst), plan.jitter, &mut rng);
                    let slot = last_on_path.entry((src, dst)).or_insert(at);
                    *slot = (*slot).max(at);
                    *slot
                }
                None => now,
            };
            seq += 1;
            held.push(Reverse(Held { at, seq, msg }));
            stats.max_held = stats.max_held.max(held.len());
        }
        let now = Instant::now();
        while held.peek().is_some_and(|Reverse(h)| h.at <= now) {
            if let Some(Reverse(h)) = held.pop() {
                queue.verdict(h.msg).context("give an NFQUEUE verdict")?;
                stats.packets += 1;
            }
        }
        // Paths whose last packet has left need no ordering any more.
        if last_on_path.len() > 4096 {
            last_on_path.retain(|_, at| *at > now);
        }
        let wait = held
            .peek()
            .map_or(TICK, |Reverse(h)| h.at.saturating_duration_since(now))
            .min(TICK);
        std::thread::sleep(wait);
    }
    while let Some(Reverse(h)) = held.pop() {
        let _ = queue.verdict(h.msg);
    }
    let _ = queue.unbind(QUEUE);
    Ok(stats)
}

/// Linux's "no buffer space available".
const ENOBUFS: i32 = 105;
/// Linux's "no such file or directory", here: no such queued packet.
const ENOENT: i32 = 2;

fn jittered(base: Duration, jitter: Duration, rng: &mut impl Rng) -> Duration {
    if jitter.is_zero() {
        return base;
    }
    let j = u64::try_from(jitter.as_micros()).unwrap_or(u64::MAX);
    let offset = rng.gen_range(0..=2 * j);
    (base + Duration::from_micros(offset)).saturating_sub(jitter)
}

/// The source and destination of an IPv4 packet.
fn ipv4_ends(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    let addr =
        |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    Some((addr(12), addr(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_costs_both_access_links() {
        let plan = Plan {
            link_delay: vec![Duration::from_millis(10), Duration::from_millis(30)],
            jitter: Duration::ZERO,
        };
        let (a, b) = (crate::spec::wan_addr(0), crate::spec::wan_addr(1));
        assert_eq!(plan.base(a, b), Duration::from_millis(40));
        // Not on the plan (a LAN address never reaches the internet): no delay.
        assert_eq!(
            plan.base(Ipv4Addr::new(192, 168, 0, 2), Ipv4Addr::new(192, 168, 1, 2)),
            Duration::ZERO
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let mut rng = rand::thread_rng();
        let base = Duration::from_millis(20);
        let j = Duration::from_millis(5);
        for _ in 0..1000 {
            let d = jittered(base, j, &mut rng);
            assert!(d >= base - j && d <= base + j, "{d:?}");
        }
    }

    #[test]
    fn only_ipv4_headers_are_read() {
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[10, 99, 1, 2]);
        p[16..20].copy_from_slice(&[10, 99, 2, 2]);
        assert_eq!(
            ipv4_ends(&p),
            Some((Ipv4Addr::new(10, 99, 1, 2), Ipv4Addr::new(10, 99, 2, 2)))
        );
        p[0] = 0x60;
        assert_eq!(ipv4_ends(&p), None);
        assert_eq!(ipv4_ends(&p[..10]), None);
    }
}
