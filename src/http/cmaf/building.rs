//! The segmenter's working state: the open part and segment being filled, the RTMP
//! timestamp unwrapping, and the init segment built for a set of tracks. Internal to
//! [`super::segmenter`]; no I/O, no clock.
use super::boxes::{init_segment, AudioTrack, BoxError, SampleEntry, VideoTrack, VIDEO_TIMESCALE};
use super::segmenter::TIMESTAMP_JUMP_MS;
use super::store::{Init, Segment, TrackInfo, TrackSpan};
use bytes::Bytes;

/// One track's samples of the open part.
#[derive(Debug, Default)]
pub(super) struct TrackRun {
    pub(super) base: u64,
    pub(super) samples: Vec<SampleEntry>,
    pub(super) data: Vec<u8>,
}

impl TrackRun {
    pub(super) fn push(&mut self, dts: u64, entry: SampleEntry, data: &[u8]) {
        if self.samples.is_empty() {
            self.base = dts;
        }
        self.samples.push(entry);
        self.data.extend_from_slice(data);
    }

    pub(super) fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

#[derive(Debug)]
pub(super) struct OpenPart {
    pub(super) start_ms: u64,
    pub(super) independent: bool,
    pub(super) video: TrackRun,
    pub(super) audio: TrackRun,
}

impl OpenPart {
    pub(super) fn new(start_ms: u64, independent: bool) -> Self {
        OpenPart {
            start_ms,
            independent,
            video: TrackRun::default(),
            audio: TrackRun::default(),
        }
    }
}

#[derive(Debug)]
pub(super) struct OpenSegment {
    pub(super) segment: Segment,
    pub(super) part: OpenPart,
    pub(super) bytes: usize,
}

/// RTMP millisecond timestamps unwrapped to a continuous 64-bit timeline.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    last: Option<(u32, u64)>,
}

impl Timeline {
    /// The output time of `ts`, and whether it was a jump.
    pub(super) fn map(&mut self, ts: u32) -> (u64, bool) {
        let (out, jumped) = match self.last {
            None => (u64::from(ts), false),
            Some((prev, prev_out)) => {
                let delta = i64::from(ts.wrapping_sub(prev) as i32);
                if delta.abs() > TIMESTAMP_JUMP_MS {
                    (prev_out + 1, true)
                } else {
                    (prev_out.saturating_add_signed(delta), false)
                }
            }
        };
        self.last = Some((ts, out));
        (out, jumped)
    }
}

pub(super) fn extend_span(span: &mut Option<TrackSpan>, run: &TrackRun) {
    if run.samples.is_empty() {
        return;
    }
    let s = span.get_or_insert(TrackSpan {
        start: run.base,
        duration: 0,
    });
    s.duration = (run.base + run.duration()).saturating_sub(s.start);
}

/// The init segment of `version` for these tracks: the muxed form and one per track.
pub(super) fn build_init(
    version: u32,
    video: Option<&VideoTrack>,
    audio: Option<&AudioTrack>,
) -> Result<Init, BoxError> {
    let video_info = video.map(|v| TrackInfo {
        codec: v.codec_string.clone(),
        timescale: VIDEO_TIMESCALE,
        sample_rate: 0,
        channels: 0,
    });
    let audio_info = audio.map(|a| TrackInfo {
        codec: a.codec_string.clone(),
        timescale: a.sample_rate,
        sample_rate: a.sample_rate,
        channels: a.channels,
    });
    let muxed = Bytes::from(init_segment(video, audio)?);
    let video = match (video, video_info) {
        (Some(v), Some(info)) => Some((Bytes::from(init_segment(Some(v), None)?), info)),
        _ => None,
    };
    let audio = match (audio, audio_info) {
        (Some(a), Some(info)) => Some((Bytes::from(init_segment(None, Some(a))?), info)),
        _ => None,
    };
    Ok(Init {
        version,
        muxed,
        video,
        audio,
    })
}
