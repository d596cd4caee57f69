//! Evidence of a trade that anyone can check: the contract both parties
//! signed and the whole signed log, in one self-contained record.
//!
//! This is what a mediator, a friend or a court reads when two traders
//! disagree. It needs nothing but this crate: no node, no network, no
//! database. [`verify_evidence`] checks both signatures on the contract,
//! every message's signature and fields, that every message belongs to the
//! trade, and replays the log with the same rules the nodes apply, so it
//! arrives at the same state both nodes did. The first thing that does not
//! hold is reported with where it is (the contract, or message `n`) and why.
//!
//! The record carries the exact signed bytes (hex of the wire encoding, see
//! [`crate::codec`]): re-encoding decoded values could not prove anything,
//! since a signature covers bytes. A file format around it (JSON in the
//! `peerfx` binary) is the caller's.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::limits::WireLimits;
use crate::message::{Contract, Signed, SignedContract, Timestamp, TradeId, TradeMessage};
use crate::trade::{Side, StepError, TradeState};
use crate::validate::{validate, ValidationError};

/// The format name and version a record states.
pub const EVIDENCE_FORMAT: &str = "peerfx-trade-evidence/1";

/// Most messages a record may carry: both parties' whole budgets.
const MAX_LOG: usize = 2 * 1024;

/// A trade's contract and log, as signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// [`EVIDENCE_FORMAT`].
    pub format: String,
    /// The trade id, hex (informative: the contract decides it).
    pub trade_id: String,
    /// The contract signed by both, hex of its wire encoding.
    pub contract: String,
    /// Every message of the trade in log order, hex of each one's wire
    /// encoding.
    pub log: Vec<String>,
}

/// What a record proves, once checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The trade id.
    pub trade_id: TradeId,
    /// The contract, signed by both.
    pub contract: Contract,
    /// The log, each message signed by its author.
    pub log: Vec<TradeMessage>,
    /// The state the log replays to.
    pub state: TradeState,
}

/// Where in a record something does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The record itself.
    Record,
    /// The contract.
    Contract,
    /// Message `n` of the log, counting from 1.
    Message(usize),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Record => f.write_str("the record"),
            Place::Contract => f.write_str("the contract"),
            Place::Message(n) => write!(f, "message {n}"),
        }
    }
}

/// Why a record does not prove what it claims.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Not a record of this format.
    #[error("not peerfx trade evidence: format is {0:?}, expected {EVIDENCE_FORMAT:?}")]
    Format(String),
    /// More messages than any trade can have.
    #[error("{0} messages: no trade has more than {MAX_LOG}")]
    TooLong(usize),
    /// Not hex.
    #[error("{0}: not hex")]
    Hex(Place),
    /// Bytes that do not decode as what they should be.
    #[error("{0}: does not decode: {1}")]
    Decode(Place, #[source] CodecError),
    /// The maker's signature on the contract does not verify.
    #[error("the contract: the maker's signature does not verify (the contract was altered, or not signed by {0})")]
    MakerSignature(String),
    /// The taker's countersignature does not verify.
    #[error("the contract: the taker's countersignature does not verify (the contract was altered, or not signed by {0})")]
    TakerSignature(String),
    /// The stated trade id is not the contract's.
    #[error("the record names trade {stated}, but its contract is trade {actual}")]
    TradeId {
        /// What the record says.
        stated: String,
        /// The contract's id.
        actual: String,
    },
    /// A message whose signature or fields do not hold.
    #[error("{0}: {1}")]
    Invalid(Place, #[source] ValidationError),
    /// A message the trade's rules do not allow where it stands.
    #[error("{place} (seq {seq} by the {side}): {source}")]
    Step {
        /// Which message.
        place: Place,
        /// Its seq.
        seq: u32,
        /// Its author's side, if a party.
        side: String,
        /// Why.
        #[source]
        source: StepError,
    },
}

/// The record of `contract` and its `log`.
pub fn evidence(contract: &SignedContract, log: &[Signed<TradeMessage>]) -> Evidence {
    Evidence {
        format: EVIDENCE_FORMAT.to_string(),
        trade_id: contract.trade_id().to_hex(),
        contract: hex::encode(codec::encode(contract)),
        log: log.iter().map(|m| hex::encode(codec::encode(m))).collect(),
    }
}

/// Checks a record at `now` (messages may not be dated after it) against
/// `limits`; see the module doc.
pub fn verify_evidence(
    e: &Evidence,
    now: Timestamp,
    limits: &WireLimits,
) -> Result<Checked, EvidenceError> {
    if e.format != EVIDENCE_FORMAT {
        return Err(EvidenceError::Format(e.format.clone()));
    }
    if e.log.len() > MAX_LOG {
        return Err(EvidenceError::TooLong(e.log.len()));
    }
    let bytes = |place, h: &str| hex::decode(h).map_err(|_| EvidenceError::Hex(place));
    let signed: SignedContract = codec::decode(&bytes(Place::Contract, &e.contract)?)
        .map_err(|err| EvidenceError::Decode(Place::Contract, err))?;
    let c = &signed.contract.body;
    if signed.contract.verify().is_err() {
        return Err(EvidenceError::MakerSignature(c.maker.to_string()));
    }
    if signed.verify().is_err() {
        return Err(EvidenceError::TakerSignature(c.taker.to_string()));
    }
    let trade_id = signed.trade_id();
    if !e.trade_id.eq_ignore_ascii_case(&trade_id.to_hex()) {
        return Err(EvidenceError::TradeId {
            stated: e.trade_id.clone(),
            actual: trade_id.to_hex(),
        });
    }
    let contract = signed.contract.body;
    let mut state = TradeState::new(&contract);
    let mut log = Vec::with_capacity(e.log.len());
    for (i, h) in e.log.iter().enumerate() {
        let place = Place::Message(i + 1);
        let m: Signed<TradeMessage> =
            codec::decode(&bytes(place, h)?).map_err(|err| EvidenceError::Decode(place, err))?;
        let m = validate(m, now, limits).map_err(|err| EvidenceError::Invalid(place, err))?;
        let side = TradeState::side_of(&contract, &m.author)
            .map_or_else(|| "a stranger".to_string(), |s: Side| s.to_string());
        state
            .apply(&contract, &trade_id, &m)
            .map_err(|source| EvidenceError::Step {
                place,
                seq: m.seq,
                side,
                source,
            })?;
        log.push(m.into_signed().body);
    }
    Ok(Checked {
        trade_id,
        contract,
        log,
        state,
    })
}
