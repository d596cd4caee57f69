//! `id`, `peers`, `block`, `unblock`, `watch`, `backup`.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::Client;
use super::print;
use super::render::table;
use crate::api::dto::{ReachJson, StatusJson};

/// Largest backup file accepted (a node with many thousand trades).
const MAX_BACKUP_BYTES: u64 = 64 * 1024 * 1024;

pub fn id(c: &Client, json_out: bool) -> anyhow::Result<()> {
    print(c.get("/v1/id")?, json_out, |s: StatusJson| {
        println!("peer id   {}", s.peer_id);
        println!("api       {}", s.api);
        println!("data dir  {}", s.data_dir);
        if s.paused {
            println!("state     paused: no connections, no timers (peerfx resume)");
        }
        println!(
            "peers     {} connected, {} remembered",
            s.peers, s.remembered_peers
        );
        println!("reach     {}", reach_words(&s.reachability));
        let r = &s.reachability;
        if r.direct_upgrades + r.failed_upgrades > 0 || r.relayed_peers > 0 {
            println!(
                "punching  {} direct upgrades by hole punching, {} failed; {} peers relayed now",
                r.direct_upgrades, r.failed_upgrades, r.relayed_peers
            );
        }
        println!("markets   {}", s.markets.join(", "));
        println!("book      {} offers", s.book_size);
        if s.mailbox_envelopes > 0 {
            println!(
                "mailbox   {} envelopes kept for others",
                s.mailbox_envelopes
            );
        }
        if s.syncing > 0 {
            println!("syncing   from {} peers", s.syncing);
        }
        for a in &s.listen_addrs {
            println!("listen    {a}");
        }
    })
}

/// Reachability in a sentence.
fn reach_words(r: &ReachJson) -> String {
    let short = |p: &String| p.get(p.len().saturating_sub(8)..).unwrap_or(p).to_string();
    match r.nat.as_str() {
        "public" => format!(
            "public: peers dial it directly at {}",
            r.public_addr.as_deref().unwrap_or("?")
        ),
        "private" if r.relays.is_empty() => {
            "private (behind NAT), no relay yet: only peers it dials can reach it".to_string()
        }
        "private" => format!(
            "private (behind NAT), reachable through {} relay{} (…{})",
            r.relays.len(),
            if r.relays.len() == 1 { "" } else { "s" },
            r.relays.iter().map(short).collect::<Vec<_>>().join(", …")
        ),
        _ => "unknown: no peer has probed it yet (AutoNAT)".to_string(),
    }
}

pub fn peers(c: &Client, json_out: bool) -> anyhow::Result<()> {
    print(c.get("/v1/peers")?, json_out, |v: Vec<Value>| {
        let s = |p: &Value, k: &str| p[k].as_str().unwrap_or("?").to_string();
        table(
            &["peer id", "via", "address"],
            v.iter()
                .map(|p| vec![s(p, "peer_id"), s(p, "via"), s(p, "addr")])
                .collect(),
        )
    })
}

pub fn block(c: &Client, peer: &str, blocked: bool, json_out: bool) -> anyhow::Result<()> {
    let path = format!("/v1/block/{peer}");
    let answer = if blocked {
        c.post(&path, json!({}))?
    } else {
        c.delete(&path)?
    };
    print(answer, json_out, |_: Value| {
        println!("{} {peer}", if blocked { "blocked" } else { "unblocked" })
    })
}

/// `peerfx pause` and `peerfx resume`.
pub fn pause(c: &Client, pause: bool, json_out: bool) -> anyhow::Result<()> {
    let path = if pause { "/v1/pause" } else { "/v1/resume" };
    print(c.post(path, json!({}))?, json_out, |_: Value| {
        println!("{}", if pause { "paused" } else { "resumed" })
    })
}

pub fn watch(c: &Client) -> anyhow::Result<()> {
    c.events(|line| println!("{line}"))
}

pub fn export(c: &Client, file: &Path, json_out: bool) -> anyhow::Result<()> {
    let bytes = c.get_bytes("/v1/backup", MAX_BACKUP_BYTES)?;
    crate::daemon::write_private(file, &bytes)?;
    if json_out {
        println!(
            "{}",
            json!({ "file": file.display().to_string(), "bytes": bytes.len() })
        );
    } else {
        println!(
            "backup written to {} ({} bytes); it contains your secret key",
            file.display(),
            bytes.len()
        );
    }
    Ok(())
}

pub fn import(data_dir: &Path, file: &Path, json_out: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let config = peerfx_node::NodeConfig::new(data_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stats = match runtime.block_on(peerfx_node::Node::import_backup(&config, &bytes)) {
        Err(peerfx_node::NodeError::Running(dir)) => anyhow::bail!(
            "a daemon is running on {}; stop it before importing",
            dir.display()
        ),
        other => other?,
    };
    if json_out {
        println!(
            "{}",
            json!({ "offers": stats.offers, "trades": stats.trades, "messages": stats.messages })
        );
    } else {
        println!(
            "restored {} offers, {} trades, {} trade messages into {}",
            stats.offers,
            stats.trades,
            stats.messages,
            data_dir.display()
        );
    }
    Ok(())
}
