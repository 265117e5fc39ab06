//! Fuzz target: a whole server session (handshake, chunk stream, commands, publish and play)
//! fed arbitrary bytes from a client.
//!
//! The first byte is the application's policy: bit 0 accepts publishes, bit 1 accepts plays,
//! bit 2 asks for a play reset, bit 3 tells a player its stream was published, bit 4 that it
//! was unpublished, bit 5 asks a reconnect-capable client to reconnect; bit 6 feeds the input
//! once more in pieces the first byte sizes. Checks that no input panics, that all input is
//! consumed, that an error is sticky, and, when publishes and plays are both accepted, that the
//! events and the error do not depend on how the input is split. (A refusal changes what later
//! input means, e.g. media after a refused publish is dropped, and it lands wherever the input
//! was cut: with refusals the events may rightly differ.)
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_edge::session::{ServerEvent, ServerSession, SessionConfig, SessionError};
use rtmp_edge_fuzz::{assert_same_events, run_session, splits, SessionSide};

struct Server(ServerSession);

impl SessionSide for Server {
    type Event = ServerEvent;
    fn handle_input(&mut self, input: &[u8]) -> Result<usize, SessionError> {
        self.0.handle_input(input)
    }
    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.0.poll_event()
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.0.poll_transmit()
    }
    fn respond(&mut self, event: &ServerEvent, policy: u8) {
        let session = &mut self.0;
        match event {
            ServerEvent::Publish(r) if policy & 1 != 0 => session.accept_publish(r.stream_id),
            ServerEvent::Publish(r) => session.reject_publish(r.stream_id, "refused"),
            ServerEvent::Play(r) if policy & 2 != 0 => {
                session.accept_play(r.stream_id, policy & 4 != 0 || r.reset);
                if policy & 8 != 0 {
                    session.notify_publish(r.stream_id);
                }
                if policy & 16 != 0 {
                    session.notify_unpublish(r.stream_id);
                }
            }
            ServerEvent::Play(r) => session.reject_play(r.stream_id, "not found"),
            ServerEvent::Connected { .. } if policy & 32 != 0 => {
                session.request_reconnect();
            }
            _ => {}
        }
    }
}

fn new() -> Server {
    Server(ServerSession::new(SessionConfig::default(), 7, 1000))
}

fuzz_target!(init: rtmp_edge_fuzz::keep_freed_memory(), |data: &[u8]| {
    let Some((&policy, input)) = data.split_first() else {
        return;
    };
    let whole = run_session(new(), &[input], policy);
    if policy & 64 != 0 && policy & 3 == 3 {
        let [_, pieces] = splits(policy, input);
        let split = run_session(new(), &pieces, policy);
        assert_same_events(&split.events, &whole.events);
        assert_eq!(split.error, whole.error);
    }
});
