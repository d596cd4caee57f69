//! `trade export` and `verify`: a trade's evidence as a file, and its
//! check, which needs no daemon and no network.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use peerfx_core::evidence::{verify_evidence, Evidence};
use peerfx_core::text::escape;
use peerfx_core::trade::TradeState;
use peerfx_core::{TradeAction, WireLimits};
use serde_json::json;

use super::client::Client;
use super::render::when;

/// Largest evidence file read: a trade's whole log is far smaller.
const MAX_EVIDENCE_BYTES: u64 = 16 * 1024 * 1024;

/// `peerfx trade export ID FILE`.
pub fn export(c: &Client, id: &str, file: &Path, json_out: bool) -> anyhow::Result<()> {
    let evidence: Evidence = serde_json::from_value(c.get(&format!("/v1/trades/{id}/evidence"))?)
        .context("unexpected answer from the daemon")?;
    let text = serde_json::to_string_pretty(&evidence)? + "\n";
    std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
    if json_out {
        println!(
            "{}",
            json!({ "file": file.display().to_string(), "messages": evidence.log.len() })
        );
    } else {
        println!(
            "trade {} written to {}: the contract signed by both and {} signed messages; check it with `peerfx verify {}`",
            evidence.trade_id,
            file.display(),
            evidence.log.len(),
            file.display()
        );
    }
    Ok(())
}

/// `peerfx verify FILE`: checks every signature and replays the log.
pub fn verify(file: &Path, json_out: bool) -> anyhow::Result<()> {
    let mut text = String::new();
    std::fs::File::open(file)
        .with_context(|| format!("opening {}", file.display()))?
        .take(MAX_EVIDENCE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", file.display()))?;
    if text.len() as u64 > MAX_EVIDENCE_BYTES {
        anyhow::bail!("{} is larger than any trade's evidence", file.display());
    }
    let evidence: Evidence = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a peerfx evidence file", file.display()))?;
    let now = peerfx_node::now();
    let checked = verify_evidence(&evidence, now, &WireLimits::default())
        .map_err(|e| anyhow::anyhow!("INVALID: {e}"))?;
    let c = &checked.contract;
    let (phase, failure) = checked.state.outcome_at(now);
    if json_out {
        println!(
            "{}",
            json!({
                "valid": true,
                "trade_id": checked.trade_id.to_hex(),
                "state": phase.to_string(),
                "failure": failure.map(|f| f.to_string()),
                "at_fault": failure.and_then(|f| f.at_fault).map(|s| s.to_string()),
                "messages": checked.log.len(),
            })
        );
        return Ok(());
    }
    println!("valid: every signature checks and the log replays");
    println!("trade        {}", checked.trade_id);
    println!("offer        {}", c.offer_id);
    println!("maker        {}", peer(&c.maker));
    println!("taker        {}", peer(&c.taker));
    println!("maker gives  {} {}", c.give_amount.display(c.give), c.give);
    println!(
        "taker gives  {} {}  (rate {})",
        c.want_amount.display(c.want),
        c.want,
        c.rate
    );
    println!("payment      {}", c.payment_method);
    println!("signed at    {}", when(c.created_at.0));
    println!("pay by       {}", when(c.deadline.0));
    println!("settle by    {}", when(c.settle_by().0));
    match failure {
        Some(f) => println!("state        {phase}: {f}"),
        None => println!("state        {phase}"),
    }
    for (i, m) in checked.log.iter().enumerate() {
        let who = TradeState::side_of(c, &m.author).map_or("?".into(), |s| s.to_string());
        let what = match &m.action {
            TradeAction::Chat { text } => format!("chat: {}", escape(text)),
            TradeAction::Dispute { reason } => format!("dispute: {}", escape(reason)),
            a => step_name(a).to_string(),
        };
        println!("{:>4}  [{}] {who}: {what}", i + 1, m.created_at.0);
    }
    Ok(())
}

/// A party as the rest of the CLI shows it: its PeerId.
fn peer(key: &peerfx_core::PublicKey) -> String {
    key.peer_id()
        .map_or_else(|_| key.to_string(), |p| p.to_string())
}

fn step_name(a: &TradeAction) -> &'static str {
    match a {
        TradeAction::Paid => "paid",
        TradeAction::Received => "received",
        TradeAction::Cancel => "cancel",
        TradeAction::Dispute { .. } => "dispute",
        TradeAction::Chat { .. } => "chat",
        TradeAction::Close { .. } => "closed: the other side did not pay",
    }
}
