//! mDNS with nothing else: two daemons of the real binary, each in a Linux
//! network namespace of its own, joined by a bridge in a third, with no
//! bootstrap address. They find each other on the "LAN" by mDNS alone, and
//! an offer posted on one reaches the other's book.
//!
//! mDNS multicasts, so it runs only inside namespaces this test creates and
//! removes (never on the machine's own interfaces). Creating them needs root
//! and iproute2's `ip` (CI runs as root).

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod common;

use common::cli::{self, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_peerfx");

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {} (this test needs root and iproute2)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Two hosts on one bridge: namespaces `<p>a` and `<p>b` with 10.77.0.1 and
/// .2, and `<p>br` holding the bridge. Removed on drop, with their links.
struct Lan {
    prefix: String,
}

impl Lan {
    fn new() -> Lan {
        // Unique per test process, and short: interface names have 15 bytes.
        let prefix = format!("pfx{}", std::process::id() % 100_000);
        let lan = Lan { prefix };
        let (a, b, br) = (lan.ns("a"), lan.ns("b"), lan.ns("br"));
        for ns in [&a, &b, &br] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &br, "link", "set", "br0", "up"]);
        for (host, addr) in [(&a, "10.77.0.1/24"), (&b, "10.77.0.2/24")] {
            let end = format!("{}{}", lan.prefix, host.chars().last().unwrap());
            let port = format!("{end}p");
            ip(&["link", "add", &end, "type", "veth", "peer", "name", &port]);
            ip(&["link", "set", &end, "netns", host]);
            ip(&["link", "set", &port, "netns", &br]);
            ip(&["-n", &br, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &br, "link", "set", &port, "up"]);
            ip(&["-n", host, "addr", "add", addr, "dev", &end]);
            ip(&["-n", host, "link", "set", &end, "up"]);
        }
        lan
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for name in ["a", "b", "br"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(name)])
                .status();
        }
    }
}

/// A daemon inside a namespace, killed on drop.
struct Daemon {
    ns: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Daemon {
    fn start(ns: String, addr: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, BIN, "--data-dir"])
            .arg(dir.path())
            .args([
                "daemon",
                "--listen",
                &format!("/ip4/{addr}/tcp/0"),
                "--api",
                "127.0.0.1:0",
                "--market",
                "EUR-USD",
                "--log-level",
                "warn",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon { ns, dir, child };
        wait_for("the daemon's API", || d.cli(&["id"]).ok());
        d
    }

    /// A CLI command run in the daemon's namespace (its API is on the
    /// namespace's loopback); Ok(json) or Err(stderr).
    fn cli(&self, args: &[&str]) -> Result<Value, String> {
        cli_in(&self.ns, self.dir.path(), args)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli_in(ns: &str, dir: &Path, args: &[&str]) -> Result<Value, String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, BIN]);
    cli::json(cmd, dir, args)
}

#[test]
fn two_daemons_on_one_lan_find_each_other_by_mdns_alone() {
    let lan = Lan::new();
    let a = Daemon::start(lan.ns("a"), "10.77.0.1");
    let b = Daemon::start(lan.ns("b"), "10.77.0.2");
    let a_id = a.cli(&["id"]).unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_string();

    let offer = a
        .cli(&[
            "offer", "post", "--give", "EUR", "--min", "100", "--max", "500", "--want", "USD",
            "--rate", "1.08", "--pay", "cash",
        ])
        .unwrap();
    let id = offer["id"].as_str().unwrap().to_string();
    wait_for("the offer in the other host's book", || {
        let book = b.cli(&["book", "--market", "EUR-USD"]).ok()?;
        book.as_array()?
            .iter()
            .any(|o| o["id"] == id.as_str())
            .then_some(())
    });
    // Found on the LAN, not through any address it was given.
    let peers = b.cli(&["peers"]).unwrap();
    assert!(
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().or_else(|| p["peer_id"].as_str()) == Some(a_id.as_str())),
        "{peers}"
    );
    drop((a, b));
}
