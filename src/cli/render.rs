//! How the CLI prints: aligned tables, one trade in full, and every string
//! that comes from a peer escaped, so a note or chat line can never move the
//! cursor, erase a line, rename the terminal or reorder text.

use peerfx_core::text::escape;

use crate::api::dto::{OfferJson, TradeJson};

/// Prints rows as an aligned table; every cell is escaped.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.iter().map(|c| escape(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    if rows.is_empty() {
        println!("(none)");
    }
    for r in rows {
        line(r);
    }
}

/// The start of a peer id, without its common prefix.
/// How long ago Unix second `at` was, roughly ("14m", "3h", "2d").
fn ago(at: u64) -> String {
    let secs = peerfx_node::now().since(peerfx_core::Timestamp(at));
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn short(s: &str) -> String {
    s.trim_start_matches("12D3KooW").chars().take(12).collect()
}

pub fn offers_table(offers: &[OfferJson], own: bool) {
    let rows = offers
        .iter()
        .map(|o| {
            vec![
                o.id.clone(),
                format!("{} {}–{}", o.give, o.min, o.max),
                format!("{} {}", o.remaining, o.give),
                format!("{} {}/{}", o.rate, o.want, o.give),
                o.payment_methods.join(","),
                o.geohash.clone().unwrap_or_else(|| "-".into()),
                if own {
                    o.status.clone()
                } else {
                    match (&o.maker_presence, o.maker_last_seen) {
                        (Some(p), _) if p == "online" => format!("{} online", short(&o.maker)),
                        (Some(p), Some(at)) => {
                            format!("{} {p}, seen {} ago", short(&o.maker), ago(at))
                        }
                        _ => short(&o.maker),
                    }
                },
                if own {
                    String::new()
                } else {
                    match &o.maker_score {
                        Some(s) => format!("{s} ({} trades)", o.maker_trades),
                        None => "new".into(),
                    }
                },
                o.note.clone(),
            ]
        })
        .collect();
    let who = if own { "status" } else { "maker" };
    table(
        &[
            "id",
            "gives",
            "remaining",
            "rate",
            "pay",
            "near",
            who,
            if own { "" } else { "reputation" },
            "note",
        ],
        rows,
    );
}

pub fn trades_table(trades: &[TradeJson]) {
    let rows = trades
        .iter()
        .map(|t| {
            let maker_side = format!("{} {}", t.give_amount, t.give);
            let taker_side = format!("{} {}", t.want_amount, t.want);
            let (you_give, you_get) = if t.role == "maker" {
                (maker_side, taker_side)
            } else {
                (taker_side, maker_side)
            };
            vec![
                t.id.clone(),
                t.role.clone(),
                t.state.clone(),
                you_give,
                you_get,
                t.payment_method.clone(),
                short(&t.counterparty),
            ]
        })
        .collect();
    table(
        &[
            "id",
            "role",
            "state",
            "you give",
            "you get",
            "pay",
            "counterparty",
        ],
        rows,
    );
}

pub fn chat_lines(t: &TradeJson) {
    for m in &t.chat {
        println!("[{}] {}: {}", m.at, short(&m.from), escape(&m.text));
    }
}

pub fn show_trade(t: &TradeJson) {
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("trade        {}", t.id);
    println!("offer        {}", t.offer_id);
    println!("you are      {}", t.role);
    match &t.failure {
        Some(why) => println!("state        {}: {}", t.state, why),
        None => println!("state        {}", t.state),
    }
    println!("maker gives  {} {}", t.give_amount, t.give);
    println!(
        "taker gives  {} {}  (rate {})",
        t.want_amount, t.want, t.rate
    );
    println!("payment      {}", t.payment_method);
    println!(
        "pay by       {}; expires if nobody has paid by then",
        when(t.deadline)
    );
    println!(
        "settle by    {}; fails if not completed by then",
        when(t.settle_by)
    );
    if t.can_close {
        println!("close        you may close it now: you paid and the counterparty did not (peerfx trade close {})", t.id);
    }
    println!("counterparty {}", t.counterparty);
    println!(
        "maker        paid {}, received {}",
        yes(t.maker_paid),
        yes(t.maker_received)
    );
    println!(
        "taker        paid {}, received {}",
        yes(t.taker_paid),
        yes(t.taker_received)
    );
    if t.cancel_pending {
        println!("cancel       sent, awaiting the counterparty (it takes effect on both sides or on neither)");
    }
    if let Some(why) = &t.refused_by_peer {
        println!(
            "refused      by the peer, for good: {} ({} of your messages undelivered)",
            escape(why),
            t.undelivered
        );
    } else if t.undelivered > 0 {
        println!(
            "undelivered  {} of your messages (the peer is offline; resent automatically)",
            t.undelivered
        );
    }
    for c in &t.chat {
        println!(
            "chat         [{}] {}: {}",
            c.at,
            short(&c.from),
            escape(&c.text)
        );
    }
}

/// Why an empty book may be empty, when the node can tell.
pub fn empty_book_hint(peers: u64, syncing: u64) -> Option<String> {
    match (peers, syncing) {
        (0, _) => Some(
            "not connected to any peer yet: pass --bootstrap to the daemon, or wait \
             for peers on the LAN"
                .into(),
        ),
        (_, 0) => None,
        (_, n) => Some(format!(
            "still syncing the book from {n} peer{}: try again in a moment",
            if n == 1 { "" } else { "s" }
        )),
    }
}

/// Where the next page starts, if there is one.
pub fn next_page_hint(next: &Option<String>, command: &str) {
    if let Some(n) = next {
        println!("more: {command} --after {n}");
    }
}

/// A unix time as a date (UTC) and how far it is from now: "Sat, 05 Dec
/// 2026 14:03:19 GMT (in 2 d 23 h)".
pub fn when(unix: u64) -> String {
    when_at(unix, std::time::SystemTime::now())
}

/// [`when`], seen from `now`.
fn when_at(unix: u64, now: std::time::SystemTime) -> String {
    use std::time::{Duration, UNIX_EPOCH};
    let at = UNIX_EPOCH + Duration::from_secs(unix);
    let (gap, future) = match at.duration_since(now) {
        Ok(d) => (d, true),
        Err(e) => (e.duration(), false),
    };
    let secs = gap.as_secs();
    let span = match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    };
    let relative = if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    };
    format!("{} ({relative})", httpdate::fmt_http_date(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_book_says_why_when_it_can() {
        assert!(empty_book_hint(0, 0).unwrap().contains("--bootstrap"));
        assert!(empty_book_hint(0, 2).unwrap().contains("not connected"));
        assert_eq!(empty_book_hint(3, 0), None);
        assert_eq!(
            empty_book_hint(3, 1).unwrap(),
            "still syncing the book from 1 peer: try again in a moment"
        );
        assert!(empty_book_hint(3, 2).unwrap().contains("from 2 peers"));
    }
    #[test]
    fn a_time_reads_as_a_date_and_a_distance() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        assert_eq!(
            when_at(1_800_000_000 + 3 * 86_400 + 7200, now),
            "Mon, 18 Jan 2027 10:00:00 GMT (in 3 d 2 h)"
        );
        assert_eq!(
            when_at(1_800_000_000 - 600, now),
            "Fri, 15 Jan 2027 07:50:00 GMT (10 min ago)"
        );
        assert!(when(0).starts_with("Thu, 01 Jan 1970 00:00:00 GMT ("));
    }
}
