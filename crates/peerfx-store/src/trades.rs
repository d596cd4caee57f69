//! Trades: one record per trade (the contract both parties signed and this
//! node's role), and an append-only log of every signed message of the trade.
//!
//! The log is the truth: a trade's state is derived by replaying it, so there is
//! no second copy of the state to disagree with it after a crash.

use peerfx_core::{Hash, Signed, SignedContract, Timestamp, TradeId, TradeMessage};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use crate::{decode, tx_err, Result, Store};

/// Which side of the trade this node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Made the offer.
    Maker,
    /// Took it.
    Taker,
}

/// A trade as this node keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeRecord {
    /// The contract, signed by both.
    pub contract: SignedContract,
    /// This node's side.
    pub role: Role,
    /// When this node stored it.
    pub stored_at: Timestamp,
    /// The highest seq of this node's own messages the peer has acknowledged;
    /// later ones are resent until acknowledged.
    pub acked: u32,
}

/// A take this node (the taker) countersigned but the maker has not yet
/// confirmed storing. Kept until confirmed or expired, so a crash between
/// countersigning and the maker's answer cannot leave the maker with a trade the
/// taker forgot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiation {
    /// The contract, signed by both.
    pub contract: SignedContract,
    /// Given up (the maker's reservation is gone) after this.
    pub expires_at: Timestamp,
}

/// What appending to a trade's log did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Appended at this position.
    Appended(u32),
    /// The same message is already in the log.
    Duplicate,
    /// No such trade.
    UnknownTrade,
}

fn log_key(trade: &TradeId, index: u32) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(trade.as_bytes());
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

impl Store {
    /// Stores a trade (the taker's side; the maker's is stored by
    /// [`Store::commit_reservation`]). Idempotent: returns false if it was there.
    pub fn trade_insert(&self, trade: &TradeRecord) -> Result<bool> {
        let id = trade.contract.trade_id();
        let inserted = self
            .trades
            .compare_and_swap(
                id.as_bytes(),
                None as Option<&[u8]>,
                Some(peerfx_core::codec::encode(trade)),
            )
            .map_err(|e| self.err(e))?
            .is_ok();
        self.sync()?;
        Ok(inserted)
    }

    /// One trade.
    pub fn trade_get(&self, id: &TradeId) -> Result<Option<TradeRecord>> {
        self.get_record(&self.trades, "trades", id.as_bytes())
    }

    /// Every trade.
    pub fn trade_list(&self) -> Result<Vec<TradeRecord>> {
        self.list_records(&self.trades, "trades")
    }

    /// Appends a signed message to a trade's log (validated by the caller), flushed
    /// before returning.
    pub fn trade_append(
        &self,
        trade: &TradeId,
        msg: &Signed<TradeMessage>,
    ) -> Result<AppendOutcome> {
        let msg_id: Hash = msg.id();
        let bytes = peerfx_core::codec::encode(msg);
        let out = (&self.trades, &self.trade_log)
            .transaction(|(trades, log)| {
                if trades.get(trade.as_bytes())?.is_none() {
                    return Ok(AppendOutcome::UnknownTrade);
                }
                // Logs are short (a handful of steps and chat lines), so finding the
                // end and checking for a duplicate by reading them is cheap.
                let mut index = 0u32;
                while let Some(raw) = log.get(log_key(trade, index))? {
                    let existing: Signed<TradeMessage> = decode("trade_log", &raw)
                        .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                    if existing.id() == msg_id {
                        return Ok(AppendOutcome::Duplicate);
                    }
                    index += 1;
                }
                log.insert(&log_key(trade, index)[..], bytes.as_slice())?;
                Ok(AppendOutcome::Appended(index))
            })
            .map_err(|e| tx_err(self, e))?;
        self.sync()?;
        Ok(out)
    }

    /// Records that the peer acknowledged this node's messages up to `seq`.
    pub fn trade_set_acked(&self, trade: &TradeId, seq: u32) -> Result<()> {
        self.trades
            .transaction(|trades| {
                let Some(raw) = trades.get(trade.as_bytes())? else {
                    return Ok(());
                };
                let mut rec: TradeRecord = decode("trades", &raw)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                if seq > rec.acked {
                    rec.acked = seq;
                    trades.insert(trade.as_bytes(), peerfx_core::codec::encode(&rec))?;
                }
                Ok(())
            })
            .map_err(|e| tx_err(self, e))?;
        self.sync()
    }

    /// Keeps a countersigned take until the maker confirms it (flushed).
    pub fn negotiation_put(&self, n: &Negotiation) -> Result<()> {
        let key = n.contract.contract.body.request_id;
        self.negotiations
            .insert(key.as_bytes(), peerfx_core::codec::encode(n))
            .map_err(|e| self.err(e))?;
        self.sync()
    }

    /// Forgets a negotiation (confirmed and stored as a trade, or expired).
    pub fn negotiation_remove(&self, request_id: &Hash) -> Result<()> {
        self.negotiations
            .remove(request_id.as_bytes())
            .map_err(|e| self.err(e))?;
        self.sync()
    }

    /// Pending negotiations.
    pub fn negotiation_list(&self) -> Result<Vec<Negotiation>> {
        self.list_records(&self.negotiations, "negotiations")
    }

    /// A trade's log, in order.
    pub fn trade_log(&self, trade: &TradeId) -> Result<Vec<Signed<TradeMessage>>> {
        self.trade_log
            .scan_prefix(trade.as_bytes())
            .values()
            .map(|v| decode("trade_log", &v.map_err(|e| self.err(e))?))
            .collect()
    }
}
