//! Chunk decoder: fmt 0-3 headers, 1- to 3-byte chunk stream ids, extended timestamps.
use super::{MessageHeader, RawMessage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk of fmt {fmt} on chunk stream {csid} with no previous header on that stream")]
    NoPreviousHeader { csid: u32, fmt: u8 },
    #[error("message of {length} bytes exceeds the limit of {limit}")]
    MessageTooLarge { length: u32, limit: u32 },
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("too many chunk streams in use (limit {0})")]
    TooManyChunkStreams(usize),
}

/// Reassembles messages from chunks. Feed it bytes with [`ChunkDecoder::decode`].
pub struct ChunkDecoder {}

impl ChunkDecoder {
    /// `max_message_size` bounds any one message (and so the memory one peer can make us hold
    /// per chunk stream); `max_chunk_streams` bounds how many chunk streams may be open at once.
    pub fn new(max_message_size: u32, max_chunk_streams: usize) -> Self {
        let _ = (max_message_size, max_chunk_streams);
        todo!()
    }

    /// Decodes from `input` until one message completes or the input runs out. Returns the bytes
    /// consumed (always all of them when no message completed) and the message, if one did.
    /// Set Chunk Size (type 1) and Abort (type 2) take effect here, before the next chunk is read,
    /// and are returned like any other message.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<RawMessage>), ChunkError> {
        let _ = input;
        todo!()
    }

    /// The chunk size the peer currently uses.
    pub fn chunk_size(&self) -> u32 {
        todo!()
    }

    #[allow(dead_code)]
    fn _header(_: MessageHeader) {}
}
