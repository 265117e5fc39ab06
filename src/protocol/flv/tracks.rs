//! Enhanced RTMP v2 tracks: walks every track of an audio or video message (legacy, single-track
//! ex-header, or Multitrack in any of its three modes) and names each one's FourCC, packet type
//! and body.
//!
//! [`tracks`] returns a [`Tracks`] view whose [`Tracks::iter`] yields one [`Track`] per track, in
//! message order; a message without the Multitrack wrapper is one track with id 0. The view
//! also says whether ModEx blocks preceded the packet type ([`Tracks::mod_ex`]), which the legacy
//! rewrite (see [`super::legacy`]) needs. Every length is checked against the payload: a track
//! whose declared size runs past the end ends the walk, never panics, never copies.
use super::{read_mod_ex, MultitrackType, Reader};

/// Enhanced RTMP v2 video FourCCs.
pub mod video_fourcc {
    pub const AVC: [u8; 4] = *b"avc1";
    pub const HEVC: [u8; 4] = *b"hvc1";
    pub const AV1: [u8; 4] = *b"av01";
    pub const VP9: [u8; 4] = *b"vp09";
    pub const VP8: [u8; 4] = *b"vp08";
    pub const VVC: [u8; 4] = *b"vvc1";
    /// Every video FourCC rtmp-edge relays (all of them: it never decodes).
    pub const ALL: [[u8; 4]; 6] = [AVC, HEVC, AV1, VP9, VP8, VVC];
}

/// Enhanced RTMP v2 audio FourCCs.
pub mod audio_fourcc {
    pub const AAC: [u8; 4] = *b"mp4a";
    pub const OPUS: [u8; 4] = *b"Opus";
    pub const FLAC: [u8; 4] = *b"fLaC";
    pub const AC3: [u8; 4] = *b"ac-3";
    pub const EAC3: [u8; 4] = *b"ec-3";
    pub const MP3: [u8; 4] = *b".mp3";
    /// Every audio FourCC rtmp-edge relays.
    pub const ALL: [[u8; 4]; 6] = [AAC, OPUS, FLAC, AC3, EAC3, MP3];
}

/// Video ex-header packet types (the low nibble of the first byte).
pub mod video_pt {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
    pub const METADATA: u8 = 4;
    pub const MPEG2TS_SEQUENCE_START: u8 = 5;
    pub const MULTITRACK: u8 = 6;
    pub const MOD_EX: u8 = 7;
}

/// Audio ex-header packet types.
pub mod audio_pt {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const MULTICHANNEL_CONFIG: u8 = 4;
    pub const MULTITRACK: u8 = 5;
    pub const MOD_EX: u8 = 7;
}

const FRAME_COMMAND: u8 = 5;
const SOUND_FORMAT_EX: u8 = 9;

/// Audio or video: the two share the multitrack layout but not the packet type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvKind {
    Audio,
    Video,
}

/// One track of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track<'a> {
    pub id: u8,
    pub fourcc: [u8; 4],
    /// The ex-header packet type shared by every track of the message.
    pub packet_type: u8,
    /// What follows the track header: for AVC/HEVC CodedFrames, the SI24 composition time
    /// then the NAL units; otherwise the codec data itself.
    pub body: &'a [u8],
}

/// The ex-header of one audio or video message, ready to walk its tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracks<'a> {
    pub kind: AvKind,
    /// Video frame type (1 key, 2 inter, ...); 0 for audio.
    pub frame_type: u8,
    /// The packet type after ModEx and the Multitrack wrapper.
    pub packet_type: u8,
    /// None for a message without the Multitrack wrapper (one track, id 0).
    pub multitrack: Option<MultitrackType>,
    /// ModEx blocks came before the packet type.
    pub mod_ex: bool,
    /// The shared FourCC (for ManyTracksManyCodecs: unused, each track has its own).
    fourcc: [u8; 4],
    /// Everything after the wrapper: the track list (or the single track's body).
    rest: &'a [u8],
}

/// Reads the ex-header of an Enhanced RTMP audio or video message. None for a legacy
/// (non-ex-header) message, a command frame, or a header cut short.
pub fn tracks(kind: AvKind, payload: &[u8]) -> Option<Tracks<'_>> {
    let mut r = Reader::new(payload);
    let first = r.u8()?;
    let frame_type = match kind {
        AvKind::Video if first & 0x80 != 0 => (first >> 4) & 0x07,
        AvKind::Audio if first >> 4 == SOUND_FORMAT_EX => 0,
        _ => return None,
    };
    let mod_ex = first & 0x0f == video_pt::MOD_EX;
    let mut packet_type = read_mod_ex(&mut r, first & 0x0f)?.packet_type;
    if kind == AvKind::Video && frame_type == FRAME_COMMAND && packet_type != video_pt::METADATA {
        return None;
    }
    let multitrack_pt = match kind {
        AvKind::Video => video_pt::MULTITRACK,
        AvKind::Audio => audio_pt::MULTITRACK,
    };
    let mut multitrack = None;
    if packet_type == multitrack_pt {
        let b = r.u8()?;
        let mode = MultitrackType::from_nibble(b >> 4);
        if matches!(mode, MultitrackType::Other(_)) {
            return None;
        }
        multitrack = Some(mode);
        packet_type = b & 0x0f;
    }
    let fourcc = if multitrack == Some(MultitrackType::ManyTracksManyCodecs) {
        [0; 4]
    } else {
        r.fourcc()?
    };
    Some(Tracks {
        kind,
        frame_type,
        packet_type,
        multitrack,
        mod_ex,
        fourcc,
        rest: r.rest(),
    })
}

impl<'a> Tracks<'a> {
    /// Every track, in message order. Stops at the first track whose header or declared size
    /// runs past the payload.
    pub fn iter(&self) -> TrackIter<'a> {
        TrackIter {
            multitrack: self.multitrack,
            packet_type: self.packet_type,
            fourcc: self.fourcc,
            r: Reader::new(self.rest),
            done: false,
        }
    }

    /// The track with id `id`, if the message carries it.
    pub fn find(&self, id: u8) -> Option<Track<'a>> {
        self.iter().find(|t| t.id == id)
    }
}

/// Iterator over the tracks of a message; see [`Tracks::iter`].
pub struct TrackIter<'a> {
    multitrack: Option<MultitrackType>,
    packet_type: u8,
    fourcc: [u8; 4],
    r: Reader<'a>,
    done: bool,
}

impl<'a> Iterator for TrackIter<'a> {
    type Item = Track<'a>;

    fn next(&mut self) -> Option<Track<'a>> {
        if self.done {
            return None;
        }
        let track = match self.multitrack {
            None => {
                self.done = true;
                Track {
                    id: 0,
                    fourcc: self.fourcc,
                    packet_type: self.packet_type,
                    body: self.r.rest(),
                }
            }
            Some(MultitrackType::OneTrack) => {
                self.done = true;
                let id = self.r.u8()?;
                Track {
                    id,
                    fourcc: self.fourcc,
                    packet_type: self.packet_type,
                    body: self.r.rest(),
                }
            }
            Some(mode) => {
                if self.r.is_empty() {
                    self.done = true;
                    return None;
                }
                let fourcc = if mode == MultitrackType::ManyTracksManyCodecs {
                    self.r.fourcc()
                } else {
                    Some(self.fourcc)
                };
                let parsed = (|| {
                    let fourcc = fourcc?;
                    let id = self.r.u8()?;
                    let size = self.r.bytes(3)?;
                    let size = u32::from_be_bytes([0, size[0], size[1], size[2]]) as usize;
                    Some((fourcc, id, self.r.bytes(size)?))
                })();
                let Some((fourcc, id, body)) = parsed else {
                    self.done = true;
                    return None;
                };
                Track {
                    id,
                    fourcc,
                    packet_type: self.packet_type,
                    body,
                }
            }
        };
        Some(track)
    }
}

#[cfg(test)]
#[path = "tracks_tests.rs"]
pub(crate) mod tests;
