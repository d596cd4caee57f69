//! `peerfx daemon`: runs a node with its control API until SIGINT or SIGTERM.
//!
//! Options come from flags, then `PEERFX_*` environment variables (clap reads
//! both), then the TOML config file (`--config`, default `<data dir>/peerfx.toml`
//! if present), then built-in defaults.
//!
//! Files in the data directory: `identity.key` (0600), `db/` (sled), `.cookie`
//! (the API token, 0600, new at every start), `api.addr` (where the API listens).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use peerfx_net::{Multiaddr, NetConfig};
use peerfx_node::{Node, NodeConfig, NodeError};
use peerfx_store::{StoreConfig, StoreError};
use serde::Deserialize;

use crate::api::{self, ApiState};

/// Default API address: loopback, a fixed port.
pub const DEFAULT_API: &str = "127.0.0.1:7878";
/// File with the API token.
pub const COOKIE_FILE: &str = ".cookie";
/// File with the API address.
pub const API_ADDR_FILE: &str = "api.addr";

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
}

/// The config file: every field optional, same names as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    listen: Option<Vec<String>>,
    bootstrap: Option<Vec<String>>,
    api: Option<SocketAddr>,
    markets: Option<Vec<String>>,
    no_mdns: Option<bool>,
    profile: Option<String>,
    relay_server: Option<bool>,
    metrics: Option<SocketAddr>,
    log_level: Option<String>,
    log_format: Option<String>,
}

/// The platform's data directory for peerfx (e.g. ~/.local/share/peerfx).
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("org", "peerfx", "peerfx")
        .map(|d| d.data_dir().to_path_buf())
        .context("cannot determine a home directory; pass --data-dir")
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

fn addrs(list: &[String], what: &str) -> anyhow::Result<Vec<Multiaddr>> {
    list.iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("{what}: {a:?} is not a multiaddr"))
        })
        .collect()
}

fn init_logs(level: &str, format: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .with_context(|| format!("log level {level:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => bail!("log format {other:?}: use text or json"),
    }
    Ok(())
}

/// Writes `contents` to `path` readable by the owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents)?;
    Ok(())
}

/// Runs the daemon until a signal.
pub async fn run(data_dir: PathBuf, args: DaemonArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let file = load_file(&args, &data_dir)?;
    let level = args
        .log_level
        .clone()
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    let format = args
        .log_format
        .clone()
        .or(file.log_format)
        .unwrap_or_else(|| "text".into());
    init_logs(&level, &format)?;

    let profile = args
        .profile
        .clone()
        .or(file.profile)
        .unwrap_or_else(|| "default".into());
    let (mut net, store) = match profile.as_str() {
        "default" => (NetConfig::default(), StoreConfig::default()),
        "mobile" => (
            NetConfig::mobile(),
            StoreConfig {
                cache_capacity_bytes: StoreConfig::MOBILE_CACHE_CAPACITY_BYTES,
                max_book_offers: StoreConfig::MOBILE_MAX_BOOK_OFFERS,
            },
        ),
        other => bail!("profile {other:?}: use default or mobile"),
    };
    let listen = if !args.listen.is_empty() {
        args.listen.clone()
    } else {
        addrs(&file.listen.unwrap_or_default(), "listen")?
    };
    if !listen.is_empty() {
        net.listen = listen;
    }
    net.bootstrap = if !args.bootstrap.is_empty() {
        args.bootstrap.clone()
    } else {
        addrs(&file.bootstrap.unwrap_or_default(), "bootstrap")?
    };
    if args.no_mdns || file.no_mdns == Some(true) {
        net.mdns = false;
    }
    net.relay_server = args.relay_server || file.relay_server == Some(true);
    let markets = if !args.markets.is_empty() {
        args.markets.clone()
    } else {
        file.markets.unwrap_or_default()
    };
    let markets = markets
        .iter()
        .map(|m| {
            m.parse()
                .with_context(|| format!("market {m:?}: use two ISO codes like EUR-USD"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let api_addr = match args.api.or(file.api) {
        Some(a) => a,
        None => DEFAULT_API.parse()?,
    };
    if !api_addr.ip().is_loopback() {
        bail!("the control API only listens on loopback (127.0.0.1 or ::1), not {api_addr}");
    }
    let metrics_addr = args.metrics.or(file.metrics);
    if let Some(m) = metrics_addr {
        if !m.ip().is_loopback() {
            bail!("metrics only listen on loopback, not {m}");
        }
    }

    let mut config = NodeConfig::new(&data_dir);
    config.net = net;
    config.store = store;
    config.markets = markets;
    let node = match Node::start(config).await {
        Ok(n) => n,
        Err(NodeError::Store(StoreError::Locked(_))) => {
            bail!("another peerfx daemon is already running on {} (stop it, or use another --data-dir)", data_dir.display())
        }
        Err(e) => return Err(e).context("starting the node"),
    };

    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("control API address {api_addr} (is another daemon using it? pass --api 127.0.0.1:0)"))?;
    let bound = listener.local_addr()?;
    let token = hex::encode(rand::random::<[u8; 32]>());
    write_private(&data_dir.join(COOKIE_FILE), token.as_bytes())?;
    write_private(&data_dir.join(API_ADDR_FILE), bound.to_string().as_bytes())?;
    let state = Arc::new(ApiState {
        node: node.clone(),
        token,
        api_addr: bound.to_string(),
    });

    if let Some(m) = metrics_addr {
        let l = tokio::net::TcpListener::bind(m)
            .await
            .with_context(|| format!("metrics address {m}"))?;
        tracing::info!("metrics on http://{}/metrics", l.local_addr()?);
        let router = crate::metrics::router(node.clone());
        tokio::spawn(async move { axum::serve(l, router).await });
    }

    // Startup line: who we are and where to reach us.
    let info = node.net().info().await?;
    tracing::info!(
        peer_id = %node.peer_id(),
        api = %bound,
        data_dir = %data_dir.display(),
        listen = ?info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "peerfx daemon started"
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, api::router(state))
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    node.shutdown().await;
    let _ = std::fs::remove_file(data_dir.join(API_ADDR_FILE));
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
