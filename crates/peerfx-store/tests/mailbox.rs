//! The mailbox a host keeps for others: bounds per recipient, per author
//! and in all; in the order they arrived; a recipient deletes only its own; expiry.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::mailbox::{seal, MailItem};
use peerfx_core::testing::NOW;
use peerfx_core::{Hash, Keypair, PublicKey, Signed, Timestamp};
use peerfx_store::mailbox::{MailboxLimits, MailboxPut};
use peerfx_store::{Store, StoreConfig};

const LIMITS: MailboxLimits = MailboxLimits {
    per_recipient: 3,
    per_author: 4,
    total: 6,
};

fn envelope(
    from: &Keypair,
    to: &PublicKey,
    at: Timestamp,
    n: u8,
) -> Signed<peerfx_core::mailbox::Envelope> {
    let item = MailItem::Receipt {
        trade_id: Hash([n; 32]),
        seq: 1,
    };
    seal(from, to, &item, at, 3600, [n; 32]).unwrap()
}

#[tokio::test]
async fn a_host_keeps_envelopes_within_its_bounds_and_hands_them_out_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let (alice, bob, carol) = (
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
    );
    // Sealed in one second, or even out of order: they come out as they
    // came in, which is the order their author sent them.
    let to_bob: Vec<_> = (0..4)
        .map(|n| envelope(&alice, &bob.public(), NOW.plus(10 - u64::from(n)), n))
        .collect();
    for e in &to_bob[..3] {
        assert_eq!(
            store.mailbox_put(e.clone(), LIMITS).await.unwrap(),
            MailboxPut::Stored
        );
    }
    assert_eq!(
        store.mailbox_put(to_bob[0].clone(), LIMITS).await.unwrap(),
        MailboxPut::Duplicate
    );
    assert_eq!(
        store.mailbox_put(to_bob[3].clone(), LIMITS).await.unwrap(),
        MailboxPut::RecipientFull
    );
    // Alice's fourth, to Carol, fits her share; her fifth does not.
    let to_carol = envelope(&alice, &carol.public(), NOW, 10);
    assert_eq!(
        store.mailbox_put(to_carol, LIMITS).await.unwrap(),
        MailboxPut::Stored
    );
    assert_eq!(
        store
            .mailbox_put(envelope(&alice, &carol.public(), NOW, 11), LIMITS)
            .await
            .unwrap(),
        MailboxPut::AuthorFull
    );
    // Others fill the host.
    let dave = Keypair::generate();
    for n in 12..14 {
        let e = envelope(&dave, &carol.public(), NOW, n);
        assert_eq!(
            store.mailbox_put(e, LIMITS).await.unwrap(),
            MailboxPut::Stored
        );
    }
    assert_eq!(
        store
            .mailbox_put(envelope(&dave, &carol.public(), NOW, 14), LIMITS)
            .await
            .unwrap(),
        MailboxPut::Full
    );

    let (page, more) = store.mailbox_page(&bob.public(), 2).unwrap();
    assert!(more);
    assert_eq!(page, vec![to_bob[0].clone(), to_bob[1].clone()]);
    // Carol cannot delete Bob's; Bob can.
    let ids: Vec<Hash> = page.iter().map(Signed::id).collect();
    assert_eq!(
        store
            .mailbox_delete(carol.public(), ids.clone())
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.mailbox_delete(bob.public(), ids).await.unwrap(), 2);
    assert_eq!(
        store.mailbox_page(&bob.public(), 16).unwrap(),
        (vec![to_bob[2].clone()], false)
    );
    assert_eq!(store.mailbox_len(), 4);
    // An hour on, everything has expired.
    assert_eq!(store.mailbox_purge(NOW.plus(3600 + 10)).await.unwrap(), 4);
    assert_eq!(store.mailbox_len(), 0);
}
