//! The node itself: status, peers, blocks, events, backup.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use peerfx_net::PeerId;
use serde_json::{json, Value};

use super::dto::{event_json, StatusJson};
use super::error::{parse, ApiError};
use super::Shared;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub async fn id(State(s): Shared) -> ApiResult<StatusJson> {
    let status = s.node.status().await?;
    Ok(Json(StatusJson::new(
        &status,
        &s.api_addr,
        s.node.data_dir(),
    )))
}

pub async fn peers(State(s): Shared) -> ApiResult<Value> {
    let peers = s.node.connections().await?;
    Ok(Json(json!(peers
        .iter()
        .map(|(p, addr)| json!({
            "peer_id": p.to_string(),
            "addr": addr.to_string(),
            "via": if peerfx_net::reach::is_relayed(addr) { "relay" } else { "direct" },
        }))
        .collect::<Vec<_>>())))
}

pub async fn block(State(s): Shared, Path(peer): Path<String>) -> ApiResult<Value> {
    let peer: PeerId = parse("peer id", &peer)?;
    s.node.set_blocked(peer, true).await?;
    Ok(Json(json!({ "blocked": peer.to_string() })))
}

pub async fn unblock(State(s): Shared, Path(peer): Path<String>) -> ApiResult<Value> {
    let peer: PeerId = parse("peer id", &peer)?;
    s.node.set_blocked(peer, false).await?;
    Ok(Json(json!({ "unblocked": peer.to_string() })))
}

pub async fn pause(State(s): Shared) -> ApiResult<Value> {
    s.node.pause().await?;
    Ok(Json(json!({ "paused": true })))
}

pub async fn resume(State(s): Shared) -> ApiResult<Value> {
    s.node.resume().await?;
    Ok(Json(json!({ "paused": false })))
}

pub async fn backup(State(s): Shared) -> Result<Response, ApiError> {
    let bytes = s.node.export_backup()?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

pub async fn events(State(s): Shared) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream =
        tokio_stream::wrappers::BroadcastStream::new(s.node.events()).filter_map(|e| async move {
            // A lagging client misses events rather than stalling the node.
            e.ok()
                .map(|e| Ok(Event::default().data(event_json(&e).to_string())))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
