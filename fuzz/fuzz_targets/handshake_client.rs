//! Fuzz target: the client side of the handshake (S0, S1 simple or digest, S2) on arbitrary
//! bytes from a server; the top bit of the first byte picks a digest or a simple C1.
//!
//! Checks that no input panics, that the handshake never consumes past S2 (what follows belongs
//! to the chunk stream), that an error is sticky, and that the outcome (bytes consumed, bytes
//! sent, completion, error) does not depend on how the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::handshake::ClientHandshake;
use rtmp_edge_fuzz::{run_handshake, splits};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let digest = selector & 0x80 != 0;
    let new = || ClientHandshake::new(7, 1000, digest);
    let whole = run_handshake(new(), &[input]);
    for pieces in splits(selector, input) {
        let outcome = run_handshake(new(), &pieces);
        assert_eq!(outcome, whole, "split into {} pieces", pieces.len());
    }
});
