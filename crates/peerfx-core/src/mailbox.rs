//! Store and forward: what a trader sends a counterparty that is offline
//! waits, sealed, in a mailbox on a peer both reach (a relay), until the
//! counterparty comes back and fetches it.
//!
//! An [`Envelope`] is **sealed to the recipient**: the author makes a
//! one-time X25519 key, agrees a secret with the recipient's key (its
//! ed25519 identity, taken to the X25519 curve), derives a ChaCha20-Poly1305
//! key from it, and encrypts one [`MailItem`]. The mailbox host sees who
//! writes to whom and when, and how big, but not what: not the trade, not
//! the step, not the chat. The envelope is **signed by its author** (the
//! host charges quotas to an author it can prove, and the recipient knows
//! who sealed it), and what it carries is signed again inside (a trade
//! message by its author; a receipt is the envelope's own signature).
//!
//! The content is bound to the envelope: the AEAD's associated data is the
//! author and recipient keys, so a host cannot re-address a sealed content
//! to someone else, and a content sealed by one author cannot be re-signed
//! by another without the recipient noticing (the trade message's author
//! must be the envelope's).
//!
//! Pure, like the rest of this crate: the caller passes the clock and the
//! one-time secret.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::MontgomeryPoint;
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::keys::{Hash, Keypair, PublicKey, X25519Public};
use crate::message::{Body, Signed, Timestamp, TradeId, TradeMessage};

/// Most bytes of an envelope's sealed content: a trade message of the
/// largest size ([`crate::WireLimits::max_message_bytes`]) and the AEAD tag,
/// with room to spare.
pub const MAX_SEALED_BYTES: usize = 4096 + 256;

/// Longest an envelope may wait: a week. A trade's messages stop mattering
/// a day after its settle deadline, and no payment window is longer than
/// the taker accepts (days).
pub const MAX_ENVELOPE_TTL_SECS: u64 = 7 * 86_400;

/// Most seconds an envelope's `created_at` may be ahead of the reader's
/// clock.
pub const MAX_ENVELOPE_SKEW_SECS: u64 = 300;

/// A sealed item from `from` to `to`, signed by `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The author, who signs the envelope.
    pub from: PublicKey,
    /// The recipient, the only one who can open it.
    pub to: PublicKey,
    /// When it was sealed.
    pub created_at: Timestamp,
    /// When hosts may drop it unread.
    pub expires_at: Timestamp,
    /// The author's one-time X25519 key for this envelope.
    pub ephemeral: X25519Public,
    /// ChaCha20-Poly1305 of the encoded [`MailItem`].
    pub sealed: Vec<u8>,
}

impl Body for Envelope {
    const DOMAIN: &'static str = "peerfx/envelope/v1";
    fn author(&self) -> &PublicKey {
        &self.from
    }
}

/// What an envelope carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailItem {
    /// A trade step or chat line, signed by its author (the envelope's).
    Message(Signed<TradeMessage>),
    /// "I have your messages of this trade up to `seq`": the end-to-end
    /// acknowledgement, signed as the envelope is.
    Receipt {
        /// The trade.
        trade_id: TradeId,
        /// The highest seq of the envelope's recipient that its author
        /// stored.
        seq: u32,
    },
}

/// Why an envelope is refused or cannot be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The author's signature does not verify.
    #[error("the envelope's signature does not verify")]
    BadSignature,
    /// The recipient key is not a usable ed25519 key.
    #[error("the recipient's key is not a valid ed25519 key")]
    BadRecipient,
    /// The sealed content is too large.
    #[error("sealed content of {size} bytes, over the limit of {MAX_SEALED_BYTES}")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// It would wait longer than [`MAX_ENVELOPE_TTL_SECS`].
    #[error("it would wait {secs} s, longer than the {MAX_ENVELOPE_TTL_SECS} s allowed")]
    TooLong {
        /// From creation to expiry.
        secs: u64,
    },
    /// Its expiry has passed.
    #[error("the envelope expired")]
    Expired,
    /// Sealed in the future, beyond [`MAX_ENVELOPE_SKEW_SECS`].
    #[error("the envelope was sealed in the future")]
    FromTheFuture,
    /// Addressed to another key.
    #[error("the envelope is not addressed to this node")]
    NotForMe,
    /// The content does not decrypt: not sealed to this key, or altered.
    #[error("the envelope cannot be opened (not sealed to this key, or altered)")]
    CannotOpen,
    /// The content decrypts to something malformed.
    #[error("the envelope's content is malformed: {0}")]
    Malformed(CodecError),
    /// A trade message inside is not by the envelope's author.
    #[error("the message inside is not by the envelope's author")]
    AuthorMismatch,
}

/// Seals `item` from `author` to `to`, valid for `ttl_secs` from `now`.
/// `one_time_secret` must be fresh random bytes for every envelope (the
/// caller's random source: this crate reads none).
pub fn seal(
    author: &Keypair,
    to: &PublicKey,
    item: &MailItem,
    now: Timestamp,
    ttl_secs: u64,
    one_time_secret: [u8; 32],
) -> Result<Signed<Envelope>, MailError> {
    let recipient = to.to_x25519().map_err(|_| MailError::BadRecipient)?;
    let ephemeral = MontgomeryPoint::mul_base_clamped(one_time_secret).to_bytes();
    let shared = MontgomeryPoint(recipient)
        .mul_clamped(one_time_secret)
        .to_bytes();
    let from = author.public();
    let cipher = ChaCha20Poly1305::new(&content_key(&shared, &ephemeral, &recipient));
    let sealed = cipher
        .encrypt(
            // The key is new for every envelope: one message per key, so
            // the all-zero nonce is never reused.
            &Nonce::default(),
            Payload {
                msg: &codec::encode(item),
                aad: &associated_data(&from, to),
            },
        )
        .map_err(|_| MailError::CannotOpen)?;
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(MailError::TooLarge { size: sealed.len() });
    }
    let envelope = Envelope {
        from,
        to: *to,
        created_at: now,
        expires_at: now.plus(ttl_secs.min(MAX_ENVELOPE_TTL_SECS)),
        ephemeral: X25519Public(ephemeral),
        sealed,
    };
    Ok(Signed::sign(envelope, author))
}

/// What a host checks before it keeps an envelope, and a recipient before
/// it opens one: the signature, the size, and the times.
pub fn check(envelope: &Signed<Envelope>, now: Timestamp) -> Result<(), MailError> {
    let e = &envelope.body;
    if e.sealed.len() > MAX_SEALED_BYTES {
        return Err(MailError::TooLarge {
            size: e.sealed.len(),
        });
    }
    let secs = e.expires_at.since(e.created_at);
    if secs > MAX_ENVELOPE_TTL_SECS {
        return Err(MailError::TooLong { secs });
    }
    if e.created_at > now.plus(MAX_ENVELOPE_SKEW_SECS) {
        return Err(MailError::FromTheFuture);
    }
    if e.expires_at <= now {
        return Err(MailError::Expired);
    }
    envelope.verify().map_err(|_| MailError::BadSignature)
}

/// Checks and opens an envelope addressed to `me`.
pub fn open(
    me: &Keypair,
    envelope: &Signed<Envelope>,
    now: Timestamp,
) -> Result<MailItem, MailError> {
    check(envelope, now)?;
    let e = &envelope.body;
    if e.to != me.public() {
        return Err(MailError::NotForMe);
    }
    let recipient = e.to.to_x25519().map_err(|_| MailError::BadRecipient)?;
    let shared = me.x25519_agree(e.ephemeral.as_bytes());
    let cipher = ChaCha20Poly1305::new(&content_key(&shared, e.ephemeral.as_bytes(), &recipient));
    let plain = cipher
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: &e.sealed,
                aad: &associated_data(&e.from, &e.to),
            },
        )
        .map_err(|_| MailError::CannotOpen)?;
    let item: MailItem = codec::decode(&plain).map_err(MailError::Malformed)?;
    if let MailItem::Message(m) = &item {
        if m.body.author != e.from {
            return Err(MailError::AuthorMismatch);
        }
    }
    Ok(item)
}

/// The content key: SHA-256 over a domain, the shared secret, and both
/// public halves of the exchange (so the key commits to who it is between).
fn content_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Key {
    let h = Hash::of(&[b"peerfx/envelope-key/v1\0", shared, ephemeral, recipient]);
    Key::from(h.0)
}

fn associated_data(from: &PublicKey, to: &PublicKey) -> [u8; 64] {
    let mut aad = [0u8; 64];
    aad[..32].copy_from_slice(from.as_bytes());
    aad[32..].copy_from_slice(to.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::NOW;

    fn receipt() -> MailItem {
        MailItem::Receipt {
            trade_id: Hash([7; 32]),
            seq: 3,
        }
    }

    #[test]
    fn only_the_recipient_opens_what_was_sealed_to_it() {
        let (alice, bob, eve) = (
            Keypair::generate(),
            Keypair::generate(),
            Keypair::generate(),
        );
        let env = seal(&alice, &bob.public(), &receipt(), NOW, 3600, [1; 32]).unwrap();
        assert_eq!(open(&bob, &env, NOW).unwrap(), receipt());
        assert_eq!(open(&eve, &env, NOW), Err(MailError::NotForMe));
        // Eve re-addresses it to herself and signs it as her own: the key
        // was agreed with Bob's, and the content names Alice.
        let mut forged = env.body.clone();
        forged.to = eve.public();
        forged.from = eve.public();
        let forged = Signed::sign(forged, &eve);
        assert_eq!(open(&eve, &forged, NOW), Err(MailError::CannotOpen));
    }

    #[test]
    fn an_altered_envelope_is_refused() {
        let (alice, bob) = (Keypair::generate(), Keypair::generate());
        let env = seal(&alice, &bob.public(), &receipt(), NOW, 3600, [2; 32]).unwrap();
        let mut flipped = env.clone();
        flipped.body.sealed[0] ^= 1;
        assert_eq!(open(&bob, &flipped, NOW), Err(MailError::BadSignature));
        // Re-signed by the author after the change: the AEAD still says no.
        let resigned = Signed::sign(flipped.body, &alice);
        assert_eq!(open(&bob, &resigned, NOW), Err(MailError::CannotOpen));
    }

    #[test]
    fn times_and_sizes_are_bounded() {
        let (alice, bob) = (Keypair::generate(), Keypair::generate());
        let env = seal(&alice, &bob.public(), &receipt(), NOW, 3600, [3; 32]).unwrap();
        assert_eq!(check(&env, NOW.plus(3600)), Err(MailError::Expired));
        assert_eq!(
            check(&env, NOW.minus(MAX_ENVELOPE_SKEW_SECS + 1)),
            Err(MailError::FromTheFuture)
        );
        let mut long = env.body.clone();
        long.expires_at = NOW.plus(MAX_ENVELOPE_TTL_SECS + 1);
        assert!(matches!(
            check(&Signed::sign(long, &alice), NOW),
            Err(MailError::TooLong { .. })
        ));
        let mut big = env.body.clone();
        big.sealed = vec![0; MAX_SEALED_BYTES + 1];
        assert!(matches!(
            check(&Signed::sign(big, &alice), NOW),
            Err(MailError::TooLarge { .. })
        ));
        // A sealing asks for at most the longest wait.
        let capped = seal(&alice, &bob.public(), &receipt(), NOW, u64::MAX, [4; 32]).unwrap();
        assert_eq!(capped.body.expires_at, NOW.plus(MAX_ENVELOPE_TTL_SECS));
    }

    #[test]
    fn a_message_inside_must_be_by_the_envelopes_author() {
        let (alice, bob, mallory) = (
            Keypair::generate(),
            Keypair::generate(),
            Keypair::generate(),
        );
        let by_alice = TradeMessage {
            trade_id: Hash([9; 32]),
            author: alice.public(),
            seq: 1,
            created_at: NOW,
            action: crate::TradeAction::Paid,
        };
        let signed = Signed::sign(by_alice, &alice);
        let item = MailItem::Message(signed);
        let env = seal(&alice, &bob.public(), &item, NOW, 3600, [5; 32]).unwrap();
        assert_eq!(open(&bob, &env, NOW).unwrap(), item);
        // Mallory forwards Alice's message as if she wrote it.
        let env = seal(&mallory, &bob.public(), &item, NOW, 3600, [6; 32]).unwrap();
        assert_eq!(open(&bob, &env, NOW), Err(MailError::AuthorMismatch));
    }
}
