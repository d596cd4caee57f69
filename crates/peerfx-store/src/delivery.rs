//! What the peer has of this node's trade messages: how far it
//! acknowledged, what it refused for good, and the cancel awaiting its
//! answer (see the node's `trades::delivery` and `trades::cancel`).

use peerfx_core::{Signed, TradeId, TradeMessage};

use crate::trades::{enc, TradeRecord};
use crate::trees::Trees;
use crate::{abort, decode, get_record, list_records, tx_err, Result, Store};

impl Store {
    /// Records that the peer refused this node's message `seq` of `trade`
    /// for good (`reason` as the peer gave it): delivery stops there, and
    /// the user sees why. Durable when it returns.
    pub async fn trade_set_refused(&self, trade: &TradeId, seq: u32, reason: String) -> Result<()> {
        self.set_by_trade(|t| &t.trade_refusals, trade, Some(enc(&(seq, reason))))
            .await
    }

    /// The message of `trade` the peer refused for good, and why.
    pub fn trade_refusal(&self, trade: &TradeId) -> Result<Option<(u32, String)>> {
        let trees = self.trees()?;
        trees
            .trade_refusals
            .get(trade.as_bytes())
            .map_err(|e| trees.err(e))?
            .map(|raw| decode("trade_refusals", &raw))
            .transpose()
    }

    /// Keeps an own cancel of `trade` until the peer acknowledges it (see
    /// the node's trade docs: a cancel takes effect on both sides or on
    /// neither). Durable when it returns.
    pub async fn pending_cancel_put(
        &self,
        trade: &TradeId,
        msg: &Signed<TradeMessage>,
    ) -> Result<()> {
        self.set_by_trade(|t| &t.pending_cancels, trade, Some(enc(msg)))
            .await
    }

    /// Forgets the pending cancel of `trade` (acknowledged and applied, or
    /// refused). Durable when it returns.
    pub async fn pending_cancel_remove(&self, trade: &TradeId) -> Result<()> {
        self.set_by_trade(|t| &t.pending_cancels, trade, None).await
    }

    /// The pending cancel of `trade`, if any.
    pub fn pending_cancel(&self, trade: &TradeId) -> Result<Option<Signed<TradeMessage>>> {
        let trees = self.trees()?;
        get_record(
            &trees,
            &trees.pending_cancels,
            "pending_cancels",
            trade.as_bytes(),
        )
    }

    /// Every pending cancel.
    pub fn pending_cancels(&self) -> Result<Vec<Signed<TradeMessage>>> {
        let trees = self.trees()?;
        list_records(&trees, &trees.pending_cancels, "pending_cancels")
    }

    /// Records that the peer acknowledged this node's messages up to `seq`.
    pub async fn trade_set_acked(&self, trade: &TradeId, seq: u32) -> Result<()> {
        let trade = *trade;
        self.write(move |trees| {
            trees
                .trades
                .transaction(|trades| {
                    let Some(raw) = trades.get(trade.as_bytes())? else {
                        return Ok(());
                    };
                    let mut rec: TradeRecord = abort(decode("trades", &raw))?;
                    if seq > rec.acked {
                        rec.acked = seq;
                        trades.insert(trade.as_bytes(), enc(&rec))?;
                    }
                    Ok(())
                })
                .map_err(|e| tx_err(trees, e))
        })
        .await
    }

    /// Sets (`Some`) or clears (`None`) the entry of `trade` in one of the
    /// small trees keyed by trade id, durably.
    pub(crate) async fn set_by_trade(
        &self,
        tree: fn(&Trees) -> &sled::Tree,
        trade: &TradeId,
        value: Option<Vec<u8>>,
    ) -> Result<()> {
        let trade = *trade;
        self.write(move |trees| {
            let tree = tree(trees);
            match value {
                Some(v) => tree.insert(trade.as_bytes(), v),
                None => tree.remove(trade.as_bytes()),
            }
            .map(|_| ())
            .map_err(|e| trees.err(e))
        })
        .await
    }
}
