//! Client session against server session in memory: no sockets, no clock.
use super::*;
use crate::protocol::amf::AmfValue;
use crate::protocol::chunk::{ChunkEncoder, MessageHeader};
use crate::protocol::command::Command;
use crate::protocol::control::ControlMessage;
use crate::protocol::message;
use bytes::BytesMut;

/// A client and a server joined back to back. The server answers publish and play requests
/// as `accept` says.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    accept: bool,
}

impl Pair {
    fn new() -> Pair {
        let config = ClientConfig::new("live", "rtmp://127.0.0.1/live");
        Pair {
            client: ClientSession::new(config, 1, 0),
            server: ServerSession::new(SessionConfig::default(), 2, 0),
            client_events: Vec::new(),
            server_events: Vec::new(),
            accept: true,
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn drive(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit() {
                moved = true;
                self.server.handle_input(&bytes).expect("server input");
            }
            while let Some(event) = self.server.poll_event() {
                match &event {
                    ServerEvent::Publish(req) if self.accept => {
                        self.server.accept_publish(req.stream_id)
                    }
                    ServerEvent::Publish(req) => self.server.reject_publish(req.stream_id, "busy"),
                    ServerEvent::Play(req) if self.accept => {
                        self.server.accept_play(req.stream_id, req.reset)
                    }
                    ServerEvent::Play(req) => self.server.reject_play(req.stream_id, "none"),
                    _ => {}
                }
                self.server_events.push(event);
            }
            while let Some(bytes) = self.server.poll_transmit() {
                moved = true;
                self.client.handle_input(&bytes).expect("client input");
            }
            while let Some(event) = self.client.poll_event() {
                self.client_events.push(event);
            }
            if !moved {
                return;
            }
        }
        panic!("sessions never went quiet");
    }
}

#[test]
fn publish_then_media_reaches_the_server() {
    let mut pair = Pair::new();
    pair.client.publish("cam?key=abc");
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::Connected));
    assert!(pair.client_events.contains(&ClientEvent::PublishStarted));
    let publish = pair.server_events.iter().find_map(|e| match e {
        ServerEvent::Publish(req) => Some(req.clone()),
        _ => None,
    });
    let publish = publish.expect("publish request");
    assert_eq!(
        (
            publish.app.as_str(),
            publish.name.as_str(),
            publish.query.as_str()
        ),
        ("live", "cam", "key=abc")
    );

    pair.client.send_metadata(AmfValue::EcmaArray(vec![(
        "width".into(),
        AmfValue::Number(320.0),
    )]));
    pair.client
        .send_media(message::VIDEO, 40, &[0x17, 1, 0, 0, 0, 9, 9]);
    pair.client
        .send_media(message::AUDIO, 0x0100_0000, &[0xAF, 1, 7]);
    pair.drive();
    let media: Vec<_> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Media {
                type_id,
                timestamp,
                payload,
            } => Some((*type_id, *timestamp, payload.to_vec())),
            ServerEvent::Metadata { payload, .. } => Some((18, 0, payload.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(media.len(), 3);
    assert_eq!(media[1], (9, 40, vec![0x17, 1, 0, 0, 0, 9, 9]));
    assert_eq!(media[2], (8, 0x0100_0000, vec![0xAF, 1, 7]));
    // Metadata arrives with @setDataFrame stripped.
    let meta = crate::protocol::amf::amf0::decode_all(&media[0].2, &Default::default()).unwrap();
    assert_eq!(meta[0], AmfValue::string("onMetaData"));
}

#[test]
fn refused_publish_reports_bad_name() {
    let mut pair = Pair::new();
    pair.accept = false;
    pair.client.publish("cam");
    pair.drive();
    assert!(!pair.client_events.contains(&ClientEvent::PublishStarted));
    assert!(pair.client_events.iter().any(|e| matches!(e,
        ClientEvent::Status { code, .. } if code == "NetStream.Publish.BadName")));
}

#[test]
fn play_is_started_and_refusal_is_stream_not_found() {
    let mut pair = Pair::new();
    pair.client.play("cam");
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::PlayStarted));
    let codes: Vec<_> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { code, .. } => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(codes, ["NetStream.Play.Reset", "NetStream.Play.Start"]);

    let mut pair = Pair::new();
    pair.accept = false;
    pair.client.play("cam");
    pair.drive();
    assert!(pair.client_events.iter().any(|e| matches!(e,
        ClientEvent::Status { code, .. } if code == "NetStream.Play.StreamNotFound")));
}

#[test]
fn server_input_split_at_every_byte_boundary_gives_the_same_events() {
    let mut pair = Pair::new();
    pair.client.publish("cam");
    // Everything the client says up to publish, and the server's answers for its handshake.
    let mut wire = Vec::new();
    let mut reference = ServerSession::new(SessionConfig::default(), 2, 0);
    for _ in 0..10 {
        while let Some(b) = pair.client.poll_transmit() {
            wire.extend_from_slice(&b);
            reference.handle_input(&b).unwrap();
        }
        while let Some(e) = reference.poll_event() {
            if let ServerEvent::Publish(req) = e {
                reference.accept_publish(req.stream_id);
            }
        }
        while let Some(b) = reference.poll_transmit() {
            pair.client.handle_input(&b).unwrap();
        }
    }
    pair.client.send_media(message::VIDEO, 0, &[0x17; 5000]);
    while let Some(b) = pair.client.poll_transmit() {
        wire.extend_from_slice(&b);
    }
    let events_of = |parts: &[&[u8]]| {
        let mut s = ServerSession::new(SessionConfig::default(), 2, 0);
        let mut events = Vec::new();
        for part in parts {
            assert_eq!(s.handle_input(part).unwrap(), part.len());
            while let Some(e) = s.poll_event() {
                events.push(e);
            }
        }
        events
    };
    let whole = events_of(&[&wire]);
    assert!(whole.iter().any(|e| matches!(e, ServerEvent::Publish(_))));
    for split in (0..wire.len()).step_by(7).chain([1536, 1537, 3073, 3074]) {
        let split = split.min(wire.len());
        assert_eq!(
            events_of(&[&wire[..split], &wire[split..]]),
            whole,
            "split at {split}"
        );
    }
}

/// Encodes commands as a raw client would after a (simple) handshake.
fn raw_client_bytes(commands: &[(u32, Command)]) -> Vec<u8> {
    let mut hs = crate::protocol::handshake::ClientHandshake::new(5, 0, false);
    let mut out = Vec::new();
    hs.poll_transmit(&mut out);
    // C2 may be anything to our lenient server.
    out.extend_from_slice(&[0u8; crate::protocol::handshake::HANDSHAKE_SIZE]);
    let encoder = ChunkEncoder::new(128);
    let mut buf = BytesMut::new();
    for (stream_id, cmd) in commands {
        let mut payload = Vec::new();
        cmd.encode(&mut payload);
        let header = MessageHeader {
            timestamp: 0,
            length: payload.len() as u32,
            type_id: 20,
            stream_id: *stream_id,
        };
        encoder.encode(3, &header, &payload, &mut buf);
    }
    out.extend_from_slice(&buf);
    out
}

fn connect_command() -> Command {
    let object = AmfValue::object([
        ("app", AmfValue::string("live")),
        ("tcUrl", AmfValue::string("rtmp://x/live")),
    ]);
    Command::new("connect", 1.0, object, vec![])
}

fn server_replies(server: &mut ServerSession) -> Vec<Command> {
    let mut bytes = Vec::new();
    while let Some(b) = server.poll_transmit() {
        bytes.extend_from_slice(&b);
    }
    // Skip S0+S1+S2, then decode every command the server sent.
    let mut decoder = crate::protocol::chunk::ChunkDecoder::new(1 << 20, 16);
    let mut input = &bytes[1 + 2 * crate::protocol::handshake::HANDSHAKE_SIZE..];
    let mut commands = Vec::new();
    while !input.is_empty() {
        let (used, msg) = decoder.decode(input).unwrap();
        input = &input[used..];
        if let Some(msg) = msg {
            if let Ok(message::Message::Command(c)) =
                message::Message::decode(&msg, &Default::default())
            {
                commands.push(c);
            }
        }
    }
    commands
}

#[test]
fn obs_style_publish_sequence_without_waiting() {
    let name = || vec![AmfValue::string("obs")];
    let bytes = raw_client_bytes(&[
        (0, connect_command()),
        (
            0,
            Command::new("releaseStream", 2.0, AmfValue::Null, name()),
        ),
        (0, Command::new("FCPublish", 3.0, AmfValue::Null, name())),
        (0, Command::new("createStream", 4.0, AmfValue::Null, vec![])),
        (
            1,
            Command::new(
                "publish",
                5.0,
                AmfValue::Null,
                vec![AmfValue::string("obs"), AmfValue::string("live")],
            ),
        ),
    ]);
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    server.handle_input(&bytes).unwrap();
    let mut published = false;
    while let Some(e) = server.poll_event() {
        if let ServerEvent::Publish(req) = e {
            server.accept_publish(req.stream_id);
            published = true;
        }
    }
    assert!(published);
    let names: Vec<_> = server_replies(&mut server)
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        [
            "_result",
            "onBWDone",
            "_result",
            "onFCPublish",
            "_result",
            "_result",
            "onStatus"
        ]
    );
}

#[test]
fn unknown_command_gets_an_error_not_a_close() {
    let bytes = raw_client_bytes(&[
        (0, connect_command()),
        (0, Command::new("nonsense", 2.0, AmfValue::Null, vec![])),
        (0, Command::new("createStream", 3.0, AmfValue::Null, vec![])),
    ]);
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    server.handle_input(&bytes).unwrap();
    let replies = server_replies(&mut server);
    let error = replies.iter().find(|c| c.name == "_error").expect("_error");
    assert_eq!(error.transaction_id, 2.0);
    assert_eq!(
        replies.last().map(|c| (c.name.as_str(), c.transaction_id)),
        Some(("_result", 3.0))
    );
}

#[test]
fn commands_before_connect_and_a_second_connect_are_fatal_and_sticky() {
    let bytes = raw_client_bytes(&[(0, Command::new("createStream", 1.0, AmfValue::Null, vec![]))]);
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    let err = server.handle_input(&bytes).unwrap_err();
    assert!(matches!(err, SessionError::PeerMisbehaved(_)));
    assert_eq!(server.handle_input(&[1, 2, 3]).unwrap_err(), err);

    let bytes = raw_client_bytes(&[(0, connect_command()), (0, connect_command())]);
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    assert!(server.handle_input(&bytes).is_err());
}

#[test]
fn garbage_after_the_handshake_is_an_error_not_a_panic() {
    let mut bytes = raw_client_bytes(&[(0, connect_command())]);
    // A fmt-3 header on a chunk stream never seen.
    bytes.extend_from_slice(&[0xC7, 1, 2, 3]);
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    assert!(server.handle_input(&bytes).is_err());
}

#[test]
fn acknowledgements_follow_the_peer_window_and_wrap() {
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    let mut bytes = raw_client_bytes(&[(0, connect_command())]);
    // Window Acknowledgement Size 1000 from the client.
    bytes.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0, 0x03, 0xE8]);
    server.handle_input(&bytes).unwrap();
    let _ = server_replies(&mut server);
    // 3000 bytes of an unrelated message type on a fresh chunk stream: 3 acks are due.
    let encoder = ChunkEncoder::new(128);
    let mut buf = BytesMut::new();
    let header = MessageHeader {
        timestamp: 0,
        length: 3000,
        type_id: 16,
        stream_id: 0,
    };
    encoder.encode(7, &header, &[0u8; 3000], &mut buf);
    // Fed in pieces, as reads would deliver it: an acknowledgement per window crossed.
    for piece in buf.chunks(1100) {
        server.handle_input(piece).unwrap();
    }
    let mut out = Vec::new();
    while let Some(b) = server.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let mut decoder = crate::protocol::chunk::ChunkDecoder::new(1 << 20, 16);
    let mut input = &out[..];
    let mut sequences = Vec::new();
    while !input.is_empty() {
        let (used, msg) = decoder.decode(input).unwrap();
        input = &input[used..];
        if let Some(msg) = msg {
            if let Ok(message::Message::Control(ControlMessage::Acknowledgement { sequence })) =
                message::Message::decode(&msg, &Default::default())
            {
                sequences.push(sequence);
            }
        }
    }
    // Each acknowledgement counts every byte received since the handshake, at least a
    // window more than the one before.
    assert!(sequences.len() >= 2, "acknowledgements: {sequences:?}");
    assert!(
        sequences.windows(2).all(|w| w[1] - w[0] >= 1000),
        "{sequences:?}"
    );
}

#[test]
fn reconnect_request_only_for_clients_that_announced_the_capability() {
    let mut plain = Pair::new();
    plain.drive();
    assert!(plain.client.is_connected());
    assert!(!plain.server.can_reconnect());
    assert!(!plain.server.request_reconnect());
    assert!(!plain.server.has_output());

    let mut config = ClientConfig::new("live", "rtmp://edge.example:1935/live");
    config.caps_ex = 0x01;
    let mut pair = Pair {
        client: ClientSession::new(config, 1, 0),
        ..Pair::new()
    };
    // Not connected yet: nothing to ask.
    assert!(!pair.server.request_reconnect());
    pair.drive();
    assert!(pair.server.can_reconnect());
    assert!(pair.server.request_reconnect());
    pair.drive();
    let asked = pair.client_events.iter().any(|e| {
        matches!(e, ClientEvent::Status { code, .. }
            if code == "NetConnection.Connect.ReconnectRequest")
    });
    assert!(asked, "{:?}", pair.client_events);
}

#[test]
fn connect_result_announces_caps_ex_reconnect() {
    let result = replies::connect_result(1.0, 0.0);
    let caps = result.object.get("capsEx").and_then(AmfValue::as_f64);
    assert_eq!(caps.map(|c| c as u32 & caps::caps_ex::RECONNECT), Some(1));
    let ask = replies::reconnect_request("rtmp://a/live");
    let info = ask.args.first().unwrap();
    assert_eq!(
        info.get("tcUrl").and_then(AmfValue::as_str),
        Some("rtmp://a/live")
    );
}

#[test]
fn publish_or_play_before_create_stream_and_bad_names_are_refused_with_a_status() {
    use crate::session::names::{NameProblem, Refusal};
    let publish = |name: &str| {
        let name = AmfValue::string(name);
        Command::new(
            "publish",
            0.0,
            AmfValue::Null,
            vec![name, AmfValue::string("live")],
        )
    };
    let create = || Command::new("createStream", 2.0, AmfValue::Null, vec![]);
    let long = "x".repeat(10_000);
    let cases: [(Vec<(u32, Command)>, Refusal); 4] = [
        (vec![(1, publish("cam"))], Refusal::BeforeCreateStream),
        (
            vec![(0, create()), (1, publish("../../etc/passwd"))],
            Refusal::Name(NameProblem::PathTrick),
        ),
        (
            vec![(0, create()), (1, publish("a\0b"))],
            Refusal::Name(NameProblem::ControlCharacter),
        ),
        (
            vec![(0, create()), (1, publish(&long))],
            Refusal::Name(NameProblem::TooLong(1024)),
        ),
    ];
    for (commands, want) in cases {
        let mut all = vec![(0, connect_command())];
        all.extend(commands);
        let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
        server.handle_input(&raw_client_bytes(&all)).unwrap();
        let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
        assert!(events.contains(&ServerEvent::Refused(want)), "{events:?}");
        assert!(!events.iter().any(|e| matches!(e, ServerEvent::Publish(_))));
        let replies = server_replies(&mut server);
        let status = replies.last().expect("a status");
        assert_eq!(status.name, "onStatus");
        assert_eq!(server.publishing_stream(), None);
    }
}

#[test]
fn a_path_trick_in_the_app_name_closes_the_connection() {
    let object = AmfValue::object([("app", AmfValue::string("../live"))]);
    let connect = Command::new("connect", 1.0, object, vec![]);
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    let err = server
        .handle_input(&raw_client_bytes(&[(0, connect)]))
        .unwrap_err();
    assert!(matches!(err, SessionError::Refused(_)), "{err}");
}

#[test]
fn a_publish_of_a_name_that_is_not_utf8_is_refused_not_renamed() {
    use crate::session::names::{NameProblem, Refusal};
    let publish = Command::new(
        "publish",
        0.0,
        AmfValue::Null,
        vec![AmfValue::string("camZx"), AmfValue::string("live")],
    );
    let create = Command::new("createStream", 2.0, AmfValue::Null, vec![]);
    let mut bytes = raw_client_bytes(&[(0, connect_command()), (0, create), (1, publish)]);
    // The same length on the wire: "cam\xFFx" (0xFF is never UTF-8).
    let at = bytes
        .windows(5)
        .position(|w| w == b"camZx")
        .expect("the name on the wire");
    bytes[at + 3] = 0xff;
    let mut server = ServerSession::new(SessionConfig::default(), 9, 0);
    server.handle_input(&bytes).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(
        events.contains(&ServerEvent::Refused(Refusal::Name(NameProblem::NotUtf8))),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Publish(_))));
    let replies = server_replies(&mut server);
    let status = replies.last().expect("a status");
    assert_eq!(status.name, "onStatus");
    let code = status.args.first().and_then(|i| i.get("code"));
    assert_eq!(
        code.and_then(AmfValue::as_str),
        Some("NetStream.Publish.BadName")
    );
    assert_eq!(server.publishing_stream(), None);
}
