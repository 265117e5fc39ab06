//! The shard layer: one thread per core, each running a sans-IO [`ShardCore`] behind a thin
//! event-loop driver (mio/epoll or io_uring), joined by mailboxes.
//!
//! - [`core`]: everything a shard decides (sessions, roles, streams, fan-out by position in
//!   each stream's frame log, the flush schedule, timers, mailbox batches, counters), without
//!   sockets, clocks or threads.
//! - `driver`: the event loops that move bytes between sockets and the core. They are the
//!   only code here that touches sockets, clocks and threads.
//! - [`Server`]: binds every shard's SO_REUSEPORT listeners, picks the driver, spawns the
//!   shard threads; [`Server::stop`] ends them.

mod callbacks;
pub mod core;
mod driver;
mod mailbox;
mod server;
pub mod snapshot;
mod socket;
mod stats;

pub use self::core::{AuthCallback, CloseReason, ConnId, ShardCore, Transmit};
pub use self::core::{LimitKind, LimitSettings, PeerTable};
pub use callbacks::{CallbackReply, CallbackSink};
pub use server::{Server, ServerError, ShardControl, Stopper};
pub use stats::{ProtocolErrorKind, ShardStats};

use crate::media::queue::QueueLimits;
use crate::session::SessionConfig;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Which event loop drives the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// The driver measured faster (today epoll; see the README's benchmark section).
    #[default]
    Auto,
    /// mio over epoll.
    Epoll,
    /// io_uring; the start fails where it cannot run.
    Uring,
}

/// One listening address and what its connections speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    pub addr: SocketAddr,
    /// Every connection starts with a PROXY protocol header whose source replaces the peer.
    pub proxy_protocol: bool,
    /// With `proxy_protocol`: the sources allowed to connect (empty: any). Others are closed
    /// at accept ([`CloseReason::UntrustedProxy`]).
    pub trusted_proxies: Vec<IpNet>,
    /// What the listener's connections speak.
    pub protocol: ListenerProtocol,
    /// RTMPS: connections speak TLS with this certificate (None: plain RTMP).
    pub tls: Option<core::TlsServer>,
}

/// The protocol of a listener's connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListenerProtocol {
    #[default]
    Rtmp,
    /// HTTP delivery (HTTP-FLV; HLS/DASH routes) served by the shards.
    Http,
}

impl ListenerProtocol {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Rtmp => "rtmp",
            ListenerProtocol::Http => "http",
        }
    }
}

/// Bounds and timeouts of HTTP delivery connections (see `[http_play]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    pub limits: crate::http::RequestLimits,
    /// A kept-alive connection with no request for this long is closed.
    pub keepalive_timeout: Duration,
    /// A started request head must be complete within this.
    pub head_timeout: Duration,
    /// A play of a stream that has no media yet waits this long, then gets 404.
    pub stream_wait: Duration,
}

impl ListenerSettings {
    /// A plain RTMP listener on `addr`.
    pub fn rtmp(addr: SocketAddr) -> Self {
        ListenerSettings {
            addr,
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
            protocol: ListenerProtocol::Rtmp,
            tls: None,
        }
    }

    /// A plain HTTP delivery listener on `addr`.
    pub fn http(addr: SocketAddr) -> Self {
        ListenerSettings {
            protocol: ListenerProtocol::Http,
            ..ListenerSettings::rtmp(addr)
        }
    }

    /// Whether a connection from `peer` may send a PROXY header here. IPv4-mapped IPv6
    /// peers (a dual-stack listener) are matched as IPv4.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_proxies.is_empty() || self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }
}

/// Everything a shard needs, resolved from the configuration once at start. The defaults are
/// the configuration's ([`crate::control::Config::default`]): they are written in one place.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    pub listeners: Vec<ListenerSettings>,
    /// Number of shard threads (at least 1).
    pub shards: usize,
    pub io: IoMode,
    /// Pin shard i to CPU i modulo the CPUs this process may use.
    pub pin_shards: bool,
    /// Connections per shard; beyond it the shard stops accepting until one closes.
    pub max_connections: usize,
    pub session: SessionConfig,
    pub nodelay: bool,
    /// SO_SNDBUF / SO_RCVBUF for accepted sockets; 0 leaves the kernel's default.
    pub send_buffer: usize,
    pub recv_buffer: usize,
    /// A newer publisher of a live stream replaces the older one instead of being refused.
    pub takeover: bool,
    pub publisher_idle_timeout: Duration,
    /// From accept until publish or play must have been requested.
    pub handshake_timeout: Duration,
    /// From accept until the PROXY header must be complete (PROXY listeners).
    pub proxy_header_timeout: Duration,
    /// Longest a player's frames may wait to be written together (0 = end of each pass).
    pub write_merge: Duration,
    /// With `write_merge` 0: frames may wait as long as the previous flush took, up to this
    /// (0 turns it off). Under light load flushes are short and so is the wait; under heavy
    /// load each write carries more frames, so the shard makes fewer, larger writes.
    pub adaptive_merge_max: Duration,
    pub queue: QueueLimits,
    pub gop_cache: bool,
    /// Largest GOP kept for instant start; a longer GOP is not cached.
    pub max_gop_bytes: usize,
    /// A player whose socket accepts nothing for this long is closed.
    pub write_stall_timeout: Duration,
    /// Origins to pull from and targets to push to, per app.
    pub relay: crate::relay::RelaySettings,
    /// How each app records (see `crate::record`).
    pub record: crate::record::RecordApps,
    /// Who may publish and play what (see `auth`); read from key files at start and reload.
    pub access: std::sync::Arc<crate::auth::AccessPolicy>,
    /// Connection, stream and command limits (`[limits]`).
    pub limits: LimitSettings,
    pub http: HttpSettings,
    /// How `rtmps://` upstreams are verified (the configured CA or the system roots); None
    /// when no upstream is `rtmps://`.
    pub tls_client: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The CMAF segmenter of HLS/DASH delivery: `None` when no app is segmented.
    /// Segmenters run only when the node also serves HTTP ([`ShardSettings::serves_http`]),
    /// for the apps [`HlsApps`] names.
    pub hls: Option<crate::http::cmaf::SegmenterSettings>,
    pub hls_apps: HlsApps,
    /// How long an ended stream's last window stays served (`hls.ended_keep_ms`).
    pub hls_ended_keep: Duration,
}

/// Which apps' streams are segmented for HLS/DASH: an app's own `[[app]] hls`, else the
/// `*` table's, else `hls.enabled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsApps {
    pub default: bool,
    /// The apps with an explicit `hls` key.
    pub apps: Vec<(String, bool)>,
}

impl Default for HlsApps {
    fn default() -> Self {
        HlsApps {
            default: true,
            apps: Vec::new(),
        }
    }
}

impl HlsApps {
    pub fn segments(&self, app: &str) -> bool {
        let find = |name: &str| self.apps.iter().find(|(n, _)| n == name).map(|(_, on)| *on);
        find(app)
            .or_else(|| find(crate::relay::ANY_APP))
            .unwrap_or(self.default)
    }

    /// Whether some app is segmented.
    pub fn any(&self) -> bool {
        self.default || self.apps.iter().any(|(_, on)| *on)
    }
}

impl Default for ShardSettings {
    fn default() -> Self {
        crate::control::Config::default().shard_settings()
    }
}

impl ShardSettings {
    /// Whether some listener serves HTTP (frames then also get their FLV tag form).
    pub fn serves_http(&self) -> bool {
        self.listeners
            .iter()
            .any(|l| l.protocol == ListenerProtocol::Http)
    }

    /// Listens on `addrs` (plain RTMP) with every other setting at its default.
    pub fn listening_on(addrs: &[SocketAddr]) -> Self {
        ShardSettings {
            listeners: addrs.iter().copied().map(ListenerSettings::rtmp).collect(),
            ..ShardSettings::default()
        }
    }
}
