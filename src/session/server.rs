//! Server side of one RTMP connection: handshake, connect, stream creation, publish and play
//! requests, media from a publisher.
//!
//! Sans-IO. Call order for the driver, after each read:
//! 1. `handle_input(bytes)` (consumes everything it is given, or fails stickily);
//! 2. `poll_event()` until None, answering publish/play requests with `accept_*`/`reject_*`;
//! 3. `poll_transmit()` until None and send those bytes before any media of this connection.
//!
//! The commands (connect, createStream, publish, play, ...) are handled in `commands`; this
//! file has the session's state, the message dispatch, the media and data of a publisher and
//! the shard's answers.
use super::caps::{caps_ex, ClientCaps};
use super::link::{MessageLink, StickyError};
use super::names::Refusal;
use super::replies::{self, code};
use super::{SessionConfig, SessionError};
use crate::protocol::amf::AmfValue;
use crate::protocol::chunk::RawMessage;
use crate::protocol::command::Command;
use crate::protocol::control::{ControlMessage, UserControlEvent};
use crate::protocol::flv;
use crate::protocol::handshake::ServerHandshake;
use crate::protocol::message::{self, Message};
use bytes::Bytes;
use std::collections::VecDeque;

mod commands;

/// A client asks to publish `name` in `app`.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    pub stream_id: u32,
    pub app: String,
    /// Stream name without its query string.
    pub name: String,
    /// What followed `?` in the name (often a key), without the `?`.
    pub query: String,
    /// "live", "record" or "append"; every kind is relayed live.
    pub publish_type: String,
}

/// A client asks to play `name` in `app`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRequest {
    pub stream_id: u32,
    pub app: String,
    pub name: String,
    pub query: String,
    /// -2 live or recorded, -1 live only, >= 0 recorded from that time (we serve live).
    pub start: f64,
    pub duration: f64,
    pub reset: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Connected {
        app: String,
        tc_url: String,
    },
    /// Answer with [`ServerSession::accept_publish`] or [`ServerSession::reject_publish`].
    Publish(PublishRequest),
    /// Answer with [`ServerSession::accept_play`] or [`ServerSession::reject_play`].
    Play(PlayRequest),
    /// Audio (8), video (9) or a non-metadata data message (18, AMF0) of the published stream.
    Media {
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
    /// Stream metadata: the AMF0 payload `onMetaData, {...}` with `@setDataFrame` stripped.
    Metadata {
        timestamp: u32,
        payload: Bytes,
    },
    /// The client stopped publishing (FCUnpublish, closeStream or deleteStream).
    Unpublish {
        stream_id: u32,
    },
    /// The client stopped playing (closeStream or deleteStream).
    PlayStop {
        stream_id: u32,
    },
    ReceiveAudio(bool),
    ReceiveVideo(bool),
    /// A publish or play was refused by the session itself (the client got the status).
    Refused(Refusal),
}

enum Phase {
    Handshake(ServerHandshake),
    Messages,
}

/// One server-side RTMP connection. See the module doc for the drain order.
pub struct ServerSession {
    phase: Phase,
    link: MessageLink,
    events: VecDeque<ServerEvent>,
    error: StickyError,
    app: Option<String>,
    /// The client speaks AMF3 commands (type 17): answer in kind.
    amf3: bool,
    /// What its connect announced of Enhanced RTMP.
    caps: ClientCaps,
    streams_created: u32,
    /// Message stream id of a publish that is requested or accepted.
    publishing: Option<u32>,
    playing: Option<u32>,
    /// The tcUrl of the connect command.
    tc_url: String,
}

impl ServerSession {
    /// `seed` and `uptime_ms` feed the handshake (random bytes, S1 time field).
    pub fn new(config: SessionConfig, seed: u64, uptime_ms: u32) -> Self {
        ServerSession {
            phase: Phase::Handshake(ServerHandshake::new(seed, uptime_ms)),
            link: MessageLink::new(config),
            events: VecDeque::new(),
            error: StickyError::default(),
            app: None,
            amf3: false,
            caps: ClientCaps::default(),
            streams_created: 0,
            publishing: None,
            playing: None,
            tc_url: String::new(),
        }
    }

    /// The application name from connect, once connected.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// What the client's connect announced of Enhanced RTMP (empty before connect, and for a
    /// legacy client).
    pub fn client_caps(&self) -> &ClientCaps {
        &self.caps
    }

    /// The client announced the Enhanced RTMP v2 reconnect capability (`capsEx` bit 0x01).
    pub fn can_reconnect(&self) -> bool {
        self.caps.caps_ex & caps_ex::RECONNECT != 0
    }

    /// Asks a client that [can reconnect](Self::can_reconnect) to do so, to the tcUrl it
    /// connected with (a load balancer's address sends it to another node). Returns false,
    /// sending nothing, for other clients or before connect.
    pub fn request_reconnect(&mut self) -> bool {
        if !self.is_connected() || !self.can_reconnect() {
            return false;
        }
        let cmd = replies::reconnect_request(&self.tc_url);
        self.send(0, &cmd);
        true
    }

    /// True once the RTMP handshake is done (messages flow).
    pub fn handshake_complete(&self) -> bool {
        matches!(self.phase, Phase::Messages)
    }

    /// True once the handshake is done and `connect` was answered.
    pub fn is_connected(&self) -> bool {
        self.app.is_some()
    }

    /// Feeds received bytes. Consumes all of them unless it fails; a failure is sticky.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, SessionError> {
        self.error.check()?;
        let result = self.process(input);
        self.error.keep(result).map(|()| input.len())
    }

    fn process(&mut self, mut input: &[u8]) -> Result<(), SessionError> {
        if let Phase::Handshake(hs) = &mut self.phase {
            let used = hs.handle_input(input)?;
            input = input.get(used..).unwrap_or_default();
            self.link.push_from(|out| hs.poll_transmit(out));
            if !hs.is_complete() {
                return Ok(());
            }
            self.phase = Phase::Messages;
        }
        while let Some((raw, msg)) = self.link.next_message(&mut input)? {
            self.handle_message(raw, msg)?;
        }
        Ok(())
    }

    fn handle_message(&mut self, raw: RawMessage, msg: Message) -> Result<(), SessionError> {
        let stream_id = raw.header.stream_id;
        match msg {
            Message::Command(cmd) => {
                self.amf3 |= raw.header.type_id == message::COMMAND_AMF3;
                self.handle_command(stream_id, cmd)
            }
            Message::Audio(payload) | Message::Video(payload) => {
                if self.publishing == Some(stream_id) {
                    let type_id = raw.header.type_id;
                    let timestamp = raw.header.timestamp;
                    self.events.push_back(ServerEvent::Media {
                        type_id,
                        timestamp,
                        payload,
                    });
                }
                Ok(())
            }
            Message::Data {
                values,
                raw: payload,
            } => {
                if self.publishing == Some(stream_id) {
                    self.handle_data(raw.header.timestamp, &values, payload);
                }
                Ok(())
            }
            Message::Aggregate(payload) => {
                if self.publishing == Some(stream_id) {
                    self.handle_aggregate(raw.header.timestamp, &payload)?;
                }
                Ok(())
            }
            // Window size and pings are handled by the link; the rest needs no answer.
            Message::Control(_) | Message::Other(_) => Ok(()),
        }
    }

    fn handle_data(&mut self, timestamp: u32, values: &[AmfValue], payload: Bytes) {
        let event = match flv::metadata_payload(values) {
            Some(meta) => ServerEvent::Metadata {
                timestamp,
                payload: Bytes::from(meta),
            },
            // Cue points, captions and other data go to players as they came.
            None => ServerEvent::Media {
                type_id: message::DATA_AMF0,
                timestamp,
                payload,
            },
        };
        self.events.push_back(event);
    }

    fn handle_aggregate(&mut self, timestamp: u32, payload: &Bytes) -> Result<(), SessionError> {
        let parts = flv::split_aggregate(payload, timestamp)
            .map_err(|e| SessionError::PeerMisbehaved(format!("bad aggregate message: {e}")))?;
        for (type_id, ts, body) in parts {
            match type_id {
                message::AUDIO | message::VIDEO => {
                    self.events.push_back(ServerEvent::Media {
                        type_id,
                        timestamp: ts,
                        payload: body,
                    });
                }
                message::DATA_AMF0 => {
                    let values = crate::protocol::amf::amf0::decode_all(
                        &body,
                        &self.link.config().amf_limits,
                    )?;
                    self.handle_data(ts, &values, body);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The publish was accepted: tell the client to start sending.
    pub fn accept_publish(&mut self, stream_id: u32) {
        self.status(stream_id, "status", code::PUBLISH_START, "publishing");
    }

    /// The publish was refused (stream already live): NetStream.Publish.BadName.
    pub fn reject_publish(&mut self, stream_id: u32, reason: &str) {
        if self.publishing == Some(stream_id) {
            self.publishing = None;
        }
        self.status(stream_id, "error", code::PUBLISH_BAD_NAME, reason);
    }

    /// The play was accepted: StreamBegin, Play.Reset (if asked), Play.Start, and sample access.
    /// Media follows from the driver, on [`MEDIA_STREAM_ID`](super::MEDIA_STREAM_ID).
    pub fn accept_play(&mut self, stream_id: u32, reset: bool) {
        self.user_control(UserControlEvent::StreamBegin(stream_id));
        if reset {
            self.status(
                stream_id,
                "status",
                code::PLAY_RESET,
                "playing and resetting",
            );
        }
        self.status(stream_id, "status", code::PLAY_START, "playing");
        let access = [
            AmfValue::string("|RtmpSampleAccess"),
            AmfValue::Boolean(true),
            AmfValue::Boolean(true),
        ];
        self.link.send_data(stream_id, &access);
    }

    /// The play was refused: NetStream.Play.StreamNotFound.
    pub fn reject_play(&mut self, stream_id: u32, reason: &str) {
        if self.playing == Some(stream_id) {
            self.playing = None;
        }
        self.status(stream_id, "error", code::PLAY_STREAM_NOT_FOUND, reason);
    }

    /// The stream this client plays lost its publisher.
    pub fn notify_unpublish(&mut self, stream_id: u32) {
        self.status(
            stream_id,
            "status",
            code::PLAY_UNPUBLISH_NOTIFY,
            "stream unpublished",
        );
        self.user_control(UserControlEvent::StreamEof(stream_id));
    }

    /// The stream this client plays (or waits for) has a publisher again.
    pub fn notify_publish(&mut self, stream_id: u32) {
        self.user_control(UserControlEvent::StreamBegin(stream_id));
        self.status(
            stream_id,
            "status",
            code::PLAY_PUBLISH_NOTIFY,
            "stream published",
        );
    }

    /// The message stream this client plays on, if it plays.
    pub fn playing_stream(&self) -> Option<u32> {
        self.playing
    }

    /// The message stream this client publishes on, if it publishes.
    pub fn publishing_stream(&self) -> Option<u32> {
        self.publishing
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Bytes to send, in order; call until None.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.link.take_output()
    }

    pub fn has_output(&self) -> bool {
        self.link.has_output()
    }

    fn status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.send(stream_id, &replies::on_status(level, code, description));
    }

    fn user_control(&mut self, event: UserControlEvent) {
        self.link.send_control(ControlMessage::UserControl(event));
    }

    fn reply_result(&mut self, txn: f64, value: AmfValue) {
        if txn != 0.0 {
            self.send(0, &replies::result(txn, value));
        }
    }

    fn send(&mut self, stream_id: u32, cmd: &Command) {
        self.link.send_command(stream_id, cmd, self.amf3);
    }
}
