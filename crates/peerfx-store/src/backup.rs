//! Backups: the identity key, own offers and trades (with their logs) in one
//! file, to move a node or survive a lost disk. The book is not included: the
//! network refills it.

use peerfx_core::{codec, Hash, Keypair, Signed, Timestamp, TradeMessage};
use serde::{Deserialize, Serialize};

use crate::own::OwnOffer;
use crate::trades::TradeRecord;
use crate::{Result, Store, StoreError};

/// Largest backup file accepted (a node with many thousand trades).
pub const MAX_BACKUP_BYTES: usize = 64 * 1024 * 1024;

/// Everything a node cannot get back from the network.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Backup {
    /// The identity's 32 secret bytes.
    pub identity_secret: Vec<u8>,
    /// When it was made.
    pub created_at: Timestamp,
    /// Own offers with their accounting.
    pub own_offers: Vec<OwnOffer>,
    /// Trades, each with its log.
    pub trades: Vec<(TradeRecord, Vec<Signed<TradeMessage>>)>,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Own offers added (absent before).
    pub offers: usize,
    /// Trades added.
    pub trades: usize,
    /// Log messages added.
    pub messages: usize,
}

/// Why a backup was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not a backup file.
    #[error("not a peerfx backup")]
    Malformed(#[source] peerfx_core::codec::CodecError),
    /// Something in it does not belong to its identity, or a signature fails.
    #[error("backup is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Backup {
    /// Encodes for a file.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and checks that every offer and trade belongs to the identity and
    /// carries valid signatures.
    pub fn from_bytes(bytes: &[u8]) -> Result<(Backup, Keypair), BackupError> {
        let b: Backup = codec::decode_with_limit::<_, MAX_BACKUP_BYTES>(bytes)
            .map_err(BackupError::Malformed)?;
        let key = Keypair::from_secret(&b.identity_secret)
            .map_err(|_| BackupError::Inconsistent("identity key"))?;
        let me = key.public();
        for o in &b.own_offers {
            if o.offer.body.maker != me || o.offer.verify().is_err() {
                return Err(BackupError::Inconsistent(
                    "an offer not signed by this identity",
                ));
            }
        }
        for (t, log) in &b.trades {
            let c = &t.contract.contract.body;
            if (c.maker != me && c.taker != me) || t.contract.verify().is_err() {
                return Err(BackupError::Inconsistent(
                    "a trade this identity is not party to",
                ));
            }
            if log
                .iter()
                .any(|m| m.verify().is_err() || m.body.trade_id != t.contract.trade_id())
            {
                return Err(BackupError::Inconsistent(
                    "a trade message with a bad signature",
                ));
            }
        }
        Ok((b, key))
    }
}

impl Store {
    /// Collects own offers and trades for a backup of `identity`.
    pub fn export_backup(&self, identity: &Keypair, now: Timestamp) -> Result<Backup> {
        let trades = self
            .trade_list()?
            .into_iter()
            .map(|t| {
                let log = self.trade_log(&t.contract.trade_id())?;
                Ok((t, log))
            })
            .collect::<Result<Vec<_>>>()?;
        let trees = self.trees()?;
        Ok(Backup {
            identity_secret: identity.secret_bytes().to_vec(),
            created_at: now,
            own_offers: crate::list_records(&trees, &trees.own_offers, "own_offers")?,
            trades,
        })
    }

    /// Adds what the backup has and the store does not; never overwrites.
    /// Durable when it returns.
    pub async fn import_backup(&self, b: &Backup) -> Result<ImportStats> {
        let mut stats = ImportStats::default();
        for o in &b.own_offers {
            let id: Hash = o.id();
            let bytes = codec::encode(o);
            let inserted = self
                .write(move |trees| {
                    Ok(trees
                        .own_offers
                        .compare_and_swap(id.as_bytes(), None as Option<&[u8]>, Some(bytes))
                        .map_err(|e| trees.err(e))?
                        .is_ok())
                })
                .await?;
            if inserted {
                self.note_new_own(o);
            }
            stats.offers += usize::from(inserted);
        }
        for (t, log) in b.trades.iter() {
            if self.trade_insert(t).await? {
                stats.trades += 1;
            }
            let id = t.contract.trade_id();
            let c = t.contract.contract.body.clone();
            for m in log {
                // The backup's log replays as it did where it was written.
                let (body, c) = (m.body.clone(), c.clone());
                let outcome = self
                    .trade_append(&id, m, move |_, state| {
                        let mut next = state.clone();
                        next.apply(&c, &id, &body)?;
                        Ok(next)
                    })
                    .await?;
                if matches!(outcome, Ok(crate::trades::AppendOutcome::Appended { .. })) {
                    stats.messages += 1;
                }
            }
            // A trade that had ended unfilled when the backup was written
            // already gave its amount back to the offer in the backup.
            let ended = self
                .trade_head(&id)?
                .is_some_and(|h| crate::reservations::unfilled(h.state.phase_at(b.created_at)));
            if ended {
                self.set_by_trade(|t| &t.trade_released, &id, Some(Vec::new()))
                    .await?;
            }
        }
        self.flush().await?;
        Ok(stats)
    }
}
