//! Store and forward over `/peerfx/mailbox/1`: trade steps and chat lines
//! for a counterparty that is offline wait in mailboxes on relays, sealed to
//! it ([`peerfx_core::mailbox`]), and it fetches them when it is back.
//!
//! - **Where**: the relays this node knows, nearest first by XOR distance
//!   to the recipient's PeerId. The author leaves a copy in the nearest
//!   [`crate::config::MailboxConfig::copies`]; the recipient asks one more
//!   than that nearest to itself, so that two nodes whose lists of relays
//!   differ by one still meet.
//! - **When**: a message is left in mailboxes the first time sending it
//!   directly fails (the direct resends go on: whichever arrives first is
//!   stored, the other is a duplicate). The recipient asks its mailboxes
//!   every [`crate::config::MailboxConfig::fetch_interval`], and every
//!   second after start or resume until a mailbox has answered (the relays
//!   are known once identify has run on the first connections). Until then
//!   it leaves nothing in mailboxes itself: receipts waiting there may say
//!   its messages arrived.
//! - **Acknowledged end to end**: a fetched message is stored exactly as if
//!   it had come directly, and the recipient then leaves a signed
//!   [`MailItem::Receipt`] for the author in the same way; the author's
//!   resends stop when it fetches the receipt (or when a direct resend is
//!   acknowledged, whichever comes first). Only then does the recipient
//!   tell the host to drop the envelope: a crash in between fetches it
//!   again, and storing it again is a no-op.
//! - **Hosts** (nodes run with `--relay-server`) keep envelopes durably,
//!   within bounds per recipient, per author and in all, for at most a week;
//!   only the recipient (the authenticated peer of the connection) may
//!   fetch or drop its envelopes.
//!
//! Takes and countersignatures are not sent this way: a take reserves the
//! maker's amount for seconds, so both must be online for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use peerfx_core::mailbox::{self, MailItem};
use peerfx_core::protocol::{MailboxRefusal, MailboxRequest, MailboxResponse, MAILBOX_PAGE};
use peerfx_core::protocol::{TradeRefusal, TradeResponse};
use peerfx_core::trade::StepError;
use peerfx_core::{Hash, PublicKey, Signed, TradeId, TradeMessage};
use peerfx_net::{PeerId, ResponseToken};
use peerfx_store::mailbox::MailboxPut;

use crate::inner::Inner;
use crate::locks::lock;
use crate::{now, Node, NodeError};

/// What became of a fetched envelope.
enum Opened {
    /// Done with: the host may drop it (a receipt applied, or an envelope
    /// that can never be opened or stored).
    Handled,
    /// A trade message stored: the host may drop it once a receipt for it
    /// is left for its author.
    Stored { trade_id: TradeId, seq: u32 },
    /// Not now (an earlier message missing, or the store busy): kept.
    Later,
}

/// Pages fetched from one mailbox per round, at most.
const MAX_PAGES_PER_FETCH: usize = 16;

/// What this node has left in mailboxes (this run): per trade, the highest
/// own seq deposited. After a restart a message may be deposited again; the
/// recipient stores it once.
#[derive(Default)]
pub(crate) struct Mail {
    deposited: Mutex<HashMap<TradeId, u32>>,
    /// Held while own messages are left in mailboxes: a step's own delivery
    /// and the retry task may both find the peer unreachable at once, and
    /// each would leave the same messages.
    depositing: tokio::sync::Mutex<()>,
    /// Whether a fetch has reached a mailbox since start: until then this
    /// node leaves nothing, since the receipts waiting for it may say its
    /// messages arrived (after a restart, `deposited` is empty).
    fetched: AtomicBool,
    /// As a host: requests served per peer.
    served: crate::budget::PerMinute,
}

impl Mail {
    /// Whether a fetch has reached a mailbox since start (or resume).
    pub(crate) fn fetched(&self) -> bool {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Back from a pause: the mail waiting is to be fetched first thing.
    pub(crate) fn refetch(&self) {
        self.fetched.store(false, Ordering::Relaxed);
    }

    /// Forgets a peer that left.
    pub(crate) fn forget(&self, peer: &PeerId) {
        self.served.forget(peer);
    }
}

/// The relays nearest `target` (by XOR distance of their PeerIds'
/// SHA-256), at most `n`, other than `target` and this node.
async fn hosts_for(inner: &Inner, target: PeerId, n: usize) -> Vec<PeerId> {
    let me = inner.net.peer_id();
    let mut relays: Vec<PeerId> = inner
        .net
        .relays()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| *r != target && *r != me)
        .collect();
    let at = Hash::of(&[&target.to_bytes()]);
    relays.sort_by_cached_key(|r| {
        let h = Hash::of(&[&r.to_bytes()]);
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = h.0[i] ^ at.0[i];
        }
        d
    });
    relays.truncate(n);
    relays
}

/// Seals `item` to `to` and leaves it in its mailboxes; whether any took
/// it.
async fn deposit(inner: &Inner, to: &PublicKey, item: &MailItem) -> Result<bool, NodeError> {
    let peer = to.peer_id().map_err(|_| NodeError::NotAPeer(*to))?;
    let envelope = mailbox::seal(
        &inner.key,
        to,
        item,
        now(),
        inner.config.mailbox.ttl.as_secs(),
        rand::random(),
    )?;
    let mut stored = false;
    for host in hosts_for(inner, peer, inner.config.mailbox.copies).await {
        match inner
            .net
            .mailbox(host, MailboxRequest::Deposit(envelope.clone()))
            .await
        {
            Ok(MailboxResponse::Stored) => {
                tracing::debug!(%host, to = %peer, "left in a mailbox");
                stored = true;
            }
            Ok(other) => tracing::debug!(%host, "mailbox refused: {other:?}"),
            Err(e) => tracing::debug!(%host, "mailbox unreachable: {e}"),
        }
    }
    Ok(stored)
}

impl Node {
    /// Leaves this node's messages of trade `id` that the peer has neither
    /// acknowledged nor been left before in mailboxes for it.
    pub(crate) async fn mail_undelivered(&self, id: &TradeId) -> Result<(), NodeError> {
        let inner = &self.inner;
        if !inner.mail.fetched.load(Ordering::Relaxed) {
            return Ok(());
        }
        let _one_at_a_time = inner.mail.depositing.lock().await;
        let Some(record) = inner.store.trade_get(id)? else {
            return Ok(());
        };
        let me = inner.key.public();
        let to = record.contract.contract.body.other_party(&me);
        let done = lock(&inner.mail.deposited).get(id).copied().unwrap_or(0);
        let from = record.acked.max(done);
        let own: Vec<Signed<TradeMessage>> = inner
            .store
            .trade_log(id)?
            .into_iter()
            .filter(|m| m.body.author == me && m.body.seq > from)
            .collect();
        for m in own {
            let seq = m.body.seq;
            if !deposit(inner, &to, &MailItem::Message(m)).await? {
                break;
            }
            lock(&inner.mail.deposited).insert(*id, seq);
        }
        Ok(())
    }

    /// Asks this node's mailboxes for what waits for it, handles each
    /// envelope, and has the hosts drop what was handled.
    pub(crate) async fn fetch_mail(&self) {
        let inner = &self.inner;
        let me = inner.net.peer_id();
        let hosts = hosts_for(inner, me, inner.config.mailbox.copies + 1).await;
        for host in hosts {
            for _ in 0..MAX_PAGES_PER_FETCH {
                let (envelopes, more) = match inner.net.mailbox(host, MailboxRequest::Fetch).await {
                    Ok(MailboxResponse::Page { envelopes, more }) => {
                        inner.mail.fetched.store(true, Ordering::Relaxed);
                        (envelopes, more)
                    }
                    Ok(other) => {
                        tracing::debug!(%host, "mailbox fetch refused: {other:?}");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(%host, "mailbox unreachable: {e}");
                        break;
                    }
                };
                let mut handled = Vec::new();
                // One receipt per trade for the page (its highest seq), and
                // the messages it covers are dropped only once it is left.
                let mut receipts: HashMap<(TradeId, PublicKey), (u32, Vec<Hash>)> = HashMap::new();
                for envelope in envelopes.into_iter().take(MAILBOX_PAGE) {
                    match self.open_envelope(&envelope).await {
                        Opened::Handled => handled.push(envelope.id()),
                        Opened::Stored { trade_id, seq } => {
                            let r = receipts.entry((trade_id, envelope.body.from)).or_default();
                            r.0 = r.0.max(seq);
                            r.1.push(envelope.id());
                        }
                        Opened::Later => {}
                    }
                }
                for ((trade_id, to), (seq, ids)) in receipts {
                    let receipt = MailItem::Receipt { trade_id, seq };
                    // Without a receipt left, the messages are fetched
                    // again next round (storing them again is a no-op),
                    // and the receipt is tried again.
                    if matches!(deposit(inner, &to, &receipt).await, Ok(true)) {
                        handled.extend(ids);
                    }
                }
                let progress = !handled.is_empty();
                if progress {
                    let _ = inner
                        .net
                        .mailbox(host, MailboxRequest::Delete(handled))
                        .await;
                }
                if !more || !progress {
                    break;
                }
            }
        }
    }

    /// Handles one envelope.
    async fn open_envelope(&self, envelope: &Signed<mailbox::Envelope>) -> Opened {
        let inner = &self.inner;
        let item = match mailbox::open(&inner.key, envelope, now()) {
            Ok(item) => item,
            Err(e) => {
                tracing::debug!("dropping a mailbox envelope: {e}");
                return Opened::Handled;
            }
        };
        let from = envelope.body.from;
        let Ok(author) = from.peer_id() else {
            return Opened::Handled;
        };
        match item {
            MailItem::Message(m) => match inner.on_message(author, m).await {
                TradeResponse::Ack { trade_id, seq } => {
                    self.release_unfilled(&trade_id).await;
                    Opened::Stored { trade_id, seq }
                }
                // An earlier message is still on its way (in another
                // mailbox, or behind a page): keep this one for later.
                TradeResponse::Refused(TradeRefusal::Step(StepError::Gap { .. })) => Opened::Later,
                TradeResponse::Refused(r) if !r.is_transient() => {
                    tracing::info!("a mailed trade message was refused: {r}");
                    Opened::Handled
                }
                _ => Opened::Later,
            },
            MailItem::Receipt { trade_id, seq } => {
                self.on_receipt(&from, trade_id, seq).await;
                Opened::Handled
            }
        }
    }

    /// The counterparty stored this node's messages of `trade_id` up to
    /// `seq`: delivery of those is done.
    async fn on_receipt(&self, from: &PublicKey, trade_id: TradeId, seq: u32) {
        let inner = &self.inner;
        let Ok(Some(record)) = inner.store.trade_get(&trade_id) else {
            return;
        };
        let me = inner.key.public();
        if record.contract.contract.body.other_party(&me) != *from {
            tracing::debug!("trade {trade_id}: a receipt from someone else; ignored");
            return;
        }
        let last_own = inner
            .store
            .trade_log(&trade_id)
            .ok()
            .and_then(|log| {
                log.iter()
                    .filter(|m| m.body.author == me)
                    .map(|m| m.body.seq)
                    .max()
            })
            .unwrap_or(0);
        // A receipt for more than was sent acknowledges only what was.
        let seq = seq.min(last_own);
        if let Err(e) = inner.store.trade_set_acked(&trade_id, seq).await {
            inner.store_failed(e);
            return;
        }
        if seq == last_own {
            lock(&inner.trades.undelivered).remove(&trade_id);
            lock(&inner.mail.deposited).remove(&trade_id);
        }
    }
}

/// Answers a mailbox request, as a host.
pub(crate) fn serve(
    inner: Arc<Inner>,
    peer: PeerId,
    request: MailboxRequest,
    token: ResponseToken,
) {
    inner.tracker.clone().spawn(async move {
        let response = answer(&inner, peer, request).await;
        let _ = inner.net.respond_mailbox(token, response).await;
    });
}

async fn answer(inner: &Inner, peer: PeerId, request: MailboxRequest) -> MailboxResponse {
    let refused = MailboxResponse::Refused;
    if !inner.config.net.relay_server {
        return refused(MailboxRefusal::NotAHost);
    }
    if !inner
        .mail
        .served
        .allow(peer, inner.config.mailbox.host_requests_per_minute)
    {
        return refused(MailboxRefusal::RateLimited);
    }
    let Some(asker) = PublicKey::from_peer_id(&peer) else {
        return refused(MailboxRefusal::NotTheAuthor);
    };
    match request {
        MailboxRequest::Deposit(envelope) => {
            if let Err(e) = mailbox::check(&envelope, now()) {
                return refused(MailboxRefusal::Invalid(e.to_string()));
            }
            if envelope.body.from != asker {
                return refused(MailboxRefusal::NotTheAuthor);
            }
            match inner
                .store
                .mailbox_put(envelope, inner.config.mailbox.host_limits)
                .await
            {
                Ok(MailboxPut::Stored | MailboxPut::Duplicate) => MailboxResponse::Stored,
                Ok(MailboxPut::RecipientFull) => refused(MailboxRefusal::RecipientFull),
                Ok(MailboxPut::AuthorFull) => refused(MailboxRefusal::SenderFull),
                Ok(MailboxPut::Full) => refused(MailboxRefusal::Full),
                Err(e) => {
                    inner.store_failed(e);
                    refused(MailboxRefusal::Storage)
                }
            }
        }
        MailboxRequest::Fetch => match inner.store.mailbox_page(&asker, MAILBOX_PAGE) {
            Ok((envelopes, more)) => MailboxResponse::Page { envelopes, more },
            Err(e) => {
                inner.store_failed(e);
                refused(MailboxRefusal::Storage)
            }
        },
        MailboxRequest::Delete(ids) => {
            if ids.len() > MAILBOX_PAGE {
                return refused(MailboxRefusal::Invalid(format!(
                    "{} ids; at most {MAILBOX_PAGE}",
                    ids.len()
                )));
            }
            match inner.store.mailbox_delete(asker, ids).await {
                Ok(n) => MailboxResponse::Deleted(n),
                Err(e) => {
                    inner.store_failed(e);
                    refused(MailboxRefusal::Storage)
                }
            }
        }
    }
}

/// Drops expired envelopes this node keeps for others.
pub(crate) async fn purge(inner: &Inner) {
    if !inner.config.net.relay_server {
        return;
    }
    match inner.store.mailbox_purge(now()).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!("dropped {n} expired mailbox envelopes"),
        Err(e) => inner.store_failed(e),
    }
}
