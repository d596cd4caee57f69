//! The `peerfx` commands other than `daemon`: each one a call to the daemon's
//! control API, found through the data directory (`api.addr`, `.cookie`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::api::{OfferJson, TradeJson};
use crate::daemon::{API_ADDR_FILE, COOKIE_FILE};

/// `peerfx offer ...`
#[derive(Subcommand, Debug)]
pub enum OfferCmd {
    /// Post an offer: "I give --min..--max of --give, want --want at --rate".
    Post {
        /// Currency you give (ISO code).
        #[arg(long)]
        give: String,
        /// Smallest fill, in major units ("100", "99.50").
        #[arg(long)]
        min: String,
        /// Largest total, in major units.
        #[arg(long)]
        max: String,
        /// Currency you want.
        #[arg(long)]
        want: String,
        /// Units of --want per one unit of --give, e.g. 1.08.
        #[arg(long)]
        rate: String,
        /// Payment methods, comma-separated (default: cash).
        #[arg(long, value_delimiter = ',')]
        pay: Vec<String>,
        /// Your approximate location as a geohash (5 characters ≈ 5 km).
        #[arg(long)]
        near: Option<String>,
        /// Lifetime: 30m, 24h, 7d (default 24h).
        #[arg(long, default_value = "24h")]
        expires: String,
        /// A note for takers.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Your own offers with what remains and their status.
    List,
    /// Withdraw an offer.
    Cancel {
        /// The offer id.
        id: String,
    },
    /// Post an expired or expiring offer again (what remains, same terms).
    Republish {
        /// The offer id.
        id: String,
    },
}

/// `peerfx trade ...`
#[derive(Subcommand, Debug)]
pub enum TradeCmd {
    /// A trade's contract, progress and chat.
    Show { id: String },
    /// Say you sent your side.
    Paid { id: String },
    /// Say you received the other side.
    Received { id: String },
    /// Withdraw (alone before anyone paid; afterwards both must).
    Cancel { id: String },
    /// Raise a dispute.
    Dispute {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Send a chat line, or show the chat without MESSAGE.
    Chat { id: String, message: Option<String> },
}

/// `peerfx backup ...`
#[derive(Subcommand, Debug)]
pub enum BackupCmd {
    /// Write identity, own offers and trades to FILE (mode 0600; it holds your key).
    Export { file: PathBuf },
    /// Restore FILE into the data directory (its daemon must be stopped).
    Import { file: PathBuf },
}

/// A command that talks to the daemon.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// This node: PeerId, listen addresses, API address.
    Id,
    /// Connected peers.
    Peers,
    /// Your offers.
    #[command(subcommand)]
    Offer(OfferCmd),
    /// Browse the book.
    Book {
        /// Both directions of a market, e.g. EUR-USD.
        #[arg(long)]
        market: Option<String>,
        /// Offers giving this currency...
        #[arg(long)]
        give: Option<String>,
        /// ...and wanting this one.
        #[arg(long)]
        want: Option<String>,
        /// Only offers from which this much (of --give) can be taken.
        #[arg(long)]
        amount: Option<String>,
        /// At least this many units of --give per unit of --want for you.
        #[arg(long)]
        min_rate: Option<String>,
        /// Only offers accepting this payment method.
        #[arg(long)]
        pay: Option<String>,
        /// Only offers near this geohash...
        #[arg(long)]
        near: Option<String>,
        /// ...within this many km (default 25).
        #[arg(long)]
        radius_km: Option<u32>,
    },
    /// Take an offer.
    Take {
        /// The offer id.
        offer_id: String,
        /// How much of the offer's give currency, in major units.
        #[arg(long)]
        amount: String,
        /// Propose another rate.
        #[arg(long)]
        rate: Option<String>,
        /// Payment method (default: the offer's first).
        #[arg(long)]
        pay: Option<String>,
    },
    /// Your trades.
    Trades,
    /// Act on a trade.
    #[command(subcommand)]
    Trade(TradeCmd),
    /// Block a peer: its offers are hidden, its takes refused.
    Block { peer: String },
    /// Unblock a peer.
    Unblock { peer: String },
    /// Print live events until Ctrl-C.
    Watch,
    /// Back up or restore identity, own offers and trades.
    #[command(subcommand)]
    Backup(BackupCmd),
}

/// A connection to the daemon.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    /// Finds the daemon of `data_dir`.
    pub fn connect(data_dir: &Path) -> anyhow::Result<Client> {
        let not_running = || {
            anyhow!(
                "no peerfx daemon is running for {} (start it with `peerfx daemon`, or point --data-dir / PEERFX_DATA_DIR at its data directory)",
                data_dir.display()
            )
        };
        let addr =
            std::fs::read_to_string(data_dir.join(API_ADDR_FILE)).map_err(|_| not_running())?;
        let token = std::fs::read_to_string(data_dir.join(COOKIE_FILE))
            .with_context(|| format!("cannot read the API token in {}", data_dir.display()))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Client {
            agent,
            base: format!("http://{}", addr.trim()),
            token: token.trim().to_string(),
        })
    }

    fn handle(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut resp = r.map_err(|e| {
            anyhow!("cannot reach the peerfx daemon at {}: {e} (is it running? start it with `peerfx daemon`)", self.base)
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .context("reading the daemon's answer")?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let msg = value["error"]["message"]
                .as_str()
                .unwrap_or("unknown error")
                .to_string();
            let code = value["error"]["code"].as_str().unwrap_or("error");
            if status == 401 {
                bail!("the daemon refused the API token ({msg}); is --data-dir the daemon's data directory?");
            }
            bail!("{msg} [{code}]");
        }
        Ok(value)
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        self.handle(r)
    }

    fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        self.handle(r)
    }

    fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        self.handle(r)
    }
}

/// Parses 30s, 30m, 24h, 7d.
pub fn parse_duration(s: &str) -> anyhow::Result<u64> {
    let (n, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: u64 = n
        .parse()
        .with_context(|| format!("duration {s:?}: use e.g. 30m, 24h, 7d"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("duration {s:?}: use s, m, h or d"),
    };
    n.checked_mul(mult).context("duration too long")
}

/// Prints rows as an aligned table.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
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

/// Why an empty book may be empty, when the node can tell.
fn empty_book_hint(peers: u64, syncing: u64) -> Option<String> {
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

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

fn offers_table(offers: &[OfferJson], own: bool) {
    let rows = offers
        .iter()
        .map(|o| {
            let mut r = vec![
                o.id.clone(),
                format!("{} {}–{}", o.give, o.min, o.max),
                format!("{} {}", o.remaining, o.give),
                format!("{} {}/{}", o.rate, o.want, o.give),
                o.payment_methods.join(","),
                o.geohash.clone().unwrap_or_else(|| "-".into()),
            ];
            r.push(if own {
                o.status.clone()
            } else {
                short(o.maker.trim_start_matches("12D3KooW"))
            });
            r
        })
        .collect();
    let last = if own { "status" } else { "maker" };
    table(
        &["id", "gives", "remaining", "rate", "pay", "near", last],
        rows,
    );
}

fn trades_table(trades: &[TradeJson]) {
    let rows = trades
        .iter()
        .map(|t| {
            let (you_give, you_get) = if t.role == "maker" {
                (
                    format!("{} {}", t.give_amount, t.give),
                    format!("{} {}", t.want_amount, t.want),
                )
            } else {
                (
                    format!("{} {}", t.want_amount, t.want),
                    format!("{} {}", t.give_amount, t.give),
                )
            };
            vec![
                t.id.clone(),
                t.role.clone(),
                t.state.clone(),
                you_give,
                you_get,
                t.payment_method.clone(),
                short(t.counterparty.trim_start_matches("12D3KooW")),
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

fn show_trade(t: &TradeJson) {
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("trade        {}", t.id);
    println!("offer        {}", t.offer_id);
    println!("you are      {}", t.role);
    println!("state        {}", t.state);
    println!("maker gives  {} {}", t.give_amount, t.give);
    println!(
        "taker gives  {} {}  (rate {})",
        t.want_amount, t.want, t.rate
    );
    println!("payment      {}", t.payment_method);
    println!(
        "deadline     {} (unix time; expires if nobody has paid by then)",
        t.deadline
    );
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
    if t.undelivered > 0 {
        println!(
            "undelivered  {} of your messages (the peer is offline; resent automatically)",
            t.undelivered
        );
    }
    for c in &t.chat {
        println!(
            "chat         [{}] {}: {}",
            c.at,
            short(c.from.trim_start_matches("12D3KooW")),
            c.text
        );
    }
}

fn print<T: serde::de::DeserializeOwned>(
    v: Value,
    json_out: bool,
    human: impl FnOnce(T),
) -> anyhow::Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        human(serde_json::from_value(v).context("unexpected answer from the daemon")?);
    }
    Ok(())
}

/// Runs one command against the daemon of `data_dir`.
pub fn run(data_dir: PathBuf, json_out: bool, cmd: Command) -> anyhow::Result<()> {
    if let Command::Backup(BackupCmd::Import { file }) = &cmd {
        return import(&data_dir, file, json_out);
    }
    let c = Client::connect(&data_dir)?;
    match cmd {
        Command::Id => print(c.get("/v1/id")?, json_out, |v: Value| {
            println!("peer id   {}", v["peer_id"].as_str().unwrap_or("?"));
            println!("api       {}", v["api"].as_str().unwrap_or("?"));
            println!("data dir  {}", v["data_dir"].as_str().unwrap_or("?"));
            println!("peers     {}", v["peers"]);
            println!("book      {} offers", v["book_size"]);
            for a in v["listen_addrs"].as_array().into_iter().flatten() {
                println!("listen    {}", a.as_str().unwrap_or("?"));
            }
        }),
        Command::Peers => print(c.get("/v1/peers")?, json_out, |v: Vec<Value>| {
            table(
                &["peer id"],
                v.iter()
                    .map(|p| vec![p["peer_id"].as_str().unwrap_or("?").to_string()])
                    .collect(),
            )
        }),
        Command::Offer(OfferCmd::Post {
            give,
            min,
            max,
            want,
            rate,
            pay,
            near,
            expires,
            note,
        }) => {
            let body = json!({
                "give": give, "want": want, "min": min, "max": max, "rate": rate,
                "pay": pay, "near": near, "expires_secs": parse_duration(&expires)?, "note": note,
            });
            print(c.post("/v1/offers", body)?, json_out, |o: OfferJson| {
                println!("posted {}", o.id);
                offers_table(&[o], true);
            })
        }
        Command::Offer(OfferCmd::List) => {
            print(c.get("/v1/offers")?, json_out, |v: Vec<OfferJson>| {
                offers_table(&v, true)
            })
        }
        Command::Offer(OfferCmd::Cancel { id }) => print(
            c.delete(&format!("/v1/offers/{id}"))?,
            json_out,
            |_: Value| println!("cancelled {id}"),
        ),
        Command::Offer(OfferCmd::Republish { id }) => print(
            c.post(&format!("/v1/offers/{id}/republish"), json!({}))?,
            json_out,
            |o: OfferJson| {
                println!("republished {id} as {}", o.id);
            },
        ),
        Command::Book {
            market,
            give,
            want,
            amount,
            min_rate,
            pay,
            near,
            radius_km,
        } => {
            let mut q = Vec::new();
            for (k, v) in [
                ("market", market),
                ("give", give),
                ("want", want),
                ("amount", amount),
                ("min_rate", min_rate),
                ("pay", pay),
                ("near", near),
                ("radius_km", radius_km.map(|r| r.to_string())),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", url_escape(&v)));
                }
            }
            let path = if q.is_empty() {
                "/v1/book".to_string()
            } else {
                format!("/v1/book?{}", q.join("&"))
            };
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
        Command::Take {
            offer_id,
            amount,
            rate,
            pay,
        } => {
            let body = json!({ "offer_id": offer_id, "amount": amount, "rate": rate, "pay": pay });
            print(c.post("/v1/take", body)?, json_out, |t: TradeJson| {
                println!("trade agreed: {}", t.id);
                show_trade(&t);
            })
        }
        Command::Trades => print(c.get("/v1/trades")?, json_out, |v: Vec<TradeJson>| {
            trades_table(&v)
        }),
        Command::Trade(cmd) => {
            let (id, step, body) = match cmd {
                TradeCmd::Show { id } => {
                    return print(
                        c.get(&format!("/v1/trades/{id}"))?,
                        json_out,
                        |t: TradeJson| show_trade(&t),
                    )
                }
                TradeCmd::Chat { id, message: None } => {
                    return print(
                        c.get(&format!("/v1/trades/{id}"))?,
                        json_out,
                        |t: TradeJson| {
                            for m in &t.chat {
                                println!(
                                    "[{}] {}: {}",
                                    m.at,
                                    short(m.from.trim_start_matches("12D3KooW")),
                                    m.text
                                );
                            }
                        },
                    )
                }
                TradeCmd::Chat {
                    id,
                    message: Some(text),
                } => (id, "chat", json!({ "text": text })),
                TradeCmd::Paid { id } => (id, "paid", json!({})),
                TradeCmd::Received { id } => (id, "received", json!({})),
                TradeCmd::Cancel { id } => (id, "cancel", json!({})),
                TradeCmd::Dispute { id, reason } => (id, "dispute", json!({ "reason": reason })),
            };
            print(
                c.post(&format!("/v1/trades/{id}/{step}"), body)?,
                json_out,
                |t: TradeJson| {
                    println!("{step}: trade {} is {}", t.id, t.state);
                    if t.undelivered > 0 {
                        println!("the counterparty is not reachable now; the message is stored and will be resent");
                    }
                },
            )
        }
        Command::Block { peer } => print(
            c.post(&format!("/v1/block/{peer}"), json!({}))?,
            json_out,
            |_: Value| println!("blocked {peer}"),
        ),
        Command::Unblock { peer } => print(
            c.delete(&format!("/v1/block/{peer}"))?,
            json_out,
            |_: Value| println!("unblocked {peer}"),
        ),
        Command::Watch => watch(&c),
        Command::Backup(BackupCmd::Export { file }) => {
            let r = c
                .agent
                .get(format!("{}/v1/backup", c.base))
                .header("Authorization", format!("Bearer {}", c.token))
                .call();
            let mut resp =
                r.map_err(|e| anyhow!("cannot reach the peerfx daemon at {}: {e}", c.base))?;
            if resp.status().as_u16() != 200 {
                return c.handle(Ok(resp)).map(|_| ());
            }
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(peerfx_store::backup::MAX_BACKUP_BYTES as u64)
                .read_to_vec()?;
            crate::daemon::write_private(&file, &bytes)?;
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
        Command::Backup(BackupCmd::Import { .. }) => unreachable!("handled above"),
    }
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn watch(c: &Client) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .get(format!("{}/v1/events", c.base))
        .header("Authorization", format!("Bearer {}", c.token))
        .call();
    let resp = r.map_err(|e| anyhow!("cannot reach the peerfx daemon at {}: {e}", c.base))?;
    if resp.status().as_u16() != 200 {
        return c.handle(Ok(resp)).map(|_| ());
    }
    let reader = std::io::BufReader::new(resp.into_body().into_reader());
    for line in reader.lines() {
        let line = line.context("event stream closed")?;
        if let Some(data) = line.strip_prefix("data:") {
            println!("{}", data.trim());
        }
    }
    Ok(())
}

fn import(data_dir: &Path, file: &Path, json_out: bool) -> anyhow::Result<()> {
    use peerfx_store::backup::Backup;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (backup, key) = Backup::from_bytes(&bytes)?;
    std::fs::create_dir_all(data_dir)?;
    let id_path = data_dir.join(peerfx_node::IDENTITY_FILE);
    match std::fs::read(&id_path) {
        Ok(existing) if existing.as_slice() != key.secret_bytes().as_slice() => {
            bail!(
                "{} already has a different identity; import into a new data directory",
                data_dir.display()
            )
        }
        Ok(_) => {}
        Err(_) => crate::daemon::write_private(&id_path, &key.secret_bytes())?,
    }
    let store =
        match peerfx_store::Store::open(data_dir.join("db"), &peerfx_store::StoreConfig::default())
        {
            Err(peerfx_store::StoreError::Locked(_)) => bail!(
                "a daemon is running on {}; stop it before importing",
                data_dir.display()
            ),
            other => other?,
        };
    let stats = store.import_backup(&backup)?;
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

#[cfg(test)]
mod tests {
    use super::empty_book_hint;

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
}
