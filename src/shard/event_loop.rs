//! One shard's event loop: accept, read, hand bytes to sessions, flush players, exchange
//! mailbox batches, enforce timeouts.
//!
//! One pass: poll -> accept -> mailbox -> reads -> flush players -> send outbox -> timers.
//! Reads are capped per connection per pass (a busy publisher cannot starve the others), and
//! connections with more to read are resumed on the next pass.
//!
//! With `proxy_protocol` on, a new connection's input goes to its PROXY header first; the
//! session sees only what follows it, and the header's source becomes the connection's peer.
use super::conn::{Conn, FlushOutcome, ReadOutcome, Role};
use super::flush::FlushSchedule;
use super::mailbox::{Mailbox, Outbox, ShardMsg, StreamKey};
use super::socket;
use super::stats::ShardStats;
use super::streams::LocalStream;
use super::ShardSettings;
use crate::media::queue::PlayerQueue;
use crate::media::registry::Registry;
use crate::session::{ServerEvent, ServerSession};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX - 1);
const LISTENER_BASE: usize = usize::MAX - 1024;
const READ_BUFFER: usize = 64 * 1024;
/// Reads per connection per pass before moving on to others.
const MAX_READS_PER_PASS: usize = 8;
const MAX_ACCEPTS_PER_PASS: usize = 512;
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// Everything a shard thread owns.
pub(crate) struct Shard {
    pub index: usize,
    pub settings: Arc<ShardSettings>,
    pub poll: Poll,
    pub listeners: Vec<mio::net::TcpListener>,
    pub conns: Slab<Conn>,
    pub streams: HashMap<StreamKey, LocalStream>,
    pub registry: Arc<Registry>,
    pub mailboxes: Arc<Vec<Mailbox>>,
    pub inbox: Receiver<Vec<ShardMsg>>,
    pub outbox: Outbox,
    pub stop: Arc<AtomicBool>,
    pub stats: ShardStats,
    pub now: Instant,
    started: Instant,
    /// Which connections to flush, and when.
    pub flushes: FlushSchedule,
    /// Scratch list of the connections due in this pass.
    due: Vec<usize>,
    /// Connections with unread input left by the per-pass cap.
    more_to_read: Vec<usize>,
    accept_pending: Vec<bool>,
    /// Streams whose home has frames to hand to other shards this pass.
    pub pending_remote: Vec<StreamKey>,
    /// Connections to close after the current step (kicked players, evicted publishers).
    pub to_close: Vec<(usize, &'static str)>,
    read_buf: Vec<u8>,
    events_buf: Vec<ServerEvent>,
    next_sweep: Instant,
    /// How long the last flush of players took: the adaptive write-merge window.
    last_flush: Duration,
}

impl Shard {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        index: usize,
        settings: Arc<ShardSettings>,
        poll: Poll,
        listeners: Vec<mio::net::TcpListener>,
        registry: Arc<Registry>,
        mailboxes: Arc<Vec<Mailbox>>,
        inbox: Receiver<Vec<ShardMsg>>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Shard> {
        let mut listeners = listeners;
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        let now = Instant::now();
        let shards = mailboxes.len();
        let accept_pending = vec![true; listeners.len()];
        Ok(Shard {
            index,
            settings,
            poll,
            listeners,
            conns: Slab::with_capacity(1024),
            streams: HashMap::new(),
            registry,
            mailboxes,
            inbox,
            outbox: Outbox::new(shards),
            stop,
            stats: ShardStats::default(),
            now,
            started: now,
            flushes: FlushSchedule::default(),
            due: Vec::new(),
            more_to_read: Vec::new(),
            accept_pending,
            pending_remote: Vec::new(),
            to_close: Vec::new(),
            read_buf: vec![0; READ_BUFFER],
            events_buf: Vec::new(),
            next_sweep: now + SWEEP_INTERVAL,
            last_flush: Duration::ZERO,
        })
    }

    pub(crate) fn run(mut self) -> ShardStats {
        let mut events = Events::with_capacity(1024);
        info!(shard = self.index, "shard running");
        while !self.stop.load(Ordering::Relaxed) {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(shard = self.index, error = %e, "poll failed");
                }
                continue;
            }
            self.now = Instant::now();
            for event in events.iter() {
                let token = event.token();
                if token == WAKER_TOKEN {
                    // Another shard sent a batch: it only had to end the poll, as the inbox is
                    // drained every pass.
                } else if token.0 >= LISTENER_BASE {
                    if let Some(flag) = self.accept_pending.get_mut(token.0 - LISTENER_BASE) {
                        *flag = true;
                    }
                } else {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.more_to_read.push(token.0);
                    }
                    if event.is_writable() {
                        if let Some(conn) = self.conns.get_mut(token.0) {
                            conn.write_blocked = false;
                            if !conn.queue.is_empty() {
                                self.flushes.now(conn, token.0);
                            }
                        }
                    }
                }
            }
            self.accept();
            self.drain_inbox();
            self.read_ready();
            self.flush_dirty();
            self.send_remote_frames();
            self.outbox.send_all(&self.mailboxes);
            if self.now >= self.next_sweep {
                self.sweep();
                self.next_sweep = self.now + SWEEP_INTERVAL;
            }
        }
        info!(shard = self.index, stats = ?self.stats, "shard stopped");
        self.stats
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.more_to_read.is_empty() || self.accept_pending_with_room() {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        let deadline = self
            .flushes
            .next_deadline(now)
            .map_or(self.next_sweep, |at| at.min(self.next_sweep));
        Some(deadline.saturating_duration_since(now))
    }

    fn accept_pending_with_room(&self) -> bool {
        self.conns.len() < self.settings.max_connections && self.accept_pending.iter().any(|&p| p)
    }

    fn accept(&mut self) {
        for i in 0..self.listeners.len() {
            let mut accepted = 0;
            while self.accept_pending[i] && accepted < MAX_ACCEPTS_PER_PASS {
                if self.conns.len() >= self.settings.max_connections {
                    // Stay pending: we come back when a connection closes.
                    break;
                }
                match self.listeners[i].accept() {
                    Ok((stream, peer)) => {
                        accepted += 1;
                        self.add_connection(stream, peer);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.accept_pending[i] = false
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // EMFILE and friends: retry at the next sweep rather than spin.
                        warn!(shard = self.index, error = %e, "accept failed");
                        self.accept_pending[i] = false;
                        break;
                    }
                }
            }
        }
    }

    fn add_connection(&mut self, mut stream: mio::net::TcpStream, peer: std::net::SocketAddr) {
        if let Err(e) = socket::tune_accepted(&stream, &self.settings) {
            debug!(%peer, error = %e, "socket tuning failed");
        }
        let entry = self.conns.vacant_entry();
        let token = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!(%peer, error = %e, "register failed");
            return;
        }
        let seed = fastrand::u64(..);
        let uptime = self.now.duration_since(self.started).as_millis() as u32;
        let session = ServerSession::new(self.settings.session.clone(), seed, uptime);
        let queue = PlayerQueue::new(self.settings.queue);
        let proxy = self.settings.proxy_protocol;
        entry.insert(Conn::new(stream, peer, session, queue, proxy, self.now));
        self.stats.accepted += 1;
        debug!(shard = self.index, %peer, token, "accepted");
        // Bytes may already be waiting; the edge for them may have come before registration.
        self.more_to_read.push(token);
    }

    fn drain_inbox(&mut self) {
        while let Ok(batch) = self.inbox.try_recv() {
            for msg in batch {
                self.handle_shard_msg(msg);
            }
        }
        self.close_pending();
    }

    fn read_ready(&mut self) {
        let ready = std::mem::take(&mut self.more_to_read);
        for token in ready {
            self.read_connection(token);
            self.close_pending();
        }
    }

    fn read_connection(&mut self, token: usize) {
        for _ in 0..MAX_READS_PER_PASS {
            let Some(conn) = self.conns.get_mut(token) else {
                return;
            };
            let n = match conn.read(&mut self.read_buf) {
                Ok(ReadOutcome::Data(n)) => n,
                Ok(ReadOutcome::WouldBlock) => return,
                Ok(ReadOutcome::Closed) => return self.to_close.push((token, "peer closed")),
                Err(e) => {
                    debug!(peer = %conn.peer, error = %e, "read failed");
                    return self.to_close.push((token, "read error"));
                }
            };
            self.stats.bytes_in += n as u64;
            let mut input = &self.read_buf[..n];
            if conn.proxy.is_some() {
                let via = conn.peer;
                match conn.handle_proxy_input(input) {
                    Ok(None) => continue,
                    Ok(Some(start)) => {
                        debug!(shard = self.index, peer = %conn.peer, %via, "PROXY header");
                        input = input.get(start..).unwrap_or_default();
                    }
                    Err(e) => {
                        info!(shard = self.index, peer = %via, error = %e, "closing connection after PROXY protocol error");
                        self.stats.protocol_errors += 1;
                        return self.to_close.push((token, "PROXY protocol error"));
                    }
                }
                if input.is_empty() {
                    continue;
                }
            }
            if let Err(e) = conn.session.handle_input(input) {
                // Send what explains the failure, then close.
                info!(shard = self.index, peer = %conn.peer, error = %e, "closing connection after protocol error");
                self.stats.protocol_errors += 1;
                conn.take_session_output();
                let _ = conn.flush(self.now);
                return self.to_close.push((token, "protocol error"));
            }
            self.process_session(token);
        }
        // Cap reached: more may be waiting without a new edge.
        self.more_to_read.push(token);
    }

    /// Drains the session's events and output after input.
    pub(crate) fn process_session(&mut self, token: usize) {
        let mut events = std::mem::take(&mut self.events_buf);
        if let Some(conn) = self.conns.get_mut(token) {
            while let Some(event) = conn.session.poll_event() {
                events.push(event);
            }
        }
        for event in events.drain(..) {
            self.handle_session_event(token, event);
        }
        self.events_buf = events;
        self.collect_output(token);
    }

    /// Moves a connection's session output to its queue; control output is not held back by
    /// the write-merge window.
    pub(crate) fn collect_output(&mut self, token: usize) {
        if let Some(conn) = self.conns.get_mut(token) {
            if conn.take_session_output() {
                self.flushes.now(conn, token);
            }
        }
    }

    fn handle_session_event(&mut self, token: usize, event: ServerEvent) {
        match event {
            ServerEvent::Media {
                type_id,
                timestamp,
                payload,
            } => {
                self.on_media(token, type_id, timestamp, &payload, false);
            }
            ServerEvent::Metadata { timestamp, payload } => {
                self.on_media(
                    token,
                    crate::protocol::message::DATA_AMF0,
                    timestamp,
                    &payload,
                    true,
                );
            }
            ServerEvent::Connected { app, .. } => {
                if let Some(conn) = self.conns.get(token) {
                    debug!(shard = self.index, peer = %conn.peer, app, "connected");
                }
            }
            ServerEvent::Publish(req) => self.on_publish(token, req),
            ServerEvent::Play(req) => self.on_play(token, req),
            ServerEvent::Unpublish { .. } => self.end_publish(token),
            ServerEvent::PlayStop { .. } => self.end_play(token),
            ServerEvent::ReceiveAudio(on) | ServerEvent::ReceiveVideo(on) => {
                let audio = matches!(event, ServerEvent::ReceiveAudio(_));
                if let Some(Conn {
                    role:
                        Role::Player {
                            audio: a, video: v, ..
                        },
                    ..
                }) = self.conns.get_mut(token)
                {
                    if audio {
                        *a = on;
                    } else {
                        *v = on;
                    }
                }
            }
        }
    }

    /// How long a player's new frames may wait before they are written (see `ShardSettings`).
    pub(crate) fn merge_window(&self) -> Duration {
        if self.settings.write_merge.is_zero() {
            self.last_flush.min(self.settings.adaptive_merge_max)
        } else {
            self.settings.write_merge
        }
    }

    fn flush_dirty(&mut self) {
        let started = Instant::now();
        let now = self.now;
        let mut due = std::mem::take(&mut self.due);
        self.flushes.take_due(now, &mut due);
        let mut flushed = 0usize;
        for token in due.drain(..) {
            let Some(conn) = self.conns.get_mut(token) else {
                continue;
            };
            if !conn.dirty {
                continue;
            }
            conn.dirty = false;
            conn.flush_at = None;
            if conn.write_blocked {
                // The writable edge will bring it back.
                continue;
            }
            flushed += 1;
            match conn.flush(now) {
                Ok(FlushOutcome::Drained(n)) | Ok(FlushOutcome::Blocked(n)) => {
                    self.stats.bytes_out += n as u64
                }
                Err(e) => {
                    debug!(peer = %conn.peer, error = %e, "write failed");
                    self.to_close.push((token, "write error"));
                }
            }
        }
        self.due = due;
        // Passes that flushed nobody say nothing about the load.
        if flushed > 0 {
            self.last_flush = started.elapsed();
        }
        self.close_pending();
    }

    /// Closes what was marked for closing, with the stream bookkeeping each role needs.
    pub(crate) fn close_pending(&mut self) {
        while let Some((token, why)) = self.to_close.pop() {
            self.close(token, why);
        }
    }

    fn close(&mut self, token: usize, why: &'static str) {
        if !self.conns.contains(token) {
            return;
        }
        self.end_publish(token);
        self.end_play(token);
        let Some(mut conn) = self.conns.try_remove(token) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.socket);
        self.stats.closed += 1;
        debug!(shard = self.index, peer = %conn.peer, why, "closed");
        // Room again: accept what waited.
        if self.conns.len() + 1 >= self.settings.max_connections {
            self.accept_pending.iter_mut().for_each(|p| *p = true);
        }
    }

    /// Handshake/connect deadlines, idle publishers, stalled players; retries accepts.
    fn sweep(&mut self) {
        let now = self.now;
        let s = &self.settings;
        for (token, conn) in self.conns.iter_mut() {
            let why = match &mut conn.role {
                Role::Pending if now.duration_since(conn.created) > s.handshake_timeout => {
                    Some(if conn.proxy.is_some() {
                        "PROXY header timeout"
                    } else {
                        "handshake/connect timeout"
                    })
                }
                Role::Publisher {
                    last_media,
                    key,
                    generation,
                    builder,
                    noted_timestamp,
                    ..
                } => {
                    if now.duration_since(*last_media) > s.publisher_idle_timeout {
                        Some("publisher idle")
                    } else {
                        let last = builder.last_timestamp();
                        if last.is_some() && last != *noted_timestamp {
                            *noted_timestamp = last;
                            if let Some(ts) = last {
                                self.registry.note_timestamp(key, *generation, ts);
                            }
                        }
                        None
                    }
                }
                _ if !conn.queue.is_empty()
                    && now.duration_since(conn.last_write) > s.write_stall_timeout =>
                {
                    Some("write stalled")
                }
                _ => None,
            };
            if let Some(why) = why {
                self.stats.timeouts += 1;
                self.to_close.push((token, why));
            }
        }
        self.close_pending();
        self.accept_pending.iter_mut().for_each(|p| *p = true);
    }
}
