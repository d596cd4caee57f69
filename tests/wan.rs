//! peerfx on a WAN: daemons of the real binary on hosts of a
//! `peerfx-testbed` (network namespaces, NAT routers, delay and loss). The
//! testbed and everything in it is removed when a test ends. Needs root,
//! iproute2, nftables and iptables (CI installs them).
#![cfg(target_os = "linux")]
// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use peerfx_testbed::HostKind::{Carrier, Home, Public};

mod common;

use common::cli::wait_for;
use common::wan::{self, has_offer, post, start, via, wait_relayed, ONE_AT_A_TIME};

/// One relay, no bootstrap but it: a maker behind a home NAT trades with a
/// taker behind another home NAT (hole punching gets through: the trade
/// ends on a direct connection) and with one behind carrier NAT (it does
/// not: the trade stays relayed). Each NAT'd node finds itself private and
/// reserves on the relay by itself.
#[test]
fn wan_testbed_phones_behind_nat_trade_through_a_relay_and_go_direct_where_the_nat_allows() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let net = wan::build(&[Public, Home, Home, Carrier], Duration::from_millis(10), 0);
    let dirs = wan::dirs(4);
    let relay = start(&net, 0, &dirs[0], &["--relay-server"]);
    let boot = relay.addr();
    let maker = start(&net, 1, &dirs[1], &["--bootstrap", &boot]);
    let home = start(&net, 2, &dirs[2], &["--bootstrap", &boot]);
    let carrier = start(&net, 3, &dirs[3], &["--bootstrap", &boot]);
    for d in [&maker, &home, &carrier] {
        wait_relayed(d);
    }
    assert_eq!(relay.cli(&["id"]).unwrap()["reachability"]["nat"], "public");

    let maker_id = maker.peer_id();
    for taker in [&home, &carrier] {
        let offer = post(&maker);
        wait_for("the offer in the taker's book", || {
            has_offer(taker, &offer).then_some(())
        });
        wan::trade(&maker, taker, &offer);
    }

    // Home to home: the relayed connection was upgraded.
    wait_for("a direct connection between the two home NATs", || {
        (via(&home, &maker_id).as_deref() == Some("direct")).then_some(())
    });
    // Carrier NAT maps every flow to a new port: no punching through.
    assert_eq!(via(&carrier, &maker_id).as_deref(), Some("relay"));
    let r = &maker.cli(&["id"]).unwrap()["reachability"];
    assert!(r["direct_upgrades"].as_u64().unwrap() >= 1, "{r}");
}

/// Store and forward across NATs: a maker behind a home NAT and a taker
/// behind carrier NAT take turns being online after the take, never
/// together, and complete the trade through the relay's mailbox. Each
/// returns, finds what the other sent while it was away, and answers.
#[test]
fn wan_testbed_traders_never_online_together_complete_a_trade_through_a_mailbox() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let net = wan::build(&[Public, Home, Carrier], Duration::from_millis(10), 0);
    let dirs = wan::dirs(3);
    let relay = start(&net, 0, &dirs[0], &["--relay-server"]);
    let boot = relay.addr();
    let mut maker = start(&net, 1, &dirs[1], &["--bootstrap", &boot]);
    let mut taker = start(&net, 2, &dirs[2], &["--bootstrap", &boot]);
    wait_relayed(&maker);
    let offer = post(&maker);
    wait_for("the offer in the taker's book", || {
        has_offer(&taker, &offer).then_some(())
    });
    // The take needs both: it reserves the maker's amount for seconds.
    let t = taker.cli(&["take", &offer, "--amount", "150"]).unwrap();
    let tid = t["id"].as_str().unwrap().to_string();
    let shown = |d: &common::ns::NsDaemon, field: &str| {
        d.cli(&["trade", "show", &tid])
            .ok()
            .map(|t| t[field].clone())
    };
    let until = |d: &common::ns::NsDaemon, field: &str, value: serde_json::Value| {
        wait_for(field, || {
            (shown(d, field) == Some(value.clone())).then_some(())
        });
    };

    maker.stop();
    // Stored, unreachable, left in the relay's mailbox before it returns.
    let _ = taker.cli(&["trade", "paid", &tid]);
    taker.stop();

    maker.restart();
    until(&maker, "taker_paid", true.into());
    for step in ["received", "paid"] {
        let _ = maker.cli(&["trade", step, &tid]);
    }
    // Its receipt for the payment and its two steps wait at the relay (the
    // payment, handled, is gone) before it goes.
    wait_for("the maker's receipt and steps at the relay", || {
        (relay.cli(&["id"]).ok()?["mailbox_envelopes"] == 3).then_some(())
    });
    maker.stop();

    taker.restart();
    until(&taker, "maker_paid", true.into());
    until(&taker, "undelivered", 0.into());
    let _ = taker.cli(&["trade", "received", &tid]);
    assert_eq!(wan::trade_state(&taker, &tid).as_deref(), Some("completed"));
    // Its receipt for the maker's steps and its confirmation wait at the
    // relay; what it fetched is gone.
    wait_for("the taker's receipt and confirmation at the relay", || {
        (relay.cli(&["id"]).ok()?["mailbox_envelopes"] == 2).then_some(())
    });
    taker.stop();

    maker.restart();
    wait_for("the trade completed on the maker", || {
        (wan::trade_state(&maker, &tid).as_deref() == Some("completed")).then_some(())
    });
    until(&maker, "undelivered", 0.into());
}

/// Twelve hosts, a relay in each half. A trade across the halves is agreed,
/// then the internet splits in two for 30 s: each half goes on trading
/// within itself, and the taker's "paid" is stored undelivered. After the
/// heal, every book has every offer and the maker hears the payment: no
/// trade step lost.
#[test]
fn wan_testbed_a_partition_heals_books_converge_and_no_trade_step_is_lost() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let half = [Public, Public, Home, Public, Carrier, Public];
    let kinds: Vec<_> = half.iter().chain(half.iter()).copied().collect();
    let net = wan::build(&kinds, Duration::from_millis(10), 0);
    let dirs = wan::dirs(kinds.len());
    let nodes = wan::start_all(&net, &dirs, &[0, 6]);
    let (side_a, side_b): (Vec<usize>, Vec<usize>) = ((0..6).collect(), (6..12).collect());
    let (maker, taker) = (&nodes[1], &nodes[7]);

    let offer = post(maker);
    wait_for("the offer across the WAN", || {
        has_offer(taker, &offer).then_some(())
    });
    let t = taker.cli(&["take", &offer, "--amount", "150"]).unwrap();
    let tid = t["id"].as_str().unwrap().to_string();

    net.partition(&side_a, &side_b).unwrap();
    let cut_at = Instant::now();
    let in_a = post(&nodes[3]);
    let in_b = post(&nodes[9]);
    // Stored and marked undelivered when the maker cannot be reached.
    let _ = taker.cli(&["trade", "paid", &tid]);
    for (side, offer) in [(&side_a, &in_a), (&side_b, &in_b)] {
        for &i in side.iter() {
            wait_for("an offer within its half", || {
                has_offer(&nodes[i], offer).then_some(())
            });
        }
    }
    // Held for 30 s, checking that nothing leaks across.
    while cut_at.elapsed() < Duration::from_secs(30) {
        assert!(!side_b.iter().any(|&i| has_offer(&nodes[i], &in_a)));
        assert!(!side_a.iter().any(|&i| has_offer(&nodes[i], &in_b)));
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(
        maker.cli(&["trade", "show", &tid]).unwrap()["taker_paid"],
        false
    );

    net.heal().unwrap();
    let healed = Instant::now();
    let converged = || {
        nodes
            .iter()
            .all(|d| has_offer(d, &in_a) && has_offer(d, &in_b))
    };
    while !converged() {
        if healed.elapsed() > Duration::from_secs(90) {
            let lacking: Vec<String> = nodes
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let peers = d
                        .cli(&["id"])
                        .map(|v| v["peers"].clone())
                        .unwrap_or_default();
                    format!(
                        "node {i}: a {} b {} peers {peers}",
                        has_offer(d, &in_a),
                        has_offer(d, &in_b)
                    )
                })
                .collect();
            panic!(
                "books did not converge 90 s after the heal:\n{}\nnode 0's log:\n{}",
                lacking.join("\n"),
                nodes[0].log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "partition: books converged {:?} after the heal",
        healed.elapsed()
    );
    wait_for("the payment made during the partition", || {
        (maker.cli(&["trade", "show", &tid]).ok()?["taker_paid"] == true).then_some(())
    });
    maker.cli(&["trade", "received", &tid]).unwrap();
    maker.cli(&["trade", "paid", &tid]).unwrap();
    taker.cli(&["trade", "received", &tid]).unwrap();
    for d in [maker, taker] {
        wait_for("the trade completed", || {
            (wan::trade_state(d, &tid).as_deref() == Some("completed")).then_some(())
        });
    }
}

/// Twenty hosts; six of them (public, home and carrier alike) leave and
/// come back every few seconds for a minute while everyone posts. Every
/// offer posted by a node online at the time reaches every node, and the
/// daemons that stayed up do not grow with the churn.
#[test]
fn wan_testbed_under_churn_every_offer_reaches_every_node_and_no_daemon_grows() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let kinds: Vec<_> = (0..20)
        .map(|i| match i % 4 {
            1 => Home,
            3 if i > 3 => Carrier,
            _ => Public,
        })
        .collect();
    let net = wan::build(&kinds, Duration::from_millis(10), 0);
    let dirs = wan::dirs(kinds.len());
    let mut nodes = wan::start_all(&net, &dirs, &[0]);
    let churners: Vec<usize> = (1..20).filter(|i| i % 3 == 0).collect();
    let stayers: Vec<usize> = (0..20).filter(|i| !churners.contains(i)).collect();
    let rss_before: Vec<u64> = stayers.iter().map(|&i| nodes[i].rss_kib()).collect();

    let mut offers = Vec::new();
    let started = Instant::now();
    let mut round = 0usize;
    while started.elapsed() < Duration::from_secs(60) {
        for (k, &i) in churners.iter().enumerate() {
            // Half of them go, the other half come back, every round.
            if (k + round).is_multiple_of(2) {
                nodes[i].stop();
            } else if !nodes[i].running() {
                nodes[i].restart();
            }
        }
        let poster = stayers[round % stayers.len()];
        offers.push(post(&nodes[poster]));
        if let Some(&back) = churners.iter().find(|&&i| nodes[i].running()) {
            offers.push(post(&nodes[back]));
        }
        round += 1;
        std::thread::sleep(Duration::from_secs(4));
    }
    for &i in &churners {
        if !nodes[i].running() {
            nodes[i].restart();
        }
    }
    for (i, d) in nodes.iter().enumerate() {
        for offer in &offers {
            wait_for(&format!("node {i} to have every offer"), || {
                has_offer(d, offer).then_some(())
            });
        }
    }
    for (k, &i) in stayers.iter().enumerate() {
        let after = nodes[i].rss_kib();
        // Debug builds; the book holds ~30 offers. Growing with the churn
        // would show as tens of MiB.
        assert!(
            after < rss_before[k] + 32 * 1024,
            "node {i} grew from {} to {after} KiB",
            rss_before[k]
        );
    }
    eprintln!(
        "churn: {round} rounds, {} offers, RSS of the nodes that stayed: {:?} -> {:?} KiB",
        offers.len(),
        rss_before,
        stayers
            .iter()
            .map(|&i| nodes[i].rss_kib())
            .collect::<Vec<_>>()
    );
}
