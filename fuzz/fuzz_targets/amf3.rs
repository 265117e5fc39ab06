//! Fuzz target: the AMF3 decoder (reference tables, traits, externalizables) and the AMF3
//! command framing (type 17: a leading 0 byte, then AMF0 values that may switch to AMF3).
//!
//! Every input decodes or fails with an error: no panic, no unbounded allocation (references
//! are bounded by the input's size), no runaway recursion. A decoded value re-encodes as AMF0
//! and decodes to the same value wherever AMF0 carries it exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::amf::{amf0, amf3, Limits};
use rtmp_edge_fuzz::{amf0_exact, command_round_trip};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut rest = data;
    if let Ok(value) = amf3::decode(&mut rest, &limits) {
        assert!(rest.len() < data.len(), "a value took no bytes");
        let mut out = Vec::new();
        amf0::encode(&value, &mut out);
        let again = amf0::decode_all(&out, &limits).expect("the AMF0 form decodes");
        if amf0_exact(&value) {
            assert_eq!(again, [value]);
        }
    } else {
        assert_eq!(rest, data, "a failed decode moved the input");
    }
    command_round_trip(data, true, &limits);
});
