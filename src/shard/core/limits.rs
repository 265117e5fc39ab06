//! The core's limits: connections in total and per IP, the handshake rate per IP, streams,
//! players per stream and the command timeout; and the counting and rate-limited logging of
//! every refusal, including the ones the session and the decoders make (message size, chunk
//! streams, reassembly memory, AMF depth and element count, stream names).
//!
//! Node-wide counts live in a [`PeerTable`] that every shard of a server shares: one mutex,
//! touched only when a connection is admitted or forgotten, never per message. Everything
//! else is shard-local. Sans-IO like the rest of the core: time comes in as `now`.
//!
//! Call order: a driver's [`ShardCore::admit`] ends in `admit_limits` (the connection is
//! counted, or refused with [`CloseReason::LimitRefused`]), `handle_accept` binds the count
//! to the new connection (`bind_admission`), a PROXY header's source is counted per IP when
//! it completes (`admit_proxied`), `forget` gives it back (`release_admission`).
//! `handle_input` notes when the handshake completed (`note_handshake`); each sweep closes
//! the connections that did not start publishing or playing within the command timeout
//! (`sweep_commands`). `on_publish`/`on_play` ask `admit_stream`.
//!
//! Parts: [`LimitKind`] (`kind`) names the limits; [`PeerTable`] (`peers`) holds the
//! node-wide counts; this file has the settings, the refusal log and the core's side.
use super::conn::Role;
use super::{CloseReason, ShardCore};
use crate::session::names::Refusal;
use crate::session::SessionError;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

mod kind;
mod peers;

pub use kind::LimitKind;
pub use peers::PeerTable;

/// The limits the core enforces, resolved from `[limits]` (see `control::config::limits`
/// for what each means; 0 turns the per-IP ones off).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub handshakes_per_ip_per_s: u32,
    pub handshake_burst_per_ip: u32,
    pub exempt: Vec<IpNet>,
    pub max_streams: usize,
    pub max_players_per_stream: usize,
    pub command_timeout: Duration,
    pub log_refusals_per_s: u32,
}

impl LimitSettings {
    fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.exempt.iter().any(|n| n.contains(&ip))
    }
}
/// At most `per_s` lines a second; the rest are counted and reported by the next line.
#[derive(Debug, Default)]
pub(super) struct RefusalLog {
    window: Option<Instant>,
    in_window: u32,
    suppressed: u64,
}

impl RefusalLog {
    /// `Some(suppressed since the last line)` if a line may go out at `now`.
    fn allow(&mut self, now: Instant, per_s: u32) -> Option<u64> {
        let fresh = self
            .window
            .is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(1));
        if fresh {
            self.window = Some(now);
            self.in_window = 0;
        }
        if self.in_window >= per_s {
            self.suppressed += 1;
            return None;
        }
        self.in_window += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The core's side of the limits.
#[derive(Debug, Default)]
pub(super) struct LimitState {
    pub peers: Arc<PeerTable>,
    /// What the last successful `admit` counted, for the `handle_accept` that follows.
    admitted: Option<Option<IpAddr>>,
    /// Connections counted in `peers`, by slab key, with the source they were counted for.
    counted: HashMap<usize, Option<IpAddr>>,
    /// Pending connections whose handshake completed, and when.
    handshaken: HashMap<usize, Instant>,
    log: RefusalLog,
}

impl ShardCore {
    /// Shares `peers` with the other shards of a server (by default each core has its own).
    pub fn with_peer_table(mut self, peers: Arc<PeerTable>) -> Self {
        self.limits.peers = peers;
        self
    }

    /// The node-wide connection counts this core uses.
    pub fn peer_table(&self) -> &Arc<PeerTable> {
        &self.limits.peers
    }

    /// The connection limits at accept (the end of [`ShardCore::admit`]).
    pub(super) fn admit_limits(
        &mut self,
        listener: usize,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(), CloseReason> {
        // Behind a PROXY listener the socket's peer is the proxy, not the client.
        let proxied = self
            .settings
            .listeners
            .get(listener)
            .is_some_and(|l| l.proxy_protocol);
        let ip = (!proxied).then(|| peer.ip().to_canonical());
        match self.limits.peers.admit(ip, now, &self.settings.limits) {
            Ok(()) => {
                self.limits.admitted = Some(ip);
                Ok(())
            }
            Err(kind) => {
                let reason = CloseReason::LimitRefused;
                self.stats.closed_by_reason[reason.index()] += 1;
                self.refused(kind, peer, "connection refused", now);
                Err(reason)
            }
        }
    }

    /// The per-IP limits for the client a PROXY header named on connection `id` (its
    /// source was unknown at accept). On a refusal the connection is closed and false
    /// returned.
    pub(super) fn admit_proxied(&mut self, id: usize, source: SocketAddr, now: Instant) -> bool {
        let ip = source.ip().to_canonical();
        let Some(counted) = self.limits.counted.get_mut(&id) else {
            return true;
        };
        match self
            .limits
            .peers
            .admit_source(ip, now, &self.settings.limits)
        {
            Ok(()) => {
                *counted = Some(ip);
                true
            }
            Err(kind) => {
                self.refused(kind, source, "connection refused", now);
                self.close_now(id, CloseReason::LimitRefused);
                false
            }
        }
    }

    /// Binds the count of the last `admit` to connection `id` (from `handle_accept`).
    pub(super) fn bind_admission(&mut self, id: usize) {
        if let Some(ip) = self.limits.admitted.take() {
            self.limits.counted.insert(id, ip);
        }
    }

    /// Gives back what connection `id` counted (from `forget`, before it is removed), and
    /// counts a handshake timeout as the limit it is.
    pub(super) fn release_admission(&mut self, id: usize, reason: CloseReason) {
        if reason == CloseReason::HandshakeTimeout {
            if let Some(peer) = self.conns.get(id).map(|c| c.peer()) {
                let now = self.last_now;
                self.refused(
                    LimitKind::HandshakeTimeout,
                    peer,
                    "handshake not done in time",
                    now,
                );
            }
        }
        self.limits.handshaken.remove(&id);
        if let Some(ip) = self.limits.counted.remove(&id) {
            self.limits.peers.release(ip);
        }
    }

    /// Notes when a pending connection's handshake completed (after its input).
    pub(super) fn note_handshake(&mut self, id: usize, now: Instant) {
        let done = self
            .conns
            .get(id)
            .and_then(|c| c.rtmp())
            .is_some_and(|r| matches!(r.role, Role::Pending) && r.session.handshake_complete());
        if done {
            self.limits.handshaken.entry(id).or_insert(now);
        }
    }

    /// Closes pending connections whose handshake completed more than the command timeout
    /// ago; forgets the ones that started publishing or playing.
    pub(super) fn sweep_commands(&mut self, now: Instant) {
        let timeout = self.settings.limits.command_timeout;
        let mut late = Vec::new();
        let conns = &self.conns;
        self.limits.handshaken.retain(|&id, since| {
            let pending = conns
                .get(id)
                .and_then(|c| c.rtmp())
                .is_some_and(|r| matches!(r.role, Role::Pending));
            if pending && now.saturating_duration_since(*since) > timeout {
                late.push(id);
            }
            pending
        });
        for id in late {
            if let Some(peer) = self.conns.get(id).map(|c| c.peer()) {
                self.refused(
                    LimitKind::CommandTimeout,
                    peer,
                    "no publish or play in time",
                    now,
                );
                self.stats.timeouts += 1;
                self.closing.push((id, CloseReason::CommandTimeout));
            }
        }
    }

    /// The stream limits for a publish (`publish`) or play of `key` by `id`; on a refusal
    /// the client is told and false is returned.
    pub(super) fn admit_stream(
        &mut self,
        id: usize,
        key: &str,
        stream_id: u32,
        publish: bool,
    ) -> bool {
        let s = &self.settings.limits;
        let players = self.registry.players(key);
        let kind = match players {
            None if self.registry.len() >= s.max_streams => LimitKind::Streams,
            Some(n) if !publish && n as usize >= s.max_players_per_stream => {
                LimitKind::PlayersPerStream
            }
            _ => return true,
        };
        let now = self.last_now;
        let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) else {
            return false;
        };
        let why = match kind {
            LimitKind::Streams => "too many streams on this server",
            _ => "too many players of this stream",
        };
        if publish {
            rtmp.session.reject_publish(stream_id, why);
        } else {
            rtmp.session.reject_play(stream_id, why);
        }
        let peer = rtmp.peer;
        if publish {
            self.stats.publishes_refused += 1;
        }
        self.refused(kind, peer, why, now);
        false
    }

    /// Counts a publish or play the session refused itself (it already told the client).
    pub(super) fn session_refused(&mut self, id: usize, why: Refusal, now: Instant) {
        if let Some(peer) = self.conns.get(id).map(|c| c.peer()) {
            self.refused(LimitKind::of_refusal(&why), peer, &why.to_string(), now);
        }
    }

    /// Logs a fatal input error (rate-limited like refusals: a flood of garbage must not
    /// flood the log) and counts the limit it hit, if it was one. From `handle_input`.
    pub(super) fn protocol_error(&mut self, e: &SessionError, peer: SocketAddr, now: Instant) {
        let limit = LimitKind::of_error(e);
        if let Some(kind) = limit {
            self.stats.limit_refused[kind.index()] += 1;
        }
        let per_s = self.settings.limits.log_refusals_per_s;
        if let Some(suppressed) = self.limits.log.allow(now, per_s) {
            let limit = limit.map_or("none", LimitKind::as_str);
            info!(shard = self.index, %peer, error = %e, limit, suppressed,
                "closing connection after protocol error");
        }
    }

    /// Counts a refusal and logs it, at most `log_refusals_per_s` lines a second.
    pub(super) fn refused(&mut self, kind: LimitKind, peer: SocketAddr, what: &str, now: Instant) {
        self.stats.limit_refused[kind.index()] += 1;
        let per_s = self.settings.limits.log_refusals_per_s;
        if let Some(suppressed) = self.limits.log.allow(now, per_s) {
            warn!(shard = self.index, %peer, limit = kind.as_str(), suppressed, "limit: {what}");
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_log_is_rate_limited_and_reports_what_it_held_back() {
        let mut log = RefusalLog::default();
        let now = Instant::now();
        assert_eq!(log.allow(now, 2), Some(0));
        assert_eq!(log.allow(now, 2), Some(0));
        assert_eq!(log.allow(now, 2), None);
        assert_eq!(log.allow(now, 2), None);
        assert_eq!(log.allow(now + Duration::from_secs(1), 2), Some(2));
    }
}
