//! Own offers: list, post, cancel, republish.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use peerfx_core::Hash;
use peerfx_node::PageRequest;
use serde_json::{json, Value};

use super::dto::{OfferJson, PageJson, PageQuery, PostOffer};
use super::error::{parse, ApiError};
use super::Shared;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub async fn list(
    State(s): Shared,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<PageJson<OfferJson>> {
    let Query(q) = q?;
    let page = s.node.own_offers(&PageRequest {
        after: q.after,
        limit: q.limit.unwrap_or(0),
    })?;
    Ok(Json(PageJson::from(&page)))
}

pub async fn post(
    State(s): Shared,
    body: Result<Json<PostOffer>, JsonRejection>,
) -> ApiResult<OfferJson> {
    let Json(p) = body?;
    let offer = s.node.post_offer(p.to_spec()?).await?;
    let view = s
        .node
        .own_offer(&offer.id())?
        .ok_or(peerfx_node::NodeError::UnknownOffer(offer.id()))?;
    Ok(Json(OfferJson::from(&view)))
}

pub async fn cancel(State(s): Shared, Path(id): Path<String>) -> ApiResult<Value> {
    let id: Hash = parse("offer id", &id)?;
    s.node.cancel_offer(id).await?;
    Ok(Json(json!({ "cancelled": id.to_hex() })))
}

pub async fn republish(State(s): Shared, Path(id): Path<String>) -> ApiResult<OfferJson> {
    let id: Hash = parse("offer id", &id)?;
    let offer = s.node.republish(id).await?;
    let view = s
        .node
        .own_offer(&offer.id())?
        .ok_or(peerfx_node::NodeError::UnknownOffer(offer.id()))?;
    Ok(Json(OfferJson::from(&view)))
}
