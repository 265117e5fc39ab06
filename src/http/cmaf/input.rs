//! What the segmenter reads from one RTMP audio/video message: the FLV tag body reduced to a
//! codec configuration or a coded sample.
//!
//! [`parse_media`] looks at the (Ex)Audio/VideoTagHeader with the `protocol::flv` readers and
//! returns borrowed slices of the body: the AVC/HEVC decoder configuration record, the AAC
//! AudioSpecificConfig, or the sample bytes (length-prefixed NAL units, raw AAC frames) with
//! the composition time offset. Enhanced RTMP multitrack messages contribute their track 0.
//! Pure: no copies, no state, no panics on short or malformed input.
use crate::media::frame::MediaKind;
use crate::protocol::flv::tracks::{audio_fourcc, tracks, video_fourcc, video_pt, AvKind};
use crate::protocol::flv::{audio_header, video_header, AudioPacketType, VideoPacketType};

/// Video codecs the segmenter can put in CMAF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodecKind {
    /// H.264, `avc1` sample entry with `avcC`.
    Avc,
    /// H.265, `hvc1` sample entry with `hvcC` (Enhanced RTMP, or legacy codec id 12).
    Hevc,
}

/// One audio/video message as the segmenter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaUnit<'a> {
    /// AVCDecoderConfigurationRecord / HEVCDecoderConfigurationRecord.
    VideoConfig {
        codec: VideoCodecKind,
        record: &'a [u8],
    },
    /// Coded picture(s): length-prefixed NAL units.
    VideoSample {
        codec: VideoCodecKind,
        keyframe: bool,
        /// Composition time offset in ms (PTS - DTS), may be negative.
        composition_ms: i32,
        data: &'a [u8],
    },
    /// AAC AudioSpecificConfig.
    AudioConfig { config: &'a [u8] },
    /// One raw AAC access unit.
    AudioSample { data: &'a [u8] },
    /// Nothing to segment: end of sequence, metadata, command frames, empty audio (silence).
    Skip,
}

/// Why a message cannot be segmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("video codec not supported in CMAF by rtmp-edge (only H.264 and HEVC)")]
    UnsupportedVideo,
    #[error("audio codec not supported in CMAF by rtmp-edge (only AAC)")]
    UnsupportedAudio,
    #[error("media message ends inside its header")]
    Truncated,
}

const LEGACY_AVC: u8 = 7;
const LEGACY_HEVC: u8 = 12;
const SOUND_FORMAT_AAC: u8 = 10;
const SOUND_FORMAT_EX: u8 = 9;
/// Legacy AVC/HEVC: frame/codec byte, packet type, SI24 composition time.
const LEGACY_VIDEO_HEADER: usize = 5;
/// Legacy AAC: format byte, packet type.
const LEGACY_AAC_HEADER: usize = 2;

/// Reads one audio or video message body (the FLV tag body / RTMP message payload).
pub fn parse_media(kind: MediaKind, body: &[u8]) -> Result<MediaUnit<'_>, InputError> {
    match kind {
        MediaKind::Video => parse_video(body),
        MediaKind::Audio => parse_audio(body),
        MediaKind::Data => Ok(MediaUnit::Skip),
    }
}

fn parse_video(body: &[u8]) -> Result<MediaUnit<'_>, InputError> {
    let Some(h) = video_header(body) else {
        return Ok(MediaUnit::Skip);
    };
    match h.packet_type {
        VideoPacketType::Truncated => return Err(InputError::Truncated),
        VideoPacketType::SequenceStart
        | VideoPacketType::CodedFrames
        | VideoPacketType::CodedFramesX => {}
        _ => return Ok(MediaUnit::Skip),
    }
    let keyframe = h.frame_type == 1;
    if !h.ex_header {
        let codec = match body.first().map(|b| b & 0x0f) {
            Some(LEGACY_AVC) => VideoCodecKind::Avc,
            Some(LEGACY_HEVC) => VideoCodecKind::Hevc,
            _ => return Err(InputError::UnsupportedVideo),
        };
        let (Some(cts), Some(rest)) = (
            body.get(2..LEGACY_VIDEO_HEADER),
            body.get(LEGACY_VIDEO_HEADER..),
        ) else {
            return Err(InputError::Truncated);
        };
        return Ok(video_unit(h.packet_type, codec, keyframe, si24(cts), rest));
    }
    let t = tracks(AvKind::Video, body).ok_or(InputError::Truncated)?;
    let track = t.find(0).ok_or(InputError::Truncated)?;
    let codec = match track.fourcc {
        video_fourcc::AVC => VideoCodecKind::Avc,
        video_fourcc::HEVC => VideoCodecKind::Hevc,
        _ => return Err(InputError::UnsupportedVideo),
    };
    match track.packet_type {
        video_pt::CODED_FRAMES => {
            let (Some(cts), Some(rest)) = (track.body.get(..3), track.body.get(3..)) else {
                return Err(InputError::Truncated);
            };
            Ok(video_unit(
                VideoPacketType::CodedFrames,
                codec,
                keyframe,
                si24(cts),
                rest,
            ))
        }
        video_pt::CODED_FRAMES_X => Ok(video_unit(
            VideoPacketType::CodedFramesX,
            codec,
            keyframe,
            0,
            track.body,
        )),
        video_pt::SEQUENCE_START => Ok(video_unit(
            VideoPacketType::SequenceStart,
            codec,
            keyframe,
            0,
            track.body,
        )),
        _ => Ok(MediaUnit::Skip),
    }
}

fn video_unit(
    packet_type: VideoPacketType,
    codec: VideoCodecKind,
    keyframe: bool,
    composition_ms: i32,
    data: &[u8],
) -> MediaUnit<'_> {
    if packet_type == VideoPacketType::SequenceStart {
        MediaUnit::VideoConfig {
            codec,
            record: data,
        }
    } else if data.is_empty() {
        MediaUnit::Skip
    } else {
        MediaUnit::VideoSample {
            codec,
            keyframe,
            composition_ms,
            data,
        }
    }
}

/// Signed 24-bit big-endian (the FLV CompositionTime).
fn si24(b: &[u8]) -> i32 {
    match *b {
        [a, b, c] => (i32::from_be_bytes([a, b, c, 0])) >> 8,
        _ => 0,
    }
}

fn parse_audio(body: &[u8]) -> Result<MediaUnit<'_>, InputError> {
    let Some(h) = audio_header(body) else {
        return Ok(MediaUnit::Skip);
    };
    let data = match h.sound_format {
        SOUND_FORMAT_AAC => body.get(LEGACY_AAC_HEADER..).ok_or(InputError::Truncated)?,
        SOUND_FORMAT_EX => {
            let t = tracks(AvKind::Audio, body).ok_or(InputError::Truncated)?;
            let track = t.find(0).ok_or(InputError::Truncated)?;
            if track.fourcc != audio_fourcc::AAC {
                return Err(InputError::UnsupportedAudio);
            }
            track.body
        }
        _ => return Err(InputError::UnsupportedAudio),
    };
    Ok(match h.packet_type {
        AudioPacketType::Truncated => return Err(InputError::Truncated),
        AudioPacketType::SequenceStart => MediaUnit::AudioConfig { config: data },
        AudioPacketType::CodedFrames if !data.is_empty() => MediaUnit::AudioSample { data },
        _ => MediaUnit::Skip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_avc_units() {
        let seq = [0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f];
        assert_eq!(
            parse_media(MediaKind::Video, &seq),
            Ok(MediaUnit::VideoConfig {
                codec: VideoCodecKind::Avc,
                record: &[0x01, 0x64, 0x00, 0x1f]
            })
        );
        let key = [0x17, 0x01, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0x65];
        assert_eq!(
            parse_media(MediaKind::Video, &key),
            Ok(MediaUnit::VideoSample {
                codec: VideoCodecKind::Avc,
                keyframe: true,
                composition_ms: 0x50,
                data: &[0, 0, 0, 1, 0x65]
            })
        );
        // Negative composition time (SI24 -40).
        let inter = [0x27, 0x01, 0xff, 0xff, 0xd8, 0, 0, 0, 1, 0x41];
        match parse_media(MediaKind::Video, &inter) {
            Ok(MediaUnit::VideoSample {
                keyframe: false,
                composition_ms: -40,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_media(MediaKind::Video, &[0x17, 0x02, 0, 0, 0]),
            Ok(MediaUnit::Skip)
        );
        assert_eq!(
            parse_media(MediaKind::Video, &[0x17, 0x01, 0]),
            Err(InputError::Truncated)
        );
        assert_eq!(
            parse_media(MediaKind::Video, &[0x14, 0x00]),
            Err(InputError::UnsupportedVideo)
        );
    }

    #[test]
    fn enhanced_hevc_units() {
        let seq = [0x90, b'h', b'v', b'c', b'1', 0x01, 0x01];
        assert_eq!(
            parse_media(MediaKind::Video, &seq),
            Ok(MediaUnit::VideoConfig {
                codec: VideoCodecKind::Hevc,
                record: &[0x01, 0x01]
            })
        );
        let key_x = [0x93, b'h', b'v', b'c', b'1', 0, 0, 0, 1, 0x26];
        assert_eq!(
            parse_media(MediaKind::Video, &key_x),
            Ok(MediaUnit::VideoSample {
                codec: VideoCodecKind::Hevc,
                keyframe: true,
                composition_ms: 0,
                data: &[0, 0, 0, 1, 0x26]
            })
        );
        let inter = [0xa1, b'h', b'v', b'c', b'1', 0, 0, 0x28, 0, 0, 0, 1, 0x02];
        match parse_media(MediaKind::Video, &inter) {
            Ok(MediaUnit::VideoSample {
                keyframe: false,
                composition_ms: 40,
                data: [0, 0, 0, 1, 0x02],
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let av1 = [0x91, b'a', b'v', b'0', b'1', 0x12, 0x00];
        assert_eq!(
            parse_media(MediaKind::Video, &av1),
            Err(InputError::UnsupportedVideo)
        );
        // Metadata and command frames carry no picture.
        assert_eq!(
            parse_media(MediaKind::Video, &[0xd1, 0x01]),
            Ok(MediaUnit::Skip)
        );
    }

    #[test]
    fn aac_units() {
        assert_eq!(
            parse_media(MediaKind::Audio, &[0xaf, 0x00, 0x12, 0x10]),
            Ok(MediaUnit::AudioConfig {
                config: &[0x12, 0x10]
            })
        );
        assert_eq!(
            parse_media(MediaKind::Audio, &[0xaf, 0x01, 0x21, 0x10]),
            Ok(MediaUnit::AudioSample {
                data: &[0x21, 0x10]
            })
        );
        let ex = [0x91, b'm', b'p', b'4', b'a', 0x21, 0x10];
        assert_eq!(
            parse_media(MediaKind::Audio, &ex),
            Ok(MediaUnit::AudioSample {
                data: &[0x21, 0x10]
            })
        );
        let opus = [0x91, b'O', b'p', b'u', b's', 0xfc];
        assert_eq!(
            parse_media(MediaKind::Audio, &opus),
            Err(InputError::UnsupportedAudio)
        );
        assert_eq!(
            parse_media(MediaKind::Audio, &[0x2f, 0xff]),
            Err(InputError::UnsupportedAudio)
        );
        assert_eq!(parse_media(MediaKind::Audio, &[]), Ok(MediaUnit::Skip));
        assert_eq!(
            parse_media(MediaKind::Audio, &[0xaf]),
            Err(InputError::Truncated)
        );
    }

    #[test]
    fn never_panics_on_short_input() {
        for a in 0..=255u8 {
            for b in [0u8, 1, 2, 3, 6, 7, 0xff] {
                let _ = parse_media(MediaKind::Video, &[a, b]);
                let _ = parse_media(MediaKind::Audio, &[a, b]);
                let _ = parse_media(MediaKind::Video, &[a, b, b'h', b'v', b'c', b'1', 0]);
            }
        }
    }
}
