//! The per-stream CMAF segmenter: RTMP audio/video messages in, init segments, parts and
//! segments out into the stream's [`SharedStream`].
//!
//! Call order (home shard, frame path): [`Segmenter::new`] when the stream starts, then
//! [`Segmenter::push`] for every audio/video message in arrival order with its RTMP timestamp,
//! its FLV tag body and the `now` of the input that carried it, and [`Segmenter::finish`] when
//! the publisher leaves. `push` returns [`Pushed::Published`] when a part (and maybe a segment)
//! was completed and a new snapshot is readable: the moment to wake blocked playlist and
//! preload-hint requests.
//!
//! Cutting rules:
//! - A stream with video starts at its first keyframe; segments are cut at the first keyframe
//!   at or past the segment target duration; parts are cut before the sample that would carry
//!   a part past the part target (a part starting with a keyframe is INDEPENDENT). Audio goes
//!   into the part open when it arrives.
//! - Audio only: segments and parts are cut by duration at any audio frame.
//! - A changed sequence header (or a track appearing) takes effect at the next cut point with a
//!   new init segment version and a discontinuity.
//! - Bounds: a segment is cut at any frame once it reaches [`MAX_SEGMENT_FACTOR`] times the
//!   target or half the stream's byte budget (keyframe-less input); a part holds at most
//!   [`MAX_PART_SAMPLES`] samples per track; the window keeps `window_segments` complete
//!   segments and drops the oldest while the bytes held exceed `max_bytes`.
//!
//! Timing: video uses a 90 kHz timescale (DTS = RTMP ms × 90, duration = next DTS − this DTS:
//! the last sample of each track is held back until its successor arrives), audio its sample
//! rate with exactly 1024 ticks per AAC frame, resynchronised to the RTMP timestamp only when
//! the two drift more than two frames apart. RTMP timestamps are unwrapped to 64 bits; a jump
//! of more than [`TIMESTAMP_JUMP_MS`] either way is smoothed over so that the output timeline
//! stays continuous. Never reads a clock or does I/O: every instant is an argument.
use super::boxes::{
    fragment, AudioTrack, BoxError, SampleEntry, VideoTrack, AAC_FRAME_SAMPLES, AUDIO_TRACK_ID,
    FLAGS_NON_SYNC, FLAGS_SYNC, VIDEO_TIMESCALE, VIDEO_TRACK_ID,
};
use super::input::{parse_media, InputError, MediaUnit, VideoCodecKind};
use super::store::{Init, Part, Segment, SharedStream, Snapshot, Timing, WallClock};
use crate::media::frame::MediaKind;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// A segment is cut at any frame past this many times the target duration.
pub const MAX_SEGMENT_FACTOR: u64 = 5;
/// At most this many samples per track in one part.
pub const MAX_PART_SAMPLES: usize = 1000;
/// A timestamp step larger than this (either way) is a jump, not media time.
pub const TIMESTAMP_JUMP_MS: i64 = 10_000;

use super::building::{build_init, extend_span, OpenPart, OpenSegment, Timeline, TrackRun};

/// What the segmenter needs from the configuration (see `control::hls::HlsConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterSettings {
    pub segment_target_ms: u64,
    pub part_target_ms: u64,
    pub window_segments: usize,
    pub max_bytes: usize,
}

/// Why one message was not segmented. Never fatal: the stream goes on, the message is lost
/// to HLS/DASH only (RTMP players still get it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Box(#[from] BoxError),
}

/// What one [`Segmenter::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Buffered into the open part (or a configuration stored).
    Buffered,
    /// Not usable yet: before the first keyframe, before its codec configuration, or audio
    /// of a configuration that takes effect at the next cut.
    Dropped,
    /// A part was completed and a new snapshot published with this version.
    Published(u64),
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmenterStats {
    pub parts: u64,
    pub segments: u64,
    pub evicted: u64,
    pub dropped: u64,
    pub forced_cuts: u64,
    pub timestamp_jumps: u64,
}

/// The tracks of the init segment in force.
#[derive(Debug, Clone)]
struct ActiveInit {
    version: u32,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
}

/// The segmenter of one stream; see the module doc.
#[derive(Debug)]
pub struct Segmenter {
    settings: SegmenterSettings,
    shared: Arc<SharedStream>,
    clock: WallClock,
    video_config: Option<VideoTrack>,
    audio_config: Option<AudioTrack>,
    active: Option<ActiveInit>,
    inits: Vec<Arc<Init>>,
    timeline: Timeline,
    video_last_dts: Option<u64>,
    video_last_duration: u32,
    audio_next: Option<u64>,
    segments: VecDeque<Arc<Segment>>,
    bytes: usize,
    open: Option<OpenSegment>,
    next_msn: u64,
    fragment_sequence: u32,
    timing: Timing,
    anchor: Option<(u64, Instant)>,
    discontinuity_sequence: u64,
    ended: bool,
    stats: SegmenterStats,
}

impl Segmenter {
    /// A segmenter with an empty window; `clock` pairs an instant with the wall clock once.
    pub fn new(settings: SegmenterSettings, clock: WallClock) -> Self {
        let timing = Timing {
            segment_target_ms: settings.segment_target_ms,
            part_target_ms: settings.part_target_ms,
            max_segment_ms: settings.segment_target_ms,
        };
        Segmenter {
            settings,
            shared: Arc::new(SharedStream::new(Snapshot::empty(clock, timing))),
            clock,
            video_config: None,
            audio_config: None,
            active: None,
            inits: Vec::new(),
            timeline: Timeline::default(),
            video_last_dts: None,
            video_last_duration: VIDEO_TIMESCALE / 25,
            audio_next: None,
            segments: VecDeque::new(),
            bytes: 0,
            open: None,
            next_msn: 0,
            fragment_sequence: 0,
            timing,
            anchor: None,
            discontinuity_sequence: 0,
            ended: false,
            stats: SegmenterStats::default(),
        }
    }

    /// The store readers on every shard share.
    pub fn shared(&self) -> &Arc<SharedStream> {
        &self.shared
    }

    pub fn stats(&self) -> SegmenterStats {
        self.stats
    }

    /// Feeds one audio or video message (data messages are ignored): `timestamp` is its RTMP
    /// timestamp (ms), `body` the message payload (FLV tag body), `now` when it arrived.
    pub fn push(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        body: &[u8],
        now: Instant,
    ) -> Result<Pushed, SegmentError> {
        if self.ended {
            return Ok(Pushed::Dropped);
        }
        let unit = parse_media(kind, body)?;
        let before = self.shared.version();
        let outcome = match unit {
            MediaUnit::Skip => Pushed::Buffered,
            MediaUnit::VideoConfig { codec, record } => {
                let track = VideoTrack::new(codec, record)?;
                if self.video_config.as_ref().map(|v| &v.record) != Some(&track.record) {
                    self.video_config = Some(track);
                }
                Pushed::Buffered
            }
            MediaUnit::AudioConfig { config } => {
                let track = AudioTrack::new(config)?;
                if self.audio_config.as_ref().map(|a| &a.config) != Some(&track.config) {
                    self.audio_config = Some(track);
                }
                Pushed::Buffered
            }
            MediaUnit::VideoSample {
                codec,
                keyframe,
                composition_ms,
                data,
            } => {
                let (t, jumped) = self.timeline.map(timestamp);
                self.count_jump(jumped);
                self.video_sample(codec, keyframe, composition_ms, data, t, now)?
            }
            MediaUnit::AudioSample { data } => {
                let (t, jumped) = self.timeline.map(timestamp);
                self.count_jump(jumped);
                self.audio_sample(data, t, now)?
            }
        };
        let after = self.shared.version();
        Ok(if after != before {
            Pushed::Published(after)
        } else {
            outcome
        })
    }

    /// The publisher left: completes the open part and segment and marks the window ended.
    pub fn finish(&mut self, now: Instant) -> Result<u64, SegmentError> {
        if !self.ended {
            if let Some(open) = &mut self.open {
                // The held-back last video sample gets the previous frame's duration.
                if let Some(last) = open.part.video.samples.last_mut() {
                    last.duration = self.video_last_duration;
                }
            }
            let end = self.open_end_ms();
            self.close_segment(end, now)?;
            self.ended = true;
        }
        Ok(self.publish())
    }

    fn count_jump(&mut self, jumped: bool) {
        if jumped {
            self.stats.timestamp_jumps += 1;
        }
    }

    /// The media time the open part's samples reach (for closing at end of stream).
    fn open_end_ms(&self) -> u64 {
        let Some(open) = &self.open else { return 0 };
        let part = &open.part;
        let video_end = (!part.video.samples.is_empty())
            .then(|| (part.video.base + part.video.duration()) / u64::from(VIDEO_TIMESCALE / 1000));
        let audio_end = self.audio_config.as_ref().and_then(|a| {
            (!part.audio.samples.is_empty()).then(|| {
                (part.audio.base + part.audio.duration()) * 1000 / u64::from(a.sample_rate)
            })
        });
        video_end
            .into_iter()
            .chain(audio_end)
            .max()
            .unwrap_or(part.start_ms)
            .max(part.start_ms)
    }

    /// Whether the latest configurations differ from the init in force.
    fn init_is_stale(&self, with_video: bool) -> bool {
        let Some(active) = &self.active else {
            return true;
        };
        let video = if with_video {
            self.video_config.as_ref()
        } else {
            None
        };
        active.video.as_ref().map(|v| &v.record) != video.map(|v| &v.record)
            || active.audio.as_ref().map(|a| &a.config)
                != self.audio_config.as_ref().map(|a| &a.config)
    }

    fn video_sample(
        &mut self,
        codec: VideoCodecKind,
        keyframe: bool,
        composition_ms: i32,
        data: &[u8],
        t: u64,
        now: Instant,
    ) -> Result<Pushed, SegmentError> {
        if self.video_config.as_ref().map(|v| v.codec) != Some(codec) {
            self.stats.dropped += 1;
            return Ok(Pushed::Dropped);
        }
        let ticks_per_ms = u64::from(VIDEO_TIMESCALE / 1000);
        let mut dts = t * ticks_per_ms;
        if let Some(last) = self.video_last_dts {
            dts = dts.max(last + 1);
        }
        // The held-back sample learns its duration from this one.
        if let (Some(open), Some(last)) = (&mut self.open, self.video_last_dts) {
            if let Some(held) = open.part.video.samples.last_mut() {
                held.duration = u32::try_from(dts - last).unwrap_or(u32::MAX);
                self.video_last_duration = held.duration;
            }
        }
        let t = dts / ticks_per_ms;
        let frame_ms = u64::from(self.video_last_duration) / ticks_per_ms;
        match &self.open {
            None if !keyframe => {
                self.stats.dropped += 1;
                return Ok(Pushed::Dropped);
            }
            None => self.open_segment(t, true, true)?,
            Some(open) => {
                let segment_ms = t.saturating_sub(open.segment.start_ms);
                let part_ms = t.saturating_sub(open.part.start_ms);
                let stale = self.init_is_stale(true);
                let active_has_video = self.active.as_ref().is_some_and(|a| a.video.is_some());
                if keyframe
                    && (stale || !active_has_video || segment_ms >= self.settings.segment_target_ms)
                {
                    self.close_segment(t, now)?;
                    self.open_segment(t, true, true)?;
                } else if !active_has_video {
                    // Video appeared in an audio-only stream: it starts at its first keyframe.
                    self.stats.dropped += 1;
                    return Ok(Pushed::Dropped);
                } else if self.over_segment_bounds(segment_ms, open) {
                    self.stats.forced_cuts += 1;
                    self.close_segment(t, now)?;
                    self.open_segment(t, keyframe, true)?;
                } else if part_ms + frame_ms > self.settings.part_target_ms
                    || open.part.video.samples.len() >= MAX_PART_SAMPLES
                {
                    self.close_part(t, now, keyframe)?;
                }
            }
        }
        let entry = SampleEntry {
            duration: self.video_last_duration,
            size: data.len() as u32,
            flags: if keyframe { FLAGS_SYNC } else { FLAGS_NON_SYNC },
            composition: composition_ms.saturating_mul(ticks_per_ms as i32),
        };
        if let Some(open) = &mut self.open {
            open.part.video.push(dts, entry, data);
            open.bytes += data.len();
        }
        self.video_last_dts = Some(dts);
        Ok(Pushed::Buffered)
    }

    fn over_segment_bounds(&self, segment_ms: u64, open: &OpenSegment) -> bool {
        segment_ms >= self.settings.segment_target_ms * MAX_SEGMENT_FACTOR
            || open.bytes >= self.settings.max_bytes / 2
    }

    fn audio_sample(&mut self, data: &[u8], t: u64, now: Instant) -> Result<Pushed, SegmentError> {
        let Some(rate) = self.audio_config.as_ref().map(|a| u64::from(a.sample_rate)) else {
            self.stats.dropped += 1;
            return Ok(Pushed::Dropped);
        };
        let frame = u64::from(AAC_FRAME_SAMPLES);
        let actual = t * rate / 1000;
        let dts = match self.audio_next {
            Some(next) if next.abs_diff(actual) <= 2 * frame => next,
            _ => actual,
        };
        let with_video = self.video_config.is_some();
        let frame_ms = frame * 1000 / rate;
        match &self.open {
            None if with_video => {
                self.stats.dropped += 1;
                return Ok(Pushed::Dropped);
            }
            None => self.open_segment(t, true, false)?,
            Some(open) => {
                let audio_matches = self.active.as_ref().and_then(|a| a.audio.as_ref())
                    == self.audio_config.as_ref();
                let segment_ms = t.saturating_sub(open.segment.start_ms);
                let part_ms = t.saturating_sub(open.part.start_ms);
                let audio_only = self.active.as_ref().is_some_and(|a| a.video.is_none());
                if self.over_segment_bounds(segment_ms, open) {
                    self.stats.forced_cuts += 1;
                    self.close_segment(t, now)?;
                    self.open_segment(t, !with_video, with_video)?;
                } else if audio_only && !with_video {
                    if !audio_matches || segment_ms >= self.settings.segment_target_ms {
                        self.close_segment(t, now)?;
                        self.open_segment(t, true, false)?;
                    } else if part_ms + frame_ms > self.settings.part_target_ms
                        || open.part.audio.samples.len() >= MAX_PART_SAMPLES
                    {
                        self.close_part(t, now, true)?;
                    }
                } else if !audio_matches || open.part.audio.samples.len() >= MAX_PART_SAMPLES {
                    // New audio configuration (or a track not in the init): it joins at the
                    // next keyframe cut.
                    self.stats.dropped += 1;
                    return Ok(Pushed::Dropped);
                }
            }
        }
        let entry = SampleEntry {
            duration: AAC_FRAME_SAMPLES,
            size: data.len() as u32,
            flags: FLAGS_SYNC,
            composition: 0,
        };
        if let Some(open) = &mut self.open {
            open.part.audio.push(dts, entry, data);
            open.bytes += data.len();
        }
        self.audio_next = Some(dts + frame);
        Ok(Pushed::Buffered)
    }

    /// Starts segment `next_msn` at `t`, with a new init version if the configuration moved.
    fn open_segment(
        &mut self,
        t: u64,
        independent: bool,
        with_video: bool,
    ) -> Result<(), SegmentError> {
        let mut discontinuity = false;
        if self.init_is_stale(with_video) {
            discontinuity = self.active.is_some();
            self.new_init(with_video)?;
        }
        let version = self.active.as_ref().map_or(0, |a| a.version);
        self.open = Some(OpenSegment {
            segment: Segment {
                msn: self.next_msn,
                init: version,
                discontinuity,
                independent,
                start_ms: t,
                duration_ms: 0,
                parts: Vec::new(),
                video: None,
                audio: None,
                completed_at: None,
            },
            part: OpenPart::new(t, independent),
            bytes: 0,
        });
        self.next_msn += 1;
        Ok(())
    }

    fn new_init(&mut self, with_video: bool) -> Result<(), SegmentError> {
        let video = if with_video {
            self.video_config.clone()
        } else {
            None
        };
        let audio = self.audio_config.clone();
        let version = self.active.as_ref().map_or(0, |a| a.version + 1);
        self.inits.push(Arc::new(build_init(
            version,
            video.as_ref(),
            audio.as_ref(),
        )?));
        self.active = Some(ActiveInit {
            version,
            video,
            audio,
        });
        Ok(())
    }

    /// Completes the open part at media time `end` (one fragment per track that has samples)
    /// and opens the next, `independent` when it will start with a keyframe.
    fn close_part(
        &mut self,
        end: u64,
        now: Instant,
        independent: bool,
    ) -> Result<(), SegmentError> {
        let Some(open) = &mut self.open else {
            return Ok(());
        };
        let part = std::mem::replace(&mut open.part, OpenPart::new(end, independent));
        if part.video.samples.is_empty() && part.audio.samples.is_empty() {
            return Ok(());
        }
        let mut fragment_of = |run: &TrackRun, track_id: u32| -> Result<Option<Bytes>, BoxError> {
            if run.samples.is_empty() {
                return Ok(None);
            }
            self.fragment_sequence = self.fragment_sequence.wrapping_add(1);
            fragment(
                self.fragment_sequence,
                track_id,
                run.base,
                &run.samples,
                &run.data,
            )
            .map(|f| Some(Bytes::from(f)))
        };
        let video = fragment_of(&part.video, VIDEO_TRACK_ID)?;
        let audio = fragment_of(&part.audio, AUDIO_TRACK_ID)?;
        let duration_ms = end.saturating_sub(part.start_ms);
        extend_span(&mut open.segment.video, &part.video);
        extend_span(&mut open.segment.audio, &part.audio);
        open.segment.parts.push(Part {
            duration_ms,
            independent: part.independent,
            video,
            audio,
            available_at: now,
        });
        self.timing.part_target_ms = self.timing.part_target_ms.max(duration_ms);
        if self.anchor.is_none() {
            let start = open.segment.start_ms;
            let elapsed = std::time::Duration::from_millis(end.saturating_sub(start));
            self.anchor = Some((start, now.checked_sub(elapsed).unwrap_or(now)));
        }
        self.stats.parts += 1;
        self.publish();
        Ok(())
    }

    /// Completes the open part and segment at media time `end` and slides the window.
    fn close_segment(&mut self, end: u64, now: Instant) -> Result<(), SegmentError> {
        self.close_part(end, now, false)?;
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let mut segment = open.segment;
        if segment.parts.is_empty() {
            return Ok(());
        }
        segment.duration_ms = end.saturating_sub(segment.start_ms);
        segment.completed_at = Some(now);
        self.timing.max_segment_ms = self.timing.max_segment_ms.max(segment.duration_ms);
        self.bytes += segment.len();
        self.segments.push_back(Arc::new(segment));
        self.stats.segments += 1;
        while self.segments.len() > self.settings.window_segments.max(1)
            || (self.bytes > self.settings.max_bytes && self.segments.len() > 1)
        {
            if let Some(old) = self.segments.pop_front() {
                self.bytes -= old.len();
                self.stats.evicted += 1;
                if old.discontinuity {
                    self.discontinuity_sequence += 1;
                }
            }
        }
        // A single segment over the budget is still served: it is bounded by the forced cut.
        let keep: Vec<u32> = self.segments.iter().map(|s| s.init).collect();
        let active = self.active.as_ref().map(|a| a.version);
        self.inits
            .retain(|i| keep.contains(&i.version) || Some(i.version) == active);
        self.publish();
        Ok(())
    }

    /// Publishes the current window; returns the new version.
    fn publish(&mut self) -> u64 {
        let open = self.open.as_ref().map(|o| Arc::new(o.segment.clone()));
        let snapshot = Snapshot {
            segments: self.segments.iter().cloned().collect(),
            open,
            inits: self.inits.clone(),
            timing: self.timing,
            ended: self.ended,
            clock: self.clock,
            anchor: self.anchor,
            discontinuity_sequence: self.discontinuity_sequence,
            version: 0,
        };
        self.shared.publish(snapshot)
    }
}

#[cfg(test)]
#[path = "segmenter_tests.rs"]
mod tests;
