//! The daemon's options: flags, then `PEERFX_*` environment variables (clap
//! reads both), then the TOML config file (`--config`, default
//! `<data dir>/peerfx.toml` if present; its keys are the flag names), then
//! built-in defaults; and how they become a [`NodeConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use peerfx_core::{Market, PaymentMethod};
use peerfx_net::Multiaddr;
use peerfx_node::{NodeConfig, Profile, TradeConfig};
use serde::Deserialize;

/// Default API address: loopback, a fixed port.
pub const DEFAULT_API: &str = "127.0.0.1:7878";

/// Flags of `peerfx daemon`.
#[derive(Args, Debug, Default)]
pub struct DaemonArgs {
    /// Multiaddr to listen on (repeatable). Default: TCP and QUIC on all interfaces, port 0.
    #[arg(long, env = "PEERFX_LISTEN", value_delimiter = ',')]
    pub listen: Vec<Multiaddr>,
    /// Peer to bootstrap from, with /p2p/<peer id> (repeatable).
    #[arg(long, env = "PEERFX_BOOTSTRAP", value_delimiter = ',')]
    pub bootstrap: Vec<Multiaddr>,
    /// Control API address (loopback only).
    #[arg(long, env = "PEERFX_API")]
    pub api: Option<SocketAddr>,
    /// Markets to follow from the start, e.g. EUR-USD (repeatable).
    #[arg(long = "market", env = "PEERFX_MARKETS", value_delimiter = ',')]
    pub markets: Vec<String>,
    /// Do not discover peers on the LAN.
    #[arg(long, env = "PEERFX_NO_MDNS")]
    pub no_mdns: bool,
    /// `mobile`: small cache, few connections, gentle timers.
    #[arg(long, env = "PEERFX_PROFILE")]
    pub profile: Option<String>,
    /// Serve as a circuit relay for peers behind NAT.
    #[arg(long, env = "PEERFX_RELAY_SERVER")]
    pub relay_server: bool,
    /// Let AutoNAT probe and serve private addresses (a lab, a LAN, the
    /// WAN testbed); off, it only believes public ones.
    #[arg(long, env = "PEERFX_AUTONAT_ANY_IP")]
    pub autonat_any_ip: bool,
    /// Use the DHT without serving it: for a node others cannot dial (behind
    /// NAT), which peers would otherwise keep in their routing tables.
    #[arg(long, env = "PEERFX_NO_DHT_SERVER")]
    pub no_dht_server: bool,
    /// Serve Prometheus metrics on this address (loopback).
    #[arg(long, env = "PEERFX_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// Log filter, e.g. info or peerfx=debug.
    #[arg(long, env = "PEERFX_LOG")]
    pub log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "PEERFX_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Config file (TOML). Default: <data dir>/peerfx.toml if it exists.
    #[arg(long, env = "PEERFX_CONFIG")]
    pub config: Option<PathBuf>,
    /// As a maker: how long both sides have to pay, by payment method, e.g.
    /// cash=4h or sepa=3d; `other=1d` for every method not named
    /// (repeatable). Confirming receipt gets the same time again.
    #[arg(long, env = "PEERFX_PAYMENT_WINDOW", value_delimiter = ',')]
    pub payment_window: Vec<String>,
    /// As a maker: take only peers with at least this many completed
    /// trades vouched for, from your point of view.
    #[arg(long, env = "PEERFX_MIN_TAKER_TRADES")]
    pub min_taker_trades: Option<u32>,
    /// As a maker: take only peers with at least this score (1 to 5).
    #[arg(long, env = "PEERFX_MIN_TAKER_SCORE")]
    pub min_taker_score: Option<String>,
    /// How often to compare each followed market's book with a random
    /// peer's and sync if they differ, e.g. 30s or 5m (default 30s; 5m with
    /// the mobile profile).
    #[arg(long, env = "PEERFX_BOOK_CHECK")]
    pub book_check: Option<String>,
}

/// The config file: every field optional, same names as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<Vec<String>>,
    bootstrap: Option<Vec<String>>,
    api: Option<SocketAddr>,
    /// The flag is `--market`; `markets` is accepted too.
    #[serde(alias = "markets")]
    market: Option<Vec<String>>,
    no_mdns: Option<bool>,
    profile: Option<String>,
    relay_server: Option<bool>,
    autonat_any_ip: Option<bool>,
    no_dht_server: Option<bool>,
    metrics: Option<SocketAddr>,
    log_level: Option<String>,
    log_format: Option<String>,
    payment_window: Option<Vec<String>>,
    min_taker_trades: Option<u32>,
    min_taker_score: Option<String>,
    book_check: Option<String>,
}

/// Everything the daemon needs, resolved.
#[derive(Debug)]
pub struct Options {
    pub node: NodeConfig,
    pub api: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub log_level: String,
    pub log_format: String,
}

fn load_file(args: &DaemonArgs, data_dir: &Path) -> anyhow::Result<FileConfig> {
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (data_dir.join("peerfx.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(e).with_context(|| format!("config file {}", path.display())),
    }
}

/// Applies one `METHOD=DURATION` (or `other=DURATION`).
fn set_payment_window(trade: &mut TradeConfig, spec: &str) -> anyhow::Result<()> {
    let (method, duration) = spec
        .split_once('=')
        .with_context(|| format!("payment window {spec:?}: use METHOD=DURATION, e.g. cash=4h"))?;
    let secs =
        crate::duration::parse(duration).with_context(|| format!("payment window {spec:?}"))?;
    let window = Duration::from_secs(secs);
    if method == "other" {
        trade.payment_window = window;
        return Ok(());
    }
    let method: PaymentMethod = method
        .parse()
        .with_context(|| format!("payment window {spec:?}"))?;
    trade.payment_windows.retain(|(m, _)| *m != method);
    trade.payment_windows.push((method, window));
    Ok(())
}

fn addrs(list: &[String], what: &str) -> anyhow::Result<Vec<Multiaddr>> {
    list.iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("{what}: {a:?} is not a multiaddr"))
        })
        .collect()
}

impl Options {
    /// Resolves flags, environment, file and defaults.
    pub fn resolve(data_dir: &Path, args: &DaemonArgs) -> anyhow::Result<Options> {
        let file = load_file(args, data_dir)?;
        let profile: Profile = args
            .profile
            .clone()
            .or(file.profile)
            .unwrap_or_else(|| "default".into())
            .parse()
            .map_err(anyhow::Error::msg)?;
        let mut node = NodeConfig::with_profile(data_dir, profile);
        let listen = if !args.listen.is_empty() {
            args.listen.clone()
        } else {
            addrs(&file.listen.unwrap_or_default(), "listen")?
        };
        if !listen.is_empty() {
            node.net.listen = listen;
        }
        node.net.bootstrap = if !args.bootstrap.is_empty() {
            args.bootstrap.clone()
        } else {
            addrs(&file.bootstrap.unwrap_or_default(), "bootstrap")?
        };
        if args.no_mdns || file.no_mdns == Some(true) {
            node.net.mdns = false;
        }
        node.net.relay_server = args.relay_server || file.relay_server == Some(true);
        node.net.autonat_any_ip = args.autonat_any_ip || file.autonat_any_ip == Some(true);
        if args.no_dht_server || file.no_dht_server == Some(true) {
            node.net.kad_server = false;
        }
        let markets = if !args.markets.is_empty() {
            args.markets.clone()
        } else {
            file.market.unwrap_or_default()
        };
        node.markets = markets
            .iter()
            .map(|m| {
                m.parse::<Market>()
                    .with_context(|| format!("market {m:?}: use two ISO codes like EUR-USD"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let windows = if !args.payment_window.is_empty() {
            args.payment_window.clone()
        } else {
            file.payment_window.unwrap_or_default()
        };
        for w in &windows {
            set_payment_window(&mut node.trade, w)?;
        }
        node.trade.check_windows().map_err(anyhow::Error::msg)?;
        node.trade.min_taker_trades = args.min_taker_trades.or(file.min_taker_trades).unwrap_or(0);
        node.trade.min_taker_score = args
            .min_taker_score
            .clone()
            .or(file.min_taker_score)
            .map(|s| peerfx_core::reputation::parse_score(&s))
            .transpose()
            .context("min taker score")?;
        if let Some(every) = args.book_check.clone().or(file.book_check) {
            let secs = crate::duration::parse(&every).context("book check")?;
            if secs == 0 {
                bail!("book check {every:?}: the interval must be at least 1s");
            }
            node.sync.check_interval = Duration::from_secs(secs);
        }
        let api = match args.api.or(file.api) {
            Some(a) => a,
            None => DEFAULT_API.parse()?,
        };
        if !api.ip().is_loopback() {
            bail!("the control API only listens on loopback (127.0.0.1 or ::1), not {api}");
        }
        let metrics = args.metrics.or(file.metrics);
        if let Some(m) = metrics {
            if !m.ip().is_loopback() {
                bail!("metrics only listen on loopback, not {m}");
            }
        }
        Ok(Options {
            node,
            api,
            metrics,
            log_level: args
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            log_format: args
                .log_format
                .clone()
                .or(file.log_format)
                .unwrap_or_else(|| "text".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_takes_the_flag_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("peerfx.toml"),
            "market = [\"EUR-USD\"]\nno-mdns = true\nprofile = \"mobile\"\nno-dht-server = true\n",
        )
        .unwrap();
        let o = Options::resolve(dir.path(), &DaemonArgs::default()).unwrap();
        assert_eq!(o.node.markets, vec!["EUR-USD".parse::<Market>().unwrap()]);
        assert!(!o.node.net.mdns);
        assert!(!o.node.net.kad_server);
        let mobile = NodeConfig::with_profile(dir.path(), Profile::Mobile);
        assert_eq!(o.node.store.max_book_offers, mobile.store.max_book_offers);
        // The older key still works.
        std::fs::write(dir.path().join("peerfx.toml"), "markets = [\"EUR-GBP\"]\n").unwrap();
        let o = Options::resolve(dir.path(), &DaemonArgs::default()).unwrap();
        assert_eq!(o.node.markets, vec!["EUR-GBP".parse::<Market>().unwrap()]);
        std::fs::write(dir.path().join("peerfx.toml"), "marketz = 1\n").unwrap();
        let err = Options::resolve(dir.path(), &DaemonArgs::default()).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
    }

    #[test]
    fn payment_windows_by_method_from_flags_and_file_within_the_takers_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let args = DaemonArgs {
            payment_window: vec!["cash=2h".into(), "other=12h".into()],
            ..DaemonArgs::default()
        };
        let o = Options::resolve(dir.path(), &args).unwrap();
        let t = &o.node.trade;
        let hours = |h: u64| Duration::from_secs(h * 3600);
        assert_eq!(t.payment_window_for(&PaymentMethod::cash()), hours(2));
        assert_eq!(t.payment_window_for(&"paypal".parse().unwrap()), hours(12));
        // Methods with a default of their own keep it.
        assert_eq!(t.payment_window_for(&"sepa".parse().unwrap()), hours(72));
        std::fs::write(
            dir.path().join("peerfx.toml"),
            "payment-window = [\"sepa=5d\"]\n",
        )
        .unwrap();
        let o = Options::resolve(dir.path(), &DaemonArgs::default()).unwrap();
        assert_eq!(
            o.node.trade.payment_window_for(&"sepa".parse().unwrap()),
            hours(120)
        );
        for (bad, says) in [
            ("cash", "use METHOD=DURATION"),
            ("cash=soon", "duration"),
            ("Cash!=1h", "invalid payment method"),
            ("cash=1m", "outside"),
            ("sepa=30d", "outside"),
        ] {
            let args = DaemonArgs {
                payment_window: vec![bad.into()],
                ..DaemonArgs::default()
            };
            let err = Options::resolve(dir.path(), &args).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{bad}: {err:#}");
        }
    }

    #[test]
    fn the_book_check_interval_is_a_duration_of_a_second_or_more() {
        let dir = tempfile::tempdir().unwrap();
        let with = |every: &str| DaemonArgs {
            book_check: Some(every.into()),
            ..DaemonArgs::default()
        };
        let o = Options::resolve(dir.path(), &with("2m")).unwrap();
        assert_eq!(o.node.sync.check_interval, Duration::from_secs(120));
        let o = Options::resolve(dir.path(), &DaemonArgs::default()).unwrap();
        assert_eq!(
            o.node.sync.check_interval,
            peerfx_node::config::SyncConfig::DEFAULT_CHECK_INTERVAL
        );
        for (bad, says) in [("0s", "at least 1s"), ("often", "duration")] {
            let err = Options::resolve(dir.path(), &with(bad)).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{bad}: {err:#}");
        }
    }
}
