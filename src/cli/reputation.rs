//! `trade rate`, `peer show`.

use serde_json::json;

use super::client::Client;
use super::print;
use super::render::{short, when};
use crate::api::reputation::{ProfileJson, RatingJson};
use peerfx_core::text::escape;

pub fn rate(
    c: &Client,
    id: &str,
    score: u8,
    comment: String,
    json_out: bool,
) -> anyhow::Result<()> {
    let body = json!({ "score": score, "comment": comment });
    print(
        c.post(&format!("/v1/trades/{id}/rate"), body)?,
        json_out,
        |r: RatingJson| {
            println!(
                "rated {} {}/5 for trade {} ({}); sent to the market",
                r.rated, r.score, r.trade_id, r.outcome
            );
        },
    )
}

pub fn show(c: &Client, peer: &str, json_out: bool) -> anyhow::Result<()> {
    print(
        c.get(&format!("/v1/peers/{peer}"))?,
        json_out,
        |p: ProfileJson| show_profile(&p),
    )
}

/// "1 trade", "2 trades".
fn count(n: u32, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn show_profile(p: &ProfileJson) {
    println!("peer           {}", p.peer);
    match &p.score {
        Some(s) => println!("score          {s} / 5 (from your point of view)"),
        None => println!("score          none: nobody you know of has rated this peer"),
    }
    println!(
        "completed      {}{}",
        count(p.completed, "trade"),
        if p.completed_unvouched > 0 {
            format!(
                " (and {} more rated only by peers without history)",
                p.completed_unvouched
            )
        } else {
            String::new()
        }
    );
    println!(
        "failed         {} through its fault",
        count(p.failures, "trade")
    );
    println!("rated by       {}", count(p.counterparties, "peer"));
    if let (Some(first), Some(last)) = (p.first_seen, p.last_seen) {
        println!("first seen     {}", when(first));
        println!("last seen      {}", when(last));
    }
    for r in &p.recent {
        println!(
            "rating         {}/5 by {} ({}){}",
            r.score,
            short(&r.rater),
            r.outcome,
            if r.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&r.comment))
            }
        );
    }
}
