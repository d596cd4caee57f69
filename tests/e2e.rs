//! End to end on the real `peerfx` binary: daemons on 127.0.0.1 with ephemeral
//! ports and temp data dirs, driven by the CLI with `--json`, as a user would.

// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;

use common::cli::wait_for;

const BIN: &str = env!("CARGO_BIN_EXE_peerfx");

struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
}

fn spawn(dir: &Path, bootstrap: Option<&str>) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(dir).args([
        "daemon",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api",
        "127.0.0.1:0",
        "--no-mdns",
        "--market",
        "EUR-USD",
        "--log-level",
        "warn",
    ]);
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn daemon")
}

/// Runs a CLI command; Ok(json) on success, Err(stderr) on failure.
fn cli(dir: &Path, args: &[&str]) -> Result<Value, String> {
    common::cli::json(Command::new(BIN), dir, args)
}

impl Daemon {
    fn start(bootstrap: Option<String>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let child = spawn(dir.path(), bootstrap.as_deref());
        let d = Daemon { dir, child };
        d.wait_up();
        d
    }

    fn wait_up(&self) {
        wait_for("the daemon's API", || cli(self.dir.path(), &["id"]).ok());
    }

    fn cli(&self, args: &[&str]) -> Result<Value, String> {
        cli(self.dir.path(), args)
    }

    fn addr(&self) -> String {
        self.cli(&["id"]).unwrap()["listen_addrs"][0]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn book_ids(&self) -> Vec<String> {
        self.cli(&["book", "--market", "EUR-USD"])
            .map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn trade_state(&self, id: &str) -> Option<String> {
        self.cli(&["trade", "show", id])
            .ok()
            .and_then(|t| t["state"].as_str().map(String::from))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn three_daemons_trade_and_survive_kill_9() {
    let a = Daemon::start(None);
    let b = Daemon::start(Some(a.addr()));
    let mut c = Daemon::start(Some(a.addr()));

    // Post on a; it shows up in b's and c's books.
    let offer = a
        .cli(&[
            "offer",
            "post",
            "--give",
            "EUR",
            "--min",
            "100",
            "--max",
            "500",
            "--want",
            "USD",
            "--rate",
            "1.08",
            "--pay",
            "cash,sepa",
            "--near",
            "u33dc",
        ])
        .unwrap();
    let offer_id = offer["id"].as_str().unwrap().to_string();
    for d in [&b, &c] {
        wait_for("the offer in the book", || {
            d.book_ids().contains(&offer_id).then_some(())
        });
    }
    let listed = &c.cli(&["book", "--market", "EUR-USD"]).unwrap()[0];
    for field in [
        "id",
        "maker",
        "give",
        "want",
        "min",
        "max",
        "remaining",
        "rate",
        "payment_methods",
        "geohash",
        "expires_at",
    ] {
        assert!(!listed[field].is_null(), "book --json lacks {field}");
    }

    // Amount out of range: the error gives the range.
    let err = c.cli(&["take", &offer_id, "--amount", "900"]).unwrap_err();
    assert!(err.contains("between 100.00 and 500.00"), "{err}");

    // c takes, both settle.
    let trade = c.cli(&["take", &offer_id, "--amount", "150"]).unwrap();
    let tid = trade["id"].as_str().unwrap().to_string();
    for field in [
        "id",
        "offer_id",
        "role",
        "state",
        "give_amount",
        "want_amount",
        "counterparty",
    ] {
        assert!(!trade[field].is_null(), "trade --json lacks {field}");
    }
    assert_eq!(trade["want_amount"], "162.00");
    c.cli(&["trade", "paid", &tid]).unwrap();
    a.cli(&["trade", "received", &tid]).unwrap();
    a.cli(&["trade", "paid", &tid]).unwrap();
    c.cli(&["trade", "received", &tid]).unwrap();
    for d in [&a, &c] {
        wait_for("completed", || {
            (d.trade_state(&tid).as_deref() == Some("completed")).then_some(())
        });
    }
    // Evidence: either side exports the trade; `verify` checks it with no
    // daemon, and names what was altered in a tampered copy.
    let ev_dir = tempfile::tempdir().unwrap();
    for (who, d) in [("maker", &a), ("taker", &c)] {
        let file = ev_dir.path().join(format!("{who}.json"));
        let file_s = file.to_str().unwrap();
        d.cli(&["trade", "export", &tid, file_s]).unwrap();
        let ok = cli(ev_dir.path(), &["verify", file_s]).unwrap();
        assert_eq!(ok["valid"], true, "{ok}");
        assert_eq!(ok["state"], "completed");
        assert_eq!(ok["trade_id"], tid.as_str());
        assert_eq!(ok["messages"], 4);
    }
    let file = ev_dir.path().join("maker.json");
    let mut ev: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    // One hex digit of message 2 changed (its signature's last byte).
    let msg = ev["log"][1].as_str().unwrap().to_string();
    let flipped = if msg.ends_with('0') { '1' } else { '0' };
    ev["log"][1] = Value::String(format!("{}{flipped}", &msg[..msg.len() - 1]));
    let bad = ev_dir.path().join("tampered.json");
    std::fs::write(&bad, serde_json::to_vec(&ev).unwrap()).unwrap();
    let err = cli(ev_dir.path(), &["verify", bad.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("INVALID: message 2"), "{err}");

    // c posts an offer of its own before it dies.
    let own = c
        .cli(&[
            "offer", "post", "--give", "USD", "--min", "10", "--max", "20", "--want", "EUR",
            "--rate", "0.9",
        ])
        .unwrap();

    // Backup: export through the running daemon, import offline elsewhere.
    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("c.backup");
    let file_s = file.to_str().unwrap();
    c.cli(&["backup", "export", file_s]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let restored = tempfile::tempdir().unwrap();
    let stats = cli(restored.path(), &["backup", "import", file_s]).unwrap();
    assert_eq!(
        (
            stats["offers"].as_u64(),
            stats["trades"].as_u64(),
            stats["messages"].as_u64()
        ),
        (Some(1), Some(1), Some(4))
    );
    let again = cli(restored.path(), &["backup", "import", file_s]).unwrap();
    assert_eq!(
        (again["offers"].as_u64(), again["trades"].as_u64()),
        (Some(0), Some(0))
    );
    let err = c.cli(&["backup", "import", file_s]).unwrap_err();
    assert!(err.contains("stop it before importing"), "{err}");

    // kill -9 c, restart it on the same data dir with the same flags.
    c.child.kill().unwrap(); // SIGKILL
    c.child.wait().unwrap();
    // No --bootstrap this time: it redials the peers it knew.
    c.child = spawn(c.dir.path(), None);
    c.wait_up();
    assert_eq!(c.trade_state(&tid).as_deref(), Some("completed"));
    let offers = c.cli(&["offer", "list"]).unwrap();
    assert!(
        offers["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == own["id"]),
        "own offer lost"
    );
    wait_for("peers to reconnect", || {
        (!c.cli(&["peers"]).ok()?.as_array()?.is_empty()).then_some(())
    });
    wait_for("the book after restart", || {
        c.book_ids().contains(&offer_id).then_some(())
    });

    // A second daemon on a data dir in use is refused with a clear message.
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(a.dir.path())
        .args(["daemon", "--api", "127.0.0.1:0", "--no-mdns"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // SIGTERM: clean exit 0.
    let mut b = b;
    let status = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = wait_for("b to exit", || b.child.try_wait().unwrap());
    assert!(code.success(), "daemon exited with {code}");
}

#[test]
fn api_requires_the_token_and_survives_bad_input() {
    let a = Daemon::start(None);
    let api = std::fs::read_to_string(a.dir.path().join("api.addr")).unwrap();
    let token = std::fs::read_to_string(a.dir.path().join(".cookie")).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = |p: &str| format!("http://{}{p}", api.trim());

    let mut r = agent.get(url("/v1/id")).call().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let r = agent
        .get(url("/v1/id"))
        .header("Authorization", "Bearer nope")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let auth = format!("Bearer {}", token.trim());
    let mut r = agent
        .post(url("/v1/offers"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send("{\"give\": ")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "bad_json");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());

    let mut r = agent
        .post(url("/v1/offers"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(r#"{"give":"XYZ","want":"USD","min":"1","max":"2","rate":"1"}"#)
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("unknown currency"));

    // Still alive and serving.
    let r = agent
        .get(url("/v1/id"))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The CLI reports a missing daemon clearly.
    let empty = tempfile::tempdir().unwrap();
    let err = cli(empty.path(), &["id"]).unwrap_err();
    assert!(err.contains("start it with `peerfx daemon`"), "{err}");
}
