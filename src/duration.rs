//! Durations as people write them on the command line and in the config
//! file: 30s, 30m, 24h, 7d.

use anyhow::Context;

/// Parses 30s, 30m, 24h, 7d.
pub fn parse(s: &str) -> anyhow::Result<u64> {
    let (n, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: u64 = n
        .parse()
        .with_context(|| format!("duration {s:?}: use e.g. 30m, 24h, 7d"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("duration {s:?}: use s, m, h or d"),
    };
    n.checked_mul(mult).context("duration too long")
}
