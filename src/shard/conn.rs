//! One accepted connection: its socket, its session, what it does (publish, play) and what it
//! still has to send. Reads and vectored writes; no stream logic.
//!
//! Behind a load balancer that speaks the PROXY protocol, a connection first waits for the
//! header ([`ProxyWait`]); only the bytes after it reach the session.
use super::mailbox::StreamKey;
use crate::media::ingest::FrameBuilder;
use crate::media::queue::PlayerQueue;
use crate::protocol::proxy::{self, ProxyError, ProxyParse, MAX_HEADER_LEN};
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
    /// The client: the socket's peer, or the source a PROXY header announced.
    pub peer: SocketAddr,
    /// Some until the PROXY header is complete (only with `proxy_protocol` on).
    pub proxy: Option<ProxyWait>,
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
        proxy_protocol: bool,
        now: Instant,
    ) -> Self {
        Conn {
            socket,
            peer,
            proxy: proxy_protocol.then(ProxyWait::default),
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

    /// Feeds input that arrived while the PROXY header is awaited. Returns where the client's
    /// own bytes start in `input` once the header is complete (and the peer is the header's
    /// source from then on), None while more is needed.
    pub(crate) fn handle_proxy_input(&mut self, input: &[u8]) -> Result<Option<usize>, ProxyError> {
        let Some(wait) = self.proxy.as_mut() else {
            return Ok(Some(0));
        };
        let Some((start, source)) = wait.handle_input(input)? else {
            return Ok(None);
        };
        if let Some(source) = source {
            self.peer = source;
        }
        self.proxy = None;
        Ok(Some(start))
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

/// The start of a connection whose PROXY header is not complete yet.
#[derive(Default)]
pub(crate) struct ProxyWait {
    /// What arrived so far: all of it header, never more than `MAX_HEADER_LEN` bytes.
    received: Vec<u8>,
}

impl ProxyWait {
    /// Takes the next input. Once the header is complete: the offset in `input` where the bytes
    /// after it start, and the header's source address if it has one.
    fn handle_input(
        &mut self,
        input: &[u8],
    ) -> Result<Option<(usize, Option<SocketAddr>)>, ProxyError> {
        let before = self.received.len();
        let room = MAX_HEADER_LEN.saturating_sub(before);
        self.received
            .extend_from_slice(input.get(..room).unwrap_or(input));
        match proxy::parse(&self.received)? {
            ProxyParse::Incomplete if self.received.len() >= MAX_HEADER_LEN => {
                // parse() never asks for this much; refuse rather than trust that.
                Err(ProxyError::TooLong {
                    limit: MAX_HEADER_LEN,
                })
            }
            ProxyParse::Incomplete => Ok(None),
            // The earlier bytes parsed as Incomplete, so they were all header: the header
            // ends inside `input`.
            ProxyParse::Done {
                consumed, source, ..
            } => Ok(Some((consumed.saturating_sub(before), source))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &[u8] = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 1935\r\n";
    const RTMP: &[u8] = &[0x03, 0, 0, 0, 0, 9, 9, 9];

    fn source() -> Option<SocketAddr> {
        Some("203.0.113.7:40000".parse().unwrap())
    }

    #[test]
    fn header_split_over_two_reads_at_every_point() {
        let all = [HEADER, RTMP].concat();
        for cut in 0..=all.len() {
            let mut wait = ProxyWait::default();
            let (first, second) = all.split_at(cut);
            let rest = match wait.handle_input(first).unwrap() {
                Some((start, src)) => {
                    assert!(cut >= HEADER.len(), "cut {cut}");
                    assert_eq!(src, source());
                    &first[start..]
                }
                None => {
                    assert!(cut < HEADER.len(), "cut {cut}");
                    let (start, src) = wait.handle_input(second).unwrap().expect("complete");
                    assert_eq!(src, source());
                    &second[start..]
                }
            };
            let expected = if cut >= HEADER.len() {
                &all[HEADER.len()..cut]
            } else {
                RTMP
            };
            assert_eq!(rest, expected, "cut {cut}");
        }
    }

    #[test]
    fn header_one_byte_at_a_time() {
        let mut wait = ProxyWait::default();
        let (last, head) = HEADER.split_last().unwrap();
        for b in head {
            assert_eq!(wait.handle_input(std::slice::from_ref(b)), Ok(None));
        }
        let input = [&[*last][..], RTMP].concat();
        assert_eq!(wait.handle_input(&input), Ok(Some((1, source()))));
        assert!(wait.received.len() <= MAX_HEADER_LEN);
    }

    #[test]
    fn garbage_and_oversized_headers_fail() {
        let mut wait = ProxyWait::default();
        assert_eq!(wait.handle_input(RTMP), Err(ProxyError::NotProxy));
        // A v2 header announcing 60000 bytes of TLVs, sent in one big read.
        let mut big = proxy::V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xea, 0x60]);
        big.resize(64 * 1024, 0);
        let mut wait = ProxyWait::default();
        assert!(matches!(
            wait.handle_input(&big),
            Err(ProxyError::TooLong { .. })
        ));
        assert!(wait.received.len() <= MAX_HEADER_LEN);
    }
}
