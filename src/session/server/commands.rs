//! The commands of a server session: connect, createStream, publish and play (checked
//! here, answered by the shard through `accept_*`/`reject_*`), and the ones that close a
//! stream or need only a reply. Called from `handle_message` for every command message;
//! queues replies on the link and events for `poll_event`.
use super::{PlayRequest, PublishRequest, ServerEvent, ServerSession};
use crate::protocol::amf::AmfValue;
use crate::protocol::command::Command;
use crate::protocol::control::ControlMessage;
use crate::session::caps::ClientCaps;
use crate::session::names::{check_name, Refusal};
use crate::session::replies::{self, code};
use crate::session::{SessionError, MEDIA_STREAM_ID};

impl ServerSession {
    pub(super) fn handle_command(
        &mut self,
        stream_id: u32,
        cmd: Command,
    ) -> Result<(), SessionError> {
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
}

/// Splits `name?query` into the stream name (the stream's key) and the query string.
fn split_name(full: &str) -> (String, String) {
    match full.split_once('?') {
        Some((name, query)) => (name.to_string(), query.to_string()),
        None => (full.to_string(), String::new()),
    }
}
