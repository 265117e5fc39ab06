//! Chunk encoder: writes a whole message as a fmt-0 chunk followed by fmt-3 continuations.
//!
//! What it does: appends the chunk bytes of one message to a caller's buffer, reserving the
//! exact size once. What it never does: I/O, or depend on earlier messages (no header
//! compression), so its output for a message is the same on every connection.
//!
//! Call order: [`ChunkEncoder::new`] with the chunk size announced to the peer (after sending
//! Set Chunk Size), then [`ChunkEncoder::encode`] per message; [`ChunkEncoder::encoded_len`]
//! sizes buffers ahead of time.
use super::{MessageHeader, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE};
use bytes::BytesMut;

/// The largest chunk stream id a basic header can carry.
pub const MAX_CSID: u32 = 65599;

/// Writes messages as chunks of one outgoing chunk size.
///
/// Every message starts with a fmt-0 header (absolute timestamp), so the bytes of a message do
/// not depend on what was sent before on that connection: the same encoded bytes can be sent to
/// every player. Extended timestamps are repeated on fmt-3 continuation chunks.
#[derive(Debug, Clone, Copy)]
pub struct ChunkEncoder {
    chunk_size: u32,
}

impl ChunkEncoder {
    /// `chunk_size` is clamped to 1..=[`MAX_CHUNK_SIZE`], the range Set Chunk Size allows.
    pub fn new(chunk_size: u32) -> Self {
        ChunkEncoder {
            chunk_size: chunk_size.clamp(1, MAX_CHUNK_SIZE),
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends `payload` to `out` as chunks on chunk stream `csid`. `header.length` is ignored;
    /// the payload's length is written.
    ///
    /// `csid` must be in 2..=[`MAX_CSID`] (0 and 1 are not chunk stream ids, they select the
    /// longer basic headers) and `payload` shorter than 2^24 bytes; both are the caller's
    /// choice, not the peer's, and are checked in debug builds only.
    pub fn encode(&self, csid: u32, header: &MessageHeader, payload: &[u8], out: &mut BytesMut) {
        debug_assert!((2..=MAX_CSID).contains(&csid), "chunk stream id {csid}");
        debug_assert!(
            payload.len() <= 0xFF_FFFF,
            "message of {} bytes",
            payload.len()
        );
        out.reserve(self.encoded_len(csid, header.timestamp, payload.len()));

        let extended = header.timestamp >= EXTENDED_TIMESTAMP;
        let mut first = [0u8; super::decoder::MAX_HEADER_LEN];
        let mut n = write_basic_header(&mut first, 0, csid);
        let ts_field = header.timestamp.min(EXTENDED_TIMESTAMP).to_be_bytes();
        let length = (payload.len() as u32).to_be_bytes();
        let stream_id = header.stream_id.to_le_bytes();
        let fields = [
            ts_field[1],
            ts_field[2],
            ts_field[3],
            length[1],
            length[2],
            length[3],
            header.type_id,
            stream_id[0],
            stream_id[1],
            stream_id[2],
            stream_id[3],
        ];
        first[n..n + 11].copy_from_slice(&fields);
        n += 11;
        if extended {
            first[n..n + 4].copy_from_slice(&header.timestamp.to_be_bytes());
            n += 4;
        }
        out.extend_from_slice(&first[..n]);

        let mut chunks = payload.chunks(self.chunk_size as usize);
        let Some(head) = chunks.next() else {
            return;
        };
        out.extend_from_slice(head);

        let mut cont = [0u8; 7];
        let mut m = write_basic_header(&mut cont, 3, csid);
        if extended {
            cont[m..m + 4].copy_from_slice(&header.timestamp.to_be_bytes());
            m += 4;
        }
        let cont = &cont[..m];
        for chunk in chunks {
            out.extend_from_slice(cont);
            out.extend_from_slice(chunk);
        }
    }

    /// The number of bytes [`ChunkEncoder::encode`] writes for these arguments.
    pub fn encoded_len(&self, csid: u32, timestamp: u32, payload_len: usize) -> usize {
        let basic = basic_header_len(csid);
        let ext = if timestamp >= EXTENDED_TIMESTAMP {
            4
        } else {
            0
        };
        let chunks = payload_len.div_ceil(self.chunk_size as usize).max(1);
        basic + 11 + ext + payload_len + (chunks - 1) * (basic + ext)
    }
}

/// Bytes of the basic header for `csid`.
fn basic_header_len(csid: u32) -> usize {
    match csid {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

/// Writes the basic header for `fmt` and `csid` at the start of `buf`; returns its length.
fn write_basic_header(buf: &mut [u8], fmt: u8, csid: u32) -> usize {
    let fmt = fmt << 6;
    match csid {
        0..=63 => {
            buf[0] = fmt | csid as u8;
            1
        }
        64..=319 => {
            buf[0] = fmt;
            buf[1] = (csid - 64) as u8;
            2
        }
        _ => {
            let id = (csid - 64) as u16;
            buf[0] = fmt | 1;
            buf[1..3].copy_from_slice(&id.to_le_bytes());
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(timestamp: u32, type_id: u8, stream_id: u32) -> MessageHeader {
        MessageHeader {
            timestamp,
            length: 0,
            type_id,
            stream_id,
        }
    }

    #[test]
    fn spec_example_2_video_split_in_three_chunks() {
        // RTMP spec 5.3.2.2: a 307-byte video message on chunk stream 4 at chunk size 128.
        let enc = ChunkEncoder::new(128);
        let payload: Vec<u8> = (0..307).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        enc.encode(4, &header(1000, 9, 12346), &payload, &mut out);
        let mut want = vec![
            0x04, 0x00, 0x03, 0xE8, 0x00, 0x01, 0x33, 0x09, 0x3A, 0x30, 0, 0,
        ];
        want.extend_from_slice(&payload[..128]);
        want.push(0xC4);
        want.extend_from_slice(&payload[128..256]);
        want.push(0xC4);
        want.extend_from_slice(&payload[256..]);
        assert_eq!(&out[..], &want[..]);
        assert_eq!(enc.encoded_len(4, 1000, 307), want.len());
    }

    #[test]
    fn basic_header_forms() {
        let enc = ChunkEncoder::new(1);
        for (csid, basic) in [
            (2u32, vec![0x02]),
            (63, vec![0x3F]),
            (64, vec![0x00, 0x00]),
            (319, vec![0x00, 0xFF]),
            (320, vec![0x01, 0x00, 0x01]),
            (65599, vec![0x01, 0xFF, 0xFF]),
        ] {
            let mut out = BytesMut::new();
            enc.encode(csid, &header(5, 8, 1), &[0xAA, 0xBB], &mut out);
            let b = basic.len();
            assert_eq!(&out[..b], &basic[..], "csid {csid}");
            let mut cont = basic.clone();
            cont[0] |= 0xC0;
            assert_eq!(&out[b + 11 + 1..b + 11 + 1 + b], &cont[..], "csid {csid}");
            assert_eq!(out.len(), enc.encoded_len(csid, 5, 2));
        }
    }

    #[test]
    fn extended_timestamp_repeated_on_continuations() {
        let enc = ChunkEncoder::new(2);
        let mut out = BytesMut::new();
        enc.encode(3, &header(0x0100_0000, 8, 1), &[1, 2, 3], &mut out);
        let want = [
            0x03, 0xFF, 0xFF, 0xFF, 0, 0, 3, 8, 1, 0, 0, 0, // fmt 0
            0x01, 0x00, 0x00, 0x00, 1, 2, // extended timestamp, first chunk
            0xC3, 0x01, 0x00, 0x00, 0x00, 3, // fmt 3 repeats it
        ];
        assert_eq!(&out[..], &want[..]);
        assert_eq!(enc.encoded_len(3, 0x0100_0000, 3), want.len());
    }

    #[test]
    fn timestamp_0xffffff_uses_the_extended_field() {
        let enc = ChunkEncoder::new(128);
        let mut out = BytesMut::new();
        enc.encode(3, &header(0xFF_FFFF, 8, 1), &[], &mut out);
        assert_eq!(&out[1..4], &[0xFF, 0xFF, 0xFF]);
        assert_eq!(&out[12..16], &[0x00, 0xFF, 0xFF, 0xFF]);
        assert_eq!(out.len(), enc.encoded_len(3, 0xFF_FFFF, 0));
    }

    #[test]
    fn encoded_len_is_exact() {
        for cs in [1u32, 2, 127, 128, 4096] {
            let enc = ChunkEncoder::new(cs);
            for len in [0usize, 1, 127, 128, 129, 256, 257, 5000] {
                for (csid, ts) in [(3u32, 0u32), (100, 0xFF_FFFF), (1000, 7)] {
                    let payload = vec![0x5A; len];
                    let mut out = BytesMut::new();
                    enc.encode(csid, &header(ts, 9, 1), &payload, &mut out);
                    assert_eq!(
                        out.len(),
                        enc.encoded_len(csid, ts, len),
                        "{cs} {len} {csid}"
                    );
                }
            }
        }
    }

    #[test]
    fn chunk_size_is_clamped() {
        assert_eq!(ChunkEncoder::new(0).chunk_size(), 1);
        assert_eq!(ChunkEncoder::new(u32::MAX).chunk_size(), MAX_CHUNK_SIZE);
    }
}
