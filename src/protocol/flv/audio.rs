//! Audio message headers: the legacy FLV AudioTagHeader (AAC packet type) and the Enhanced
//! RTMP v2 ExAudioTagHeader (SoundFormat 9: packet type, ModEx, multitrack, FourCC).
//!
//! [`audio_header`] reads the header fields; [`audio_facts`] reduces them to what the media
//! hub needs. Neither looks at the audio data, copies, nor panics on short input.
use super::{read_mod_ex, MultitrackType, Reader};

const FORMAT_EX_HEADER: u8 = 9;
const FORMAT_AAC: u8 = 10;

const PT_SEQUENCE_START: u8 = 0;
const PT_CODED_FRAMES: u8 = 1;
const PT_SEQUENCE_END: u8 = 2;
const PT_MULTICHANNEL_CONFIG: u8 = 4;
const PT_MULTITRACK: u8 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFacts {
    /// FLV SoundFormat (10 = AAC), or 9 for Enhanced RTMP ex-header audio.
    pub sound_format: u8,
    /// AAC sequence header (AACPacketType 0) or Enhanced audio SequenceStart.
    pub sequence_header: bool,
}

/// What the packet carries: Enhanced RTMP AudioPacketType, or the legacy AACPacketType mapped
/// onto it (0 sequence header, 1 raw; other legacy formats: coded frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPacketType {
    SequenceStart,
    CodedFrames,
    SequenceEnd,
    /// Channel order and count of a codec that does not describe them itself.
    MultichannelConfig,
    /// A reserved packet type, or Multitrack/ModEx where the spec forbids it.
    Other(u8),
    /// The payload ended before the packet type or the FourCC could be read.
    Truncated,
}

/// The (Ex)AudioTagHeader fields of one audio message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioHeader {
    /// FLV SoundFormat; 9 means the Enhanced RTMP ex-header follows.
    pub sound_format: u8,
    pub packet_type: AudioPacketType,
    /// Enhanced audio FourCC (`Opus`, `fLaC`, `ac-3`, `ec-3`, `mp4a`, `.mp3`). For
    /// `ManyTracksManyCodecs` it is the first track's.
    pub fourcc: Option<[u8; 4]>,
    pub multitrack: Option<MultitrackType>,
    /// Track id of the first track of a multitrack message.
    pub track_id: Option<u8>,
    /// ModEx TimestampOffsetNano: nanoseconds to add to the message timestamp.
    pub nano_offset: Option<u32>,
}

/// Reads the header of an audio message payload; None for an empty payload (an empty audio
/// message is RTMP's "silence" signal and has no header).
pub fn audio_header(payload: &[u8]) -> Option<AudioHeader> {
    let mut r = Reader::new(payload);
    let first = r.u8()?;
    let sound_format = first >> 4;
    let mut h = AudioHeader {
        sound_format,
        packet_type: AudioPacketType::CodedFrames,
        fourcc: None,
        multitrack: None,
        track_id: None,
        nano_offset: None,
    };
    match sound_format {
        FORMAT_AAC => {
            h.packet_type = match r.u8() {
                None => AudioPacketType::Truncated,
                Some(0) => AudioPacketType::SequenceStart,
                Some(1) => AudioPacketType::CodedFrames,
                Some(other) => AudioPacketType::Other(other),
            };
        }
        FORMAT_EX_HEADER => read_ex_header(first & 0x0f, &mut r, &mut h),
        _ => {}
    }
    Some(h)
}

/// Facts of an audio message payload; None for an empty payload.
pub fn audio_facts(payload: &[u8]) -> Option<AudioFacts> {
    let h = audio_header(payload)?;
    Some(AudioFacts {
        sound_format: h.sound_format,
        sequence_header: h.packet_type == AudioPacketType::SequenceStart,
    })
}

fn read_ex_header(packet_type: u8, r: &mut Reader<'_>, h: &mut AudioHeader) {
    h.packet_type = AudioPacketType::Truncated;
    let Some(mod_ex) = read_mod_ex(r, packet_type) else {
        return;
    };
    h.nano_offset = mod_ex.nano_offset;
    let mut packet_type = mod_ex.packet_type;
    if packet_type == PT_MULTITRACK {
        let Some(b) = r.u8() else {
            return;
        };
        h.multitrack = Some(MultitrackType::from_nibble(b >> 4));
        packet_type = b & 0x0f;
    }
    // Shared FourCC, or the first track's own for ManyTracksManyCodecs: same position.
    let Some(fourcc) = r.fourcc() else {
        return;
    };
    h.fourcc = Some(fourcc);
    if h.multitrack.is_some() {
        h.track_id = r.u8();
    }
    h.packet_type = match packet_type {
        PT_SEQUENCE_START => AudioPacketType::SequenceStart,
        PT_CODED_FRAMES => AudioPacketType::CodedFrames,
        PT_SEQUENCE_END => AudioPacketType::SequenceEnd,
        PT_MULTICHANNEL_CONFIG => AudioPacketType::MultichannelConfig,
        other => AudioPacketType::Other(other),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn af(sound_format: u8, sequence_header: bool) -> Option<AudioFacts> {
        Some(AudioFacts {
            sound_format,
            sequence_header,
        })
    }

    #[test]
    fn legacy_aac() {
        // AudioSpecificConfig AAC-LC 44.1 kHz stereo, as FFmpeg sends it.
        assert_eq!(audio_facts(&[0xaf, 0x00, 0x12, 0x10]), af(10, true));
        // AAC-LC 48 kHz stereo.
        assert_eq!(audio_facts(&[0xaf, 0x00, 0x11, 0x90]), af(10, true));
        let raw = [0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c];
        assert_eq!(audio_facts(&raw), af(10, false));
        assert_eq!(
            audio_header(&raw).unwrap().packet_type,
            AudioPacketType::CodedFrames
        );
        // Mono AAC header byte (0xae) is still AAC.
        assert_eq!(audio_facts(&[0xae, 0x00, 0x12, 0x08]), af(10, true));
    }

    #[test]
    fn legacy_other_formats() {
        // MP3 frame: header bytes ff fb.
        assert_eq!(audio_facts(&[0x2f, 0xff, 0xfb, 0x90, 0x64]), af(2, false));
        // Speex, Nellymoser, G.711: no packet type; a 0 byte is data, not a sequence header.
        assert_eq!(audio_facts(&[0xb6, 0x00]), af(11, false));
        assert_eq!(audio_facts(&[0x6e, 0x00]), af(6, false));
        assert_eq!(audio_facts(&[0x72, 0x00]), af(7, false));
    }

    #[test]
    fn enhanced_sequence_start_and_frames() {
        // Opus SequenceStart carrying an OpusHead (2 channels, pre-skip 312, 48 kHz).
        let opus_head = [
            0x90, b'O', b'p', b'u', b's', b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 0x01,
            0x02, 0x38, 0x01, 0x80, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(audio_facts(&opus_head), af(9, true));
        assert_eq!(audio_header(&opus_head).unwrap().fourcc, Some(*b"Opus"));
        assert_eq!(
            audio_facts(&[0x91, b'O', b'p', b'u', b's', 0xfc, 0xff, 0xfe]),
            af(9, false)
        );
        for fourcc in [b"fLaC", b"ac-3", b"ec-3", b"mp4a", b".mp3"] {
            let mut p = vec![0x90];
            p.extend_from_slice(fourcc);
            p.extend_from_slice(&[0x12, 0x10]);
            assert_eq!(audio_facts(&p), af(9, true));
            assert_eq!(audio_header(&p).unwrap().fourcc, Some(*fourcc));
            p[0] = 0x91;
            assert_eq!(audio_facts(&p), af(9, false));
        }
        let end = [0x92, b'O', b'p', b'u', b's'];
        assert_eq!(
            audio_header(&end).unwrap().packet_type,
            AudioPacketType::SequenceEnd
        );
        // MultichannelConfig: native order, 6 channels, 5.1 mask. Not a sequence header.
        let mc = [
            0x94, b'O', b'p', b'u', b's', 0x01, 0x06, 0x00, 0x00, 0x00, 0x3f,
        ];
        assert_eq!(
            audio_header(&mc).unwrap().packet_type,
            AudioPacketType::MultichannelConfig
        );
        assert_eq!(audio_facts(&mc), af(9, false));
    }

    #[test]
    fn enhanced_mod_ex_and_multitrack() {
        // ModEx with TimestampOffsetNano 1000 ns, then SequenceStart.
        let p = [
            0x97, 0x02, 0x00, 0x03, 0xe8, 0x00, b'f', b'L', b'a', b'C', 0x00,
        ];
        let h = audio_header(&p).unwrap();
        assert_eq!(h.nano_offset, Some(1000));
        assert_eq!(h.packet_type, AudioPacketType::SequenceStart);
        // Multitrack: ManyTracks of Opus, SequenceStart, track 0 of 19 bytes.
        let p = [
            0x95, 0x10, b'O', b'p', b'u', b's', 0x00, 0x00, 0x00, 0x13, b'O',
        ];
        let h = audio_header(&p).unwrap();
        assert_eq!(h.multitrack, Some(MultitrackType::ManyTracks));
        assert_eq!(h.track_id, Some(0));
        assert_eq!(audio_facts(&p), af(9, true));
        // ManyTracksManyCodecs, CodedFrames: first track is AAC.
        let p = [
            0x95, 0x21, b'm', b'p', b'4', b'a', 0x02, 0x00, 0x00, 0x02, 0x21, 0x10,
        ];
        let h = audio_header(&p).unwrap();
        assert_eq!((h.fourcc, h.track_id), (Some(*b"mp4a"), Some(2)));
        assert_eq!(audio_facts(&p), af(9, false));
        // Multitrack inside multitrack: invalid, not a sequence header.
        let p = [0x95, 0x05, b'O', b'p', b'u', b's', 0x00];
        assert_eq!(
            audio_header(&p).unwrap().packet_type,
            AudioPacketType::Other(5)
        );
    }

    #[test]
    fn empty_and_truncated() {
        assert_eq!(audio_facts(&[]), None);
        assert_eq!(audio_facts(&[0xaf]), af(10, false));
        assert_eq!(
            audio_header(&[0xaf]).unwrap().packet_type,
            AudioPacketType::Truncated
        );
        // Ex-header without (all of) its FourCC: not a sequence header.
        let p = [0x90, b'O', b'p', b'u', b's'];
        for end in 1..p.len() {
            assert_eq!(audio_facts(&p[..end]), af(9, false), "prefix {end}");
            assert_eq!(
                audio_header(&p[..end]).unwrap().packet_type,
                AudioPacketType::Truncated
            );
        }
        let p = [0x97, 0xff, 0x01];
        assert_eq!(
            audio_header(&p).unwrap().packet_type,
            AudioPacketType::Truncated
        );
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = audio_facts(&[a, b]);
                let _ = audio_facts(&[a, b, 0xff, 0x00, 0x07]);
            }
        }
    }
}
