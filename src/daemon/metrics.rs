//! `--metrics ADDR`: the node's OpenMetrics text at `/metrics`, for
//! Prometheus. The text itself is the node's ([`peerfx_node::Node::metrics_text`]).

use axum::routing::get;
use axum::Router;
use peerfx_node::Node;

/// The `/metrics` router.
pub fn router(node: Node) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let node = node.clone();
            async move { node.metrics_text().await }
        }),
    )
}
