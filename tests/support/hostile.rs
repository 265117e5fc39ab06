//! A raw-socket RTMP peer that misbehaves on purpose, for the hostile-input suite: it binds
//! the loopback source address it is given (127.0.0.0/8 has many, so per-IP limits can be
//! tested from one machine), writes exactly the bytes a case needs (a plain handshake,
//! chunks of any size, AMF nested as deep as asked), and tells how and when the server
//! answered or closed. Also reads a process's VmRSS and a metric from `/metrics`.
//!
//! What it never does: connect anywhere but loopback, or wait without a bound: every read
//! has a deadline.
use rtmp_edge::protocol::amf::{amf0, AmfValue};
use rtmp_edge::protocol::chunk::{ChunkEncoder, MessageHeader};
use rtmp_edge::protocol::command::Command;
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The size of C1/S1/S2.
const HANDSHAKE_SIZE: usize = 1536;

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The server closed (EOF or reset) after this long.
    Closed(Duration),
    /// Still open at the deadline.
    Open,
}

/// One hostile connection.
pub struct HostilePeer {
    stream: TcpStream,
    /// Everything received so far.
    pub received: Vec<u8>,
}

impl HostilePeer {
    /// A TCP connection to `server` from source address `from` (any 127.x.y.z).
    pub fn connect_from(from: IpAddr, server: SocketAddr) -> std::io::Result<HostilePeer> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.bind(&SocketAddr::new(from, 0).into())?;
        socket.connect_timeout(&server.into(), Duration::from_secs(5))?;
        let stream: TcpStream = socket.into();
        stream.set_nodelay(true)?;
        Ok(HostilePeer {
            stream,
            received: Vec::new(),
        })
    }

    /// Writes `bytes`; a failure (the server closed already) is returned, not a panic.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// C0 + C1 (zeros: the plain handshake), S0 S1 S2 read, C2 = S1 sent.
    pub fn handshake(&mut self) -> std::io::Result<()> {
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0; HANDSHAKE_SIZE]);
        self.send(&c0c1)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.received.len() < 1 + 2 * HANDSHAKE_SIZE {
            if self.read_some(deadline)? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "closed in handshake",
                ));
            }
        }
        let s1 = self.received[1..1 + HANDSHAKE_SIZE].to_vec();
        self.received.drain(..1 + 2 * HANDSHAKE_SIZE);
        self.send(&s1)
    }

    /// Reads what is there, waiting until `deadline` at most: the count read (0: the server
    /// closed); a timeout is an `Err` of kind `WouldBlock` or `TimedOut`.
    fn read_some(&mut self, deadline: Instant) -> std::io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "deadline"));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut buf = [0u8; 65536];
        let n = self.stream.read(&mut buf)?;
        self.received.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Reads until the server closes or `limit` passes.
    pub fn wait_close(&mut self, limit: Duration) -> Ending {
        let start = Instant::now();
        let deadline = start + limit;
        loop {
            match self.read_some(deadline) {
                Ok(0) => return Ending::Closed(start.elapsed()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ending::Open
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset is a close too.
                Err(_) => return Ending::Closed(start.elapsed()),
            }
        }
    }

    /// Reads until `text` appears in what was received (a status code, a command name), or
    /// `limit` passes or the server closes: whether it appeared.
    pub fn wait_for_text(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if contains(&self.received, text.as_bytes()) {
                return true;
            }
            match self.read_some(deadline) {
                Ok(0) | Err(_) => return contains(&self.received, text.as_bytes()),
                Ok(_) => {}
            }
        }
    }

    /// Sends one message on chunk stream `csid` with chunks of `chunk_size` bytes.
    pub fn send_message(
        &mut self,
        csid: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
        chunk_size: u32,
    ) -> std::io::Result<()> {
        self.send(&message_bytes(
            csid, type_id, stream_id, payload, chunk_size,
        ))
    }

    /// Sends command `cmd` (AMF0, type 20) on `stream_id`, chunked at 128 bytes.
    pub fn send_command(&mut self, stream_id: u32, cmd: &Command) -> std::io::Result<()> {
        let mut payload = Vec::new();
        cmd.encode(&mut payload);
        self.send_message(3, 20, stream_id, &payload, 128)
    }

    /// `connect` to `app`.
    pub fn connect_app(&mut self, app: &str) -> std::io::Result<()> {
        self.send_command(0, &connect_command(app))
    }
}

/// The bytes of one message on `csid` (2..=63) in chunks of `chunk_size`.
pub fn message_bytes(
    csid: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: u32,
) -> Vec<u8> {
    let header = MessageHeader {
        timestamp: 0,
        length: payload.len() as u32,
        type_id,
        stream_id,
    };
    let mut out = bytes::BytesMut::new();
    ChunkEncoder::new(chunk_size).encode(csid, &header, payload, &mut out);
    out.to_vec()
}

/// The first chunk of a message of `length` bytes on `csid` (2..=63) with fmt 0, followed by
/// `first` payload bytes: a message that stays partial.
pub fn partial_message(csid: u8, type_id: u8, length: u32, first: &[u8]) -> Vec<u8> {
    let mut out = vec![csid & 0x3F, 0, 0, 0];
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(first);
    out
}

/// A Set Chunk Size message announcing `size` (any u32, valid or not).
pub fn set_chunk_size(size: u32) -> Vec<u8> {
    message_bytes(2, 1, 0, &size.to_be_bytes(), 128)
}

pub fn connect_command(app: &str) -> Command {
    let object = AmfValue::object([
        ("app", AmfValue::string(app)),
        ("tcUrl", AmfValue::string(format!("rtmp://127.0.0.1/{app}"))),
    ]);
    Command::new("connect", 1.0, object, vec![])
}

/// A command named `name` whose object nests `levels` objects and is never closed.
pub fn deep_command(name: &str, levels: usize) -> Vec<u8> {
    let mut payload = Vec::new();
    amf0::encode_str(name, &mut payload);
    amf0::encode_number(1.0, &mut payload);
    for _ in 0..levels {
        payload.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    payload
}

/// `publish` of `name` as raw AMF bytes (the name may be any bytes, UTF-8 or not).
pub fn publish_raw_name(name: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    amf0::encode_str("publish", &mut payload);
    amf0::encode_number(0.0, &mut payload);
    payload.push(0x05);
    payload.push(0x02);
    payload.extend_from_slice(&(name.len() as u16).to_be_bytes());
    payload.extend_from_slice(name);
    amf0::encode_str("live", &mut payload);
    payload
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// VmRSS of process `pid` in bytes.
pub fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The value of the sample `series` (name with labels, as written) in `GET /metrics` of the
/// HTTP listener at `http`; 0 when absent.
pub fn metric(http: SocketAddr, series: &str) -> f64 {
    let Ok(mut s) = TcpStream::connect_timeout(&http, Duration::from_secs(5)) else {
        return 0.0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Polls [`metric`] until it reaches `at_least` (snapshots are published every sweep) or
/// `limit` passes; returns the last value.
pub fn wait_metric(http: SocketAddr, series: &str, at_least: f64, limit: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let v = metric(http, series);
        if v >= at_least || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
