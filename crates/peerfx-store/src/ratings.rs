//! Ratings this node verified, each with when it first arrived.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `ratings` | rated ‖ trade id ‖ rater | [`StoredRating`] |
//! | `ratings_by_rater` | rater ‖ trade id ‖ rated | empty |
//!
//! One rating per trade and rater: the first one stored stays (a rater
//! cannot rewrite history). Bounded per rated peer, per rater, and in all
//! ([`RatingLimits`]); a rating past a bound is refused, not stored, so a
//! flood from one key only ever fills that key's share.

use peerfx_core::rating::RatedTrade;
use peerfx_core::{PublicKey, Timestamp};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use crate::{count_prefix, decode, Result, Store};

/// A verified rating and when this node first stored it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRating {
    /// The rating and its contract.
    pub rated_trade: RatedTrade,
    /// The peer that was rated.
    pub rated: PublicKey,
    /// By this node's clock.
    pub received_at: Timestamp,
}

/// How many ratings a store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatingLimits {
    /// Most ratings about one peer.
    pub per_rated: usize,
    /// Most ratings by one rater.
    pub per_rater: usize,
    /// Most ratings in all.
    pub total: usize,
}

/// What storing a rating did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatingInsert {
    /// Stored.
    New,
    /// This rater already rated this trade; nothing changed.
    Duplicate,
    /// Refused: a bound is reached ("rated peer", "rater" or "store").
    Full(&'static str),
}

fn key(a: &PublicKey, trade: &[u8; 32], b: &PublicKey) -> [u8; 96] {
    let mut k = [0u8; 96];
    k[..32].copy_from_slice(a.as_bytes());
    k[32..64].copy_from_slice(trade);
    k[64..].copy_from_slice(b.as_bytes());
    k
}

impl Store {
    /// Stores a rating (already verified) about `rated`, within `limits`.
    /// Not durable when it resolves: a crash may lose the newest ratings,
    /// which peers send again.
    pub fn rating_insert(
        &self,
        rating: StoredRating,
        limits: RatingLimits,
    ) -> impl std::future::Future<Output = Result<RatingInsert>> + Send + 'static {
        self.writer.submit(false, move |trees| {
            let (trade, rater) = rating.rated_trade.key();
            let trade = *trade.as_bytes();
            let by_rated = key(&rating.rated, &trade, &rater);
            if trees
                .ratings
                .contains_key(by_rated)
                .map_err(|e| trees.err(e))?
            {
                return Ok(RatingInsert::Duplicate);
            }
            if trees.ratings.len() >= limits.total {
                return Ok(RatingInsert::Full("store"));
            }
            let about = rating.rated.as_bytes();
            if count_prefix(trees, &trees.ratings, about, limits.per_rated)? >= limits.per_rated {
                return Ok(RatingInsert::Full("rated peer"));
            }
            let by = rater.as_bytes();
            if count_prefix(trees, &trees.ratings_by_rater, by, limits.per_rater)?
                >= limits.per_rater
            {
                return Ok(RatingInsert::Full("rater"));
            }
            let by_rater = key(&rater, &trade, &rating.rated);
            let value = peerfx_core::codec::encode(&rating);
            (&trees.ratings, &trees.ratings_by_rater)
                .transaction(|(ratings, index)| {
                    ratings.insert(&by_rated[..], value.as_slice())?;
                    index.insert(&by_rater[..], &[][..])?;
                    Ok(())
                })
                .map_err(|e: sled::transaction::TransactionError<()>| match e {
                    sled::transaction::TransactionError::Storage(e) => trees.err(e),
                    sled::transaction::TransactionError::Abort(()) => {
                        trees.err(sled::Error::Unsupported("aborted".into()))
                    }
                })?;
            Ok(RatingInsert::New)
        })
    }

    /// Ratings about `rated`, at most `limit`.
    pub fn ratings_about(&self, rated: &PublicKey, limit: usize) -> Result<Vec<StoredRating>> {
        let trees = self.trees()?;
        trees
            .ratings
            .scan_prefix(rated.as_bytes())
            .values()
            .take(limit)
            .map(|v| decode("ratings", &v.map_err(|e| trees.err(e))?))
            .collect()
    }

    /// Every stored rating.
    pub fn ratings_all(&self) -> Result<Vec<StoredRating>> {
        let trees = self.trees()?;
        trees
            .ratings
            .iter()
            .values()
            .map(|v| decode("ratings", &v.map_err(|e| trees.err(e))?))
            .collect()
    }

    /// How many ratings are stored.
    pub fn rating_count(&self) -> usize {
        self.trees().map_or(0, |t| t.ratings.len())
    }
}
