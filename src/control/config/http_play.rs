//! `[http_play]`: HTTP delivery listeners served by the shards (HTTP-FLV; the HLS/DASH
//! routes) and their bounds, with the defaults. Distinct from `[http]`, the control listener.
//! No I/O.
use crate::http::RequestLimits;
use crate::shard::HttpSettings;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// `[http_play]`: off unless `listen` has addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPlayConfig {
    /// `ADDR:PORT`s the shards serve HTTP delivery on (SO_REUSEPORT, like `server.listen`).
    pub listen: Vec<String>,
    /// Largest request head (request line and headers); a bigger one gets 431.
    pub max_head_bytes: usize,
    /// A kept-alive connection with no request for this long is closed.
    pub keepalive_timeout_ms: u64,
    /// A request head must be complete this long after its first byte (or the connection's
    /// last response).
    pub head_timeout_ms: u64,
    /// A play of a stream without media waits this long for it, then gets 404.
    pub stream_wait_ms: u64,
}

impl Default for HttpPlayConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            max_head_bytes: 8192,
            keepalive_timeout_ms: 15_000,
            head_timeout_ms: 10_000,
            stream_wait_ms: 5_000,
        }
    }
}

impl HttpPlayConfig {
    /// The parsed listen addresses (call on a validated config).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.listen
            .iter()
            .filter_map(|a| a.trim().parse().ok())
            .collect()
    }

    /// What the shards run with.
    pub fn settings(&self) -> HttpSettings {
        HttpSettings {
            limits: RequestLimits {
                max_head: self.max_head_bytes,
            },
            keepalive_timeout: Duration::from_millis(self.keepalive_timeout_ms),
            head_timeout: Duration::from_millis(self.head_timeout_ms),
            stream_wait: Duration::from_millis(self.stream_wait_ms),
        }
    }

    /// `(key, value, default)` of the numeric keys, for the range checks.
    pub(crate) fn numbers(&self) -> [(&'static str, u64, u64); 4] {
        let d = HttpPlayConfig::default();
        [
            (
                "http_play.max_head_bytes",
                self.max_head_bytes as u64,
                d.max_head_bytes as u64,
            ),
            (
                "http_play.keepalive_timeout_ms",
                self.keepalive_timeout_ms,
                d.keepalive_timeout_ms,
            ),
            (
                "http_play.head_timeout_ms",
                self.head_timeout_ms,
                d.head_timeout_ms,
            ),
            (
                "http_play.stream_wait_ms",
                self.stream_wait_ms,
                d.stream_wait_ms,
            ),
        ]
    }

    /// Indices of `listen` entries that are not socket addresses.
    pub(crate) fn bad_listen(&self) -> impl Iterator<Item = (usize, &String)> {
        self.listen
            .iter()
            .enumerate()
            .filter(|(_, a)| a.trim().parse::<SocketAddr>().is_err())
    }
}
