//! # peerfx-core
//!
//! The domain of peerfx, a peer-to-peer foreign-currency exchange: what an offer
//! is, how it is signed and encoded, when it is valid, and how offers match. This
//! crate is pure: no I/O, no async, and it never reads the clock (every function
//! that needs "now" takes a [`Timestamp`]). That makes every rule here testable
//! and deterministic, and usable unchanged in a daemon or a phone app.
//!
//! - [`money`]: currencies (ISO 4217), markets, amounts in minor units, exact
//!   rates, conversion with one documented rounding direction.
//! - [`keys`]: the node's ed25519 identity (also its libp2p identity), signatures,
//!   content ids, batch verification.
//! - [`message`]: every signed message: offers, updates, cancels, takes,
//!   contracts, trade steps and chat.
//! - [`codec`]: the one place that turns values into bytes and back, strictly.
//! - [`limits`]: every bound on what peers send, in one [`WireLimits`].
//! - [`validate`]: what makes a message acceptable, with precise errors.
//! - [`text`]: free text from peers is data, never terminal control.
//! - [`matching`]: which offers suit a taker, best first, and their fills.
//! - [`trade`]: contracts, and the trade lifecycle derived from a signed log.
//! - [`geo`]: geohash locations and payment method names.
//! - [`protocol`]: what peers send each other (gossip, sync), transport-free.
//! - [`mailbox`]: envelopes sealed to an offline recipient, signed by their
//!   author, for store and forward.

pub mod codec;
pub mod contract;
pub mod evidence;
pub mod geo;
pub mod keys;
pub mod limits;
pub mod mailbox;
pub mod matching;
pub mod message;
pub mod money;
pub mod outcome;
pub mod protocol;
pub mod rate;
pub mod rating;
mod reject;
pub mod reputation;
mod step;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod text;
pub mod trade;
pub mod validate;

pub use geo::{Geohash, PaymentMethod};
pub use keys::{Hash, KeyError, Keypair, PublicKey, Signature};
pub use limits::WireLimits;
pub use matching::{fill_range, match_offers, BookEntry, Fill, MatchQuery};
pub use message::{
    Body, Contract, Offer, OfferCancel, OfferId, OfferUpdate, RejectReason, Signed, SignedContract,
    TakeReject, TakeReply, TakeRequest, Timestamp, TradeAction, TradeId, TradeMessage, Verified,
};
pub use money::{give_for_want, want_for_give, Amount, Currency, Market, MoneyError, Rate};
pub use validate::{decode_and_validate, validate, validate_batch, Check, ValidationError};
