//! Video message headers: the legacy FLV VideoTagHeader and the Enhanced RTMP (v1, v2)
//! ExVideoTagHeader with FourCC, ModEx blocks and multitrack.
//!
//! [`video_header`] reads the header fields; [`video_facts`] reduces them to what the media hub
//! needs (codec, keyframe, sequence header, command frame). Neither looks at the coded picture
//! data, copies, nor panics: a payload that ends early yields what was seen, with packet type
//! [`VideoPacketType::Truncated`] when the header itself is incomplete.
use super::{read_mod_ex, MultitrackType, Reader};

/// Legacy codec id of AVC.
const CODEC_AVC: u8 = 7;
/// Codec id 12 is not in any Adobe spec but is what many encoders and CDNs use for HEVC in
/// legacy FLV (before Enhanced RTMP existed), with the AVC packet-type layout.
const CODEC_LEGACY_HEVC: u8 = 12;

const FRAME_KEY: u8 = 1;
const FRAME_COMMAND: u8 = 5;

const PT_SEQUENCE_START: u8 = 0;
const PT_CODED_FRAMES: u8 = 1;
const PT_SEQUENCE_END: u8 = 2;
const PT_CODED_FRAMES_X: u8 = 3;
const PT_METADATA: u8 = 4;
const PT_MPEG2TS_SEQUENCE_START: u8 = 5;
const PT_MULTITRACK: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// Legacy FLV codec id 7, or the Enhanced RTMP v2 FourCC `avc1`.
    Avc,
    /// Enhanced RTMP FourCC `hvc1`.
    Hevc,
    /// Enhanced RTMP FourCC `av01`.
    Av1,
    /// Enhanced RTMP FourCC `vp09`.
    Vp9,
    /// Another legacy codec id (2 Sorenson H.263, 4 VP6, 12 HEVC by convention, ...).
    Legacy(u8),
    /// Another Enhanced RTMP FourCC (`vp08`, ...).
    FourCc([u8; 4]),
}

/// The codec reported when an ex-header carries no FourCC (command frames) or ends before it.
pub const UNKNOWN_VIDEO_CODEC: VideoCodec = VideoCodec::FourCc([0; 4]);

impl VideoCodec {
    fn from_fourcc(fourcc: [u8; 4]) -> Self {
        match &fourcc {
            b"avc1" => VideoCodec::Avc,
            b"hvc1" => VideoCodec::Hevc,
            b"av01" => VideoCodec::Av1,
            b"vp09" => VideoCodec::Vp9,
            _ => VideoCodec::FourCc(fourcc),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFacts {
    pub codec: VideoCodec,
    /// A keyframe (frame type 1) that carries coded data (not a sequence header).
    pub keyframe: bool,
    /// AVC sequence header (AVCPacketType 0) or Enhanced RTMP SequenceStart
    /// (or MPEG2TSSequenceStart, its mutually exclusive alternative).
    pub sequence_header: bool,
    /// Frame type 5: video info/command frame, not a picture.
    pub command_frame: bool,
    /// Enhanced RTMP ex-header in use.
    pub ex_header: bool,
}

/// What the packet carries: Enhanced RTMP VideoPacketType, or the legacy AVCPacketType mapped
/// onto it (0 sequence header, 1 NALU, 2 end of sequence; other legacy codecs: coded frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPacketType {
    SequenceStart,
    /// Coded frames; for AVC/HEVC a composition time offset precedes the data.
    CodedFrames,
    SequenceEnd,
    /// Coded frames with an implicit zero composition time offset.
    CodedFramesX,
    /// AMF-encoded video metadata (e.g. HDR colour info); the frame type is meaningless.
    Metadata,
    Mpeg2TsSequenceStart,
    /// Frame type 5 (not Metadata): a command byte instead of a picture.
    Command,
    /// A reserved packet type, or Multitrack/ModEx where the spec forbids it.
    Other(u8),
    /// The payload ended before the packet type or the FourCC could be read.
    Truncated,
}

/// The (Ex)VideoTagHeader fields of one video message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoHeader {
    /// 1 key, 2 inter, 3 disposable inter, 4 generated key, 5 info/command.
    pub frame_type: u8,
    pub ex_header: bool,
    /// [`UNKNOWN_VIDEO_CODEC`] when an ex-header has no FourCC.
    pub codec: VideoCodec,
    pub packet_type: VideoPacketType,
    /// The command byte of a command frame (0 start of seek, 1 end of seek).
    pub command: Option<u8>,
    /// Set when the message is an Enhanced RTMP v2 multitrack message. For
    /// `ManyTracksManyCodecs`, `codec` is the codec of the first track.
    pub multitrack: Option<MultitrackType>,
    /// Track id of the first track of a multitrack message.
    pub track_id: Option<u8>,
    /// ModEx TimestampOffsetNano: nanoseconds to add to the message timestamp.
    pub nano_offset: Option<u32>,
}

/// Reads the header of a video message payload; None for an empty payload.
pub fn video_header(payload: &[u8]) -> Option<VideoHeader> {
    let mut r = Reader::new(payload);
    let first = r.u8()?;
    if first & 0x80 == 0 {
        Some(legacy_header(first, &mut r))
    } else {
        Some(ex_header(first, &mut r))
    }
}

/// Facts of a video message payload; None for an empty payload.
pub fn video_facts(payload: &[u8]) -> Option<VideoFacts> {
    let h = video_header(payload)?;
    let coded = matches!(
        h.packet_type,
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX
    );
    Some(VideoFacts {
        codec: h.codec,
        // Frame type 4 (generated keyframe) is reserved for servers that synthesise seek points;
        // encoders never send it, so only a real keyframe opens a GOP.
        keyframe: h.frame_type == FRAME_KEY && coded,
        sequence_header: matches!(
            h.packet_type,
            VideoPacketType::SequenceStart | VideoPacketType::Mpeg2TsSequenceStart
        ),
        command_frame: h.packet_type == VideoPacketType::Command,
        ex_header: h.ex_header,
    })
}

fn legacy_header(first: u8, r: &mut Reader<'_>) -> VideoHeader {
    let frame_type = first >> 4;
    let codec_id = first & 0x0f;
    let mut h = VideoHeader {
        frame_type,
        ex_header: false,
        codec: if codec_id == CODEC_AVC {
            VideoCodec::Avc
        } else {
            VideoCodec::Legacy(codec_id)
        },
        packet_type: VideoPacketType::CodedFrames,
        command: None,
        multitrack: None,
        track_id: None,
        nano_offset: None,
    };
    if frame_type == FRAME_COMMAND {
        // The byte after the header is the command, even for AVC: `57 00` is "start of seek",
        // not a sequence header.
        h.packet_type = VideoPacketType::Command;
        h.command = r.u8();
    } else if codec_id == CODEC_AVC || codec_id == CODEC_LEGACY_HEVC {
        h.packet_type = match r.u8() {
            None => VideoPacketType::Truncated,
            Some(0) => VideoPacketType::SequenceStart,
            Some(1) => VideoPacketType::CodedFrames,
            Some(2) => VideoPacketType::SequenceEnd,
            Some(other) => VideoPacketType::Other(other),
        };
    }
    h
}

fn ex_header(first: u8, r: &mut Reader<'_>) -> VideoHeader {
    let frame_type = (first >> 4) & 0x07;
    let mut h = VideoHeader {
        frame_type,
        ex_header: true,
        codec: UNKNOWN_VIDEO_CODEC,
        packet_type: VideoPacketType::Truncated,
        command: None,
        multitrack: None,
        track_id: None,
        nano_offset: None,
    };
    let Some(mod_ex) = read_mod_ex(r, first & 0x0f) else {
        return h;
    };
    h.nano_offset = mod_ex.nano_offset;
    let mut packet_type = mod_ex.packet_type;

    // Spec order matters: a command frame has no FourCC at all, so it is recognised before
    // anything else is read (Metadata reuses frame type 5 and does carry a FourCC).
    if frame_type == FRAME_COMMAND && packet_type != PT_METADATA {
        h.packet_type = VideoPacketType::Command;
        h.command = r.u8();
        return h;
    }
    if packet_type == PT_MULTITRACK {
        let Some(b) = r.u8() else {
            return h;
        };
        h.multitrack = Some(MultitrackType::from_nibble(b >> 4));
        // Multitrack or ModEx again here is invalid; the mapping below reports it as Other.
        packet_type = b & 0x0f;
    }
    // For every multitrack type the next four bytes are a FourCC: the shared one, or the first
    // track's own for ManyTracksManyCodecs.
    let Some(fourcc) = r.fourcc() else {
        return h;
    };
    h.codec = VideoCodec::from_fourcc(fourcc);
    if h.multitrack.is_some() {
        h.track_id = r.u8();
    }
    h.packet_type = match packet_type {
        PT_SEQUENCE_START => VideoPacketType::SequenceStart,
        PT_CODED_FRAMES => VideoPacketType::CodedFrames,
        PT_SEQUENCE_END => VideoPacketType::SequenceEnd,
        PT_CODED_FRAMES_X => VideoPacketType::CodedFramesX,
        PT_METADATA => VideoPacketType::Metadata,
        PT_MPEG2TS_SEQUENCE_START => VideoPacketType::Mpeg2TsSequenceStart,
        other => VideoPacketType::Other(other),
    };
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AVC sequence header as FFmpeg/libx264 sends it: High profile level 3.1,
    /// AVCDecoderConfigurationRecord with one SPS (1280x720) and one PPS.
    const AVC_SEQ_HEADER: &[u8] = &[
        0x17, 0x00, 0x00, 0x00, 0x00, // key + AVC, AVCPacketType 0, composition time 0
        0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, // version, High, level 3.1, 1 SPS
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60, // SPS
        0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, // 1 PPS
    ];
    /// IDR picture: NALU packet, composition time 0x50, one 5-byte IDR NAL unit.
    const AVC_KEYFRAME: &[u8] = &[
        0x17, 0x01, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x05, 0x65, 0x88, 0x84, 0x00, 0x33,
    ];
    const AVC_INTER: &[u8] = &[
        0x27, 0x01, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x04, 0x41, 0x9a, 0x21, 0x6c,
    ];
    const AVC_END_OF_SEQUENCE: &[u8] = &[0x17, 0x02, 0x00, 0x00, 0x00];

    /// Enhanced HEVC SequenceStart (frame type 1, packet type 0) and the start of an
    /// HEVCDecoderConfigurationRecord (Main profile).
    const HEVC_SEQ_START: &[u8] = &[
        0x90, b'h', b'v', b'c', b'1', 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x5d, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03,
    ];
    /// HEVC keyframe, CodedFramesX (no composition time): one IDR_W_RADL NAL unit.
    const HEVC_KEY_X: &[u8] = &[
        0x93, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x04, 0x26, 0x01, 0xaf, 0x06,
    ];
    /// HEVC inter frame, CodedFrames with composition time.
    const HEVC_INTER: &[u8] = &[
        0xa1, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x03, 0x02, 0x01, 0xd0,
    ];
    /// AV1 SequenceStart with an AV1CodecConfigurationRecord (marker+version 0x81).
    const AV1_SEQ_START: &[u8] = &[0x90, b'a', b'v', b'0', b'1', 0x81, 0x08, 0x0c, 0x00];
    /// AV1 key and inter frames: temporal delimiter OBU then frame data.
    const AV1_KEY: &[u8] = &[0x91, b'a', b'v', b'0', b'1', 0x12, 0x00, 0x0a, 0x0b, 0x00];
    const AV1_INTER: &[u8] = &[0xa1, b'a', b'v', b'0', b'1', 0x12, 0x00, 0x32, 0x10, 0x12];
    /// VP9 SequenceStart (vpcC record), keyframe and inter frame.
    const VP9_SEQ_START: &[u8] = &[
        0x90, b'v', b'p', b'0', b'9', 0x01, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x80, 0x02,
    ];
    const VP9_KEY: &[u8] = &[0x91, b'v', b'p', b'0', b'9', 0x82, 0x49, 0x83, 0x42, 0x00];
    const VP9_INTER: &[u8] = &[0xa1, b'v', b'p', b'0', b'9', 0x86, 0x00, 0x40, 0x92, 0x88];

    fn facts(p: &[u8]) -> VideoFacts {
        video_facts(p).expect("non-empty payload")
    }

    fn vf(codec: VideoCodec, keyframe: bool, seq: bool, cmd: bool, ex: bool) -> VideoFacts {
        VideoFacts {
            codec,
            keyframe,
            sequence_header: seq,
            command_frame: cmd,
            ex_header: ex,
        }
    }

    #[test]
    fn legacy_avc() {
        use VideoCodec::Avc;
        assert_eq!(facts(AVC_SEQ_HEADER), vf(Avc, false, true, false, false));
        assert_eq!(facts(AVC_KEYFRAME), vf(Avc, true, false, false, false));
        assert_eq!(facts(AVC_INTER), vf(Avc, false, false, false, false));
        assert_eq!(
            facts(AVC_END_OF_SEQUENCE),
            vf(Avc, false, false, false, false)
        );
        let h = video_header(AVC_END_OF_SEQUENCE).unwrap();
        assert_eq!(h.packet_type, VideoPacketType::SequenceEnd);
    }

    #[test]
    fn legacy_other_codecs() {
        // VP6 keyframe, H.263 disposable inter frame, screen video inter frame.
        assert_eq!(
            facts(&[0x14, 0x00, 0x2c]),
            vf(VideoCodec::Legacy(4), true, false, false, false)
        );
        assert_eq!(
            facts(&[0x32, 0x00]),
            vf(VideoCodec::Legacy(2), false, false, false, false)
        );
        assert_eq!(
            facts(&[0x23]),
            vf(VideoCodec::Legacy(3), false, false, false, false)
        );
        // Codec id 12 (HEVC by convention) uses the AVC packet types.
        assert_eq!(
            facts(&[0x1c, 0x00, 0, 0, 0, 1]),
            vf(VideoCodec::Legacy(12), false, true, false, false)
        );
        assert_eq!(
            facts(&[0x1c, 0x01, 0, 0, 0]),
            vf(VideoCodec::Legacy(12), true, false, false, false)
        );
        // A generated keyframe is not a GOP start.
        assert!(!facts(&[0x47, 0x01, 0, 0, 0]).keyframe);
    }

    #[test]
    fn legacy_command_frames() {
        let h = video_header(&[0x50, 0x00]).unwrap();
        assert_eq!(h.packet_type, VideoPacketType::Command);
        assert_eq!(h.command, Some(0));
        assert_eq!(
            facts(&[0x50, 0x00]),
            vf(VideoCodec::Legacy(0), false, false, true, false)
        );
        // AVC command "start of seek": the 0 is a command, not AVCPacketType 0.
        assert_eq!(
            facts(&[0x57, 0x00]),
            vf(VideoCodec::Avc, false, false, true, false)
        );
        assert_eq!(video_header(&[0x57, 0x01]).unwrap().command, Some(1));
        assert_eq!(video_header(&[0x57]).unwrap().command, None);
        assert!(facts(&[0x57]).command_frame);
    }

    #[test]
    fn enhanced_hevc() {
        use VideoCodec::Hevc;
        assert_eq!(facts(HEVC_SEQ_START), vf(Hevc, false, true, false, true));
        assert_eq!(facts(HEVC_KEY_X), vf(Hevc, true, false, false, true));
        assert_eq!(facts(HEVC_INTER), vf(Hevc, false, false, false, true));
        let end = [0x92, b'h', b'v', b'c', b'1'];
        assert_eq!(facts(&end), vf(Hevc, false, false, false, true));
        assert_eq!(
            video_header(&end).unwrap().packet_type,
            VideoPacketType::SequenceEnd
        );
        let mpeg2ts = [0x95, b'h', b'v', b'c', b'1', 0x05, 0x04];
        assert!(facts(&mpeg2ts).sequence_header);
    }

    #[test]
    fn enhanced_av1_vp9_avc_vp8() {
        use VideoCodec::{Av1, Avc, Vp9};
        assert_eq!(facts(AV1_SEQ_START), vf(Av1, false, true, false, true));
        assert_eq!(facts(AV1_KEY), vf(Av1, true, false, false, true));
        assert_eq!(facts(AV1_INTER), vf(Av1, false, false, false, true));
        assert_eq!(facts(VP9_SEQ_START), vf(Vp9, false, true, false, true));
        assert_eq!(facts(VP9_KEY), vf(Vp9, true, false, false, true));
        assert_eq!(facts(VP9_INTER), vf(Vp9, false, false, false, true));
        // v2 signals AVC by FourCC too.
        let avc_x = [
            0x93, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x02, 0x65, 0x88,
        ];
        assert_eq!(facts(&avc_x), vf(Avc, true, false, false, true));
        let vp8 = [0x91, b'v', b'p', b'0', b'8', 0x10, 0x02, 0x00];
        assert_eq!(
            facts(&vp8),
            vf(VideoCodec::FourCc(*b"vp08"), true, false, false, true)
        );
    }

    #[test]
    fn enhanced_command_and_metadata() {
        // Command frame: the command byte follows the first byte directly, no FourCC.
        let h = video_header(&[0xd1, 0x01]).unwrap();
        assert_eq!(h.packet_type, VideoPacketType::Command);
        assert_eq!(h.command, Some(1));
        assert_eq!(h.codec, UNKNOWN_VIDEO_CODEC);
        assert_eq!(
            facts(&[0xd1, 0x00]),
            vf(UNKNOWN_VIDEO_CODEC, false, false, true, true)
        );
        // Metadata (as FFmpeg writes HDR colour info): frame type 5 is ignored, FourCC present.
        let meta = [
            0xd4, b'h', b'v', b'c', b'1', 0x02, 0x00, 0x09, b'c', b'o', b'l',
        ];
        let h = video_header(&meta).unwrap();
        assert_eq!(h.packet_type, VideoPacketType::Metadata);
        assert_eq!(
            facts(&meta),
            vf(VideoCodec::Hevc, false, false, false, true)
        );
    }

    #[test]
    fn enhanced_mod_ex() {
        // Keyframe, ModEx: 3 bytes of TimestampOffsetNano (100000 ns), then CodedFrames.
        let p = [
            0x97, 0x02, 0x01, 0x86, 0xa0, 0x01, b'h', b'v', b'c', b'1', 0, 0, 0, 0x26,
        ];
        let h = video_header(&p).unwrap();
        assert_eq!(h.nano_offset, Some(100_000));
        assert_eq!(h.packet_type, VideoPacketType::CodedFrames);
        assert_eq!(facts(&p), vf(VideoCodec::Hevc, true, false, false, true));

        // A 257-byte ModEx block (8-bit size 255 escapes to a 16-bit size), then a second
        // ModEx block of an unknown type, then CodedFramesX.
        let mut p = vec![0x97, 0xff, 0x01, 0x00];
        p.extend_from_slice(&[0xee; 257]);
        p.extend_from_slice(&[0x57, 0x00, 0xaa, 0x13]);
        p.extend_from_slice(b"av01");
        let h = video_header(&p).unwrap();
        assert_eq!(h.nano_offset, None);
        assert_eq!(facts(&p), vf(VideoCodec::Av1, true, false, false, true));

        // ModEx then a command frame.
        let p = [0xd7, 0x02, 0, 0, 1, 0x01, 0x00];
        assert!(facts(&p).command_frame);
        assert_eq!(video_header(&p).unwrap().nano_offset, Some(1));

        // Every truncation of a ModEx message is reported as truncated, never a keyframe.
        let p = [0x97, 0x02, 0x01, 0x86, 0xa0, 0x01, b'h', b'v', b'c', b'1'];
        for end in 1..p.len() {
            let h = video_header(&p[..end]).unwrap();
            assert_eq!(h.packet_type, VideoPacketType::Truncated, "prefix {end}");
            assert!(!facts(&p[..end]).keyframe);
        }
    }

    #[test]
    fn enhanced_multitrack() {
        // Key, Multitrack; ManyTracks of HEVC, CodedFrames; track 0 of 4 bytes.
        let p = [
            0x96, 0x11, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 0x26,
        ];
        let h = video_header(&p).unwrap();
        assert_eq!(h.multitrack, Some(MultitrackType::ManyTracks));
        assert_eq!(h.track_id, Some(0));
        assert_eq!(facts(&p), vf(VideoCodec::Hevc, true, false, false, true));

        // OneTrack (track 1) AV1 SequenceStart: no track size.
        let p = [
            0x96, 0x00, b'a', b'v', b'0', b'1', 0x01, 0x81, 0x08, 0x0c, 0x00,
        ];
        let h = video_header(&p).unwrap();
        assert_eq!(
            (h.multitrack, h.track_id),
            (Some(MultitrackType::OneTrack), Some(1))
        );
        assert_eq!(facts(&p), vf(VideoCodec::Av1, false, true, false, true));

        // ManyTracksManyCodecs, CodedFramesX: the first track's FourCC names the codec.
        let p = [
            0x96, 0x23, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x01, 0x65,
        ];
        let h = video_header(&p).unwrap();
        assert_eq!(h.multitrack, Some(MultitrackType::ManyTracksManyCodecs));
        assert_eq!(facts(&p), vf(VideoCodec::Avc, true, false, false, true));

        // Multitrack inside multitrack is invalid: neither keyframe nor sequence header.
        let p = [0x96, 0x06, b'h', b'v', b'c', b'1', 0x00];
        assert_eq!(
            video_header(&p).unwrap().packet_type,
            VideoPacketType::Other(6)
        );
        assert_eq!(facts(&p), vf(VideoCodec::Hevc, false, false, false, true));

        // Truncated before the FourCC.
        let h = video_header(&[0x96, 0x11, b'h']).unwrap();
        assert_eq!(h.packet_type, VideoPacketType::Truncated);
        assert_eq!(h.codec, UNKNOWN_VIDEO_CODEC);
    }

    #[test]
    fn empty_and_truncated() {
        assert_eq!(video_facts(&[]), None);
        assert_eq!(video_header(&[]), None);
        // AVC header without its packet type.
        assert_eq!(
            video_header(&[0x17]).unwrap().packet_type,
            VideoPacketType::Truncated
        );
        assert_eq!(
            facts(&[0x17]),
            vf(VideoCodec::Avc, false, false, false, false)
        );
        // Ex-header cut inside the FourCC: no codec guessed, no keyframe, no sequence header.
        assert_eq!(
            facts(&[0x90, b'h', b'v']),
            vf(UNKNOWN_VIDEO_CODEC, false, false, false, true)
        );
        assert_eq!(
            facts(&[0x93]),
            vf(UNKNOWN_VIDEO_CODEC, false, false, false, true)
        );
        // Reserved ex packet type.
        assert_eq!(
            video_header(&[0x9f, b'h', b'v', b'c', b'1'])
                .unwrap()
                .packet_type,
            VideoPacketType::Other(15)
        );
    }

    #[test]
    fn every_prefix_and_short_payload_is_safe() {
        let vectors: &[&[u8]] = &[
            AVC_SEQ_HEADER,
            AVC_KEYFRAME,
            AVC_INTER,
            HEVC_SEQ_START,
            HEVC_KEY_X,
            HEVC_INTER,
            AV1_SEQ_START,
            VP9_INTER,
        ];
        for v in vectors {
            for end in 0..=v.len() {
                let _ = video_facts(&v[..end]);
            }
        }
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = video_facts(&[a]);
                let _ = video_facts(&[a, b]);
                let _ = video_facts(&[a, b, 0xff, 0xff]);
            }
        }
    }
}
