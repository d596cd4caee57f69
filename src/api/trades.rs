//! Trades: list, show, evidence, and the steps of one.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use peerfx_core::evidence::Evidence;
use peerfx_core::Hash;
use peerfx_node::PageRequest;

use super::dto::{PageJson, PageQuery, StepBody, TradeJson};
use super::error::{parse, ApiError};
use super::Shared;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub async fn list(
    State(s): Shared,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<PageJson<TradeJson>> {
    let Query(q) = q?;
    let page = s.node.trades(&PageRequest {
        after: q.after,
        limit: q.limit.unwrap_or(0),
    })?;
    Ok(Json(PageJson::from(&page)))
}

pub async fn show(State(s): Shared, Path(id): Path<String>) -> ApiResult<TradeJson> {
    let id: Hash = parse("trade id", &id)?;
    Ok(Json(TradeJson::from(&s.node.trade(&id)?)))
}

/// The contract signed by both and the whole signed log, for
/// `peerfx verify` (or anyone with peerfx-core) to check offline.
pub async fn evidence(State(s): Shared, Path(id): Path<String>) -> ApiResult<Evidence> {
    let id: Hash = parse("trade id", &id)?;
    Ok(Json(s.node.trade_evidence(&id)?))
}

pub async fn step(
    State(s): Shared,
    Path((id, step)): Path<(String, String)>,
    body: Result<Json<StepBody>, JsonRejection>,
) -> ApiResult<TradeJson> {
    let id: Hash = parse("trade id", &id)?;
    let Json(b) = body?;
    let action = peerfx_node::input::step_action(&step, b.reason, b.text)?;
    Ok(Json(TradeJson::from(&s.node.trade_step(id, action).await?)))
}
