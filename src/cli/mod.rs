//! The `peerfx` commands other than `daemon`: each one a call to the daemon's
//! control API ([`client`]), printed as a table ([`render`]) or, with
//! `--json`, as the API's JSON.
//!
//! - [`offers`]: `offer post|list|cancel|republish`, `book`, `take`
//! - [`trades`]: `trades`, `trade show|paid|received|cancel|dispute|chat`
//! - [`node`]: `id`, `peers`, `block`, `unblock`, `pause`, `resume`, `watch`,
//!   `backup`
//! - [`reputation`]: `trade rate`, `peer show`

pub mod client;
mod evidence;
mod node;
mod offers;
pub mod render;
mod reputation;
mod trades;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;

use client::Client;

/// Which page of a list.
#[derive(Args, Debug, Default)]
pub struct PageArgs {
    /// How many (default 50, at most 500).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Start after this one (the `more:` line of the previous page).
    #[arg(long)]
    pub after: Option<String>,
}

impl PageArgs {
    fn query(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("limit", self.limit.map(|l| l.to_string())),
            ("after", self.after.clone()),
        ]
    }
}

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
    /// Your own offers with what remains and their status, newest first.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
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
    /// Close a trade the other side did not pay in, after the payment
    /// deadline (only if you paid). It ends as failed, their fault.
    Close { id: String },
    /// Rate the counterparty of a finished trade: a score of 1 to 5 and an
    /// optional comment, signed and sent to everyone in the market.
    Rate {
        id: String,
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        score: u8,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Send a chat line, or show the chat without MESSAGE.
    Chat { id: String, message: Option<String> },
    /// Write the contract signed by both and the whole signed log to FILE,
    /// for anyone to check with `peerfx verify FILE`.
    Export { id: String, file: PathBuf },
}

/// `peerfx peer ...`
#[derive(Subcommand, Debug)]
pub enum PeerCmd {
    /// A peer's profile from your point of view: score, completed and
    /// failed trades, who rated it, and its recent ratings.
    Show { peer: String },
}

/// `peerfx backup ...`
#[derive(Subcommand, Debug)]
pub enum BackupCmd {
    /// Write identity, own offers and trades to FILE (mode 0600; it holds your key).
    Export { file: PathBuf },
    /// Restore FILE into the data directory (its daemon must be stopped).
    Import { file: PathBuf },
}

/// `peerfx book ...`
#[derive(Args, Debug)]
pub struct BookArgs {
    /// Both directions of a market, e.g. EUR-USD.
    #[arg(long)]
    pub market: Option<String>,
    /// Offers giving this currency...
    #[arg(long)]
    pub give: Option<String>,
    /// ...and wanting this one.
    #[arg(long)]
    pub want: Option<String>,
    /// Only offers from which this much (of --give) can be taken.
    #[arg(long)]
    pub amount: Option<String>,
    /// At least this many units of --give per unit of --want for you.
    #[arg(long)]
    pub min_rate: Option<String>,
    /// Only offers accepting this payment method.
    #[arg(long)]
    pub pay: Option<String>,
    /// Only offers near this geohash...
    #[arg(long)]
    pub near: Option<String>,
    /// ...within this many km (default 25).
    #[arg(long)]
    pub radius_km: Option<u32>,
    /// Most offers shown (default 100).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only makers with at least this many completed trades (vouched for
    /// by peers you trust).
    #[arg(long)]
    pub min_trades: Option<u32>,
    /// Only makers with at least this score (1 to 5), e.g. 4.5.
    #[arg(long)]
    pub min_score: Option<String>,
    /// Order: rate (best first, the default) or reputation.
    #[arg(long)]
    pub sort: Option<String>,
    /// Also offers of makers gone offline (silent for three re-announcements).
    #[arg(long)]
    pub include_offline: bool,
}

/// A command that talks to the daemon.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// This node: PeerId, listen addresses, API address.
    Id,
    /// Connected peers.
    Peers,
    /// What you know of a peer.
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Your offers.
    #[command(subcommand)]
    Offer(OfferCmd),
    /// Browse the book.
    Book(BookArgs),
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
    /// Your trades, newest first.
    Trades {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Act on a trade.
    #[command(subcommand)]
    Trade(TradeCmd),
    /// Block a peer: its offers are hidden, its takes refused.
    Block { peer: String },
    /// Unblock a peer.
    Unblock { peer: String },
    /// Pause the node, as a phone app going to the background does: close
    /// every connection, stop every timer, flush.
    Pause,
    /// Resume a paused node: reconnect and catch up.
    Resume,
    /// Print live events until Ctrl-C.
    Watch,
    /// Back up or restore identity, own offers and trades.
    #[command(subcommand)]
    Backup(BackupCmd),
    /// Check a trade's evidence file (from `trade export`): every signature,
    /// and the log replayed to its state. Needs no daemon.
    Verify { file: PathBuf },
}

/// Prints `v` as JSON, or hands it to `human` decoded.
fn print<T: serde::de::DeserializeOwned>(
    v: Value,
    json_out: bool,
    human: impl FnOnce(T),
) -> anyhow::Result<()> {
    use anyhow::Context;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        human(serde_json::from_value(v).context("unexpected answer from the daemon")?);
    }
    Ok(())
}

/// Runs one command against the daemon of `data_dir`.
pub fn run(data_dir: PathBuf, json_out: bool, cmd: Command) -> anyhow::Result<()> {
    match &cmd {
        Command::Backup(BackupCmd::Import { file }) => {
            return node::import(&data_dir, file, json_out)
        }
        Command::Verify { file } => return evidence::verify(file, json_out),
        _ => {}
    }
    let c = Client::connect(&data_dir)?;
    match cmd {
        Command::Id => node::id(&c, json_out),
        Command::Peers => node::peers(&c, json_out),
        Command::Peer(PeerCmd::Show { peer }) => reputation::show(&c, &peer, json_out),
        Command::Block { peer } => node::block(&c, &peer, true, json_out),
        Command::Unblock { peer } => node::block(&c, &peer, false, json_out),
        Command::Pause => node::pause(&c, true, json_out),
        Command::Resume => node::pause(&c, false, json_out),
        Command::Watch => node::watch(&c),
        Command::Backup(BackupCmd::Export { file }) => node::export(&c, &file, json_out),
        Command::Backup(BackupCmd::Import { .. }) | Command::Verify { .. } => Ok(()),
        Command::Offer(cmd) => offers::offer(&c, cmd, json_out),
        Command::Book(query) => offers::book(&c, &query, json_out),
        Command::Take {
            offer_id,
            amount,
            rate,
            pay,
        } => offers::take(&c, &offer_id, &amount, rate, pay, json_out),
        Command::Trades { page } => trades::list(&c, &page, json_out),
        Command::Trade(cmd) => trades::trade(&c, cmd, json_out),
    }
}
