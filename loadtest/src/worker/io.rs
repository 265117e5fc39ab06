//! Socket plumbing shared by players and the publisher: draining reads into the thread's
//! buffer, writing session output through a small per-connection outbox, the connect
//! result check, and the thread's timerfd (an absolute CLOCK_MONOTONIC deadline with
//! nanosecond precision, where epoll's own timeout only has milliseconds).
use bytes::Bytes;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

/// Bytes a session produced that the socket did not take yet.
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    sent: usize,
}

impl Outbox {
    pub fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `bytes` (after anything already waiting). Returns Ok even when the socket
    /// took only part: the rest waits for the next writable event.
    pub fn send(&mut self, sock: &mut TcpStream, bytes: &Bytes) -> io::Result<()> {
        if self.is_empty() {
            let n = write_some(sock, bytes)?;
            if n < bytes.len() {
                self.buf.clear();
                self.sent = 0;
                self.buf.extend_from_slice(&bytes[n..]);
            }
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        self.flush(sock)
    }

    /// Writes what is waiting, until done or the socket is full.
    pub fn flush(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let n = write_some(sock, &self.buf[self.sent..])?;
        self.sent += n;
        if self.is_empty() {
            self.buf.clear();
            self.sent = 0;
        } else if self.sent > self.buf.len() / 2 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }
}

/// Writes as much of `data` as the socket takes now.
fn write_some(sock: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match sock.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// One step of draining a socket.
#[derive(Debug)]
pub enum ReadStep {
    /// `n` bytes arrived; `more` is false when the read was short: the socket is empty,
    /// and on Linux a later arrival raises a new edge, so the read that would only say
    /// EAGAIN is skipped.
    Data { n: usize, more: bool },
    /// No more data for now.
    Drained,
    /// The peer closed the connection.
    Closed,
    Failed(io::Error),
}

/// Reads once into `buf` (retrying on EINTR).
pub fn read_step(sock: &mut TcpStream, buf: &mut [u8]) -> ReadStep {
    loop {
        match sock.read(buf) {
            Ok(0) => return ReadStep::Closed,
            Ok(n) => return ReadStep::Data { n, more: n == buf.len() },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadStep::Drained,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return ReadStep::Failed(e),
        }
    }
}

/// Outcome of a non-blocking connect when its socket became ready.
pub enum ConnectState {
    Connected,
    Pending,
    Failed(io::Error),
}

pub fn connect_state(sock: &TcpStream) -> ConnectState {
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectState::Failed(e),
        Ok(None) => {}
    }
    match sock.peer_addr() {
        Ok(_) => ConnectState::Connected,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectState::Pending,
        Err(e) => ConnectState::Failed(e),
    }
}

/// Error kind name for a failed connect.
pub fn connect_error_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect_refused",
        io::ErrorKind::TimedOut => "connect_timeout",
        _ => "connect_error",
    }
}

/// Error kind name for a failed read or write on an established connection.
pub fn io_error_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => "closed_early",
        _ => "io_error",
    }
}

/// A CLOCK_MONOTONIC timerfd armed at absolute deadlines.
pub struct Timer {
    fd: RawFd,
    armed: u64,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        // SAFETY: plain syscall; the fd is owned by this struct and closed in Drop.
        let fd = unsafe {
            libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Timer { fd, armed: 0 })
    }

    /// Fires once at `deadline_ns` (CLOCK_MONOTONIC). Re-arming also clears a past expiry.
    pub fn arm(&mut self, deadline_ns: u64) -> io::Result<()> {
        if deadline_ns == self.armed {
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
                // A zero it_value would disarm: never ask for the epoch itself.
                tv_nsec: (deadline_ns % 1_000_000_000).max(1) as libc::c_long,
            },
        };
        // SAFETY: valid fd and pointers to initialised itimerspec values.
        let rc = unsafe {
            libc::timerfd_settime(self.fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut())
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = deadline_ns;
        Ok(())
    }
}

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

/// Raises the open-file limit to its hard maximum: every player is a socket.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                lim = wanted;
            }
        }
    }
    lim.rlim_cur as u64
}
