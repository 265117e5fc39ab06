//! Real AMF0 captures (FFmpeg's connect command and onMetaData, taken on loopback) and a
//! readable hex notation for them, shared by the unit tests and the benchmarks.
//!
//! Test data, not API: hidden from the docs. Never used by the server itself.

/// The connect command FFmpeg (Lavf 59) sends when publishing, captured on loopback.
pub const FFMPEG_CONNECT: &str = "
02 0007 'connect' 00 3ff0000000000000 03
0003 'app' 02 0004 'live'
0004 'type' 02 000a 'nonprivate'
0008 'flashVer' 02 0024 'FMLE/3.0 (compatible; Lavf59.27.100)'
0005 'tcUrl' 02 001b 'rtmp://127.0.0.1:48475/live'
0000 09";

/// Bytes from hex pairs; whitespace is ignored, quoted text is taken as ASCII
/// (`"02 00 03 'app'"`), so captures stay readable. Panics on malformed notation: it reads
/// test data written by hand, never input from a peer.
pub fn hex(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in text.split('\'').enumerate() {
        if i % 2 == 1 {
            out.extend_from_slice(part.as_bytes());
            continue;
        }
        let digits: Vec<u8> = part.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len() % 2 == 0, "odd hex digit count in {part:?}");
        for pair in digits.chunks(2) {
            let pair = std::str::from_utf8(pair).unwrap();
            out.push(u8::from_str_radix(pair, 16).unwrap());
        }
    }
    out
}

/// The onMetaData script tag FFmpeg writes (ECMA array announcing 12 entries).
pub const FFMPEG_METADATA: &str = "
02 000a 'onMetaData' 08 0000000c
0008 'duration' 00 3ff0000000000000
0005 'width' 00 4050000000000000
0006 'height' 00 4050000000000000
000d 'videodatarate' 00 40686a0000000000
0009 'framerate' 00 3ff0000000000000
000c 'videocodecid' 00 4000000000000000
000d 'audiodatarate' 00 405f400000000000
000f 'audiosamplerate' 00 40bf400000000000
000f 'audiosamplesize' 00 4030000000000000
0006 'stereo' 01 00
000c 'audiocodecid' 00 4008000000000000
0008 'filesize' 00 40d2424000000000
0000 09";
