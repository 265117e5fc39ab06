//! The io_uring byte mover of one shard: accepts, receives, sends, wakes and waits on one ring.
//!
//! [`UringIo`] owns a ring, a fixed provided-buffer ring shared by every connection's receive,
//! and whatever the kernel is still using (each send's `Bytes`, iovecs and msghdr; the waker's
//! read buffer) until the completion that releases it. Listeners get a multishot accept,
//! connections a multishot receive, both re-armed by the layer when they end; sends are one
//! vectored `SENDMSG` at a time per connection. It never parses, decides, reads a clock or
//! starts a thread: what the bytes mean is the shard core's business, and conn and listener ids
//! are the caller's.
//!
//! Call order, once per pass on the thread that created it (`IORING_SETUP_SINGLE_ISSUER`):
//! queue work with [`UringIo::add_listener`], [`UringIo::add_conn`], [`UringIo::send`],
//! [`UringIo::close`]; then [`UringIo::submit_and_wait`] (one submit); then [`UringIo::drain`],
//! which hands out what completed. Receive data is lent only for the callback.
//!
//! Check [`probe`] once before building one: it says in one line why io_uring is unusable.

mod arm;
mod bufring;
mod complete;
pub(crate) mod driver;
mod probe;
mod ring;
mod send;
#[cfg(test)]
mod tests;
mod waker;

pub(crate) use probe::probe;
pub(crate) use ring::SetupMode;
pub(crate) use waker::EventFdWaker;

use bufring::BufRing;
use bytes::Bytes;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use ring::{Kind, Tag};
use send::PinnedSend;
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The buffer group of the shared receive buffers.
const BGID: u16 = 0;
/// Completions taken from the queue per batch inside [`UringIo::drain`].
const BATCH: usize = 64;
/// How long a listener rests after an accept error such as `EMFILE` before it accepts again.
static ACCEPT_BACKOFF: types::Timespec = types::Timespec::new().nsec(100_000_000);
/// Waits in [`Drop`] for the kernel to finish what references our memory: at most 20 × 50 ms.
const SHUTDOWN_WAITS: usize = 20;

/// One thing that completed, handed out by [`UringIo::drain`].
#[derive(Debug)]
pub(crate) enum Completion<'a> {
    /// A new connection; blocking and close-on-exec. Give it to [`UringIo::add_conn`].
    Accepted {
        listener: usize,
        fd: OwnedFd,
        peer: SocketAddr,
    },
    /// Accepting failed (`EMFILE`, `ENFILE`, `ENOMEM`, ...); the layer tries again by itself
    /// after a short rest.
    AcceptFailed { listener: usize, error: io::Error },
    /// Bytes from the peer, valid only during the callback.
    Received { conn: usize, data: &'a [u8] },
    /// Receiving has ended: EOF (`None`) or an error. Sending may still work; close when done.
    RecvClosed {
        conn: usize,
        error: Option<io::Error>,
    },
    /// The send finished: the bytes the kernel took (maybe fewer than offered; sending the rest
    /// is the caller's job) or the error. The `Bytes` are dropped now.
    Sent {
        conn: usize,
        result: io::Result<usize>,
    },
    /// Another thread called [`EventFdWaker::wake`].
    Woken,
}

struct Listener {
    fd: OwnedFd,
    /// A multishot accept (or the backoff timeout before one) is in flight.
    armed: bool,
}

struct Conn {
    /// The caller's id.
    conn: usize,
    generation: u32,
    fd: OwnedFd,
    /// The multishot receive is in flight (its final completion not yet seen).
    recv_armed: bool,
    /// The send in flight, pinned until its completion.
    send: Option<Box<PinnedSend>>,
    /// `close` was called: completions are swallowed, the slot goes when nothing is in flight.
    closing: bool,
}

struct Waker {
    fd: OwnedFd,
    /// The eventfd counter is read into here; boxed so that its address is stable.
    buf: Box<[u8; 8]>,
    armed: bool,
}

/// The io_uring I/O layer of one shard; see the module doc for the call order.
///
/// Not `Send` (the buffer ring and the pinned msghdrs hold raw pointers), which suits `IORING_SETUP_SINGLE_ISSUER`:
/// build it on the shard thread that drives it. Dropping it cancels everything and waits up to
/// 1 s for the kernel to let go of the memory it was using; past that the memory is leaked.
pub(crate) struct UringIo {
    /// Declared first so that it is dropped (and the kernel lets go) before the memory below.
    ring: IoUring,
    mode: SetupMode,
    bufs: BufRing,
    /// Indexed by the caller's listener id.
    listeners: Vec<Option<Listener>>,
    /// The caller's conn id to the key of its slot in `conns`.
    conn_keys: Vec<Option<u32>>,
    /// Live and closing connections; a closing one has no entry in `conn_keys`.
    conns: Slab<Conn>,
    next_generation: u32,
    waker: Option<Waker>,
    /// Entries that did not fit the submission queue; handed over at the next submit.
    backlog: VecDeque<squeue::Entry>,
    /// Receives to re-arm at the end of a drain, after their buffers went back (`ENOBUFS`).
    rearm_recv: Vec<(u32, u32)>,
    /// Listeners whose accept ended without error, re-armed at the end of a drain.
    rearm_accept: Vec<usize>,
    batch: Vec<cqueue::Entry>,
    shutting_down: bool,
}

impl UringIo {
    /// A ring of `entries` submission entries and `recv_buffers` (a power of two, at most 32768)
    /// receive buffers of `recv_buffer_size` bytes, shared by every connection.
    pub fn new(entries: u32, recv_buffers: u16, recv_buffer_size: usize) -> io::Result<UringIo> {
        let mut bufs = BufRing::new(recv_buffers, recv_buffer_size)?;
        let (ring, mode) = ring::build_ring(entries)?;
        // SAFETY: the entry ring lives in `bufs`, owned by the `UringIo` built below, whose
        // `Drop` unregisters it (or leaks `bufs`) before the memory is freed.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.ring_addr(),
                bufs.entries(),
                BGID,
                0,
            )?;
        }
        bufs.fill();
        Ok(UringIo {
            ring,
            mode,
            bufs,
            listeners: Vec::new(),
            conn_keys: Vec::new(),
            conns: Slab::new(),
            next_generation: 0,
            waker: None,
            backlog: VecDeque::new(),
            rearm_recv: Vec::new(),
            rearm_accept: Vec::new(),
            batch: Vec::with_capacity(BATCH),
            shutting_down: false,
        })
    }

    /// The setup flags the kernel accepted.
    pub fn setup_mode(&self) -> SetupMode {
        self.mode
    }

    /// Starts accepting on `fd` (a listening socket, blocking or not), reported as `listener`.
    pub fn add_listener(&mut self, listener: usize, fd: OwnedFd) -> io::Result<()> {
        if u32::try_from(listener).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "listener id too large",
            ));
        }
        if self.listeners.len() <= listener {
            self.listeners.resize_with(listener + 1, || None);
        }
        if self.listeners[listener].is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "listener id in use",
            ));
        }
        self.listeners[listener] = Some(Listener { fd, armed: false });
        self.arm_accept(listener);
        Ok(())
    }

    /// Cancels every listener's accept and closes the listening sockets (the drain). Accepts
    /// that complete meanwhile are dropped: their listener is gone.
    pub fn close_listeners(&mut self) {
        let listeners = std::mem::take(&mut self.listeners);
        for (i, slot) in listeners.into_iter().enumerate() {
            if slot.is_none() {
                continue;
            }
            for kind in [Kind::Accept, Kind::AcceptBackoff] {
                let target = Tag::new(kind, 0, i as u32).encode();
                let entry =
                    opcode::AsyncCancel2::new(types::CancelBuilder::user_data(target).all())
                        .build()
                        .user_data(Tag::new(Kind::Cancel, 0, 0).encode());
                // SAFETY: a cancel references no memory of ours.
                unsafe { self.push(entry) };
            }
        }
    }

    /// Starts receiving on `fd` (a connected stream socket), reported as `conn`. The id may be
    /// one that was closed before.
    pub fn add_conn(&mut self, conn: usize, fd: OwnedFd) -> io::Result<()> {
        if self.conn_keys.len() <= conn {
            self.conn_keys.resize(conn + 1, None);
        }
        if self.conn_keys[conn].is_some() {
            debug_assert!(false, "conn {conn} added twice");
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "conn id in use",
            ));
        }
        if self.conns.vacant_key() > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "too many connections",
            ));
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1) & ring::GENERATION_MASK;
        let key = self.conns.insert(Conn {
            conn,
            generation,
            fd,
            recv_armed: false,
            send: None,
            closing: false,
        }) as u32;
        self.conn_keys[conn] = Some(key);
        self.arm_recv(key);
        Ok(())
    }

    /// Queues one vectored send of `bufs` (`SENDMSG`, `MSG_NOSIGNAL`); [`Completion::Sent`]
    /// follows. At most one send per connection may be outstanding, and at most 1024 non-empty
    /// buffers are sent (the rest count as unsent). The layer owns `bufs` until the completion.
    pub fn send(&mut self, conn: usize, bufs: Vec<Bytes>) -> io::Result<()> {
        let key = self.key_of(conn).ok_or(io::ErrorKind::NotConnected)?;
        let c = &mut self.conns[key as usize];
        if c.send.is_some() {
            debug_assert!(false, "conn {conn}: a send is already outstanding");
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "a send is outstanding",
            ));
        }
        let pinned = PinnedSend::new(bufs);
        let tag = Tag::new(Kind::Send, c.generation, key).encode();
        let entry = opcode::SendMsg::new(types::Fd(c.fd.as_raw_fd()), pinned.msghdr())
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(tag);
        c.send = Some(pinned);
        // SAFETY: the msghdr, its iovec array and the `Bytes` they point into live in the boxed
        // `PinnedSend` just stored in the conn's slot. The slot keeps it until the completion
        // tagged `tag` is read (`on_send`), even after `close`; `Drop` waits for it or leaks it.
        unsafe { self.push(entry) };
        Ok(())
    }

    /// Cancels the connection's receive and send and closes its socket once the kernel has let
    /// go. An outstanding send is abandoned. Nothing more is reported for this connection, and
    /// `conn` may be added again at once.
    pub fn close(&mut self, conn: usize) {
        let Some(key) = self.key_of(conn) else {
            return;
        };
        self.conn_keys[conn] = None;
        let c = &mut self.conns[key as usize];
        c.closing = true;
        if c.recv_armed || c.send.is_some() {
            self.cancel_conn(key);
        }
        self.free_if_done(key);
    }

    /// Keeps a read armed on `fd` (an eventfd from [`EventFdWaker::new`]) and reports
    /// [`Completion::Woken`] when it is written. Clears `O_NONBLOCK` on it: the read waits in the
    /// kernel. Only one waker per ring.
    pub fn set_waker(&mut self, fd: OwnedFd) -> io::Result<()> {
        if self.waker.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "waker already set",
            ));
        }
        clear_nonblocking(fd.as_raw_fd())?;
        self.waker = Some(Waker {
            fd,
            buf: Box::new([0; 8]),
            armed: false,
        });
        self.arm_waker();
        Ok(())
    }

    /// Hands the queued work to the kernel and waits until at least one completion is ready, or
    /// `timeout` passes (`None`: no limit). One `io_uring_enter` (more only when work queued
    /// beyond the submission queue's size). A timeout or a signal is not an error.
    /// Submits what is queued without waiting: sockets with room send at once, inside this
    /// call.
    pub fn submit(&mut self) -> io::Result<()> {
        self.flush_backlog()?;
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog()?;
        let res = match timeout {
            Some(d) => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match res {
            Ok(_) => Ok(()),
            // ETIME: the timeout; EINTR: a signal; EBUSY: completions wait in the overflow list
            // and the next drain makes room for them.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Hands out the completions that are ready, at most one completion queue's worth (any rest
    /// is handed out after the next `submit_and_wait`, which then returns at once). Receive
    /// buffers go back to the kernel as each callback returns; receives that ran out of buffers
    /// and accepts that ended are re-armed at the end. Returns how many completions were read.
    pub fn drain(&mut self, mut f: impl FnMut(Completion<'_>)) -> usize {
        let cap = self.ring.completion().capacity();
        let mut batch = std::mem::take(&mut self.batch);
        let mut seen = 0;
        while seen < cap {
            batch.clear();
            batch.extend(self.ring.completion().take(BATCH.min(cap - seen)));
            if batch.is_empty() {
                break;
            }
            seen += batch.len();
            for cqe in batch.drain(..) {
                self.handle(cqe, &mut f);
            }
        }
        self.batch = batch;
        self.rearm_after_drain();
        seen
    }

    /// Cancels everything and waits, boundedly, for every operation that references memory
    /// owned here to end. Returns whether they all did.
    fn shut_down(&mut self) -> bool {
        self.shutting_down = true;
        for (_, c) in self.conns.iter_mut() {
            c.closing = true;
        }
        let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(Tag::new(Kind::Cancel, 0, 0).encode());
        // SAFETY: a cancel request references no memory of ours.
        unsafe { self.push(entry) };
        for _ in 0..SHUTDOWN_WAITS {
            if !self.memory_in_use() {
                return true;
            }
            if self
                .submit_and_wait(Some(Duration::from_millis(50)))
                .is_err()
            {
                break;
            }
            self.drain(|_| {});
        }
        !self.memory_in_use()
    }

    fn memory_in_use(&self) -> bool {
        !self.backlog.is_empty()
            || self.waker.as_ref().is_some_and(|w| w.armed)
            || self
                .conns
                .iter()
                .any(|(_, c)| c.recv_armed || c.send.is_some())
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        if self.shut_down() && self.ring.submitter().unregister_buf_ring(BGID).is_ok() {
            return;
        }
        // The kernel may still touch our memory: leak it rather than free it under the kernel.
        tracing::warn!("io_uring layer dropped with operations in flight; leaking their buffers");
        self.bufs.leak_on_drop();
        for (_, c) in self.conns.iter_mut() {
            std::mem::forget(c.send.take());
        }
        if let Some(w) = self.waker.take() {
            std::mem::forget(w);
        }
    }
}

fn clear_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL takes no pointers; `fd` is open (owned by the caller).
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK != 0
            && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
