//! Fuzz target: the server side of the handshake (C0, C1 simple or digest, C2) on arbitrary
//! bytes from a client.
//!
//! Checks that no input panics, that the handshake never consumes past C2 (what follows belongs
//! to the chunk stream), that an error is sticky, and that the outcome (bytes consumed, bytes
//! sent, completion, error) does not depend on how the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::handshake::ServerHandshake;
use rtmp_edge_fuzz::{run_handshake, splits};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let new = || ServerHandshake::new(7, 1000);
    let whole = run_handshake(new(), &[input]);
    for pieces in splits(selector, input) {
        let outcome = run_handshake(new(), &pieces);
        assert_eq!(outcome, whole, "split into {} pieces", pieces.len());
    }
});
