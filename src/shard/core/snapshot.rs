//! What the core tells the control side: the [`ShardSnapshot`] it builds on its sweep
//! cadence (counters, connections by role and listener, streams with their health, clients,
//! the fan-out latency histogram), and the access-log event of every finished session.
//!
//! Read-only over the core's state, except for closing the health bitrate window on the
//! sweep. Sans-IO: `now` is an argument; the log event goes through `tracing`.
use super::conn::Connection;
use super::{CloseReason, ShardCore};
use crate::shard::snapshot::{
    ClientId, ClientInfo, ClientRole, HomeInfo, ListenerConns, ShardSnapshot, StreamInfo,
};
use std::time::{Duration, Instant};
use tracing::info;

/// The `tracing` target of access-log events.
pub const ACCESS_TARGET: &str = "rtmp_edge::access";

impl ShardCore {
    /// The driver's last pass worked this long (time not spent waiting for events).
    pub fn handle_busy(&mut self, busy: Duration) {
        self.stats.busy += busy;
    }

    /// A snapshot to publish, once per sweep (and once at the start); see [`Self::snapshot`].
    pub fn poll_snapshot(&mut self, now: Instant) -> Option<ShardSnapshot> {
        if !self.snapshot_due {
            return None;
        }
        self.snapshot_due = false;
        Some(self.snapshot(now))
    }

    /// Everything this shard publishes, as of `now`. Costs one pass over the connections and
    /// streams; drivers call it through `poll_snapshot`, once per sweep.
    pub fn snapshot(&self, now: Instant) -> ShardSnapshot {
        let mut listeners: Vec<ListenerConns> = self
            .settings
            .listeners
            .iter()
            .map(|l| ListenerConns {
                addr: Some(l.addr),
                protocol: l.protocol.as_str(),
                ..ListenerConns::default()
            })
            .collect();
        let mut clients = Vec::with_capacity(self.conns.len());
        for (id, c) in self.conns.iter() {
            // Relay connections belong to no listener; the streams report them.
            if c.is_upstream() {
                continue;
            }
            let role = c.role();
            if listeners.len() <= c.listener {
                listeners.resize(c.listener + 1, ListenerConns::default());
            }
            let l = &mut listeners[c.listener];
            match role {
                ClientRole::Pending => l.pending += 1,
                ClientRole::Publisher => l.publishers += 1,
                ClientRole::Player => l.players += 1,
            }
            let stream = c.stream().and_then(|s| self.streams.get(s));
            let log = c.player_log(&self.streams);
            clients.push(ClientInfo {
                id: self.client_id(id, c),
                peer: c.peer(),
                listener: l.addr,
                role,
                stream: stream.map(|s| s.key.clone()),
                connected: now.saturating_duration_since(c.created),
                bytes_in: c.bytes_in,
                bytes_out: c.bytes_out,
                queued_bytes: c.queue.queued_bytes(log),
                lag_ms: match (log, c.queue.position()) {
                    (Some(log), Some(at)) if c.queue.behind(Some(log)) => log.span_from(at),
                    _ => 0,
                },
                dropped_frames: c.queue.dropped_frames(),
            });
        }
        let streams = self
            .streams
            .iter()
            .map(|s| StreamInfo {
                key: s.key.clone(),
                players: s.players.len() as u64,
                live: s.source.is_some(),
                home: s.home.as_ref().and_then(|h| {
                    let publisher = self.conns.get(h.publisher)?;
                    Some(HomeInfo {
                        publisher: self.client_id(h.publisher, publisher),
                        peer: publisher.peer(),
                        health: h.health.snapshot(now),
                    })
                }),
            })
            .collect();
        ShardSnapshot {
            shard: self.index,
            uptime: now.saturating_duration_since(self.started),
            stats: self.stats.clone(),
            latency: self.latency.clone(),
            latency_sum: self.latency_sum,
            part_latency: self.part_latency.clone(),
            part_latency_sum: self.part_latency_sum,
            listeners,
            streams,
            clients,
        }
    }

    fn client_id(&self, conn: usize, c: &Connection) -> ClientId {
        ClientId {
            shard: self.index,
            conn,
            generation: c.generation,
        }
    }

    /// Closes the bitrate window of every stream published here.
    pub(super) fn sweep_health(&mut self, now: Instant) {
        for stream in self.streams.iter_mut() {
            if let Some(home) = &mut stream.home {
                home.health.on_sweep(now);
            }
        }
    }

    /// A kick from the control side: closes `conn` if it is still `generation`.
    pub(super) fn kick(&mut self, conn: usize, generation: u64) {
        if let Some(c) = self.conns.get(conn).filter(|c| c.generation == generation) {
            info!(shard = self.index, peer = %c.peer(), "client kicked through the API");
            self.close_later(conn, CloseReason::Kicked);
        }
    }

    /// One access-log event for a finished session (`c` has just been removed).
    pub(super) fn access_log(&self, c: &Connection, reason: CloseReason) {
        let (role, key) = match &c.last_session {
            Some((role, key)) => (role.as_str(), &**key),
            None => (ClientRole::Pending.as_str(), ""),
        };
        let (app, stream) = key.split_once('/').unwrap_or((key, ""));
        let listener = self.settings.listeners.get(c.listener).map(|l| l.addr);
        info!(
            target: ACCESS_TARGET,
            shard = self.index,
            client = %c.peer(),
            listener = listener.map(tracing::field::display),
            role,
            app,
            stream,
            duration_ms = self.last_now.saturating_duration_since(c.created).as_millis() as u64,
            bytes_in = c.bytes_in,
            bytes_out = c.bytes_out,
            reason = reason.as_str(),
            "session ended"
        );
    }
}
