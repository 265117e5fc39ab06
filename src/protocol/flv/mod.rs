//! FLV facts: what an audio/video/data payload is (codec, keyframe, sequence header), Enhanced
//! RTMP ex-headers, `@setDataFrame` metadata, aggregate messages and FLV files.
//!
//! - [`video_facts`] / [`video_header`] read the (Ex)VideoTagHeader of a video message,
//!   legacy FLV or Enhanced RTMP v1/v2 (FourCC, ModEx, multitrack).
//! - [`audio_facts`] / [`audio_header`] read the (Ex)AudioTagHeader of an audio message.
//! - [`tracks::tracks`] walks every track of an Enhanced RTMP v2 message (Multitrack OneTrack,
//!   ManyTracks, ManyTracksManyCodecs) with its FourCC, packet type and body.
//! - [`legacy::legacy_form`] says how a message looks to a legacy player (the default track in
//!   legacy codec ids, other tracks and ModEx dropped).
//! - [`metadata_payload`] turns `@setDataFrame`/`onMetaData` data messages into the AMF0 payload
//!   that is cached and sent to players.
//! - [`parse_file_header`] then [`TagIter`] walk an FLV file held in memory (e.g. memory-mapped)
//!   without copying; [`split_aggregate`] splits an aggregate message (type 22) the same way.
//! - [`write_file_header`] and [`write_tag`] produce FLV files and aggregate bodies.
//!
//! Reads only the few leading bytes it needs and never copies media payloads. Pure functions on
//! byte slices: no I/O, no clock, no state between calls. Malformed or short input never panics:
//! the header readers report what they could see, the tag readers return [`FlvError`].

mod audio;
pub mod chunked;
mod file;
pub mod legacy;
mod metadata;
pub mod tracks;
mod video;

pub use audio::{audio_facts, audio_header, AudioFacts, AudioHeader, AudioPacketType};
pub use file::{
    parse_file_header, previous_tag_size, read_file_header, split_aggregate, tag_header,
    write_file_header, write_tag, FileHeader, FlvTag, TagIter, FILE_HEADER_LEN, MAX_TAG_DATA,
    TAG_HEADER_LEN,
};
pub use metadata::metadata_payload;
pub use video::{
    video_facts, video_header, VideoCodec, VideoFacts, VideoHeader, VideoPacketType,
    UNKNOWN_VIDEO_CODEC,
};

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("not an FLV file (bad signature)")]
    BadSignature,
    #[error("FLV data ended inside a tag")]
    Truncated,
    #[error("FLV tag of type {0} is not audio, video or script data")]
    BadTagType(u8),
}

/// Enhanced RTMP v2 `AvMultitrackType`, shared by audio and video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultitrackType {
    /// One track in this message; it carries a track id but no track size.
    OneTrack,
    /// Several tracks of one codec, each with a track id and a size.
    ManyTracks,
    /// Several tracks, each with its own FourCC, track id and size.
    ManyTracksManyCodecs,
    /// A reserved value (3..=15).
    Other(u8),
}

impl MultitrackType {
    fn from_nibble(n: u8) -> Self {
        match n {
            0 => MultitrackType::OneTrack,
            1 => MultitrackType::ManyTracks,
            2 => MultitrackType::ManyTracksManyCodecs,
            other => MultitrackType::Other(other),
        }
    }
}

/// Bounded big-endian reader over a peer's bytes: every read is checked and yields None past
/// the end, so header parsing can stop wherever the payload does.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Everything not read yet (consumed).
    fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        out
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn fourcc(&mut self) -> Option<[u8; 4]> {
        self.bytes(4).map(|b| [b[0], b[1], b[2], b[3]])
    }
}

/// What one Enhanced RTMP ModEx block said, and the packet type that follows it.
struct ModEx {
    packet_type: u8,
    nano_offset: Option<u32>,
}

/// Reads ModEx blocks (audio and video share the layout) while the packet type is ModEx (7).
/// Each block consumes at least two bytes, so the loop is bounded by the payload. None if the
/// payload ends inside a block.
fn read_mod_ex(r: &mut Reader<'_>, mut packet_type: u8) -> Option<ModEx> {
    const MOD_EX: u8 = 7;
    const TIMESTAMP_OFFSET_NANO: u8 = 0;
    let mut nano_offset = None;
    while packet_type == MOD_EX {
        let mut size = usize::from(r.u8()?) + 1;
        if size == 256 {
            size = usize::from(r.u16()?) + 1;
        }
        let data = r.bytes(size)?;
        let next = r.u8()?;
        packet_type = next & 0x0f;
        if next >> 4 == TIMESTAMP_OFFSET_NANO {
            // The spec stores the offset as a UI24 in the first three bytes; shorter data is
            // malformed and simply ignored.
            if let [a, b, c, ..] = *data {
                nano_offset = Some(u32::from_be_bytes([0, a, b, c]));
            }
        }
    }
    Some(ModEx {
        packet_type,
        nano_offset,
    })
}
