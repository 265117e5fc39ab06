//! Outgoing relay connections: what the shard core needs to pull streams from origins on
//! demand and to push (forward) local streams to upstream servers.
//!
//! - [`url`]: the `rtmp://` URL parser (shared with the load tester).
//! - [`connect`]: the non-blocking connect helper the drivers use (shared with the load
//!   tester); the only socket code here.
//! - [`origin`]: origin order (`ordered` / rendezvous `hash`) and reconnect backoff.
//! - [`RelaySettings`]: per-app origins, push targets and timeouts, resolved from the config.
//!
//! The connections themselves are a kind of the shard core's connections
//! (`shard::core::pull` and `shard::core::push`), driven by the same drivers as inbound ones,
//! and use the client side of `session/`.
pub mod connect;
pub mod origin;
pub mod url;

pub use origin::OriginChoice;
use std::net::SocketAddr;
use std::time::Duration;
use url::RtmpUrl;

/// The name of the app entry that applies to every app without one of its own.
pub const ANY_APP: &str = "*";

/// The stream-name query key that carries the hop count (`name?hops=N`).
pub const HOPS_KEY: &str = "hops";

/// One upstream server: its URL (host, port, app) and its resolved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub url: RtmpUrl,
    pub addr: SocketAddr,
}

impl Upstream {
    /// `addr/app`: what identifies the origin for rendezvous hashing.
    pub fn identity(&self) -> String {
        format!("{}/{}", self.addr, self.url.app)
    }
}

/// Relay settings of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRelay {
    /// The app name, or [`ANY_APP`].
    pub name: String,
    pub origins: Vec<Upstream>,
    pub origin_choice: OriginChoice,
    pub push: Vec<Upstream>,
    /// An upstream without players closes after this long.
    pub idle_close: Duration,
    pub connect_timeout: Duration,
    /// From TCP connect until the upstream answered `connect`.
    pub handshake_timeout: Duration,
    /// From the answered `connect` until the first media (pull) or `Publish.Start` (push).
    pub play_timeout: Duration,
}

/// The relay settings of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelaySettings {
    pub apps: Vec<AppRelay>,
    /// Streams arriving with more hops than this are refused (loop prevention).
    pub hop_limit: u32,
}

impl RelaySettings {
    /// The settings of `app`: its own entry, else the [`ANY_APP`] one.
    pub fn app(&self, app: &str) -> Option<&AppRelay> {
        self.apps
            .iter()
            .find(|a| a.name == app)
            .or_else(|| self.apps.iter().find(|a| a.name == ANY_APP))
    }
}

/// The hop count a stream-name query carries (`hops=N`; 0 without one).
pub fn hops_of(query: &str) -> u32 {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == HOPS_KEY)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// `name?hops=N` for the next hop.
pub fn name_with_hops(name: &str, hops: u32) -> String {
    format!("{name}?{HOPS_KEY}={hops}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_in_the_query() {
        assert_eq!(hops_of(""), 0);
        assert_eq!(hops_of("a=1&hops=3"), 3);
        assert_eq!(hops_of("hops=x"), 0);
        assert_eq!(name_with_hops("s", 2), "s?hops=2");
    }
}
