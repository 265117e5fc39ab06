//! The message link under both session sides: chunk decoding with acknowledgements and pings
//! answered, and encoding of the messages a session sends.
//!
//! Sans-IO. Call order: after the handshake (its output queued with `push_from`),
//! `next_message` until it returns no message, handling each; queued output is taken with
//! `take_output`. [`StickyError`] keeps a session's first fatal error for its later input.
use super::{SessionConfig, SessionError, CSID_COMMAND, CSID_DATA};
use crate::protocol::amf::{amf0, AmfValue};
use crate::protocol::chunk::{ChunkDecoder, ChunkEncoder, MessageHeader, RawMessage};
use crate::protocol::command::Command;
use crate::protocol::control::{ControlMessage, UserControlEvent};
use crate::protocol::message::{self, Message};
use bytes::{Bytes, BytesMut};

pub(crate) struct MessageLink {
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: BytesMut,
    /// Bytes received after the handshake, modulo 2^32 as acknowledgements count them.
    received: u32,
    /// Value of `received` when we last acknowledged.
    last_ack: u32,
    /// Window Acknowledgement Size the peer asked for (0 = never acknowledge).
    peer_window: u32,
    config: SessionConfig,
    scratch: Vec<u8>,
}

impl MessageLink {
    pub(crate) fn new(config: SessionConfig) -> Self {
        MessageLink {
            decoder: ChunkDecoder::new(config.max_message_size, config.max_chunk_streams)
                .with_reassembly_limit(config.max_reassembly_bytes),
            // Until we announce our chunk size the peer expects the default.
            encoder: ChunkEncoder::new(crate::protocol::chunk::DEFAULT_CHUNK_SIZE),
            out: BytesMut::with_capacity(4096),
            received: 0,
            last_ack: 0,
            peer_window: 0,
            config,
            scratch: Vec::with_capacity(256),
        }
    }

    pub(crate) fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Decodes the next message from `input` and advances it past the bytes used. Protocol
    /// control messages that only concern the link (window size, ping) are answered here and
    /// still returned so the session can see them.
    ///
    /// Call until it returns None, even once `input` is empty: a few buffered header bytes can
    /// complete a message on their own.
    pub(crate) fn next_message(
        &mut self,
        input: &mut &[u8],
    ) -> Result<Option<(RawMessage, Message)>, SessionError> {
        let (used, raw) = self.decoder.decode(input)?;
        *input = input.get(used..).unwrap_or_default();
        self.count_received(used);
        let Some(raw) = raw else {
            return Ok(None);
        };
        let msg = Message::decode(&raw, &self.config.amf_limits)?;
        match &msg {
            Message::Control(ControlMessage::WindowAckSize(size)) => self.peer_window = *size,
            Message::Control(ControlMessage::UserControl(UserControlEvent::PingRequest(t))) => {
                self.send_control(ControlMessage::UserControl(UserControlEvent::PingResponse(
                    *t,
                )));
            }
            _ => {}
        }
        Ok(Some((raw, msg)))
    }

    /// Acknowledgement sequence numbers count bytes modulo 2^32 (encoders stall if the wrap is
    /// wrong), so everything here is wrapping arithmetic.
    fn count_received(&mut self, n: usize) {
        self.received = self.received.wrapping_add(n as u32);
        if self.peer_window > 0 && self.received.wrapping_sub(self.last_ack) >= self.peer_window {
            self.last_ack = self.received;
            self.send_control(ControlMessage::Acknowledgement {
                sequence: self.received,
            });
        }
    }

    /// Switches our outgoing chunk size and tells the peer.
    pub(crate) fn announce_chunk_size(&mut self, size: u32) {
        self.send_control(ControlMessage::SetChunkSize(size));
        self.encoder = ChunkEncoder::new(size);
    }

    pub(crate) fn send_control(&mut self, msg: ControlMessage) {
        msg.encode(&self.encoder, &mut self.out);
    }

    /// Sends a command on `stream_id`, as AMF0 (type 20) or, for peers that speak AMF3
    /// commands, as type 17 with the leading 0 byte.
    pub(crate) fn send_command(&mut self, stream_id: u32, cmd: &Command, amf3: bool) {
        self.scratch.clear();
        if amf3 {
            self.scratch.push(0);
        }
        cmd.encode(&mut self.scratch);
        let type_id = if amf3 {
            message::COMMAND_AMF3
        } else {
            message::COMMAND_AMF0
        };
        self.send_raw(CSID_COMMAND, type_id, stream_id, 0);
    }

    /// Sends an AMF0 data message (type 18) made of `values`.
    pub(crate) fn send_data(&mut self, stream_id: u32, values: &[AmfValue]) {
        self.scratch.clear();
        for v in values {
            amf0::encode(v, &mut self.scratch);
        }
        self.send_raw(CSID_DATA, message::DATA_AMF0, stream_id, 0);
    }

    fn send_raw(&mut self, csid: u32, type_id: u8, stream_id: u32, timestamp: u32) {
        let header = MessageHeader {
            timestamp,
            length: self.scratch.len() as u32,
            type_id,
            stream_id,
        };
        self.encoder
            .encode(csid, &header, &self.scratch, &mut self.out);
    }

    /// Sends an already encoded payload as one message.
    pub(crate) fn send_message(&mut self, csid: u32, header: &MessageHeader, payload: &[u8]) {
        self.encoder.encode(csid, header, payload, &mut self.out);
    }

    /// Queues the bytes `write` appends (the handshake's `poll_transmit`) ahead of later
    /// messages.
    pub(crate) fn push_from(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.scratch.clear();
        write(&mut self.scratch);
        self.out.extend_from_slice(&self.scratch);
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    pub(crate) fn take_output(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }
}

/// A session's first fatal error, returned again by all later input (queued output still
/// drains, so the peer can read why it is being closed).
#[derive(Default)]
pub(crate) struct StickyError(Option<SessionError>);

impl StickyError {
    /// Fails with the error an earlier call kept, if any.
    pub(crate) fn check(&self) -> Result<(), SessionError> {
        self.0.clone().map_or(Ok(()), Err)
    }

    /// Keeps `result`'s error, if any, for later calls, and passes `result` on.
    pub(crate) fn keep<T>(&mut self, result: Result<T, SessionError>) -> Result<T, SessionError> {
        if let Err(err) = &result {
            self.0 = Some(err.clone());
        }
        result
    }
}
