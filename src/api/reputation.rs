//! Ratings and profiles: rate a finished trade, and what this node thinks
//! of a peer.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use peerfx_core::reputation::Profile;
use peerfx_core::{Hash, PublicKey};
use peerfx_net::PeerId;
use peerfx_node::view::RatingView;
use serde::{Deserialize, Serialize};

use super::dto::peer_of;
use super::error::{parse, ApiError};
use super::Shared;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Most ratings `GET /v1/peers/{peer}` lists.
const RATINGS_SHOWN: usize = 50;

/// `POST /v1/trades/{id}/rate`.
#[derive(Deserialize, Debug)]
pub struct RateBody {
    /// 1 to 5.
    pub score: u8,
    #[serde(default)]
    pub comment: String,
}

/// A rating as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RatingJson {
    pub trade_id: String,
    pub rater: String,
    pub rated: String,
    /// How the trade ended, by the rater.
    pub outcome: String,
    pub score: u8,
    pub comment: String,
    /// When the rater signed it (unix seconds).
    pub created_at: u64,
}

/// A peer's profile, from this node's point of view.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ProfileJson {
    pub peer: String,
    /// Completed trades, rated by raters this node trusts.
    pub completed: u32,
    /// Completed trades rated only by raters without history of their own.
    pub completed_unvouched: u32,
    /// Distinct peers that rated it.
    pub counterparties: u32,
    /// Trades that failed through its fault.
    pub failures: u32,
    pub ratings: u32,
    /// Unix seconds, by this node's clock.
    pub first_seen: Option<u64>,
    pub last_seen: Option<u64>,
    /// Weighted score, "1.00" to "5.00"; absent with no ratings.
    pub score: Option<String>,
    /// The ratings, newest signed last (at most 50).
    #[serde(default)]
    pub recent: Vec<RatingJson>,
}

pub use peerfx_core::reputation::score_text;

impl ProfileJson {
    /// The profile of `peer`, without its ratings.
    pub fn new(peer: &PublicKey, p: &Profile) -> ProfileJson {
        ProfileJson {
            peer: peer_of(peer),
            completed: p.completed,
            completed_unvouched: p.completed_unvouched,
            counterparties: p.counterparties,
            failures: p.failures,
            ratings: p.ratings,
            first_seen: p.first_seen.map(|t| t.0),
            last_seen: p.last_seen.map(|t| t.0),
            score: p.score.map(score_text),
            recent: Vec::new(),
        }
    }
}

impl From<&RatingView> for RatingJson {
    fn from(s: &RatingView) -> RatingJson {
        let r = &s.rated_trade.rating.body;
        RatingJson {
            trade_id: r.trade_id.to_hex(),
            rater: peer_of(&r.rater),
            rated: peer_of(&s.rated),
            outcome: r.outcome.to_string(),
            score: r.score,
            comment: r.comment.clone(),
            created_at: r.created_at.0,
        }
    }
}

pub async fn rate(
    State(s): Shared,
    Path(id): Path<String>,
    body: Result<Json<RateBody>, JsonRejection>,
) -> ApiResult<RatingJson> {
    let id: Hash = parse("trade id", &id)?;
    let Json(b) = body?;
    let stored = s.node.rate_trade(id, b.score, b.comment).await?;
    Ok(Json(RatingJson::from(&stored)))
}

pub async fn profile(State(s): Shared, Path(peer): Path<String>) -> ApiResult<ProfileJson> {
    let peer: PeerId = parse("peer id", &peer)?;
    let key = peerfx_node::public_key_of(&peer)
        .ok_or_else(|| ApiError::bad("invalid", "not an ed25519 peer id"))?;
    let profile = s.node.peer_profile(&key)?;
    let mut ratings = s.node.ratings_about(&key, RATINGS_SHOWN)?;
    ratings.sort_by_key(|r| r.rated_trade.rating.body.created_at);
    let mut json = ProfileJson::new(&key, &profile);
    json.recent = ratings.iter().map(RatingJson::from).collect();
    Ok(Json(json))
}
