//! Client side of one RTMP connection: handshake, connect, createStream, then publish or play.
//! Used by the relay (pull/push) and by the load tester.
//!
//! Sans-IO. Call order: `new` (C0+C1 are queued at once), `publish`/`play` (at any time; the
//! request goes out once connected), then after each read `handle_input`, `poll_event` until
//! None, `poll_transmit` until None. A publisher sends media with `send_media` once
//! [`ClientEvent::PublishStarted`] arrived.
use super::link::{MessageLink, StickyError};
use super::replies::code;
use super::{SessionConfig, SessionError, CSID_AUDIO, CSID_DATA, CSID_VIDEO};
use crate::protocol::amf::AmfValue;
use crate::protocol::chunk::{MessageHeader, RawMessage};
use crate::protocol::command::Command;
use crate::protocol::control::{ControlMessage, UserControlEvent};
use crate::protocol::handshake::ClientHandshake;
use crate::protocol::message::{self, Message};
use bytes::Bytes;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Application name (the first path segment of the URL).
    pub app: String,
    /// The full URL up to and including the app, e.g. rtmp://host:1935/live.
    pub tc_url: String,
    pub flash_ver: String,
    /// Use the digest handshake (FMS style) instead of the simple one.
    pub digest_handshake: bool,
    /// Buffer length asked of the server when playing (User Control SetBufferLength).
    pub buffer_ms: u32,
    /// Enhanced RTMP v2 `capsEx` bits sent in connect, replacing `enhanced`'s (0: none).
    pub caps_ex: u8,
    pub session: SessionConfig,
    /// Announce Enhanced RTMP v2 in connect (rtmp-edge's own `fourCcList`, info maps and
    /// `capsEx`, see `session::caps`): the server then sends every track as published.
    pub enhanced: bool,
}

impl ClientConfig {
    pub fn new(app: &str, tc_url: &str) -> Self {
        ClientConfig {
            app: app.to_string(),
            tc_url: tc_url.to_string(),
            flash_ver: "FMLE/3.0 (compatible; rtmp-edge)".to_string(),
            digest_handshake: false,
            buffer_ms: 1000,
            caps_ex: 0,
            session: SessionConfig::default(),
            enhanced: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// connect was answered with success.
    Connected,
    /// publish was answered with NetStream.Publish.Start: media may be sent.
    PublishStarted,
    /// play was answered with NetStream.Play.Start.
    PlayStarted,
    /// Any onStatus (including the ones above), for callers that track codes.
    Status {
        level: String,
        code: String,
        description: String,
    },
    /// Stream metadata received while playing: the AMF0 payload `onMetaData, {...}`, as
    /// [`crate::session::ServerEvent::Metadata`] carries it (a relay feeds it on unchanged).
    Metadata { timestamp: u32, payload: Bytes },
    /// Audio (8), video (9) or other data (18) received while playing.
    Media {
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Intent {
    Publish(String),
    Play(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    Connect,
    CreateStream,
    Other,
}

/// One client-side RTMP connection. See the module doc for the call order.
pub struct ClientSession {
    handshake: Option<ClientHandshake>,
    link: MessageLink,
    config: ClientConfig,
    events: VecDeque<ClientEvent>,
    error: StickyError,
    connected: bool,
    intent: Option<Intent>,
    /// Set once the intent's commands went out, so they go out once.
    intent_sent: bool,
    stream_id: Option<u32>,
    next_transaction: f64,
    pending: Vec<(f64, Pending)>,
}

impl ClientSession {
    pub fn new(config: ClientConfig, seed: u64, uptime_ms: u32) -> Self {
        let mut handshake = ClientHandshake::new(seed, uptime_ms, config.digest_handshake);
        let mut link = MessageLink::new(config.session.clone());
        link.push_from(|out| handshake.poll_transmit(out));
        ClientSession {
            handshake: Some(handshake),
            link,
            config,
            events: VecDeque::new(),
            error: StickyError::default(),
            connected: false,
            intent: None,
            intent_sent: false,
            stream_id: None,
            next_transaction: 1.0,
            pending: Vec::new(),
        }
    }

    /// Publishes `name` (may carry `?query`) once connected.
    pub fn publish(&mut self, name: &str) {
        self.intent = Some(Intent::Publish(name.to_string()));
        self.start_intent();
    }

    /// Plays `name` once connected.
    pub fn play(&mut self, name: &str) {
        self.intent = Some(Intent::Play(name.to_string()));
        self.start_intent();
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The message stream id the server gave us, once createStream was answered.
    pub fn stream_id(&self) -> Option<u32> {
        self.stream_id
    }

    /// Sends one media message on our stream: `type_id` 8 (audio), 9 (video) or 18 (data).
    pub fn send_media(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) {
        let stream_id = self.stream_id.unwrap_or(1);
        let csid = match type_id {
            message::AUDIO => CSID_AUDIO,
            message::VIDEO => CSID_VIDEO,
            _ => CSID_DATA,
        };
        let header = MessageHeader {
            timestamp,
            length: payload.len() as u32,
            type_id,
            stream_id,
        };
        self.link.send_message(csid, &header, payload);
    }

    /// Sends stream metadata as `@setDataFrame`, `onMetaData`, `metadata`.
    pub fn send_metadata(&mut self, metadata: AmfValue) {
        let stream_id = self.stream_id.unwrap_or(1);
        let values = [
            AmfValue::string("@setDataFrame"),
            AmfValue::string("onMetaData"),
            metadata,
        ];
        self.link.send_data(stream_id, &values);
    }

    /// Stops publishing or playing politely (FCUnpublish/deleteStream).
    pub fn close(&mut self) {
        if let Some(id) = self.stream_id.take() {
            if let Some(Intent::Publish(name)) = &self.intent {
                let name = AmfValue::string(name.clone());
                self.call("FCUnpublish", vec![name], Pending::Other);
            }
            self.call(
                "deleteStream",
                vec![AmfValue::Number(f64::from(id))],
                Pending::Other,
            );
        }
    }

    /// Feeds received bytes. Consumes all of them unless it fails; a failure is sticky.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, SessionError> {
        self.error.check()?;
        let result = self.process(input);
        self.error.keep(result).map(|()| input.len())
    }

    fn process(&mut self, mut input: &[u8]) -> Result<(), SessionError> {
        if let Some(hs) = &mut self.handshake {
            let used = hs.handle_input(input)?;
            input = input.get(used..).unwrap_or_default();
            self.link.push_from(|out| hs.poll_transmit(out));
            if !hs.is_complete() {
                return Ok(());
            }
            self.handshake = None;
            self.send_connect();
        }
        while let Some((raw, msg)) = self.link.next_message(&mut input)? {
            self.handle_message(raw, msg)?;
        }
        Ok(())
    }

    fn send_connect(&mut self) {
        let chunk_size = self.config.session.chunk_size;
        self.link.announce_chunk_size(chunk_size);
        let c = &self.config;
        let object = AmfValue::object([
            ("app", AmfValue::string(c.app.clone())),
            ("type", AmfValue::string("nonprivate")),
            ("flashVer", AmfValue::string(c.flash_ver.clone())),
            ("tcUrl", AmfValue::string(c.tc_url.clone())),
            ("fpad", AmfValue::Boolean(false)),
            ("capabilities", AmfValue::Number(15.0)),
            ("audioCodecs", AmfValue::Number(4071.0)),
            ("videoCodecs", AmfValue::Number(252.0)),
            ("videoFunction", AmfValue::Number(1.0)),
        ]);
        let mut object = object;
        if let (true, AmfValue::Object(props)) = (c.enhanced, &mut object) {
            props.extend(super::caps::server_properties());
        }
        if let (AmfValue::Object(props), caps @ 1..) = (&mut object, c.caps_ex) {
            props.retain(|(k, _)| k != "capsEx");
            props.push(("capsEx".into(), AmfValue::Number(f64::from(caps))));
        }
        let txn = self.take_transaction(Pending::Connect);
        self.link
            .send_command(0, &Command::new("connect", txn, object, vec![]), false);
    }

    fn handle_message(&mut self, raw: RawMessage, msg: Message) -> Result<(), SessionError> {
        match msg {
            Message::Command(cmd) => self.handle_command(cmd),
            Message::Audio(payload) | Message::Video(payload) => {
                let (type_id, timestamp) = (raw.header.type_id, raw.header.timestamp);
                self.events.push_back(ClientEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                });
                Ok(())
            }
            Message::Data {
                values,
                raw: payload,
            } => {
                // |RtmpSampleAccess and onStatus-as-data are chatter, not stream data.
                let name = values
                    .first()
                    .and_then(AmfValue::as_str)
                    .unwrap_or_default();
                if name == "onMetaData" {
                    let timestamp = raw.header.timestamp;
                    self.events
                        .push_back(ClientEvent::Metadata { timestamp, payload });
                } else if !name.starts_with('|') && name != "onStatus" {
                    let timestamp = raw.header.timestamp;
                    let type_id = message::DATA_AMF0;
                    self.events.push_back(ClientEvent::Media {
                        type_id,
                        timestamp,
                        payload,
                    });
                }
                Ok(())
            }
            Message::Aggregate(payload) => {
                let parts =
                    crate::protocol::flv::split_aggregate(&payload, raw.header.timestamp)
                        .map_err(|e| SessionError::PeerMisbehaved(format!("bad aggregate: {e}")))?;
                for (type_id, timestamp, payload) in parts {
                    self.events.push_back(ClientEvent::Media {
                        type_id,
                        timestamp,
                        payload,
                    });
                }
                Ok(())
            }
            Message::Control(_) | Message::Other(_) => Ok(()),
        }
    }

    fn handle_command(&mut self, cmd: Command) -> Result<(), SessionError> {
        match cmd.name.as_str() {
            "_result" | "_error" => {
                let pending = self.finish_transaction(cmd.transaction_id);
                let ok = cmd.name == "_result";
                match (pending, ok) {
                    (Some(Pending::Connect), true) => {
                        self.connected = true;
                        self.events.push_back(ClientEvent::Connected);
                        self.start_intent();
                    }
                    (Some(Pending::Connect), false) => {
                        return Err(SessionError::Refused(format!(
                            "connect: {}",
                            describe(&cmd)
                        )));
                    }
                    (Some(Pending::CreateStream), true) => {
                        let id = cmd.arg_f64(0).unwrap_or(1.0) as u32;
                        self.stream_id = Some(id);
                        self.send_stream_request(id);
                    }
                    (Some(Pending::CreateStream), false) => {
                        return Err(SessionError::Refused(format!(
                            "createStream: {}",
                            describe(&cmd)
                        )));
                    }
                    _ => {}
                }
            }
            "onStatus" => self.handle_status(&cmd),
            // onBWDone, onFCPublish and friends need no answer from a client like us.
            _ => {}
        }
        Ok(())
    }

    fn handle_status(&mut self, cmd: &Command) {
        let info = cmd.args.first();
        let field = |k: &str| {
            info.and_then(|i| i.get(k))
                .and_then(AmfValue::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (level, status_code) = (field("level"), field("code"));
        if status_code == code::PUBLISH_START {
            self.events.push_back(ClientEvent::PublishStarted);
        } else if status_code == code::PLAY_START {
            self.events.push_back(ClientEvent::PlayStarted);
        }
        let description = field("description");
        self.events.push_back(ClientEvent::Status {
            level,
            code: status_code,
            description,
        });
    }

    fn start_intent(&mut self) {
        if !self.connected || self.intent_sent {
            return;
        }
        let Some(intent) = self.intent.clone() else {
            return;
        };
        self.intent_sent = true;
        if let Intent::Publish(name) = &intent {
            // The order OBS and FFmpeg use; servers that need FCPublish get it.
            let name = AmfValue::string(name.clone());
            self.call("releaseStream", vec![name.clone()], Pending::Other);
            self.call("FCPublish", vec![name], Pending::Other);
        }
        self.call("createStream", vec![], Pending::CreateStream);
    }

    fn send_stream_request(&mut self, stream_id: u32) {
        match self.intent.clone() {
            Some(Intent::Publish(name)) => {
                let args = vec![AmfValue::string(name), AmfValue::string("live")];
                self.link.send_command(
                    stream_id,
                    &Command::new("publish", 0.0, AmfValue::Null, args),
                    false,
                );
            }
            Some(Intent::Play(name)) => {
                let args = vec![AmfValue::string(name), AmfValue::Number(-2.0)];
                self.link.send_command(
                    stream_id,
                    &Command::new("play", 0.0, AmfValue::Null, args),
                    false,
                );
                let millis = self.config.buffer_ms;
                let event = UserControlEvent::SetBufferLength { stream_id, millis };
                self.link.send_control(ControlMessage::UserControl(event));
            }
            None => {}
        }
    }

    fn call(&mut self, name: &str, args: Vec<AmfValue>, pending: Pending) {
        let txn = self.take_transaction(pending);
        self.link
            .send_command(0, &Command::new(name, txn, AmfValue::Null, args), false);
    }

    fn take_transaction(&mut self, pending: Pending) -> f64 {
        let txn = self.next_transaction;
        self.next_transaction += 1.0;
        if pending != Pending::Other {
            self.pending.push((txn, pending));
        }
        txn
    }

    fn finish_transaction(&mut self, txn: f64) -> Option<Pending> {
        let index = self.pending.iter().position(|(t, _)| *t == txn)?;
        Some(self.pending.swap_remove(index).1)
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.link.take_output()
    }

    pub fn has_output(&self) -> bool {
        self.link.has_output()
    }
}

fn describe(cmd: &Command) -> String {
    cmd.args
        .first()
        .and_then(|i| i.get("description").or_else(|| i.get("code")))
        .and_then(AmfValue::as_str)
        .unwrap_or("no description")
        .to_string()
}
