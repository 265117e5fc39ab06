//! Semantic rules for a parsed [`Config`]: ranges, listen addresses, log level, and the few
//! rules that relate two keys.
//!
//! Pure functions of the config; no I/O. Call order: parse (serde) -> [`Config::validate`]
//! -> `check` locates each [`ConfigProblem`] in the file text. The numeric ranges live in one
//! table, [`LIMITS`], which also feeds the hints `check` adds to type errors.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

use super::config::Config;

/// One semantic problem: which key, its value, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key, e.g. `play.write_merge_ms`.
    pub key: &'static str,
    /// The element of an array key (`server.listen`) the problem is about, if one.
    pub index: Option<usize>,
    /// The offending value, written as in TOML.
    pub value: String,
    /// What is wrong and what is allowed, e.g. `is out of range: must be 0..=1000 (ms); ...`.
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        write!(f, " = {} {}", self.value, self.reason)
    }
}

/// The allowed range of one integer key.
pub(crate) struct Limit {
    pub key: &'static str,
    pub lo: u64,
    pub hi: u64,
    /// Unit shown after the range: "ms", "bytes", or "" for a count.
    pub unit: &'static str,
    /// What a special value means, shown in the reason (e.g. 0 = kernel default).
    pub note: &'static str,
}

const DAY_MS: u64 = 86_400_000;
const GIB: u64 = 1 << 30;

/// Ranges are wide enough for any real deployment; they exist to catch typos (an extra zero,
/// seconds written where milliseconds are meant) before the relay starts.
pub(crate) const LIMITS: &[Limit] = &[
    limit("server.shards", 0, 1024, "", "0 = one shard per online CPU"),
    limit("server.max_connections", 1, 1_000_000, "", "per shard"),
    limit("server.chunk_size", 128, 65_536, "bytes", ""),
    limit("server.window_ack_size", 4096, 0x7fff_ffff, "bytes", ""),
    limit("socket.send_buffer", 0, GIB, "bytes", "0 = kernel default"),
    limit("socket.recv_buffer", 0, GIB, "bytes", "0 = kernel default"),
    // Smaller than a few KiB would reject ordinary metadata; RTMP cannot carry more.
    limit("publish.max_message_size", 4096, 16_777_215, "bytes", ""),
    limit("publish.idle_timeout_ms", 1000, DAY_MS, "ms", ""),
    // Beyond a second of merging, players see it as added latency.
    limit("play.write_merge_ms", 0, 1000, "ms", "0 = write at once"),
    limit("play.adaptive_merge_max_ms", 0, 1000, "ms", "0 = off"),
    limit("play.queue_max_ms", 1, 600_000, "ms", ""),
    limit("play.queue_max_bytes", 65_536, GIB, "bytes", ""),
    limit("play.kick_after_ms", 1000, DAY_MS, "ms", ""),
    limit("play.write_stall_timeout_ms", 1000, DAY_MS, "ms", ""),
    limit("timeouts.handshake_ms", 100, 600_000, "ms", ""),
    limit("timeouts.proxy_header_ms", 100, 600_000, "ms", ""),
    limit(
        "server.drain_timeout_ms",
        0,
        DAY_MS,
        "ms",
        "0 = exit at once",
    ),
    limit("agent.max_players", 1, 100_000_000, "", ""),
    limit("agent.max_mbps", 1, 100_000_000, "Mbit/s", ""),
    limit("hls.segment_target_ms", 1000, 30_000, "ms", ""),
    limit("hls.part_target_ms", 100, 1000, "ms", ""),
    limit("hls.window_segments", 2, 100, "", ""),
    limit("hls.max_bytes_per_stream", 1 << 20, GIB, "bytes", ""),
    limit(
        "hls.ended_keep_ms",
        0,
        600_000,
        "ms",
        "0 = dropped when the stream ends",
    ),
    limit("http_play.max_head_bytes", 1024, 1_048_576, "bytes", ""),
    limit("http_play.keepalive_timeout_ms", 100, DAY_MS, "ms", ""),
    limit("http_play.head_timeout_ms", 100, 600_000, "ms", ""),
    limit(
        "http_play.stream_wait_ms",
        0,
        600_000,
        "ms",
        "0 = 404 at once",
    ),
    limit(
        "http.max_labelled_streams",
        0,
        10_000,
        "",
        "0 = no labelled streams",
    ),
];

const fn limit(
    key: &'static str,
    lo: u64,
    hi: u64,
    unit: &'static str,
    note: &'static str,
) -> Limit {
    Limit {
        key,
        lo,
        hi,
        unit,
        note,
    }
}

pub(crate) const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

impl Limit {
    /// `0..=1000 (ms)`, plus the note when there is one.
    pub fn range_text(&self) -> String {
        let mut s = format!("{}..={}", self.lo, self.hi);
        if !self.unit.is_empty() {
            s.push_str(&format!(" ({})", self.unit));
        }
        if !self.note.is_empty() {
            s.push_str(&format!(", {}", self.note));
        }
        s
    }
}

pub(crate) fn limit_for(key: &str) -> Option<&'static Limit> {
    LIMITS.iter().find(|l| l.key == key)
}

impl Config {
    /// Semantic problems (ranges, addresses, log level, cross-key rules); empty means valid.
    /// Syntax and type errors cannot reach here: they fail parsing.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let d = Config::default();
        let (s, p, pl) = (&self.server, &self.publish, &self.play);
        let (a, da) = (&self.agent, &d.agent);
        let numbers: [(&'static str, u64, u64); 20] = [
            (
                "timeouts.proxy_header_ms",
                self.timeouts.proxy_header_ms,
                d.timeouts.proxy_header_ms,
            ),
            (
                "server.drain_timeout_ms",
                s.drain_timeout_ms,
                d.server.drain_timeout_ms,
            ),
            ("agent.max_players", a.max_players, da.max_players),
            ("agent.max_mbps", a.max_mbps, da.max_mbps),
            ("server.shards", s.shards as u64, d.server.shards as u64),
            (
                "server.max_connections",
                s.max_connections as u64,
                d.server.max_connections as u64,
            ),
            (
                "server.chunk_size",
                s.chunk_size.into(),
                d.server.chunk_size.into(),
            ),
            (
                "server.window_ack_size",
                s.window_ack_size.into(),
                d.server.window_ack_size.into(),
            ),
            ("socket.send_buffer", self.socket.send_buffer as u64, 0),
            ("socket.recv_buffer", self.socket.recv_buffer as u64, 0),
            (
                "publish.max_message_size",
                p.max_message_size.into(),
                d.publish.max_message_size.into(),
            ),
            (
                "publish.idle_timeout_ms",
                p.idle_timeout_ms,
                d.publish.idle_timeout_ms,
            ),
            (
                "play.write_merge_ms",
                pl.write_merge_ms,
                d.play.write_merge_ms,
            ),
            (
                "play.adaptive_merge_max_ms",
                pl.adaptive_merge_max_ms,
                d.play.adaptive_merge_max_ms,
            ),
            ("play.queue_max_ms", pl.queue_max_ms, d.play.queue_max_ms),
            (
                "play.queue_max_bytes",
                pl.queue_max_bytes as u64,
                d.play.queue_max_bytes as u64,
            ),
            ("play.kick_after_ms", pl.kick_after_ms, d.play.kick_after_ms),
            (
                "play.write_stall_timeout_ms",
                pl.write_stall_timeout_ms,
                d.play.write_stall_timeout_ms,
            ),
            (
                "timeouts.handshake_ms",
                self.timeouts.handshake_ms,
                d.timeouts.handshake_ms,
            ),
            (
                "http.max_labelled_streams",
                self.http.max_labelled_streams as u64,
                d.http.max_labelled_streams as u64,
            ),
        ];
        out.extend(self.limits.problems(p.max_message_size));
        check_listen(&s.listen, &mut out);
        check_trusted(&s.trusted_proxies, &mut out);
        if !a.listen.trim().is_empty() && a.listen.trim().parse::<SocketAddr>().is_err() {
            out.push(ConfigProblem {
                key: "agent.listen",
                index: None,
                value: format!("{:?}", a.listen),
                reason: "is not an ADDR:PORT socket address: write an IP and a port, like \
                         \"127.0.0.1:1936\", or \"\" for no agent"
                    .to_owned(),
            });
        }
        for (i, text) in self.http_play.bad_listen() {
            out.push(ConfigProblem {
                key: "http_play.listen",
                index: Some(i),
                value: format!("{text:?}"),
                reason: "is not an ADDR:PORT socket address: write an IP and a port, like \
                         \"0.0.0.0:8080\""
                    .to_owned(),
            });
        }
        for (key, value, default) in numbers
            .into_iter()
            .chain(self.hls.numbers())
            .chain(self.http_play.numbers())
        {
            if let Some(l) = limit_for(key) {
                if value < l.lo || value > l.hi {
                    out.push(ConfigProblem {
                        key: l.key,
                        index: None,
                        value: value.to_string(),
                        reason: format!(
                            "is out of range: must be {}; the default is {default}",
                            l.range_text()
                        ),
                    });
                }
            }
        }
        // A queue shorter than the merge window would be over its limit at every write.
        if pl.write_merge_ms <= 1000 && (1..=pl.write_merge_ms).contains(&pl.queue_max_ms) {
            out.push(ConfigProblem {
                key: "play.queue_max_ms",
                index: None,
                value: pl.queue_max_ms.to_string(),
                reason: format!(
                    "must be larger than play.write_merge_ms ({}): players would skip frames \
                     at every merged write",
                    pl.write_merge_ms
                ),
            });
        }
        // A part as long as the segment leaves nothing for low latency.
        if self.hls.part_target_ms >= self.hls.segment_target_ms {
            out.push(ConfigProblem {
                key: "hls.part_target_ms",
                index: None,
                value: self.hls.part_target_ms.to_string(),
                reason: format!(
                    "must be shorter than hls.segment_target_ms ({})",
                    self.hls.segment_target_ms
                ),
            });
        }
        let h = &self.http;
        if !h.listen.trim().is_empty() && h.listen.trim().parse::<SocketAddr>().is_err() {
            out.push(ConfigProblem {
                key: "http.listen",
                index: None,
                value: format!("{:?}", h.listen),
                reason: "is not an ADDR:PORT socket address: write an IP and a port, like \
                         \"127.0.0.1:8080\" (host names are not resolved), or \"\" for no \
                         HTTP listener"
                    .to_owned(),
            });
        }
        if h.api_token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            out.push(ConfigProblem {
                key: "http.api_token",
                index: None,
                value: "(hidden)".to_owned(),
                reason: "must not contain spaces or control characters".to_owned(),
            });
        }
        if let Err(why) = check_level(&self.log.level) {
            out.push(ConfigProblem {
                key: "log.level",
                index: None,
                value: format!("{:?}", self.log.level),
                reason: format!(
                    "is not a log level: {why}; use one of error, warn, info, debug, trace \
                     (or directives like \"info,rtmp_edge::shard=debug\"); the default is \"info\""
                ),
            });
        }
        self.validate_relay(&mut out);
        self.validate_record(&mut out);
        self.validate_access(&mut out);
        self.validate_tls(&mut out);
        out
    }
}

fn check_listen(listen: &[String], out: &mut Vec<ConfigProblem>) {
    if listen.is_empty() {
        out.push(ConfigProblem {
            key: "server.listen",
            index: None,
            value: "[]".to_owned(),
            reason: "is empty: give at least one ADDR:PORT, e.g. [\"0.0.0.0:1935\"]".to_owned(),
        });
    }
    check_addrs("server.listen", listen, out);
}

/// Each entry of the list `key` must be an `ADDR:PORT`, listed once.
pub(crate) fn check_addrs(key: &'static str, listen: &[String], out: &mut Vec<ConfigProblem>) {
    let mut seen = HashSet::new();
    for (i, text) in listen.iter().enumerate() {
        let problem = |reason: &str| ConfigProblem {
            key,
            index: Some(i),
            value: format!("{text:?}"),
            reason: reason.to_owned(),
        };
        match text.trim().parse::<SocketAddr>() {
            Err(_) => out.push(problem(
                "is not an ADDR:PORT socket address: write an IP and a port, like \
                 \"0.0.0.0:1935\" or \"[::]:1935\" (host names are not resolved)",
            )),
            Ok(addr) if !seen.insert(addr) => out.push(problem(
                "is listed twice: an address can be bound only once",
            )),
            Ok(_) => {}
        }
    }
}

fn check_trusted(trusted: &[String], out: &mut Vec<ConfigProblem>) {
    for (i, text) in trusted.iter().enumerate() {
        if parse_trusted(text).is_none() {
            out.push(ConfigProblem {
                key: "server.trusted_proxies",
                index: Some(i),
                value: format!("{text:?}"),
                reason: "is not a CIDR or an IP address: write e.g. \"10.0.0.0/8\", \
                         \"192.0.2.10\" or \"2001:db8::/32\""
                    .to_owned(),
            });
        }
    }
}

/// A trusted proxy entry: a CIDR (`10.0.0.0/8`) or one address (a /32 or /128).
pub(crate) fn parse_trusted(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// A level name, or comma-separated `tracing` directives `LEVEL` / `target=LEVEL`.
/// Stricter than `EnvFilter`, which would read a misspelt level as a target name.
fn check_level(level: &str) -> Result<(), String> {
    if level.trim().is_empty() {
        return Err("it is empty".to_owned());
    }
    for directive in level.split(',').map(str::trim) {
        let (target, lvl) = match directive.split_once('=') {
            Some((t, l)) => (Some(t.trim()), l.trim()),
            None => (None, directive),
        };
        if let Some(t) = target {
            let ok = !t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || "_:-".contains(c));
            if !ok {
                return Err(format!("bad target {t:?} in {directive:?}"));
            }
        }
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(lvl)) {
            return Err(format!("unknown level {lvl:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_holds_its_default_and_rejects_one_past_each_end() {
        let d = Config::default();
        assert!(d.validate().is_empty());
        for l in LIMITS {
            let (table, key) = l.key.split_once('.').unwrap();
            for (v, bad) in [(l.lo, false), (l.hi, false), (l.hi + 1, true)]
                .into_iter()
                .chain((l.lo > 0).then(|| (l.lo - 1, true)))
            {
                let text = format!("[{table}]\n{key} = {v}\n");
                let c: Config = toml::from_str(&text).unwrap();
                let keys: Vec<_> = c.validate().iter().map(|p| p.key).collect();
                assert_eq!(keys.contains(&l.key), bad, "{text} -> {keys:?}");
            }
        }
    }

    #[test]
    fn out_of_range_message() {
        let mut c = Config::default();
        c.play.write_merge_ms = 5000;
        c.play.queue_max_ms = 10_000;
        let p = c.validate();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            p[0].to_string(),
            "play.write_merge_ms = 5000 is out of range: must be 0..=1000 (ms), \
             0 = write at once; the default is 0"
        );
    }

    #[test]
    fn queue_must_outlast_merge_window() {
        let mut c = Config::default();
        c.play.write_merge_ms = 500;
        c.play.queue_max_ms = 500;
        let p = c.validate();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "play.queue_max_ms");
    }

    #[test]
    fn listen_rules() {
        let mut c = Config::default();
        c.server.listen = vec![];
        assert!(c.validate()[0].reason.starts_with("is empty"));
        c.server.listen = vec![
            "0.0.0.0:1935".into(),
            "localhost:1935".into(),
            "[::1]:1935".into(),
            "0.0.0.0:1935".into(),
            "::1:1935".into(),
        ];
        let p = c.validate();
        let idx: Vec<_> = p.iter().map(|p| p.index).collect();
        assert_eq!(idx, vec![Some(1), Some(3), Some(4)], "{p:?}");
        assert!(p[0]
            .to_string()
            .starts_with("server.listen[1] = \"localhost:1935\" is not"));
        assert!(p[1].reason.contains("twice"));
    }

    #[test]
    fn levels() {
        for ok in [
            "info",
            "WARN",
            "off",
            "info,rtmp_edge::shard=debug",
            "trace, mio=warn",
        ] {
            assert_eq!(check_level(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "inf",
            "verbose",
            "info,=debug",
            "info,a b=debug",
            "info,",
        ] {
            assert!(check_level(bad).is_err(), "{bad}");
        }
    }
}
