//! What an app types, as records: a new offer and a book filter. Each is
//! the FFI's face of the node's typed input (`peerfx_node::input`), which
//! parses it exactly as the HTTP API does.

use peerfx_node::input;

/// A new offer, as typed.
#[derive(Clone, Debug, Default, uniffi::Record)]
pub struct OfferInput {
    /// The currency given ("EUR").
    pub give: String,
    /// The currency wanted ("USD").
    pub want: String,
    /// Least amount of `give` per take, major units ("100").
    pub min: String,
    /// Most amount of `give` in all, major units ("500").
    pub max: String,
    /// Units of `want` per unit of `give` ("1.08").
    pub rate: String,
    /// Payment methods ("sepa", "cash"); empty: any.
    #[uniffi(default)]
    pub pay: Vec<String>,
    /// A geohash of where the maker is, for cash trades.
    #[uniffi(default)]
    pub near: Option<String>,
    /// Lifetime in seconds (default one day).
    #[uniffi(default)]
    pub expires_secs: Option<u64>,
    /// Free text.
    #[uniffi(default)]
    pub note: String,
}

impl From<OfferInput> for input::OfferText {
    fn from(o: OfferInput) -> input::OfferText {
        input::OfferText {
            give: o.give,
            want: o.want,
            min: o.min,
            max: o.max,
            rate: o.rate,
            pay: o.pay,
            near: o.near,
            expires_secs: o.expires_secs,
            note: o.note,
        }
    }
}

/// What to look for in the book. Everything is optional; ask for a market,
/// or for both `give` and `want`.
#[derive(Clone, Debug, Default, uniffi::Record)]
pub struct BookFilter {
    /// Both directions of a market ("EUR-USD").
    #[uniffi(default)]
    pub market: Option<String>,
    /// Offers giving this currency...
    #[uniffi(default)]
    pub give: Option<String>,
    /// ...and wanting this one.
    #[uniffi(default)]
    pub want: Option<String>,
    /// Only offers from which this much of `give` can be taken now.
    #[uniffi(default)]
    pub amount: Option<String>,
    /// At least this many units of `give` per unit of `want`.
    #[uniffi(default)]
    pub min_rate: Option<String>,
    /// Only offers accepting this payment method.
    #[uniffi(default)]
    pub pay: Option<String>,
    /// Only offers near this geohash...
    #[uniffi(default)]
    pub near: Option<String>,
    /// ...within this many km (default 25).
    #[uniffi(default)]
    pub radius_km: Option<u32>,
    /// Most offers (default 100).
    #[uniffi(default)]
    pub limit: Option<u32>,
    /// Only makers with at least this many completed trades vouched for.
    #[uniffi(default)]
    pub min_trades: Option<u32>,
    /// Only makers with at least this score ("4.5").
    #[uniffi(default)]
    pub min_score: Option<String>,
    /// Best-reputed makers first instead of best rate first.
    #[uniffi(default)]
    pub by_reputation: bool,
    /// Offers of makers gone offline too.
    #[uniffi(default)]
    pub include_offline: bool,
}

impl From<BookFilter> for input::BookFilter {
    fn from(f: BookFilter) -> input::BookFilter {
        input::BookFilter {
            market: f.market,
            give: f.give,
            want: f.want,
            amount: f.amount,
            min_rate: f.min_rate,
            pay: f.pay,
            near: f.near,
            radius_km: f.radius_km,
            limit: f.limit.map(|l| l as usize),
            min_trades: f.min_trades,
            min_score: f.min_score,
            sort: f.by_reputation.then(|| "reputation".to_string()),
            include_offline: f.include_offline,
        }
    }
}
