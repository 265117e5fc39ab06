//! Server side of one RTMP connection: handshake, connect, stream creation, publish and play
//! requests, media from a publisher.
//!
//! Sans-IO. Call order for the driver, after each read:
//! 1. `handle_input(bytes)` (consumes everything it is given, or fails stickily);
//! 2. `poll_event()` until None, answering publish/play requests with `accept_*`/`reject_*`;
//! 3. `poll_transmit()` until None and send those bytes before any media of this connection.
use super::caps::{caps_ex, ClientCaps};
use super::link::{MessageLink, StickyError};
use super::names::{check_name, Refusal};
use super::replies::{self, code};
use super::{SessionConfig, SessionError, MEDIA_STREAM_ID};
use crate::protocol::amf::AmfValue;
use crate::protocol::chunk::RawMessage;
use crate::protocol::command::Command;
use crate::protocol::control::{ControlMessage, UserControlEvent};
use crate::protocol::flv;
use crate::protocol::handshake::ServerHandshake;
use crate::protocol::message::{self, Message};
use bytes::Bytes;
use std::collections::VecDeque;

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

    fn handle_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), SessionError> {
        let txn = cmd.transaction_id;
        if cmd.name == "connect" {
            return self.handle_connect(cmd);
        }
        let Some(app) = self.app.clone() else {
            return Err(SessionError::PeerMisbehaved(format!(
                "'{}' before connect",
                cmd.name
            )));
        };
        match cmd.name.as_str() {
            "releaseStream" => self.reply_result(txn, AmfValue::Undefined),
            "FCPublish" => {
                let name = cmd.arg_str(0).unwrap_or_default().to_string();
                self.send(
                    0,
                    &replies::on_fc("onFCPublish", code::PUBLISH_START, &name),
                );
                self.reply_result(txn, AmfValue::Undefined);
            }
            "FCUnpublish" => {
                let name = cmd.arg_str(0).unwrap_or_default().to_string();
                self.send(
                    0,
                    &replies::on_fc("onFCUnpublish", code::UNPUBLISH_SUCCESS, &name),
                );
                self.reply_result(txn, AmfValue::Undefined);
                if let Some(id) = self.publishing {
                    self.stop_publishing(id);
                }
            }
            "createStream" => self.handle_create_stream(txn),
            "publish" => self.handle_publish(stream_id, &app, &cmd),
            "play" => self.handle_play(stream_id, &app, &cmd),
            "deleteStream" => {
                let id = cmd.arg_f64(0).map(|n| n as u32).unwrap_or(stream_id);
                self.close_stream(id);
            }
            "closeStream" => self.close_stream(stream_id),
            "getStreamLength" => self.reply_result(txn, AmfValue::Number(0.0)),
            "receiveAudio" | "receiveVideo" => {
                let on = matches!(cmd.args.first(), Some(AmfValue::Boolean(true)));
                self.events.push_back(if cmd.name == "receiveAudio" {
                    ServerEvent::ReceiveAudio(on)
                } else {
                    ServerEvent::ReceiveVideo(on)
                });
            }
            // Answers to our own calls (onBWDone checks) need nothing.
            "_result" | "_error" | "onStatus" | "_checkbw" | "onBWDone" => {}
            other => {
                if txn != 0.0 {
                    let text = format!("unknown command '{other}'");
                    self.send(0, &replies::error(txn, code::CALL_FAILED, &text));
                }
            }
        }
        Ok(())
    }

    fn handle_connect(&mut self, cmd: Command) -> Result<(), SessionError> {
        if self.app.is_some() {
            return Err(SessionError::PeerMisbehaved("second connect".into()));
        }
        let field = |key: &str| {
            cmd.object
                .get(key)
                .and_then(AmfValue::as_str)
                .unwrap_or_default()
        };
        // "live/" and "live?token=..." both name the app "live".
        let app = field("app")
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_matches('/')
            .to_string();
        if !app.is_empty() {
            check_name(&app, self.link.config().max_name_bytes)
                .map_err(|e| SessionError::Refused(format!("app {e}")))?;
        }
        let tc_url = field("tcUrl").to_string();
        if let Some(known) = &self.link.config().known_apps {
            if !known.contains(&app) {
                let txn = cmd.transaction_id;
                let why = "unknown application";
                self.send(0, &replies::error(txn, code::CONNECT_REJECTED, why));
                return Err(SessionError::Refused(format!(
                    "connect to unknown app {app:?}"
                )));
            }
        }
        self.tc_url = tc_url.clone();
        let object_encoding = cmd
            .object
            .get("objectEncoding")
            .and_then(AmfValue::as_f64)
            .unwrap_or(0.0);
        self.caps = ClientCaps::from_connect(&cmd.object);
        let window = self.link.config().window_ack_size;
        let chunk_size = self.link.config().chunk_size;
        self.link
            .send_control(ControlMessage::WindowAckSize(window));
        self.link.send_control(ControlMessage::SetPeerBandwidth {
            size: window,
            limit: 2,
        });
        self.link.announce_chunk_size(chunk_size);
        self.send(
            0,
            &replies::connect_result(cmd.transaction_id, object_encoding),
        );
        self.send(
            0,
            &Command::new(
                "onBWDone",
                0.0,
                AmfValue::Null,
                vec![AmfValue::Number(8192.0)],
            ),
        );
        self.app = Some(app.clone());
        self.events
            .push_back(ServerEvent::Connected { app, tc_url });
        Ok(())
    }

    fn handle_create_stream(&mut self, txn: f64) {
        if self.streams_created >= self.link.config().max_streams {
            self.send(
                0,
                &replies::error(txn, code::CALL_FAILED, "too many streams"),
            );
            return;
        }
        // Every stream is MEDIA_STREAM_ID so the shared media bytes fit every player; a
        // client that creates several streams reuses it (players use one at a time).
        self.streams_created += 1;
        self.reply_result(txn, AmfValue::Number(f64::from(MEDIA_STREAM_ID)));
    }

    /// Why a publish or play of `name` on `stream_id` is refused before it reaches the
    /// shard, if it is: no createStream answered yet (or on stream 0), or a bad name.
    fn refusal(&self, stream_id: u32, name: &str) -> Option<Refusal> {
        if self.streams_created == 0 || stream_id == 0 {
            return Some(Refusal::BeforeCreateStream);
        }
        check_name(name, self.link.config().max_name_bytes)
            .err()
            .map(Refusal::Name)
    }

    fn handle_publish(&mut self, stream_id: u32, app: &str, cmd: &Command) {
        let (name, query) = split_name(cmd.arg_str(0).unwrap_or_default());
        if let Some(why) = self.refusal(stream_id, &name) {
            let text = why.to_string();
            self.status(stream_id, "error", code::PUBLISH_BAD_NAME, &text);
            self.events.push_back(ServerEvent::Refused(why));
            return;
        }
        if self.publishing.is_some() || self.playing.is_some() {
            let why = "already publishing or playing";
            self.status(stream_id, "error", code::PUBLISH_BAD_NAME, why);
            return;
        }
        self.publishing = Some(stream_id);
        let publish_type = cmd.arg_str(1).unwrap_or("live").to_string();
        self.events.push_back(ServerEvent::Publish(PublishRequest {
            stream_id,
            app: app.to_string(),
            name,
            query,
            publish_type,
        }));
    }

    fn handle_play(&mut self, stream_id: u32, app: &str, cmd: &Command) {
        let (name, query) = split_name(cmd.arg_str(0).unwrap_or_default());
        if let Some(why) = self.refusal(stream_id, &name) {
            let text = why.to_string();
            self.status(stream_id, "error", code::PLAY_STREAM_NOT_FOUND, &text);
            self.events.push_back(ServerEvent::Refused(why));
            return;
        }
        if self.publishing.is_some() || self.playing.is_some() {
            self.status(
                stream_id,
                "error",
                code::PLAY_STREAM_NOT_FOUND,
                "bad play request",
            );
            return;
        }
        self.playing = Some(stream_id);
        let reset = match cmd.args.get(3) {
            Some(AmfValue::Boolean(b)) => *b,
            Some(AmfValue::Number(n)) => *n != 0.0,
            _ => true,
        };
        self.events.push_back(ServerEvent::Play(PlayRequest {
            stream_id,
            app: app.to_string(),
            name,
            query,
            start: cmd.arg_f64(1).unwrap_or(-2.0),
            duration: cmd.arg_f64(2).unwrap_or(-1.0),
            reset,
        }));
    }

    fn close_stream(&mut self, stream_id: u32) {
        if self.publishing == Some(stream_id) {
            self.stop_publishing(stream_id);
        } else if self.playing == Some(stream_id) {
            self.playing = None;
            self.events.push_back(ServerEvent::PlayStop { stream_id });
        }
    }

    fn stop_publishing(&mut self, stream_id: u32) {
        self.publishing = None;
        self.status(
            stream_id,
            "status",
            code::UNPUBLISH_SUCCESS,
            "stream unpublished",
        );
        self.events.push_back(ServerEvent::Unpublish { stream_id });
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
    /// Media follows from the driver, on [`MEDIA_STREAM_ID`].
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

/// Splits `name?query` into the stream name (the stream's key) and the query string.
fn split_name(full: &str) -> (String, String) {
    match full.split_once('?') {
        Some((name, query)) => (name.to_string(), query.to_string()),
        None => (full.to_string(), String::new()),
    }
}
