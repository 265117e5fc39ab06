//! Fuzz target: the PROXY protocol header parser (v1 and v2) never panics, never claims more
//! bytes than it was given or than `MAX_HEADER_LEN`, only answers `Incomplete` below that
//! length, and answers the same for the header alone and for every longer input that starts
//! with it (a header's end does not depend on what follows).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::proxy::{parse, ProxyParse, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(done @ ProxyParse::Done { consumed, .. }) => {
            assert!(consumed <= data.len() && consumed <= MAX_HEADER_LEN);
            assert_eq!(parse(&data[..consumed]), Ok(done), "the header alone");
            if consumed > 0 {
                assert!(
                    !matches!(parse(&data[..consumed - 1]), Ok(ProxyParse::Done { .. })),
                    "done before its last byte"
                );
            }
        }
        Ok(ProxyParse::Incomplete) => assert!(data.len() < MAX_HEADER_LEN),
        Err(_) => {}
    }
});
