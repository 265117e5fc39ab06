//! Fuzz target: the PROXY protocol header parser never panics and never claims more bytes than
//! it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::proxy::{parse, ProxyParse};

fuzz_target!(|data: &[u8]| {
    if let Ok(ProxyParse::Done { consumed, .. }) = parse(data) {
        assert!(consumed <= data.len());
    }
});
