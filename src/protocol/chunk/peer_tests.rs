//! A model peer that compresses headers the way FFmpeg and librtmp do (fmt 1, 2 and 3 when the
//! previous header allows), interleaves chunk streams, uses extended timestamps with and
//! without repeating them, changes its chunk size and aborts messages. Seeded random streams
//! from it must decode to exactly the messages it sent, however the bytes are split.
use super::*;

const CONTROL: u32 = 2;
const STREAMS: [u32; 6] = [3, 4, 5, 64, 319, 400];
const CHUNK_SIZES: [u32; 6] = [1, 2, 3, 7, 128, 4096];

/// What both ends remember about a chunk stream.
#[derive(Clone, Copy, Default)]
struct Last {
    timestamp: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The timestamp field of the last fmt 0-2 header (the delta fmt 3 repeats).
    field: u32,
}

struct InFlight {
    csid: u32,
    header: MessageHeader,
    payload: Vec<u8>,
    sent: usize,
    /// The extended timestamp continuations may repeat.
    extended: Option<u32>,
    repeat: bool,
}

struct Peer {
    rng: fastrand::Rng,
    chunk_size: u32,
    last: Vec<(u32, Last)>,
    in_flight: Vec<InFlight>,
    out: Vec<u8>,
    sent: Vec<RawMessage>,
}

fn basic(out: &mut Vec<u8>, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        0..=63 => out.push(fmt | csid as u8),
        64..=319 => out.extend([fmt, (csid - 64) as u8]),
        _ => out.extend([fmt | 1, (csid - 64) as u8, ((csid - 64) >> 8) as u8]),
    }
}

fn field(out: &mut Vec<u8>, value: u32) {
    out.extend(&value.min(EXTENDED_TIMESTAMP).to_be_bytes()[1..]);
}

impl Peer {
    fn new(seed: u64) -> Peer {
        Peer {
            rng: fastrand::Rng::with_seed(seed),
            chunk_size: DEFAULT_CHUNK_SIZE,
            last: Vec::new(),
            in_flight: Vec::new(),
            out: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn last(&self, csid: u32) -> Option<Last> {
        self.last.iter().find(|(c, _)| *c == csid).map(|(_, l)| *l)
    }

    fn set_last(&mut self, csid: u32, last: Last) {
        match self.last.iter_mut().find(|(c, _)| *c == csid) {
            Some(entry) => entry.1 = last,
            None => self.last.push((csid, last)),
        }
    }

    /// Starts a message: writes its first chunk with the most compressed header allowed,
    /// or a random less compressed one.
    fn start(&mut self, csid: u32, header: MessageHeader, payload: Vec<u8>) {
        let prev = self.last(csid);
        let delta = prev.map(|p| header.timestamp.wrapping_sub(p.timestamp));
        let mut fmt = 0;
        if let (Some(p), Some(delta)) = (prev, delta) {
            if p.stream_id == header.stream_id {
                fmt = 1;
                if p.length == header.length && p.type_id == header.type_id {
                    fmt = if delta == p.field { 3 } else { 2 };
                }
            }
        }
        fmt = self.rng.u8(0..=fmt);
        let mut out = Vec::new();
        basic(&mut out, fmt, csid);
        let mut last = prev.unwrap_or_default();
        let value = match fmt {
            0 => header.timestamp,
            3 => last.field,
            _ => delta.unwrap_or(0),
        };
        if fmt < 3 {
            field(&mut out, value);
            last.field = value;
        }
        if fmt <= 1 {
            out.extend(&header.length.to_be_bytes()[1..]);
            out.push(header.type_id);
        }
        if fmt == 0 {
            out.extend(header.stream_id.to_le_bytes());
        }
        let extended = (value >= EXTENDED_TIMESTAMP).then_some(value);
        if let Some(v) = extended {
            out.extend(v.to_be_bytes());
        }
        self.out.extend(out);
        last.timestamp = header.timestamp;
        last.length = header.length;
        last.type_id = header.type_id;
        last.stream_id = header.stream_id;
        self.set_last(csid, last);
        let repeat = self.rng.bool();
        self.in_flight.push(InFlight {
            csid,
            header,
            payload,
            sent: 0,
            extended,
            repeat,
        });
        self.send_payload(self.in_flight.len() - 1);
    }

    /// Writes the next chunk's payload of in-flight message `i`; records it once complete.
    fn send_payload(&mut self, i: usize) {
        let m = &mut self.in_flight[i];
        let n = (m.payload.len() - m.sent).min(self.chunk_size as usize);
        self.out.extend(&m.payload[m.sent..m.sent + n]);
        m.sent += n;
        if m.sent == m.payload.len() {
            let m = self.in_flight.swap_remove(i);
            self.sent.push(RawMessage {
                csid: m.csid,
                header: MessageHeader {
                    length: m.payload.len() as u32,
                    ..m.header
                },
                payload: m.payload.into(),
            });
        }
    }

    fn continue_one(&mut self, i: usize) {
        let (csid, extended, repeat) = {
            let m = &self.in_flight[i];
            (m.csid, m.extended, m.repeat)
        };
        basic(&mut self.out, 3, csid);
        if let (Some(v), true) = (extended, repeat) {
            self.out.extend(v.to_be_bytes());
        }
        self.send_payload(i);
    }

    /// Sends a control message whole, as real peers do.
    fn control(&mut self, type_id: u8, value: u32) {
        let timestamp = self.last(CONTROL).map_or(0, |l| l.timestamp);
        let header = MessageHeader {
            timestamp,
            length: 4,
            type_id,
            stream_id: 0,
        };
        self.start(CONTROL, header, value.to_be_bytes().to_vec());
        while let Some(i) = self.in_flight.iter().position(|m| m.csid == CONTROL) {
            self.continue_one(i);
        }
    }

    fn step(&mut self) {
        let free: Vec<u32> = STREAMS
            .iter()
            .copied()
            .filter(|c| self.in_flight.iter().all(|m| m.csid != *c))
            .collect();
        match self.rng.u8(0..20) {
            0 => {
                let size = CHUNK_SIZES[self.rng.usize(..CHUNK_SIZES.len())];
                self.control(1, size);
                self.chunk_size = size;
            }
            1 if !self.in_flight.is_empty() => {
                let m = self
                    .in_flight
                    .swap_remove(self.rng.usize(..self.in_flight.len()));
                self.control(2, m.csid);
            }
            2..=9 if !free.is_empty() => {
                let csid = free[self.rng.usize(..free.len())];
                let prev = self.last(csid).unwrap_or_default();
                let timestamp = match self.rng.u8(0..10) {
                    0 => self.rng.u32(..),
                    1 => prev
                        .timestamp
                        .wrapping_add(self.rng.u32(0xFF_FFF0..0x0100_0010)),
                    2 => prev.timestamp.wrapping_add(prev.field),
                    _ => prev.timestamp.wrapping_add(self.rng.u32(0..100)),
                };
                let length = if self.rng.bool() {
                    prev.length
                } else {
                    self.rng.u32(0..300)
                };
                let header = MessageHeader {
                    timestamp,
                    length,
                    type_id: if self.rng.u8(0..4) == 0 {
                        9
                    } else {
                        prev.type_id.max(8)
                    },
                    stream_id: if self.rng.u8(0..8) == 0 { 2 } else { 1 },
                };
                let payload = std::iter::repeat_with(|| self.rng.u8(..))
                    .take(length as usize)
                    .collect();
                self.start(csid, header, payload);
            }
            _ if !self.in_flight.is_empty() => {
                let i = self.rng.usize(..self.in_flight.len());
                self.continue_one(i);
            }
            _ => {}
        }
    }
}

/// Feeds `input` in pieces of random sizes and collects every message.
fn decode_in_pieces(input: &[u8], rng: &mut fastrand::Rng) -> Vec<RawMessage> {
    let mut decoder = ChunkDecoder::new(1 << 16, STREAMS.len() + 2);
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = match rng.u8(0..4) {
            0 => 1,
            1 => rng.usize(1..20),
            _ => rng.usize(1..600),
        }
        .min(rest.len());
        let (mut piece, tail) = rest.split_at(n);
        rest = tail;
        loop {
            let (used, msg) = decoder.decode(piece).expect("model stream decodes");
            piece = &piece[used..];
            match msg {
                Some(msg) => out.push(msg),
                None => break,
            }
        }
        assert!(piece.is_empty());
    }
    out
}

#[test]
fn model_peer_streams_decode_to_what_was_sent() {
    for seed in 0..150 {
        let mut peer = Peer::new(seed);
        for _ in 0..200 {
            peer.step();
        }
        while !peer.in_flight.is_empty() {
            peer.continue_one(0);
        }
        // A last message with no extended timestamp ends any peek at a short last chunk.
        let end = MessageHeader {
            timestamp: 0,
            length: 8,
            type_id: 8,
            stream_id: 1,
        };
        peer.start(7, end, vec![0; 8]);
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5EED);
        let got = decode_in_pieces(&peer.out, &mut rng);
        assert_eq!(got.len(), peer.sent.len(), "seed {seed}");
        for (i, (g, w)) in got.iter().zip(&peer.sent).enumerate() {
            assert_eq!(g, w, "seed {seed}, message {i}");
        }
    }
}
