//! `peerfx daemon`: runs a node with its control API until SIGINT or SIGTERM.
//!
//! Files in the data directory: `identity.key` (0600), `db/` (sled), `.cookie`
//! (the API token, 0600, new at every start), `api.addr` (where the API listens).

mod metrics;
pub mod options;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use peerfx_node::{Node, NodeError};

use crate::api::{self, ApiState};
pub use options::DaemonArgs;
use options::Options;

/// File with the API token.
pub const COOKIE_FILE: &str = ".cookie";
/// File with the API address.
pub const API_ADDR_FILE: &str = "api.addr";

/// The platform's data directory for peerfx (e.g. ~/.local/share/peerfx).
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("org", "peerfx", "peerfx")
        .map(|d| d.data_dir().to_path_buf())
        .context("cannot determine a home directory; pass --data-dir")
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
    let options = Options::resolve(&data_dir, &args)?;
    init_logs(&options.log_level, &options.log_format)?;

    let node = match Node::start(options.node).await {
        Ok(n) => n,
        Err(NodeError::Running(_)) => {
            bail!("another peerfx daemon is already running on {} (stop it, or use another --data-dir)", data_dir.display())
        }
        Err(e) => return Err(e).context("starting the node"),
    };

    let api_addr = options.api;
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

    if let Some(m) = options.metrics {
        let l = tokio::net::TcpListener::bind(m)
            .await
            .with_context(|| format!("metrics address {m}"))?;
        tracing::info!("metrics on http://{}/metrics", l.local_addr()?);
        let router = metrics::router(node.clone());
        tokio::spawn(async move { axum::serve(l, router).await });
    }

    // Startup line: who we are and where to reach us.
    let status = node.status().await?;
    tracing::info!(
        peer_id = %node.peer_id(),
        api = %bound,
        data_dir = %data_dir.display(),
        listen = ?status.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
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
