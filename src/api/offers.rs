//! Own offers: list, post, cancel, republish.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use peerfx_core::{Geohash, Hash, PaymentMethod};
use peerfx_node::{OfferSpec, PageRequest};
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

fn spec_from(p: &PostOffer) -> Result<OfferSpec, ApiError> {
    let mut spec = OfferSpec::parse(&p.give, &p.min, &p.max, &p.want, &p.rate)?;
    spec.payment_methods = p
        .pay
        .iter()
        .map(|m| parse::<PaymentMethod>("payment method", m))
        .collect::<Result<_, _>>()?;
    spec.geohash = p
        .near
        .as_deref()
        .map(|g| parse::<Geohash>("near", g))
        .transpose()?;
    spec.note = p.note.clone();
    if let Some(secs) = p.expires_secs {
        spec.lifetime = Duration::from_secs(secs);
    }
    Ok(spec)
}

pub async fn post(
    State(s): Shared,
    body: Result<Json<PostOffer>, JsonRejection>,
) -> ApiResult<OfferJson> {
    let Json(p) = body?;
    let offer = s.node.post_offer(spec_from(&p)?).await?;
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
