//! The one place that knows how peerfx messages become bytes.
//!
//! Every wire message, signed body and stored record goes through [`encode`] and
//! [`decode`]. Nothing else in the workspace names `bincode`: the crate is
//! unmaintained (3.0.0 on crates.io is an empty tombstone), so if it ever has to
//! be replaced, this file is the whole migration.
//!
//! The format is a leading [`FORMAT_VERSION`] byte followed by bincode 2.0.1's
//! `standard` encoding (little-endian, variable-length integers) of the value's
//! serde representation. Decoding is strict, because signatures and ids are
//! computed over bytes and two byte strings must never mean the same message:
//!
//! - the input may not exceed a byte limit, and no length prefix inside it may
//!   claim more than that limit (bincode would otherwise try to allocate what a
//!   hostile prefix claims and abort the process);
//! - the version byte must be one this build understands;
//! - trailing bytes after the value are an error;
//! - the value must re-encode to exactly the input, which rejects non-minimal
//!   varints and any other alternative spelling of the same value.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use serde::{de::DeserializeOwned, Serialize};

/// Version byte that starts every encoding. Bumped on any incompatible change of
/// any wire type; golden vectors under `tests/vectors/` pin the current one.
pub const FORMAT_VERSION: u8 = 1;

/// Default upper bound on one decoded message, in bytes. Large enough for any
/// single signed message with the validation limits of [`crate::validate`];
/// containers of many messages (sync pages) use [`decode_with_limit`].
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is longer than the limit for this kind of message.
    #[error("message is {size} bytes, the limit is {limit}")]
    TooLarge {
        /// Length of the input.
        size: usize,
        /// Limit that applied.
        limit: usize,
    },
    /// The input is empty: not even a version byte.
    #[error("empty message")]
    Empty,
    /// The version byte is not one this build understands.
    #[error("unsupported format version {0} (this build speaks {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    /// The body is not a valid encoding of the expected type.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A valid value was followed by extra bytes.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The bytes decode, but are not the canonical encoding of what they decode to.
    #[error("non-canonical encoding")]
    NonCanonical,
}

fn config<const N: usize>() -> Configuration<LittleEndian, Varint, Limit<N>> {
    config::standard().with_limit::<N>()
}

/// Encodes a value: the version byte, then its canonical bincode encoding.
///
/// Infallible for peerfx's wire types: bincode's serde encoder into a `Vec` fails
/// only for sequences of unknown length or a `Serialize` impl that returns an
/// error, and no wire type has either (every type's round trip is tested).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    // The limit only matters for decoding; encoding uses an unlimited config.
    let body = bincode::serde::encode_to_vec(value, config::standard())
        .expect("wire types always have a known length and infallible Serialize impls");
    out.extend_from_slice(&body);
    out
}

/// Decodes a value of at most [`MAX_MESSAGE_BYTES`] bytes. See the module docs for
/// what "strict" means here.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_with_limit::<T, MAX_MESSAGE_BYTES>(bytes)
}

/// The most any wire message may claim, whatever the configured limits:
/// the ceiling [`decode_within`] gives bincode, which bounds what a hostile
/// length prefix can make it allocate.
pub const MAX_WIRE_BYTES: usize = 16 * 1024 * 1024;

/// Decodes a value of at most `limit` bytes (a limit set at run time, such as
/// one of [`crate::WireLimits`]; at most [`MAX_WIRE_BYTES`]), strictly.
pub fn decode_within<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, CodecError> {
    let limit = limit.min(MAX_WIRE_BYTES);
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    decode_with_limit::<T, MAX_WIRE_BYTES>(bytes)
}

/// Decodes a value of at most `LIMIT` bytes, strictly.
pub fn decode_with_limit<T: Serialize + DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<T, CodecError> {
    if bytes.len() > LIMIT {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: LIMIT,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let (value, used): (T, usize) = bincode::serde::decode_from_slice(body, config::<LIMIT>())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::TrailingBytes(body.len() - used));
    }
    if encode(&value) != bytes {
        return Err(CodecError::NonCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Sample {
        n: u64,
        s: String,
        v: Vec<u32>,
    }

    fn sample() -> Sample {
        Sample {
            n: 300,
            s: "hi".into(),
            v: vec![1, 2, 70000],
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample());
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), sample());
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = encode(&sample());
        bytes.push(0);
        assert_eq!(decode::<Sample>(&bytes), Err(CodecError::TrailingBytes(1)));
    }

    #[test]
    fn rejects_unknown_version_and_empty() {
        let mut bytes = encode(&sample());
        bytes[0] = 2;
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(CodecError::UnsupportedVersion(2))
        );
        assert_eq!(decode::<Sample>(&[]), Err(CodecError::Empty));
    }

    #[test]
    fn rejects_non_minimal_varint() {
        // 300 is encoded as 251 (u16 marker) + 2 bytes; 300 spelled as a u32 varint
        // (marker 252 + 4 bytes) decodes to the same value and must be refused.
        let canonical = encode(&300u64);
        assert_eq!(canonical, vec![FORMAT_VERSION, 251, 44, 1]);
        let long = vec![FORMAT_VERSION, 252, 44, 1, 0, 0];
        assert_eq!(decode::<u64>(&long), Err(CodecError::NonCanonical));
        // A small value spelled with a u16 marker.
        let long_small = vec![FORMAT_VERSION, 251, 5, 0];
        assert_eq!(decode::<u64>(&long_small), Err(CodecError::NonCanonical));
    }

    #[test]
    fn oversized_length_prefix_is_an_error_not_an_abort() {
        // A Vec<u8> that claims 2^40 elements: without the limit bincode would try to
        // allocate a terabyte.
        let mut bytes = vec![FORMAT_VERSION, 253];
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let err = decode::<Vec<u8>>(&bytes).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");
        let err = decode::<String>(&bytes).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn rejects_input_over_the_limit() {
        let big = encode(&vec![7u8; MAX_MESSAGE_BYTES]);
        assert!(matches!(
            decode::<Vec<u8>>(&big),
            Err(CodecError::TooLarge { .. })
        ));
        assert!(decode_with_limit::<Vec<u8>, { 2 * MAX_MESSAGE_BYTES }>(&big).is_ok());
    }
}
