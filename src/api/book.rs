//! The book, and taking an offer from it.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;

use super::dto::{BookQuery, OfferJson, TakeBody, TradeJson};
use super::error::ApiError;
use super::reputation::score_text;
use super::Shared;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub async fn book(
    State(s): Shared,
    q: Result<Query<BookQuery>, QueryRejection>,
) -> ApiResult<Vec<OfferJson>> {
    let Query(q) = q?;
    let query = q.to_query()?;
    let offers = s.node.book(&query).await?;
    let makers: Vec<_> = offers.iter().map(|e| e.offer.maker).collect();
    let profiles = s.node.peer_profiles(&makers)?;
    let presence = s.node.presence(&offers).await?;
    let rows = offers
        .iter()
        .zip(profiles)
        .zip(presence)
        .map(|((e, p), seen)| OfferJson {
            maker_score: p.score.map(score_text),
            maker_trades: p.completed,
            maker_presence: Some(seen.to_string()),
            maker_last_seen: Some(e.announced_at.0),
            ..OfferJson::from(e)
        })
        .collect();
    Ok(Json(rows))
}

pub async fn take(
    State(s): Shared,
    body: Result<Json<TakeBody>, JsonRejection>,
) -> ApiResult<TradeJson> {
    let Json(t) = body?;
    let view = s.node.take_text(&t).await?;
    Ok(Json(TradeJson::from(&view)))
}
