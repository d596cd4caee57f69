//! Building and removing a testbed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;

use crate::delay::{self, Plan, Stats};
use crate::netns::{self, ip_in, nft_in, sysctl_in};
use crate::spec::{host_addr, inet_addr, lan_addrs, wan_addr, HostKind, WanSpec};

/// A built testbed. Dropping it stops the delay stage and removes every
/// namespace it made (and with them every link and rule).
pub struct Wan {
    spec: WanSpec,
    stop: Arc<AtomicBool>,
    delay: Option<JoinHandle<anyhow::Result<Stats>>>,
}

impl Wan {
    /// Builds the namespaces, links, routes and NAT rules of `spec`, and
    /// starts its delay stage on a thread of this process. Removes what it
    /// made if any step fails.
    pub fn build(spec: WanSpec) -> anyhow::Result<Wan> {
        spec.validate()?;
        let leftovers = netns::list(&spec.name)?;
        anyhow::ensure!(
            leftovers.is_empty(),
            "namespaces of a testbed named {:?} exist already ({}): remove them with \
             `peerfx-testbed down --name {}`",
            spec.name,
            leftovers.join(", "),
            spec.name
        );
        let mut wan = Wan {
            spec,
            stop: Arc::new(AtomicBool::new(false)),
            delay: None,
        };
        // On failure `wan` drops here and removes what was made.
        wan.make_inet()?;
        for i in 0..wan.spec.hosts.len() {
            wan.make_host(i)
                .with_context(|| format!("build host {i}"))?;
        }
        if wan.spec.delays() {
            let plan = Plan {
                link_delay: wan.spec.hosts.iter().map(|h| h.delay).collect(),
                jitter: wan.spec.jitter,
            };
            let stop = wan.stop.clone();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let name = wan.spec.name.clone();
            let handle = netns::spawn_in(&wan.spec.inet_ns(), move || {
                let result = delay::run(&plan, &stop, || {
                    let _ = ready_tx.send(());
                });
                // Said now: every packet through the internet stalls from
                // here on, and a test waiting on the network must say why.
                if let Err(e) = &result {
                    eprintln!("testbed {name}: the delay stage stopped: {e:#}");
                }
                result
            });
            let started = ready_rx.recv().is_ok();
            wan.delay = Some(handle);
            if !started {
                return Err(wan
                    .stop_delay()
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("the delay stage did not start")));
            }
        }
        Ok(wan)
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &WanSpec {
        &self.spec
    }

    /// Host `i`'s namespace and address.
    pub fn host(&self, i: usize) -> (String, std::net::Ipv4Addr) {
        let kind = self.spec.hosts.get(i).map_or(HostKind::Public, |h| h.kind);
        (self.spec.host_ns(i), host_addr(i, kind))
    }

    /// Cuts host `i`'s access link (both directions) until
    /// [`Wan::restore`]: the host is offline.
    pub fn cut(&self, i: usize) -> anyhow::Result<()> {
        ip_in(
            &self.spec.inet_ns(),
            &["link", "set", &format!("x{i}"), "down"],
        )
    }

    /// Restores host `i`'s access link.
    pub fn restore(&self, i: usize) -> anyhow::Result<()> {
        let ns = self.spec.inet_ns();
        ip_in(&ns, &["link", "set", &format!("x{i}"), "up"])?;
        // A link that went down took its connected route with it.
        let net = format!("{}/24", wan_addr(i));
        ip_in(&ns, &["route", "replace", &net, "dev", &format!("x{i}")])
    }

    /// Splits the internet in two: nothing passes between the links in
    /// `a` and those in `b` (both ways) until [`Wan::heal`]. Traffic within
    /// each side flows as before.
    pub fn partition(&self, a: &[usize], b: &[usize]) -> anyhow::Result<()> {
        let set = |links: &[usize]| {
            links
                .iter()
                .map(|&i| wan_addr(i).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (a, b) = (set(a), set(b));
        // Priority -20: before the loss and delay chains.
        nft_in(
            &self.spec.inet_ns(),
            &format!(
                "table ip partition {{
  chain forward {{
    type filter hook forward priority -20; policy accept;
    ip saddr {{ {a} }} ip daddr {{ {b} }} drop
    ip saddr {{ {b} }} ip daddr {{ {a} }} drop
  }}
}}
"
            ),
        )
    }

    /// Ends a [`Wan::partition`]. Removing the table's hook makes the
    /// kernel drop every packet the delay stage holds at that moment (a
    /// burst of loss of up to one delay's worth of traffic).
    pub fn heal(&self) -> anyhow::Result<()> {
        nft_in(&self.spec.inet_ns(), "delete table ip partition\n")
    }

    fn make_inet(&self) -> anyhow::Result<()> {
        let ns = self.spec.inet_ns();
        netns::ip(&["netns", "add", &ns])?;
        ip_in(&ns, &["link", "set", "lo", "up"])?;
        sysctl_in(&ns, "net.ipv4.ip_forward", "1")?;
        // Loss first (priority -10), then the delay stage's queue (iptables'
        // FORWARD at priority 0).
        let mut rules = String::from(
            "table inet wan {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n",
        );
        if self.spec.loss_permille > 0 {
            rules += &format!(
                "    numgen random mod 1000 < {} drop\n",
                self.spec.loss_permille
            );
        }
        rules += "  }\n}\n";
        nft_in(&ns, &rules)?;
        if self.spec.delays() {
            // This kernel has iptables' NFQUEUE target but not nftables'
            // `queue` expression (CONFIG_NFT_QUEUE is off).
            netns::iptables_in(
                &ns,
                &[
                    "-A",
                    "FORWARD",
                    "-j",
                    "NFQUEUE",
                    "--queue-num",
                    &delay::QUEUE.to_string(),
                ],
            )?;
        }
        Ok(())
    }

    fn make_host(&self, i: usize) -> anyhow::Result<()> {
        let spec = &self.spec.hosts[i];
        let inet = self.spec.inet_ns();
        let host = self.spec.host_ns(i);
        netns::ip(&["netns", "add", &host])?;
        ip_in(&host, &["link", "set", "lo", "up"])?;
        // The namespace on the internet's side of link i: the host itself,
        // or its router.
        let edge = if spec.kind.is_natted() {
            let router = self.spec.router_ns(i);
            netns::ip(&["netns", "add", &router])?;
            ip_in(&router, &["link", "set", "lo", "up"])?;
            router
        } else {
            host.clone()
        };
        let x = format!("x{i}");
        netns::ip(&[
            "link", "add", "wan0", "netns", &edge, "type", "veth", "peer", "name", &x, "netns",
            &inet,
        ])?;
        ip_in(
            &inet,
            &["addr", "add", &format!("{}/24", inet_addr(i)), "dev", &x],
        )?;
        ip_in(&inet, &["link", "set", &x, "up"])?;
        ip_in(
            &edge,
            &["addr", "add", &format!("{}/24", wan_addr(i)), "dev", "wan0"],
        )?;
        ip_in(&edge, &["link", "set", "wan0", "up"])?;
        ip_in(
            &edge,
            &["route", "add", "default", "via", &inet_addr(i).to_string()],
        )?;
        if !spec.kind.is_natted() {
            return Ok(());
        }
        let (router_lan, host_lan) = lan_addrs(i, spec.kind);
        netns::ip(&[
            "link", "add", "lan0", "netns", &host, "type", "veth", "peer", "name", "lan0", "netns",
            &edge,
        ])?;
        ip_in(
            &edge,
            &["addr", "add", &format!("{router_lan}/24"), "dev", "lan0"],
        )?;
        ip_in(&edge, &["link", "set", "lan0", "up"])?;
        ip_in(
            &host,
            &["addr", "add", &format!("{host_lan}/24"), "dev", "lan0"],
        )?;
        ip_in(&host, &["link", "set", "lan0", "up"])?;
        ip_in(
            &host,
            &["route", "add", "default", "via", &router_lan.to_string()],
        )?;
        sysctl_in(&edge, "net.ipv4.ip_forward", "1")?;
        nft_in(&edge, &nat_rules(spec.kind))
    }

    fn stop_delay(&mut self) -> anyhow::Result<Stats> {
        self.stop.store(true, Ordering::Relaxed);
        match self.delay.take() {
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow::anyhow!("the delay stage panicked"))?,
            None => Ok(Stats::default()),
        }
    }

    /// Stops the delay stage and removes everything; what the stage did.
    pub fn teardown(mut self) -> anyhow::Result<Stats> {
        let stats = self.stop_delay();
        remove(&self.spec.name)?;
        stats
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        let _ = self.stop_delay();
        if let Err(e) = remove(&self.spec.name) {
            eprintln!("testbed {}: {e:#}", self.spec.name);
        }
    }
}

/// Removes every namespace of the testbed named `name`; how many.
pub fn remove(name: &str) -> anyhow::Result<usize> {
    let all = netns::list(name)?;
    for ns in &all {
        netns::delete(ns)?;
    }
    Ok(all.len())
}

/// A NAT router's rules: masquerade out of the WAN, and only replies in.
fn nat_rules(kind: HostKind) -> String {
    // Linux masquerade keeps a flow's source port unless it clashes:
    // endpoint-independent mapping. `fully-random` picks a fresh port per
    // flow: endpoint-dependent mapping, what carrier NATs do.
    let masquerade = match kind {
        HostKind::Carrier => "masquerade fully-random",
        _ => "masquerade",
    };
    format!(
        "table inet nat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"wan0\" {masquerade}
  }}
  chain forward {{
    type filter hook forward priority 0; policy drop;
    iifname \"lan0\" accept
    ct state established,related accept
  }}
}}
"
    )
}
