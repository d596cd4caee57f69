//! Running code inside a network namespace, and the `ip` and `nft` commands
//! that build one.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// Moves the calling thread into the named namespace (made by `ip netns
/// add`). Only this thread moves: sockets it opens afterwards live there.
pub fn enter(ns: &str) -> anyhow::Result<()> {
    let path = format!("/var/run/netns/{ns}");
    let file = File::open(&path).with_context(|| format!("open {path}"))?;
    // SAFETY: setns on a valid namespace fd changes only this thread's
    // network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("setns into {ns}"));
    }
    Ok(())
}

/// Runs `f` on a new thread inside namespace `ns`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> std::thread::JoinHandle<anyhow::Result<T>> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns)?;
        f()
    })
}

/// `ip ARGS`, failing with what `ip` said.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args, None)
}

/// `ip -n NS ARGS`.
pub fn ip_in(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(&all)
}

/// Loads an nftables ruleset into namespace `ns`.
pub fn nft_in(ns: &str, ruleset: &str) -> anyhow::Result<()> {
    run(
        "ip",
        &["netns", "exec", ns, "nft", "-f", "-"],
        Some(ruleset),
    )
}

/// `iptables ARGS` inside namespace `ns`.
pub fn iptables_in(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["netns", "exec", ns, "iptables"];
    all.extend_from_slice(args);
    run("ip", &all, None)
}

/// Sets a sysctl inside namespace `ns`.
pub fn sysctl_in(ns: &str, key: &str, value: &str) -> anyhow::Result<()> {
    let kv = format!("{key}={value}");
    run(
        "ip",
        &["netns", "exec", ns, "sysctl", "-q", "-w", &kv],
        None,
    )
}

/// Namespaces whose names start with `prefix-`.
pub fn list(prefix: &str) -> anyhow::Result<Vec<String>> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .context("run ip (iproute2)")?;
    let want = format!("{prefix}-");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&want))
        .map(str::to_string)
        .collect())
}

/// Deletes a namespace; its veth ends go with it.
pub fn delete(ns: &str) -> anyhow::Result<()> {
    ip(&["netns", "del", ns])
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<()> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("run {program} (the testbed needs root, iproute2, nftables and iptables)")
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
