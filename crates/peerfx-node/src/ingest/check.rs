//! Checking gossip before it reaches the book: decode, fields, sizes and
//! signatures, on every core, ahead of the insert.
//!
//! Signature checks are nearly all of ingest's cost, and they need nothing
//! shared, so they run on rayon's pool, [`VERIFY_CHUNK`] signatures to a
//! batch verification. The book insert must stay in order on one task (the
//! pump). A [`Checker`] joins the two as a pipeline: while the pump applies
//! one batch, the pool checks the next ones, so under load both cores work
//! on ingest all the time; with little traffic a message is checked at once,
//! on the pump, and waits for nothing.

use peerfx_core::rating::VerifiedRating;
use std::collections::BTreeMap;

use peerfx_core::protocol::{GossipMessage, OfferState};
use peerfx_core::validate::{validate, validate_batch, ValidationError};
use peerfx_core::{
    codec, Market, Offer, OfferCancel, OfferUpdate, Signed, Timestamp, Verified, WireLimits,
};
use peerfx_net::Gossip;
use rayon::prelude::*;
use tokio::sync::mpsc;

use super::IngestError;

/// Offers checked in one batch signature verification. ed25519 batch
/// verification switches to Pippenger's multiscalar multiplication for
/// large batches, which costs far less per signature: on the development VM
/// one core verifies ~40 k/s in batches of 64 and ~60 k/s in batches of 256
/// (smaller chunks, tried for finer load balancing, lost more than they won).
pub const VERIFY_CHUNK: usize = 256;

/// Most gossip messages the pump takes in one batch: four chunks, two per
/// core of a 2-core machine, so that a core that finishes early has work to
/// steal (with two chunks a batch, ingest ran at 1.60× one core's verify
/// rate; with four, 1.74–1.78×). Under light load batches are smaller.
pub const GOSSIP_BATCH: usize = 4 * VERIFY_CHUNK;

/// Batches a [`Checker`] holds at once, checked or being checked: enough
/// that the pool has the next batch while the pump applies one. With the
/// gossip channel in front, it bounds what ingest holds in memory.
pub const MAX_BATCHES_IN_FLIGHT: usize = 3;

/// Batches this small, arriving when nothing is in flight, are checked on
/// the caller's thread: handing one message to the pool and back would cost
/// more than it saves.
const CHECK_INLINE_BELOW: usize = 8;

/// An offer and the update it came with, both verified.
pub type VerifiedState = (Verified<Offer>, Option<Verified<OfferUpdate>>);

/// A gossiped message with its topic and payload: what the checks read.
pub trait GossipPayload: Send + Sync + 'static {
    /// The gossipsub topic it arrived on.
    fn topic(&self) -> &str;
    /// The encoded message.
    fn data(&self) -> &[u8];
}

impl GossipPayload for Gossip {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn data(&self) -> &[u8] {
        &self.data
    }
}

/// A topic and a payload, for callers without a network (benchmarks).
impl GossipPayload for (String, Vec<u8>) {
    fn topic(&self) -> &str {
        &self.0
    }
    fn data(&self) -> &[u8] {
        &self.1
    }
}

/// A gossiped message whose signatures and fields have been checked, ready
/// to be applied to the book in order.
pub(crate) enum Checked {
    /// Boxed: an offer is far larger than a cancel.
    Offer(Box<CheckedOffer>),
    Cancel(Verified<OfferCancel>),
    /// A rating with its contract, both checked.
    Rating(Box<VerifiedRating>),
    /// Valid once, but expired: a late copy, not hostile.
    Stale,
}

pub(crate) struct CheckedOffer {
    pub(crate) market: Market,
    pub(crate) offer: Verified<Offer>,
    pub(crate) update: Option<Verified<OfferUpdate>>,
}

/// A gossiped message that passed every check that needs no state: it
/// decodes, its fields are valid, its signatures verify.
pub struct CheckedGossip(pub(crate) Checked);

impl CheckedGossip {
    /// The offer and its update, if this is a live offer (not a cancel or a
    /// late copy).
    pub fn into_offer(self) -> Option<VerifiedState> {
        match self.0 {
            Checked::Offer(o) => Some((o.offer, o.update)),
            Checked::Cancel(_) | Checked::Rating(_) | Checked::Stale => None,
        }
    }
}

/// A batch and its results, one per message, in order.
pub type CheckedBatch<G> = (Vec<G>, Vec<Result<CheckedGossip, IngestError>>);

/// The checking stage of ingest: batches go in with [`Checker::submit`] and
/// come out of [`Checker::next`] checked, in the order they went in, while
/// rayon's pool checks the batches behind them.
pub struct Checker<G> {
    limits: WireLimits,
    done_tx: mpsc::UnboundedSender<(u64, CheckedBatch<G>)>,
    done_rx: mpsc::UnboundedReceiver<(u64, CheckedBatch<G>)>,
    /// The sequence number the next submitted batch gets.
    submitted: u64,
    /// The sequence number [`Checker::next`] hands out next.
    next: u64,
    /// Batches checked out of order, waiting for an earlier one.
    ready: BTreeMap<u64, CheckedBatch<G>>,
}

impl<G: GossipPayload> Checker<G> {
    /// A checker that holds messages to `limits`.
    pub fn new(limits: WireLimits) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Checker {
            limits,
            done_tx,
            done_rx,
            submitted: 0,
            next: 0,
            ready: BTreeMap::new(),
        }
    }

    /// Batches submitted and not yet handed out. The channel is unbounded
    /// but this is not: callers submit only while [`Checker::can_submit`].
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.submitted - self.next).unwrap_or(usize::MAX)
    }

    /// Whether another batch may be submitted.
    pub fn can_submit(&self) -> bool {
        self.in_flight() < MAX_BATCHES_IN_FLIGHT
    }

    /// Starts checking `batch`. A small batch with nothing ahead of it is
    /// checked at once, on this thread; the rest go to rayon's pool.
    pub fn submit(&mut self, batch: Vec<G>, now: Timestamp) {
        let seq = self.submitted;
        self.submitted += 1;
        if self.in_flight() == 1 && batch.len() < CHECK_INLINE_BELOW {
            let results = check_chunk(&batch, now, &self.limits);
            self.ready.insert(seq, (batch, results));
            return;
        }
        let (done, limits) = (self.done_tx.clone(), self.limits.clone());
        rayon::spawn(move || {
            let results = check_batch(&batch, now, &limits);
            // The receiver lives as long as the checker: if it is gone, so
            // is the pump, and nobody wants the results.
            let _ = done.send((seq, (batch, results)));
        });
    }

    /// The oldest batch submitted and not yet handed out, once it is
    /// checked; `None` if nothing is in flight. Cancel-safe: a batch
    /// received while the future is dropped stays here for the next call.
    pub async fn next(&mut self) -> Option<CheckedBatch<G>> {
        loop {
            if self.next == self.submitted {
                return None;
            }
            if let Some(batch) = self.ready.remove(&self.next) {
                self.next += 1;
                return Some(batch);
            }
            // The checker holds a sender, so the channel never closes.
            let (seq, batch) = self.done_rx.recv().await?;
            self.ready.insert(seq, batch);
        }
    }
}

/// Checks a batch on every core, [`VERIFY_CHUNK`] messages at a time.
fn check_batch<G: GossipPayload>(
    batch: &[G],
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<CheckedGossip, IngestError>> {
    if batch.len() <= VERIFY_CHUNK {
        return check_chunk(batch, now, limits);
    }
    batch
        .par_chunks(VERIFY_CHUNK)
        .flat_map_iter(|chunk| check_chunk(chunk, now, limits))
        .collect()
}

/// Decodes and checks gossip on this thread: offers (and their updates) in
/// one batch signature check each, cancels one by one.
fn check_chunk<G: GossipPayload>(
    chunk: &[G],
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<CheckedGossip, IngestError>> {
    /// A message checked at once, or the `n`th offer of the batch check.
    enum Slot {
        Done(Result<Checked, IngestError>),
        Offer(usize),
    }
    let mut slots = Vec::with_capacity(chunk.len());
    let (mut states, mut markets) = (Vec::new(), Vec::new());
    for g in chunk {
        let decoded = Market::from_topic(g.topic())
            .ok_or_else(|| IngestError::Topic(g.topic().to_owned()))
            .and_then(|market| {
                let msg: GossipMessage = codec::decode_within(g.data(), limits.max_gossip_bytes())?;
                Ok((market, msg))
            });
        slots.push(match decoded {
            Err(e) => Slot::Done(Err(e)),
            Ok((_, GossipMessage::Cancel(cancel))) => Slot::Done(
                validate(cancel, now, limits)
                    .map(Checked::Cancel)
                    .map_err(IngestError::from),
            ),
            Ok((market, GossipMessage::Rating(rated))) => Slot::Done(
                rated
                    .verify(now, limits)
                    .map_err(IngestError::from)
                    .and_then(|v| {
                        if v.market == market {
                            Ok(Checked::Rating(Box::new(v)))
                        } else {
                            Err(IngestError::WrongMarket {
                                offer: v.market.to_string(),
                                topic: market.to_string(),
                            })
                        }
                    }),
            ),
            Ok((market, GossipMessage::Offer(state))) => {
                markets.push(market);
                states.push(*state);
                Slot::Offer(states.len() - 1)
            }
        });
    }
    let mut offers: Vec<Option<Result<Checked, IngestError>>> = markets
        .into_iter()
        .zip(verify_chunk(states, now, limits))
        .map(|(market, verified)| {
            Some(match verified {
                Err(ValidationError::Expired { .. }) => Ok(Checked::Stale),
                Err(e) => Err(e.into()),
                Ok((offer, update)) => Ok(Checked::Offer(Box::new(CheckedOffer {
                    market,
                    offer,
                    update,
                }))),
            })
        })
        .collect();
    slots
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Done(r) => Some(r.map(CheckedGossip)),
            Slot::Offer(n) => offers
                .get_mut(n)
                .and_then(Option::take)
                .map(|r| r.map(CheckedGossip)),
        })
        .collect()
}

/// Verifies offers, each with the latest update it came with (a sync page),
/// as if each had been gossiped alone: fields, sizes, and signatures in
/// batches of [`VERIFY_CHUNK`] spread over every core. One result per input,
/// in order; an offer whose update fails fails too. Touches nothing shared:
/// the caller applies the results to the book.
pub fn verify_states(
    states: Vec<OfferState>,
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<VerifiedState, ValidationError>> {
    if states.len() <= VERIFY_CHUNK {
        return verify_chunk(states, now, limits);
    }
    states
        .into_par_iter()
        .chunks(VERIFY_CHUNK)
        .flat_map_iter(|chunk| verify_chunk(chunk, now, limits))
        .collect()
}

/// [`verify_states`] on one thread: one batch check for the offers, one for
/// the updates.
fn verify_chunk(
    states: Vec<OfferState>,
    now: Timestamp,
    limits: &WireLimits,
) -> Vec<Result<VerifiedState, ValidationError>> {
    let (offers, updates): (Vec<Signed<Offer>>, Vec<Option<Signed<OfferUpdate>>>) =
        states.into_iter().map(|s| (s.offer, s.update)).unzip();
    let has_update: Vec<bool> = updates.iter().map(Option::is_some).collect();
    let mut updates =
        validate_batch(updates.into_iter().flatten().collect(), now, limits).into_iter();
    validate_batch(offers, now, limits)
        .into_iter()
        .zip(has_update)
        .map(|(offer, has_update)| {
            let update = if has_update { updates.next() } else { None };
            let offer = offer?;
            Ok((offer, update.transpose()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerfx_core::{testing, Keypair};

    fn gossip(n: usize, now: Timestamp) -> Vec<(String, Vec<u8>)> {
        let k = Keypair::generate();
        (0..n)
            .map(|i| {
                let mut o = testing::offer(&k, "EUR", "USD", "1.08", i as u64);
                o.created_at = now;
                o.expires_at = now.plus(3600);
                let data = codec::encode(&GossipMessage::offer(Signed::sign(o, &k), None));
                ("peerfx/1/market/EUR-USD".to_owned(), data)
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_come_out_checked_in_the_order_they_went_in() {
        let now = crate::now();
        let mut checker = Checker::new(WireLimits::default());
        assert!(checker.next().await.is_none(), "nothing in flight");
        // Small and alone: checked inline. Large: on the pool. Small behind
        // a large one: on the pool too, so it cannot overtake.
        let mut bad = gossip(2, now);
        bad[1].1.truncate(10);
        let sizes = [bad.len(), 2 * VERIFY_CHUNK + 3, 1];
        checker.submit(bad, now);
        checker.submit(gossip(sizes[1], now), now);
        checker.submit(gossip(sizes[2], now), now);
        assert!(!checker.can_submit(), "at most {MAX_BATCHES_IN_FLIGHT}");
        for (i, size) in sizes.into_iter().enumerate() {
            let (batch, checked) = checker.next().await.expect("in flight");
            assert_eq!((batch.len(), checked.len()), (size, size), "batch {i}");
            for (j, c) in checked.into_iter().enumerate() {
                match (i, j) {
                    (0, 1) => assert!(matches!(c, Err(IngestError::Malformed(_)))),
                    _ => assert!(c.expect("valid").into_offer().is_some()),
                }
            }
        }
        assert_eq!(checker.in_flight(), 0);
        assert!(checker.next().await.is_none());
    }
}
