//! Message types and the classification of a reassembled message.
use super::amf::{AmfValue, Limits};
use super::chunk::RawMessage;
use super::command::{Command, CommandError};
use super::control::{ControlError, ControlMessage};
use bytes::Bytes;

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const DATA_AMF3: u8 = 15;
pub const SHARED_OBJECT_AMF3: u8 = 16;
pub const COMMAND_AMF3: u8 = 17;
pub const DATA_AMF0: u8 = 18;
pub const SHARED_OBJECT_AMF0: u8 = 19;
pub const COMMAND_AMF0: u8 = 20;
pub const AGGREGATE: u8 = 22;

/// What a reassembled message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Control(ControlMessage),
    Command(Command),
    /// A data message (types 18 and 15), decoded, with its raw AMF0 payload (for type 15 the
    /// leading 0 byte is already removed).
    Data { values: Vec<AmfValue>, raw: Bytes },
    Audio(Bytes),
    Video(Bytes),
    /// Aggregate message (type 22): FLV tags back to back; see `flv::split_aggregate`.
    Aggregate(Bytes),
    /// Shared objects and unknown types: ignored by the sessions.
    Other(u8),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("bad data message: {0}")]
    Data(#[from] super::amf::DecodeError),
}

impl Message {
    /// Classifies and decodes a reassembled message.
    pub fn decode(msg: &RawMessage, limits: &Limits) -> Result<Message, MessageError> {
        let _ = (msg, limits);
        todo!()
    }
}
