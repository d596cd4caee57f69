//! Identity: the node's ed25519 key, public keys, signatures and content ids.
//!
//! A node signs its offers and trade messages with the same ed25519 key that is
//! its libp2p identity. So the author of any signed message is provably the peer
//! [`PublicKey::peer_id`] names, and a peer cannot gossip offers "on behalf of"
//! somebody else.
//!
//! Signing uses `ed25519-dalek` directly (the major libp2p-identity uses, so there
//! is one crypto stack) because it also offers batch verification.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Defines a fixed-size byte string that serializes as length-prefixed bytes, with
/// an exact length check on decode, and shows as lowercase hex.
macro_rules! fixed_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|_| HexError {
                    what: stringify!($name),
                    expected_chars: 2 * $len,
                })?;
                Ok(Self(out))
            }
        }

        // On the wire (bincode) the raw bytes; in human-readable formats
        // (the JSON of the golden vectors) lowercase hex.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_hex())
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} bytes", $len)
                    }
                    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<$name, E> {
                        <[u8; $len]>::try_from(v)
                            .map($name)
                            .map_err(|_| E::invalid_length(v.len(), &self))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                if d.is_human_readable() {
                    d.deserialize_str(V)
                } else {
                    d.deserialize_bytes(V)
                }
            }
        }
    };
}

fixed_bytes!(
    /// An ed25519 public key: the author of a signed message, and a node's identity.
    PublicKey,
    32
);
fixed_bytes!(
    /// An X25519 public key: the one-time key a mailbox envelope is sealed
    /// with (see [`crate::mailbox`]).
    X25519Public,
    32
);

fixed_bytes!(
    /// An ed25519 signature.
    Signature,
    64
);
fixed_bytes!(
    /// A SHA-256 content id: of an offer ([`crate::OfferId`]), a trade
    /// ([`crate::TradeId`]) or any other signed message.
    Hash,
    32
);

/// Decompressed keys each thread keeps (see [`PublicKey::verifying_key`]):
/// a few hundred KB at most.
pub const KEY_CACHE_SIZE: usize = 2048;

thread_local! {
    static KEY_CACHE: std::cell::RefCell<std::collections::HashMap<[u8; 32], Result<VerifyingKey, KeyError>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// A string that is not the hex of the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected_chars} hex characters for a {what}")]
pub struct HexError {
    what: &'static str,
    expected_chars: usize,
}

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The 32 bytes are not a valid ed25519 point, or a weak (small-order) key.
    #[error("invalid ed25519 public key")]
    InvalidKey,
    /// The signature does not verify for this key and message.
    #[error("bad signature")]
    BadSignature,
    /// A secret key file that is not 32 bytes of ed25519 secret.
    #[error("invalid ed25519 secret key")]
    InvalidSecret,
}

impl Hash {
    /// SHA-256 of the concatenation of `parts`.
    pub fn of(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }
}

impl PublicKey {
    /// The same key as an X25519 public key, for sealing to its owner
    /// (see [`crate::mailbox`]).
    pub fn to_x25519(&self) -> Result<[u8; 32], KeyError> {
        Ok(self.verifying_key()?.to_montgomery().to_bytes())
    }

    /// The dalek key, refusing invalid and weak (small-order) keys: a weak key
    /// admits signatures that verify for many messages.
    ///
    /// Decompressing a key costs about a third of verifying a signature in a
    /// batch, and the same makers sign offer after offer and update after
    /// update: each thread keeps the last [`KEY_CACHE_SIZE`] keys it
    /// decompressed (refusals included).
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        KEY_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(known) = cache.get(&self.0) {
                return known.clone();
            }
            let key = VerifyingKey::from_bytes(&self.0)
                .map_err(|_| KeyError::InvalidKey)
                .and_then(|k| {
                    if k.is_weak() {
                        Err(KeyError::InvalidKey)
                    } else {
                        Ok(k)
                    }
                });
            if cache.len() >= KEY_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(self.0, key.clone());
            key
        })
    }

    /// Verifies `sig` over `msg` with the strict rules (canonical encodings, no
    /// small-order components), so one message has one valid signature per key.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), KeyError> {
        let key = self.verifying_key()?;
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        key.verify_strict(msg, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// The libp2p PeerId of the node whose identity this key is.
    pub fn peer_id(&self) -> Result<libp2p_identity::PeerId, KeyError> {
        let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.0)
            .map_err(|_| KeyError::InvalidKey)?;
        Ok(libp2p_identity::PublicKey::from(key).to_peer_id())
    }

    /// The key a PeerId holds: ed25519 PeerIds carry their key inline (an
    /// identity multihash), so the key of an authenticated connection's
    /// peer is known without asking. `None` for any other kind of PeerId.
    pub fn from_peer_id(peer: &libp2p_identity::PeerId) -> Option<PublicKey> {
        // A multihash: code 0x00 (identity: the "digest" is the protobuf-
        // encoded key itself), then its length (36 for ed25519: one byte).
        let bytes = peer.to_bytes();
        let [0, len, encoded @ ..] = bytes.as_slice() else {
            return None;
        };
        if usize::from(*len) != encoded.len() {
            return None;
        }
        let key = libp2p_identity::PublicKey::try_decode_protobuf(encoded).ok()?;
        Some(PublicKey(key.try_into_ed25519().ok()?.to_bytes()))
    }

    /// Shortened hex for tables and logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl Hash {
    /// Shortened hex for tables and logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

/// A node's signing key. The same key is the node's libp2p identity
/// ([`Keypair::to_libp2p`]).
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Keypair({})", self.public())
    }
}

impl Keypair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Keypair {
        let kp = libp2p_identity::ed25519::Keypair::generate();
        Self::from_secret(kp.secret().as_ref()).expect("libp2p generated a valid ed25519 secret")
    }

    /// From 32 secret bytes (as stored in a key file).
    pub fn from_secret(secret: &[u8]) -> Result<Keypair, KeyError> {
        let secret: [u8; 32] = secret.try_into().map_err(|_| KeyError::InvalidSecret)?;
        Ok(Keypair {
            signing: SigningKey::from_bytes(&secret),
        })
    }

    /// The 32 secret bytes, for the key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.signing.sign(msg).to_bytes())
    }

    /// The same key as a libp2p identity keypair.
    pub fn to_libp2p(&self) -> libp2p_identity::Keypair {
        let mut secret = self.signing.to_bytes();
        let secret = libp2p_identity::ed25519::SecretKey::try_from_bytes(&mut secret)
            .expect("32 bytes are always a valid ed25519 secret");
        libp2p_identity::Keypair::from(libp2p_identity::ed25519::Keypair::from(secret))
    }

    /// The PeerId of this key.
    pub fn peer_id(&self) -> libp2p_identity::PeerId {
        self.to_libp2p().public().to_peer_id()
    }

    /// Diffie-Hellman of this key, as X25519 (the same secret scalar on the
    /// birationally equivalent curve), with the X25519 public key `theirs`.
    /// For sealing to this node: see [`crate::mailbox`].
    pub fn x25519_agree(&self, theirs: &[u8; 32]) -> [u8; 32] {
        curve25519_dalek::MontgomeryPoint(*theirs)
            .mul_clamped(self.signing.to_scalar_bytes())
            .to_bytes()
    }
}

/// Verifies many (key, message, signature) triples at once with ed25519 batch
/// verification: roughly twice as fast per signature as one by one. On failure
/// it does not say which triple was bad; callers fall back to [`PublicKey::verify`]
/// to find out.
pub fn verify_batch(items: &[(PublicKey, &[u8], Signature)]) -> Result<(), KeyError> {
    let mut keys = Vec::with_capacity(items.len());
    let mut msgs = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    for (key, msg, sig) in items {
        keys.push(key.verifying_key()?);
        msgs.push(*msg);
        sigs.push(ed25519_dalek::Signature::from_bytes(&sig.0));
    }
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).map_err(|_| KeyError::BadSignature)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_peer_id_gives_back_its_key() {
        let k = super::Keypair::generate();
        assert_eq!(
            super::PublicKey::from_peer_id(&k.peer_id()),
            Some(k.public())
        );
        let rsa_like = libp2p_identity::PeerId::random();
        assert_eq!(super::PublicKey::from_peer_id(&rsa_like), None);
    }

    use super::*;

    #[test]
    fn peer_id_of_public_key_matches_libp2p_identity() {
        let kp = Keypair::generate();
        assert_eq!(kp.public().peer_id().unwrap(), kp.peer_id());
        let restored = Keypair::from_secret(&kp.secret_bytes()).unwrap();
        assert_eq!(restored.public(), kp.public());
    }

    #[test]
    fn sign_verify_and_batch() {
        let keys: Vec<_> = (0..4).map(|_| Keypair::generate()).collect();
        let msgs: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 10]).collect();
        let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let mut items: Vec<_> = keys
            .iter()
            .zip(&msgs)
            .zip(&sigs)
            .map(|((k, m), s)| (k.public(), m.as_slice(), *s))
            .collect();
        assert!(verify_batch(&items).is_ok());
        for (k, m, s) in &items {
            k.verify(m, s).unwrap();
        }
        items[2].1 = b"tampered";
        assert_eq!(verify_batch(&items), Err(KeyError::BadSignature));
        assert_eq!(
            items[2].0.verify(items[2].1, &items[2].2),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash::of(&[b"abc"]);
        assert_eq!(h.to_hex().parse::<Hash>().unwrap(), h);
        assert!("abc".parse::<Hash>().is_err());
        assert!("zz".repeat(32).parse::<Hash>().is_err());
    }

    #[test]
    fn weak_key_is_refused() {
        // The identity point: a small-order key.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert_eq!(
            PublicKey(weak).verifying_key().err(),
            Some(KeyError::InvalidKey)
        );
    }
}
