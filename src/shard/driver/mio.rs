//! The mio (epoll) driver: a thin loop that moves bytes between sockets and a [`ShardCore`].
//!
//! One pass: poll -> accept -> mailbox -> reads -> timeouts -> sends -> closes -> outbound
//! connects -> outgoing mail. Outbound (relay) connections are non-blocking connects
//! registered like accepted sockets; their first writable (or error) event completes the
//! connect, reported to the core with `handle_connected`. Readiness is edge-triggered, so reads and accepts drain until `WouldBlock`; reads are
//! capped per connection per pass (a busy publisher cannot starve the others) and resumed on
//! the next pass without a new edge. Sends are one `sendmsg` per transmit the core hands out.
//! The time between waking from `poll` and the next `poll` is reported as busy time; after
//! the timeouts, a due snapshot is published into the shard's slot.
use super::{send_mail, Mailbox};
use crate::relay::connect::{connect_state, start_connect, ConnectState};
use crate::shard::callbacks::{forward_callbacks, CallbackSink};
use crate::shard::core::{CloseReason, ConnId, MailBatch, ShardCore, MAX_IOVECS};
use crate::shard::snapshot::SnapshotSlot;
use crate::shard::socket;
use crate::shard::ShardStats;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX - 1);
const LISTENER_BASE: usize = usize::MAX - 1024;
const READ_BUFFER: usize = 64 * 1024;
/// Reads per connection per pass before moving on to others.
const MAX_READS_PER_PASS: usize = 8;
const MAX_ACCEPTS_PER_PASS: usize = 512;

/// One shard thread's loop over epoll.
pub(crate) struct MioDriver {
    core: ShardCore,
    poll: Poll,
    listeners: Vec<TcpListener>,
    accept_pending: Vec<bool>,
    /// Sockets by connection id.
    sockets: Vec<Option<TcpStream>>,
    /// Connections with input left to read (an edge came, or the per-pass cap stopped us).
    more_to_read: Vec<usize>,
    /// Outbound connections whose non-blocking connect has not completed, by id.
    connecting: Vec<bool>,
    inbox: Receiver<MailBatch>,
    mailboxes: Arc<Vec<Mailbox>>,
    stop: Arc<AtomicBool>,
    read_buf: Vec<u8>,
    slot: Arc<SnapshotSlot>,
    /// Where access callbacks go (the control side's worker pool).
    callbacks: Option<CallbackSink>,
}

impl MioDriver {
    pub(crate) fn new(
        core: ShardCore,
        poll: Poll,
        mut listeners: Vec<TcpListener>,
        inbox: Receiver<MailBatch>,
        mailboxes: Arc<Vec<Mailbox>>,
        stop: Arc<AtomicBool>,
        slot: Arc<SnapshotSlot>,
    ) -> io::Result<Self> {
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        Ok(MioDriver {
            core,
            poll,
            accept_pending: vec![true; listeners.len()],
            listeners,
            sockets: Vec::new(),
            more_to_read: Vec::new(),
            connecting: Vec::new(),
            inbox,
            mailboxes,
            stop,
            read_buf: vec![0; READ_BUFFER],
            slot,
            callbacks: None,
        })
    }

    pub(crate) fn with_callbacks(mut self, callbacks: Option<CallbackSink>) -> Self {
        self.callbacks = callbacks;
        self
    }

    pub(crate) fn run(mut self) -> ShardStats {
        let mut events = Events::with_capacity(1024);
        let index = self.core.index();
        info!(shard = index, driver = "epoll", "shard running");
        let mut woke = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let before_wait = Instant::now();
            self.core
                .handle_busy(before_wait.saturating_duration_since(woke));
            let timeout = if !self.more_to_read.is_empty() || self.accept_ready() {
                Some(std::time::Duration::ZERO)
            } else {
                Some(
                    self.core
                        .poll_timeout(before_wait)
                        .saturating_duration_since(before_wait),
                )
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(shard = index, error = %e, "poll failed");
                }
                continue;
            }
            let now = Instant::now();
            woke = now;
            for event in events.iter() {
                let token = event.token();
                if token == WAKER_TOKEN {
                    // Another shard sent a batch: the inbox is drained every pass.
                } else if token.0 >= LISTENER_BASE {
                    if let Some(flag) = self.accept_pending.get_mut(token.0 - LISTENER_BASE) {
                        *flag = true;
                    }
                } else if self.connecting.get(token.0).copied().unwrap_or(false) {
                    if event.is_writable() || event.is_error() || event.is_read_closed() {
                        self.finish_connect(token.0, now);
                    }
                } else {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.more_to_read.push(token.0);
                    }
                    if event.is_writable() {
                        self.core.handle_writable(ConnId(token.0));
                    }
                }
            }
            self.accept(now);
            while let Ok(batch) = self.inbox.try_recv() {
                self.core.handle_mailbox(batch, now);
            }
            if self.core.is_draining() && !self.listeners.is_empty() {
                self.close_listeners();
            }
            self.read_ready(now);
            self.core.handle_timeout(now);
            if let Some(snapshot) = self.core.poll_snapshot(now) {
                self.slot.publish(snapshot);
            }
            self.flush();
            self.close_pending();
            self.open_connects(now);
            send_mail(&mut self.core, &self.mailboxes);
            forward_callbacks(
                &mut self.core,
                &self.mailboxes,
                self.callbacks.as_ref(),
                now,
            );
        }
        self.core.shutdown();
        self.close_pending();
        info!(shard = index, stats = ?self.core.stats(), "shard stopped");
        self.core.stats().clone()
    }

    /// Draining: the listeners close, so the kernel refuses new connections (or another node's
    /// listener gets them) instead of queueing them here.
    fn close_listeners(&mut self) {
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_pending.clear();
        info!(shard = self.core.index(), "listeners closed");
    }

    fn accept_ready(&self) -> bool {
        self.core.has_room() && self.accept_pending.iter().any(|&p| p)
    }

    fn accept(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            let mut accepted = 0;
            while self.accept_pending[i] && accepted < MAX_ACCEPTS_PER_PASS {
                if !self.core.has_room() {
                    // Stay pending: we come back when a connection closes.
                    break;
                }
                match self.listeners[i].accept() {
                    Ok((stream, peer)) => {
                        accepted += 1;
                        self.add_connection(i, stream, peer, now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.accept_pending[i] = false
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // EMFILE and friends: retry at the next close or timeout rather than spin.
                        warn!(shard = self.core.index(), error = %e, "accept failed");
                        self.accept_pending[i] = false;
                        break;
                    }
                }
            }
        }
    }

    fn add_connection(
        &mut self,
        listener: usize,
        mut stream: TcpStream,
        peer: std::net::SocketAddr,
        now: Instant,
    ) {
        if self.core.admit(listener, peer, now).is_err() {
            // Refused (and logged) by the core; dropping the stream closes it.
            return;
        }
        if let Err(e) = socket::tune_accepted(&stream, self.core.settings()) {
            debug!(%peer, error = %e, "socket tuning failed");
        }
        let id = self.core.handle_accept(listener, peer, now);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(id.0),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!(%peer, error = %e, "register failed");
            self.core.handle_closed(id, CloseReason::ReadError);
            return;
        }
        if self.sockets.len() <= id.0 {
            self.sockets.resize_with(id.0 + 1, || None);
        }
        self.sockets[id.0] = Some(stream);
        // Bytes may already be waiting; the edge for them may have come before registration.
        self.more_to_read.push(id.0);
    }

    /// Starts every outbound connection the core asks for.
    fn open_connects(&mut self, now: Instant) {
        while let Some(c) = self.core.poll_connect() {
            let id = c.conn.0;
            let mut stream = match start_connect(c.addr, self.core.settings().nodelay) {
                Ok(s) => TcpStream::from_std(s),
                Err(e) => {
                    self.core.handle_connected(c.conn, Err(e), now);
                    continue;
                }
            };
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, Token(id), interest)
            {
                self.core.handle_connected(c.conn, Err(e), now);
                continue;
            }
            if self.sockets.len() <= id {
                self.sockets.resize_with(id + 1, || None);
            }
            if self.connecting.len() <= id {
                self.connecting.resize(id + 1, false);
            }
            self.sockets[id] = Some(stream);
            self.connecting[id] = true;
        }
    }

    /// A connecting socket became writable or failed: tell the core how the connect ended.
    fn finish_connect(&mut self, id: usize, now: Instant) {
        let Some(socket) = self.sockets.get(id).and_then(Option::as_ref) else {
            return;
        };
        match connect_state(socket) {
            ConnectState::Pending => {}
            ConnectState::Connected => {
                self.connecting[id] = false;
                self.core.handle_connected(ConnId(id), Ok(()), now);
                // Bytes may already be waiting.
                self.more_to_read.push(id);
            }
            ConnectState::Failed(e) => {
                self.drop_socket(id, None);
                self.core.handle_connected(ConnId(id), Err(e), now);
            }
        }
    }

    fn read_ready(&mut self, now: Instant) {
        let ready = std::mem::take(&mut self.more_to_read);
        for id in ready {
            self.read_connection(id, now);
        }
    }

    fn read_connection(&mut self, id: usize, now: Instant) {
        for _ in 0..MAX_READS_PER_PASS {
            let Some(socket) = self.sockets.get_mut(id).and_then(Option::as_mut) else {
                return;
            };
            let n = match socket.read(&mut self.read_buf) {
                Ok(0) => return self.drop_socket(id, Some(CloseReason::PeerClosed)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!(conn = id, error = %e, "read failed");
                    return self.drop_socket(id, Some(CloseReason::ReadError));
                }
            };
            let input = self.read_buf.get(..n).unwrap_or_default();
            self.core.handle_input(ConnId(id), input, now);
        }
        // Cap reached: more may be waiting without a new edge.
        self.more_to_read.push(id);
    }

    /// Hands out every due send; one `sendmsg` each.
    fn flush(&mut self) {
        let started = Instant::now();
        while let Some(tx) = self.core.poll_transmit(started) {
            let id = tx.conn;
            let Some(socket) = self.sockets.get(id.0).and_then(Option::as_ref) else {
                // Not ours (a driver bug); let the core forget it.
                self.core.handle_closed(id, CloseReason::WriteError);
                continue;
            };
            let result = {
                let mut slices = Vec::with_capacity(MAX_IOVECS);
                tx.iovecs(&mut slices);
                // sendmsg rather than writev: the socket path without the VFS layer (file
                // position lock, fsnotify), measurably cheaper per call with thousands of players.
                loop {
                    match socket2::SockRef::from(socket)
                        .send_vectored_with_flags(&slices, libc::MSG_NOSIGNAL)
                    {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                }
            };
            let now = Instant::now();
            match result {
                Ok(n) => self.core.handle_written(id, n, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.core.handle_written(id, 0, now);
                    self.core.handle_send_blocked(id);
                }
                Err(e) => {
                    debug!(conn = id.0, error = %e, "write failed");
                    self.drop_socket(id.0, Some(CloseReason::WriteError));
                }
            }
        }
        self.core.handle_pass_end(Instant::now());
    }

    /// Carries out the closes the core decided.
    fn close_pending(&mut self) {
        while let Some((id, reason)) = self.core.poll_close() {
            debug!(shard = self.core.index(), conn = id.0, %reason, "closing");
            self.drop_socket(id.0, None);
        }
    }

    /// Deregisters and closes the socket of `id`; with a reason, the close came from the
    /// socket and the core is told.
    fn drop_socket(&mut self, id: usize, reason: Option<CloseReason>) {
        if let Some(mut socket) = self.sockets.get_mut(id).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut socket);
        }
        if let Some(flag) = self.connecting.get_mut(id) {
            *flag = false;
        }
        if let Some(reason) = reason {
            self.core.handle_closed(ConnId(id), reason);
            // The core may have decided further closes (none today); carry them out too.
        }
        // Room again: accept what waited.
        self.accept_pending.iter_mut().for_each(|p| *p = true);
    }
}
