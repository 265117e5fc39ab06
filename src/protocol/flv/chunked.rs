//! One FLV tag framed as one HTTP/1.1 chunk (`{size:x}\r\n`, the tag and its
//! PreviousTagSize, `\r\n`): the form HTTP-FLV players get, the same bytes for every player of
//! a stream, so it is encoded once per frame. The bare tag is a slice of it (close-delimited
//! HTTP/1.0 bodies). No I/O.
use super::file::{write_tag, TAG_HEADER_LEN};
use std::ops::Range;

/// Bytes of a PreviousTagSize.
const BACK_POINTER_LEN: usize = 4;

/// The chunk-framed tag of one message, in one allocation.
pub fn chunked_tag(tag_type: u8, timestamp: u32, data: &[u8]) -> Vec<u8> {
    let tag_len = TAG_HEADER_LEN + data.len() + BACK_POINTER_LEN;
    let size = format!("{tag_len:x}\r\n");
    let mut out = Vec::with_capacity(size.len() + tag_len + 2);
    out.extend_from_slice(size.as_bytes());
    write_tag(tag_type, timestamp, data, &mut out);
    out.extend_from_slice(b"\r\n");
    out
}

/// Where the tag is inside a [`chunked_tag`] (None for anything else, e.g. empty).
pub fn tag_in_chunk(chunk: &[u8]) -> Option<Range<usize>> {
    let head = chunk.iter().take(10).position(|&b| b == b'\n')? + 1;
    let end = chunk.len().checked_sub(2)?;
    (head <= end).then_some(head..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::flv::{TagIter, TAG_VIDEO};

    #[test]
    fn the_chunk_holds_one_tag_and_its_size() {
        let data = vec![0x17u8; 300];
        let chunk = chunked_tag(TAG_VIDEO, 0x0102_0304, &data);
        assert!(chunk.starts_with(b"13b\r\n"), "{:?}", &chunk[..6]);
        assert!(chunk.ends_with(b"\r\n"));
        let range = tag_in_chunk(&chunk).unwrap();
        assert_eq!(range.len(), 0x13b);
        let tags: Vec<_> = TagIter::new(&chunk[range.clone()], 0).collect();
        assert_eq!(tags.len(), 1);
        let tag = tags[0].as_ref().unwrap();
        assert_eq!((tag.tag_type, tag.timestamp), (TAG_VIDEO, 0x0102_0304));
        assert_eq!(tag_in_chunk(b""), None);
    }
}
