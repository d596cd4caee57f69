//! Measuring the process: its CPU clock, waiting until it is quiet, when
//! each message reached each node, and gossipsub's copy counters.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerfx::net::NetHandle;
use peerfx::node::Node;
use tokio::sync::Notify;

/// CPU time this process has used, all threads, from the kernel's
/// nanosecond scheduler clock (`/proc/self/stat` counts only in 10 ms ticks,
/// too coarse for one message).
pub(crate) fn cpu_used() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel since 2.6.12 knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Waits until the start-up storm is over: the process uses less than 5 % of
/// one core over a second (or a minute passes). Returns how long that took
/// and the share of a core the process used in its last second: the idle
/// networks' own upkeep, which [`quiet`] allows for.
pub(crate) async fn settle() -> (Duration, f64) {
    const WINDOW: Duration = Duration::from_secs(1);
    let start = Instant::now();
    loop {
        let before = cpu_used();
        tokio::time::sleep(WINDOW).await;
        let rate = cpu_used().saturating_sub(before).as_secs_f64() / WINDOW.as_secs_f64();
        if rate < 0.05 || start.elapsed() > Duration::from_secs(60) {
            return (start.elapsed(), rate);
        }
    }
}

/// How many [`quiet`] waits gave up.
pub(crate) static NOT_QUIET: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Waits until, over the last 20 ms, the process used no more than its idle
/// share of a core plus 10 % (or a second passes): the previous message's
/// work, forwarded copies and all, is done, and the next one starts from the
/// same state on either side.
pub(crate) async fn quiet(idle: f64) {
    const WINDOW: Duration = Duration::from_millis(20);
    const STEP: Duration = Duration::from_millis(1);
    let allowed = WINDOW.mul_f64(idle + 0.10);
    let start = Instant::now();
    let mut samples = std::collections::VecDeque::from([(start, cpu_used())]);
    while start.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(STEP).await;
        let (t, cpu) = (Instant::now(), cpu_used());
        samples.push_back((t, cpu));
        // Keep the newest sample that is at least a window old in front.
        while samples.len() > 1 && t.duration_since(samples[1].0) >= WINDOW {
            samples.pop_front();
        }
        let (t_old, cpu_old) = samples[0];
        if t.duration_since(t_old) >= WINDOW && cpu.saturating_sub(cpu_old) <= allowed {
            return;
        }
    }
    NOT_QUIET.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// When each message (offer id or payload) arrived at each node, with a
/// wake-up for whoever waits on them.
pub(crate) struct Arrivals<K> {
    times: Mutex<HashMap<K, Vec<Instant>>>,
    changed: Notify,
}

impl<K: Eq + Hash> Arrivals<K> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Arrivals {
            times: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    pub(crate) fn record(&self, key: K) {
        let at = Instant::now();
        self.times
            .lock()
            .expect("lock")
            .entry(key)
            .or_default()
            .push(at);
        self.changed.notify_waiters();
    }

    /// When the last of `count` arrivals of `key` happened, once there are that many.
    pub(crate) fn all(&self, key: &K, count: usize) -> Option<Instant> {
        let times = self.times.lock().expect("lock");
        let v = times.get(key).filter(|v| v.len() >= count)?;
        v.iter().max().copied()
    }

    /// Waits up to `within` for `count` arrivals of `key`.
    pub(crate) async fn wait(&self, key: &K, count: usize, within: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            if let Some(t) = self.all(key, count) {
                return Some(t);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.all(key, count);
            }
        }
    }
}

/// Gossip messages these nodes have received so far, duplicates included:
/// gossipsub's own count, taken before its duplicate check (and after its
/// signature check, which every copy pays).
/// Where a side's gossipsub metrics come from.
#[derive(Clone)]
pub(crate) enum Meter {
    Node(Node),
    Net(NetHandle),
}

impl Meter {
    pub(crate) async fn text(&self) -> String {
        match self {
            Meter::Node(n) => n.metrics_text().await,
            Meter::Net(n) => n.metrics_text().await.unwrap_or_default(),
        }
    }
}

pub(crate) async fn copies_received(meters: &[Meter]) -> u64 {
    let mut total = 0;
    for m in meters {
        let text = m.text().await;
        total += text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("topic_msg_recv_counts_unfiltered"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}
