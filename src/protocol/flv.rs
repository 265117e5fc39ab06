//! FLV facts: what an audio/video/data payload is (codec, keyframe, sequence header), Enhanced
//! RTMP ex-headers, `@setDataFrame` metadata, aggregate messages and FLV files.
//!
//! Reads only the few leading bytes it needs; never copies media payloads.
use super::amf::AmfValue;
use bytes::Bytes;

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// Legacy FLV codec id 7.
    Avc,
    /// Enhanced RTMP FourCC `hvc1`.
    Hevc,
    /// Enhanced RTMP FourCC `av01`.
    Av1,
    /// Enhanced RTMP FourCC `vp09`.
    Vp9,
    /// Another legacy codec id (2 Sorenson H.263, 4 VP6, ...).
    Legacy(u8),
    /// Another Enhanced RTMP FourCC.
    FourCc([u8; 4]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFacts {
    pub codec: VideoCodec,
    /// A keyframe (frame type 1) that carries coded data (not a sequence header).
    pub keyframe: bool,
    /// AVC sequence header (AVCPacketType 0) or Enhanced RTMP SequenceStart.
    pub sequence_header: bool,
    /// Frame type 5: video info/command frame, not a picture.
    pub command_frame: bool,
    /// Enhanced RTMP ex-header in use.
    pub ex_header: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFacts {
    /// FLV SoundFormat (10 = AAC), or 9 for Enhanced RTMP ex-header audio.
    pub sound_format: u8,
    /// AAC sequence header (AACPacketType 0) or Enhanced audio SequenceStart.
    pub sequence_header: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("not an FLV file (bad signature)")]
    BadSignature,
    #[error("FLV data ended inside a tag")]
    Truncated,
    #[error("FLV tag of type {0} is not audio, video or script data")]
    BadTagType(u8),
}

/// Facts of a video message payload; None for an empty payload.
pub fn video_facts(payload: &[u8]) -> Option<VideoFacts> {
    let _ = payload;
    todo!()
}

/// Facts of an audio message payload; None for an empty payload.
pub fn audio_facts(payload: &[u8]) -> Option<AudioFacts> {
    let _ = payload;
    todo!()
}

/// If `values` is stream metadata (`@setDataFrame`, `onMetaData`, ...) or `onMetaData`, ...,
/// returns the AMF0 payload to store and send to players: `onMetaData` and its object, with
/// `@setDataFrame` stripped. Other data messages give None.
pub fn metadata_payload(values: &[AmfValue]) -> Option<Vec<u8>> {
    let _ = values;
    todo!()
}

/// One tag of an FLV file or aggregate message, as a range into the buffer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub tag_type: u8,
    /// Timestamp in ms, with the extended (upper) byte applied.
    pub timestamp: u32,
    pub data: std::ops::Range<usize>,
}

/// Checks the FLV file header and returns the offset of the first tag (past PreviousTagSize0).
pub fn parse_file_header(buf: &[u8]) -> Result<usize, FlvError> {
    let _ = buf;
    todo!()
}

/// Iterates over FLV tags in `buf` starting at `offset` (each tag followed by its
/// PreviousTagSize). Stops at the end of the buffer; a truncated tag yields an error.
pub struct TagIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> TagIter<'a> {
    pub fn new(buf: &'a [u8], offset: usize) -> Self {
        TagIter { buf, pos: offset }
    }
}

impl Iterator for TagIter<'_> {
    type Item = Result<FlvTag, FlvError>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = (self.buf, self.pos);
        todo!()
    }
}

/// Splits an aggregate message into (type, timestamp, payload) sub-messages. Sub-message
/// timestamps are rebased so the first one equals `message_timestamp`. Payloads are slices of
/// `payload` (no copy).
pub fn split_aggregate(payload: &Bytes, message_timestamp: u32) -> Result<Vec<(u8, u32, Bytes)>, FlvError> {
    let _ = (payload, message_timestamp);
    todo!()
}
