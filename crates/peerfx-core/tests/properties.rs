//! Property tests of the wire format, conversion and matching.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use peerfx_core::codec;
use peerfx_core::testing::NOW;
use peerfx_core::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn keys() -> &'static [Keypair] {
    static KEYS: OnceLock<Vec<Keypair>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0u8..4)
            .map(|i| Keypair::from_secret(&[i + 1; 32]).unwrap())
            .collect()
    })
}

const CODES: [&str; 5] = ["EUR", "USD", "JPY", "BHD", "GBP"];
const METHODS: [&str; 4] = ["cash", "sepa", "wise", "mpesa"];
const CELLS: [&str; 4] = ["u33dc", "u33", "u09tv", "9q8yy"];

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(&CODES[..]).prop_map(|c| c.parse().unwrap())
}

fn rate() -> impl Strategy<Value = Rate> {
    (1u64..10_000_000, 0u32..8).prop_filter_map("in range", |(m, s)| {
        Rate::new(Decimal::new(m as i64, s)).ok()
    })
}

prop_compose! {
    fn offer()(
        k in 0usize..4,
        (give, want) in (currency(), currency()).prop_filter("distinct", |(a, b)| a != b),
        min in 1u64..100_000,
        extra in 0u64..1_000_000,
        rate in rate(),
        methods in prop::sample::subsequence(&METHODS[..], 1..=4),
        cell in prop::option::of(prop::sample::select(&CELLS[..])),
        note in "[a-zA-Z0-9 ]{0,40}",
        lifetime in 1u64..86_400,
        nonce: u64,
    ) -> (usize, Offer) {
        (k, Offer {
            maker: keys()[k].public(),
            give,
            min_give: Amount(min),
            max_give: Amount(min + extra),
            want,
            rate,
            payment_methods: methods.iter().map(|m| m.parse().unwrap()).collect(),
            geohash: cell.map(|c| c.parse().unwrap()),
            note,
            created_at: NOW,
            expires_at: NOW.plus(lifetime),
            nonce,
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn encode_decode_encode_is_identity((k, o) in offer()) {
        let signed = Signed::sign(o, &keys()[k]);
        let bytes = signed.to_bytes();
        let back: Signed<Offer> = codec::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &signed);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn flipping_any_byte_breaks_decode_or_verify((k, o) in offer(), pos: prop::sample::Index, bit in 0u8..8) {
        let signed = Signed::sign(o, &keys()[k]);
        let mut bytes = signed.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let verdict = codec::decode::<Signed<Offer>>(&bytes)
            .map_err(|_| ())
            .and_then(|m| m.verify().map_err(|_| ()));
        prop_assert!(verdict.is_err(), "flip at {} accepted", i);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut b = bytes;
        if let Some(first) = b.first_mut() { *first = codec::FORMAT_VERSION; }
        let _ = decode_and_validate::<Offer>(&b, NOW, &WireLimits::default());
        let _ = codec::decode::<Signed<TradeMessage>>(&b);
        let _ = codec::decode::<TakeReply>(&b);
    }

    #[test]
    fn huge_length_prefixes_are_errors(claim in (1u64 << 20)..u64::MAX, marker in prop::sample::select(vec![252u8, 253])) {
        let mut b = vec![codec::FORMAT_VERSION, marker];
        if marker == 252 { b.extend_from_slice(&(claim as u32).max(1 << 20).to_le_bytes()); } else { b.extend_from_slice(&claim.to_le_bytes()); }
        prop_assert!(codec::decode::<Vec<u8>>(&b).is_err());
        prop_assert!(codec::decode::<Vec<Signed<Offer>>>(&b).is_err());
        prop_assert!(codec::decode::<String>(&b).is_err());
    }

    /// The computing side (the maker, who receives `want`) never gains: the result
    /// is at most the exact value and less than one minor unit below it.
    #[test]
    fn rounding_never_favours_the_computing_side(
        give_amount in 0u64..1_000_000_000_000, rate in rate(),
        (give, want) in (currency(), currency()),
    ) {
        let r = rate.as_decimal();
        let (m, s) = (r.mantissa() as u128, r.scale());
        let (ge, we) = (give.exponent().unwrap() as u32, want.exponent().unwrap() as u32);
        let exact_num = give_amount as u128 * m * 10u128.pow(we);
        let den = 10u128.pow(ge + s);
        let w = match want_for_give(Amount(give_amount), give, want, &rate) {
            Ok(w) => w.0 as u128,
            // Overflow is reported exactly when the true result does not fit.
            Err(MoneyError::Overflow) => {
                prop_assert!(exact_num / den > u64::MAX as u128);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        prop_assert!(w * den <= exact_num);
        prop_assert!(exact_num < (w + 1) * den);

        // The inverse also rounds down: what a budget buys never costs more than it.
        let g = give_for_want(Amount(give_amount), give, want, &rate).unwrap();
        let cost = want_for_give(g, give, want, &rate).unwrap();
        prop_assert!(cost.0 <= give_amount);
    }

    /// Matching is sound (every result passes every filter), complete (every entry
    /// left out fails one) and ordered best first.
    #[test]
    fn matching_returns_exactly_the_offers_that_satisfy_every_filter(
        offers in prop::collection::vec(offer(), 1..40),
        remaining in prop::collection::vec(0u64..1_200_000, 40),
        pay in currency(), receive in currency(),
        pay_amount in prop::option::of(1u64..2_000_000),
        min_rate in prop::option::of(rate()),
        method in prop::option::of(prop::sample::select(&METHODS[..])),
        near in prop::option::of((prop::sample::select(&CELLS[..]), 0u32..2000)),
    ) {
        // Generated offers that validation refuses (say, a minimum that prices to
        // zero) never reach a book, so they are left out here too.
        let entries: Vec<BookEntry> = offers.into_iter().zip(remaining).filter_map(|((k, o), rem)| {
            let rem = Amount(rem.min(o.max_give.0));
            Some(BookEntry {
                offer: validate(Signed::sign(o, &keys()[k]), NOW, &WireLimits::default()).ok()?,
                remaining: rem,
                seq: 0,
                announced_at: NOW,
            })
        }).collect();
        let query = MatchQuery {
            pay, receive,
            pay_amount: pay_amount.map(Amount),
            min_rate,
            payment_method: method.map(|m| m.parse().unwrap()),
            near: near.map(|(c, r)| (c.parse().unwrap(), r)),
        };
        let results = match_offers(&entries, &query, NOW);

        // Independent model of each filter, in decimals.
        let passes = |e: &BookEntry| -> bool {
            let o = e.offer.body();
            o.give == receive && o.want == pay
                && min_rate.is_none_or(|q| o.rate.as_decimal().checked_mul(q.as_decimal()).unwrap() <= Decimal::ONE)
                && method.is_none_or(|m| o.payment_methods.iter().any(|p| p.as_str() == m))
                && near.is_none_or(|(c, r)| o.geohash.as_ref().is_some_and(|g| c.parse::<Geohash>().unwrap().within_km(g, r).unwrap()))
        };
        for (e, fill) in &results {
            prop_assert!(passes(e));
            prop_assert!(fill.give_amount <= e.remaining);
            prop_assert!(fill.give_amount >= e.offer.min_give.min(e.remaining));
            if let Some(budget) = pay_amount { prop_assert!(fill.want_amount.0 <= budget); }
        }
        for e in &entries {
            if !results.iter().any(|(r, _)| r.offer.id() == e.offer.id()) {
                // Left out: fails a filter, or no fill fits (nothing left, or the budget
                // is below the smallest fill).
                let fits = fill_range(e.offer.body(), e.remaining).is_some_and(|(lo, _)| {
                    pay_amount.is_none_or(|b| {
                        want_for_give(lo, e.offer.give, e.offer.want, &e.offer.rate).unwrap().0 <= b
                    })
                });
                prop_assert!(!(passes(e) && fits), "offer wrongly left out");
            }
        }
        for pair in results.windows(2) {
            prop_assert!(pair[0].0.offer.rate <= pair[1].0.offer.rate);
        }
    }
}
