//! CMAF (fragmented MP4) segmenting of live RTMP streams, for HLS and DASH.
//!
//! - [`input`]: an RTMP audio/video message body reduced to a codec configuration or sample.
//! - [`boxes`]: init segments and moof+mdat fragments, written with `mp4-atom`.
//! - [`sps`], [`hevc_sps`]: the picture size of an H.264 / H.265 SPS for the sample entry.
//! - [`segmenter`]: the per-stream [`Segmenter`] (home shard, sans-IO) cutting parts and
//!   segments at keyframes into a sliding window.
//! - `building`: the segmenter's open part/segment, timestamp unwrapping, init building.
//! - [`store`]: the [`SharedStream`] every shard reads: immutable [`Snapshot`]s of `Bytes`.
//! - [`recording`]: a window written out as one fragmented MP4 file.
//!
//! One fragment stream per track (CMAF tracks): DASH serves each track on its own; HLS serves
//! the per-track fragments of the same interval back to back (the same `Bytes`), with a
//! two-track init segment. No I/O, no clock reads anywhere in this module.
pub mod boxes;
mod building;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod hevc_sps;
pub mod input;
pub mod recording;
pub mod segmenter;
pub mod sps;
pub mod store;

pub use segmenter::{Pushed, SegmentError, Segmenter, SegmenterSettings, SegmenterStats};
pub use store::{
    Init, Lookup, Part, Resource, Segment, SharedStream, Snapshot, Timing, TrackInfo, TrackKind,
    TrackSpan, WallClock,
};
