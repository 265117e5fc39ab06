//! Message types and the classification of a reassembled message.
//!
//! [`Message::decode`] looks at the type id of a [`RawMessage`] from the chunk decoder and
//! decodes control messages, commands and data messages; media and aggregate payloads are handed
//! on as the same reference-counted `Bytes` (never copied, never parsed here). Sans-IO, no
//! clocks, no panics on peer bytes.
//!
//! Call order: the chunk decoder yields a `RawMessage`, then [`Message::decode`], then the
//! session acts on the `Message`.
use super::amf::{amf0, AmfValue, Limits};
use super::chunk::RawMessage;
use super::command::{Command, CommandError};
use super::control::{self, ControlError, ControlMessage};
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
    Data {
        values: Vec<AmfValue>,
        raw: Bytes,
    },
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
        let payload = &msg.payload;
        Ok(match msg.header.type_id {
            type_id @ control::SET_CHUNK_SIZE..=control::SET_PEER_BANDWIDTH => {
                Message::Control(ControlMessage::decode(type_id, payload)?)
            }
            COMMAND_AMF0 => Message::Command(Command::decode(payload, false, limits)?),
            COMMAND_AMF3 => Message::Command(Command::decode(payload, true, limits)?),
            DATA_AMF0 => data(payload.clone(), limits)?,
            DATA_AMF3 => {
                // The leading format byte (0) is dropped so `raw` is plain AMF0 for every
                // consumer; a payload without it is kept whole, as for commands.
                let raw = match payload.first() {
                    Some(0) => payload.slice(1..),
                    _ => payload.clone(),
                };
                data(raw, limits)?
            }
            AUDIO => Message::Audio(payload.clone()),
            VIDEO => Message::Video(payload.clone()),
            AGGREGATE => Message::Aggregate(payload.clone()),
            other => Message::Other(other),
        })
    }
}

/// A data message: its values (AMF0, with avmplus switches to AMF3 allowed) and its raw bytes.
fn data(raw: Bytes, limits: &Limits) -> Result<Message, MessageError> {
    let values = amf0::decode_all(&raw, limits)?;
    Ok(Message::Data { values, raw })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::amf::captures::{hex, FFMPEG_CONNECT};
    use crate::protocol::amf::DecodeError;
    use crate::protocol::chunk::MessageHeader;

    fn raw(type_id: u8, payload: Vec<u8>) -> RawMessage {
        let header = MessageHeader {
            timestamp: 0,
            length: u32::try_from(payload.len()).unwrap(),
            type_id,
            stream_id: 1,
        };
        RawMessage {
            csid: 3,
            header,
            payload: Bytes::from(payload),
        }
    }

    fn decode(msg: &RawMessage) -> Result<Message, MessageError> {
        Message::decode(msg, &Limits::default())
    }

    const SET_DATA_FRAME: &str = "02 000d '@setDataFrame' 02 000a 'onMetaData'
        08 00000001 0005 'width' 00 4094000000000000 000009";

    #[test]
    fn commands_of_both_types() {
        let connect = Command::decode(&hex(FFMPEG_CONNECT), false, &Limits::default()).unwrap();
        let amf0 = raw(COMMAND_AMF0, hex(FFMPEG_CONNECT));
        assert_eq!(decode(&amf0), Ok(Message::Command(connect.clone())));
        let mut payload = vec![0];
        payload.extend_from_slice(&hex(FFMPEG_CONNECT));
        assert_eq!(
            decode(&raw(COMMAND_AMF3, payload)),
            Ok(Message::Command(connect))
        );
        let nameless = raw(COMMAND_AMF0, hex("05"));
        assert_eq!(
            decode(&nameless),
            Err(MessageError::Command(CommandError::MissingName))
        );
    }

    #[test]
    fn data_messages_keep_their_raw_amf0() {
        let payload = hex(SET_DATA_FRAME);
        let Ok(Message::Data { values, raw: bytes }) = decode(&raw(DATA_AMF0, payload.clone()))
        else {
            panic!("not a data message");
        };
        assert_eq!(values.len(), 3);
        assert_eq!(values[0].as_str(), Some("@setDataFrame"));
        assert_eq!(
            values[2].get("width").and_then(AmfValue::as_f64),
            Some(1280.0)
        );
        assert_eq!(bytes, payload);

        // Type 15: the format byte is stripped from `raw`; the rest is the same AMF0.
        let mut amf3 = vec![0];
        amf3.extend_from_slice(&payload);
        let decoded = decode(&raw(DATA_AMF3, amf3));
        assert_eq!(
            decoded,
            Ok(Message::Data {
                values: values.clone(),
                raw: Bytes::from(payload)
            })
        );

        // AMF3 values reached through the avmplus switch, in a type 15 message.
        let switched = raw(DATA_AMF3, hex("00 02 0006 'onTest' 11 04 ff ff ff ff"));
        let Ok(Message::Data { values, raw: bytes }) = decode(&switched) else {
            panic!("not a data message");
        };
        assert_eq!(
            values,
            vec![AmfValue::string("onTest"), AmfValue::Number(-1.0)]
        );
        assert_eq!(bytes[0], 0x02);

        let broken = raw(DATA_AMF0, hex("02 0009 'short'"));
        assert_eq!(
            decode(&broken),
            Err(MessageError::Data(DecodeError::UnexpectedEnd))
        );
        let empty = raw(DATA_AMF0, vec![]);
        assert_eq!(
            decode(&empty),
            Ok(Message::Data {
                values: vec![],
                raw: Bytes::new()
            })
        );
    }

    #[test]
    fn media_payloads_are_shared_not_copied() {
        for (type_id, wrap) in [
            (AUDIO, Message::Audio as fn(Bytes) -> Message),
            (VIDEO, Message::Video),
            (AGGREGATE, Message::Aggregate),
        ] {
            let msg = raw(type_id, vec![0x17, 0x01, 0, 0, 0, 0xAA]);
            let decoded = decode(&msg).unwrap();
            assert_eq!(decoded, wrap(msg.payload.clone()));
            let (Message::Audio(bytes) | Message::Video(bytes) | Message::Aggregate(bytes)) =
                decoded
            else {
                panic!("not media");
            };
            assert_eq!(bytes.as_ptr(), msg.payload.as_ptr());
        }
    }

    #[test]
    fn other_types_are_passed_by_number() {
        for type_id in [0, 7, SHARED_OBJECT_AMF3, SHARED_OBJECT_AMF0, 21, 23, 255] {
            // Payloads of ignored types are not looked at, however broken.
            assert_eq!(
                decode(&raw(type_id, vec![0xFF; 3])),
                Ok(Message::Other(type_id))
            );
        }
    }
}
