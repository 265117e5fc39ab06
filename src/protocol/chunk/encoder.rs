//! Chunk encoder: writes a whole message as a fmt-0 chunk followed by fmt-3 continuations.
use super::MessageHeader;
use bytes::BytesMut;

/// Writes messages as chunks of one outgoing chunk size.
///
/// Every message starts with a fmt-0 header (absolute timestamp), so the bytes of a message do
/// not depend on what was sent before on that connection: the same encoded bytes can be sent to
/// every player. Extended timestamps are repeated on fmt-3 continuation chunks.
#[derive(Debug, Clone, Copy)]
pub struct ChunkEncoder {
    chunk_size: u32,
}

impl ChunkEncoder {
    pub fn new(chunk_size: u32) -> Self {
        ChunkEncoder { chunk_size }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends `payload` to `out` as chunks on chunk stream `csid`. `header.length` is ignored;
    /// the payload's length is written.
    pub fn encode(&self, csid: u32, header: &MessageHeader, payload: &[u8], out: &mut BytesMut) {
        let _ = (csid, header, payload, out);
        todo!()
    }

    /// The number of bytes [`ChunkEncoder::encode`] writes for these arguments.
    pub fn encoded_len(&self, csid: u32, timestamp: u32, payload_len: usize) -> usize {
        let _ = (csid, timestamp, payload_len);
        todo!()
    }
}
