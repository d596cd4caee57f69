//! What a testbed is made of, and the address plan every part of it shares.
//!
//! ```text
//!   host h0 (public) ── x0 ┐
//!   host h1 (public) ── x1 ┤  the "internet" namespace: routes between
//!   host h2 ─ lan ─ r2 ─ x2 ┤  access links, delays and drops what it
//!   host h3 ─ lan ─ r3 ─ x3 ┘  forwards
//! ```
//!
//! Access link `i` is 10.99.i.0/24: the internet's side is .1, the host's
//! (or its NAT router's) WAN side .2. A home LAN is 192.168.i.0/24 and a
//! carrier's 100.64.i.0/24 (the shared space carriers use), the router at .1
//! and the host at .2. The third octet of a WAN address is its link, which is
//! how the delay stage finds a packet's two access links.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// At most this many hosts: a link is one octet of the address plan.
pub const MAX_HOSTS: usize = 250;

/// How a host reaches the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// Its own public address on the internet.
    Public,
    /// Behind a home router: masquerade keeps the source port where it can
    /// (endpoint-independent mapping), and only replies to what the host
    /// sent get in (address- and port-dependent filtering): a
    /// port-restricted cone, which hole punching gets through.
    Home,
    /// Behind carrier-grade NAT: every new flow gets a random port
    /// (endpoint-dependent mapping, "symmetric"), which hole punching
    /// between two NATs does not get through.
    Carrier,
}

impl HostKind {
    /// Whether a NAT router stands between the host and the internet.
    pub fn is_natted(self) -> bool {
        self != HostKind::Public
    }
}

impl FromStr for HostKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(HostKind::Public),
            "home" => Ok(HostKind::Home),
            "carrier" => Ok(HostKind::Carrier),
            other => Err(format!(
                "unknown host kind {other:?}: expected public, home or carrier"
            )),
        }
    }
}

impl fmt::Display for HostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostKind::Public => "public",
            HostKind::Home => "home",
            HostKind::Carrier => "carrier",
        })
    }
}

/// One host and its access link.
#[derive(Clone, Debug)]
pub struct HostSpec {
    /// Public, or behind which kind of NAT.
    pub kind: HostKind,
    /// One-way delay of the access link. A packet from host a to host b
    /// crosses both access links: `delay(a) + delay(b)` one way.
    pub delay: Duration,
}

/// A whole testbed.
#[derive(Clone, Debug)]
pub struct WanSpec {
    /// Prefix of every namespace the testbed creates (`<name>-inet`,
    /// `<name>-h3`, `<name>-r3`): what `down` removes.
    pub name: String,
    /// The hosts, in link order.
    pub hosts: Vec<HostSpec>,
    /// Each packet's delay varies by up to this much either way. Packets
    /// between two hosts keep their order (see [`crate::delay`]).
    pub jitter: Duration,
    /// Packets the internet drops, per thousand forwarded.
    pub loss_permille: u32,
}

impl WanSpec {
    /// Checks what the kernel would otherwise reject halfway through.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.hosts.is_empty(), "a testbed needs at least one host");
        anyhow::ensure!(
            self.hosts.len() <= MAX_HOSTS,
            "at most {MAX_HOSTS} hosts (one octet of the address plan each)"
        );
        anyhow::ensure!(
            !self.name.is_empty()
                && self.name.len() <= 20
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "the testbed name must be 1-20 letters, digits or '_': {:?}",
            self.name
        );
        anyhow::ensure!(self.loss_permille <= 1000, "loss is at most 1000 per mille");
        Ok(())
    }

    /// The internet's namespace.
    pub fn inet_ns(&self) -> String {
        format!("{}-inet", self.name)
    }

    /// Host `i`'s namespace.
    pub fn host_ns(&self, i: usize) -> String {
        format!("{}-h{i}", self.name)
    }

    /// The namespace of host `i`'s NAT router.
    pub fn router_ns(&self, i: usize) -> String {
        format!("{}-r{i}", self.name)
    }

    /// Whether any packet is delayed (else the delay stage is left out).
    pub fn delays(&self) -> bool {
        !self.jitter.is_zero() || self.hosts.iter().any(|h| !h.delay.is_zero())
    }
}

/// The internet's end of access link `i`.
pub fn inet_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, link_octet(i), 1)
}

/// The WAN address of link `i`: a public host's own address, or its NAT
/// router's (what peers see).
pub fn wan_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, link_octet(i), 2)
}

/// The LAN a NAT'd host sits on: (router, host).
pub fn lan_addrs(i: usize, kind: HostKind) -> (Ipv4Addr, Ipv4Addr) {
    let o = link_octet(i);
    match kind {
        HostKind::Carrier => (Ipv4Addr::new(100, 64, o, 1), Ipv4Addr::new(100, 64, o, 2)),
        _ => (Ipv4Addr::new(192, 168, o, 1), Ipv4Addr::new(192, 168, o, 2)),
    }
}

/// The address host `i` itself has.
pub fn host_addr(i: usize, kind: HostKind) -> Ipv4Addr {
    if kind.is_natted() {
        lan_addrs(i, kind).1
    } else {
        wan_addr(i)
    }
}

/// The link of a WAN address (10.99.i.x), if it is one.
pub fn link_of(addr: Ipv4Addr) -> Option<usize> {
    let [a, b, c, _] = addr.octets();
    (a == 10 && b == 99).then_some(usize::from(c))
}

fn link_octet(i: usize) -> u8 {
    // validate() keeps i below MAX_HOSTS.
    u8::try_from(i).unwrap_or(u8::MAX)
}

/// Parses "20ms", "2s" or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a duration: {s:?} (e.g. 20ms, 1s)");
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else {
        (s, 1)
    };
    let ms: u64 = num.parse().map_err(|_| bad())?;
    Ok(Duration::from_millis(ms * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_link() {
        assert_eq!(link_of(wan_addr(7)), Some(7));
        assert_eq!(link_of(inet_addr(7)), Some(7));
        assert_eq!(link_of(host_addr(7, HostKind::Home)), None);
        assert_eq!(
            host_addr(3, HostKind::Carrier),
            Ipv4Addr::new(100, 64, 3, 2)
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_millis(15)));
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn kinds_parse() {
        assert_eq!("carrier".parse(), Ok(HostKind::Carrier));
        assert!("satellite".parse::<HostKind>().is_err());
    }
}
