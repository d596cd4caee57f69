//! The book, and taking an offer from it.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;
use peerfx_core::{Amount, Currency, Geohash, Hash, Market, PaymentMethod, Rate};
use peerfx_node::NodeError;

use super::dto::{BookQuery, OfferJson, TakeBody, TradeJson};
use super::error::{parse, ApiError};
use super::reputation::score_text;
use super::Shared;
use peerfx_core::reputation::parse_score;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub async fn book(
    State(s): Shared,
    q: Result<Query<BookQuery>, QueryRejection>,
) -> ApiResult<Vec<OfferJson>> {
    let Query(q) = q?;
    let give = q
        .give
        .as_deref()
        .map(|g| parse::<Currency>("give", g))
        .transpose()?;
    let query = peerfx_node::BookQuery {
        market: q
            .market
            .as_deref()
            .map(|m| parse::<Market>("market", m))
            .transpose()?,
        give,
        want: q
            .want
            .as_deref()
            .map(|w| parse::<Currency>("want", w))
            .transpose()?,
        amount: match (&q.amount, give) {
            (Some(a), Some(give)) => Some(Amount::parse(a, give).map_err(NodeError::from)?),
            (Some(_), None) => {
                return Err(ApiError::bad("invalid", "--amount needs --give and --want"))
            }
            (None, _) => None,
        },
        min_rate: q
            .min_rate
            .as_deref()
            .map(|r| parse::<Rate>("min rate", r))
            .transpose()?,
        payment_method: q
            .pay
            .as_deref()
            .map(|p| parse::<PaymentMethod>("payment method", p))
            .transpose()?,
        near: match (&q.near, q.radius_km) {
            (Some(g), r) => Some((parse::<Geohash>("near", g)?, r.unwrap_or(25))),
            (None, Some(_)) => return Err(ApiError::bad("invalid", "--radius-km needs --near")),
            (None, None) => None,
        },
        limit: q.limit.unwrap_or(0),
        min_trades: q.min_trades.unwrap_or(0),
        min_score: q
            .min_score
            .as_deref()
            .map(parse_score)
            .transpose()
            .map_err(|e| ApiError::bad("invalid", e.to_string()))?,
        by_reputation: match q.sort.as_deref() {
            None | Some("rate") => false,
            Some("reputation") => true,
            Some(other) => {
                return Err(ApiError::bad(
                    "invalid",
                    format!("sort {other:?}: use rate or reputation"),
                ))
            }
        },
    };
    let offers = s.node.book(&query).await?;
    let makers: Vec<_> = offers.iter().map(|e| e.offer.maker).collect();
    let profiles = s.node.peer_profiles(&makers)?;
    let rows = offers
        .iter()
        .zip(profiles)
        .map(|(e, p)| OfferJson {
            maker_score: p.score.map(score_text),
            maker_trades: p.completed,
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
    let id: Hash = parse("offer id", &t.offer_id)?;
    let entry = s.node.book_get(&id)?.ok_or(NodeError::NotInBook(id))?;
    let amount = Amount::parse(&t.amount, entry.offer.give).map_err(NodeError::from)?;
    let rate = t
        .rate
        .as_deref()
        .map(|r| parse::<Rate>("rate", r))
        .transpose()?;
    let pay = t
        .pay
        .as_deref()
        .map(|p| parse::<PaymentMethod>("payment method", p))
        .transpose()?;
    let view = s.node.take(id, amount, rate, pay).await?;
    Ok(Json(TradeJson::from(&view)))
}
