//! What a user asks the node: the book (filtered and ranked), its own offers
//! (paged, newest first), and the node's status.

use peerfx_core::{
    fill_range, Amount, BookEntry, Currency, Geohash, Market, MatchQuery, OfferId, PaymentMethod,
    Rate, Timestamp, Verified,
};
use peerfx_store::own::{OwnOffer, OwnStatus};

use crate::view::{NodeStatus, OfferStatus, OwnOfferView, PageRequest, Paged};
use crate::{now, Node, NodeError, Presence};

/// A book query. Either a whole market (both directions), or one direction
/// (`give` and `want`, the offers' currencies) with optional filters.
#[derive(Clone, Debug, Default)]
pub struct BookQuery {
    /// Both directions of this market.
    pub market: Option<Market>,
    /// Offers giving this currency...
    pub give: Option<Currency>,
    /// ...and wanting this one.
    pub want: Option<Currency>,
    /// Only offers from which this much (of `give`) can be taken now.
    pub amount: Option<Amount>,
    /// At least this many units of `give` per unit of `want` for the taker.
    pub min_rate: Option<Rate>,
    /// Only offers accepting this payment method.
    pub payment_method: Option<PaymentMethod>,
    /// Only offers within this many km of this cell.
    pub near: Option<(Geohash, u32)>,
    /// Most offers (0: [`BookQuery::DEFAULT_LIMIT`]; at most
    /// [`BookQuery::MAX_LIMIT`]).
    pub limit: usize,
    /// Only makers with at least this many completed trades vouched for
    /// (see [`peerfx_core::reputation::Profile::completed`]).
    pub min_trades: u32,
    /// Only makers with at least this score, in hundredths (420 = 4.20).
    pub min_score: Option<u32>,
    /// Best-reputed makers first (by score, then completed trades), instead
    /// of best rate first.
    pub by_reputation: bool,
    /// Offers of makers gone offline too ([`crate::Presence::Offline`]).
    pub include_offline: bool,
}

impl BookQuery {
    /// Offers per answer when the caller does not say.
    pub const DEFAULT_LIMIT: usize = 100;
    /// Most offers per answer.
    pub const MAX_LIMIT: usize = 1000;

    fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// Why a book query cannot be answered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Neither a market nor a direction, or a direction with one side only.
    #[error("ask for a market (A-B), or for both a give and a want currency")]
    NoMarket,
    /// Filters that need a direction, on a whole market.
    #[error("amount, rate, payment method and distance filters need give and want")]
    FilterNeedsDirection,
}

impl Node {
    /// Offers in the book that match `query`, best first; hidden: those of
    /// blocked makers, and of makers gone offline unless
    /// [`BookQuery::include_offline`]. The market is followed if it was not yet, and the
    /// first page of its sync awaited briefly.
    pub async fn book(&self, query: &BookQuery) -> Result<Vec<BookEntry>, NodeError> {
        let limit = query.effective_limit();
        let by_maker = query.min_trades > 0 || query.min_score.is_some() || query.by_reputation;
        if !by_maker {
            return self.book_entries(query, limit).await;
        }
        // The reputation filters drop some: ask for more, up to the cap.
        let entries = self
            .book_entries(query, limit.saturating_mul(4).min(BookQuery::MAX_LIMIT))
            .await?;
        let makers: Vec<_> = entries.iter().map(|e| e.offer.maker).collect();
        let profiles = self.inner.profiles(&makers)?;
        let mut rows: Vec<_> = entries
            .into_iter()
            .zip(profiles)
            .filter(|(_, p)| {
                p.completed >= query.min_trades
                    && query
                        .min_score
                        .is_none_or(|min| p.score.is_some_and(|s| s >= min))
            })
            .collect();
        if query.by_reputation {
            // Stable: equal reputations keep the best rate first.
            rows.sort_by_key(|(_, p)| std::cmp::Reverse((p.score, p.completed)));
        }
        Ok(rows.into_iter().map(|(e, _)| e).take(limit).collect())
    }

    /// What this node thinks of each of `peers` (a book page's makers),
    /// from the ratings it holds, computed together.
    pub fn peer_profiles(
        &self,
        peers: &[peerfx_core::PublicKey],
    ) -> Result<Vec<peerfx_core::reputation::Profile>, NodeError> {
        self.inner.profiles(peers)
    }

    async fn book_entries(
        &self,
        query: &BookQuery,
        limit: usize,
    ) -> Result<Vec<BookEntry>, NodeError> {
        let inner = &self.inner;
        let seen = self.seen().await?;
        let visible = |e: &BookEntry| {
            !inner.peers.is_blocked(&e.offer.maker)
                && (query.include_offline || seen.of(e) != Presence::Offline)
        };
        let filtered = query.amount.is_some()
            || query.min_rate.is_some()
            || query.payment_method.is_some()
            || query.near.is_some();
        let (give, want) = match (query.market, query.give, query.want) {
            (_, Some(give), Some(want)) => (give, want),
            (Some(market), None, None) if !filtered => {
                self.follow_and_settle(market).await?;
                let mut out = inner.store.book_list(Some(market), now(), limit + 16)?;
                out.retain(visible);
                out.truncate(limit);
                return Ok(out);
            }
            (Some(_), None, None) => return Err(QueryError::FilterNeedsDirection.into()),
            (None, None, None) if !filtered => {
                let mut out = inner.store.book_list(None, now(), limit + 16)?;
                out.retain(visible);
                out.truncate(limit);
                return Ok(out);
            }
            _ => return Err(QueryError::NoMarket.into()),
        };
        self.follow_and_settle(Market::new(give, want)?).await?;
        let matcher = MatchQuery {
            pay: want,
            receive: give,
            pay_amount: None,
            min_rate: query.min_rate,
            payment_method: query.payment_method.clone(),
            near: query.near.clone(),
        };
        // Blocked makers and the amount filter drop some: ask for more.
        let matches = inner
            .store
            .book_query(&matcher, now(), limit.saturating_mul(4))?;
        Ok(matches
            .into_iter()
            .map(|(e, _)| e)
            .filter(visible)
            .filter(|e| {
                query.amount.is_none_or(|a| {
                    fill_range(e.offer.body(), e.remaining)
                        .is_some_and(|(lo, hi)| a >= lo && a <= hi)
                })
            })
            .take(limit)
            .collect())
    }

    /// One offer of the book.
    pub fn book_get(&self, id: &OfferId) -> Result<Option<BookEntry>, NodeError> {
        Ok(self.inner.store.book_get(id)?)
    }

    /// Book syncs from peers under way: while any is, the book may still be
    /// filling (right after start, or after a partition heals).
    pub fn syncs_in_flight(&self) -> usize {
        self.inner.sync.in_flight()
    }

    /// This node's own offers, newest first, a page at a time.
    pub fn own_offers(&self, page: &PageRequest) -> Result<Paged<OwnOfferView>, NodeError> {
        let after = page
            .after
            .as_deref()
            .map(|c| c.parse::<OfferId>())
            .transpose()
            .map_err(|_| NodeError::BadCursor)?;
        let limit = page.effective_limit();
        let now = now();
        let records = self.inner.store.own_page(after.as_ref(), limit + 1)?;
        let more = records.len() > limit;
        let items: Vec<OwnOfferView> = records
            .into_iter()
            .take(limit)
            .map(|o| own_view(o, now))
            .collect();
        let next = if more {
            items.last().map(|o| o.id().to_hex())
        } else {
            None
        };
        Ok(Paged { items, next })
    }

    /// One of this node's own offers.
    pub fn own_offer(&self, id: &OfferId) -> Result<Option<OwnOfferView>, NodeError> {
        Ok(self.inner.store.own_get(id)?.map(|o| own_view(o, now())))
    }

    /// A snapshot of the node.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let inner = &self.inner;
        let info = inner.net.info().await?;
        let peer_id = self.peer_id();
        Ok(NodeStatus {
            peer_id,
            listen_addrs: info
                .listen_addrs
                .into_iter()
                .map(|a| a.with_p2p(peer_id).unwrap_or_else(|a| a))
                .collect(),
            markets: self.markets(),
            providing: info.providing,
            provide_queries: info.provide_queries,
            connected_peers: info.connected.len(),
            remembered_peers: inner.store.peer_count(),
            book_size: inner.store.book_len(),
            tombstones: inner.store.book_tombstones(),
            db_bytes: inner.store.size_on_disk().unwrap_or(0),
            banned_peers: info.banned,
            dropped_gossip: info.dropped_gossip,
            syncing: self.syncs_in_flight(),
            paused: self.is_paused(),
            reachability: info.reachability,
            mailbox_envelopes: inner.store.mailbox_len(),
        })
    }
}

fn own_view(own: OwnOffer, now: Timestamp) -> OwnOfferView {
    let status = match own.status {
        OwnStatus::Open if own.offer.body.expires_at <= now => OfferStatus::Expired,
        OwnStatus::Open => OfferStatus::Open,
        OwnStatus::Cancelled => OfferStatus::Cancelled,
        OwnStatus::Filled => OfferStatus::Filled,
    };
    OwnOfferView {
        offer: Verified::assume_verified(own.offer),
        remaining: own.remaining,
        reserved: own.reserved,
        status,
    }
}
