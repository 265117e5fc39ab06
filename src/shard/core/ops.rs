//! What the control side asks of a shard besides kicks, and the trusted-proxy check at accept.
//! Sans-IO like the rest of the core: time comes in as `now`, sockets stay with the drivers.
//!
//! - [`ShardCore::admit`]: a driver asks it before [`ShardCore::handle_accept`]. On a PROXY
//!   listener with trusted proxies, a connection from any other source is refused before a
//!   byte is read; the driver closes the socket itself. Refusals are counted under
//!   [`CloseReason::UntrustedProxy`] and logged at most once per [`LOG_EVERY`], with the
//!   number of refusals left unlogged in between.
//! - Drain (a mailbox message): [`ShardCore::has_room`] turns false for good and
//!   [`ShardCore::is_draining`] tells the driver to close its listeners; connected players and
//!   publishers go on being served. Clients that announced the Enhanced RTMP reconnect
//!   capability get `NetConnection.Connect.ReconnectRequest` at once. HTTP connections idle
//!   between requests are closed; the others get `Connection: close` on their next answer.
//! - Reload (a mailbox message): the settings that can change at runtime replace the running
//!   ones, for new connections and (queue limits) for the connected ones, without closing any.
//!   What is bound to sockets, threads or the encode-once wire format stays as started.
use super::{http, CloseReason, ShardCore};
use crate::media::log::LogLimits;
use crate::shard::ShardSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Longest silence between two log lines about refused untrusted sources.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// The core's drain and refusal bookkeeping.
#[derive(Debug, Default)]
pub(super) struct OpsState {
    pub draining: bool,
    /// When the last refusal was logged.
    refusal_logged: Option<Instant>,
    /// Refusals since then that were not logged.
    refusals_unlogged: u64,
}

impl ShardCore {
    /// The shard drains: it accepts nothing more (drivers close their listeners).
    pub fn is_draining(&self) -> bool {
        self.ops.draining
    }

    /// Whether a connection from `peer` on `listener` may be accepted. `Err` carries why not;
    /// the driver then closes the socket without calling `handle_accept`.
    pub fn admit(
        &mut self,
        listener: usize,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(), CloseReason> {
        let Some(l) = self.settings.listeners.get(listener) else {
            return self.admit_limits(listener, peer, now);
        };
        if !l.proxy_protocol || l.trusts(peer.ip()) {
            return self.admit_limits(listener, peer, now);
        }
        let reason = CloseReason::UntrustedProxy;
        self.stats.closed_by_reason[reason.index()] += 1;
        let quiet = self
            .ops
            .refusal_logged
            .is_some_and(|at| now.saturating_duration_since(at) < LOG_EVERY);
        if quiet {
            self.ops.refusals_unlogged += 1;
        } else {
            let unlogged = std::mem::take(&mut self.ops.refusals_unlogged);
            warn!(shard = self.index, %peer, listener = %l.addr, unlogged,
                "refusing a connection from outside the trusted proxies");
            self.ops.refusal_logged = Some(now);
        }
        Err(reason)
    }

    /// Starts the drain (see the module doc). A second drain does nothing.
    pub(super) fn start_drain(&mut self) {
        if self.ops.draining {
            return;
        }
        self.ops.draining = true;
        let ids: Vec<usize> = self.conns.iter().map(|(id, _)| id).collect();
        let mut asked = 0u64;
        for id in ids {
            let Some(c) = self.conns.get_mut(id) else {
                continue;
            };
            if c.close_after_flush.is_none()
                && c.rtmp_mut().is_some_and(|r| r.session.request_reconnect())
            {
                asked += 1;
                self.collect_output(id);
            }
        }
        self.stats.reconnect_requests += asked;
        // HTTP clients have no reconnect request: the idle kept-alive ones are closed now, the
        // others get `Connection: close` on their next answer (`http_request`, the sweep).
        let idle_http: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| http::idle_between_requests(c))
            .map(|(id, _)| id)
            .collect();
        for id in idle_http {
            self.close_later(id, CloseReason::Shutdown);
        }
        info!(
            shard = self.index,
            connections = self.conns.len(),
            reconnect_requests = asked,
            "draining: accepting no new connections"
        );
    }

    /// Runs with `new` from now on, keeping what cannot change while running: listener
    /// addresses, shard count, driver, pinning, and the outgoing chunk size every frame is
    /// encoded with. Listener settings (PROXY, trusted sources) are taken by position.
    pub(super) fn reload(&mut self, new: Arc<ShardSettings>) {
        let old = &self.settings;
        let mut merged = (*new).clone();
        merged.shards = old.shards;
        merged.io = old.io;
        merged.pin_shards = old.pin_shards;
        merged.session.chunk_size = old.session.chunk_size;
        merged.listeners = old
            .listeners
            .iter()
            .enumerate()
            .map(|(i, running)| {
                let mut l = new.listeners.get(i).unwrap_or(running).clone();
                l.addr = running.addr;
                l
            })
            .collect();
        self.streams.set_limits(LogLimits {
            queue: merged.queue,
            gop_cache: merged.gop_cache,
            max_gop_bytes: merged.max_gop_bytes,
        });
        for (_, c) in self.conns.iter_mut() {
            c.queue.set_limits(merged.queue);
        }
        self.settings = Arc::new(merged);
        // Allows remembered under the old rules must not outlive them.
        self.auth.allowed.clear();
        info!(shard = self.index, "settings reloaded");
    }
}
