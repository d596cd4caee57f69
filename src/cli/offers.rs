//! `offer ...`, `book`, `take`.

use serde_json::{json, Value};

use super::client::{with_query, Client};
use super::render::{empty_book_hint, next_page_hint, offers_table, show_trade};
use super::{print, BookArgs, OfferCmd};
use crate::api::dto::{OfferJson, PageJson, TradeJson};

pub fn offer(c: &Client, cmd: OfferCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        OfferCmd::Post {
            give,
            min,
            max,
            want,
            rate,
            pay,
            near,
            expires,
            note,
        } => {
            let body = json!({
                "give": give, "want": want, "min": min, "max": max, "rate": rate,
                "pay": pay, "near": near, "expires_secs": crate::duration::parse(&expires)?, "note": note,
            });
            print(c.post("/v1/offers", body)?, json_out, |o: OfferJson| {
                println!("posted {}", o.id);
                offers_table(&[o], true);
            })
        }
        OfferCmd::List { page } => {
            let path = with_query("/v1/offers", &page.query());
            print(c.get(&path)?, json_out, |p: PageJson<OfferJson>| {
                offers_table(&p.items, true);
                next_page_hint(&p.next, "peerfx offer list");
            })
        }
        OfferCmd::Cancel { id } => print(
            c.delete(&format!("/v1/offers/{id}"))?,
            json_out,
            |_: Value| println!("cancelled {id}"),
        ),
        OfferCmd::Republish { id } => print(
            c.post(&format!("/v1/offers/{id}/republish"), json!({}))?,
            json_out,
            |o: OfferJson| {
                println!("republished {id} as {}", o.id);
                offers_table(&[o], true);
            },
        ),
    }
}

pub fn book(c: &Client, q: &BookArgs, json_out: bool) -> anyhow::Result<()> {
    let path = with_query(
        "/v1/book",
        &[
            ("market", q.market.clone()),
            ("give", q.give.clone()),
            ("want", q.want.clone()),
            ("amount", q.amount.clone()),
            ("min_rate", q.min_rate.clone()),
            ("pay", q.pay.clone()),
            ("near", q.near.clone()),
            ("radius_km", q.radius_km.map(|r| r.to_string())),
            ("limit", q.limit.map(|l| l.to_string())),
            ("min_trades", q.min_trades.map(|n| n.to_string())),
            ("min_score", q.min_score.clone()),
            ("sort", q.sort.clone()),
            (
                "include_offline",
                q.include_offline.then(|| "true".to_string()),
            ),
        ],
    );
    let book = c.get(&path)?;
    let empty = book.as_array().is_some_and(Vec::is_empty);
    print(book, json_out, |v: Vec<OfferJson>| offers_table(&v, false))?;
    if empty && !json_out {
        let id = c.get("/v1/id")?;
        let count = |k: &str| id.get(k).and_then(Value::as_u64).unwrap_or(0);
        if let Some(hint) = empty_book_hint(count("peers"), count("syncing")) {
            println!("{hint}");
        }
    }
    Ok(())
}

pub fn take(
    c: &Client,
    offer_id: &str,
    amount: &str,
    rate: Option<String>,
    pay: Option<String>,
    json_out: bool,
) -> anyhow::Result<()> {
    let body = json!({ "offer_id": offer_id, "amount": amount, "rate": rate, "pay": pay });
    print(c.post("/v1/take", body)?, json_out, |t: TradeJson| {
        println!("trade agreed: {}", t.id);
        show_trade(&t);
    })
}
