//! Turns a publisher's messages into [`Frame`]s: timestamps rebased so a stream's timeline stays
//! monotonic across publisher sessions, FLV facts read once, and the message encoded once as
//! the outgoing RTMP chunks every player receives.
//!
//! Each message also gets its legacy form (see [`crate::protocol::flv::legacy`]): the frame
//! legacy players get, encoded here once per stream, and only when it differs from the message
//! (a plain legacy stream costs nothing more than before).
//!
//! Sans-IO. Call `build` for every media message of the publisher, in arrival order.
use super::frame::{ConfigKind, Frame, MediaKind};
use super::variants::{Built, LegacyFrame};
use crate::protocol::chunk::{ChunkEncoder, MessageHeader};
use crate::protocol::flv;
use crate::protocol::flv::chunked::chunked_tag;
use crate::protocol::flv::legacy::{legacy_form, LegacyForm};
use crate::protocol::flv::tracks::{tracks, AvKind};
use crate::protocol::flv::{AudioPacketType, VideoPacketType};
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
    /// Also encode each frame's FLV tag form (the node serves HTTP-FLV).
    flv: bool,
}

impl FrameBuilder {
    pub fn new(chunk_size: u32, timeline: Timeline) -> Self {
        FrameBuilder {
            encoder: ChunkEncoder::new(chunk_size),
            timeline,
            offset: None,
            last: None,
            flv: false,
        }
    }

    /// Also encode every frame as an FLV tag ([`Frame::flv`]), once, for HTTP-FLV players.
    pub fn with_flv_tags(mut self, on: bool) -> Self {
        self.flv = on;
        self
    }

    /// The newest timestamp handed out, if any frame was built.
    pub fn last_timestamp(&self) -> Option<u32> {
        self.last
    }

    /// Builds the frame of one audio (8), video (9) or data (18) message, and its legacy form.
    /// Metadata payloads (already stripped of `@setDataFrame`) are data frames with
    /// `sequence_header` set, as they belong to what a joining player needs first; so are video
    /// Metadata (HDR/colour) and audio MultichannelConfig messages, cached per track.
    ///
    /// A video keyframe opens a GOP only when the message carries the default track
    /// ([`DEFAULT_TRACK`]): both variants share GOP boundaries, and legacy players see only it.
    pub fn build(&mut self, type_id: u8, timestamp: u32, payload: &[u8], metadata: bool) -> Built {
        let timestamp = self.rebase(timestamp);
        let f = facts(type_id, payload, metadata);
        let frame = self
            .encode(f.csid, type_id, timestamp, payload)
            .with_facts(&f);
        let av = match f.kind {
            MediaKind::Video => AvKind::Video,
            MediaKind::Audio => AvKind::Audio,
            MediaKind::Data => return Built::same(frame),
        };
        let legacy = match legacy_form(av, payload, DEFAULT_TRACK) {
            LegacyForm::Same => LegacyFrame::Same,
            LegacyForm::Drop => LegacyFrame::Drop,
            LegacyForm::Rewrite { head, body } => {
                let payload = [head.as_slice(), body].concat();
                let mut legacy = self
                    .encode(f.csid, type_id, timestamp, &payload)
                    .with_facts(&f);
                legacy.track = DEFAULT_TRACK;
                LegacyFrame::Own(legacy)
            }
        };
        Built { frame, legacy }
    }

    fn encode(&mut self, csid: u32, type_id: u8, timestamp: u32, payload: &[u8]) -> Frame {
        let header = MessageHeader {
            timestamp,
            length: payload.len() as u32,
            type_id,
            stream_id: MEDIA_STREAM_ID,
        };
        let mut wire =
            BytesMut::with_capacity(self.encoder.encoded_len(csid, timestamp, payload.len()));
        self.encoder.encode(csid, &header, payload, &mut wire);
        let mut frame = Frame::new(MediaKind::Data, timestamp, false, false, wire.freeze());
        if self.flv {
            frame.flv = chunked_tag(type_id, timestamp, payload).into();
        }
        frame
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

/// The track legacy players get and GOPs are cut on: track 0, which is also what every
/// message without the Multitrack wrapper is.
pub const DEFAULT_TRACK: u8 = 0;

/// What `build` learns from one message's header.
struct Facts {
    kind: MediaKind,
    csid: u32,
    keyframe: bool,
    config: Option<ConfigKind>,
    track: u8,
}

impl Frame {
    fn with_facts(mut self, f: &Facts) -> Frame {
        self.kind = f.kind;
        self.keyframe = f.keyframe;
        self.sequence_header = f.config.is_some();
        self.with_slot(f.track, f.config.unwrap_or_default())
    }
}

fn facts(type_id: u8, payload: &[u8], metadata: bool) -> Facts {
    let (kind, av, csid) = match type_id {
        message::VIDEO => (MediaKind::Video, AvKind::Video, CSID_VIDEO),
        message::AUDIO => (MediaKind::Audio, AvKind::Audio, CSID_AUDIO),
        _ => {
            return Facts {
                kind: MediaKind::Data,
                csid: CSID_DATA,
                keyframe: false,
                config: metadata.then_some(ConfigKind::SequenceStart),
                track: 0,
            }
        }
    };
    let view = tracks(av, payload);
    let track = view.and_then(|v| v.iter().next()).map_or(0, |t| t.id);
    let has_default = view.is_none_or(|v| v.find(DEFAULT_TRACK).is_some());
    let (keyframe, config) = match kind {
        MediaKind::Video => {
            let Some(h) = flv::video_header(payload) else {
                return Facts {
                    kind,
                    csid,
                    keyframe: false,
                    config: None,
                    track,
                };
            };
            let key = flv::video_facts(payload).is_some_and(|f| f.keyframe) && has_default;
            let config = match h.packet_type {
                VideoPacketType::SequenceStart | VideoPacketType::Mpeg2TsSequenceStart => {
                    Some(ConfigKind::SequenceStart)
                }
                VideoPacketType::Metadata => Some(ConfigKind::VideoMetadata),
                _ => None,
            };
            (key, config)
        }
        _ => {
            let config = match flv::audio_header(payload).map(|h| h.packet_type) {
                Some(AudioPacketType::SequenceStart) => Some(ConfigKind::SequenceStart),
                Some(AudioPacketType::MultichannelConfig) => Some(ConfigKind::Multichannel),
                _ => None,
            };
            (false, config)
        }
    };
    Facts {
        kind,
        csid,
        keyframe,
        config,
        track,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chunk::ChunkDecoder;
    use crate::protocol::flv::tracks::tests::{FF9_AAC_T1_CHANNELS, FF9_AAC_T1_SEQ, FF9_AV1_COLOR};

    const AVC_KEY: &[u8] = &[0x17, 0x01, 0, 0, 0, 0xAA, 0xBB];
    const AVC_HEADER: &[u8] = &[0x17, 0x00, 0, 0, 0, 0x01, 0x64];
    const AAC_HEADER: &[u8] = &[0xAF, 0x00, 0x12, 0x10];

    #[test]
    fn first_session_keeps_publisher_timestamps() {
        let mut b = FrameBuilder::new(4096, Timeline::Publisher);
        assert_eq!(b.build(9, 1000, AVC_KEY, false).frame.timestamp, 1000);
        assert_eq!(b.build(8, 990, AAC_HEADER, false).frame.timestamp, 990);
        assert_eq!(b.last_timestamp(), Some(1000));
    }

    #[test]
    fn reconnect_continues_after_the_previous_timeline() {
        let mut b = FrameBuilder::new(4096, Timeline::ContinueAfter(50_000));
        assert_eq!(b.build(9, 0, AVC_KEY, false).frame.timestamp, 50_001);
        assert_eq!(b.build(8, 40, AAC_HEADER, false).frame.timestamp, 50_041);
    }

    #[test]
    fn continuation_across_the_32_bit_wrap_stays_monotonic() {
        let mut b = FrameBuilder::new(4096, Timeline::ContinueAfter(u32::MAX - 10));
        let first = b.build(9, 5, AVC_KEY, false).frame.timestamp;
        let second = b.build(9, 45, AVC_KEY, false).frame.timestamp;
        assert_eq!(first, u32::MAX - 9);
        assert_eq!(second, 30);
        assert_eq!(b.last_timestamp(), Some(30));
    }

    #[test]
    fn facts_and_wire_bytes() {
        let mut b = FrameBuilder::new(4096, Timeline::Publisher);
        let header = b.build(9, 0, AVC_HEADER, false).frame;
        assert!(header.sequence_header && !header.keyframe);
        let key = b.build(9, 40, AVC_KEY, false).frame;
        assert!(key.keyframe && !key.sequence_header);
        assert!(b.build(8, 0, AAC_HEADER, false).frame.sequence_header);
        let meta = b.build(18, 0, &[2, 0, 1, b'x'], true).frame;
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

    fn payload_of(f: &Frame) -> Vec<u8> {
        let mut decoder = ChunkDecoder::new(1 << 20, 8);
        decoder
            .decode(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0])
            .unwrap();
        let (_, msg) = decoder.decode(&f.wire).unwrap();
        msg.unwrap().payload.to_vec()
    }

    #[test]
    fn multitrack_configs_are_per_track_and_legacy_forms_are_built_once() {
        let mut b = FrameBuilder::new(4096, Timeline::Publisher);
        // Legacy messages: the same frame for legacy players.
        assert!(matches!(
            b.build(9, 0, AVC_HEADER, false).legacy,
            LegacyFrame::Same
        ));
        // FFmpeg 9's second AAC track: cached as track 1, dropped for legacy players.
        let t1 = b.build(8, 0, FF9_AAC_T1_SEQ, false);
        assert!(t1.frame.sequence_header);
        assert_eq!(
            (t1.frame.track, t1.frame.config),
            (1, ConfigKind::SequenceStart)
        );
        assert!(matches!(t1.legacy, LegacyFrame::Drop));
        let ch = b.build(8, 0, FF9_AAC_T1_CHANNELS, false).frame;
        assert_eq!((ch.track, ch.config), (1, ConfigKind::Multichannel));
        assert!(ch.sequence_header);
        // HDR/colour metadata is configuration too.
        let meta = b.build(9, 0, FF9_AV1_COLOR, false);
        assert_eq!(meta.frame.config, ConfigKind::VideoMetadata);
        assert!(meta.frame.sequence_header && !meta.frame.keyframe);
        assert!(matches!(meta.legacy, LegacyFrame::Same));
        // Enhanced avc1 keyframe: a legacy codec-7 frame of its own, same facts.
        let x = [0x93, b'a', b'v', b'c', b'1', 0x65, 0x88];
        let built = b.build(9, 40, &x, false);
        assert!(built.frame.keyframe);
        let LegacyFrame::Own(legacy) = built.legacy else {
            panic!("no legacy frame");
        };
        assert!(legacy.keyframe && legacy.timestamp == 40);
        assert_eq!(payload_of(&legacy), [0x17, 0x01, 0, 0, 0, 0x65, 0x88]);
        assert_eq!(payload_of(&built.frame), x);
        // A keyframe of track 1 only is no GOP start.
        let t1_key = [0x96, 0x03, b'a', b'v', b'c', b'1', 0x01, 0x65];
        assert!(!b.build(9, 80, &t1_key, false).frame.keyframe);
    }
}
