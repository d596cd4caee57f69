//! Money: currencies, markets, amounts in minor units, exact rates, and the
//! one rounding direction of conversion.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use peerfx_core::money::*;

fn c(s: &str) -> Currency {
    s.parse().unwrap()
}

#[test]
fn currencies() {
    assert_eq!(c("eur").code(), "EUR");
    assert_eq!(c("JPY").exponent().unwrap(), 0);
    assert_eq!(c("BHD").exponent().unwrap(), 3);
    for bad in ["XXX", "XAU", "ABC", "EURO", "", "€"] {
        assert!(
            matches!(bad.parse::<Currency>(), Err(MoneyError::UnknownCurrency(_))),
            "{bad}"
        );
    }
    let m: Market = "USD-EUR".parse().unwrap();
    assert_eq!(m.to_string(), "EUR-USD");
    assert_eq!(m.topic(), "peerfx/1/market/EUR-USD");
    assert!(Market::new(c("EUR"), c("EUR")).is_err());
    let m: Market = "EUR-USD".parse().unwrap();
    assert_eq!(Market::from_topic(&m.topic()), Some(m));
    for t in [
        "peerfx/1/market/USD-EUR",
        "peerfx/1/market/eur-usd",
        "peerfx/2/market/EUR-USD",
        "peerfx/1/market/EUR/USD",
        "x",
    ] {
        assert_eq!(Market::from_topic(t), None, "{t}");
    }
}

#[test]
fn amounts_parse_exactly() {
    let eur = c("EUR");
    assert_eq!(Amount::parse("100", eur).unwrap(), Amount(10_000));
    assert_eq!(Amount::parse("99.5", eur).unwrap(), Amount(9_950));
    assert_eq!(Amount::parse("99.50", eur).unwrap(), Amount(9_950));
    assert!(matches!(
        Amount::parse("1.001", eur),
        Err(MoneyError::TooManyDecimals { .. })
    ));
    assert!(matches!(
        Amount::parse("1.5", c("JPY")),
        Err(MoneyError::TooManyDecimals { .. })
    ));
    assert!(matches!(
        Amount::parse("-1", eur),
        Err(MoneyError::Negative(_))
    ));
    assert!(matches!(
        Amount::parse("1e3", eur),
        Err(MoneyError::NotANumber(_))
    ));
    assert!(matches!(
        Amount::parse("99999999999999999999", eur),
        Err(MoneyError::Overflow)
    ));
    assert_eq!(Amount(9_950).display(eur), "99.50");
    assert_eq!(Amount(5).display(c("JPY")), "5");
    assert_eq!(Amount(1_005).display(c("BHD")), "1.005");
}

#[test]
fn rates() {
    assert_eq!("1.0800".parse::<Rate>().unwrap().to_string(), "1.08");
    assert!("0".parse::<Rate>().is_err());
    assert!("-1".parse::<Rate>().is_err());
    assert!("1000000001".parse::<Rate>().is_err());
    assert!("0.0000000001".parse::<Rate>().is_err());
    assert!("1.1234567890123".parse::<Rate>().is_err());
    let a: Rate = "1.08".parse().unwrap();
    let b: Rate = "1.1".parse().unwrap();
    assert!(a.sort_key() < b.sort_key());
    assert!(a < b);
    // 0.925 * 1.08 = 0.999 <= 1; 0.93 * 1.08 = 1.0044 > 1.
    assert!("0.925".parse::<Rate>().unwrap().product_at_most_one(&a));
    assert!(!"0.93".parse::<Rate>().unwrap().product_at_most_one(&a));
}

#[test]
fn conversion_examples() {
    let (eur, usd, jpy) = (c("EUR"), c("USD"), c("JPY"));
    let r: Rate = "1.08".parse().unwrap();
    // 100.00 EUR at 1.08 = 108.00 USD.
    assert_eq!(
        want_for_give(Amount(10_000), eur, usd, &r).unwrap(),
        Amount(10_800)
    );
    // 0.01 EUR at 1.08 = 0.0108 USD, rounded down to 0.01.
    assert_eq!(want_for_give(Amount(1), eur, usd, &r).unwrap(), Amount(1));
    // Across exponents: 1.00 EUR at 161.5 JPY = 161 JPY (down).
    let rj: Rate = "161.5".parse().unwrap();
    assert_eq!(
        want_for_give(Amount(100), eur, jpy, &rj).unwrap(),
        Amount(161)
    );
    // Inverse: 108.00 USD buys 100.00 EUR; 107.99 buys 99.99.
    assert_eq!(
        give_for_want(Amount(10_800), eur, usd, &r).unwrap(),
        Amount(10_000)
    );
    assert_eq!(
        give_for_want(Amount(10_799), eur, usd, &r).unwrap(),
        Amount(9_999)
    );
    // Overflow is an error.
    let big: Rate = "1000000000".parse().unwrap();
    assert_eq!(
        want_for_give(Amount(u64::MAX), eur, usd, &big),
        Err(MoneyError::Overflow)
    );
}

#[test]
fn rate_wire_rejects_unnormalized() {
    let r: Rate = "1.08".parse().unwrap();
    let bytes = peerfx_core::codec::encode(&r);
    assert_eq!(peerfx_core::codec::decode::<Rate>(&bytes).unwrap(), r);
    // 1.080 spelled as (1080, 3) is the same value with a different spelling.
    let alt = peerfx_core::codec::encode(&(1080u64, 3u8));
    assert!(peerfx_core::codec::decode::<Rate>(&alt).is_err());
}
