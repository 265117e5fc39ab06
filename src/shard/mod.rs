//! The driver: one thread per core, each with its own SO_REUSEPORT listener, mio event loop and
//! slab of connections, joined by mailboxes.
//!
//! This is the only layer that touches sockets, clocks and threads. It moves bytes between
//! sockets and the sans-IO sessions, turns publishers' messages into frames once, and fans the
//! frames out: to local players directly, and to other shards with one mailbox message per
//! shard per event-loop pass. Start it with [`Server::start`]; stop it with [`Server::stop`].

mod conn;
pub(crate) mod driver;
mod event_loop;
mod flush;
mod mailbox;
mod server;
mod socket;
mod stats;
mod streams;

pub use server::{Server, ServerError, Stopper};
pub use stats::ShardStats;

use crate::media::queue::QueueLimits;
use crate::session::SessionConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// Everything a shard needs, resolved from the configuration once at start.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    pub listen: Vec<SocketAddr>,
    /// Number of shard threads (at least 1).
    pub shards: usize,
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
    /// Every connection starts with a PROXY protocol header whose source replaces the peer.
    pub proxy_protocol: bool,
    pub publisher_idle_timeout: Duration,
    /// From accept until publish or play must have been requested.
    pub handshake_timeout: Duration,
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
}

impl Default for ShardSettings {
    fn default() -> Self {
        ShardSettings {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 1935))],
            shards: 1,
            pin_shards: false,
            max_connections: 20_000,
            session: SessionConfig::default(),
            nodelay: true,
            send_buffer: 0,
            recv_buffer: 0,
            takeover: false,
            proxy_protocol: false,
            publisher_idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            write_merge: Duration::ZERO,
            adaptive_merge_max: Duration::from_millis(20),
            queue: QueueLimits {
                max_span_ms: 5_000,
                max_bytes: 16 << 20,
                kick_after_ms: 15_000,
            },
            gop_cache: true,
            max_gop_bytes: 32 << 20,
            write_stall_timeout: Duration::from_secs(30),
        }
    }
}
