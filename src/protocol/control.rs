//! Protocol control messages (types 1, 2, 3, 5, 6) and User Control events (type 4).
use super::chunk::{ChunkEncoder, MessageHeader, CONTROL_CSID};
use bytes::BytesMut;

pub const SET_CHUNK_SIZE: u8 = 1;
pub const ABORT: u8 = 2;
pub const ACKNOWLEDGEMENT: u8 = 3;
pub const USER_CONTROL: u8 = 4;
pub const WINDOW_ACK_SIZE: u8 = 5;
pub const SET_PEER_BANDWIDTH: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    SetChunkSize(u32),
    Abort { csid: u32 },
    /// Bytes received so far, modulo 2^32.
    Acknowledgement { sequence: u32 },
    WindowAckSize(u32),
    /// limit: 0 hard, 1 soft, 2 dynamic.
    SetPeerBandwidth { size: u32, limit: u8 },
    UserControl(UserControlEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControlEvent {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength { stream_id: u32, millis: u32 },
    StreamIsRecorded(u32),
    PingRequest(u32),
    PingResponse(u32),
    /// An event type we do not interpret; ignored, not an error.
    Other(u16),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("control message of type {type_id} too short ({len} bytes)")]
    TooShort { type_id: u8, len: usize },
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("message type {0} is not a control message")]
    NotControl(u8),
}

impl ControlMessage {
    /// Decodes the payload of a message of type 1..=6.
    pub fn decode(type_id: u8, payload: &[u8]) -> Result<ControlMessage, ControlError> {
        let _ = (type_id, payload);
        todo!()
    }

    /// The message type id of this message.
    pub fn type_id(&self) -> u8 {
        todo!()
    }

    /// Appends this message as chunks (chunk stream 2, message stream 0, timestamp 0).
    pub fn encode(&self, encoder: &ChunkEncoder, out: &mut BytesMut) {
        let _ = (encoder, out, CONTROL_CSID, MessageHeader::default());
        todo!()
    }

    /// Writes the payload only.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }
}
