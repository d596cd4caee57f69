//! Daemons of the real binary inside Linux network namespaces (made by
//! `peerfx-testbed` or by the test), driven through their CLI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::cli::{self, wait_for};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_peerfx");

/// A daemon inside a namespace, killed on drop. Its data dir belongs to the
/// test, so it can be stopped and started again on the same one.
pub struct NsDaemon {
    pub ns: String,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl NsDaemon {
    /// Starts `peerfx daemon ARGS` in `ns` on `dir` (its API on the
    /// namespace's loopback) and waits for its API.
    pub fn start(ns: &str, dir: &Path, args: &[&str]) -> NsDaemon {
        let mut d = NsDaemon {
            ns: ns.to_string(),
            dir: dir.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        d.restart();
        d
    }

    /// Starts it again after [`NsDaemon::stop`], with the same arguments.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the daemon is running");
        let log = std::fs::File::create(self.dir.join("daemon.log")).unwrap();
        // PEERFX_TEST_LOG=debug (say) when a failure needs more.
        let level = std::env::var("PEERFX_TEST_LOG").unwrap_or_else(|_| "info".into());
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, BIN, "--data-dir"])
            .arg(&self.dir)
            .arg("daemon")
            .args(["--api", "127.0.0.1:0", "--no-mdns", "--log-level", &level])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for("the daemon's API", || self.cli(&["id"]).ok());
    }

    /// Stops it (SIGTERM, as a user's Ctrl-C) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signals our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    /// A CLI command run in the daemon's namespace: Ok(json) or Err(stderr).
    pub fn cli(&self, args: &[&str]) -> Result<Value, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, BIN]);
        cli::json(cmd, &self.dir, args)
    }

    pub fn peer_id(&self) -> String {
        self.cli(&["id"]).unwrap()["peer_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Its first listen address that is not loopback, with `/p2p/`.
    pub fn addr(&self) -> String {
        let id = self.cli(&["id"]).unwrap();
        id["listen_addrs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .find(|a| !a.starts_with("/ip4/127.") && a.contains("/tcp/"))
            .unwrap()
            .to_string()
    }

    /// Whether it is running.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Its resident memory, KiB (`ip netns exec` execs the daemon, so the
    /// child's pid is the daemon's).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let keep = std::env::var("PEERFX_TEST_LOG_LINES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(30);
        lines[lines.len().saturating_sub(keep)..].join("\n")
    }
}

impl Drop for NsDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
