//! API errors: an HTTP status, a machine code and a sentence for people, as
//! `{"error": {"code": "...", "message": "..."}}`. The message is the whole
//! cause chain ("disk full while writing to ...: No space left on device").

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use peerfx_core::RejectReason;
use peerfx_node::NodeError;
use serde_json::json;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

pub use peerfx_node::error::chain;

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        use StatusCode as S;
        let msg = chain(&e);
        let (status, code) = match &e {
            _ if e.is_disk_full() => (S::INSUFFICIENT_STORAGE, "disk_full"),
            NodeError::Invalid(_)
            | NodeError::Input { .. }
            | NodeError::Money(_)
            | NodeError::Query(_)
            | NodeError::NotAPeer(_) => (S::BAD_REQUEST, "invalid"),
            NodeError::BadCursor => (S::BAD_REQUEST, "bad_cursor"),
            NodeError::UnknownOffer(_) | NodeError::NotInBook(_) => (S::NOT_FOUND, "unknown_offer"),
            NodeError::UnknownTrade(_) => (S::NOT_FOUND, "unknown_trade"),
            NodeError::NotOpen(_) => (S::CONFLICT, "not_open"),
            NodeError::NothingRemains(_) => (S::CONFLICT, "nothing_remains"),
            NodeError::TakeInProgress(_) => (S::CONFLICT, "take_in_progress"),
            NodeError::TooManyOffers { .. } => (S::CONFLICT, "too_many_offers"),
            NodeError::AmountOutOfRange { .. } => (S::CONFLICT, "amount_out_of_range"),
            NodeError::Step(_) => (S::CONFLICT, "step_not_allowed"),
            NodeError::CancelPending(_) => (S::CONFLICT, "cancel_pending"),
            NodeError::NotFinished(_) => (S::CONFLICT, "not_finished"),
            NodeError::AlreadyRated(_) => (S::CONFLICT, "already_rated"),
            NodeError::RatingsFull(_) => (S::INSUFFICIENT_STORAGE, "ratings_full"),
            NodeError::Rating(_) => (S::BAD_REQUEST, "invalid"),
            NodeError::Take(reason) => (
                S::CONFLICT,
                match reason {
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
                    RejectReason::Reserved { .. } => "reserved",
                    RejectReason::Throttled { .. } => "throttled",
                    RejectReason::Reputation { .. } => "reputation",
                },
            ),
            NodeError::TradeRefused(_) => (S::BAD_GATEWAY, "refused_by_peer"),
            NodeError::BadAnswer(_) | NodeError::BadContract(_) => (S::BAD_GATEWAY, "bad_answer"),
            NodeError::Net(peerfx_net::NetError::Paused) => (S::CONFLICT, "paused"),
            NodeError::Net(_) => (S::BAD_GATEWAY, "peer_unreachable"),
            NodeError::Backup(_) => (S::BAD_REQUEST, "bad_backup"),
            NodeError::Running(_) | NodeError::OtherIdentity(_) => (S::CONFLICT, "conflict"),
            NodeError::Store(_)
            | NodeError::Identity(_)
            | NodeError::CorruptTrade { .. }
            | NodeError::Config(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, msg)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_json"
        };
        ApiError::new(status, code, e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad("bad_query", e.body_text())
    }
}

/// Parses a request field, with the field's name in the error.
pub fn parse<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    Ok(peerfx_node::input::parse(what, s)?)
}
