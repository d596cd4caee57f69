//! Trades: one record per trade (the contract both parties signed and this
//! node's role), and an append-only log of every signed message of the trade.
//!
//! The log is the truth: a trade's state is derived by replaying it. Beside
//! each log the store keeps its [`TradeHead`], the log's length and the state
//! it replays to, written in the same transaction as every append: an append
//! checks the message against that state and writes the next entry, reading
//! no log at all. The head is derived data and is rebuilt from the logs when
//! the schema is upgraded ([`rebuild_indexes`]).

use peerfx_core::trade::{Phase, StepError, TradeState};
use peerfx_core::{Hash, PublicKey, Signed, SignedContract, Timestamp, TradeId, TradeMessage};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use crate::trees::Trees;
use crate::{abort, decode, get_record, list_records, tx_err, Result, Store, StoreError};

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

/// A trade log's length, and the state it replays to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeHead {
    /// Messages in the log: the index of the next one.
    pub log_len: u32,
    /// The state the log replays to.
    pub state: TradeState,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Appended at `index`; the trade's state is now `state`.
    Appended {
        /// Its position in the log.
        index: u32,
        /// The state after it.
        state: TradeState,
    },
    /// The same message is already in the log; nothing changed.
    Duplicate {
        /// The trade's state.
        state: TradeState,
    },
    /// No such trade.
    UnknownTrade,
}

fn log_key(trade: &TradeId, index: u32) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(trade.as_bytes());
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

fn msg_key(trade: &TradeId, msg: &Hash) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(trade.as_bytes());
    k[32..].copy_from_slice(msg.as_bytes());
    k
}

fn time_key(created_at: Timestamp, trade: &TradeId) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&created_at.0.to_be_bytes());
    k[8..].copy_from_slice(trade.as_bytes());
    k
}

pub(crate) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    peerfx_core::codec::encode(v)
}

/// The trees a new trade is written to, inside a transaction.
pub(crate) struct TradeTx<'a> {
    pub(crate) trades: &'a TransactionalTree,
    pub(crate) heads: &'a TransactionalTree,
    pub(crate) by_request: &'a TransactionalTree,
    pub(crate) by_time: &'a TransactionalTree,
}

impl TradeTx<'_> {
    /// Stores a new trade with an empty log; false if it was there.
    pub(crate) fn insert(
        &self,
        trade: &TradeRecord,
    ) -> std::result::Result<bool, ConflictableTransactionError<StoreError>> {
        let id = trade.contract.trade_id();
        if self.trades.get(id.as_bytes())?.is_some() {
            return Ok(false);
        }
        let c = &trade.contract.contract.body;
        let head = TradeHead {
            log_len: 0,
            state: TradeState::new(c),
        };
        self.trades.insert(id.as_bytes(), enc(trade))?;
        self.heads.insert(id.as_bytes(), enc(&head))?;
        self.by_request
            .insert(c.request_id.as_bytes(), id.as_bytes().as_slice())?;
        self.by_time
            .insert(&time_key(c.created_at, &id)[..], &[][..])?;
        Ok(true)
    }
}

/// Builds every trade's head and indexes from the trades and their logs
/// (the upgrade to schema 3, and to 4, whose heads hold more of the state).
pub(crate) fn rebuild_indexes(trees: &Trees) -> Result<()> {
    let err = |e| trees.err(e);
    for trade in list_records::<TradeRecord>(trees, &trees.trades, "trades")? {
        let id = trade.contract.trade_id();
        let c = &trade.contract.contract.body;
        let mut state = TradeState::new(c);
        let mut log_len = 0u32;
        for v in trees.trade_log.scan_prefix(id.as_bytes()).values() {
            let msg: Signed<TradeMessage> = decode("trade_log", &v.map_err(err)?)?;
            // A stored log was checked when written; replay what applies.
            if state.apply(c, &id, &msg.body).is_err() {
                tracing::warn!("trade {id}: a stored message does not replay");
            }
            trees
                .trade_msgs
                .insert(&msg_key(&id, &msg.id())[..], &log_len.to_be_bytes()[..])
                .map_err(err)?;
            log_len += 1;
        }
        let head = TradeHead { log_len, state };
        trees
            .trade_heads
            .insert(id.as_bytes(), enc(&head))
            .map_err(err)?;
        trees
            .trade_by_request
            .insert(c.request_id.as_bytes(), id.as_bytes().as_slice())
            .map_err(err)?;
        trees
            .trade_by_time
            .insert(&time_key(c.created_at, &id)[..], &[][..])
            .map_err(err)?;
    }
    Ok(())
}

impl Store {
    /// Stores a trade (the taker's side; the maker's is stored by
    /// [`Store::commit_reservation`]). Idempotent: returns false if it was there.
    pub async fn trade_insert(&self, trade: &TradeRecord) -> Result<bool> {
        let trade = trade.clone();
        self.write(move |trees| {
            (
                &trees.trades,
                &trees.trade_heads,
                &trees.trade_by_request,
                &trees.trade_by_time,
            )
                .transaction(|(trades, heads, by_request, by_time)| {
                    TradeTx {
                        trades,
                        heads,
                        by_request,
                        by_time,
                    }
                    .insert(&trade)
                })
                .map_err(|e| tx_err(trees, e))
        })
        .await
    }

    /// One trade.
    pub fn trade_get(&self, id: &TradeId) -> Result<Option<TradeRecord>> {
        let trees = self.trees()?;
        get_record(&trees, &trees.trades, "trades", id.as_bytes())
    }

    /// One trade's head: its log's length and state.
    pub fn trade_head(&self, id: &TradeId) -> Result<Option<TradeHead>> {
        let trees = self.trees()?;
        get_record(&trees, &trees.trade_heads, "trade_heads", id.as_bytes())
    }

    /// The trade that answered take request `request_id`, if it was stored.
    pub fn trade_by_request(&self, request_id: &Hash) -> Result<Option<TradeId>> {
        let trees = self.trees()?;
        let raw = trees
            .trade_by_request
            .get(request_id.as_bytes())
            .map_err(|e| trees.err(e))?;
        Ok(raw.and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok().map(Hash)))
    }

    /// Trades with their heads, newest first: up to `limit` older than
    /// trade `after` (or the newest, without it).
    pub fn trade_page(
        &self,
        after: Option<&TradeId>,
        limit: usize,
    ) -> Result<Vec<(TradeRecord, TradeHead)>> {
        let trees = self.trees()?;
        let upper = match after {
            Some(id) => match self.trade_get(id)? {
                Some(t) => time_key(t.contract.contract.body.created_at, id).to_vec(),
                None => return Ok(Vec::new()),
            },
            None => vec![0xff; 41],
        };
        let mut out = Vec::new();
        for key in trees.trade_by_time.range(..upper).keys().rev() {
            if out.len() >= limit {
                break;
            }
            let key = key.map_err(|e| trees.err(e))?;
            let Some(id) = key.get(8..).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
                continue;
            };
            let id = Hash(id);
            if let (Some(t), Some(h)) = (self.trade_get(&id)?, self.trade_head(&id)?) {
                out.push((t, h));
            }
        }
        Ok(out)
    }

    /// Trades in which `me` has messages the peer has not acknowledged.
    pub fn trades_with_unacked(&self, me: &PublicKey) -> Result<Vec<TradeId>> {
        let trees = self.trees()?;
        let mut out = Vec::new();
        for t in list_records::<TradeRecord>(&trees, &trees.trades, "trades")? {
            let id = t.contract.trade_id();
            let c = &t.contract.contract.body;
            let side = if c.maker == *me {
                peerfx_core::trade::Side::Maker
            } else {
                peerfx_core::trade::Side::Taker
            };
            if self.trade_refusal(&id)?.is_some() {
                continue;
            }
            if let Some(h) = self.trade_head(&id)? {
                if h.state.progress(side).last_seq > t.acked {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// The counterparties of the trades whose state passes `keep`: a scan of
    /// every trade, so for occasional questions, not per message.
    pub fn trade_counterparties(
        &self,
        keep: impl Fn(&TradeState) -> bool,
    ) -> Result<Vec<PublicKey>> {
        let trees = self.trees()?;
        let mut out = Vec::new();
        for item in trees.trade_heads.iter() {
            let (id, raw) = item.map_err(|e| trees.err(e))?;
            let head: TradeHead = decode("trade_heads", &raw)?;
            if !keep(&head.state) {
                continue;
            }
            let Some(raw) = trees.trades.get(&id).map_err(|e| trees.err(e))? else {
                continue;
            };
            let record: TradeRecord = decode("trades", &raw)?;
            let c = &record.contract.contract.body;
            out.push(match record.role {
                Role::Maker => c.taker,
                Role::Taker => c.maker,
            });
        }
        Ok(out)
    }

    /// How many trades are in each phase at `now`.
    pub fn trade_phases(&self, now: Timestamp) -> Result<Vec<(Phase, u64)>> {
        let trees = self.trees()?;
        let mut counts: Vec<(Phase, u64)> = Vec::new();
        for h in list_records::<TradeHead>(&trees, &trees.trade_heads, "trade_heads")? {
            let phase = h.state.phase_at(now);
            match counts.iter_mut().find(|(p, _)| *p == phase) {
                Some((_, n)) => *n += 1,
                None => counts.push((phase, 1)),
            }
        }
        Ok(counts)
    }

    /// Appends a signed message (validated by the caller) to a trade's log,
    /// durably, if `admit` accepts it against the trade's current state and
    /// returns the state after it. A message already in the log is not
    /// appended again. The check and the append are one transaction of the
    /// writer: no other message of the trade can slip in between.
    pub async fn trade_append<F>(
        &self,
        trade: &TradeId,
        msg: &Signed<TradeMessage>,
        admit: F,
    ) -> Result<std::result::Result<AppendOutcome, StepError>>
    where
        F: Fn(&TradeRecord, &TradeState) -> std::result::Result<TradeState, StepError>
            + Send
            + 'static,
    {
        let (trade, msg) = (*trade, msg.clone());
        self.write(move |trees| {
            let msg_id = msg.id();
            let bytes = enc(&msg);
            (
                &trees.trades,
                &trees.trade_heads,
                &trees.trade_log,
                &trees.trade_msgs,
            )
                .transaction(|(trades, heads, log, msgs)| {
                    let Some(raw) = trades.get(trade.as_bytes())? else {
                        return Ok(Ok(AppendOutcome::UnknownTrade));
                    };
                    let record: TradeRecord = abort(decode("trades", &raw))?;
                    let Some(raw) = heads.get(trade.as_bytes())? else {
                        return Ok(Ok(AppendOutcome::UnknownTrade));
                    };
                    let head: TradeHead = abort(decode("trade_heads", &raw))?;
                    if msgs.get(&msg_key(&trade, &msg_id)[..])?.is_some() {
                        return Ok(Ok(AppendOutcome::Duplicate { state: head.state }));
                    }
                    let state = match admit(&record, &head.state) {
                        Ok(s) => s,
                        Err(e) => return Ok(Err(e)),
                    };
                    let index = head.log_len;
                    log.insert(&log_key(&trade, index)[..], bytes.as_slice())?;
                    msgs.insert(&msg_key(&trade, &msg_id)[..], &index.to_be_bytes()[..])?;
                    let head = TradeHead {
                        log_len: index + 1,
                        state: state.clone(),
                    };
                    heads.insert(trade.as_bytes(), enc(&head))?;
                    Ok(Ok(AppendOutcome::Appended { index, state }))
                })
                .map_err(|e| tx_err(trees, e))
        })
        .await
    }

    /// Keeps a countersigned take until the maker confirms it (flushed).
    pub async fn negotiation_put(&self, n: &Negotiation) -> Result<()> {
        let key = n.contract.contract.body.request_id;
        let bytes = enc(n);
        self.write(move |trees| {
            trees
                .negotiations
                .insert(key.as_bytes(), bytes)
                .map(|_| ())
                .map_err(|e| trees.err(e))
        })
        .await
    }

    /// Forgets a negotiation (confirmed and stored as a trade, or expired).
    pub async fn negotiation_remove(&self, request_id: &Hash) -> Result<()> {
        let key = *request_id;
        self.write(move |trees| {
            trees
                .negotiations
                .remove(key.as_bytes())
                .map(|_| ())
                .map_err(|e| trees.err(e))
        })
        .await
    }

    /// Pending negotiations.
    pub fn negotiation_list(&self) -> Result<Vec<Negotiation>> {
        let trees = self.trees()?;
        list_records(&trees, &trees.negotiations, "negotiations")
    }

    /// A trade's log, in order.
    pub fn trade_log(&self, trade: &TradeId) -> Result<Vec<Signed<TradeMessage>>> {
        let trees = self.trees()?;
        trees
            .trade_log
            .scan_prefix(trade.as_bytes())
            .values()
            .map(|v| decode("trade_log", &v.map_err(|e| trees.err(e))?))
            .collect()
    }

    /// Every trade, for a backup.
    pub(crate) fn trade_list(&self) -> Result<Vec<TradeRecord>> {
        let trees = self.trees()?;
        list_records(&trees, &trees.trades, "trades")
    }
}
