//! Signed messages: offers, their updates and cancels, takes, contracts, and the
//! messages of a trade.
//!
//! Every message is a body signed by its author, `Signed<T>`. The signature is
//! ed25519 over `"peerfx/<kind>/v1" || 0x00 || codec::encode(body)`: the domain
//! string makes a signature for one kind of message useless as a signature for
//! any other kind, and the NUL ends the domain so no domain is a prefix of
//! another's signed bytes. The author's key is inside the body, so it is signed
//! too, and it is the author's libp2p identity.
//!
//! A message's id is the SHA-256 of those signed bytes, *not* of the signature:
//! an id cannot be changed by re-signing, and each offer has exactly one id.
//!
//! Messages are immutable. An offer is never edited: the maker signs an
//! [`OfferUpdate`] (remaining amount after a fill, with a strictly increasing
//! `seq`) or an [`OfferCancel`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::codec;
use crate::geo::{Geohash, PaymentMethod};
use crate::keys::{Hash, KeyError, Keypair, PublicKey, Signature};
use crate::money::{Amount, Currency, Market, MoneyError, Rate};
pub use crate::reject::RejectReason;

/// Seconds since the Unix epoch. peerfx-core never reads the clock: callers pass
/// the current time in.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// `self + secs`, saturating.
    pub fn plus(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at the epoch.
    pub fn minus(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_sub(secs))
    }

    /// Seconds from `earlier` to `self`, or 0 if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// The content id of an offer.
pub type OfferId = Hash;
/// The content id of a trade: the id of its contract.
pub type TradeId = Hash;

/// A message body that can be signed.
pub trait Body: Serialize + DeserializeOwned + Clone {
    /// The domain-separation string, `"peerfx/<kind>/v1"`.
    const DOMAIN: &'static str;

    /// The key that must have signed this body.
    fn author(&self) -> &PublicKey;
}

/// The bytes a signature covers: domain, NUL, canonical encoding of the body.
pub fn signing_bytes<T: Body>(body: &T) -> Vec<u8> {
    let encoded = codec::encode(body);
    let mut out = Vec::with_capacity(T::DOMAIN.len() + 1 + encoded.len());
    out.extend_from_slice(T::DOMAIN.as_bytes());
    out.push(0);
    out.extend_from_slice(&encoded);
    out
}

/// A body and its author's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct Signed<T> {
    /// What was signed.
    pub body: T,
    /// The author's signature over [`signing_bytes`] of the body.
    pub signature: Signature,
}

impl<T: Body> Signed<T> {
    /// Signs `body` with `key`. The caller makes sure `key` is the body's author;
    /// a mismatch produces a message that fails verification.
    pub fn sign(body: T, key: &Keypair) -> Signed<T> {
        let signature = key.sign(&signing_bytes(&body));
        Signed { body, signature }
    }

    /// Checks the signature against the body's author.
    pub fn verify(&self) -> Result<(), KeyError> {
        self.body
            .author()
            .verify(&signing_bytes(&self.body), &self.signature)
    }

    /// The content id: SHA-256 of the signed bytes.
    pub fn id(&self) -> Hash {
        Hash::of(&[&signing_bytes(&self.body)])
    }

    /// The wire encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }
}

/// A message that passed validation (signature and every rule of
/// [`crate::validate`]). Only validation makes one, so holding a `Verified<T>` is
/// proof that the check happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<T> {
    signed: Signed<T>,
    id: Hash,
}

impl<T: Body> Verified<T> {
    pub(crate) fn new(signed: Signed<T>) -> Verified<T> {
        let id = signed.id();
        Verified { signed, id }
    }

    /// As [`Verified::new`], with the signing bytes already at hand.
    pub(crate) fn from_signing_bytes(signed: Signed<T>, signing: &[u8]) -> Verified<T> {
        Verified {
            signed,
            id: Hash::of(&[signing]),
        }
    }

    /// Re-wraps a message that was verified before and kept in trusted local
    /// storage, without checking its signature again. Only for data this node
    /// itself verified and stored; never for anything that came off the network.
    pub fn assume_verified(signed: Signed<T>) -> Verified<T> {
        Self::new(signed)
    }

    /// The content id.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The body.
    pub fn body(&self) -> &T {
        &self.signed.body
    }

    /// The signed message.
    pub fn signed(&self) -> &Signed<T> {
        &self.signed
    }

    /// The signed message, owned.
    pub fn into_signed(self) -> Signed<T> {
        self.signed
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.signed.body
    }
}

/// "I give between `min_give` and `max_give` of `give`, and want `want` at `rate`
/// (major units of `want` per major unit of `give`)."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The maker: author, and the node to negotiate with.
    pub maker: PublicKey,
    /// Currency the maker hands over.
    pub give: Currency,
    /// Smallest fill, in `give` minor units.
    pub min_give: Amount,
    /// Largest total, in `give` minor units.
    pub max_give: Amount,
    /// Currency the maker wants in return.
    pub want: Currency,
    /// Major units of `want` per major unit of `give`.
    pub rate: Rate,
    /// How the maker can settle, in order of preference.
    pub payment_methods: Vec<PaymentMethod>,
    /// Where the maker is, as coarsely as it likes.
    pub geohash: Option<Geohash>,
    /// Free text for the counterparty.
    pub note: String,
    /// When the maker signed it.
    pub created_at: Timestamp,
    /// When it stops being valid.
    pub expires_at: Timestamp,
    /// Makes two otherwise equal offers distinct.
    pub nonce: u64,
}

impl Body for Offer {
    const DOMAIN: &'static str = "peerfx/offer/v1";
    fn author(&self) -> &PublicKey {
        &self.maker
    }
}

impl Offer {
    /// The market the offer trades in.
    pub fn market(&self) -> Result<Market, MoneyError> {
        Market::new(self.give, self.want)
    }
}

/// "After fills, offer `offer_id` has `remaining` left." `seq` increases strictly
/// with every update the maker signs; `remaining == 0` closes the offer. Makers
/// also sign a fresh update (same remaining, next seq) when they re-announce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferUpdate {
    /// The offer.
    pub offer_id: OfferId,
    /// Its maker.
    pub maker: PublicKey,
    /// What is left to fill, in `give` minor units.
    pub remaining: Amount,
    /// Strictly increasing per offer, starting at 1.
    pub seq: u64,
    /// When the maker signed it.
    pub created_at: Timestamp,
}

impl Body for OfferUpdate {
    const DOMAIN: &'static str = "peerfx/offer-update/v1";
    fn author(&self) -> &PublicKey {
        &self.maker
    }
}

/// "Offer `offer_id` is withdrawn." Final: an offer that was cancelled never comes
/// back, even if a copy of it arrives later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferCancel {
    /// The offer.
    pub offer_id: OfferId,
    /// Its maker.
    pub maker: PublicKey,
    /// When the maker signed it.
    pub created_at: Timestamp,
}

impl Body for OfferCancel {
    const DOMAIN: &'static str = "peerfx/offer-cancel/v1";
    fn author(&self) -> &PublicKey {
        &self.maker
    }
}

/// The taker's request, sent directly to the maker: "I take `give_amount` of your
/// offer's `give` currency, paying with `payment_method`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeRequest {
    /// The offer taken.
    pub offer_id: OfferId,
    /// The taker.
    pub taker: PublicKey,
    /// How much of the offer's `give` the taker wants, in minor units.
    pub give_amount: Amount,
    /// A rate the taker proposes instead of the offer's, if any.
    pub counter_rate: Option<Rate>,
    /// One of the offer's payment methods.
    pub payment_method: PaymentMethod,
    /// When the taker signed it.
    pub created_at: Timestamp,
    /// Makes two otherwise equal requests distinct.
    pub nonce: u64,
}

impl Body for TakeRequest {
    const DOMAIN: &'static str = "peerfx/take/v1";
    fn author(&self) -> &PublicKey {
        &self.taker
    }
}

/// A maker's signed refusal of a take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeReject {
    /// Id of the refused [`TakeRequest`].
    pub request_id: Hash,
    /// The maker.
    pub maker: PublicKey,
    /// Why.
    pub reason: RejectReason,
    /// When the maker signed it.
    pub created_at: Timestamp,
}

impl Body for TakeReject {
    const DOMAIN: &'static str = "peerfx/take-reject/v1";
    fn author(&self) -> &PublicKey {
        &self.maker
    }
}

/// The maker's answer to a [`TakeRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TakeReply {
    /// A contract the maker has signed; the taker countersigns it.
    Accept(Signed<Contract>),
    /// A refusal.
    Reject(Signed<TakeReject>),
}

/// The terms both parties sign. Its id is the trade's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// The offer filled.
    pub offer_id: OfferId,
    /// The take request answered.
    pub request_id: Hash,
    /// The maker: gives `give_amount` of `give`.
    pub maker: PublicKey,
    /// The taker: gives `want_amount` of `want`.
    pub taker: PublicKey,
    /// Currency the maker hands over.
    pub give: Currency,
    /// Currency the taker hands over.
    pub want: Currency,
    /// Maker → taker, minor units of `give`.
    pub give_amount: Amount,
    /// Taker → maker, minor units of `want` (rounded down, see [`crate::money`]).
    pub want_amount: Amount,
    /// The rate agreed.
    pub rate: Rate,
    /// How they settle.
    pub payment_method: PaymentMethod,
    /// When the maker signed it.
    pub created_at: Timestamp,
    /// The payment deadline: both sides pay by then. A trade in which nobody
    /// paid expires here; the maker sets it by payment method. The settle
    /// deadline follows from it (see [`Contract::settle_by`], in
    /// [`crate::contract`]).
    pub deadline: Timestamp,
}

impl Body for Contract {
    const DOMAIN: &'static str = "peerfx/contract/v1";
    fn author(&self) -> &PublicKey {
        &self.maker
    }
}

/// A contract signed by the maker and countersigned by the taker: what both
/// parties store, and what either can show a third party.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedContract {
    /// The maker-signed contract.
    pub contract: Signed<Contract>,
    /// The taker's signature over the same signed bytes.
    pub taker_signature: Signature,
}

impl SignedContract {
    /// The taker countersigns a maker-signed contract.
    pub fn countersign(contract: Signed<Contract>, taker: &Keypair) -> SignedContract {
        let taker_signature = taker.sign(&signing_bytes(&contract.body));
        SignedContract {
            contract,
            taker_signature,
        }
    }

    /// Checks both signatures.
    pub fn verify(&self) -> Result<(), KeyError> {
        self.contract.verify()?;
        self.contract
            .body
            .taker
            .verify(&signing_bytes(&self.contract.body), &self.taker_signature)
    }

    /// The trade id.
    pub fn trade_id(&self) -> TradeId {
        self.contract.id()
    }
}

/// One step of a trade after the contract, or a chat line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TradeAction {
    /// "I have sent my side."
    Paid,
    /// "I have received the other side."
    Received,
    /// "I withdraw" (effective alone before anyone paid; afterwards both must).
    Cancel,
    /// "Something is wrong."
    Dispute {
        /// What.
        reason: String,
    },
    /// A chat line.
    Chat {
        /// The text.
        text: String,
    },
    /// "The payment deadline passed, I paid and you did not: I close the
    /// trade." Ends it as failed through the other side's fault. `seen` is
    /// how many of the other side's messages the author had when it closed:
    /// the outcome is judged on those, so both nodes reach the same one even
    /// if the other side's `Paid` was on its way (see
    /// [`crate::trade::TradeState`]).
    Close {
        /// The other side's messages the author had seen.
        seen: u32,
    },
}

/// A signed message from one party of a trade to the other. `seq` counts this
/// author's messages in this trade from 1 without gaps, so a replayed or reordered
/// message is recognised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeMessage {
    /// The trade.
    pub trade_id: TradeId,
    /// Maker or taker.
    pub author: PublicKey,
    /// 1, 2, 3, ... per author and trade.
    pub seq: u32,
    /// When the author signed it.
    pub created_at: Timestamp,
    /// What happened.
    pub action: TradeAction,
}

impl Body for TradeMessage {
    const DOMAIN: &'static str = "peerfx/trade-msg/v1";
    fn author(&self) -> &PublicKey {
        &self.author
    }
}
