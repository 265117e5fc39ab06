//! Fuzz target: a whole client session (the relay's pull and push side: handshake, connect,
//! createStream, publish or play, media) fed arbitrary bytes from a server.
//!
//! The first byte picks the client: bit 0 plays (else publishes), bit 1 uses the digest
//! handshake, bit 2 announces Enhanced RTMP, bit 3 sends a frame once publishing started and
//! closes politely once playing started; bit 6 feeds the input once more in pieces the first
//! byte sizes. Checks that no input panics, that all input is consumed, that an error is
//! sticky, and, without bit 3, that the events and the error do not depend on how the input is
//! split (with it, the client's own sends and close land wherever the input was cut).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_edge::session::{ClientConfig, ClientEvent, ClientSession, SessionError};
use rtmp_edge_fuzz::{assert_same_events, run_session, splits, SessionSide};

struct Client(ClientSession);

impl SessionSide for Client {
    type Event = ClientEvent;
    fn handle_input(&mut self, input: &[u8]) -> Result<usize, SessionError> {
        self.0.handle_input(input)
    }
    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.0.poll_event()
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.0.poll_transmit()
    }
    fn respond(&mut self, event: &ClientEvent, policy: u8) {
        match event {
            ClientEvent::PublishStarted if policy & 8 != 0 => {
                let keyframe = [0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65];
                self.0.send_media(9, 0, &keyframe);
            }
            ClientEvent::PlayStarted if policy & 8 != 0 => self.0.close(),
            _ => {}
        }
    }
}

fn new(policy: u8) -> Client {
    let mut config = ClientConfig::new("live", "rtmp://127.0.0.1:1935/live");
    config.digest_handshake = policy & 2 != 0;
    config.enhanced = policy & 4 != 0;
    let mut session = ClientSession::new(config, 7, 1000);
    if policy & 1 != 0 {
        session.play("stream");
    } else {
        session.publish("stream?key=1");
    }
    Client(session)
}

fuzz_target!(init: rtmp_edge_fuzz::keep_freed_memory(), |data: &[u8]| {
    let Some((&policy, input)) = data.split_first() else {
        return;
    };
    let whole = run_session(new(policy), &[input], policy);
    if policy & 64 != 0 && policy & 8 == 0 {
        let [_, pieces] = splits(policy, input);
        let split = run_session(new(policy), &pieces, policy);
        assert_same_events(&split.events, &whole.events);
        assert_eq!(split.error, whole.error);
    }
});
