//! Approximate locations as geohashes, and distances between them.
//!
//! An offer may carry a geohash so that people can find counterparties near them
//! for a cash trade without publishing coordinates: the maker picks the precision
//! (5 characters is a cell of about 5 km, 4 about 40 km). Decoding uses the
//! `geohash` crate; the distance between two cells is the great-circle distance
//! between their centres. Floating point is fine here: this is geography, not
//! money, and it only ever filters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A point or an extent as (latitude, longitude) in degrees.
type LatLon = (f64, f64);

/// Mean Earth radius used for great-circle distances.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// Why a geohash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid geohash {0:?}: expected 1 to {max} characters of 0-9 and b-z without a, i, l, o", max = Geohash::MAX_LEN)]
pub struct GeohashError(pub String);

/// A geohash cell (lowercase base32).
///
/// On the wire any string decodes; [`Geohash::check`] (called by validation)
/// decides whether it is a real cell.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Geohash(String);

impl Geohash {
    /// The finest precision peerfx accepts: 9 characters is a ~5 m cell, already
    /// more than anyone should publish.
    pub const MAX_LEN: usize = 9;

    /// The cell as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a decodable geohash of at most [`Geohash::MAX_LEN`] characters.
    pub fn check(&self) -> Result<(), GeohashError> {
        if self.0.is_empty() || self.0.len() > Self::MAX_LEN || geohash::decode(&self.0).is_err() {
            return Err(GeohashError(self.0.clone()));
        }
        Ok(())
    }

    /// Centre (lat, lon) in degrees and half the cell's size (lat, lon) in degrees.
    fn centre(&self) -> Result<(LatLon, LatLon), GeohashError> {
        let (c, lon_err, lat_err) =
            geohash::decode(&self.0).map_err(|_| GeohashError(self.0.clone()))?;
        Ok(((c.y, c.x), (lat_err, lon_err)))
    }

    /// Great-circle distance between the centres of two cells, in km.
    pub fn distance_km(&self, other: &Geohash) -> Result<f64, GeohashError> {
        let (a, _) = self.centre()?;
        let (b, _) = other.centre()?;
        Ok(haversine_km(a, b))
    }

    /// Whether `other` may lie within `radius_km` of this cell: the distance between
    /// the centres, less half of each cell's diagonal (a coarse cell "u33" covers
    /// everyone inside it, wherever its centre is).
    pub fn within_km(&self, other: &Geohash, radius_km: u32) -> Result<bool, GeohashError> {
        let (a, ea) = self.centre()?;
        let (b, eb) = other.centre()?;
        let slack =
            haversine_km(a, (a.0 + ea.0, a.1 + ea.1)) + haversine_km(b, (b.0 + eb.0, b.1 + eb.1));
        Ok(haversine_km(a, b) - slack <= f64::from(radius_km))
    }
}

fn haversine_km((lat1, lon1): LatLon, (lat2, lon2): LatLon) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

impl FromStr for Geohash {
    type Err = GeohashError;
    fn from_str(s: &str) -> Result<Geohash, GeohashError> {
        let g = Geohash(s.trim().to_ascii_lowercase());
        g.check()?;
        Ok(g)
    }
}

impl fmt::Display for Geohash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Geohash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Geohash({})", self.0)
    }
}

/// A way to settle a trade outside the network: `cash`, `sepa`, `wise`,
/// `mpesa`, ... Lowercase letters, digits and '-', 1 to [`PaymentMethod::MAX_LEN`]
/// characters. An open vocabulary: a new method needs no protocol change.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentMethod(String);

/// Why a payment method name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid payment method {0:?}: use 1 to {max} characters of a-z, 0-9 and '-'", max = PaymentMethod::MAX_LEN)]
pub struct PaymentMethodError(pub String);

impl PaymentMethod {
    /// Longest name.
    pub const MAX_LEN: usize = 24;

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Cash in person: the method of an offer that names none.
    pub fn cash() -> PaymentMethod {
        PaymentMethod("cash".into())
    }

    /// Whether the name is well-formed.
    pub fn check(&self) -> Result<(), PaymentMethodError> {
        let ok = !self.0.is_empty()
            && self.0.len() <= Self::MAX_LEN
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(PaymentMethodError(self.0.clone()))
        }
    }
}

impl FromStr for PaymentMethod {
    type Err = PaymentMethodError;
    fn from_str(s: &str) -> Result<PaymentMethod, PaymentMethodError> {
        let p = PaymentMethod(s.trim().to_ascii_lowercase());
        p.check()?;
        Ok(p)
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentMethod({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geohash_distance() {
        // Berlin (u33d) and Paris (u09t): about 880 km apart.
        let berlin: Geohash = "u33dc".parse().unwrap();
        let paris: Geohash = "u09tv".parse().unwrap();
        let d = berlin.distance_km(&paris).unwrap();
        assert!((850.0..910.0).contains(&d), "{d}");
        assert!(berlin.within_km(&paris, 900).unwrap());
        assert!(!berlin.within_km(&paris, 500).unwrap());
        // A coarse cell covers a fine cell inside it at radius 0.
        let coarse: Geohash = "u33".parse().unwrap();
        assert!(coarse.within_km(&berlin, 0).unwrap());
        for bad in ["", "u33a", "abcdefghij", "u33dc0000z"] {
            assert!(bad.parse::<Geohash>().is_err(), "{bad}");
        }
    }

    #[test]
    fn payment_methods() {
        assert_eq!("SEPA".parse::<PaymentMethod>().unwrap().as_str(), "sepa");
        assert!("".parse::<PaymentMethod>().is_err());
        assert!("pay pal".parse::<PaymentMethod>().is_err());
        assert!("x".repeat(25).parse::<PaymentMethod>().is_err());
    }
}
