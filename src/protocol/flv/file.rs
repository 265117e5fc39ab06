//! FLV tag framing: FLV files and RTMP aggregate messages (which are FLV tags back to back),
//! read in place and written.
//!
//! Reading a file: [`parse_file_header`] (or [`read_file_header`]) gives the offset of the
//! first tag, then [`TagIter`] yields each tag as a range into the same buffer, so a
//! memory-mapped file is replayed without copying. [`split_aggregate`] does the same for an
//! aggregate message and hands out `Bytes` slices. Sizes read from the data are checked against
//! the buffer before use; nothing allocates per tag beyond the output vector. No I/O.
use super::{FlvError, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
use bytes::Bytes;
use std::ops::Range;

/// Bytes of the FLV file header (signature, version, flags, header size).
pub const FILE_HEADER_LEN: usize = 9;
/// Bytes of an FLV tag header (type, data size, timestamp, extended timestamp, stream id).
pub const TAG_HEADER_LEN: usize = 11;
/// Bytes of the PreviousTagSize that follows every tag (and the file header).
const BACK_POINTER_LEN: usize = 4;
/// Largest tag body: the data size field has 24 bits.
pub const MAX_TAG_DATA: usize = 0x00ff_ffff;

const FLAG_AUDIO: u8 = 0x04;
const FLAG_VIDEO: u8 = 0x01;

/// One tag of an FLV file or aggregate message, as a range into the buffer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub tag_type: u8,
    /// Timestamp in ms, with the extended (upper) byte applied.
    pub timestamp: u32,
    pub data: Range<usize>,
}

/// The FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub version: u8,
    pub has_audio: bool,
    pub has_video: bool,
    /// Offset of the first tag: past the header (its declared size) and PreviousTagSize0.
    pub first_tag: usize,
}

/// Reads the FLV file header. The version is not checked (only 1 exists); a header size below
/// 9 is not FLV; a buffer that ends before the first tag is truncated.
pub fn read_file_header(buf: &[u8]) -> Result<FileHeader, FlvError> {
    match buf.get(..3) {
        Some(signature) if signature == b"FLV" => {}
        Some(_) => return Err(FlvError::BadSignature),
        None if b"FLV".starts_with(buf) => return Err(FlvError::Truncated),
        None => return Err(FlvError::BadSignature),
    }
    let Some(&[version, flags, a, b, c, d]) = buf.get(3..FILE_HEADER_LEN) else {
        return Err(FlvError::Truncated);
    };
    let header_size = u32::from_be_bytes([a, b, c, d]) as usize;
    if header_size < FILE_HEADER_LEN {
        return Err(FlvError::BadSignature);
    }
    // header_size came from the file; checked_add keeps a 32-bit target from wrapping.
    let first_tag = header_size
        .checked_add(BACK_POINTER_LEN)
        .ok_or(FlvError::Truncated)?;
    if first_tag > buf.len() {
        return Err(FlvError::Truncated);
    }
    Ok(FileHeader {
        version,
        has_audio: flags & FLAG_AUDIO != 0,
        has_video: flags & FLAG_VIDEO != 0,
        first_tag,
    })
}

/// Checks the FLV file header and returns the offset of the first tag (past PreviousTagSize0).
pub fn parse_file_header(buf: &[u8]) -> Result<usize, FlvError> {
    read_file_header(buf).map(|h| h.first_tag)
}

/// Iterates over FLV tags in `buf` starting at `offset` (each tag followed by its
/// PreviousTagSize). Stops at the end of the buffer; a truncated tag yields an error.
///
/// - The tag type is the low 5 bits of the first byte: the filter (encryption) bit and the
///   reserved bits are ignored.
/// - A tag whose type is not audio, video or script yields `Err(BadTagType)` and iteration
///   goes on past it (its size is still valid framing), so a caller may skip it.
/// - A tag cut short yields `Err(Truncated)`, then the iterator ends.
/// - PreviousTagSize is skipped, not checked (writers disagree on its value), and may be
///   missing after the last tag (a recording cut off by the encoder).
pub struct TagIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> TagIter<'a> {
    pub fn new(buf: &'a [u8], offset: usize) -> Self {
        TagIter {
            buf,
            pos: offset,
            done: false,
        }
    }

    /// Offset of the next tag header: where to resume after this many tags.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn read_tag(&mut self) -> Result<FlvTag, FlvError> {
        let header_end = self
            .pos
            .checked_add(TAG_HEADER_LEN)
            .ok_or(FlvError::Truncated)?;
        let Some(h) = self.buf.get(self.pos..header_end) else {
            return Err(FlvError::Truncated);
        };
        let tag_type = h[0] & 0x1f;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let data_end = header_end.checked_add(size).ok_or(FlvError::Truncated)?;
        if data_end > self.buf.len() {
            return Err(FlvError::Truncated);
        }
        self.pos = data_end
            .saturating_add(BACK_POINTER_LEN)
            .min(self.buf.len());
        if !matches!(tag_type, TAG_AUDIO | TAG_VIDEO | TAG_SCRIPT) {
            return Err(FlvError::BadTagType(tag_type));
        }
        Ok(FlvTag {
            tag_type,
            timestamp,
            data: header_end..data_end,
        })
    }
}

impl Iterator for TagIter<'_> {
    type Item = Result<FlvTag, FlvError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos == self.buf.len() {
            return None;
        }
        let item = self.read_tag();
        if matches!(item, Err(FlvError::Truncated)) {
            self.done = true;
        }
        Some(item)
    }
}

impl std::iter::FusedIterator for TagIter<'_> {}

/// Splits an aggregate message into (type, timestamp, payload) sub-messages. Sub-message
/// timestamps are rebased so the first one equals `message_timestamp`. Payloads are slices of
/// `payload` (no copy).
///
/// Timestamps wrap at 2^32 like every RTMP timestamp. Any malformed tag (truncated, or not
/// audio/video/data) fails the whole message: its framing can no longer be trusted.
pub fn split_aggregate(
    payload: &Bytes,
    message_timestamp: u32,
) -> Result<Vec<(u8, u32, Bytes)>, FlvError> {
    let mut out = Vec::new();
    let mut first_ts = None;
    for tag in TagIter::new(payload, 0) {
        let tag = tag?;
        let base = *first_ts.get_or_insert(tag.timestamp);
        let ts = message_timestamp.wrapping_add(tag.timestamp.wrapping_sub(base));
        out.push((tag.tag_type, ts, payload.slice(tag.data)));
    }
    Ok(out)
}

/// Appends the FLV file header and PreviousTagSize0, so the first tag follows directly.
pub fn write_file_header(has_audio: bool, has_video: bool, out: &mut Vec<u8>) {
    let mut flags = 0;
    if has_audio {
        flags |= FLAG_AUDIO;
    }
    if has_video {
        flags |= FLAG_VIDEO;
    }
    out.extend_from_slice(b"FLV");
    out.extend_from_slice(&[1, flags]);
    out.extend_from_slice(&(FILE_HEADER_LEN as u32).to_be_bytes());
    out.extend_from_slice(&[0; BACK_POINTER_LEN]);
}

/// Appends one FLV tag and its PreviousTagSize: the unit of both FLV files and aggregate
/// message bodies. The timestamp's upper byte goes to the extended timestamp field.
///
/// # Panics
/// If `data` is longer than 16 MiB - 1, which no FLV tag (nor RTMP message) can carry.
pub fn write_tag(tag_type: u8, timestamp: u32, data: &[u8], out: &mut Vec<u8>) {
    let header = tag_header(tag_type, timestamp, data.len());
    out.reserve(TAG_HEADER_LEN + data.len() + BACK_POINTER_LEN);
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out.extend_from_slice(&previous_tag_size(data.len()));
}

/// The 11-byte header of a tag with `len` bytes of data (what [`write_tag`] writes before
/// the data), for writers that send the data from where it is.
///
/// # Panics
/// If `len` is over 16 MiB - 1 (see [`write_tag`]); check against [`MAX_TAG_DATA`].
pub fn tag_header(tag_type: u8, timestamp: u32, len: usize) -> [u8; TAG_HEADER_LEN] {
    assert!(
        len <= MAX_TAG_DATA,
        "FLV tag data of {len} bytes exceeds 24 bits"
    );
    let size = (len as u32).to_be_bytes();
    let ts = timestamp.to_be_bytes();
    [
        tag_type, size[1], size[2], size[3], ts[1], ts[2], ts[3], ts[0], 0, 0, 0,
    ]
}

/// The PreviousTagSize that follows a tag with `len` bytes of data.
pub fn previous_tag_size(len: usize) -> [u8; BACK_POINTER_LEN] {
    ((TAG_HEADER_LEN + len) as u32).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVC_SEQ: &[u8] = &[0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f, 0xff];
    const AAC_SEQ: &[u8] = &[0xaf, 0x00, 0x12, 0x10];
    const AVC_KEY: &[u8] = &[0x17, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x65];

    #[test]
    fn file_header_bytes() {
        let mut out = Vec::new();
        write_file_header(true, true, &mut out);
        assert_eq!(out, [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
        let h = read_file_header(&out).unwrap();
        assert_eq!(
            h,
            FileHeader {
                version: 1,
                has_audio: true,
                has_video: true,
                first_tag: 13
            }
        );
        out.clear();
        write_file_header(false, true, &mut out);
        assert_eq!(out[4], 1);
        assert_eq!(parse_file_header(&out), Ok(13));
    }

    #[test]
    fn tag_bytes() {
        let mut out = Vec::new();
        write_tag(TAG_AUDIO, 0x1234_5678, AAC_SEQ, &mut out);
        assert_eq!(
            out,
            [8, 0, 0, 4, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, 0xaf, 0x00, 0x12, 0x10, 0, 0, 0, 15]
        );
    }

    #[test]
    fn file_header_errors() {
        assert_eq!(parse_file_header(b""), Err(FlvError::Truncated));
        assert_eq!(parse_file_header(b"FL"), Err(FlvError::Truncated));
        assert_eq!(
            parse_file_header(b"FLV\x01\x05\x00\x00"),
            Err(FlvError::Truncated)
        );
        assert_eq!(
            parse_file_header(b"FLX\x01\x05\x00\x00\x00\x09\0\0\0\0"),
            Err(FlvError::BadSignature)
        );
        assert_eq!(parse_file_header(b"GIF89a"), Err(FlvError::BadSignature));
        // Header size below 9.
        assert_eq!(
            parse_file_header(b"FLV\x01\x05\x00\x00\x00\x08\0\0\0\0"),
            Err(FlvError::BadSignature)
        );
        // Header size pointing far beyond the buffer.
        assert_eq!(
            parse_file_header(b"FLV\x01\x05\xff\xff\xff\xff\0\0\0\0"),
            Err(FlvError::Truncated)
        );
        // PreviousTagSize0 missing.
        assert_eq!(
            parse_file_header(b"FLV\x01\x05\x00\x00\x00\x09\0\0"),
            Err(FlvError::Truncated)
        );
        // A larger header (extra bytes are skipped).
        assert_eq!(
            parse_file_header(b"FLV\x01\x05\x00\x00\x00\x0bxx\0\0\0\0"),
            Ok(15)
        );
    }

    fn sample_file() -> Vec<u8> {
        let mut f = Vec::new();
        write_file_header(true, true, &mut f);
        write_tag(TAG_SCRIPT, 0, b"\x02\x00\x0aonMetaData", &mut f);
        write_tag(TAG_VIDEO, 0, AVC_SEQ, &mut f);
        write_tag(TAG_AUDIO, 0, AAC_SEQ, &mut f);
        write_tag(TAG_VIDEO, 40, AVC_KEY, &mut f);
        // Past 0xFFFFFF ms: the extended timestamp byte is used.
        write_tag(TAG_AUDIO, 0x0100_0010, &[0xaf, 0x01, 0x21], &mut f);
        write_tag(TAG_VIDEO, 41, &[], &mut f);
        f
    }

    #[test]
    fn file_round_trip() {
        let f = sample_file();
        let start = parse_file_header(&f).unwrap();
        let tags: Vec<_> = TagIter::new(&f, start).collect::<Result<_, _>>().unwrap();
        let seen: Vec<_> = tags
            .iter()
            .map(|t| (t.tag_type, t.timestamp, &f[t.data.clone()]))
            .collect();
        assert_eq!(
            seen,
            [
                (TAG_SCRIPT, 0, &b"\x02\x00\x0aonMetaData"[..]),
                (TAG_VIDEO, 0, AVC_SEQ),
                (TAG_AUDIO, 0, AAC_SEQ),
                (TAG_VIDEO, 40, AVC_KEY),
                (TAG_AUDIO, 0x0100_0010, &[0xaf, 0x01, 0x21][..]),
                (TAG_VIDEO, 41, &[][..]),
            ]
        );
        let mut it = TagIter::new(&f, start);
        it.next();
        assert_eq!(it.position(), start + TAG_HEADER_LEN + 13 + 4);
    }

    #[test]
    fn truncated_file_at_every_length() {
        let f = sample_file();
        let start = parse_file_header(&f).unwrap();
        let full: Vec<_> = TagIter::new(&f, start).map(Result::unwrap).collect();
        for end in start..f.len() {
            let mut ok = 0;
            let mut truncated = false;
            for item in TagIter::new(&f[..end], start) {
                assert!(!truncated, "item after Truncated at {end}");
                match item {
                    Ok(tag) => {
                        assert_eq!(tag, full[ok]);
                        ok += 1;
                    }
                    Err(e) => {
                        assert_eq!(e, FlvError::Truncated);
                        truncated = true;
                    }
                }
            }
            // Cutting into the last tag's PreviousTagSize still yields the tag.
            let complete = full.iter().filter(|t| t.data.end <= end).count();
            assert_eq!(ok, complete, "cut at {end}");
            // The iterator resumes after the last complete tag's back pointer: anything left
            // between there and the cut is a truncated tag.
            let resume = full[..ok].last().map_or(start, |t| t.data.end + 4);
            assert_eq!(truncated, resume < end, "cut at {end}");
        }
    }

    #[test]
    fn filter_bit_and_bad_tag_types() {
        let mut f = Vec::new();
        write_tag(TAG_VIDEO | 0x20, 5, AVC_KEY, &mut f); // filter (encryption) bit
        write_tag(7, 6, b"xyz", &mut f);
        write_tag(TAG_AUDIO, 7, AAC_SEQ, &mut f);
        let items: Vec<_> = TagIter::new(&f, 0).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().tag_type, TAG_VIDEO);
        assert_eq!(items[1], Err(FlvError::BadTagType(7)));
        assert_eq!(items[2].as_ref().unwrap().timestamp, 7);
        // An offset beyond the buffer is a truncation, not a panic.
        let mut it = TagIter::new(&f, f.len() + 3);
        assert_eq!(it.next(), Some(Err(FlvError::Truncated)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn size_beyond_buffer_is_truncated() {
        // Data size 0xFFFFFF with only 4 bytes of data.
        let f = [
            9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x17, 0x01, 0x00, 0x00,
        ];
        let mut it = TagIter::new(&f, 0);
        assert_eq!(it.next(), Some(Err(FlvError::Truncated)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn aggregate_rebases_timestamps() {
        let mut body = Vec::new();
        write_tag(TAG_VIDEO, 1000, AVC_KEY, &mut body);
        write_tag(TAG_AUDIO, 1023, &[0xaf, 0x01, 0x21, 0x10], &mut body);
        let payload = Bytes::from(body);
        let subs = split_aggregate(&payload, 5000).unwrap();
        assert_eq!(
            subs,
            [
                (TAG_VIDEO, 5000, Bytes::from_static(AVC_KEY)),
                (
                    TAG_AUDIO,
                    5023,
                    Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10])
                ),
            ]
        );
        // Slices share the message's buffer.
        assert_eq!(subs[0].2.as_ptr(), payload[TAG_HEADER_LEN..].as_ptr());
        assert_eq!(split_aggregate(&Bytes::new(), 7), Ok(vec![]));
    }

    #[test]
    fn aggregate_timestamps_wrap() {
        let mut body = Vec::new();
        write_tag(TAG_VIDEO, 10, AVC_KEY, &mut body);
        write_tag(TAG_VIDEO, 30, AVC_KEY, &mut body);
        // A sub-message earlier than the first one moves backwards from the message timestamp.
        write_tag(TAG_AUDIO, 5, AAC_SEQ, &mut body);
        let subs = split_aggregate(&Bytes::from(body), u32::MAX - 9).unwrap();
        let ts: Vec<u32> = subs.iter().map(|s| s.1).collect();
        assert_eq!(ts, [u32::MAX - 9, 10, u32::MAX - 14]);
    }

    #[test]
    fn aggregate_errors() {
        let mut body = Vec::new();
        write_tag(TAG_VIDEO, 0, AVC_KEY, &mut body);
        write_tag(TAG_AUDIO, 20, AAC_SEQ, &mut body);
        let full = body.len();
        // Cut inside the second tag (header or data): the whole message is rejected.
        for end in [full - 5, full - 6, TAG_HEADER_LEN + AVC_KEY.len() + 4 + 3] {
            let payload = Bytes::copy_from_slice(&body[..end]);
            assert_eq!(
                split_aggregate(&payload, 0),
                Err(FlvError::Truncated),
                "cut at {end}"
            );
        }
        // A missing final back pointer is tolerated.
        assert_eq!(
            split_aggregate(&Bytes::copy_from_slice(&body[..full - 4]), 0)
                .unwrap()
                .len(),
            2
        );
        // A sub-message that is not audio/video/data.
        let mut bad = Vec::new();
        write_tag(20, 0, b"cmd", &mut bad);
        assert_eq!(
            split_aggregate(&Bytes::from(bad), 0),
            Err(FlvError::BadTagType(20))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let f = sample_file();
        let mut state = 0x2545_f491_u32;
        for _ in 0..2000 {
            let mut g = f.clone();
            for _ in 0..4 {
                // xorshift: deterministic corruption of a few bytes.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let i = state as usize % g.len();
                g[i] = (state >> 24) as u8;
            }
            if let Ok(start) = parse_file_header(&g) {
                assert!(TagIter::new(&g, start).count() <= g.len() / TAG_HEADER_LEN);
            }
            let _ = split_aggregate(&Bytes::from(g), 0);
        }
    }
}
