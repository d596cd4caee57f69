//! Measuring the testbed: round trips of small UDP datagrams between two
//! hosts, to check that the delay asked for is the delay we get.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::netns;

/// Round-trip times, sorted, and how many probes got no answer.
#[derive(Clone, Debug)]
pub struct Rtts {
    /// The answered probes' round trips, fastest first.
    pub samples: Vec<Duration>,
    /// Probes lost (either way).
    pub lost: usize,
}

impl Rtts {
    /// The `pct`-th percentile (0..=100) of the samples.
    pub fn percentile(&self, pct: usize) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        let at = (self.samples.len() - 1) * pct.min(100) / 100;
        self.samples.get(at).copied()
    }
}

/// Sends `count` probes from the host in namespace `from` to an echo
/// server in namespace `to` listening on `to_addr`, one at a time.
pub fn udp_rtts(from: &str, to: &str, to_addr: Ipv4Addr, count: usize) -> anyhow::Result<Rtts> {
    let server = UdpSocketIn::bind(to, SocketAddr::from((to_addr, 0)))?;
    let target = server.local_addr()?;
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        // The client's last probe times out after a second; so do we.
        let _ = server.set_read_timeout(Some(Duration::from_secs(3)));
        while let Ok((n, peer)) = server.recv_from(&mut buf) {
            if &buf[..n] == b"stop" {
                break;
            }
            let _ = server.send_to(&buf[..n], peer);
        }
    });
    let client = netns::spawn_in(from, move || {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut samples = Vec::with_capacity(count);
        let mut lost = 0;
        let mut buf = [0u8; 64];
        for seq in 0..count as u64 {
            let sent = Instant::now();
            socket.send_to(&seq.to_be_bytes(), target)?;
            loop {
                match socket.recv_from(&mut buf) {
                    Ok((8, _)) if buf[..8] == seq.to_be_bytes() => {
                        samples.push(sent.elapsed());
                        break;
                    }
                    // A late answer to an earlier probe.
                    Ok(_) => continue,
                    Err(_) => {
                        lost += 1;
                        break;
                    }
                }
            }
        }
        let _ = socket.send_to(b"stop", target);
        samples.sort();
        Ok(Rtts { samples, lost })
    });
    let rtts = client
        .join()
        .map_err(|_| anyhow::anyhow!("the probe thread panicked"))??;
    let _ = echo.join();
    Ok(rtts)
}

/// A UDP socket opened inside a namespace (by a short-lived thread there;
/// the socket stays in that namespace).
struct UdpSocketIn;

impl UdpSocketIn {
    fn bind(ns: &str, addr: SocketAddr) -> anyhow::Result<UdpSocket> {
        netns::spawn_in(ns, move || {
            UdpSocket::bind(addr).with_context(|| format!("bind {addr}"))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the bind thread panicked"))?
    }
}
