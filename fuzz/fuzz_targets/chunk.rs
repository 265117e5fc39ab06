//! Fuzzes the chunk decoder on arbitrary bytes.
//!
//! Checks that no input panics, that every message respects the size limit and its header's
//! length, that the consumed counts keep the contract, and that the result does not depend on
//! how the input is split (once in two at a position the first byte picks, once in small
//! pieces). Never does I/O; the decoder's limits keep memory small.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::chunk::{ChunkDecoder, ChunkError, RawMessage};

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
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let whole = run(&[input]);

    let at = usize::from(split) * input.len() / 255;
    let (a, b) = input.split_at(at);
    assert_eq!(run(&[a, b]), whole, "split at {at}");

    let pieces: Vec<&[u8]> = input.chunks(usize::from(split % 7) + 1).collect();
    assert_eq!(run(&pieces), whole, "pieces of {}", split % 7 + 1);
});
