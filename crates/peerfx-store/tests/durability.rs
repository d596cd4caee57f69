//! Killing the process at any point loses no acknowledged write.
//!
//! The test re-runs its own binary as a child that writes own offers and
//! reservations as fast as it can, printing `ack <id>` after each write returns
//! (that is, after the store flushed). The parent SIGKILLs it mid-stream, reopens
//! the store and checks that every acknowledged record is there.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peerfx_core::testing::{verified_offer, NOW};
use peerfx_core::*;
use peerfx_store::own::Reservation;
use peerfx_store::{Store, StoreConfig};

const CHILD_ENV: &str = "PEERFX_DURABILITY_CHILD_DIR";

/// The child's side. Does nothing unless started by the parent test below with
/// the data dir in the environment.
#[test]
#[ignore = "helper: run as a child process by killed_writer_loses_no_acknowledged_write"]
fn durability_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(dir, &StoreConfig::default()).unwrap();
    let key = Keypair::generate();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let offer = verified_offer(&key, "EUR", "USD", "1.08", n);
        runtime
            .block_on(store.own_insert(&offer, usize::MAX, NOW))
            .unwrap()
            .unwrap();
        let r = Reservation {
            id: Hash::of(&[&n.to_be_bytes()]),
            offer_id: offer.id(),
            amount: Amount(10_000),
            taker: key.public(),
            expires_at: NOW.plus(3600),
            contract: None,
        };
        runtime.block_on(store.reserve(&r, NOW)).unwrap().unwrap();
        writeln!(out, "ack {} {}", offer.id(), r.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killed_writer_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            let (offer, res) = rest.split_once(' ').unwrap();
            acked.push((offer.parse::<Hash>().unwrap(), res.parse::<Hash>().unwrap()));
        }
        // Kill mid-stream, once enough writes are in flight to make a loss likely.
        if acked.len() >= 150 || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no final flush.
    child.wait().unwrap();
    assert!(
        acked.len() >= 150,
        "child acknowledged only {} writes",
        acked.len()
    );

    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let reservations: Vec<Hash> = store.reservations().unwrap().iter().map(|r| r.id).collect();
    for (offer, res) in &acked {
        let own = store
            .own_get(offer)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged offer {offer} lost"));
        assert!(
            reservations.contains(res),
            "acknowledged reservation {res} lost"
        );
        assert_eq!(own.reserved, Amount(10_000));
    }
}
