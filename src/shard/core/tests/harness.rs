//! A simulated shard pair for `ShardCore` tests: cores sharing a registry, a clock that only
//! moves when a test says so, and for each connection a wire to a sans-IO client session
//! (or to nothing, for raw bytes). No sockets, no threads, no sleeps.
//!
//! With [`Harness::with_origins`], further cores (each its own one-shard node) act as
//! origins at `127.0.0.1:ORIGIN_PORT + index`: an outbound connection of an edge core to such
//! an address is linked to a connection accepted by that core, and bytes move between the two
//! cores directly. Other addresses, and origins marked down, refuse the connect.
use super::super::{AuthCallback, CloseReason, ConnId, ShardCore};
use crate::auth::callback::CallbackOutcome;
use crate::media::registry::Registry;
use crate::protocol::amf::AmfValue;
use crate::session::{ClientConfig, ClientEvent, ClientSession};
use crate::shard::ShardSettings;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the simulated socket of a connection does with each send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Takes everything.
    All,
    /// Takes at most this many bytes per send (the core hands the rest out again).
    Partial(usize),
    /// Takes nothing: `handle_written(0)` then `handle_send_blocked`, until `unblock`.
    Blocked,
    /// Keeps the send in flight (a completion-based driver); `release` reports it.
    Hold,
}

/// One media message as a client sent or received it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Media {
    pub type_id: u8,
    pub ts: u32,
    pub payload: Bytes,
}

impl Media {
    /// The frame number carried by a synthetic coded video frame (bytes 5..9).
    pub fn number(&self) -> Option<u32> {
        let coded = self.type_id == 9 && self.payload.get(1) == Some(&1);
        let b = self.payload.get(5..9).filter(|_| coded)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn is_keyframe(&self) -> bool {
        self.type_id == 9 && self.payload.first() == Some(&0x17) && self.payload.get(1) == Some(&1)
    }

    /// Same message; metadata is compared by type only (the server strips `@setDataFrame`).
    pub fn same(&self, other: &Media) -> bool {
        self.type_id == other.type_id
            && self.ts == other.ts
            && (self.type_id == 18 || self.payload == other.payload)
    }
}

/// The client end of one connection.
pub(super) struct Wire {
    pub shard: usize,
    pub conn: ConnId,
    /// None: a raw connection whose bytes the test injects.
    pub client: Option<ClientSession>,
    pub events: Vec<ClientEvent>,
    pub mode: Mode,
    pub closed: Option<CloseReason>,
    /// Every byte the socket took, in order.
    pub received: Vec<u8>,
    /// The bytes of a send kept in flight (`Mode::Hold`).
    pub in_flight: Option<Vec<u8>>,
    /// Sends handed out for this connection.
    pub transmits: usize,
    /// The client session's error, if the bytes it got were not a valid RTMP stream.
    pub error: Option<String>,
    /// Media this wire's client published, in order.
    pub sent: Vec<Media>,
    /// RTMPS: the client's TLS between its session and the wire (see `connect_tls`).
    pub tls: Option<rustls::ClientConnection>,
}

pub(super) struct Harness {
    pub cores: Vec<ShardCore>,
    pub wires: Vec<Wire>,
    pub now: Instant,
    by_conn: HashMap<(usize, usize), usize>,
    seed: u64,
    /// Outbound connections linked to origin cores: (core, conn) both ways.
    pub links: HashMap<(usize, usize), (usize, usize)>,
    /// Origin cores that refuse connects.
    pub down: HashSet<usize>,
    /// `(when, address)` of every outbound connect the edges asked for.
    pub connects: Vec<(Instant, SocketAddr)>,
    /// Linked connections (core, conn) whose socket takes nothing (a stalled peer).
    pub stalled: HashSet<(usize, usize)>,
}

/// Origin core `i` listens at `127.0.0.1:ORIGIN_PORT + i`.
pub(super) const ORIGIN_PORT: u16 = 19_000;

pub(super) fn origin_addr(core: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ORIGIN_PORT + core as u16))
}

/// Defaults with the write-merge window off, so every pass flushes what it produced.
pub(super) fn settings(tune: impl FnOnce(&mut ShardSettings)) -> ShardSettings {
    let mut s = ShardSettings {
        write_merge: Duration::ZERO,
        adaptive_merge_max: Duration::ZERO,
        ..ShardSettings::default()
    };
    tune(&mut s);
    s
}

pub(super) const MS: Duration = Duration::from_millis(1);

/// The wall clock of the simulated cores when the harness starts.
pub(super) const UNIX_AT_START: Duration = Duration::from_secs(1_800_000_000);

impl Harness {
    /// Two shards of one registry with the same settings.
    pub fn new(tune: impl FnOnce(&mut ShardSettings)) -> Harness {
        let settings = Arc::new(settings(tune));
        let registry = Arc::new(Registry::new(2));
        let now = Instant::now();
        let cores = (0..2)
            .map(|i| {
                let mut core =
                    ShardCore::new(i, settings.clone(), registry.clone(), now, 7 + i as u64);
                core.handle_wall_clock(now, UNIX_AT_START);
                core
            })
            .collect();
        Harness {
            cores,
            wires: Vec::new(),
            now,
            by_conn: HashMap::new(),
            seed: 100,
            links: HashMap::new(),
            down: HashSet::new(),
            connects: Vec::new(),
            stalled: HashSet::new(),
        }
    }

    /// Two edge shards (cores 0 and 1, settings tuned by `tune`) and `origins` origin cores
    /// (2, 3, ...) with default settings, each a node of its own.
    pub fn with_origins(origins: usize, tune: impl FnOnce(&mut ShardSettings)) -> Harness {
        let mut h = Harness::new(tune);
        for i in 0..origins {
            let core = h.fresh_origin(2 + i);
            h.cores.push(core);
        }
        h
    }

    fn fresh_origin(&self, seed: usize) -> ShardCore {
        let registry = Arc::new(Registry::new(1));
        ShardCore::new(
            0,
            Arc::new(settings(|_| {})),
            registry,
            self.now,
            seed as u64,
        )
    }

    /// Origin core `o` dies: its connections end (the edges see their peer close) and it
    /// refuses connects until [`Harness::revive`], which starts it afresh.
    pub fn kill_origin(&mut self, o: usize) {
        let linked: Vec<_> = self.links.keys().filter(|k| k.0 == o).copied().collect();
        for k in linked {
            if let Some(other) = self.links.remove(&k) {
                self.links.remove(&other);
                self.cores[other.0].handle_closed(ConnId(other.1), CloseReason::PeerClosed);
            }
        }
        for w in self.wires.iter_mut().filter(|w| w.shard == o) {
            w.closed.get_or_insert(CloseReason::Shutdown);
            self.by_conn.remove(&(o, w.conn.0));
        }
        self.cores[o] = self.fresh_origin(o + 50);
        self.down.insert(o);
        self.drive();
    }

    pub fn revive(&mut self, o: usize) {
        self.down.remove(&o);
    }

    /// The client of `w` goes away (its socket closed).
    pub fn hang_up(&mut self, w: usize) {
        let (shard, conn) = (self.wires[w].shard, self.wires[w].conn);
        self.by_conn.remove(&(shard, conn.0));
        self.wires[w].closed = Some(CloseReason::PeerClosed);
        self.cores[shard].handle_closed(conn, CloseReason::PeerClosed);
        self.drive();
    }

    /// A connection accepted on `listener` of `shard`, with a client session (no intent yet).
    pub fn connect(&mut self, shard: usize, listener: usize) -> usize {
        self.connect_with(shard, listener, false)
    }

    /// Like `connect`; with `enhanced` the client announces Enhanced RTMP v2 in connect.
    pub fn connect_with(&mut self, shard: usize, listener: usize, enhanced: bool) -> usize {
        let mut config = ClientConfig::new("live", "rtmp://127.0.0.1/live");
        config.enhanced = enhanced;
        self.seed += 1;
        let client = ClientSession::new(config, self.seed, 0);
        self.accept(shard, listener, Some(client))
    }

    /// Like [`Harness::connect`] with the client's own config (e.g. `caps_ex`).
    pub fn connect_config(&mut self, shard: usize, listener: usize, config: ClientConfig) -> usize {
        self.seed += 1;
        let client = ClientSession::new(config, self.seed, 0);
        self.accept(shard, listener, Some(client))
    }

    /// A connection whose bytes the test injects with `inject`.
    pub fn raw(&mut self, shard: usize, listener: usize) -> usize {
        self.accept(shard, listener, None)
    }

    fn accept(&mut self, shard: usize, listener: usize, client: Option<ClientSession>) -> usize {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let conn = self.cores[shard].handle_accept(listener, peer, self.now);
        let i = self.wires.len();
        assert!(
            self.by_conn.insert((shard, conn.0), i).is_none(),
            "id in use"
        );
        self.wires.push(Wire {
            shard,
            conn,
            client,
            events: Vec::new(),
            mode: Mode::All,
            closed: None,
            received: Vec::new(),
            in_flight: None,
            transmits: 0,
            error: None,
            sent: Vec::new(),
            tls: None,
        });
        i
    }

    /// Like [`Harness::connect`] on a TLS listener: the client session speaks through a
    /// rustls client that trusts `config`'s roots and expects the name `localhost`.
    pub fn connect_tls(
        &mut self,
        shard: usize,
        listener: usize,
        config: Arc<rustls::ClientConfig>,
    ) -> usize {
        let w = self.connect(shard, listener);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        self.wires[w].tls = Some(rustls::ClientConnection::new(config, name).unwrap());
        w
    }

    /// A publisher of `name` on `shard` whose publish was accepted.
    pub fn publisher(&mut self, shard: usize, name: &str) -> usize {
        let w = self.connect(shard, 0);
        self.client(w).publish(name);
        self.drive();
        assert!(self.wires[w].events.contains(&ClientEvent::PublishStarted));
        w
    }

    /// A player of `name` on `shard` whose play was accepted.
    pub fn player(&mut self, shard: usize, name: &str) -> usize {
        self.player_with(shard, name, false)
    }

    /// A player that announced Enhanced RTMP (`enhanced`) or not, whose play was accepted.
    pub fn player_with(&mut self, shard: usize, name: &str, enhanced: bool) -> usize {
        let w = self.connect_with(shard, 0, enhanced);
        self.client(w).play(name);
        self.drive();
        assert!(self.wires[w].events.contains(&ClientEvent::PlayStarted));
        w
    }

    pub fn client(&mut self, w: usize) -> &mut ClientSession {
        self.wires[w].client.as_mut().expect("a wire with a client")
    }

    /// Bytes from the peer of `w`, straight into its core.
    pub fn inject(&mut self, w: usize, bytes: &[u8]) {
        let (shard, conn) = (self.wires[w].shard, self.wires[w].conn);
        let used = self.cores[shard].handle_input(conn, bytes, self.now);
        assert_eq!(used, bytes.len());
    }

    pub fn send(&mut self, w: usize, type_id: u8, ts: u32, payload: Vec<u8>) {
        self.client(w).send_media(type_id, ts, &payload);
        let payload = Bytes::from(payload);
        self.wires[w].sent.push(Media {
            type_id,
            ts,
            payload,
        });
    }

    /// Metadata, then the AVC and AAC sequence headers, as encoders send them.
    pub fn headers(&mut self, w: usize) {
        let meta = AmfValue::EcmaArray(vec![("width".into(), AmfValue::Number(320.0))]);
        self.client(w).send_metadata(meta);
        let payload = Bytes::new();
        self.wires[w].sent.push(Media {
            type_id: 18,
            ts: 0,
            payload,
        });
        self.send(
            w,
            9,
            0,
            vec![0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1],
        );
        self.send(w, 8, 0, vec![0xAF, 0, 0x12, 0x10]);
    }

    /// A synthetic AVC frame of `size` bytes carrying `number`.
    pub fn video(&mut self, w: usize, ts: u32, number: u32, key: bool, size: usize) {
        let mut payload = vec![0u8; size.max(9)];
        payload[0] = if key { 0x17 } else { 0x27 };
        payload[1] = 1;
        payload[5..9].copy_from_slice(&number.to_be_bytes());
        self.send(w, 9, ts, payload);
    }

    pub fn audio(&mut self, w: usize, ts: u32) {
        self.send(w, 8, ts, vec![0xAF, 1, 0x21, 0, 0x49, 0x90]);
    }

    /// `frames` frames at 25 fps from frame `first` (a keyframe every `gop`), an audio frame
    /// after each; the clock moves 40 ms per frame (sweeps run on the way).
    pub fn stream(&mut self, w: usize, first: u32, frames: u32, gop: u32, size: usize) {
        for n in first..first + frames {
            self.video(w, n * 40, n, n % gop == 0, size);
            self.audio(w, n * 40 + 10);
            self.advance(40 * MS);
        }
    }

    /// Moves the clock and runs the due timeouts, then drives.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        for core in &mut self.cores {
            let deadline = core.poll_timeout(self.now);
            if deadline <= self.now {
                core.handle_timeout(self.now);
            }
        }
        self.drive();
    }

    /// Moves the clock in sweep-sized steps.
    pub fn advance_in_steps(&mut self, total: Duration) {
        let step = 500 * MS;
        let mut left = total;
        while !left.is_zero() {
            let by = left.min(step);
            self.advance(by);
            left -= by;
        }
    }

    /// Reports the send held in flight on `w` as `written` bytes.
    pub fn release(&mut self, w: usize, written: usize) {
        let bytes = self.wires[w].in_flight.take().expect("a send in flight");
        let (shard, conn) = (self.wires[w].shard, self.wires[w].conn);
        deliver(&mut self.wires[w], &bytes[..written]);
        self.cores[shard].handle_written(conn, written, self.now);
    }

    /// The socket of `w` drains: it takes everything from now on.
    pub fn unblock(&mut self, w: usize) {
        self.wires[w].mode = Mode::All;
        let (shard, conn) = (self.wires[w].shard, self.wires[w].conn);
        self.cores[shard].handle_writable(conn);
    }

    /// The unwritten bytes the core holds for `w`, peeked from its send queue.
    pub fn queued(&self, w: usize) -> Vec<u8> {
        let (shard, conn) = (self.wires[w].shard, self.wires[w].conn);
        let mut chunks = Vec::new();
        self.cores[shard].conns[conn.0]
            .queue
            .clone_chunks(&mut chunks, usize::MAX);
        chunks.concat()
    }

    /// Moves bytes, closes and mail until nothing moves.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the shards never went quiet");
    }

    fn step(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for shard in 0..self.cores.len() {
            while let Some(c) = self.cores[shard].poll_connect() {
                moved = true;
                self.connects.push((now, c.addr));
                let o = usize::from(c.addr.port().wrapping_sub(ORIGIN_PORT));
                if o >= 2 && o < self.cores.len() && !self.down.contains(&o) {
                    let peer: SocketAddr = "127.0.0.2:50000".parse().unwrap();
                    let accepted = self.cores[o].handle_accept(0, peer, now);
                    self.links.insert((shard, c.conn.0), (o, accepted.0));
                    self.links.insert((o, accepted.0), (shard, c.conn.0));
                    self.cores[shard].handle_connected(c.conn, Ok(()), now);
                } else {
                    let refused = std::io::ErrorKind::ConnectionRefused.into();
                    self.cores[shard].handle_connected(c.conn, Err(refused), now);
                }
            }
        }
        for w in &mut self.wires {
            let Some(client) = w.client.as_mut().filter(|_| w.closed.is_none()) else {
                continue;
            };
            let mut out = Vec::new();
            while let Some(bytes) = client.poll_transmit() {
                out.push(bytes.to_vec());
            }
            if let Some(tls) = w.tls.as_mut() {
                // The plaintext waits in rustls until the handshake is done.
                for bytes in out.drain(..) {
                    std::io::Write::write_all(&mut tls.writer(), &bytes).unwrap();
                }
                let mut sealed = Vec::new();
                while tls.wants_write() {
                    tls.write_tls(&mut sealed).unwrap();
                }
                out.push(sealed);
            }
            for bytes in out.into_iter().filter(|b| !b.is_empty()) {
                moved = true;
                let used = self.cores[w.shard].handle_input(w.conn, &bytes, now);
                assert_eq!(used, bytes.len());
            }
        }
        for shard in 0..self.cores.len() {
            while let Some(tx) = self.cores[shard].poll_transmit(now) {
                moved = true;
                let conn = tx.conn;
                let mut chunks = Vec::new();
                let len = tx.chunks(&mut chunks);
                let bytes = chunks.concat();
                let mut iov = Vec::new();
                assert_eq!(tx.iovecs(&mut iov), len);
                assert_eq!(iov.iter().flat_map(|s: &IoSlice| s.iter()).count(), len);
                assert_eq!((bytes.len(), tx.len()), (len, len));
                assert!(len > 0, "an empty send");
                if self.stalled.contains(&(shard, conn.0)) {
                    self.cores[shard].handle_written(conn, 0, now);
                    self.cores[shard].handle_send_blocked(conn);
                    continue;
                }
                if let Some(&(to, to_conn)) = self.links.get(&(shard, conn.0)) {
                    self.cores[shard].handle_written(conn, len, now);
                    self.cores[to].handle_input(ConnId(to_conn), &bytes, now);
                    continue;
                }
                let i = self.by_conn[&(shard, conn.0)];
                let w = &mut self.wires[i];
                w.transmits += 1;
                let core = &mut self.cores[shard];
                match w.mode {
                    Mode::All => {
                        deliver(w, &bytes);
                        core.handle_written(conn, len, now);
                    }
                    Mode::Partial(n) => {
                        let n = n.min(len);
                        deliver(w, &bytes[..n]);
                        core.handle_written(conn, n, now);
                    }
                    Mode::Blocked => {
                        core.handle_written(conn, 0, now);
                        core.handle_send_blocked(conn);
                    }
                    Mode::Hold => {
                        assert!(w.in_flight.is_none(), "handed out twice while in flight");
                        w.in_flight = Some(bytes);
                    }
                }
            }
            while let Some((conn, reason)) = self.cores[shard].poll_close() {
                moved = true;
                if let Some(other) = self.links.remove(&(shard, conn.0)) {
                    self.links.remove(&other);
                    self.stalled.remove(&(shard, conn.0));
                    self.cores[other.0].handle_closed(ConnId(other.1), CloseReason::PeerClosed);
                    continue;
                }
                let i = self.by_conn.remove(&(shard, conn.0)).expect("a known conn");
                self.wires[i].closed = Some(reason);
            }
            let mut mail = Vec::new();
            while let Some(batch) = self.cores[shard].poll_mailbox() {
                mail.push(batch);
            }
            for (to, batch) in mail {
                moved = true;
                self.cores[to].handle_mailbox(batch, now);
            }
            self.cores[shard].handle_pass_end(now);
        }
        moved
    }

    /// The media `w` received so far.
    pub fn media(&self, w: usize) -> Vec<Media> {
        let events = self.wires[w].events.iter();
        let media = events.filter_map(|e| match e {
            ClientEvent::Media {
                type_id,
                timestamp,
                payload,
            } => Some(Media {
                type_id: *type_id,
                ts: *timestamp,
                payload: payload.clone(),
            }),
            ClientEvent::Metadata { timestamp, payload } => Some(Media {
                type_id: 18,
                ts: *timestamp,
                payload: payload.clone(),
            }),
            _ => None,
        });
        media.collect()
    }

    /// The access callbacks `shard` asked for since the last call (what the worker pool gets).
    pub fn callbacks(&mut self, shard: usize) -> Vec<AuthCallback> {
        std::iter::from_fn(|| self.cores[shard].poll_callback()).collect()
    }

    /// The worker pool's answer to `callback` of `shard`.
    pub fn answer(&mut self, shard: usize, callback: &AuthCallback, outcome: CallbackOutcome) {
        let ticket = callback
            .ticket
            .expect("a callback that waits for its answer");
        self.cores[shard].handle_callback(callback.conn, ticket, outcome, self.now);
        self.drive();
    }

    /// The onStatus codes `w` received so far.
    pub fn codes(&self, w: usize) -> Vec<String> {
        let events = self.wires[w].events.iter();
        let codes = events.filter_map(|e| match e {
            ClientEvent::Status { code, .. } => Some(code.clone()),
            _ => None,
        });
        codes.collect()
    }

    /// Asserts `w` is open and its client decoded everything it got.
    pub fn assert_healthy(&self, w: usize) {
        let wire = &self.wires[w];
        assert_eq!(wire.closed, None, "wire {w} closed");
        assert_eq!(wire.error, None, "wire {w} got an invalid stream");
    }
}

/// Bytes the socket took, to the client.
fn deliver(w: &mut Wire, bytes: &[u8]) {
    w.received.extend_from_slice(bytes);
    let mut plain = Vec::new();
    let bytes = match w.tls.as_mut() {
        Some(tls) => {
            let mut input = bytes;
            while !input.is_empty() {
                tls.read_tls(&mut input).unwrap();
                if let Err(e) = tls.process_new_packets() {
                    w.error = Some(format!("TLS: {e}"));
                    return;
                }
                let _ = std::io::Read::read_to_end(&mut tls.reader(), &mut plain);
            }
            &plain[..]
        }
        None => bytes,
    };
    let Some(client) = w.client.as_mut().filter(|_| w.error.is_none()) else {
        return;
    };
    if let Err(e) = client.handle_input(bytes) {
        w.error = Some(e.to_string());
    }
    while let Some(event) = client.poll_event() {
        w.events.push(event);
    }
}

pub(super) const UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
pub(super) const PUBLISH_NOTIFY: &str = "NetStream.Play.PublishNotify";
