//! Protocol control messages (types 1, 2, 3, 5, 6) and User Control events (type 4).
//!
//! What it does: decodes and encodes the payloads of these small fixed-layout messages.
//! What it never does: I/O, or act on them. The chunk decoder already applies Set Chunk Size
//! and Abort as they arrive; the session decides what to answer (acknowledgements, pings).
//!
//! Call order: take a [`RawMessage`](super::chunk::RawMessage) of type 1..=6 from the chunk
//! decoder and call [`ControlMessage::decode`]; to send, build a [`ControlMessage`] and call
//! [`ControlMessage::encode`] (whole chunks) or [`ControlMessage::encode_payload`].
//!
//! Longer payloads than a message needs are accepted and the extra bytes ignored, as other
//! servers do; shorter ones are [`ControlError::TooShort`].
use super::chunk::{ChunkEncoder, MessageHeader, CONTROL_CSID, MAX_CHUNK_SIZE};
use bytes::BytesMut;

pub const SET_CHUNK_SIZE: u8 = 1;
pub const ABORT: u8 = 2;
pub const ACKNOWLEDGEMENT: u8 = 3;
pub const USER_CONTROL: u8 = 4;
pub const WINDOW_ACK_SIZE: u8 = 5;
pub const SET_PEER_BANDWIDTH: u8 = 6;

/// User Control event types (the first two bytes of a type-4 payload).
pub const EVENT_STREAM_BEGIN: u16 = 0;
pub const EVENT_STREAM_EOF: u16 = 1;
pub const EVENT_STREAM_DRY: u16 = 2;
pub const EVENT_SET_BUFFER_LENGTH: u16 = 3;
pub const EVENT_STREAM_IS_RECORDED: u16 = 4;
pub const EVENT_PING_REQUEST: u16 = 6;
pub const EVENT_PING_RESPONSE: u16 = 7;

/// The longest payload we encode: a User Control event with two u32 arguments.
const MAX_PAYLOAD_LEN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    SetChunkSize(u32),
    Abort {
        csid: u32,
    },
    /// Bytes received so far, modulo 2^32: the count wraps to 0 after 4 GiB, and a peer that
    /// waits for an acknowledgement needs the wrapped value (some encoders stall otherwise).
    Acknowledgement {
        sequence: u32,
    },
    WindowAckSize(u32),
    /// limit: 0 hard, 1 soft, 2 dynamic.
    SetPeerBandwidth {
        size: u32,
        limit: u8,
    },
    UserControl(UserControlEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControlEvent {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength {
        stream_id: u32,
        millis: u32,
    },
    StreamIsRecorded(u32),
    /// Carries the sender's timestamp, which the response echoes.
    PingRequest(u32),
    PingResponse(u32),
    /// An event type we do not interpret; ignored, not an error. Its data is not kept, and
    /// encoding it writes the event type alone.
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
        let short = || ControlError::TooShort {
            type_id,
            len: payload.len(),
        };
        let u32_at = |pos: usize| read_u32(payload, pos).ok_or_else(short);
        Ok(match type_id {
            SET_CHUNK_SIZE => {
                let size = u32_at(0)?;
                // The top bit must be 0 (spec 5.4.1), which also keeps it within MAX_CHUNK_SIZE.
                if size == 0 || size > MAX_CHUNK_SIZE {
                    return Err(ControlError::InvalidChunkSize(size));
                }
                ControlMessage::SetChunkSize(size)
            }
            ABORT => ControlMessage::Abort { csid: u32_at(0)? },
            ACKNOWLEDGEMENT => ControlMessage::Acknowledgement {
                sequence: u32_at(0)?,
            },
            WINDOW_ACK_SIZE => ControlMessage::WindowAckSize(u32_at(0)?),
            SET_PEER_BANDWIDTH => ControlMessage::SetPeerBandwidth {
                size: u32_at(0)?,
                limit: *payload.get(4).ok_or_else(short)?,
            },
            USER_CONTROL => {
                let event = match payload {
                    [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
                    _ => return Err(short()),
                };
                ControlMessage::UserControl(match event {
                    EVENT_STREAM_BEGIN => UserControlEvent::StreamBegin(u32_at(2)?),
                    EVENT_STREAM_EOF => UserControlEvent::StreamEof(u32_at(2)?),
                    EVENT_STREAM_DRY => UserControlEvent::StreamDry(u32_at(2)?),
                    EVENT_SET_BUFFER_LENGTH => UserControlEvent::SetBufferLength {
                        stream_id: u32_at(2)?,
                        millis: u32_at(6)?,
                    },
                    EVENT_STREAM_IS_RECORDED => UserControlEvent::StreamIsRecorded(u32_at(2)?),
                    EVENT_PING_REQUEST => UserControlEvent::PingRequest(u32_at(2)?),
                    EVENT_PING_RESPONSE => UserControlEvent::PingResponse(u32_at(2)?),
                    other => UserControlEvent::Other(other),
                })
            }
            other => return Err(ControlError::NotControl(other)),
        })
    }

    /// The message type id of this message.
    pub fn type_id(&self) -> u8 {
        match self {
            ControlMessage::SetChunkSize(_) => SET_CHUNK_SIZE,
            ControlMessage::Abort { .. } => ABORT,
            ControlMessage::Acknowledgement { .. } => ACKNOWLEDGEMENT,
            ControlMessage::WindowAckSize(_) => WINDOW_ACK_SIZE,
            ControlMessage::SetPeerBandwidth { .. } => SET_PEER_BANDWIDTH,
            ControlMessage::UserControl(_) => USER_CONTROL,
        }
    }

    /// Appends this message as chunks (chunk stream 2, message stream 0, timestamp 0).
    pub fn encode(&self, encoder: &ChunkEncoder, out: &mut BytesMut) {
        let (buf, len) = self.payload();
        let header = MessageHeader {
            timestamp: 0,
            length: len as u32,
            type_id: self.type_id(),
            stream_id: 0,
        };
        encoder.encode(CONTROL_CSID, &header, &buf[..len], out);
    }

    /// Writes the payload only.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        let (buf, len) = self.payload();
        out.extend_from_slice(&buf[..len]);
    }

    /// The payload in a stack buffer, so encoding a control message does not allocate.
    fn payload(&self) -> ([u8; MAX_PAYLOAD_LEN], usize) {
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let mut put = |pos: usize, v: u32| buf[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
        let len = match *self {
            ControlMessage::SetChunkSize(v)
            | ControlMessage::Abort { csid: v }
            | ControlMessage::Acknowledgement { sequence: v }
            | ControlMessage::WindowAckSize(v) => {
                put(0, v);
                4
            }
            ControlMessage::SetPeerBandwidth { size, limit } => {
                put(0, size);
                buf[4] = limit;
                5
            }
            ControlMessage::UserControl(event) => {
                let (kind, first, second) = match event {
                    UserControlEvent::StreamBegin(id) => (EVENT_STREAM_BEGIN, Some(id), None),
                    UserControlEvent::StreamEof(id) => (EVENT_STREAM_EOF, Some(id), None),
                    UserControlEvent::StreamDry(id) => (EVENT_STREAM_DRY, Some(id), None),
                    UserControlEvent::SetBufferLength { stream_id, millis } => {
                        (EVENT_SET_BUFFER_LENGTH, Some(stream_id), Some(millis))
                    }
                    UserControlEvent::StreamIsRecorded(id) => {
                        (EVENT_STREAM_IS_RECORDED, Some(id), None)
                    }
                    UserControlEvent::PingRequest(t) => (EVENT_PING_REQUEST, Some(t), None),
                    UserControlEvent::PingResponse(t) => (EVENT_PING_RESPONSE, Some(t), None),
                    UserControlEvent::Other(kind) => (kind, None, None),
                };
                let mut len = 2;
                if let Some(v) = first {
                    put(2, v);
                    len = 6;
                }
                if let Some(v) = second {
                    put(6, v);
                    len = 10;
                }
                buf[..2].copy_from_slice(&kind.to_be_bytes());
                len
            }
        };
        (buf, len)
    }
}

/// The big-endian u32 at `pos` in `buf`, if all four bytes are there.
fn read_u32(buf: &[u8], pos: usize) -> Option<u32> {
    match buf.get(pos..pos.checked_add(4)?)? {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chunk::ChunkDecoder;

    fn all_messages() -> Vec<ControlMessage> {
        use ControlMessage::*;
        use UserControlEvent::*;
        vec![
            SetChunkSize(1),
            SetChunkSize(4096),
            SetChunkSize(MAX_CHUNK_SIZE),
            Abort { csid: 4 },
            Acknowledgement { sequence: 0 },
            Acknowledgement { sequence: u32::MAX },
            WindowAckSize(2_500_000),
            SetPeerBandwidth {
                size: 2_500_000,
                limit: 2,
            },
            UserControl(StreamBegin(1)),
            UserControl(StreamEof(1)),
            UserControl(StreamDry(1)),
            UserControl(SetBufferLength {
                stream_id: 1,
                millis: 3000,
            }),
            UserControl(StreamIsRecorded(1)),
            UserControl(PingRequest(0xDEAD_BEEF)),
            UserControl(PingResponse(0xDEAD_BEEF)),
            UserControl(Other(31)),
        ]
    }

    #[test]
    fn payload_round_trip() {
        for msg in all_messages() {
            let mut payload = Vec::new();
            msg.encode_payload(&mut payload);
            assert_eq!(ControlMessage::decode(msg.type_id(), &payload), Ok(msg));
        }
    }

    #[test]
    fn chunked_round_trip_through_the_decoder() {
        let mut enc = ChunkEncoder::new(128);
        let mut dec = ChunkDecoder::new(1 << 16, 8);
        for msg in all_messages() {
            let mut out = BytesMut::new();
            msg.encode(&enc, &mut out);
            let (used, raw) = dec.decode(&out).unwrap();
            let raw = raw.unwrap();
            assert_eq!(used, out.len());
            assert_eq!((raw.csid, raw.header.stream_id), (CONTROL_CSID, 0));
            assert_eq!(raw.header.timestamp, 0);
            assert_eq!(
                ControlMessage::decode(raw.header.type_id, &raw.payload),
                Ok(msg)
            );
            // The decoder applied it, so what we send next must use it too.
            if let ControlMessage::SetChunkSize(size) = msg {
                enc = ChunkEncoder::new(size);
                assert_eq!(dec.chunk_size(), size);
            }
        }
    }

    #[test]
    fn wire_bytes() {
        let enc = ChunkEncoder::new(128);
        let mut out = BytesMut::new();
        ControlMessage::SetChunkSize(4096).encode(&enc, &mut out);
        let want = [2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00];
        assert_eq!(&out[..], &want);

        let mut p = Vec::new();
        ControlMessage::SetPeerBandwidth {
            size: 5_000_000,
            limit: 2,
        }
        .encode_payload(&mut p);
        assert_eq!(p, [0x00, 0x4C, 0x4B, 0x40, 0x02]);

        p.clear();
        ControlMessage::UserControl(UserControlEvent::SetBufferLength {
            stream_id: 1,
            millis: 100,
        })
        .encode_payload(&mut p);
        assert_eq!(p, [0, 3, 0, 0, 0, 1, 0, 0, 0, 100]);
    }

    #[test]
    fn set_chunk_size_limits() {
        let decode = |v: u32| ControlMessage::decode(SET_CHUNK_SIZE, &v.to_be_bytes());
        assert_eq!(decode(0), Err(ControlError::InvalidChunkSize(0)));
        assert_eq!(
            decode(0x8000_0000),
            Err(ControlError::InvalidChunkSize(0x8000_0000))
        );
        assert_eq!(
            decode(0x7FFF_FFFF),
            Ok(ControlMessage::SetChunkSize(0x7FFF_FFFF))
        );
    }

    #[test]
    fn acknowledgement_sequence_wraps() {
        let seq = 0xFFFF_FF00u32.wrapping_add(0x200);
        assert_eq!(
            ControlMessage::decode(ACKNOWLEDGEMENT, &seq.to_be_bytes()),
            Ok(ControlMessage::Acknowledgement { sequence: 0x100 })
        );
    }

    #[test]
    fn unknown_user_control_event_is_not_an_error() {
        let got = ControlMessage::decode(USER_CONTROL, &[0, 31, 1, 2, 3]);
        assert_eq!(
            got,
            Ok(ControlMessage::UserControl(UserControlEvent::Other(31)))
        );
        // librtmp's buffer-empty event, with its argument.
        let got = ControlMessage::decode(USER_CONTROL, &[0x00, 0x1F, 0, 0, 0, 1]);
        assert_eq!(
            got,
            Ok(ControlMessage::UserControl(UserControlEvent::Other(31)))
        );
    }

    #[test]
    fn short_and_foreign_payloads() {
        for (type_id, payload) in [
            (SET_CHUNK_SIZE, &[0, 0, 1][..]),
            (ABORT, &[]),
            (ACKNOWLEDGEMENT, &[1, 2]),
            (WINDOW_ACK_SIZE, &[0]),
            (SET_PEER_BANDWIDTH, &[0, 0, 1, 0]),
            (USER_CONTROL, &[0]),
            (USER_CONTROL, &[0, 0, 0, 0, 1]),
            (USER_CONTROL, &[0, 3, 0, 0, 0, 1, 0, 0, 0]),
            (USER_CONTROL, &[0, 6]),
        ] {
            assert_eq!(
                ControlMessage::decode(type_id, payload),
                Err(ControlError::TooShort {
                    type_id,
                    len: payload.len()
                })
            );
        }
        assert_eq!(
            ControlMessage::decode(8, &[0; 8]),
            Err(ControlError::NotControl(8))
        );
        // Extra bytes are ignored.
        assert_eq!(
            ControlMessage::decode(WINDOW_ACK_SIZE, &[0, 0, 0, 9, 7, 7]),
            Ok(ControlMessage::WindowAckSize(9))
        );
    }
}
