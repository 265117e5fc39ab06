//! Outbound relay connections of the core: opening them (`poll_connect`, answered by the
//! driver with `handle_connected`), feeding their bytes to the client session, their phase
//! timeouts, and telling the pull or push that owns one when it is gone.
//!
//! Sans-IO like the rest of the core: the driver opens the socket and reports the result;
//! time is an argument. Call order: the core queues a [`Connect`] -> the driver opens a
//! non-blocking TCP connection and registers it under `conn` -> `handle_connected` -> bytes
//! flow through `handle_input` / `poll_transmit` like any connection.
use super::conn::{Job, Kind, Phase, UpstreamConn};
use super::{CloseReason, ConnId, ShardCore};
use crate::relay::{self, AppRelay, RelaySettings, Upstream};
use crate::session::{ClientConfig, ClientEvent, ClientSession};
use crate::shard::mailbox::StreamKey;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// An outbound TCP connection for the driver to open; see [`ShardCore::poll_connect`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect {
    pub conn: ConnId,
    pub addr: SocketAddr,
}

/// What an outbound connection asks for once connected.
pub(super) enum Request {
    Play(String),
    Publish(String),
}

/// The listener index of relay connections (they belong to none).
const NO_LISTENER: usize = usize::MAX;

impl ShardCore {
    /// The next outbound connection to open. Open it without blocking, register it under
    /// `conn` like an accepted one, and report the outcome with `handle_connected`.
    pub fn poll_connect(&mut self) -> Option<Connect> {
        self.connects.pop_front()
    }

    /// The TCP connection of `conn` (from `poll_connect`) is up, or failed to come up. On
    /// failure the core has forgotten `conn`: the driver closes its socket, if any.
    pub fn handle_connected(&mut self, conn: ConnId, result: std::io::Result<()>, now: Instant) {
        self.last_now = now;
        let Some(up) = self.conns.get_mut(conn.0).and_then(|c| c.upstream_mut()) else {
            return;
        };
        if up.phase != Phase::Connecting {
            return;
        }
        match result {
            Ok(()) => {
                up.phase = Phase::Handshaking;
                up.phase_since = now;
                debug!(shard = self.index, peer = %up.peer, stream = %up.key, "upstream connected");
                self.collect_output(conn.0);
                // An rtmps:// upstream starts with the TLS ClientHello.
                if self.conns.get(conn.0).is_some_and(|c| c.tls.is_some()) {
                    self.schedule_now(conn.0);
                }
            }
            Err(e) => {
                info!(shard = self.index, peer = %up.peer, stream = %up.key, error = %e, "upstream connect failed");
                self.forget(conn.0, CloseReason::UpstreamFailed);
            }
        }
        self.close_pending();
    }

    /// Creates an outbound connection to `to` and queues its connect. None when the shard
    /// is full.
    pub(super) fn open_upstream(
        &mut self,
        key: &StreamKey,
        job: Job,
        to: &Upstream,
        request: Request,
        now: Instant,
    ) -> Option<usize> {
        if !self.has_room() {
            return None;
        }
        let mut config = ClientConfig::new(&to.url.app, &to.url.tc_url());
        config.session = self.settings.session.clone();
        // A pull announces Enhanced RTMP so an origin that speaks it sends every track and
        // codec (the edge keeps a legacy variant for its own legacy players); a push forwards
        // the stream as published.
        config.enhanced = matches!(request, Request::Play(_));
        let uptime = now.duration_since(self.started).as_millis() as u32;
        let mut session = ClientSession::new(config, self.rng.u64(..), uptime);
        match &request {
            Request::Play(name) => session.play(name),
            Request::Publish(name) => session.publish(name),
        }
        let kind = Kind::Upstream(UpstreamConn {
            peer: to.addr,
            session,
            key: key.clone(),
            job,
            phase: Phase::Connecting,
            phase_since: now,
        });
        let id = self.insert_connection(kind, NO_LISTENER, now);
        if to.url.tls && !self.start_tls_client(id, &to.url.host) {
            return None;
        }
        self.connects.push_back(Connect {
            conn: ConnId(id),
            addr: to.addr,
        });
        debug!(shard = self.index, stream = %key, to = %to.url.tc_url(), conn = id, "opening upstream");
        Some(id)
    }

    /// The hop count a publish or play request's `query` carries, or None when it is over the
    /// node's limit: then the request of `id` is refused (publish: BadName; play:
    /// StreamNotFound) and logged.
    pub(super) fn check_hops(
        &mut self,
        id: usize,
        query: &str,
        stream_id: u32,
        key: &str,
        publish: bool,
    ) -> Option<u32> {
        let hops = relay::hops_of(query);
        if hops <= self.settings.relay.hop_limit {
            return Some(hops);
        }
        if publish {
            self.stats.publishes_refused += 1;
        }
        if let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) {
            info!(shard = self.index, peer = %rtmp.peer, stream = %key, hops, publish, "refused: relay hop limit");
            let why = "relay hop limit exceeded";
            if publish {
                rtmp.session.reject_publish(stream_id, why);
            } else {
                rtmp.session.reject_play(stream_id, why);
            }
        }
        None
    }

    /// Whether plays of `app` may pull (it has origins).
    pub(super) fn can_pull(&self, app: &str) -> bool {
        self.settings
            .relay
            .app(app)
            .is_some_and(|a| !a.origins.is_empty())
    }

    /// Bytes from an outbound connection.
    pub(super) fn upstream_input(&mut self, id: usize, input: &[u8], now: Instant) {
        let Some(up) = self.conns.get_mut(id).and_then(|c| c.upstream_mut()) else {
            return;
        };
        if let Err(e) = up.session.handle_input(input) {
            info!(shard = self.index, peer = %up.peer, stream = %up.key, error = %e, "upstream failed");
            self.close_later(id, CloseReason::UpstreamFailed);
            return;
        }
        let mut events = Vec::new();
        while let Some(event) = up.session.poll_event() {
            events.push(event);
        }
        let (job, key) = (up.job, up.key.clone());
        for event in events {
            if !self.conns.contains(id) {
                break;
            }
            if let ClientEvent::Connected = event {
                if let Some(up) = self.conns.get_mut(id).and_then(|c| c.upstream_mut()) {
                    up.phase = Phase::Requested;
                    up.phase_since = now;
                }
            }
            match job {
                Job::Pull { .. } => self.pull_event(id, &key, event, now),
                Job::Push { stream, target } => self.push_event(id, stream, target, event, now),
            }
        }
        self.collect_output(id);
    }

    /// An outbound connection left the core (any reason): its pull or push reacts.
    pub(super) fn upstream_gone(
        &mut self,
        id: usize,
        up: &UpstreamConn,
        reason: CloseReason,
        now: Instant,
    ) {
        match up.job {
            Job::Pull { .. } => self.pull_lost(&up.key, id, up, reason, now),
            Job::Push { stream, target } => self.push_lost(id, stream, target, now),
        }
    }
}

/// The relay settings of the app of `key` ("app/name").
pub(super) fn app_of<'a>(relay: &'a RelaySettings, key: &str) -> Option<&'a AppRelay> {
    relay.app(key.split('/').next().unwrap_or_default())
}

/// Why an outbound connection times out now, if it does.
pub(super) fn phase_timeout(
    relay: &RelaySettings,
    up: &UpstreamConn,
    now: Instant,
) -> Option<CloseReason> {
    let app = app_of(relay, &up.key)?;
    let limit = match up.phase {
        Phase::Connecting => app.connect_timeout,
        Phase::Handshaking => app.handshake_timeout,
        Phase::Requested => app.play_timeout,
        Phase::Live => Duration::MAX,
    };
    (now.saturating_duration_since(up.phase_since) > limit).then_some(CloseReason::UpstreamFailed)
}
