//! RTMP chunk stream: splitting messages into chunks and reassembling them.
//!
//! [`ChunkDecoder`] turns received bytes into whole [`RawMessage`]s; [`ChunkEncoder`] writes a
//! message as chunks. Neither does I/O. Reassembling a message from interleaved chunks is the one
//! copy the receive path makes; the resulting payload is a `Bytes` that later layers share.
//!
//! Call order: after the handshake, feed every received byte to [`ChunkDecoder::decode`] and
//! write outgoing messages with [`ChunkEncoder::encode`]; the two directions are independent
//! (each side announces its own chunk size).

mod decoder;
mod encoder;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod peer_tests;
#[cfg(test)]
mod tests;

pub use decoder::{ChunkDecoder, ChunkError, MAX_HEADER_LEN};
pub use encoder::{ChunkEncoder, MAX_CSID};

use bytes::Bytes;

/// The chunk stream id used for protocol control messages.
pub const CONTROL_CSID: u32 = 2;
/// The default chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// The largest chunk size Set Chunk Size may announce.
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// A timestamp field of this value means an extended timestamp follows.
pub const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// The message-level fields carried by chunk headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageHeader {
    /// Absolute timestamp in milliseconds (wraps at 2^32).
    pub timestamp: u32,
    /// Payload length in bytes (24 bits on the wire).
    pub length: u32,
    /// Message type id (1..=22 for the defined types).
    pub type_id: u8,
    /// Message stream id (little-endian on the wire).
    pub stream_id: u32,
}

/// A complete message as reassembled from chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The chunk stream it arrived on.
    pub csid: u32,
    pub header: MessageHeader,
    pub payload: Bytes,
}
