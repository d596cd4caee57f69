//! The real binary's CLI from blocking tests: one command with `--json`, and
//! polling for a condition with a deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TIMEOUT;

/// Runs `cmd` (the binary, or a wrapper such as `ip netns exec NS` and the
/// binary) with `--data-dir DIR --json ARGS`; Ok(json) on success,
/// Err(stderr) on failure.
pub fn json(mut cmd: Command, dir: &Path, args: &[&str]) -> Result<Value, String> {
    let out = cmd
        .arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .args(args)
        .output()
        .expect("run cli");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or fails the test at
/// [`TIMEOUT`].
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
