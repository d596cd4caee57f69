//! Ratings and profiles: rating a finished trade, taking in the ratings
//! peers gossip, and each peer's profile from this node's point of view
//! ([`peerfx_core::reputation`] says how it is computed and why).
//!
//! Every rating this node holds is kept in memory too, as the few fields a
//! profile needs ([`RatingFact`], ~150 bytes) in an index kept up to date
//! one rating at a time ([`RatingIndex`]), so a profile costs that peer's
//! ratings and never touches the disk. The same bounds hold in memory and
//! in the store ([`RatingLimits`]), and the memory copy decides: gossip is
//! applied on the pump's task, which never waits for the disk.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use peerfx_core::protocol::{
    GossipMessage, OfferState, RATINGS_PAGE_BYTES, RATINGS_PER_MAKER, RATINGS_PER_PAGE,
};
use peerfx_core::rating::{RatedOutcome, RatedTrade, Rating, VerifiedRating};
use peerfx_core::reputation::{Profile, RatingFact, RatingIndex, Viewpoint};
use peerfx_core::trade::Phase;
use peerfx_core::{codec, Market, PublicKey, RejectReason, Signed, Timestamp, TradeId};
use peerfx_net::Acceptance;
use peerfx_store::ratings::{RatingInsert, RatingLimits, StoredRating};
use peerfx_store::Store;

use crate::inner::Inner;
use crate::locks::lock;
use crate::view::RatingView;
use crate::{now, Node, NodeError, NodeEvent};

/// The ratings this node holds, as profiles need them, and the peers it
/// completed trades with (its point of view).
#[derive(Default)]
pub(crate) struct RatingRoom {
    book: Mutex<RatingBook>,
    counterparties: Mutex<HashSet<PublicKey>>,
}

#[derive(Default)]
struct RatingBook {
    index: RatingIndex,
    keys: HashSet<(TradeId, PublicKey)>,
    per_rated: HashMap<PublicKey, usize>,
    per_rater: HashMap<PublicKey, usize>,
}

impl RatingBook {
    fn insert(&mut self, fact: RatingFact, limits: &RatingLimits) -> RatingInsert {
        if self.keys.contains(&(fact.trade_id, fact.rater)) {
            return RatingInsert::Duplicate;
        }
        if self.index.len() >= limits.total {
            return RatingInsert::Full("store");
        }
        if self.per_rated.get(&fact.rated).copied().unwrap_or(0) >= limits.per_rated {
            return RatingInsert::Full("rated peer");
        }
        if self.per_rater.get(&fact.rater).copied().unwrap_or(0) >= limits.per_rater {
            return RatingInsert::Full("rater");
        }
        self.keys.insert((fact.trade_id, fact.rater));
        *self.per_rated.entry(fact.rated).or_default() += 1;
        *self.per_rater.entry(fact.rater).or_default() += 1;
        self.index.insert(fact);
        RatingInsert::New
    }
}

fn fact(v: &VerifiedRating, received_at: Timestamp) -> RatingFact {
    let r = v.rating();
    RatingFact {
        rater: r.rater,
        rated: v.rated,
        trade_id: r.trade_id,
        rater_side: v.rater_side,
        outcome: r.outcome,
        score: r.score,
        received_at,
    }
}

impl RatingRoom {
    /// The room with every rating in `store`.
    pub(crate) fn load(store: &Store, limits: &RatingLimits) -> Result<RatingRoom, NodeError> {
        let mut book = RatingBook::default();
        for s in store.ratings_all()? {
            let (trade_id, rater) = s.rated_trade.key();
            let c = &s.rated_trade.contract.contract.body;
            let rater_side = if rater == c.maker {
                peerfx_core::trade::Side::Maker
            } else {
                peerfx_core::trade::Side::Taker
            };
            let r = &s.rated_trade.rating.body;
            book.insert(
                RatingFact {
                    rater,
                    rated: s.rated,
                    trade_id,
                    rater_side,
                    outcome: r.outcome,
                    score: r.score,
                    received_at: s.received_at,
                },
                limits,
            );
        }
        // Read once; kept up to date as trades complete (see
        // [`Inner::trade_completed`]).
        let counterparties = store.trade_counterparties(|s| s.phase == Phase::Completed)?;
        Ok(RatingRoom {
            book: Mutex::new(book),
            counterparties: Mutex::new(counterparties.into_iter().collect()),
        })
    }
}

impl Inner {
    /// Takes in a rating that passed its checks: kept if new and within
    /// bounds (then forwarded), ignored otherwise.
    pub(crate) fn ingest_rating(&self, rating: VerifiedRating, now: Timestamp) -> Acceptance {
        let limits = self.config.ratings;
        let inserted = lock(&self.ratings.book).insert(fact(&rating, now), &limits);
        match inserted {
            RatingInsert::New => {}
            RatingInsert::Duplicate | RatingInsert::Full(_) => return Acceptance::Ignore,
        }
        let r = rating.rating();
        self.emit(NodeEvent::Rated {
            trade_id: r.trade_id,
            rater: r.rater,
            rated: rating.rated,
            score: r.score,
        });
        let write = self.store.rating_insert(
            StoredRating {
                rated_trade: rating.rated_trade,
                rated: rating.rated,
                received_at: now,
            },
            limits,
        );
        self.tracker.spawn(async move {
            if let Err(e) = write.await {
                tracing::warn!("storing a rating: {e}");
            }
        });
        Acceptance::Accept
    }

    /// This node's point of view: itself, and the peers it completed a
    /// trade with.
    fn viewpoint(&self, now: Timestamp) -> Viewpoint {
        Viewpoint {
            me: self.key.public(),
            counterparties: lock(&self.ratings.counterparties).clone(),
            now,
        }
    }

    /// Trade `id` completed: its counterparty joins this node's point of
    /// view.
    pub(crate) fn trade_completed(&self, id: &TradeId) {
        match self.store.trade_get(id) {
            Ok(Some(record)) => {
                let other = record
                    .contract
                    .contract
                    .body
                    .other_party(&self.key.public());
                lock(&self.ratings.counterparties).insert(other);
            }
            Ok(None) => {}
            Err(e) => self.store_failed(e),
        }
    }

    /// Why this maker refuses `taker` for its reputation, if it does
    /// ([`crate::config::TradeConfig::min_taker_trades`] and
    /// [`crate::config::TradeConfig::min_taker_score`]).
    pub(crate) fn reputation_shortfall(&self, taker: &PublicKey) -> Option<RejectReason> {
        let (min_trades, min_score) = (
            self.config.trade.min_taker_trades,
            self.config.trade.min_taker_score,
        );
        if min_trades == 0 && min_score.is_none() {
            return None;
        }
        let p = match self.profiles(std::slice::from_ref(taker)) {
            Ok(mut p) => p.pop().unwrap_or_default(),
            Err(e) => {
                tracing::warn!("reputation of a taker: {e}");
                Profile::default()
            }
        };
        let short = p.completed < min_trades
            || min_score.is_some_and(|min| p.score.is_none_or(|s| s < min));
        short.then_some(RejectReason::Reputation {
            min_trades,
            min_score,
            trades: p.completed,
            score: p.score,
        })
    }

    /// The profiles of `peers`, computed together.
    pub(crate) fn profiles(&self, peers: &[PublicKey]) -> Result<Vec<Profile>, NodeError> {
        let view = self.viewpoint(now());
        let book = lock(&self.ratings.book);
        Ok(peers.iter().map(|p| book.index.profile(p, &view)).collect())
    }
}

impl Inner {
    /// The ratings of the makers of `offers` in `market` that a sync page
    /// carries: a few per maker, within the page's rating budget.
    pub(crate) fn ratings_for_page(
        &self,
        market: Market,
        offers: &[OfferState],
    ) -> Vec<RatedTrade> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut makers = HashSet::new();
        for o in offers {
            let maker = o.offer.body.maker;
            if !makers.insert(maker) {
                continue;
            }
            let about = match self.store.ratings_about(&maker, RATINGS_PER_MAKER * 4) {
                Ok(r) => r,
                Err(e) => {
                    self.store_failed(e);
                    return out;
                }
            };
            let in_market = about.into_iter().filter(|s| {
                let c = &s.rated_trade.contract.contract.body;
                Market::new(c.give, c.want).is_ok_and(|m| m == market)
            });
            for s in in_market.take(RATINGS_PER_MAKER) {
                let size = codec::encode(&s.rated_trade).len();
                if out.len() == RATINGS_PER_PAGE || bytes + size > RATINGS_PAGE_BYTES {
                    return out;
                }
                bytes += size;
                out.push(s.rated_trade);
            }
        }
        out
    }

    /// Takes in the ratings of a sync page as if gossiped; returns how many
    /// were invalid (the serving peer's fault).
    pub(crate) fn ingest_synced_ratings(
        &self,
        market: Market,
        ratings: Vec<RatedTrade>,
        now: Timestamp,
    ) -> usize {
        let mut invalid = 0;
        for r in ratings.into_iter().take(RATINGS_PER_PAGE) {
            match r.verify(now, self.limits()) {
                Ok(v) if v.market == market => {
                    self.ingest_rating(v, now);
                }
                Ok(_) | Err(_) => invalid += 1,
            }
        }
        invalid
    }
}

impl Node {
    /// Rates the counterparty of trade `id`, which must have ended: signs a
    /// rating (the outcome from the trade's state, a score of 1 to 5, a
    /// short comment), keeps it, and gossips it with the contract on the
    /// trade's market, so every node can check it. One rating per trade.
    pub async fn rate_trade(
        &self,
        id: TradeId,
        score: u8,
        comment: String,
    ) -> Result<RatingView, NodeError> {
        let inner = &self.inner;
        let trade = self.trade(&id)?;
        let outcome =
            RatedOutcome::of(trade.phase, trade.failure).ok_or(NodeError::NotFinished(id))?;
        let at = now();
        let rating = Rating {
            trade_id: id,
            rater: inner.key.public(),
            outcome,
            score,
            comment,
            created_at: at,
        };
        let rated_trade = RatedTrade {
            contract: trade.contract,
            rating: Signed::sign(rating, &inner.key),
        };
        let verified = rated_trade.clone().verify(at, inner.limits())?;
        let stored = StoredRating {
            rated_trade: rated_trade.clone(),
            rated: verified.rated,
            received_at: at,
        };
        let limits = inner.config.ratings;
        match lock(&inner.ratings.book).insert(fact(&verified, at), &limits) {
            RatingInsert::New => {}
            RatingInsert::Duplicate => return Err(NodeError::AlreadyRated(id)),
            RatingInsert::Full(what) => return Err(NodeError::RatingsFull(what)),
        }
        inner.store.rating_insert(stored.clone(), limits).await?;
        inner.emit(NodeEvent::Rated {
            trade_id: id,
            rater: inner.key.public(),
            rated: verified.rated,
            score,
        });
        let message = GossipMessage::Rating(Box::new(rated_trade));
        if let Err(e) = self.publish(verified.market, message).await {
            // Kept, and sent again to peers that sync later.
            tracing::info!("rating of trade {id}: not gossiped now ({e})");
        }
        Ok(stored.into())
    }

    /// What this node thinks of `peer`, from the ratings it holds.
    pub fn peer_profile(&self, peer: &PublicKey) -> Result<Profile, NodeError> {
        let mut p = self.inner.profiles(std::slice::from_ref(peer))?;
        Ok(p.pop().unwrap_or_default())
    }

    /// The ratings this node holds about `peer`, at most `limit`.
    pub fn ratings_about(
        &self,
        peer: &PublicKey,
        limit: usize,
    ) -> Result<Vec<RatingView>, NodeError> {
        let stored = self.inner.store.ratings_about(peer, limit)?;
        Ok(stored.into_iter().map(RatingView::from).collect())
    }
}
