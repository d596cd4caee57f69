//! A full disk: a write that fails changes nothing, and writes work again
//! once space is freed, without a restart. The data directory is a small
//! tmpfs this test mounts (and unmounts), filled by a file of its own.
//! Mounting needs root (CI runs as root).

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use peerfx::node::{OfferStatus, PageRequest};

/// A tmpfs mounted on a temp dir, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system of `dir` to the last byte with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The last partial chunk, byte by byte.
    while f.write(&[0]).is_ok_and(|n| n == 1) {}
    let _ = f.sync_all();
    path
}

fn open_offers(node: &peerfx::node::Node) -> Vec<peerfx::core::OfferId> {
    node.own_offers(&PageRequest::first(500))
        .unwrap()
        .items
        .iter()
        .filter(|o| o.status == OfferStatus::Open)
        .map(|o| o.id())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_a_post_cleanly_and_posting_works_again_once_space_is_freed() {
    init_logs();
    let fs = Tmpfs::mount("24m");
    let data = fs.path().join("node");
    let mut c = config(&data, vec![]);
    c.limits.max_open_offers_per_maker = 10_000;
    let t = start_with(c, tempfile::tempdir().unwrap()).await;
    let first = t.node.post_offer(spec("1.08")).await.unwrap();

    let filler = fill(fs.path());
    // Posts until the disk refuses one (sled may still have room in pages it
    // already has): every post before that one succeeded for real.
    let mut posted = vec![first.id()];
    let err = loop {
        match t.node.post_offer(spec("1.09")).await {
            Ok(o) => posted.push(o.id()),
            Err(e) => break e,
        }
        assert!(posted.len() < 5_000, "the disk never filled");
    };
    assert!(err.is_disk_full(), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    // Until the database can be reopened, reading it says why it cannot.
    let read = t.node.own_offers(&PageRequest::first(500)).unwrap_err();
    assert!(read.is_disk_full(), "{read}");
    // A republish that cannot be written is refused too.
    let err = t.node.republish(first.id()).await.unwrap_err();
    assert!(err.is_disk_full(), "a republish on a full disk: {err}");
    // The book (in memory) still answers.
    assert!(has_offer(&t.node, &first.id()));

    // Space back: posting works again, without a restart.
    std::fs::remove_file(filler).unwrap();
    let again = wait_for("a post to succeed after space was freed", || async {
        t.node.post_offer(spec("1.10")).await.ok()
    })
    .await;
    // Nothing of the failed post, or of the failed republish, is there;
    // everything acknowledged before is.
    let mut open = open_offers(&t.node);
    open.retain(|id| *id != again.id());
    open.sort();
    posted.sort();
    assert_eq!(open, posted, "the failed writes left something behind");
    assert_eq!(
        t.node.own_offer(&first.id()).unwrap().unwrap().status,
        OfferStatus::Open
    );
    let new = t.node.republish(first.id()).await.unwrap();
    assert_eq!(
        t.node.own_offer(&first.id()).unwrap().unwrap().status,
        OfferStatus::Cancelled
    );
    assert!(open_offers(&t.node).contains(&new.id()));
    t.node.shutdown().await;
}

/// The same through the daemon and the CLI: the error names the full disk
/// (HTTP 507), and the daemon stays up and recovers.
#[test]
fn the_daemon_reports_a_full_disk_and_recovers() {
    const BIN: &str = env!("CARGO_BIN_EXE_peerfx");
    let fs = Tmpfs::mount("24m");
    let data = fs.path().join("node");
    let mut daemon = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "daemon",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--log-level",
            "error",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    let post = || {
        cli(&[
            "offer", "post", "--give", "EUR", "--min", "10", "--max", "20", "--want", "USD",
            "--rate", "1.08",
        ])
    };
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !cli(&["id"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let filler = fill(fs.path());
    let failed = loop {
        let out = post();
        if !out.status.success() {
            break String::from_utf8_lossy(&out.stderr).into_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the disk never filled"
        );
    };
    assert!(
        failed.contains("disk full") && failed.contains("[disk_full]"),
        "{failed}"
    );
    assert!(cli(&["id"]).status.success(), "the daemon died");
    std::fs::remove_file(filler).unwrap();
    while !post().status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "posting did not work again after space was freed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
