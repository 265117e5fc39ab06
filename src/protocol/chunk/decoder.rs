//! Chunk decoder: fmt 0-3 headers, 1- to 3-byte chunk stream ids, extended timestamps.
//!
//! What it does: turns the bytes a peer sends after the handshake into whole [`RawMessage`]s,
//! reassembling interleaved chunk streams, and applies the two control messages that change
//! how later chunks are read (Set Chunk Size, Abort) as soon as they complete.
//!
//! What it never does: I/O, clocks, or interpreting payloads beyond those two messages. It
//! never allocates more than `max_message_size` per chunk stream, nor more than the
//! reassembly limit over all the chunk streams of the connection together (both checked
//! before allocating), and keeps at most [`MAX_HEADER_LEN`] bytes of a partial chunk header
//! between calls. A header naming a message type RTMP does not have (0, or above 22) is an
//! error at once: it is what misframed bytes look like (a message sent as one chunk larger
//! than the chunk size), and waiting for the length such a header claims would hang.
//!
//! Call order: [`ChunkDecoder::new`], then [`ChunkDecoder::decode`] repeatedly. Each call
//! returns at most one message, so call it again on the rest of the input until it returns no
//! message (it has then consumed everything). After an error every later call returns that
//! same error: the peer's chunk stream can no longer be followed.
use super::{MessageHeader, RawMessage, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE};
use bytes::{Bytes, BytesMut};

/// Longest chunk header: 3-byte basic header, 11-byte message header, 4-byte extended timestamp.
pub const MAX_HEADER_LEN: usize = 18;

// Kept local rather than taken from `protocol::control` so the chunk layer depends on nothing
// above it.
const TYPE_SET_CHUNK_SIZE: u8 = 1;
const TYPE_ABORT: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk of fmt {fmt} on chunk stream {csid} with no previous header on that stream")]
    NoPreviousHeader { csid: u32, fmt: u8 },
    #[error("message of {length} bytes exceeds the limit of {limit}")]
    MessageTooLarge { length: u32, limit: u32 },
    /// Also reported, with value 0, for a Set Chunk Size message shorter than 4 bytes.
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("too many chunk streams in use (limit {0})")]
    TooManyChunkStreams(usize),
    #[error("partial messages would hold {wanted} bytes, over the reassembly limit of {limit}")]
    ReassemblyTooLarge { wanted: usize, limit: usize },
    #[error("chunk header on chunk stream {csid} names message type {type_id}, which RTMP does not have")]
    UnknownMessageType { csid: u32, type_id: u8 },
}

/// The highest message type id RTMP defines (aggregate).
const MAX_TYPE_ID: u8 = 22;

/// What the decoder remembers about one chunk stream.
#[derive(Debug, Default)]
struct ChunkStream {
    csid: u32,
    /// Header of the last message started here; `timestamp` is absolute.
    header: MessageHeader,
    /// What a fmt-3 chunk that starts a new message adds to the timestamp: the timestamp field
    /// of the last fmt 0/1/2 header. After fmt 0 that is the absolute timestamp, as the spec
    /// (5.3.1.2.4) says and FFmpeg and SRS do.
    delta: u32,
    /// The 32-bit value of the extended timestamp field when the last header had one.
    extended: Option<u32>,
    /// Payload of the message being reassembled, allocated at its full length.
    payload: BytesMut,
    /// A message has started and not all of its bytes have arrived.
    in_progress: bool,
}

/// A chunk header as read from the wire, before it is applied to its chunk stream.
#[derive(Debug, Clone, Copy)]
struct ParsedHeader {
    /// Bytes the header takes on the wire.
    len: usize,
    /// Index of its chunk stream in `ChunkDecoder::streams`, if that stream exists yet.
    stream: Option<usize>,
    fmt: u8,
    csid: u32,
    /// The 24-bit timestamp field (fmt 0-2).
    ts_field: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp, when this header carries one that sets a timestamp (fmt 0-2,
    /// or a fmt-3 chunk starting a new message). A repeated one on a continuation is `None`.
    extended: Option<u32>,
}

/// Reassembles messages from chunks. Feed it bytes with [`ChunkDecoder::decode`].
#[derive(Debug)]
pub struct ChunkDecoder {
    max_message_size: u32,
    max_chunk_streams: usize,
    chunk_size: u32,
    /// Few chunk streams are in use at once (usually 2 to 6), so a linear scan beats hashing.
    streams: Vec<ChunkStream>,
    /// Bytes already reported as consumed that have not been processed yet: the start of a
    /// header split across calls or, after a fmt-3 peek found no repeated timestamp, up to 3
    /// bytes of payload (and what follows it) to replay.
    carry: [u8; MAX_HEADER_LEN],
    carry_len: usize,
    /// Index in `streams` of the chunk whose payload is being read.
    current: usize,
    /// Payload bytes of the current chunk still to read; 0 means a header comes next.
    chunk_left: u32,
    /// Most bytes the payload buffers of all chunk streams may hold together.
    max_reassembly: usize,
    /// Bytes the payload buffers hold now (their allocated capacity).
    reserved: usize,
    error: Option<ChunkError>,
}

impl ChunkDecoder {
    /// `max_message_size` bounds any one message (and so the memory one peer can make us hold
    /// per chunk stream); `max_chunk_streams` bounds how many chunk streams may be open at once.
    /// The partial messages of all chunk streams together may hold twice `max_message_size`
    /// unless [`ChunkDecoder::with_reassembly_limit`] says otherwise.
    pub fn new(max_message_size: u32, max_chunk_streams: usize) -> Self {
        ChunkDecoder {
            max_message_size,
            max_chunk_streams,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            carry: [0; MAX_HEADER_LEN],
            carry_len: 0,
            current: 0,
            chunk_left: 0,
            max_reassembly: (max_message_size as usize).saturating_mul(2),
            reserved: 0,
            error: None,
        }
    }

    /// Bounds the bytes all partial messages together may hold (at least one message of
    /// `max_message_size` must fit, or large messages could never arrive).
    pub fn with_reassembly_limit(mut self, bytes: usize) -> Self {
        self.max_reassembly = bytes.max(self.max_message_size as usize);
        self
    }

    /// Bytes the buffers of partial messages hold now.
    pub fn reassembly_bytes(&self) -> usize {
        self.reserved
    }

    /// Decodes from `input` until one message completes or the input runs out. Returns the bytes
    /// consumed (always all of them when no message completed) and the message, if one did.
    /// Set Chunk Size (type 1) and Abort (type 2) take effect here, before the next chunk is read,
    /// and are returned like any other message.
    ///
    /// Bytes kept from an earlier call can complete a message on their own, so loop until this
    /// returns `None` rather than until the input is empty.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<RawMessage>), ChunkError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.decode_inner(input)
            .inspect_err(|e| self.error = Some(e.clone()))
    }

    /// The chunk size the peer currently uses.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    fn decode_inner(&mut self, input: &[u8]) -> Result<(usize, Option<RawMessage>), ChunkError> {
        let mut pos = 0;
        loop {
            if self.chunk_left > 0 {
                if self.carry_len > 0 {
                    self.replay_carry();
                }
                let rest = input.get(pos..).unwrap_or_default();
                let n = rest.len().min(self.chunk_left as usize);
                if let (Some(bytes), Some(stream)) =
                    (rest.get(..n), self.streams.get_mut(self.current))
                {
                    stream.payload.extend_from_slice(bytes);
                }
                pos += n;
                // n fits in u32: it is at most chunk_left.
                self.chunk_left -= n as u32;
                if self.chunk_left > 0 {
                    return Ok((pos, None));
                }
                if let Some(msg) = self.finish_chunk()? {
                    return Ok((pos, Some(msg)));
                }
                continue;
            }
            let rest = input.get(pos..).unwrap_or_default();
            let Some((used, header)) = self.read_header(rest)? else {
                return Ok((input.len(), None));
            };
            pos += used;
            if let Some(msg) = self.start_chunk(header)? {
                return Ok((pos, Some(msg)));
            }
        }
    }

    /// Moves carried payload bytes into the current chunk's payload.
    fn replay_carry(&mut self) {
        let n = self.carry_len.min(self.chunk_left as usize);
        if let (Some(bytes), Some(stream)) =
            (self.carry.get(..n), self.streams.get_mut(self.current))
        {
            stream.payload.extend_from_slice(bytes);
        }
        self.carry.copy_within(n..self.carry_len, 0);
        self.carry_len -= n;
        self.chunk_left -= n as u32;
    }

    /// Reads one chunk header from the carried bytes followed by `input`. Returns the bytes of
    /// `input` it used and the header, or `None` after keeping all of `input` for later.
    fn read_header(&mut self, input: &[u8]) -> Result<Option<(usize, ParsedHeader)>, ChunkError> {
        if self.carry_len == 0 {
            if let Some(header) = self.parse_header(input)? {
                return Ok(Some((header.len, header)));
            }
            // An incomplete header is shorter than MAX_HEADER_LEN, so it fits.
            let n = input.len().min(MAX_HEADER_LEN);
            self.carry[..n].copy_from_slice(&input[..n]);
            self.carry_len = n;
            return Ok(None);
        }
        let old = self.carry_len;
        let take = input.len().min(MAX_HEADER_LEN - old);
        let mut buf = self.carry;
        buf[old..old + take].copy_from_slice(&input[..take]);
        match self.parse_header(&buf[..old + take])? {
            None => {
                // Incomplete with fewer than MAX_HEADER_LEN bytes: `take` was all of `input`.
                self.carry = buf;
                self.carry_len = old + take;
                Ok(None)
            }
            Some(header) if header.len >= old => {
                self.carry_len = 0;
                Ok(Some((header.len - old, header)))
            }
            Some(header) => {
                // Only a fmt-3 peek that found no repeated timestamp ends a header inside bytes
                // carried from before; what follows it is payload still to be read.
                self.carry.copy_within(header.len..old, 0);
                self.carry_len = old - header.len;
                Ok(Some((0, header)))
            }
        }
    }

    /// Parses a chunk header at the start of `buf`, or returns `None` if `buf` ends first.
    fn parse_header(&self, buf: &[u8]) -> Result<Option<ParsedHeader>, ChunkError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3F {
            0 => match buf.get(1) {
                Some(&b) => (64 + u32::from(b), 2),
                None => return Ok(None),
            },
            1 => match (buf.get(1), buf.get(2)) {
                (Some(&lo), Some(&hi)) => (64 + u32::from(lo) + 256 * u32::from(hi), 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let index = self.streams.iter().position(|s| s.csid == csid);
        let stream = index.and_then(|i| self.streams.get(i));
        // A fresh chunk stream must start with fmt 0, but librtmp sends its pings as fmt 1 on
        // a fresh chunk stream 2 (SRS issue #98 documents it), so fmt 1 is accepted too and
        // starts from message stream 0 and timestamp 0.
        if stream.is_none() && fmt >= 2 {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        }
        let mut header = ParsedHeader {
            len: 0,
            stream: index,
            fmt,
            csid,
            ts_field: 0,
            length: 0,
            type_id: 0,
            stream_id: 0,
            extended: None,
        };
        if fmt < 3 {
            let fields_len = [11, 7, 3][usize::from(fmt)];
            let Some(fields) = buf.get(pos..pos + fields_len) else {
                return Ok(None);
            };
            header.ts_field = be24(fields);
            if let Some(rest) = fields.get(3..) {
                if fmt <= 1 {
                    header.length = be24(rest);
                    header.type_id = rest.get(3).copied().unwrap_or(0);
                }
                if let Some(&[a, b, c, d]) = rest.get(4..8) {
                    header.stream_id = u32::from_le_bytes([a, b, c, d]);
                }
            }
            pos += fields_len;
            if header.ts_field == EXTENDED_TIMESTAMP {
                let Some(ext) = read_u32(buf, pos) else {
                    return Ok(None);
                };
                header.extended = Some(ext);
                pos += 4;
            }
        } else if let Some(stream) = stream {
            if let Some(stored) = stream.extended {
                // The previous header of this chunk stream had an extended timestamp. The spec
                // has fmt-3 chunks carry it again; FFmpeg, librtmp and Flash do, some encoders
                // don't, and nothing on the wire says which. For a fmt-3 chunk starting a new
                // message the 4 bytes must be there (its timestamp depends on them). For a
                // continuation we do what FFmpeg and SRS do: peek at the next 4 bytes and take
                // them as the timestamp only if they equal the stored one. A peer that does
                // not repeat it and whose payload continues with those very 4 bytes is
                // misread; and a last chunk shorter than 4 bytes from such a peer completes
                // only once more bytes arrive. Both are the price of accepting both kinds.
                let Some(ext) = read_u32(buf, pos) else {
                    return Ok(None);
                };
                if !stream.in_progress {
                    header.extended = Some(ext);
                    pos += 4;
                } else if ext == stored {
                    pos += 4;
                }
            }
        }
        header.len = pos;
        Ok(Some(header))
    }

    /// Applies a chunk header to its chunk stream and prepares to read the chunk's payload.
    /// Returns a message when the header starts a zero-length message, which is then complete.
    fn start_chunk(&mut self, h: ParsedHeader) -> Result<Option<RawMessage>, ChunkError> {
        let index = match h.stream {
            Some(index) => index,
            None => {
                if h.fmt >= 2 {
                    return Err(ChunkError::NoPreviousHeader {
                        csid: h.csid,
                        fmt: h.fmt,
                    });
                }
                if self.streams.len() >= self.max_chunk_streams {
                    return Err(ChunkError::TooManyChunkStreams(self.max_chunk_streams));
                }
                self.streams.push(ChunkStream {
                    csid: h.csid,
                    ..ChunkStream::default()
                });
                self.streams.len() - 1
            }
        };
        self.current = index;
        let Some(stream) = self.streams.get_mut(index) else {
            return Ok(None);
        };
        if h.fmt == 3 && stream.in_progress {
            let remaining = (stream.header.length as usize).saturating_sub(stream.payload.len());
            self.chunk_left = remaining.min(self.chunk_size as usize) as u32;
            return Ok(None);
        }
        // A fmt 0-2 header always starts a new message: a partial one on this chunk stream is
        // dropped, as FFmpeg does.
        match h.fmt {
            0..=2 => {
                let field = h.extended.unwrap_or(h.ts_field);
                stream.extended = h.extended;
                stream.delta = field;
                if h.fmt == 0 {
                    stream.header.timestamp = field;
                    stream.header.stream_id = h.stream_id;
                } else {
                    // Timestamps wrap at 2^32 (about 49.7 days); so do deltas added to them.
                    stream.header.timestamp = stream.header.timestamp.wrapping_add(field);
                }
                if h.fmt <= 1 {
                    if h.type_id == 0 || h.type_id > MAX_TYPE_ID {
                        return Err(ChunkError::UnknownMessageType {
                            csid: h.csid,
                            type_id: h.type_id,
                        });
                    }
                    stream.header.length = h.length;
                    stream.header.type_id = h.type_id;
                }
            }
            _ => {
                if let Some(ext) = h.extended {
                    stream.delta = ext;
                    stream.extended = Some(ext);
                }
                stream.header.timestamp = stream.header.timestamp.wrapping_add(stream.delta);
            }
        }
        let length = stream.header.length;
        if length > self.max_message_size {
            return Err(ChunkError::MessageTooLarge {
                length,
                limit: self.max_message_size,
            });
        }
        // The partial message this header replaces (if any) gives its buffer back first.
        self.reserved = self.reserved.saturating_sub(stream.payload.capacity());
        stream.payload = BytesMut::new();
        if length == 0 {
            stream.in_progress = false;
            let msg = RawMessage {
                csid: h.csid,
                header: stream.header,
                payload: Bytes::new(),
            };
            self.apply_control(&msg)?;
            return Ok(Some(msg));
        }
        let wanted = self.reserved.saturating_add(length as usize);
        if wanted > self.max_reassembly {
            stream.in_progress = false;
            return Err(ChunkError::ReassemblyTooLarge {
                wanted,
                limit: self.max_reassembly,
            });
        }
        stream.payload = BytesMut::with_capacity(length as usize);
        self.reserved = self.reserved.saturating_add(stream.payload.capacity());
        stream.in_progress = true;
        self.chunk_left = length.min(self.chunk_size);
        Ok(None)
    }

    /// Called when the current chunk's payload is all read; returns the message it completed.
    fn finish_chunk(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        let Some(stream) = self.streams.get_mut(self.current) else {
            return Ok(None);
        };
        if stream.payload.len() < stream.header.length as usize {
            return Ok(None);
        }
        stream.in_progress = false;
        self.reserved = self.reserved.saturating_sub(stream.payload.capacity());
        let msg = RawMessage {
            csid: stream.csid,
            header: stream.header,
            payload: std::mem::take(&mut stream.payload).freeze(),
        };
        self.apply_control(&msg)?;
        Ok(Some(msg))
    }

    /// Set Chunk Size and Abort change how the following chunks are read, so they act here.
    /// Their payloads are checked again, and reported, by `protocol::control`.
    fn apply_control(&mut self, msg: &RawMessage) -> Result<(), ChunkError> {
        match msg.header.type_id {
            TYPE_SET_CHUNK_SIZE => {
                let size = read_u32(&msg.payload, 0).ok_or(ChunkError::InvalidChunkSize(0))?;
                if size == 0 || size > MAX_CHUNK_SIZE {
                    return Err(ChunkError::InvalidChunkSize(size));
                }
                self.chunk_size = size;
            }
            TYPE_ABORT => {
                // An Abort for a chunk stream we do not know has nothing to discard.
                if let Some(csid) = read_u32(&msg.payload, 0) {
                    if let Some(stream) = self.streams.iter_mut().find(|s| s.csid == csid) {
                        stream.in_progress = false;
                        self.reserved = self.reserved.saturating_sub(stream.payload.capacity());
                        stream.payload = BytesMut::new();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Bytes of payload buffers currently allocated, for tests of the allocation bounds.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.streams.iter().map(|s| s.payload.capacity()).sum()
    }
}

/// The big-endian 24-bit number at the start of `b` (callers pass at least 3 bytes).
fn be24(b: &[u8]) -> u32 {
    match b {
        [a, b, c, ..] => u32::from_be_bytes([0, *a, *b, *c]),
        _ => 0,
    }
}

/// The big-endian u32 at `pos` in `buf`, if all four bytes are there.
fn read_u32(buf: &[u8], pos: usize) -> Option<u32> {
    match buf.get(pos..pos.checked_add(4)?)? {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}
