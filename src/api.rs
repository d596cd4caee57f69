//! The daemon's control API: JSON over HTTP on loopback, for the CLI and any app.
//!
//! Every request must carry `Authorization: Bearer <token>`, the token the daemon
//! writes to `<data dir>/.cookie` (mode 0600) at start, as bitcoind does: whoever
//! can read the data directory may control the node, nobody else. Errors are JSON
//! `{"error": {"code": "...", "message": "..."}}` with a machine code and a
//! sentence for people.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | /v1/id | PeerId, listen addresses, API address |
//! | GET | /v1/peers | connected peers |
//! | GET, POST | /v1/offers | own offers; post one |
//! | DELETE | /v1/offers/{id} | cancel an own offer |
//! | POST | /v1/offers/{id}/republish | post the same terms again, fresh expiry |
//! | GET | /v1/book | the book, with filters |
//! | POST | /v1/take | take an offer |
//! | GET | /v1/trades, /v1/trades/{id} | trades |
//! | POST | /v1/trades/{id}/{paid,received,cancel,dispute,chat} | a trade step |
//! | POST, DELETE | /v1/block/{peer} | block, unblock a peer |
//! | GET | /v1/events | server-sent events |
//! | GET | /v1/backup | identity, own offers, trades (binary; contains the secret key) |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use peerfx_core::{
    Amount, Currency, Geohash, Hash, Market, MatchQuery, PaymentMethod, Rate, RejectReason,
    TradeAction,
};
use peerfx_net::PeerId;
use peerfx_node::{Node, NodeError, NodeEvent, OfferSpec, TradeView};
use peerfx_store::own::{OwnOffer, OwnStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Shared state of the API handlers.
pub struct ApiState {
    /// The node.
    pub node: Node,
    /// The bearer token.
    pub token: String,
    /// The API's own address, for `/v1/id`.
    pub api_addr: String,
}

/// An API error: HTTP status, machine code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let msg = e.to_string();
        match &e {
            NodeError::Invalid(_) | NodeError::Money(_) | NodeError::BadInput(_) => {
                ApiError::bad("invalid", msg)
            }
            NodeError::UnknownOffer(_) | NodeError::NotInBook(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_offer", msg)
            }
            NodeError::UnknownTrade(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_trade", msg)
            }
            NodeError::NotOpen(_) => ApiError::new(StatusCode::CONFLICT, "not_open", msg),
            NodeError::TooManyOffers { .. } => {
                ApiError::new(StatusCode::CONFLICT, "too_many_offers", msg)
            }
            NodeError::Step(_) => ApiError::new(StatusCode::CONFLICT, "step_not_allowed", msg),
            NodeError::Take(reason) => {
                let code = match reason {
                    RejectReason::InsufficientRemaining { .. } => "insufficient_remaining",
                    RejectReason::AmountOutOfRange { .. } => "amount_out_of_range",
                    RejectReason::RateRefused { .. } => "rate_refused",
                    RejectReason::SelfTake => "self_take",
                    RejectReason::Blocked => "blocked",
                    RejectReason::Expired => "expired",
                    RejectReason::Closed => "closed",
                    RejectReason::UnknownOffer => "unknown_offer",
                    RejectReason::PaymentMethodNotOffered => "payment_method_not_offered",
                    RejectReason::Invalid(_) => "invalid",
                };
                ApiError::new(StatusCode::CONFLICT, code, msg)
            }
            NodeError::TradeRefused(_) | NodeError::BadAnswer(_) | NodeError::Net(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "peer_unreachable", msg)
            }
            NodeError::Store(_) | NodeError::Identity(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg)
            }
        }
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Unwraps a JSON body, turning axum's rejection into our JSON error.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad("bad_json", e.body_text()))
}

fn parse<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e: T::Err| ApiError::bad("invalid", format!("{what}: {e}")))
}

/// An offer as the API shows it. Amounts are decimal strings in major units.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct OfferJson {
    pub id: String,
    pub maker: String,
    pub give: String,
    pub want: String,
    pub min: String,
    pub max: String,
    pub remaining: String,
    pub rate: String,
    pub payment_methods: Vec<String>,
    pub geohash: Option<String>,
    pub note: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub status: String,
}

fn offer_json(o: &peerfx_core::Offer, id: Hash, remaining: Amount, status: &str) -> OfferJson {
    OfferJson {
        id: id.to_hex(),
        maker: o
            .maker
            .peer_id()
            .map(|p| p.to_string())
            .unwrap_or_else(|_| o.maker.to_hex()),
        give: o.give.to_string(),
        want: o.want.to_string(),
        min: o.min_give.display(o.give),
        max: o.max_give.display(o.give),
        remaining: remaining.display(o.give),
        rate: o.rate.to_string(),
        payment_methods: o.payment_methods.iter().map(|p| p.to_string()).collect(),
        geohash: o.geohash.as_ref().map(|g| g.to_string()),
        note: o.note.clone(),
        created_at: o.created_at.0,
        expires_at: o.expires_at.0,
        status: status.to_string(),
    }
}

fn own_json(own: &OwnOffer) -> OfferJson {
    let v = peerfx_core::Verified::assume_verified(own.offer.clone());
    let expired = own.offer.body.expires_at <= peerfx_node::now();
    let status = match own.status {
        OwnStatus::Open if expired => "expired",
        OwnStatus::Open => "open",
        OwnStatus::Cancelled => "cancelled",
        OwnStatus::Filled => "filled",
    };
    offer_json(&own.offer.body, v.id(), own.remaining, status)
}

/// A trade as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TradeJson {
    pub id: String,
    pub offer_id: String,
    pub role: String,
    pub state: String,
    pub give: String,
    pub want: String,
    pub give_amount: String,
    pub want_amount: String,
    pub rate: String,
    pub payment_method: String,
    pub counterparty: String,
    pub created_at: u64,
    pub deadline: u64,
    pub maker_paid: bool,
    pub maker_received: bool,
    pub taker_paid: bool,
    pub taker_received: bool,
    pub undelivered: usize,
    pub chat: Vec<ChatJson>,
}

/// A chat line.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ChatJson {
    pub from: String,
    pub at: u64,
    pub text: String,
}

fn trade_json(t: &TradeView) -> TradeJson {
    let c = &t.record.contract.contract.body;
    let (role, other) = match t.record.role {
        peerfx_store::trades::Role::Maker => ("maker", c.taker),
        peerfx_store::trades::Role::Taker => ("taker", c.maker),
    };
    let peer = |k: &peerfx_core::PublicKey| {
        k.peer_id()
            .map(|p| p.to_string())
            .unwrap_or_else(|_| k.to_hex())
    };
    TradeJson {
        id: t.id().to_hex(),
        offer_id: c.offer_id.to_hex(),
        role: role.into(),
        state: t.phase.to_string(),
        give: c.give.to_string(),
        want: c.want.to_string(),
        give_amount: c.give_amount.display(c.give),
        want_amount: c.want_amount.display(c.want),
        rate: c.rate.to_string(),
        payment_method: c.payment_method.to_string(),
        counterparty: peer(&other),
        created_at: c.created_at.0,
        deadline: c.deadline.0,
        maker_paid: t.state.maker.paid,
        maker_received: t.state.maker.received,
        taker_paid: t.state.taker.paid,
        taker_received: t.state.taker.received,
        undelivered: t.undelivered,
        chat: t
            .log
            .iter()
            .filter_map(|m| match &m.body.action {
                TradeAction::Chat { text } => Some(ChatJson {
                    from: peer(&m.body.author),
                    at: m.body.created_at.0,
                    text: text.clone(),
                }),
                _ => None,
            })
            .collect(),
    }
}

/// Body of `POST /v1/offers`.
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct PostOffer {
    pub give: String,
    pub want: String,
    pub min: String,
    pub max: String,
    pub rate: String,
    #[serde(default)]
    pub pay: Vec<String>,
    pub near: Option<String>,
    pub expires_secs: Option<u64>,
    #[serde(default)]
    pub note: String,
}

/// Body of `POST /v1/take`.
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct TakeBody {
    pub offer_id: String,
    pub amount: String,
    pub rate: Option<String>,
    pub pay: Option<String>,
}

/// Body of a trade step.
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct StepBody {
    pub reason: Option<String>,
    pub text: Option<String>,
}

/// Query of `GET /v1/book`. `give`/`want` are the offers' currencies (what the
/// maker gives and wants), `amount` is in `give`, `min_rate` is what you insist
/// on receiving: at least that many units of `give` per unit of `want`.
#[derive(Deserialize, Serialize, Debug, Default)]
pub struct BookQuery {
    pub market: Option<String>,
    pub give: Option<String>,
    pub want: Option<String>,
    pub amount: Option<String>,
    pub min_rate: Option<String>,
    pub pay: Option<String>,
    pub near: Option<String>,
    pub radius_km: Option<u32>,
    pub limit: Option<usize>,
}

/// Builds the router.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/id", get(id))
        .route("/v1/peers", get(peers))
        .route("/v1/offers", get(list_offers).post(post_offer))
        .route("/v1/offers/{id}", delete(cancel_offer))
        .route("/v1/offers/{id}/republish", post(republish))
        .route("/v1/book", get(book))
        .route("/v1/take", post(take))
        .route("/v1/trades", get(trades))
        .route("/v1/trades/{id}", get(trade))
        .route("/v1/trades/{id}/{step}", post(step))
        .route("/v1/block/{peer}", post(block).delete(unblock))
        .route("/v1/events", get(events))
        .route("/v1/backup", get(backup))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

async fn auth(State(state): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
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

async fn id(State(s): State<Arc<ApiState>>) -> ApiResult<Value> {
    let info = s.node.net().info().await.map_err(NodeError::from)?;
    let peer = s.node.peer_id();
    Ok(Json(json!({
        "peer_id": peer.to_string(),
        "listen_addrs": info.listen_addrs.iter().map(|a| a.clone().with_p2p(peer).unwrap_or_else(|a| a).to_string()).collect::<Vec<_>>(),
        "api": s.api_addr,
        "data_dir": s.node.data_dir().display().to_string(),
        "markets": s.node.markets().iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "peers": info.connected.len(),
        "book_size": s.node.store().book_len(),
        "syncing": s.node.syncs_in_flight(),
    })))
}

async fn peers(State(s): State<Arc<ApiState>>) -> ApiResult<Value> {
    let peers = s.node.peers().await?;
    Ok(Json(json!(peers
        .iter()
        .map(|p| json!({ "peer_id": p.to_string() }))
        .collect::<Vec<_>>())))
}

async fn list_offers(State(s): State<Arc<ApiState>>) -> ApiResult<Vec<OfferJson>> {
    let mut v: Vec<_> = s.node.own_offers()?.iter().map(own_json).collect();
    v.sort_by_key(|o| std::cmp::Reverse(o.created_at));
    Ok(Json(v))
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

async fn post_offer(
    State(s): State<Arc<ApiState>>,
    b: Result<Json<PostOffer>, JsonRejection>,
) -> ApiResult<OfferJson> {
    let p = body(b)?;
    let offer = s.node.post_offer(spec_from(&p)?).await?;
    Ok(Json(offer_json(
        offer.body(),
        offer.id(),
        offer.max_give,
        "open",
    )))
}

async fn cancel_offer(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> ApiResult<Value> {
    let id: Hash = parse("offer id", &id)?;
    s.node.cancel_offer(id).await?;
    Ok(Json(json!({ "cancelled": id.to_hex() })))
}

async fn republish(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> ApiResult<OfferJson> {
    let id: Hash = parse("offer id", &id)?;
    let own = s
        .node
        .store()
        .own_get(&id)
        .map_err(NodeError::from)?
        .ok_or(NodeError::UnknownOffer(id))?;
    let o = &own.offer.body;
    let lifetime = o.expires_at.since(o.created_at);
    let spec = OfferSpec {
        give: o.give,
        min_give: o.min_give.min(own.remaining),
        max_give: own.remaining,
        want: o.want,
        rate: o.rate,
        payment_methods: o.payment_methods.clone(),
        geohash: o.geohash.clone(),
        note: o.note.clone(),
        lifetime: Duration::from_secs(lifetime),
    };
    if own.remaining == Amount::ZERO {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_open",
            "nothing remains of this offer",
        ));
    }
    // Withdraw the old one first (if still open), so the amount is never offered twice.
    if own.status == OwnStatus::Open {
        s.node.cancel_offer(id).await?;
    } else if own.status != OwnStatus::Cancelled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_open",
            "only open, expired or cancelled offers can be republished",
        ));
    }
    let offer = s.node.post_offer(spec).await?;
    Ok(Json(offer_json(
        offer.body(),
        offer.id(),
        offer.max_give,
        "open",
    )))
}

async fn book(
    State(s): State<Arc<ApiState>>,
    Query(q): Query<BookQuery>,
) -> ApiResult<Vec<OfferJson>> {
    let limit = q.limit.unwrap_or(100).min(1000);
    let (give, want) = match (&q.market, &q.give, &q.want) {
        (_, Some(g), Some(w)) => (parse::<Currency>("give", g)?, parse::<Currency>("want", w)?),
        (Some(m), None, None) => {
            let m: Market = parse("market", m)?;
            s.node.follow_market(m).await?;
            let entries = s.node.book_list(Some(m), limit)?;
            return Ok(Json(
                entries
                    .iter()
                    .map(|e| offer_json(e.offer.body(), e.offer.id(), e.remaining, "open"))
                    .collect(),
            ));
        }
        (None, None, None) => {
            let entries = s.node.book_list(None, limit)?;
            return Ok(Json(
                entries
                    .iter()
                    .map(|e| offer_json(e.offer.body(), e.offer.id(), e.remaining, "open"))
                    .collect(),
            ));
        }
        _ => {
            return Err(ApiError::bad(
                "invalid",
                "use --market A-B, or both --give and --want",
            ))
        }
    };
    let query = MatchQuery {
        pay: want,
        receive: give,
        pay_amount: None,
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
    };
    let amount = q
        .amount
        .as_deref()
        .map(|a| Amount::parse(a, give))
        .transpose()
        .map_err(NodeError::from)?;
    let matches = s.node.book(&query, limit.saturating_mul(4)).await?;
    let out = matches
        .iter()
        .filter(|(e, _)| {
            amount.is_none_or(|a| {
                peerfx_core::fill_range(e.offer.body(), e.remaining)
                    .is_some_and(|(lo, hi)| a >= lo && a <= hi)
            })
        })
        .take(limit)
        .map(|(e, _)| offer_json(e.offer.body(), e.offer.id(), e.remaining, "open"))
        .collect();
    Ok(Json(out))
}

async fn take(
    State(s): State<Arc<ApiState>>,
    b: Result<Json<TakeBody>, JsonRejection>,
) -> ApiResult<TradeJson> {
    let t = body(b)?;
    let id: Hash = parse("offer id", &t.offer_id)?;
    let entry = s.node.book_get(&id)?.ok_or(NodeError::NotInBook(id))?;
    let o = entry.offer.body();
    let amount = Amount::parse(&t.amount, o.give).map_err(NodeError::from)?;
    if let Some((lo, hi)) = peerfx_core::fill_range(o, entry.remaining) {
        if amount < lo || amount > hi {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "amount_out_of_range",
                format!(
                    "amount must be between {} and {} {}",
                    lo.display(o.give),
                    hi.display(o.give),
                    o.give
                ),
            ));
        }
    }
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
    Ok(Json(trade_json(&view)))
}

async fn trades(State(s): State<Arc<ApiState>>) -> ApiResult<Vec<TradeJson>> {
    Ok(Json(s.node.trades()?.iter().map(trade_json).collect()))
}

async fn trade(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> ApiResult<TradeJson> {
    let id: Hash = parse("trade id", &id)?;
    Ok(Json(trade_json(&s.node.trade(&id)?)))
}

async fn step(
    State(s): State<Arc<ApiState>>,
    Path((id, step)): Path<(String, String)>,
    b: Result<Json<StepBody>, JsonRejection>,
) -> ApiResult<TradeJson> {
    let id: Hash = parse("trade id", &id)?;
    let b = body(b)?;
    let action = match step.as_str() {
        "paid" => TradeAction::Paid,
        "received" => TradeAction::Received,
        "cancel" => TradeAction::Cancel,
        "dispute" => TradeAction::Dispute {
            reason: b.reason.unwrap_or_default(),
        },
        "chat" => TradeAction::Chat {
            text: b
                .text
                .ok_or_else(|| ApiError::bad("invalid", "chat needs a text"))?,
        },
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no trade step {other:?}"),
            ))
        }
    };
    Ok(Json(trade_json(&s.node.trade_step(id, action).await?)))
}

async fn block(State(s): State<Arc<ApiState>>, Path(peer): Path<String>) -> ApiResult<Value> {
    let peer: PeerId = parse("peer id", &peer)?;
    s.node.set_blocked(peer, true).await?;
    Ok(Json(json!({ "blocked": peer.to_string() })))
}

async fn unblock(State(s): State<Arc<ApiState>>, Path(peer): Path<String>) -> ApiResult<Value> {
    let peer: PeerId = parse("peer id", &peer)?;
    s.node.set_blocked(peer, false).await?;
    Ok(Json(json!({ "unblocked": peer.to_string() })))
}

async fn backup(State(s): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let bytes = s.node.export_backup()?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

fn event_json(e: &NodeEvent) -> Value {
    match e {
        NodeEvent::OfferAdded { id, market } => {
            json!({"type": "offer_added", "id": id.to_hex(), "market": market.to_string()})
        }
        NodeEvent::OfferUpdated { id, remaining } => {
            json!({"type": "offer_updated", "id": id.to_hex(), "remaining_minor": remaining.0})
        }
        NodeEvent::OfferRemoved { id, reason } => {
            json!({"type": "offer_removed", "id": id.to_hex(), "reason": format!("{reason:?}").to_lowercase()})
        }
        NodeEvent::OfferExpiringSoon { id, expires_at } => {
            json!({"type": "offer_expiring_soon", "id": id.to_hex(), "expires_at": expires_at.0})
        }
        NodeEvent::PeerConnected { peer } => {
            json!({"type": "peer_connected", "peer": peer.to_string()})
        }
        NodeEvent::PeerDisconnected { peer } => {
            json!({"type": "peer_disconnected", "peer": peer.to_string()})
        }
        NodeEvent::TradeUpdated { id, phase } => {
            json!({"type": "trade", "id": id.to_hex(), "state": phase.to_string()})
        }
        NodeEvent::Chat { id, from, text } => {
            json!({"type": "chat", "trade": id.to_hex(), "from": from.peer_id().map(|p| p.to_string()).unwrap_or_default(), "text": text})
        }
    }
}

async fn events(
    State(s): State<Arc<ApiState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream =
        tokio_stream::wrappers::BroadcastStream::new(s.node.events()).filter_map(|e| async move {
            // A lagging client misses events rather than stalling the node.
            e.ok()
                .map(|e| Ok(Event::default().data(event_json(&e).to_string())))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
