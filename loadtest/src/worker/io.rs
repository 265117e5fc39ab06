//! Socket plumbing shared by players and the publisher: draining reads into the thread's
//! buffer, writing session output through a small per-connection outbox, the connect
//! result check, and the thread's timerfd (an absolute CLOCK_MONOTONIC deadline with
//! nanosecond precision, where epoll's own timeout only has milliseconds).
use bytes::Bytes;
use mio::net::TcpStream;
use std::io::{self, Write};
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

/// SO_TIMESTAMPING / SCM_TIMESTAMPING in asm-generic (x86, arm, riscv); the libc crate does
/// not export them for every Linux target.
const SO_TIMESTAMPING: libc::c_int = 37;

/// Asks the kernel to stamp received data with its software arrival time (CLOCK_REALTIME),
/// reported with each read. Latency is then measured from the moment the bytes reached this
/// host, not from when a busy load-tester thread got to them. Returns false if refused.
pub fn enable_rx_timestamps(sock: &TcpStream) -> bool {
    let flags =
        (libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE) as libc::c_int;
    // SAFETY: valid fd, pointer to a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_TIMESTAMPING,
            (&flags as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// One step of draining a socket.
#[derive(Debug)]
pub enum ReadStep {
    /// `n` bytes arrived; `more` is false when the read was short: the socket is empty,
    /// and on Linux a later arrival raises a new edge, so the read that would only say
    /// EAGAIN is skipped. `rx_real_ns`: kernel arrival time of the last of these bytes
    /// (CLOCK_REALTIME), when timestamps are on.
    Data {
        n: usize,
        more: bool,
        rx_real_ns: Option<u64>,
    },
    /// No more data for now.
    Drained,
    /// The peer closed the connection.
    Closed,
    Failed(io::Error),
}

/// Reads once into `buf` (retrying on EINTR), with the arrival timestamp if the kernel
/// sends one.
pub fn read_step(sock: &mut TcpStream, buf: &mut [u8]) -> ReadStep {
    recv_step(sock, buf, 0)
}

/// Looks at what waits in the socket without taking it (MSG_PEEK) or copying it (MSG_TRUNC):
/// `n` is how many bytes are queued (at most `buf.len()`), `rx_real_ns` the kernel arrival
/// time of the segment holding the last of them. The kernel merges queued segments and keeps
/// only the newest one's timestamp, so a socket left unread loses the arrival times of its
/// older bytes unless someone looks as they come: this is how a paused player looks.
pub fn peek_step(sock: &mut TcpStream, buf: &mut [u8]) -> ReadStep {
    recv_step(sock, buf, libc::MSG_PEEK | libc::MSG_TRUNC)
}

fn recv_step(sock: &mut TcpStream, buf: &mut [u8], flags: libc::c_int) -> ReadStep {
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; zeroed is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers for the duration of the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags | libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return ReadStep::Drained,
                io::ErrorKind::Interrupted => continue,
                _ => return ReadStep::Failed(e),
            }
        }
        if n == 0 {
            return ReadStep::Closed;
        }
        let n = n as usize;
        // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG macros stay in it.
        let rx_real_ns = unsafe { software_timestamp(&msg) };
        return ReadStep::Data {
            n,
            more: n == buf.len(),
            rx_real_ns,
        };
    }
}

/// The software receive timestamp (`scm_timestamping.ts[0]`) among the control messages.
///
/// # Safety
/// `msg` must come from a successful recvmsg, its control fields describing a live buffer.
unsafe fn software_timestamp(msg: &libc::msghdr) -> Option<u64> {
    let mut cmsg = libc::CMSG_FIRSTHDR(msg);
    while !cmsg.is_null() {
        let c = &*cmsg;
        if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == SO_TIMESTAMPING {
            let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
            if ts.tv_sec == 0 && ts.tv_nsec == 0 {
                return None;
            }
            return Some((ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64);
        }
        cmsg = libc::CMSG_NXTHDR(msg, cmsg);
    }
    None
}

pub use rtmp_edge::relay::connect::{connect_state, start_connect, ConnectState};

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
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
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
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
                // A zero it_value would disarm: never ask for the epoch itself.
                tv_nsec: (deadline_ns % 1_000_000_000).max(1) as libc::c_long,
            },
        };
        // SAFETY: valid fd and pointers to initialised itimerspec values.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd,
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
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
pub fn raise_fd_limit() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                lim = wanted;
            }
        }
    }
    lim.rlim_cur
}
