//! The encode-once media `Frame`: one audio, video or data message of a stream, already encoded
//! as the outgoing RTMP chunks every player receives.
//!
//! The stream's home shard builds one `Frame` per media message (kind and flags from
//! `protocol::flv`, `wire` from the chunk encoder with the shared player chunk size, fmt-0 first
//! chunk) and hands clones of it to every player queue. Cloning bumps a reference count; the
//! payload is never copied or re-encoded per player. Never does I/O, never reads a clock: the
//! timestamp is the message's media timestamp in milliseconds, wrapping at 2^32. `arrival` is
//! an instant the shard core passes in (when the message came off the publisher's socket), for
//! the fan-out latency histogram; the frame only carries it.

use bytes::Bytes;
use std::time::Instant;

/// What a media message carries, i.e. its RTMP message type (8, 9, or 18/15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    /// Script data: `onMetaData` and other data messages.
    Data,
}

/// Which configuration a frame with `sequence_header` set is: with its kind and track, the
/// startup-cache slot it fills (one latest frame per slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigKind {
    /// A codec configuration record (sequence header / SequenceStart), or stream metadata.
    #[default]
    SequenceStart,
    /// Enhanced RTMP video Metadata (HDR / colour info).
    VideoMetadata,
    /// Enhanced RTMP audio MultichannelConfig.
    Multichannel,
}

/// Which encoded form of a frame a connection is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WireForm {
    /// RTMP chunks (`wire`).
    #[default]
    Rtmp,
    /// An FLV tag framed as an HTTP/1.1 chunk (`flv`): HTTP-FLV with a chunked body.
    FlvChunked,
    /// The bare FLV tag (a slice of `flv`): HTTP-FLV with a close-delimited body.
    Flv,
}

/// A media message encoded once as outgoing RTMP chunks; every player shares `wire`.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: MediaKind,
    /// Media timestamp in ms; wraps at 2^32, so compare with `wrapping_sub` read as `i32`.
    pub timestamp: u32,
    /// A video keyframe carrying coded data (not a sequence header). Meaningless for audio/data.
    pub keyframe: bool,
    /// A codec configuration record (AVC/HEVC/AV1 sequence start, AAC AudioSpecificConfig):
    /// players cannot decode anything without it, so it is never dropped.
    pub sequence_header: bool,
    /// The whole message as RTMP chunks, headers included.
    pub wire: Bytes,
    /// The message as an FLV tag framed as one HTTP chunk (see
    /// [`crate::protocol::flv::chunked`]), encoded once beside `wire` when the node serves
    /// HTTP-FLV; empty otherwise.
    pub flv: Bytes,
    /// Enhanced RTMP v2 track id (the first track of a multitrack message; 0 otherwise).
    pub track: u8,
    /// With `sequence_header`: which configuration (see [`ConfigKind`]).
    pub config: ConfigKind,
    /// When the message was read off the publisher's socket (the `now` of the input that
    /// completed it), set by the shard core; None for frames built elsewhere (tests).
    pub arrival: Option<Instant>,
}

impl Frame {
    pub fn new(
        kind: MediaKind,
        timestamp: u32,
        keyframe: bool,
        sequence_header: bool,
        wire: Bytes,
    ) -> Self {
        Self {
            kind,
            timestamp,
            keyframe,
            sequence_header,
            wire,
            flv: Bytes::new(),
            track: 0,
            config: ConfigKind::SequenceStart,
            arrival: None,
        }
    }

    /// The same frame for track `track`, configuration `config`.
    pub fn with_slot(mut self, track: u8, config: ConfigKind) -> Self {
        self.track = track;
        self.config = config;
        self
    }

    /// The bytes of `form` (a reference count, never a copy). Empty when the form was not
    /// encoded.
    pub fn bytes_for(&self, form: WireForm) -> Bytes {
        match form {
            WireForm::Rtmp => self.wire.clone(),
            WireForm::FlvChunked => self.flv.clone(),
            WireForm::Flv => crate::protocol::flv::chunked::tag_in_chunk(&self.flv)
                .map(|r| self.flv.slice(r))
                .unwrap_or_default(),
        }
    }

    /// Bytes on the wire (chunk headers included).
    pub fn len(&self) -> usize {
        self.wire.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }

    /// A video keyframe a player can start decoding from (sequence headers excluded).
    pub fn is_video_keyframe(&self) -> bool {
        self.kind == MediaKind::Video && self.keyframe && !self.sequence_header
    }

    /// Whether a slow player may skip this frame: metadata and sequence headers are state the
    /// decoder needs for everything after them, so only plain audio/video frames are droppable.
    pub fn is_droppable(&self) -> bool {
        self.kind != MediaKind::Data && !self.sequence_header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_shares_the_wire_bytes() {
        let f = Frame::new(
            MediaKind::Video,
            40,
            true,
            false,
            Bytes::from(vec![7u8; 1000]),
        );
        let g = f.clone();
        assert_eq!(f.wire.as_ptr(), g.wire.as_ptr());
        assert_eq!(g.len(), 1000);
        assert!(!g.is_empty());
    }

    #[test]
    fn keyframe_and_droppable_facts() {
        let w = Bytes::from_static(b"x");
        let key = Frame::new(MediaKind::Video, 0, true, false, w.clone());
        let seq = Frame::new(MediaKind::Video, 0, true, true, w.clone());
        let inter = Frame::new(MediaKind::Video, 0, false, false, w.clone());
        let audio = Frame::new(MediaKind::Audio, 0, false, false, w.clone());
        let aac_seq = Frame::new(MediaKind::Audio, 0, false, true, w.clone());
        let meta = Frame::new(MediaKind::Data, 0, false, false, w);
        assert!(key.is_video_keyframe() && key.is_droppable());
        assert!(!seq.is_video_keyframe() && !seq.is_droppable());
        assert!(!inter.is_video_keyframe() && inter.is_droppable());
        assert!(!audio.is_video_keyframe() && audio.is_droppable());
        assert!(!aac_seq.is_droppable());
        assert!(!meta.is_droppable());
    }
}
