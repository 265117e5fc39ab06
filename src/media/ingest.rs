//! Turns a publisher's messages into [`Frame`]s: timestamps rebased so a stream's timeline stays
//! monotonic across publisher sessions, FLV facts read once, and the message encoded once as
//! the outgoing RTMP chunks every player receives.
//!
//! Sans-IO. Call `build` for every media message of the publisher, in arrival order.
use super::frame::{Frame, MediaKind};
use crate::protocol::chunk::{ChunkEncoder, MessageHeader};
use crate::protocol::flv;
use crate::protocol::message;
use crate::session::{CSID_AUDIO, CSID_DATA, CSID_VIDEO, MEDIA_STREAM_ID};
use bytes::BytesMut;

/// Where a new publisher session's timeline starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// First session of the stream: keep the publisher's own timestamps (A/V sync as sent).
    Publisher,
    /// The stream had a publisher before and players stayed: continue just after this
    /// timestamp, whatever the new publisher's clock says.
    ContinueAfter(u32),
}

/// Per publisher session: rebases timestamps and encodes frames.
pub struct FrameBuilder {
    encoder: ChunkEncoder,
    timeline: Timeline,
    /// Added (wrapping) to every incoming timestamp; set by the first message.
    offset: Option<u32>,
    /// Newest outgoing timestamp, for the next session's [`Timeline::ContinueAfter`].
    last: Option<u32>,
}

impl FrameBuilder {
    pub fn new(chunk_size: u32, timeline: Timeline) -> Self {
        FrameBuilder {
            encoder: ChunkEncoder::new(chunk_size),
            timeline,
            offset: None,
            last: None,
        }
    }

    /// The newest timestamp handed out, if any frame was built.
    pub fn last_timestamp(&self) -> Option<u32> {
        self.last
    }

    /// Builds the frame of one audio (8), video (9) or data (18) message. Metadata payloads
    /// (already stripped of `@setDataFrame`) are data frames with `sequence_header` set, as they
    /// belong to what a joining player needs first.
    pub fn build(&mut self, type_id: u8, timestamp: u32, payload: &[u8], metadata: bool) -> Frame {
        let timestamp = self.rebase(timestamp);
        let (kind, csid, keyframe, sequence_header) = match type_id {
            message::VIDEO => {
                let facts = flv::video_facts(payload);
                let key = facts.is_some_and(|f| f.keyframe);
                let header = facts.is_some_and(|f| f.sequence_header);
                (MediaKind::Video, CSID_VIDEO, key, header)
            }
            message::AUDIO => {
                let header = flv::audio_facts(payload).is_some_and(|f| f.sequence_header);
                (MediaKind::Audio, CSID_AUDIO, false, header)
            }
            _ => (MediaKind::Data, CSID_DATA, false, metadata),
        };
        let header = MessageHeader {
            timestamp,
            length: payload.len() as u32,
            type_id,
            stream_id: MEDIA_STREAM_ID,
        };
        let mut wire =
            BytesMut::with_capacity(self.encoder.encoded_len(csid, timestamp, payload.len()));
        self.encoder.encode(csid, &header, payload, &mut wire);
        Frame {
            kind,
            timestamp,
            keyframe,
            sequence_header,
            wire: wire.freeze(),
            arrival: None,
        }
    }

    fn rebase(&mut self, timestamp: u32) -> u32 {
        let offset = *self.offset.get_or_insert_with(|| match self.timeline {
            Timeline::Publisher => 0,
            // One millisecond after the last frame players saw: monotonic, no visible gap.
            Timeline::ContinueAfter(last) => last.wrapping_add(1).wrapping_sub(timestamp),
        });
        let out = timestamp.wrapping_add(offset);
        // Timestamps wrap at 2^32: "newer" is a positive wrapping difference.
        match self.last {
            Some(last) if (out.wrapping_sub(last) as i32) <= 0 => {}
            _ => self.last = Some(out),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chunk::ChunkDecoder;

    const AVC_KEY: &[u8] = &[0x17, 0x01, 0, 0, 0, 0xAA, 0xBB];
    const AVC_HEADER: &[u8] = &[0x17, 0x00, 0, 0, 0, 0x01, 0x64];
    const AAC_HEADER: &[u8] = &[0xAF, 0x00, 0x12, 0x10];

    #[test]
    fn first_session_keeps_publisher_timestamps() {
        let mut b = FrameBuilder::new(4096, Timeline::Publisher);
        assert_eq!(b.build(9, 1000, AVC_KEY, false).timestamp, 1000);
        assert_eq!(b.build(8, 990, AAC_HEADER, false).timestamp, 990);
        assert_eq!(b.last_timestamp(), Some(1000));
    }

    #[test]
    fn reconnect_continues_after_the_previous_timeline() {
        let mut b = FrameBuilder::new(4096, Timeline::ContinueAfter(50_000));
        assert_eq!(b.build(9, 0, AVC_KEY, false).timestamp, 50_001);
        assert_eq!(b.build(8, 40, AAC_HEADER, false).timestamp, 50_041);
    }

    #[test]
    fn continuation_across_the_32_bit_wrap_stays_monotonic() {
        let mut b = FrameBuilder::new(4096, Timeline::ContinueAfter(u32::MAX - 10));
        let first = b.build(9, 5, AVC_KEY, false).timestamp;
        let second = b.build(9, 45, AVC_KEY, false).timestamp;
        assert_eq!(first, u32::MAX - 9);
        assert_eq!(second, 30);
        assert_eq!(b.last_timestamp(), Some(30));
    }

    #[test]
    fn facts_and_wire_bytes() {
        let mut b = FrameBuilder::new(4096, Timeline::Publisher);
        let header = b.build(9, 0, AVC_HEADER, false);
        assert!(header.sequence_header && !header.keyframe);
        let key = b.build(9, 40, AVC_KEY, false);
        assert!(key.keyframe && !key.sequence_header);
        assert!(b.build(8, 0, AAC_HEADER, false).sequence_header);
        let meta = b.build(18, 0, &[2, 0, 1, b'x'], true);
        assert!(meta.sequence_header && meta.kind == MediaKind::Data);

        let mut decoder = ChunkDecoder::new(1 << 20, 8);
        decoder
            .decode(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0])
            .unwrap();
        let (_, msg) = decoder.decode(&key.wire).unwrap();
        let msg = msg.unwrap();
        assert_eq!(msg.header.timestamp, 40);
        assert_eq!(msg.header.stream_id, MEDIA_STREAM_ID);
        assert_eq!(&msg.payload[..], AVC_KEY);
    }
}
