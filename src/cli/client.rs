//! The HTTP client of the control API, found through the data directory
//! (`api.addr`, `.cookie`).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::daemon::{API_ADDR_FILE, COOKIE_FILE};

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

    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the peerfx daemon at {}: {e} (is it running? start it with `peerfx daemon`)",
            self.base
        )
    }

    /// The daemon's answer as JSON, or its error as an error.
    fn handle(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut resp = r.map_err(|e| self.unreachable(e))?;
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
            // The message may quote a peer: never let it drive the terminal.
            bail!("{} [{code}]", peerfx_core::text::escape(&msg));
        }
        Ok(value)
    }

    fn authorized<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        req.header("Authorization", format!("Bearer {}", self.token))
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .authorized(self.agent.get(format!("{}{path}", self.base)))
            .call();
        self.handle(r)
    }

    pub fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .authorized(self.agent.post(format!("{}{path}", self.base)))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        self.handle(r)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .authorized(self.agent.delete(format!("{}{path}", self.base)))
            .call();
        self.handle(r)
    }

    /// A binary answer of at most `limit` bytes.
    pub fn get_bytes(&self, path: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        let r = self
            .authorized(self.agent.get(format!("{}{path}", self.base)))
            .call();
        let mut resp = r.map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() != 200 {
            return self.handle(Ok(resp)).map(|_| Vec::new());
        }
        Ok(resp.body_mut().with_config().limit(limit).read_to_vec()?)
    }

    /// The server-sent event stream, line by line, until it ends.
    pub fn events(&self, mut each: impl FnMut(&str)) -> anyhow::Result<()> {
        use std::io::BufRead;
        // No overall timeout: the stream lasts until Ctrl-C.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let r = self
            .authorized(agent.get(format!("{}/v1/events", self.base)))
            .call();
        let resp = r.map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() != 200 {
            return self.handle(Ok(resp)).map(|_| ());
        }
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            let line = line.context("event stream closed")?;
            if let Some(data) = line.strip_prefix("data:") {
                each(data.trim());
            }
        }
        Ok(())
    }
}

/// Percent-encodes a query value.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path with a query string of the values that are set.
pub fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", url_escape(v))))
        .collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}
