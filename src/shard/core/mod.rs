//! `ShardCore`: everything one shard decides, sans-IO. It owns every connection's session,
//! role and send queue, the shard's streams (frame logs, header caches, players), the flush
//! schedule, timers, mailbox batches and counters. It never touches a socket, reads a clock or
//! spawns a thread: time is an argument, as in quinn-proto, so the core runs the same under
//! the mio driver, the io_uring driver, unit tests with a simulated clock and fuzzers.
//!
//! # Inputs (`handle_*`)
//! - [`handle_accept`](ShardCore::handle_accept): a connection accepted on a listener.
//! - [`handle_input`](ShardCore::handle_input): bytes read; returns what was consumed.
//! - [`handle_written`](ShardCore::handle_written): a send from `poll_transmit` completed with
//!   this many bytes; [`handle_send_blocked`](ShardCore::handle_send_blocked) /
//!   [`handle_writable`](ShardCore::handle_writable) for drivers that learn of a full socket.
//! - [`handle_closed`](ShardCore::handle_closed): the peer closed or the socket failed.
//! - [`handle_mailbox`](ShardCore::handle_mailbox): a batch from another shard.
//! - [`handle_timeout`](ShardCore::handle_timeout): the deadline from `poll_timeout` passed.
//! - [`handle_connected`](ShardCore::handle_connected): a `poll_connect` is up (or failed).
//! - [`handle_pass_end`](ShardCore::handle_pass_end): the pass's flushes are done (the
//!   adaptive write-merge window is the time they took).
//! - [`handle_busy`](ShardCore::handle_busy): how long the driver's last pass worked (time
//!   not spent waiting for events), for the busy-time counter.
//! - [`handle_wall_clock`](ShardCore::handle_wall_clock): the unix time at some `now` (once
//!   at start), for the expiry of signed URLs and JWTs.
//! - [`handle_callback`](ShardCore::handle_callback): an access callback's outcome (from
//!   the worker pool, through the mailbox's wake-up).
//!
//! # Outputs (`poll_*`), drained in this order after the inputs of a pass
//! 1. [`poll_transmit`](ShardCore::poll_transmit) until None: each is one vectored send for one
//!    connection. Its bytes stay pinned (never dropped or changed) until `handle_written`
//!    reports them; a connection is not handed out again while its send is in flight.
//! 2. [`poll_close`](ShardCore::poll_close) until None: connections to close, with a typed
//!    reason. The core has forgotten them; the id may be reused by the next accept.
//! 3. [`poll_mailbox`](ShardCore::poll_mailbox) until None: one batch per other shard per
//!    pass (send it, wake that shard once). The pass's recording events go to the sink set
//!    by [`set_record_sink`](ShardCore::set_record_sink) here too (see `record`).
//!    Then [`poll_connect`](ShardCore::poll_connect) until None: relay connections to open.
//!    Then [`poll_callback`](ShardCore::poll_callback) until None: access callbacks for the
//!    worker pool (see `authorize`); their outcomes come back through `handle_callback`.
//! 4. [`poll_timeout`](ShardCore::poll_timeout): when to call `handle_timeout` next.
//! 5. [`poll_snapshot`](ShardCore::poll_snapshot): after `handle_timeout`, a fresh
//!    [`ShardSnapshot`] once per sweep (and once at the start) for the driver to publish.
//!
//! The fan-out latency histogram is recorded here, in `handle_written`: each frame carries
//! the `now` of the input that completed it, and the write that takes its last byte records
//! the difference, once per frame per player.
use crate::media::log::LogLimits;
use crate::media::queue::SendQueue;
use crate::media::registry::Registry;
use crate::session::{ServerEvent, ServerSession};
use crate::shard::mailbox::{Outbox, ShardMsg, StreamKey};
use crate::shard::snapshot::latency_histogram;
use crate::shard::{ProtocolErrorKind, ShardSettings, ShardStats};
use hdrhistogram::Histogram;
use slab::Slab;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

pub(crate) mod authorize;
mod close;
mod cmaf;
mod conn;
mod health;
mod http;
mod http_auth;
mod limits;
mod media;
mod ops;
mod play;
mod proxy_wait;
mod pull;
mod push;
mod record;
mod schedule;
mod snapshot;
mod streams;
mod sweep;
#[cfg(test)]
mod tests;
mod tls;
mod transmit;
mod upstream;
mod write;

pub use authorize::AuthCallback;
pub use close::CloseReason;
use conn::{Connection, Kind, Role, RtmpConn, WriteState};
pub use limits::{LimitKind, LimitSettings, PeerTable};
use proxy_wait::ProxyWait;
use schedule::FlushSchedule;
use streams::{StreamId, Streams};
pub use tls::{TlsError, TlsServer, TLS_BUFFER};
pub use transmit::{Transmit, MAX_IOVECS};
pub use upstream::Connect;

/// A connection of one core: its slab key, reused after the connection closed. Drivers index
/// their sockets by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub usize);

/// Messages for (or from) another shard, opaque to drivers.
#[derive(Debug)]
pub struct MailBatch(pub(crate) Vec<ShardMsg>);

/// How often timeouts are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// The sans-IO state of one shard. See the module doc for the call order.
pub struct ShardCore {
    index: usize,
    settings: Arc<ShardSettings>,
    registry: Arc<Registry>,
    conns: Slab<Connection>,
    streams: Streams,
    schedule: FlushSchedule,
    outbox: Outbox,
    /// Streams whose home has frames to hand to other shards this pass.
    pending_remote: Vec<StreamId>,
    /// Closes decided inside a step, carried out at its end (with the stream bookkeeping).
    closing: Vec<(usize, CloseReason)>,
    /// Closes the driver has to carry out.
    closed: VecDeque<(ConnId, CloseReason)>,
    stats: ShardStats,
    started: Instant,
    next_sweep: Instant,
    rng: fastrand::Rng,
    events: Vec<ServerEvent>,
    /// How long the last pass's flushes took: the adaptive write-merge window.
    last_flush: Duration,
    /// When this pass's first send was handed out.
    flush_started: Option<Instant>,
    /// Fan-out latency in microseconds, and the exact sum of what it recorded.
    latency: Histogram<u64>,
    latency_sum: Duration,
    /// Time from a message's arrival to the publication of the CMAF part holding it, in
    /// microseconds (LL-HLS part latency).
    part_latency: Histogram<u64>,
    part_latency_sum: Duration,
    /// HTTP connections with an HLS/DASH request waiting on its stream.
    cmaf_waiting: Vec<usize>,
    /// Streams this shard holds a registry player of for HLS/DASH readers (pull on
    /// demand), with the last request's time.
    cmaf_holds: std::collections::HashMap<StreamKey, Instant>,
    /// A sweep ran (or the core started) since the last snapshot.
    snapshot_due: bool,
    next_generation: u64,
    /// The latest `now` any input passed in (for durations of steps that have none).
    last_now: Instant,
    /// Drain, reload and trusted-proxy state (see `ops`).
    ops: ops::OpsState,
    /// Streams this shard pulls (it is their home), and relay connections to open.
    pulls: std::collections::HashMap<StreamKey, pull::Pull>,
    connects: VecDeque<Connect>,
    /// Recordings of the streams published here (see `record`).
    recordings: record::Recordings,
    /// Access control: pending callbacks, on_done hooks, the wall clock.
    auth: authorize::AuthState,
    /// Connection counts (shared node-wide), command deadlines and the refusal log.
    limits: limits::LimitState,
}

impl ShardCore {
    /// Shard `index` of `registry`'s shards, starting at `now`; `seed` seeds the handshake
    /// randomness.
    pub fn new(
        index: usize,
        settings: Arc<ShardSettings>,
        registry: Arc<Registry>,
        now: Instant,
        seed: u64,
    ) -> Self {
        let limits = LogLimits {
            queue: settings.queue,
            gop_cache: settings.gop_cache,
            max_gop_bytes: settings.max_gop_bytes,
        };
        ShardCore {
            index,
            outbox: Outbox::new(registry.shards()),
            settings,
            registry,
            conns: Slab::with_capacity(1024),
            streams: Streams::new(limits),
            schedule: FlushSchedule::default(),
            pending_remote: Vec::new(),
            closing: Vec::new(),
            closed: VecDeque::new(),
            stats: ShardStats::default(),
            started: now,
            next_sweep: now + SWEEP_INTERVAL,
            rng: fastrand::Rng::with_seed(seed),
            events: Vec::new(),
            last_flush: Duration::ZERO,
            flush_started: None,
            latency: latency_histogram(),
            latency_sum: Duration::ZERO,
            part_latency: latency_histogram(),
            part_latency_sum: Duration::ZERO,
            cmaf_waiting: Vec::new(),
            cmaf_holds: Default::default(),
            snapshot_due: true,
            next_generation: 1,
            last_now: now,
            ops: ops::OpsState::default(),
            pulls: Default::default(),
            connects: VecDeque::new(),
            recordings: Default::default(),
            auth: Default::default(),
            limits: Default::default(),
        }
    }

    // ---- getters ----

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    pub fn settings(&self) -> &ShardSettings {
        &self.settings
    }

    /// Connections open in the core.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Whether another connection may be accepted (drivers stop accepting otherwise and try
    /// again once one closed). Never while draining.
    pub fn has_room(&self) -> bool {
        !self.ops.draining && self.conns.len() < self.settings.max_connections
    }

    /// Streams this shard keeps (with local players or a local publisher).
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    // ---- inputs ----

    /// A connection accepted on listener `listener` (an index into `settings.listeners`) from
    /// `peer`.
    pub fn handle_accept(&mut self, listener: usize, peer: SocketAddr, now: Instant) -> ConnId {
        self.last_now = now;
        let kind = self.http_kind(listener, peer, now).unwrap_or_else(|| {
            let uptime = now.duration_since(self.started).as_millis() as u32;
            let session =
                ServerSession::new(self.settings.session.clone(), self.rng.u64(..), uptime);
            let proxy = self
                .settings
                .listeners
                .get(listener)
                .is_some_and(|l| l.proxy_protocol);
            Kind::Rtmp(RtmpConn {
                peer,
                proxy: proxy.then(ProxyWait::default),
                session,
                role: Role::Pending,
            })
        });
        let id = self.insert_connection(kind, listener, now);
        self.bind_admission(id);
        self.start_tls_server(id, listener);
        self.stats.accepted += 1;
        debug!(shard = self.index, %peer, conn = id, "accepted");
        ConnId(id)
    }

    /// Stores a new connection of `kind` (from listener `listener`) started at `now`, with
    /// the next generation and an empty queue; returns its slab key.
    fn insert_connection(&mut self, kind: Kind, listener: usize, now: Instant) -> usize {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.conns.insert(Connection {
            kind,
            listener,
            queue: SendQueue::new(self.settings.queue),
            write: WriteState::Parked,
            epoch: self.rng.u32(..),
            created: now,
            last_write: now,
            close_after_flush: None,
            generation,
            bytes_in: 0,
            bytes_out: 0,
            last_session: None,
            tls: None,
        })
    }

    /// Bytes read from `conn`. Returns how many were consumed (all of them: the session
    /// buffers what it cannot use yet, within its limits). Input after a fatal error is
    /// discarded; the close comes out of `poll_close` once the explanation is written.
    pub fn handle_input(&mut self, conn: ConnId, input: &[u8], now: Instant) -> usize {
        let id = conn.0;
        let Some(c) = self.conns.get_mut(id) else {
            return input.len();
        };
        self.last_now = now;
        if c.close_after_flush.is_some() {
            return input.len();
        }
        self.stats.bytes_in += input.len() as u64;
        c.bytes_in += input.len() as u64;
        if c.http_mut().is_some() {
            self.http_input(id, input, now);
            self.close_pending();
            return input.len();
        }
        let mut rest = input;
        if c.rtmp().is_some_and(|r| r.proxy.is_some()) {
            match self.proxy_input(id, input) {
                Some(start) => rest = input.get(start..).unwrap_or_default(),
                None => return input.len(),
            }
        }
        // The PROXY header comes before TLS on the wire; the session sees only plaintext.
        if self.conns.get(id).is_some_and(|c| c.tls.is_some()) {
            self.tls_input(id, rest, now);
        } else {
            self.plain_input(id, rest, now);
        }
        self.close_pending();
        input.len()
    }

    /// Plaintext for the session of `id` (after any PROXY header and TLS).
    fn plain_input(&mut self, id: usize, input: &[u8], now: Instant) {
        if input.is_empty() {
            return;
        }
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        if c.rtmp_mut().is_none() {
            return self.upstream_input(id, input, now);
        }
        if self.is_authorizing(id) {
            self.hold_input(id, input, now);
        } else {
            self.session_input(id, input, now);
        }
    }

    /// Bytes for the session of inbound connection `id`, and what follows from them.
    fn session_input(&mut self, id: usize, rest: &[u8], now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(rtmp) = c.rtmp_mut() else {
            return;
        };
        if let Err(e) = rtmp.session.handle_input(rest) {
            let peer = rtmp.peer;
            self.stats.protocol_errors += 1;
            self.stats.protocol_errors_by_kind[ProtocolErrorKind::of(&e).index()] += 1;
            c.close_after_flush = Some(CloseReason::ProtocolError);
            c.take_session_output();
            self.schedule_now(id);
            // The one refusal of a server session: a connect to an app that is not configured.
            if matches!(e, crate::session::SessionError::Refused(_)) {
                self.connect_refused(peer, &e, now);
            } else {
                self.protocol_error(&e, peer, now);
            }
            return;
        }
        self.note_handshake(id, now);
        self.process_session(id, now);
    }

    /// The peer closed `conn` or its socket failed; the driver has let go of the socket.
    pub fn handle_closed(&mut self, conn: ConnId, reason: CloseReason) {
        if self.conns.contains(conn.0) {
            self.forget(conn.0, reason);
            self.close_pending();
        }
    }

    /// A batch another shard sent.
    pub fn handle_mailbox(&mut self, batch: MailBatch, now: Instant) {
        self.last_now = now;
        for msg in batch.0 {
            self.handle_shard_msg(msg, now);
        }
        self.close_pending();
    }

    /// Timeouts (handshake, idle publishers, stalled and lagging players). Call when the
    /// deadline of `poll_timeout` passed; calling earlier is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.relay_timers(now);
        self.auth_timers(now);
        if now >= self.next_sweep {
            self.sweep(now);
            self.sweep_health(now);
            self.sweep_commands(now);
            self.next_sweep = now + SWEEP_INTERVAL;
            self.snapshot_due = true;
        }
        self.close_pending();
    }

    /// Closes every connection (the server is stopping).
    pub fn shutdown(&mut self) {
        let ids: Vec<usize> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.close_now(id, CloseReason::Shutdown);
        }
    }

    // ---- outputs ----

    /// The next connection to close. The core has already forgotten it.
    pub fn poll_close(&mut self) -> Option<(ConnId, CloseReason)> {
        self.closed.pop_front()
    }

    /// The next batch for another shard: `(shard, batch)`.
    pub fn poll_mailbox(&mut self) -> Option<(usize, MailBatch)> {
        self.send_remote_frames();
        self.flush_recordings();
        self.outbox
            .pop()
            .map(|(shard, msgs)| (shard, MailBatch(msgs)))
    }

    /// When `handle_timeout` (or, for due sends, `poll_transmit`) must run next.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let at = self
            .schedule
            .next_deadline(now)
            .map_or(self.next_sweep, |at| at.min(self.next_sweep));
        let at = self.auth_deadline().map_or(at, |a| a.min(at));
        self.relay_deadline().map_or(at, |r| r.min(at))
    }

    // ---- internals shared by the steps ----

    /// Drains the session's events and output after input.
    fn process_session(&mut self, id: usize, now: Instant) {
        let mut events = std::mem::take(&mut self.events);
        if let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) {
            while let Some(event) = rtmp.session.poll_event() {
                events.push(event);
            }
        }
        for event in events.drain(..) {
            self.handle_session_event(id, event, now);
        }
        self.events = events;
        self.collect_output(id);
    }

    /// Moves a connection's session output to its queue; control output is not held back by
    /// the write-merge window.
    fn collect_output(&mut self, id: usize) {
        if let Some(c) = self.conns.get_mut(id) {
            if c.take_session_output() {
                self.schedule_now(id);
            }
        }
    }

    /// Marks `id` for closing at the end of the current step.
    fn close_later(&mut self, id: usize, reason: CloseReason) {
        self.closing.push((id, reason));
    }

    fn close_pending(&mut self) {
        while let Some((id, reason)) = self.closing.pop() {
            self.close_now(id, reason);
        }
    }

    /// Forgets `id` and tells the driver to close it, unless the driver never heard of it:
    /// an outbound connection whose connect `poll_connect` has not handed out yet has no
    /// socket, so forgetting it withdraws the connect and there is nothing to close (a close
    /// of an id the driver does not hold could hit the socket of a later connection).
    fn close_now(&mut self, id: usize, reason: CloseReason) {
        if self.conns.contains(id) {
            let unannounced = self.connects.iter().any(|c| c.conn.0 == id);
            self.forget(id, reason);
            if !unannounced {
                self.closed.push_back((ConnId(id), reason));
            }
        }
    }

    /// Removes `id` with the stream bookkeeping its role needs.
    fn forget(&mut self, id: usize, reason: CloseReason) {
        self.end_publish(id);
        self.end_play(id);
        self.forget_auth(id);
        self.release_admission(id, reason);
        if let Some(c) = self.conns.try_remove(id) {
            self.stats.closed += 1;
            self.stats.closed_by_reason[reason.index()] += 1;
            debug!(shard = self.index, peer = %c.peer(), listener = c.listener, %reason, "closed");
            // A load balancer's health check every few seconds is no session to log.
            if reason != CloseReason::ProxyHealthCheck {
                self.access_log(&c, reason);
            }
            if let Kind::Upstream(up) = &c.kind {
                self.connects.retain(|x| x.conn.0 != id);
                self.upstream_gone(id, up, reason, self.last_now);
            }
        }
    }
}
