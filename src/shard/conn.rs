//! One accepted connection: its socket, its session, what it does (publish, play) and what it
//! still has to send. Reads and vectored writes; no stream logic.
use super::mailbox::StreamKey;
use crate::media::ingest::FrameBuilder;
use crate::media::queue::PlayerQueue;
use crate::session::ServerSession;
use mio::net::TcpStream;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Most iovecs handed to one writev.
const MAX_IOVECS: usize = 64;

pub(crate) enum Role {
    /// Handshake, connect, createStream: neither publishing nor playing yet.
    Pending,
    Publisher {
        key: StreamKey,
        generation: u64,
        builder: FrameBuilder,
        last_media: Instant,
        /// Last timestamp reported to the registry (for a takeover's timeline).
        noted_timestamp: Option<u32>,
    },
    Player {
        key: StreamKey,
        audio: bool,
        video: bool,
    },
}

pub(crate) struct Conn {
    pub socket: TcpStream,
    pub peer: SocketAddr,
    pub session: ServerSession,
    pub role: Role,
    /// Everything still to be written: session output and media frames, in order.
    pub queue: PlayerQueue,
    pub created: Instant,
    /// Last time a write made progress or the queue was empty.
    pub last_write: Instant,
    /// In the shard's list of connections to flush.
    pub dirty: bool,
    /// Flush no later than this (write-merge window); None = flush at the end of this pass.
    pub flush_at: Option<Instant>,
    /// The socket accepted all we had: no writable edge is pending.
    pub write_blocked: bool,
}

pub(crate) enum ReadOutcome {
    Data(usize),
    WouldBlock,
    Closed,
}

pub(crate) enum FlushOutcome {
    /// Everything queued is written.
    Drained(usize),
    /// The socket is full; wait for a writable event.
    Blocked(usize),
}

impl Conn {
    pub(crate) fn new(
        socket: TcpStream,
        peer: SocketAddr,
        session: ServerSession,
        queue: PlayerQueue,
        now: Instant,
    ) -> Self {
        Conn {
            socket,
            peer,
            session,
            role: Role::Pending,
            queue,
            created: now,
            last_write: now,
            dirty: false,
            flush_at: None,
            write_blocked: false,
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        loop {
            return match self.socket.read(buf) {
                Ok(0) => Ok(ReadOutcome::Closed),
                Ok(n) => Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Moves the session's pending output into the send queue.
    pub(crate) fn take_session_output(&mut self) -> bool {
        let mut any = false;
        while let Some(bytes) = self.session.poll_transmit() {
            self.queue.push_control(bytes);
            any = true;
        }
        any
    }

    /// Writes as much of the queue as the socket takes, with writev.
    pub(crate) fn flush(&mut self, now: Instant) -> io::Result<FlushOutcome> {
        let mut written_total = 0;
        while !self.queue.is_empty() {
            let result = {
                let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOVECS);
                self.queue.fill_iovecs(&mut iov, MAX_IOVECS);
                self.socket.write_vectored(&iov)
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.queue.advance(n);
                    written_total += n;
                    self.last_write = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return Ok(FlushOutcome::Blocked(written_total));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.last_write = now;
        Ok(FlushOutcome::Drained(written_total))
    }
}
