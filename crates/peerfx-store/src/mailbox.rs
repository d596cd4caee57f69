//! Envelopes this node keeps for others, as a mailbox host
//! ([`peerfx_core::mailbox`]).
//!
//! | tree | key | value |
//! |---|---|---|
//! | `mailbox` | recipient ‖ arrival (big-endian) ‖ envelope id | the signed envelope |
//! | `mailbox_by_sender` | author ‖ envelope id | recipient ‖ arrival |
//!
//! A recipient's envelopes come out in the order they arrived (sled's
//! monotonic id generator), which is the order each author sent them: a
//! trade's messages must be stored in seq order. Bounded per recipient,
//! per author and in all ([`MailboxLimits`]): an envelope past a bound is
//! refused, not stored, so one author's flood only fills its own share, and
//! one popular recipient cannot take every slot. Expired envelopes are
//! purged.

use peerfx_core::mailbox::Envelope;
use peerfx_core::{Hash, PublicKey, Signed, Timestamp};
use sled::Transactional;

use crate::trees::Trees;
use sled::transaction::ConflictableTransactionError;

use crate::{count_prefix, decode, tx_err, Result, Store, StoreError};

/// How many envelopes a host keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxLimits {
    /// Most envelopes waiting for one recipient.
    pub per_recipient: usize,
    /// Most envelopes of one author waiting here, for anyone.
    pub per_author: usize,
    /// Most envelopes in all.
    pub total: usize,
}

/// What depositing an envelope did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxPut {
    /// Stored, and durable.
    Stored,
    /// Already here; nothing changed.
    Duplicate,
    /// Refused: the recipient's share is full.
    RecipientFull,
    /// Refused: the author's share is full.
    AuthorFull,
    /// Refused: the host is full.
    Full,
}

const KEY_LEN: usize = 32 + 8 + 32;

fn key(to: &PublicKey, arrival: u64, id: &Hash) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..32].copy_from_slice(to.as_bytes());
    k[32..40].copy_from_slice(&arrival.to_be_bytes());
    k[40..].copy_from_slice(id.as_bytes());
    k
}

fn sender_key(from: &PublicKey, id: &Hash) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(from.as_bytes());
    k[32..].copy_from_slice(id.as_bytes());
    k
}

impl Store {
    /// Keeps an envelope (already checked) for its recipient, within
    /// `limits`. Durable when it resolves to [`MailboxPut::Stored`].
    pub fn mailbox_put(
        &self,
        envelope: Signed<Envelope>,
        limits: MailboxLimits,
    ) -> impl std::future::Future<Output = Result<MailboxPut>> + Send + 'static {
        self.write(move |trees| {
            let e = &envelope.body;
            let id = envelope.id();
            let by_author = sender_key(&e.from, &id);
            if trees
                .mailbox_by_sender
                .contains_key(by_author)
                .map_err(|err| trees.err(err))?
            {
                return Ok(MailboxPut::Duplicate);
            }
            if trees.mailbox_by_sender.len() >= limits.total {
                return Ok(MailboxPut::Full);
            }
            let waiting =
                count_prefix(trees, &trees.mailbox, e.to.as_bytes(), limits.per_recipient)?;
            if waiting >= limits.per_recipient {
                return Ok(MailboxPut::RecipientFull);
            }
            let sent = count_prefix(
                trees,
                &trees.mailbox_by_sender,
                e.from.as_bytes(),
                limits.per_author,
            )?;
            if sent >= limits.per_author {
                return Ok(MailboxPut::AuthorFull);
            }
            let arrival = trees.db.generate_id().map_err(|err| trees.err(err))?;
            let primary = key(&e.to, arrival, &id);
            let value = peerfx_core::codec::encode(&envelope);
            (&trees.mailbox, &trees.mailbox_by_sender)
                .transaction(|(mailbox, index)| {
                    mailbox.insert(&primary[..], value.as_slice())?;
                    index.insert(&by_author[..], &primary[..40])?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                })
                .map_err(|e| tx_err(trees, e))?;
            Ok(MailboxPut::Stored)
        })
    }

    /// The oldest `limit` envelopes waiting for `to`, and whether more wait.
    pub fn mailbox_page(
        &self,
        to: &PublicKey,
        limit: usize,
    ) -> Result<(Vec<Signed<Envelope>>, bool)> {
        let trees = self.trees()?;
        let mut page = Vec::new();
        for value in trees.mailbox.scan_prefix(to.as_bytes()).values() {
            let value = value.map_err(|e| trees.err(e))?;
            if page.len() == limit {
                return Ok((page, true));
            }
            page.push(decode("mailbox", &value)?);
        }
        Ok((page, false))
    }

    /// Drops the envelopes of `ids` waiting for `to` (others' envelopes are
    /// not touched, whatever the ids); how many. Durable when it resolves.
    pub fn mailbox_delete(
        &self,
        to: PublicKey,
        ids: Vec<Hash>,
    ) -> impl std::future::Future<Output = Result<u32>> + Send + 'static {
        self.write(move |trees| {
            let mut dropped = 0;
            for item in trees.mailbox.scan_prefix(to.as_bytes()) {
                let (k, v) = item.map_err(|e| trees.err(e))?;
                let Some(id) = k.get(40..).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
                    continue;
                };
                let id = Hash(id);
                if !ids.contains(&id) {
                    continue;
                }
                let envelope: Signed<Envelope> = decode("mailbox", &v)?;
                drop_one(trees, &k, &sender_key(&envelope.body.from, &id))?;
                dropped += 1;
            }
            Ok(dropped)
        })
    }

    /// Drops every envelope expired at `now`; how many.
    pub fn mailbox_purge(
        &self,
        now: Timestamp,
    ) -> impl std::future::Future<Output = Result<usize>> + Send + 'static {
        self.write_lazily(move |trees| {
            let mut dropped = 0;
            for item in trees.mailbox.iter() {
                let (k, v) = item.map_err(|e| trees.err(e))?;
                let envelope: Signed<Envelope> = decode("mailbox", &v)?;
                if envelope.body.expires_at <= now {
                    drop_one(trees, &k, &sender_key(&envelope.body.from, &envelope.id()))?;
                    dropped += 1;
                }
            }
            Ok(dropped)
        })
    }

    /// Envelopes kept for others.
    pub fn mailbox_len(&self) -> usize {
        self.trees().map_or(0, |t| t.mailbox_by_sender.len())
    }
}

fn drop_one(trees: &Trees, primary: &[u8], by_author: &[u8]) -> Result<()> {
    (&trees.mailbox, &trees.mailbox_by_sender)
        .transaction(|(mailbox, index)| {
            mailbox.remove(primary)?;
            index.remove(by_author)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })
        .map_err(|e| tx_err(trees, e))
}
