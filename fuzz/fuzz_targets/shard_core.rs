//! Fuzz target: two `ShardCore`s of one node fed an arbitrary interleaving of connections,
//! bytes, write completions, closes and time, as a driver would, on a simulated clock.
//!
//! The input is an op list read with `arbitrary`'s `Unstructured`, one op after another until
//! the input ends (at most `MAX_OPS`). Each op is a tag byte (modulo the op count) and its
//! fields: integers are little-endian, `conn` picks (modulo) one of the connections the
//! simulated driver knows, in the order they appeared.
//!
//! | tag | op        | fields                                                        |
//! |-----|-----------|---------------------------------------------------------------|
//! | 0   | accept    | u8: bit 0 the shard, bit 1 the listener (1 is a PROXY one)   |
//! | 1   | input     | u8 conn, u16 length, that many bytes (fewer if input ends)    |
//! | 2   | written   | u8 conn, u16 bytes the send in flight took (cut to its size)  |
//! | 3   | blocked   | u8 conn: the send in flight took nothing, the socket is full  |
//! | 4   | writable  | u8 conn: the full socket has room again                       |
//! | 5   | close     | u8 conn, u8: bit 0 a read error, else the peer closed         |
//! | 6   | advance   | u16 milliseconds; then `handle_timeout` where it is due       |
//! | 7   | connected | u8 which pending relay connect, u8: bit 0 it failed           |
//! | 8   | flush     | every send in flight completes in full                        |
//!
//! After every op all outputs are drained as a driver does (`poll_transmit`, `poll_close`,
//! `poll_mailbox` delivered to the other core, `poll_connect`, `handle_pass_end`,
//! `poll_snapshot`) until nothing moves. Sends stay in flight until an op completes them.
//! App `live` pulls from (and pushes to) an origin at 127.0.0.1:19002 whose connects the
//! `connected` op answers; bytes from the origin arrive with `input` like any others.
//!
//! Checks, besides no panic: all input is consumed; ids handed out by accepts and connects
//! are not in use; sends are not empty, cover what they say, are only handed out for known
//! connections with nothing in flight; closes are only for known connections; and each core
//! holds exactly the connections the driver knows.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rtmp_edge::media::registry::Registry;
use rtmp_edge::relay::url::RtmpUrl;
use rtmp_edge::relay::{AppRelay, OriginChoice, RelaySettings, Upstream};
use rtmp_edge::shard::{CloseReason, ConnId, ListenerSettings, ShardCore, ShardSettings};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const MAX_OPS: usize = 4096;
const OPS: u8 = 9;
/// Bound on drain rounds after one op (each round delivers the mail of the one before).
const MAX_ROUNDS: usize = 64;

/// A connection as the simulated driver sees it.
struct Conn {
    shard: usize,
    id: ConnId,
    /// The size of the send handed out and not yet reported written.
    in_flight: Option<usize>,
}

struct Sim {
    cores: Vec<ShardCore>,
    now: Instant,
    conns: Vec<Conn>,
    /// Per shard, by id (ids are small slab indices), where that connection is in `conns`
    /// (`usize::MAX`: not there); and how many each shard has. Inputs that open thousands of
    /// connections made every op scan them all.
    index: [Vec<usize>; 2],
    open: [usize; 2],
    /// Relay connects asked for and not answered yet.
    connects: Vec<(usize, ConnId)>,
    next_port: u16,
    /// `SHARD_CORE_TRACE=1`: print every op and output (to read a crash input).
    trace: bool,
}

/// The settings of every run, made once: `ShardSettings::default` reads the CPU count from
/// /proc and the cgroup files, which cost more than most runs.
fn settings() -> Arc<ShardSettings> {
    static SETTINGS: OnceLock<Arc<ShardSettings>> = OnceLock::new();
    SETTINGS.get_or_init(|| Arc::new(fresh_settings())).clone()
}

fn fresh_settings() -> ShardSettings {
    let origin: SocketAddr = ([127, 0, 0, 1], 19_002).into();
    let upstream = || Upstream {
        url: RtmpUrl::parse_app("rtmp://127.0.0.1:19002/live").expect("a valid URL"),
        addr: origin,
    };
    let second = || Duration::from_secs(1);
    ShardSettings {
        listeners: vec![
            ListenerSettings::rtmp(([127, 0, 0, 1], 1935).into()),
            ListenerSettings {
                proxy_protocol: true,
                ..ListenerSettings::rtmp(([127, 0, 0, 1], 1936).into())
            },
        ],
        shards: 2,
        write_merge: Duration::ZERO,
        relay: RelaySettings {
            apps: vec![AppRelay {
                name: "live".into(),
                origins: vec![upstream()],
                origin_choice: OriginChoice::Ordered,
                push: vec![upstream()],
                idle_close: 5 * second(),
                connect_timeout: 3 * second(),
                handshake_timeout: 5 * second(),
                play_timeout: 5 * second(),
            }],
            hop_limit: 8,
        },
        ..ShardSettings::default()
    }
}

impl Sim {
    fn new() -> Sim {
        let settings = settings();
        let registry = Arc::new(Registry::new(2));
        let now = Instant::now();
        let cores = (0..2)
            .map(|i| ShardCore::new(i, settings.clone(), registry.clone(), now, 7 + i as u64))
            .collect();
        static TRACE: OnceLock<bool> = OnceLock::new();
        let trace = *TRACE.get_or_init(|| std::env::var_os("SHARD_CORE_TRACE").is_some());
        Sim {
            cores,
            now,
            conns: Vec::new(),
            index: [Vec::new(), Vec::new()],
            open: [0; 2],
            connects: Vec::new(),
            next_port: 40_000,
            trace,
        }
    }

    fn known(&self, shard: usize, id: ConnId) -> bool {
        self.position(shard, id).is_some() || self.connects.contains(&(shard, id))
    }

    fn position(&self, shard: usize, id: ConnId) -> Option<usize> {
        self.index[shard]
            .get(id.0)
            .copied()
            .filter(|&i| i != usize::MAX)
    }

    fn set_position(&mut self, shard: usize, id: ConnId, i: usize) {
        let index = &mut self.index[shard];
        if index.len() <= id.0 {
            index.resize(id.0 + 1, usize::MAX);
        }
        index[id.0] = i;
    }

    fn add(&mut self, shard: usize, id: ConnId) {
        self.set_position(shard, id, self.conns.len());
        self.conns.push(Conn {
            shard,
            id,
            in_flight: None,
        });
        self.open[shard] += 1;
    }

    /// Removes `conns[i]`; the ones after it move down (their order is what `conn` picks).
    fn remove(&mut self, i: usize) -> Conn {
        let c = self.conns.remove(i);
        self.set_position(c.shard, c.id, usize::MAX);
        for j in i..self.conns.len() {
            let (shard, id) = (self.conns[j].shard, self.conns[j].id);
            self.set_position(shard, id, j);
        }
        self.open[c.shard] -= 1;
        c
    }

    fn pick(&mut self, u: &mut Unstructured) -> Result<Option<usize>> {
        let k = usize::from(u.arbitrary::<u8>()?);
        Ok((!self.conns.is_empty()).then(|| k % self.conns.len()))
    }

    fn op(&mut self, u: &mut Unstructured) -> Result<()> {
        let now = self.now;
        let tag = u.arbitrary::<u8>()? % OPS;
        if self.trace {
            let conns: Vec<_> = self
                .conns
                .iter()
                .map(|c| (c.shard, c.id.0, c.in_flight))
                .collect();
            eprintln!("op {tag}; conns {conns:?}, connects {:?}", self.connects);
        }
        match tag {
            0 => {
                let pick = u.arbitrary::<u8>()?;
                let (shard, listener) = (usize::from(pick & 1), usize::from(pick >> 1 & 1));
                if !self.cores[shard].has_room() {
                    return Ok(());
                }
                self.next_port = self.next_port.wrapping_add(1);
                let peer = SocketAddr::from(([127, 0, 0, 1], self.next_port));
                let id = self.cores[shard].handle_accept(listener, peer, now);
                if self.trace {
                    eprintln!("  shard {shard} accepted {id:?} on listener {listener}");
                }
                assert!(!self.known(shard, id), "accept handed out {id:?}, in use");
                self.add(shard, id);
            }
            1 => {
                let pick = self.pick(u)?;
                let len = usize::from(u.arbitrary::<u16>()?).min(u.len());
                let bytes = u.bytes(len)?;
                if let Some(c) = pick.map(|i| &self.conns[i]) {
                    let used = self.cores[c.shard].handle_input(c.id, bytes, now);
                    assert_eq!(used, bytes.len());
                }
            }
            2 => {
                let pick = self.pick(u)?;
                let written = usize::from(u.arbitrary::<u16>()?);
                if let Some(c) = pick.map(|i| &mut self.conns[i]) {
                    if let Some(len) = c.in_flight.take() {
                        self.cores[c.shard].handle_written(c.id, written.min(len), now);
                    }
                }
            }
            3 => {
                if let Some(c) = self.pick(u)?.map(|i| &mut self.conns[i]) {
                    if c.in_flight.take().is_some() {
                        self.cores[c.shard].handle_written(c.id, 0, now);
                        self.cores[c.shard].handle_send_blocked(c.id);
                    }
                }
            }
            4 => {
                if let Some(c) = self.pick(u)?.map(|i| &self.conns[i]) {
                    self.cores[c.shard].handle_writable(c.id);
                }
            }
            5 => {
                let pick = self.pick(u)?;
                let reason = match u.arbitrary::<u8>()? & 1 {
                    0 => CloseReason::PeerClosed,
                    _ => CloseReason::ReadError,
                };
                if let Some(i) = pick {
                    let c = self.remove(i);
                    self.cores[c.shard].handle_closed(c.id, reason);
                }
            }
            6 => {
                self.now += Duration::from_millis(u64::from(u.arbitrary::<u16>()?));
                for core in &mut self.cores {
                    if core.poll_timeout(self.now) <= self.now {
                        core.handle_timeout(self.now);
                    }
                }
            }
            7 => {
                let k = usize::from(u.arbitrary::<u8>()?);
                let failed = u.arbitrary::<u8>()? & 1 != 0;
                if !self.connects.is_empty() {
                    let (shard, id) = self.connects.remove(k % self.connects.len());
                    let result = if failed {
                        Err(std::io::ErrorKind::ConnectionRefused.into())
                    } else {
                        self.add(shard, id);
                        Ok(())
                    };
                    self.cores[shard].handle_connected(id, result, now);
                }
            }
            _ => {
                for c in &mut self.conns {
                    if let Some(len) = c.in_flight.take() {
                        self.cores[c.shard].handle_written(c.id, len, now);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Sim {
    /// Drains every output of both cores as a driver does, until nothing moves.
    fn drain(&mut self) {
        let now = self.now;
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            for shard in 0..self.cores.len() {
                moved |= self.drain_core(shard, now);
            }
            if !moved {
                break;
            }
        }
        for shard in 0..self.cores.len() {
            let known = self.open[shard] + self.connects.iter().filter(|c| c.0 == shard).count();
            assert_eq!(
                self.cores[shard].connections(),
                known,
                "shard {shard}'s connections"
            );
        }
    }

    fn drain_core(&mut self, shard: usize, now: Instant) -> bool {
        let mut moved = false;
        let mut chunks = Vec::new();
        while let Some(tx) = self.cores[shard].poll_transmit(now) {
            moved = true;
            let len = tx.len();
            assert!(len > 0, "an empty send");
            chunks.clear();
            let mut iovecs = Vec::new();
            assert_eq!(tx.chunks(&mut chunks), len);
            assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), len);
            assert_eq!(tx.iovecs(&mut iovecs), len);
            assert_eq!(iovecs.iter().map(|s: &IoSlice| s.len()).sum::<usize>(), len);
            let conn = tx.conn;
            let i = self.position(shard, conn);
            let i = i.unwrap_or_else(|| panic!("a send for unknown {conn:?}"));
            let c = &mut self.conns[i];
            assert!(
                c.in_flight.is_none(),
                "a send for {conn:?} while one is in flight"
            );
            c.in_flight = Some(len);
        }
        let mut gone = false;
        while let Some((conn, reason)) = self.cores[shard].poll_close() {
            moved = true;
            if self.trace {
                eprintln!("  shard {shard} closes {conn:?}: {reason}");
            }
            // Marked here and taken out of `conns` in one pass below: a shutdown closes them
            // all, and removing each from the middle of `conns` was quadratic.
            let held = self.position(shard, conn).is_some();
            if held {
                self.set_position(shard, conn, usize::MAX);
                self.open[shard] -= 1;
                gone = true;
            }
            let before = self.connects.len();
            self.connects.retain(|c| *c != (shard, conn));
            let removed = usize::from(held) + before - self.connects.len();
            assert_eq!(removed, 1, "closed {conn:?}");
        }
        if gone {
            let index = &self.index;
            self.conns
                .retain(|c| index[c.shard].get(c.id.0) != Some(&usize::MAX));
            for j in 0..self.conns.len() {
                let (shard, id) = (self.conns[j].shard, self.conns[j].id);
                self.set_position(shard, id, j);
            }
        }
        let mut mail = Vec::new();
        while let Some(batch) = self.cores[shard].poll_mailbox() {
            mail.push(batch);
        }
        for (to, batch) in mail {
            moved = true;
            self.cores[to].handle_mailbox(batch, now);
        }
        while let Some(connect) = self.cores[shard].poll_connect() {
            moved = true;
            if self.trace {
                eprintln!("  shard {shard} connects {:?}", connect.conn);
            }
            assert!(
                !self.known(shard, connect.conn),
                "connect for {:?}, in use",
                connect.conn
            );
            self.connects.push((shard, connect.conn));
        }
        self.cores[shard].handle_pass_end(now);
        let _ = self.cores[shard].poll_snapshot(now);
        moved
    }
}

fuzz_target!(init: rtmp_edge_fuzz::keep_freed_memory(), |data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut sim = Sim::new();
    for _ in 0..MAX_OPS {
        if u.is_empty() || sim.op(&mut u).is_err() {
            break;
        }
        sim.drain();
    }
    for core in &mut sim.cores {
        core.shutdown();
    }
    sim.drain();
});
