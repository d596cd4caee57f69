//! `--metrics ADDR`: the node's counters and libp2p's metrics, in the
//! OpenMetrics text format Prometheus scrapes.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::routing::get;
use axum::Router;
use peerfx_node::Node;

/// The `/metrics` router.
pub fn router(node: Node) -> Router {
    Router::new().route("/metrics", get(move || render(node.clone())))
}

async fn render(node: Node) -> String {
    let m = node.metrics();
    let mut out = String::new();
    let counters = [
        (
            "peerfx_gossip_accepted",
            "Gossip messages accepted.",
            &m.gossip_accepted,
        ),
        (
            "peerfx_gossip_ignored",
            "Gossip messages ignored (stale, duplicate, blocked).",
            &m.gossip_ignored,
        ),
        (
            "peerfx_synced_offers",
            "Offers new or changed through sync.",
            &m.synced_offers,
        ),
        (
            "peerfx_sync_pages_served",
            "Sync pages served.",
            &m.sync_pages_served,
        ),
        (
            "peerfx_sync_refused",
            "Sync requests refused by rate limit.",
            &m.sync_refused,
        ),
        (
            "peerfx_offers_over_quota",
            "Valid offers left out: their maker has the most open offers allowed.",
            &m.offers_over_quota,
        ),
        (
            "peerfx_offers_book_full",
            "Valid offers left out: the book is full.",
            &m.offers_book_full,
        ),
        (
            "peerfx_offers_evicted",
            "Offers dropped from a full book to make room for another market's.",
            &m.offers_evicted,
        ),
    ];
    for (name, help, value) in counters {
        let v = value.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP peerfx_rejected Messages rejected, by reason.\n# TYPE peerfx_rejected counter"
    );
    for (reason, n) in m.rejected_by_reason() {
        let _ = writeln!(out, "peerfx_rejected_total{{reason=\"{reason}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP peerfx_book_offers Offers in the book.\n# TYPE peerfx_book_offers gauge\npeerfx_book_offers {}", node.store().book_len());
    let peers = node.peers().await.map(|p| p.len()).unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP peerfx_peers Connected peers.\n# TYPE peerfx_peers gauge\npeerfx_peers {peers}"
    );
    let _ = writeln!(
        out,
        "# HELP peerfx_trades Trades by state.\n# TYPE peerfx_trades gauge"
    );
    let mut by_state = std::collections::BTreeMap::<String, u64>::new();
    for t in node.trades().unwrap_or_default() {
        *by_state.entry(t.phase.to_string()).or_default() += 1;
    }
    for (state, n) in by_state {
        let _ = writeln!(out, "peerfx_trades{{state=\"{state}\"}} {n}");
    }
    out.push_str(&node.net().metrics_text().await.unwrap_or_default());
    out.push_str("# EOF\n");
    out
}
