//! peerfx on a WAN: daemons of the real binary on hosts of a
//! `peerfx-testbed` (network namespaces, NAT routers, delay and loss). The
//! testbed and everything in it is removed when a test ends. Needs root,
//! iproute2, nftables and iptables (CI installs them).
#![cfg(target_os = "linux")]
// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

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
fn phones_behind_nat_trade_through_a_relay_and_go_direct_where_the_nat_allows() {
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
