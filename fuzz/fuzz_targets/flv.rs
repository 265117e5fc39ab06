//! Fuzz target: the FLV / Enhanced RTMP header readers, the track walker and the legacy rewrite
//! never panic, and every track body and rewrite stays within the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::flv::{self, legacy, tracks};

fuzz_target!(|data: &[u8]| {
    let _ = flv::video_facts(data);
    let _ = flv::audio_facts(data);
    for kind in [tracks::AvKind::Audio, tracks::AvKind::Video] {
        if let Some(t) = tracks::tracks(kind, data) {
            for track in t.iter() {
                assert!(track.body.len() <= data.len());
            }
        }
        let default = data.last().copied().unwrap_or(0) & 3;
        if let Some(n) = legacy::legacy_form(kind, data, default).rewritten_len() {
            assert!(n <= data.len() + 5);
        }
    }
});
