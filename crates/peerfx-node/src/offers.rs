//! The node's own offers: post, cancel, republish, and (re-)announce.
//!
//! An own offer is stored and flushed before it is published, so an offer
//! the network knows is never one this node forgot; a post that fails to
//! store changes nothing and publishes nothing. A republish withdraws the old
//! offer and posts the new one in one transaction: either both happen or
//! neither does.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use peerfx_core::protocol::GossipMessage;
use peerfx_core::validate::validate;
use peerfx_core::{
    codec, Amount, Currency, Geohash, Market, Offer, OfferCancel, OfferId, OfferUpdate,
    PaymentMethod, Rate, Signed, Timestamp, Verified,
};
use peerfx_store::book::InsertOutcome;
use peerfx_store::own::{OwnOffer, OwnStatus, PostError, ReplaceError};

use crate::locks::lock;
use crate::{now, Node, NodeError, NodeEvent, RemovalReason};

/// What a user wants to offer, before it is signed.
#[derive(Clone, Debug)]
pub struct OfferSpec {
    /// Currency given.
    pub give: Currency,
    /// Smallest fill, minor units.
    pub min_give: Amount,
    /// Largest total, minor units.
    pub max_give: Amount,
    /// Currency wanted.
    pub want: Currency,
    /// Units of `want` per unit of `give`.
    pub rate: Rate,
    /// Payment methods; empty means `cash`.
    pub payment_methods: Vec<PaymentMethod>,
    /// Approximate location.
    pub geohash: Option<Geohash>,
    /// Free text.
    pub note: String,
    /// How long it stays valid.
    pub lifetime: Duration,
}

impl OfferSpec {
    /// Default lifetime: one day.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

    /// An offer from text as a user types it: amounts in major units ("100",
    /// "99.50"), refusing more decimals than the currency has.
    pub fn parse(
        give: &str,
        min: &str,
        max: &str,
        want: &str,
        rate: &str,
    ) -> Result<OfferSpec, NodeError> {
        let give: Currency = give.parse()?;
        let want: Currency = want.parse()?;
        Ok(OfferSpec {
            give,
            min_give: Amount::parse(min, give)?,
            max_give: Amount::parse(max, give)?,
            want,
            rate: rate.parse()?,
            payment_methods: Vec::new(),
            geohash: None,
            note: String::new(),
            lifetime: Self::DEFAULT_LIFETIME,
        })
    }

    /// The same terms again, for what remains of `own`, with the lifetime it
    /// had.
    fn again(own: &OwnOffer) -> OfferSpec {
        let o = &own.offer.body;
        OfferSpec {
            give: o.give,
            min_give: o.min_give.min(own.remaining),
            max_give: own.remaining,
            want: o.want,
            rate: o.rate,
            payment_methods: o.payment_methods.clone(),
            geohash: o.geohash.clone(),
            note: o.note.clone(),
            lifetime: Duration::from_secs(o.expires_at.since(o.created_at)),
        }
    }
}

/// Offer bookkeeping shared by the node's tasks.
#[derive(Default)]
pub(crate) struct OfferRoom {
    /// Posts share it, a reconcile of DHT announcements takes it alone: a
    /// reconcile must not see a post's market provided before its offer is
    /// stored. (The quota check and the insert are one step of the store's
    /// writer: posts need not wait for each other, and share flushes.)
    pub(crate) post: tokio::sync::RwLock<()>,
    /// Own offers already announced as expiring soon.
    pub(crate) expiring_notified: Mutex<HashSet<OfferId>>,
}

impl Node {
    /// Signs, stores (flushed) and publishes a new offer.
    pub async fn post_offer(&self, spec: OfferSpec) -> Result<Verified<Offer>, NodeError> {
        let now = now();
        let offer = self.sign_offer(spec, now)?;
        let market = offer.market()?;
        let _posting = self.inner.offers.post.read().await;
        // Peers would drop an offer past the quota; say so instead.
        let quota = self.inner.limits().max_open_offers_per_maker;
        match self.inner.store.own_insert(&offer, quota, now).await? {
            Ok(()) => {}
            Err(PostError::Quota { open }) => return Err(NodeError::TooManyOffers { open }),
        }
        self.added(&offer, market, now).await?;
        Ok(offer)
    }

    fn sign_offer(&self, spec: OfferSpec, now: Timestamp) -> Result<Verified<Offer>, NodeError> {
        let payment_methods = if spec.payment_methods.is_empty() {
            vec![PaymentMethod::cash()]
        } else {
            spec.payment_methods
        };
        let offer = Offer {
            maker: self.inner.key.public(),
            give: spec.give,
            min_give: spec.min_give,
            max_give: spec.max_give,
            want: spec.want,
            rate: spec.rate,
            payment_methods,
            geohash: spec.geohash,
            note: spec.note,
            created_at: now,
            expires_at: now.plus(spec.lifetime.as_secs()),
            nonce: rand::random(),
        };
        Ok(validate(
            Signed::sign(offer, &self.inner.key),
            now,
            self.inner.limits(),
        )?)
    }

    /// A stored new own offer enters the book and the network.
    async fn added(
        &self,
        offer: &Verified<Offer>,
        market: Market,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let inner = &self.inner;
        let outcome = inner.store.book_insert(offer, now, inner.limits())?;
        if let InsertOutcome::InsertedInPlaceOf(evicted) = outcome {
            inner.evicted(evicted);
        }
        self.follow_market(market).await?;
        inner.net.provide(market).await?;
        self.publish(market, GossipMessage::offer(offer.signed().clone(), None))
            .await?;
        inner.emit(NodeEvent::OfferAdded {
            id: offer.id(),
            market,
        });
        Ok(())
    }

    pub(crate) async fn publish(
        &self,
        market: Market,
        msg: GossipMessage,
    ) -> Result<(), NodeError> {
        Ok(self.inner.net.publish(market, codec::encode(&msg)).await?)
    }

    fn sign_cancel(&self, id: OfferId, now: Timestamp) -> Result<Verified<OfferCancel>, NodeError> {
        let cancel = Signed::sign(
            OfferCancel {
                offer_id: id,
                maker: self.inner.key.public(),
                created_at: now,
            },
            &self.inner.key,
        );
        Ok(validate(cancel, now, self.inner.limits())?)
    }

    /// Cancels an own offer: signs the cancel, records it, removes the offer
    /// from the book and tells the network.
    pub async fn cancel_offer(&self, id: OfferId) -> Result<(), NodeError> {
        let own = self
            .inner
            .store
            .own_get(&id)?
            .ok_or(NodeError::UnknownOffer(id))?;
        if own.status != OwnStatus::Open {
            return Err(NodeError::NotOpen(id));
        }
        let cancel = self.sign_cancel(id, now())?;
        if !self.inner.store.own_cancel(cancel.signed()).await? {
            return Err(NodeError::NotOpen(id));
        }
        self.cancelled(&own, &cancel).await?;
        self.reconcile_providing().await
    }

    /// A stored cancel leaves the book and reaches the network.
    async fn cancelled(
        &self,
        own: &OwnOffer,
        cancel: &Verified<OfferCancel>,
    ) -> Result<(), NodeError> {
        let inner = &self.inner;
        // Our own cancel is not held to the budget in our own book.
        inner
            .store
            .book_apply_own_cancel(cancel, now(), inner.limits())?;
        self.publish(
            own.offer.body.market()?,
            GossipMessage::Cancel(cancel.signed().clone()),
        )
        .await?;
        inner.emit(NodeEvent::OfferRemoved {
            id: cancel.offer_id,
            reason: RemovalReason::Cancelled,
        });
        Ok(())
    }

    /// Posts what remains of an own offer again, with the same terms and a
    /// fresh expiry, and withdraws the old one if it is still open: both in
    /// one transaction, so a failure leaves the old offer as it was. Refused
    /// while a take of the offer awaits its countersignature (its amount is
    /// neither sold nor free yet).
    pub async fn republish(&self, id: OfferId) -> Result<Verified<Offer>, NodeError> {
        let inner = &self.inner;
        let own = inner
            .store
            .own_get(&id)?
            .ok_or(NodeError::UnknownOffer(id))?;
        if own.remaining == Amount::ZERO {
            return Err(NodeError::NothingRemains(id));
        }
        let now = now();
        let offer = self.sign_offer(OfferSpec::again(&own), now)?;
        let market = offer.market()?;
        let cancel = match own.status {
            OwnStatus::Open => Some(self.sign_cancel(id, now)?),
            // Closed already; a filled one has something left only if a
            // trade of it ended unfilled.
            OwnStatus::Cancelled | OwnStatus::Filled => None,
        };
        let _posting = inner.offers.post.read().await;
        let quota = inner.limits().max_open_offers_per_maker;
        match inner
            .store
            .own_replace(cancel.as_ref().map(Verified::signed), &offer, quota, now)
            .await?
        {
            Ok(()) => {}
            Err(ReplaceError::NotOpen) => return Err(NodeError::NotOpen(id)),
            Err(ReplaceError::Reserved) => return Err(NodeError::TakeInProgress(id)),
            Err(ReplaceError::Post(PostError::Quota { open })) => {
                return Err(NodeError::TooManyOffers { open })
            }
        }
        if let Some(cancel) = &cancel {
            self.cancelled(&own, cancel).await?;
        }
        self.added(&offer, market, now).await?;
        Ok(offer)
    }

    /// Signs a fresh update for an own open offer (same remaining, next seq) and
    /// gossips it with the offer: a re-announcement, or the news of a fill.
    pub(crate) async fn announce(&self, own: &OwnOffer) -> Result<(), NodeError> {
        let inner = &self.inner;
        let now = now();
        let offer_id = Verified::assume_verified(own.offer.clone()).id();
        let update = Signed::sign(
            OfferUpdate {
                offer_id,
                maker: inner.key.public(),
                remaining: own.remaining,
                seq: own.seq() + 1,
                created_at: now,
            },
            &inner.key,
        );
        if !inner.store.own_record_update(&update).await? {
            return Ok(());
        }
        let verified = validate(update.clone(), now, inner.limits())?;
        inner.store.book_apply_update(&verified)?;
        self.publish(
            own.offer.body.market()?,
            GossipMessage::offer(own.offer.clone(), Some(update)),
        )
        .await
    }

    /// Re-announces every own open offer now, and re-sends the cancels of own
    /// offers that could still be circulating.
    pub async fn reannounce(&self) -> Result<usize, NodeError> {
        let mut n = 0;
        for own in self.inner.store.own_live(now())? {
            match (&own.status, &own.cancel) {
                (OwnStatus::Open, _) => {
                    self.announce(&own).await?;
                    n += 1;
                }
                (OwnStatus::Cancelled, Some(cancel)) => {
                    self.publish(
                        own.offer.body.market()?,
                        GossipMessage::Cancel(cancel.clone()),
                    )
                    .await?;
                }
                _ => {}
            }
        }
        Ok(n)
    }

    /// Puts the live open own offers back in the book at start (it is
    /// written behind, so after a crash one can be missing from it, though
    /// never from the own offers) and returns their markets.
    pub(crate) fn restore_own_offers(&self) -> Result<HashSet<Market>, NodeError> {
        let inner = &self.inner;
        let now = now();
        let mut markets = HashSet::new();
        for own in inner.store.own_live(now)? {
            if own.status != OwnStatus::Open {
                continue;
            }
            if let Ok(m) = own.offer.body.market() {
                markets.insert(m);
            }
            let state = (
                Verified::assume_verified(own.offer),
                own.last_update.map(Verified::assume_verified),
            );
            inner
                .store
                .book_merge_many(std::slice::from_ref(&state), now, inner.limits())?;
        }
        Ok(markets)
    }

    /// Announces own offers that expire soon, once each.
    pub(crate) fn warn_expiring(&self, live: &[OwnOffer], now: Timestamp) {
        let inner = &self.inner;
        let soon = inner.config.timers.expiring_soon.as_secs();
        let mut notified = lock(&inner.offers.expiring_notified);
        let mut still_live = HashSet::new();
        for o in live.iter().filter(|o| o.status == OwnStatus::Open) {
            let id = Verified::assume_verified(o.offer.clone()).id();
            still_live.insert(id);
            let expires_at = o.offer.body.expires_at;
            if expires_at.since(now) <= soon && notified.insert(id) {
                inner.emit(NodeEvent::OfferExpiringSoon { id, expires_at });
            }
        }
        // What expired or closed cannot be warned about again.
        notified.retain(|id| still_live.contains(id));
    }
}
