//! `peerfx`: run a node (`peerfx daemon`) and drive it (every other command).

mod api;
mod cli;
mod daemon;
mod duration;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A peer-to-peer foreign-currency exchange with no central server.
#[derive(Parser, Debug)]
#[command(name = "peerfx", version, about)]
struct Cli {
    /// The node's data directory (identity, database, API token).
    /// Default: the platform's data directory for peerfx.
    #[arg(long, env = "PEERFX_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Run a node until Ctrl-C or SIGTERM.
    Daemon(daemon::DaemonArgs),
    #[command(flatten)]
    Client(cli::Command),
}

/// A command's output piped into `head` should end the command quietly, as
/// it does any Unix tool, not panic in `println!`: Rust ignores SIGPIPE by
/// default, so restore the default action. Only for the client commands; the
/// daemon keeps ignoring it (a peer closing a socket must not kill it).
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once before any thread is spawned; sets a signal's
    // disposition to its default, which has no handler to race with.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = (|| -> anyhow::Result<()> {
        let data_dir = match cli.data_dir {
            Some(d) => d,
            None => daemon::default_data_dir()?,
        };
        match cli.command {
            Top::Daemon(args) => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(daemon::run(data_dir, args)),
            Top::Client(cmd) => {
                restore_sigpipe();
                cli::run(data_dir, cli.json, cmd)
            }
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
