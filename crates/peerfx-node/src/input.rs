//! What people type, parsed: the one place where the text of every edge
//! (the HTTP API that the CLI calls, the FFI that an app calls) becomes the
//! node's types, so that both refuse the same input with the same message.
//!
//! Amounts and rates are decimal strings in major units ("99.50", "1.08"),
//! currencies ISO 4217 codes, markets "EUR-USD": money is never a float.

use std::time::Duration;

use peerfx_core::reputation::parse_score;
use peerfx_core::{Amount, Currency, Geohash, Hash, Market, PaymentMethod, Rate, TradeAction};
use serde::{Deserialize, Serialize};

use crate::{BookQuery, Node, NodeError, OfferSpec, TradeView};

/// Parses one field, with its name in the error ("near: ...").
pub fn parse<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, NodeError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| NodeError::Input {
        what,
        message: e.to_string(),
    })
}

fn parse_opt<T: std::str::FromStr>(
    what: &'static str,
    s: Option<&str>,
) -> Result<Option<T>, NodeError>
where
    T::Err: std::fmt::Display,
{
    s.map(|s| parse(what, s)).transpose()
}

fn invalid(what: &'static str, message: impl Into<String>) -> NodeError {
    NodeError::Input {
        what,
        message: message.into(),
    }
}

/// A new offer as typed: `POST /v1/offers`, `peerfx offer post`.
#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct OfferText {
    /// The currency given ("EUR").
    pub give: String,
    /// The currency wanted ("USD").
    pub want: String,
    /// Least amount of `give` per take, in major units ("100").
    pub min: String,
    /// Most amount of `give` in all, in major units ("500").
    pub max: String,
    /// Units of `want` per unit of `give` ("1.08").
    pub rate: String,
    /// Payment methods ("sepa", "cash"); none: any.
    #[serde(default)]
    pub pay: Vec<String>,
    /// A geohash of where the maker is, for cash trades.
    pub near: Option<String>,
    /// Lifetime in seconds (default: [`OfferSpec::DEFAULT_LIFETIME`]).
    pub expires_secs: Option<u64>,
    /// Free text.
    #[serde(default)]
    pub note: String,
}

impl OfferText {
    /// The offer's terms, checked field by field.
    pub fn to_spec(&self) -> Result<OfferSpec, NodeError> {
        let mut spec = OfferSpec::parse(&self.give, &self.min, &self.max, &self.want, &self.rate)?;
        spec.payment_methods = self
            .pay
            .iter()
            .map(|m| parse::<PaymentMethod>("payment method", m))
            .collect::<Result<_, _>>()?;
        spec.geohash = parse_opt::<Geohash>("near", self.near.as_deref())?;
        spec.note = self.note.clone();
        if let Some(secs) = self.expires_secs {
            spec.lifetime = Duration::from_secs(secs);
        }
        Ok(spec)
    }
}

/// A book query as typed: `GET /v1/book`, `peerfx book`. `give`/`want` are
/// the offers' currencies (what the maker gives and wants), `amount` is in
/// `give`, `min_rate` is what the taker insists on receiving: at least that
/// many units of `give` per unit of `want`.
#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct BookFilter {
    /// Both directions of a market ("EUR-USD").
    pub market: Option<String>,
    /// Offers giving this currency...
    pub give: Option<String>,
    /// ...and wanting this one.
    pub want: Option<String>,
    /// Only offers from which this much of `give` can be taken now.
    pub amount: Option<String>,
    /// At least this many units of `give` per unit of `want`.
    pub min_rate: Option<String>,
    /// Only offers accepting this payment method.
    pub pay: Option<String>,
    /// Only offers near this geohash...
    pub near: Option<String>,
    /// ...within this many km (default 25).
    pub radius_km: Option<u32>,
    /// Most offers.
    pub limit: Option<usize>,
    /// Only makers with at least this many completed trades vouched for.
    pub min_trades: Option<u32>,
    /// Only makers with at least this score, e.g. "4.5".
    pub min_score: Option<String>,
    /// "rate" (default: best rate first) or "reputation".
    pub sort: Option<String>,
    /// Offers of makers gone offline too.
    #[serde(default)]
    pub include_offline: bool,
}

impl BookFilter {
    /// Default radius of `near`.
    pub const DEFAULT_RADIUS_KM: u32 = 25;

    /// The query, checked field by field.
    pub fn to_query(&self) -> Result<BookQuery, NodeError> {
        let give = parse_opt::<Currency>("give", self.give.as_deref())?;
        Ok(BookQuery {
            market: parse_opt::<Market>("market", self.market.as_deref())?,
            give,
            want: parse_opt::<Currency>("want", self.want.as_deref())?,
            amount: match (&self.amount, give) {
                (Some(a), Some(give)) => Some(Amount::parse(a, give)?),
                (Some(_), None) => {
                    return Err(invalid("amount", "--amount needs --give and --want"))
                }
                (None, _) => None,
            },
            min_rate: parse_opt::<Rate>("min rate", self.min_rate.as_deref())?,
            payment_method: parse_opt::<PaymentMethod>("payment method", self.pay.as_deref())?,
            near: match (&self.near, self.radius_km) {
                (Some(g), r) => Some((
                    parse::<Geohash>("near", g)?,
                    r.unwrap_or(Self::DEFAULT_RADIUS_KM),
                )),
                (None, Some(_)) => return Err(invalid("radius", "--radius-km needs --near")),
                (None, None) => None,
            },
            limit: self.limit.unwrap_or(0),
            min_trades: self.min_trades.unwrap_or(0),
            min_score: self
                .min_score
                .as_deref()
                .map(parse_score)
                .transpose()
                .map_err(|e| invalid("min score", e.to_string()))?,
            by_reputation: match self.sort.as_deref() {
                None | Some("rate") => false,
                Some("reputation") => true,
                Some(other) => {
                    return Err(invalid(
                        "sort",
                        format!("{other:?}: use rate or reputation"),
                    ))
                }
            },
            include_offline: self.include_offline,
        })
    }
}

/// A take as typed: `POST /v1/take`, `peerfx take`.
#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct TakeText {
    /// The offer's id (hex).
    pub offer_id: String,
    /// How much of the offer's `give` currency to take, in major units.
    pub amount: String,
    /// A counter rate; none: the offer's.
    pub rate: Option<String>,
    /// The payment method; none: the offer's first.
    pub pay: Option<String>,
}

/// The names of the trade steps, as [`step_action`] reads them.
pub const STEPS: [&str; 6] = ["paid", "received", "cancel", "close", "dispute", "chat"];

/// A trade step by name (one of [`STEPS`]), with a dispute's reason or a
/// chat line's text.
pub fn step_action(
    step: &str,
    reason: Option<String>,
    text: Option<String>,
) -> Result<TradeAction, NodeError> {
    Ok(match step {
        "paid" => TradeAction::Paid,
        "received" => TradeAction::Received,
        "cancel" => TradeAction::Cancel,
        // The node fills in what it has seen of the other side.
        "close" => TradeAction::Close { seen: 0 },
        "dispute" => TradeAction::Dispute {
            reason: reason.unwrap_or_default(),
        },
        "chat" => TradeAction::Chat {
            text: text.ok_or_else(|| invalid("chat", "a chat line needs a text"))?,
        },
        other => {
            return Err(invalid(
                "step",
                format!("{other:?}: use one of {}", STEPS.join(", ")),
            ))
        }
    })
}

impl Node {
    /// Takes an offer as typed ([`TakeText`]): the amount is read in the
    /// currency of the offer as this node's book has it.
    pub async fn take_text(&self, t: &TakeText) -> Result<TradeView, NodeError> {
        let id: Hash = parse("offer id", &t.offer_id)?;
        let entry = self.book_get(&id)?.ok_or(NodeError::NotInBook(id))?;
        let amount = Amount::parse(&t.amount, entry.offer.give)?;
        let rate = parse_opt::<Rate>("rate", t.rate.as_deref())?;
        let pay = parse_opt::<PaymentMethod>("payment method", t.pay.as_deref())?;
        self.take(id, amount, rate, pay).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_names_itself_in_its_error() {
        let f = BookFilter {
            near: Some("not a geohash!".into()),
            ..BookFilter::default()
        };
        assert!(f.to_query().unwrap_err().to_string().starts_with("near: "));
        let f = BookFilter {
            sort: Some("price".into()),
            ..BookFilter::default()
        };
        assert_eq!(
            f.to_query().unwrap_err().to_string(),
            "sort: \"price\": use rate or reputation"
        );
        let o = OfferText {
            give: "EUR".into(),
            want: "USD".into(),
            min: "1".into(),
            max: "2".into(),
            rate: "1.08".into(),
            pay: vec!["".into()],
            ..OfferText::default()
        };
        assert!(o
            .to_spec()
            .unwrap_err()
            .to_string()
            .starts_with("payment method: "));
        assert!(step_action("paied", None, None).is_err());
        assert_eq!(step_action("paid", None, None).unwrap(), TradeAction::Paid);
    }
}
