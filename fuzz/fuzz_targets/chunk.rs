//! Fuzz target: the chunk decoder and message classification on arbitrary bytes.
//!
//! Checks that no input panics, that every message respects the size limit and its header's
//! length, that the consumed counts keep the contract, that the result does not depend on how
//! the input is split (in two at a position the first byte picks, and in small pieces), and
//! that every reassembled message classifies (control, command, data, media) or fails with an
//! error. Never does I/O; the decoder's limits keep memory small.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::amf::Limits;
use rtmp_edge::protocol::chunk::{ChunkDecoder, ChunkError, RawMessage};
use rtmp_edge::protocol::message::Message;
use rtmp_edge_fuzz::splits;

const MAX_MESSAGE: u32 = 1 << 16;
const MAX_STREAMS: usize = 8;

/// Feeds the pieces in order, calling again after each message as callers must.
fn run(pieces: &[&[u8]]) -> (Vec<RawMessage>, Option<ChunkError>) {
    let mut decoder = ChunkDecoder::new(MAX_MESSAGE, MAX_STREAMS);
    let mut messages = Vec::new();
    for piece in pieces {
        let mut pos = 0;
        loop {
            let (used, msg) = match decoder.decode(&piece[pos..]) {
                Ok(step) => step,
                Err(e) => return (messages, Some(e)),
            };
            pos += used;
            assert!(pos <= piece.len());
            let Some(msg) = msg else {
                assert_eq!(pos, piece.len(), "no message yet input left over");
                break;
            };
            assert_eq!(msg.payload.len(), msg.header.length as usize);
            assert!(msg.header.length <= MAX_MESSAGE);
            messages.push(msg);
        }
    }
    (messages, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let whole = run(&[input]);
    for pieces in splits(selector, input) {
        assert_eq!(run(&pieces), whole, "split into {} pieces", pieces.len());
    }
    let limits = Limits::default();
    for msg in &whole.0 {
        let _ = Message::decode(msg, &limits);
    }
});
