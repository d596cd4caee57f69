//! The daemon's control API: JSON over HTTP on loopback, for the CLI and any app.
//!
//! Every request must carry `Authorization: Bearer <token>`, the token the daemon
//! writes to `<data dir>/.cookie` (mode 0600) at start, as bitcoind does: whoever
//! can read the data directory may control the node, nobody else. Errors are JSON
//! `{"error": {"code": "...", "message": "..."}}` with a machine code and a
//! sentence for people ([`error`]); a full disk is 507, a body over
//! [`MAX_BODY_BYTES`] is 413.
//!
//! Handlers only translate: parse the request, call the node, turn its views
//! into [`dto`]s. Every rule of the exchange lives in the node.
//!
//! | method | path | what | module |
//! |---|---|---|---|
//! | GET | /v1/id | PeerId, listen addresses, API address, book size | [`node`] |
//! | GET | /v1/peers | connected peers | [`node`] |
//! | POST, DELETE | /v1/block/{peer} | block, unblock a peer | [`node`] |
//! | GET | /v1/events | server-sent events | [`node`] |
//! | GET | /v1/backup | identity, own offers, trades (binary; contains the secret key) | [`node`] |
//! | GET, POST | /v1/offers | own offers (paged: `after`, `limit`); post one | [`offers`] |
//! | DELETE | /v1/offers/{id} | cancel an own offer | [`offers`] |
//! | POST | /v1/offers/{id}/republish | what remains again, fresh expiry (atomic) | [`offers`] |
//! | GET | /v1/book | the book, with filters | [`book`] |
//! | POST | /v1/take | take an offer | [`book`] |
//! | GET | /v1/trades, /v1/trades/{id} | trades (paged), one trade with its chat | [`trades`] |
//! | GET | /v1/trades/{id}/evidence | the contract signed by both and the signed log (`peerfx verify`) | [`trades`] |
//! | POST | /v1/trades/{id}/{paid,received,cancel,dispute,close,chat} | a trade step | [`trades`] |
//! | POST | /v1/trades/{id}/rate | rate the counterparty of a finished trade (`score`, `comment`) | [`reputation`] |
//! | GET | /v1/peers/{peer} | a peer's profile from this node's point of view, with its ratings | [`reputation`] |

pub mod book;
pub mod dto;
pub mod error;
pub mod node;
pub mod offers;
pub mod reputation;
pub mod trades;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use peerfx_node::Node;

pub use error::ApiError;

/// Largest request body: an offer with every field at its limit is < 2 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared state of the API handlers.
pub struct ApiState {
    /// The node.
    pub node: Node,
    /// The bearer token.
    pub token: String,
    /// The API's own address, for `/v1/id`.
    pub api_addr: String,
}

type Shared = State<Arc<ApiState>>;

/// Builds the router.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/id", get(node::id))
        .route("/v1/peers", get(node::peers))
        .route("/v1/block/{peer}", post(node::block).delete(node::unblock))
        .route("/v1/pause", post(node::pause))
        .route("/v1/resume", post(node::resume))
        .route("/v1/events", get(node::events))
        .route("/v1/backup", get(node::backup))
        .route("/v1/offers", get(offers::list).post(offers::post))
        .route("/v1/offers/{id}", delete(offers::cancel))
        .route("/v1/offers/{id}/republish", post(offers::republish))
        .route("/v1/book", get(book::book))
        .route("/v1/take", post(book::take))
        .route("/v1/trades", get(trades::list))
        .route("/v1/trades/{id}", get(trades::show))
        .route("/v1/trades/{id}/evidence", get(trades::evidence))
        .route("/v1/trades/{id}/rate", post(reputation::rate))
        .route("/v1/peers/{peer}", get(reputation::profile))
        .route("/v1/trades/{id}/{step}", post(trades::step))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

async fn auth(State(state): Shared, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison: the token is a secret.
    let ok = given.is_some_and(|g| {
        g.len() == state.token.len()
            && g.bytes()
                .zip(state.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong token: send 'Authorization: Bearer <contents of DATA_DIR/.cookie>'",
        )
        .into_response();
    }
    next.run(req).await
}
