//! What the publisher sends and when: the synthetic source (valid H.264 + AAC at a target
//! bitrate) or an FLV file replayed in real time. Both stamp every AVC video frame with the
//! latency SEI ([`crate::sei`]).
//!
//! Call order: build, [`Source::begin`] with the time publishing started, then repeatedly
//! [`Source::next_due_ns`] and, when due, [`Source::next`]. A source never ends (files
//! loop); the publisher stops asking at the end of the run. No I/O after construction, no
//! clock: times are passed in.
mod file;
mod synthetic;

pub use file::FileSource;
pub use synthetic::{SyntheticConfig, SyntheticSource};

use crate::sei::Stamp;
use rtmp_edge::protocol::amf::AmfValue;

/// The body of one message to publish.
#[derive(Debug)]
pub enum Body<'a> {
    /// Payload of an audio (8), video (9) or AMF0 data (18) message.
    Media(&'a [u8]),
    /// Stream metadata, sent as `@setDataFrame onMetaData`.
    Metadata(&'a AmfValue),
}

/// One message to publish.
#[derive(Debug)]
pub struct Item<'a> {
    pub type_id: u8,
    /// RTMP timestamp, ms since the start of publishing (wraps at 2^32).
    pub timestamp: u32,
    pub body: Body<'a>,
    /// Set on stamped video frames.
    pub stamp: Option<Stamp>,
}

pub enum Source {
    Synthetic(Box<SyntheticSource>),
    File(FileSource),
}

impl Source {
    /// Anchors the schedule: message times count from `start_ns` (CLOCK_MONOTONIC).
    pub fn begin(&mut self, start_ns: u64) {
        match self {
            Source::Synthetic(s) => s.begin(start_ns),
            Source::File(s) => s.begin(start_ns),
        }
    }

    /// When the next message is due (CLOCK_MONOTONIC ns).
    pub fn next_due_ns(&self) -> u64 {
        match self {
            Source::Synthetic(s) => s.next_due_ns(),
            Source::File(s) => s.next_due_ns(),
        }
    }

    /// The next message; advances the schedule.
    pub fn next(&mut self) -> Item<'_> {
        match self {
            Source::Synthetic(s) => s.next(),
            Source::File(s) => s.next(),
        }
    }

    /// Nominal media bitrate (bits per second) for reports; a file's is its average.
    pub fn nominal_bps(&self) -> u64 {
        match self {
            Source::Synthetic(s) => s.nominal_bps(),
            Source::File(s) => s.nominal_bps(),
        }
    }
}
