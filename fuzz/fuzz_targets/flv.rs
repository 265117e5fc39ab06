//! Fuzz target: FLV tag facts. The (Ex)Audio/(Ex)VideoTagHeader readers, the Enhanced RTMP v2
//! track walker and the legacy rewrite never panic, and every track body and rewrite stays
//! within the input; the FLV file walker and the aggregate splitter never panic and hand out
//! only ranges inside the buffer, and a data message decodes to metadata or to nothing.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::amf::{amf0, Limits};
use rtmp_edge::protocol::flv::{self, legacy, tracks};

fuzz_target!(|data: &[u8]| {
    let _ = flv::video_facts(data);
    let _ = flv::audio_facts(data);
    let _ = flv::video_header(data);
    let _ = flv::audio_header(data);
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

    // The same bytes as a file (header, then tags) and as an aggregate body (tags only).
    let first = flv::parse_file_header(data).unwrap_or(0);
    let mut walker = flv::TagIter::new(data, first);
    for tag in walker
        .by_ref()
        .take(data.len() / flv::TAG_HEADER_LEN + 1)
        .flatten()
    {
        assert!(tag.data.start <= tag.data.end && tag.data.end <= data.len());
    }
    assert!(walker.next().is_none(), "the walker went on past the input");
    let payload = Bytes::copy_from_slice(data);
    if let Ok(parts) = flv::split_aggregate(&payload, 1000) {
        let total: usize = parts
            .iter()
            .map(|(_, _, p)| p.len() + flv::TAG_HEADER_LEN)
            .sum();
        assert!(total <= data.len());
    }

    if let Ok(values) = amf0::decode_all(data, &Limits::default()) {
        let _ = flv::metadata_payload(&values);
    }
});
