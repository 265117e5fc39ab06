//! The io_uring driver: a thin loop that runs a [`ShardCore`] over a [`UringIo`] ring.
//!
//! One pass: one submit-and-wait (bounded by the core's next deadline) -> completions
//! (received bytes, finished sends, closed peers, wakes) handed to the core -> the closes
//! they caused carried out -> the batch's accepts handed to the core and armed (after the
//! closes: an accept may reuse a closed id) -> outbound connects that completed -> mailbox ->
//! timeouts -> every due send queued on the ring (one
//! vectored SENDMSG per connection, its `Bytes` owned by the ring until the completion),
//! submitted at once (sockets with room send inside that submit) -> closes -> outbound
//! connects -> outgoing mail. Outbound (relay) connections are non-blocking connects made in
//! this thread and checked once per pass (the wait is capped at `CONNECT_CHECK` while one is
//! pending); once connected, the socket is made blocking and handed to the ring with
//! `add_conn` like an accepted one, so the ring layer needs nothing new.
//! The time between the return of one submit-and-wait and the next is reported as busy time;
//! after the timeouts, a due snapshot is published into the shard's slot.
use super::{Completion, EventFdWaker, UringIo};
use crate::relay::connect::{connect_state, start_connect, ConnectState};
use crate::shard::callbacks::{forward_callbacks, CallbackSink};
use crate::shard::core::{CloseReason, ConnId, MailBatch, ShardCore};
use crate::shard::driver::{send_mail, Mailbox};
use crate::shard::snapshot::SnapshotSlot;
use crate::shard::socket;
use crate::shard::ShardStats;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Submission queue entries of a shard's ring (completions: four times that).
const RING_ENTRIES: u32 = 4096;
/// Receive buffers shared by every connection of a shard, and their size: 8 MiB in all. A
/// buffer goes back to the kernel as soon as the core has consumed it.
const RECV_BUFFERS: u16 = 512;
const RECV_BUFFER_SIZE: usize = 16 * 1024;
/// Longest wait while an outbound connect is pending.
const CONNECT_CHECK: std::time::Duration = std::time::Duration::from_millis(5);

/// What the driver needs, built on the starting thread; the ring itself is built on the shard
/// thread (`IORING_SETUP_SINGLE_ISSUER`).
pub(crate) struct UringParts {
    pub core: ShardCore,
    pub listeners: Vec<TcpListener>,
    pub inbox: Receiver<MailBatch>,
    pub waker: Arc<EventFdWaker>,
    pub waker_fd: OwnedFd,
}

/// Runs the shard until `stop` is set; returns its final counters.
pub(crate) fn run(
    parts: UringParts,
    mailboxes: Arc<Vec<Mailbox>>,
    callbacks: Option<CallbackSink>,
    stop: Arc<AtomicBool>,
    slot: Arc<SnapshotSlot>,
) -> ShardStats {
    let UringParts {
        mut core,
        listeners,
        inbox,
        waker: _,
        waker_fd,
    } = parts;
    let index = core.index();
    let mut io = match setup(listeners, waker_fd) {
        Ok(io) => io,
        Err(e) => {
            tracing::error!(shard = index, error = %e, "io_uring shard could not start");
            return core.stats().clone();
        }
    };
    info!(shard = index, driver = "io_uring", setup = %io.setup_mode(), "shard running");
    let mut incoming: Vec<(usize, OwnedFd, std::net::SocketAddr)> = Vec::new();
    let mut accepted: Vec<(ConnId, OwnedFd)> = Vec::new();
    let mut ended: Vec<(usize, CloseReason)> = Vec::new();
    let mut connecting: Vec<(ConnId, std::net::TcpStream)> = Vec::new();
    let mut woke = Instant::now();
    let mut listeners_closed = false;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        core.handle_busy(now.saturating_duration_since(woke));
        let mut timeout = core.poll_timeout(now).saturating_duration_since(now);
        if !connecting.is_empty() {
            timeout = timeout.min(CONNECT_CHECK);
        }
        if let Err(e) = io.submit_and_wait(Some(timeout)) {
            warn!(shard = index, error = %e, "io_uring wait failed");
        }
        let now = Instant::now();
        woke = now;
        io.drain(|completion| match completion {
            // Handed to the core after this batch's closes: a connection the core closed
            // during the batch (a health check's LOCAL header, a bad PROXY header) frees its
            // id, and an accept must not reuse it before the ring has let go of the old one.
            Completion::Accepted { listener, fd, peer } => incoming.push((listener, fd, peer)),
            Completion::AcceptFailed { listener, error } => {
                warn!(shard = index, listener, %error, "accept failed");
            }
            Completion::Received { conn, data } => {
                core.handle_input(ConnId(conn), data, now);
            }
            Completion::RecvClosed { conn, error } => {
                let reason = match error {
                    None => CloseReason::PeerClosed,
                    Some(e) => {
                        debug!(conn, error = %e, "receive failed");
                        CloseReason::ReadError
                    }
                };
                ended.push((conn, reason));
            }
            Completion::Sent { conn, result } => match result {
                Ok(n) => core.handle_written(ConnId(conn), n, now),
                Err(e) => {
                    debug!(conn, error = %e, "send failed");
                    ended.push((conn, CloseReason::WriteError));
                }
            },
            Completion::Woken => {}
        });
        for (conn, reason) in ended.drain(..) {
            io.close(conn);
            core.handle_closed(ConnId(conn), reason);
        }
        while let Some((id, reason)) = core.poll_close() {
            debug!(shard = index, conn = id.0, %reason, "closing");
            io.close(id.0);
            connecting.retain(|(c, _)| *c != id);
        }
        for (listener, fd, peer) in incoming.drain(..) {
            if !core.has_room() {
                // The shard is full: a multishot accept cannot wait, so refuse at once.
                debug!(shard = index, %peer, "over max_connections: closing");
                continue;
            }
            if core.admit(listener, peer, now).is_err() {
                // Refused (and logged) by the core; dropping the descriptor closes it.
                continue;
            }
            if let Err(e) = socket::tune_accepted(&fd, core.settings()) {
                debug!(%peer, error = %e, "socket tuning failed");
            }
            let id = core.handle_accept(listener, peer, now);
            accepted.push((id, fd));
        }
        for (id, fd) in accepted.drain(..) {
            if let Err(e) = io.add_conn(id.0, fd) {
                warn!(shard = index, error = %e, "cannot arm a new connection");
                core.handle_closed(id, CloseReason::ReadError);
            }
        }
        connecting.retain(|(id, socket)| match connect_state(socket) {
            ConnectState::Pending => true,
            ConnectState::Connected => {
                let fd = socket
                    .try_clone()
                    .and_then(|s| s.set_nonblocking(false).map(|()| OwnedFd::from(s)));
                match fd.and_then(|fd| io.add_conn(id.0, fd)) {
                    Ok(()) => core.handle_connected(*id, Ok(()), now),
                    Err(e) => core.handle_connected(*id, Err(e), now),
                }
                false
            }
            ConnectState::Failed(e) => {
                core.handle_connected(*id, Err(e), now);
                false
            }
        });
        while let Ok(batch) = inbox.try_recv() {
            core.handle_mailbox(batch, now);
        }
        if core.is_draining() && !listeners_closed {
            // The accepts are cancelled and the sockets closed: the kernel refuses new
            // connections instead of queueing them here.
            io.close_listeners();
            listeners_closed = true;
            info!(shard = index, "listeners closed");
        }
        core.handle_timeout(now);
        if let Some(snapshot) = core.poll_snapshot(now) {
            slot.publish(snapshot);
        }
        let started = Instant::now();
        while let Some(tx) = core.poll_transmit(started) {
            let id = tx.conn;
            let mut chunks = Vec::new();
            tx.chunks(&mut chunks);
            if let Err(e) = io.send(id.0, chunks) {
                debug!(conn = id.0, error = %e, "cannot queue a send");
                io.close(id.0);
                core.handle_closed(id, CloseReason::WriteError);
            }
        }
        // Submit the sends now: sockets with room send inside this call, so the time until it
        // returns is what the pass's flush cost (the adaptive write-merge window), as the
        // epoll driver's sendmsg calls are.
        if let Err(e) = io.submit() {
            warn!(shard = index, error = %e, "io_uring submit failed");
        }
        core.handle_pass_end(Instant::now());
        while let Some((id, reason)) = core.poll_close() {
            debug!(shard = index, conn = id.0, %reason, "closing");
            io.close(id.0);
            connecting.retain(|(c, _)| *c != id);
        }
        while let Some(c) = core.poll_connect() {
            match start_connect(c.addr, core.settings().nodelay) {
                Ok(socket) => connecting.push((c.conn, socket)),
                Err(e) => core.handle_connected(c.conn, Err(e), now),
            }
        }
        send_mail(&mut core, &mailboxes);
        forward_callbacks(&mut core, &mailboxes, callbacks.as_ref(), now);
    }
    core.shutdown();
    while let Some((id, _)) = core.poll_close() {
        io.close(id.0);
    }
    // Carry the closes out before the ring goes away.
    let _ = io.submit_and_wait(Some(std::time::Duration::ZERO));
    info!(shard = index, stats = ?core.stats(), "shard stopped");
    core.stats().clone()
}

fn setup(listeners: Vec<TcpListener>, waker_fd: OwnedFd) -> std::io::Result<UringIo> {
    let mut io = UringIo::new(RING_ENTRIES, RECV_BUFFERS, RECV_BUFFER_SIZE)?;
    for (i, listener) in listeners.into_iter().enumerate() {
        io.add_listener(i, OwnedFd::from(listener))?;
    }
    io.set_waker(waker_fd)?;
    Ok(io)
}
