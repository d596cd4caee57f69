//! `trades`, `trade ...`.

use serde_json::json;

use super::client::{with_query, Client};
use super::render::{chat_lines, next_page_hint, show_trade, trades_table};
use super::{print, PageArgs, TradeCmd};
use crate::api::dto::{PageJson, TradeJson};

pub fn list(c: &Client, page: &PageArgs, json_out: bool) -> anyhow::Result<()> {
    let path = with_query("/v1/trades", &page.query());
    print(c.get(&path)?, json_out, |p: PageJson<TradeJson>| {
        trades_table(&p.items);
        next_page_hint(&p.next, "peerfx trades");
    })
}

pub fn trade(c: &Client, cmd: TradeCmd, json_out: bool) -> anyhow::Result<()> {
    let (id, step, body) = match cmd {
        TradeCmd::Show { id } => {
            return print(
                c.get(&format!("/v1/trades/{id}"))?,
                json_out,
                |t: TradeJson| show_trade(&t),
            )
        }
        TradeCmd::Export { id, file } => return super::evidence::export(c, &id, &file, json_out),
        TradeCmd::Rate { id, score, comment } => {
            return super::reputation::rate(c, &id, score, comment, json_out)
        }
        TradeCmd::Chat { id, message: None } => {
            return print(
                c.get(&format!("/v1/trades/{id}"))?,
                json_out,
                |t: TradeJson| chat_lines(&t),
            )
        }
        TradeCmd::Chat {
            id,
            message: Some(text),
        } => (id, "chat", json!({ "text": text })),
        TradeCmd::Paid { id } => (id, "paid", json!({})),
        TradeCmd::Received { id } => (id, "received", json!({})),
        TradeCmd::Cancel { id } => (id, "cancel", json!({})),
        TradeCmd::Close { id } => (id, "close", json!({})),
        TradeCmd::Dispute { id, reason } => (id, "dispute", json!({ "reason": reason })),
    };
    print(
        c.post(&format!("/v1/trades/{id}/{step}"), body)?,
        json_out,
        |t: TradeJson| {
            match &t.failure {
                Some(why) => println!("{step}: trade {} is {}: {why}", t.id, t.state),
                None => println!("{step}: trade {} is {}", t.id, t.state),
            }
            if t.cancel_pending {
                println!("the counterparty is not reachable now; the cancel takes effect once it answers");
            } else if let Some(why) = &t.refused_by_peer {
                println!(
                    "refused by the counterparty, for good: {}",
                    peerfx_core::text::escape(why)
                );
            } else if t.undelivered > 0 {
                println!("the counterparty is not reachable now; the message is stored and will be resent");
            }
        },
    )
}
