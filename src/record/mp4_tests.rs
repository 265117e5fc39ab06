//! The fMP4 writer fed a synthetic H.264 + AAC stream: the file read back box by box
//! (ftyp, moov once, then moof + mdat pairs), a configuration change detected, and a full
//! disk reported.
use super::*;
use crate::http::cmaf::fixtures::{aac_frame, aac_seq, avc_frame, avc_seq, ASC, AVCC};
use crate::media::frame::ConfigKind;
use crate::record::temp_dir;
use mp4_atom::{Any, Decode, FourCC};
use std::fs::OpenOptions;
use std::time::UNIX_EPOCH;

pub(crate) fn frame(
    kind: MediaKind,
    timestamp: u32,
    key: bool,
    header: bool,
    body: Vec<u8>,
) -> RecordFrame {
    RecordFrame {
        kind,
        timestamp,
        keyframe: key,
        sequence_header: header,
        track: 0,
        config: ConfigKind::SequenceStart,
        payload: Bytes::from(body),
    }
}

pub(crate) fn headers() -> Vec<RecordFrame> {
    vec![
        frame(
            MediaKind::Data,
            0,
            false,
            false,
            b"\x02\x00\x0aonMetaData".to_vec(),
        ),
        frame(MediaKind::Video, 0, true, true, avc_seq(AVCC)),
        frame(MediaKind::Audio, 0, false, true, aac_seq(ASC)),
    ]
}

/// `seconds` of 25 fps video (a keyframe every second) and AAC every ~23 ms, from 0.
pub(crate) fn media(seconds: u32) -> Vec<RecordFrame> {
    let mut out = Vec::new();
    for i in 0..seconds * 25 {
        let ts = i * 40;
        let key = i % 25 == 0;
        out.push(frame(
            MediaKind::Video,
            ts,
            key,
            false,
            avc_frame(key, 0, 300),
        ));
        out.push(frame(MediaKind::Audio, ts, false, false, aac_frame(20)));
        out.push(frame(
            MediaKind::Audio,
            ts + 23,
            false,
            false,
            aac_frame(20),
        ));
    }
    out
}

pub(crate) fn box_kinds(bytes: &[u8]) -> Vec<FourCC> {
    let buf = &mut &bytes[..];
    let mut kinds = Vec::new();
    while !buf.is_empty() {
        kinds.push(Any::decode(buf).expect("a whole box").kind());
    }
    kinds
}

#[test]
fn writes_one_init_then_fragments_that_decode() {
    let dir = temp_dir("mp4");
    let mut f = Mp4File::create(&dir, |n| format!("s-{n}.mp4"), UNIX_EPOCH).unwrap();
    let mut n = 0;
    for h in headers() {
        assert!(!f.changes_config(&h) || h.kind != MediaKind::Data);
        n += f.write_frame(&h, 0).unwrap();
    }
    // The same headers again are no change; another AVC record is.
    assert!(!f.changes_config(&headers()[1]));
    let mut other = AVCC.to_vec();
    other[3] = 0x28;
    assert!(f.changes_config(&frame(MediaKind::Video, 0, true, true, avc_seq(&other))));
    assert!(!f.changes_config(&headers()[0]), "metadata never splits");
    for m in media(4) {
        n += f.write_frame(&m, m.timestamp).unwrap();
    }
    assert!(n > 0, "complete segments are written before the close");
    let path = f.path().to_owned();
    n += f.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, n);
    let kinds = box_kinds(&bytes);
    assert_eq!(&kinds[..2], &[b"ftyp".into(), b"moov".into()], "{kinds:?}");
    let rest = &kinds[2..];
    assert!(rest.len() >= 8, "fragments for 4 s of media: {kinds:?}");
    assert!(rest
        .chunks(2)
        .all(|c| c == [FourCC::from(b"moof"), FourCC::from(b"mdat")]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_disk_is_an_error() {
    let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut f = Mp4File::from_file("/dev/full".into(), full, UNIX_EPOCH);
    let mut frames = headers();
    frames.extend(media(30));
    let err = frames
        .iter()
        .map(|m| f.write_frame(m, m.timestamp))
        .find_map(Result::err)
        .expect("writes into /dev/full fail once the buffer is full");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
}
