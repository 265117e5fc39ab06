//! Fuzz target: the AMF0 decoder and the AMF0 command decoder on arbitrary payloads.
//!
//! Every input decodes or fails with an error: no panic, no unbounded allocation, no runaway
//! recursion. Decoded values re-encode to bytes that decode to the same values wherever AMF0
//! carries them exactly; so do decoded commands.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::amf::{amf0, Limits};
use rtmp_edge_fuzz::{amf0_exact, command_round_trip};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(values) = amf0::decode_all(data, &limits) {
        let mut out = Vec::new();
        for value in &values {
            amf0::encode(value, &mut out);
        }
        let again = amf0::decode_all(&out, &limits).expect("re-encoded values decode");
        if values.iter().all(amf0_exact) {
            assert_eq!(again, values);
        }
    }
    command_round_trip(data, false, &limits);
});
