//! The per-stream segment store: what the segmenter has cut, shared by every shard.
//!
//! The home shard's [`super::Segmenter`] is the only writer. After each completed part it
//! publishes a new immutable [`Snapshot`] into the [`SharedStream`] (an `Arc` any shard may
//! hold). Readers call [`SharedStream::snapshot`]: a mutex held only to clone one `Arc`, so a
//! reader never waits for the segmenter's work and never copies media: parts are `Bytes` and
//! complete segments are `Arc<Segment>`, so publishing costs one `Vec` of `Arc` clones a few
//! times a second. (A std `Mutex<Arc<_>>` does what `arc-swap` would at this rate, without a
//! dependency; the lock is never held across anything but the clone.)
//!
//! [`SharedStream::version`] counts publishes: a request waiting on a blocking playlist reload
//! or a preload-hinted part re-checks when it moves (see `hls::blocking_reload`).
//!
//! [`Resource`] names the files served (see [`Resource::parse`]); [`Snapshot::lookup`] answers
//! one with its bytes, "partial" (an open segment, for chunked transfer), "pending" (the next
//! part or segment: hold the request) or "not found". No I/O, no clock: instants are arguments.
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The pairing of a monotonic instant with the wall clock, taken once by the caller, so that
/// availability instants can be written as UTC (`EXT-X-PROGRAM-DATE-TIME`, DASH
/// `availabilityStartTime`) without the segmenter reading a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    pub instant: Instant,
    pub system: SystemTime,
}

impl WallClock {
    /// The wall-clock time of `at`.
    pub fn at(&self, at: Instant) -> SystemTime {
        if at >= self.instant {
            self.system + (at - self.instant)
        } else {
            self.system - (self.instant - at)
        }
    }
}

/// Audio or video, for per-track (DASH) resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
}

impl TrackKind {
    pub fn name(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
        }
    }
}

/// One partial segment: one CMAF fragment (moof+mdat) per track over the same interval.
#[derive(Debug, Clone)]
pub struct Part {
    pub duration_ms: u64,
    /// Starts with a video keyframe (always true for audio-only streams).
    pub independent: bool,
    pub video: Option<Bytes>,
    pub audio: Option<Bytes>,
    /// When the part was complete.
    pub available_at: Instant,
}

impl Part {
    /// The part as HLS serves it: the per-track fragments back to back (same `Bytes`).
    pub fn muxed(&self) -> impl Iterator<Item = &Bytes> {
        self.video.iter().chain(self.audio.iter())
    }

    pub fn track(&self, track: TrackKind) -> Option<&Bytes> {
        match track {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        }
    }

    pub fn len(&self) -> usize {
        self.muxed().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where one track's samples of a segment lie on its own timeline (track timescale ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackSpan {
    pub start: u64,
    pub duration: u64,
}

/// One media segment: its parts in order; complete once `completed_at` is set.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Media sequence number (HLS) = DASH `$Number$`.
    pub msn: u64,
    /// Version of the init segment the fragments need.
    pub init: u32,
    /// The first segment after a configuration change or a timestamp jump.
    pub discontinuity: bool,
    /// Starts with a keyframe (or audio only).
    pub independent: bool,
    /// Start on the stream's millisecond timeline.
    pub start_ms: u64,
    pub duration_ms: u64,
    pub parts: Vec<Part>,
    pub video: Option<TrackSpan>,
    pub audio: Option<TrackSpan>,
    pub completed_at: Option<Instant>,
}

impl Segment {
    pub fn is_complete(&self) -> bool {
        self.completed_at.is_some()
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn span(&self, track: TrackKind) -> Option<TrackSpan> {
        match track {
            TrackKind::Video => self.video,
            TrackKind::Audio => self.audio,
        }
    }

    /// The segment as HLS serves it (every part's fragments, in order).
    pub fn muxed(&self) -> Vec<Bytes> {
        self.parts.iter().flat_map(Part::muxed).cloned().collect()
    }

    /// One track's fragments (a DASH segment).
    pub fn track(&self, track: TrackKind) -> Vec<Bytes> {
        self.parts
            .iter()
            .filter_map(|p| p.track(track))
            .cloned()
            .collect()
    }
}

/// Codec facts of one track for manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub codec: String,
    pub timescale: u32,
    /// Audio: sample rate and channel count.
    pub sample_rate: u32,
    pub channels: u16,
}

/// One init segment version: the muxed form for HLS and one per track for DASH.
#[derive(Debug, Clone)]
pub struct Init {
    pub version: u32,
    pub muxed: Bytes,
    pub video: Option<(Bytes, TrackInfo)>,
    pub audio: Option<(Bytes, TrackInfo)>,
}

impl Init {
    pub fn track(&self, track: TrackKind) -> Option<&(Bytes, TrackInfo)> {
        match track {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        }
    }

    /// RFC 6381 codecs list (`avc1.64001f,mp4a.40.2`).
    pub fn codecs(&self) -> String {
        let list: Vec<&str> = [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .map(|(_, t)| t.codec.as_str())
            .collect();
        list.join(",")
    }
}

/// Durations and bounds the manifests announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Configured segment target.
    pub segment_target_ms: u64,
    /// Longest part so far, at least the configured part target (EXT-X-PART-INF).
    pub part_target_ms: u64,
    /// Longest segment so far, at least the configured target (EXT-X-TARGETDURATION).
    pub max_segment_ms: u64,
}

/// An immutable view of one stream's window.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Complete segments, oldest first, consecutive msn.
    pub segments: Vec<Arc<Segment>>,
    /// The segment being cut (its complete parts so far), if any.
    pub open: Option<Arc<Segment>>,
    /// Init segments referenced by the window, oldest first.
    pub inits: Vec<Arc<Init>>,
    pub timing: Timing,
    /// The stream ended: no more parts will come (EXT-X-ENDLIST, DASH type static is not
    /// used: the window just stops).
    pub ended: bool,
    pub clock: WallClock,
    /// Media time (ms) and the instant it arrived, fixed at the stream's first part: the
    /// mapping from media time to wall-clock time (PROGRAM-DATE-TIME, availabilityStartTime).
    pub anchor: Option<(u64, Instant)>,
    /// Discontinuities evicted from the window so far (EXT-X-DISCONTINUITY-SEQUENCE).
    pub discontinuity_sequence: u64,
    /// Publish counter (equals [`SharedStream::version`] at publish).
    pub version: u64,
}

/// One HLS/DASH file name of a stream. Names (relative to `/APP/STREAM/`):
/// `init-V.mp4`, `MSN.m4s`, `MSN.PART.m4s` (HLS, both tracks), `video-init-V.mp4`,
/// `audio-init-V.mp4`, `video-MSN.m4s`, `audio-MSN.m4s` (DASH, one track each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Init(u32),
    Segment(u64),
    Part(u64, u32),
    TrackInit(TrackKind, u32),
    TrackSegment(TrackKind, u64),
}

impl Resource {
    pub fn parse(name: &str) -> Option<Resource> {
        fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
            // Digits only: no sign, no spaces, bounded length.
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        if let Some(stem) = name.strip_suffix(".mp4") {
            for track in [TrackKind::Video, TrackKind::Audio] {
                if let Some(v) = stem
                    .strip_prefix(track.name())
                    .and_then(|s| s.strip_prefix("-init-"))
                {
                    return Some(Resource::TrackInit(track, num(v)?));
                }
            }
            return Some(Resource::Init(num(stem.strip_prefix("init-")?)?));
        }
        let stem = name.strip_suffix(".m4s")?;
        for track in [TrackKind::Video, TrackKind::Audio] {
            if let Some(n) = stem
                .strip_prefix(track.name())
                .and_then(|s| s.strip_prefix('-'))
            {
                return Some(Resource::TrackSegment(track, num(n)?));
            }
        }
        match stem.split_once('.') {
            Some((msn, part)) => Some(Resource::Part(num(msn)?, num(part)?)),
            None => Some(Resource::Segment(num(stem)?)),
        }
    }

    /// The file name (inverse of [`Resource::parse`]).
    pub fn name(&self) -> String {
        match self {
            Resource::Init(v) => format!("init-{v}.mp4"),
            Resource::Segment(n) => format!("{n}.m4s"),
            Resource::Part(n, p) => format!("{n}.{p}.m4s"),
            Resource::TrackInit(t, v) => format!("{}-init-{v}.mp4", t.name()),
            Resource::TrackSegment(t, n) => format!("{}-{n}.m4s", t.name()),
        }
    }
}

/// The answer to a resource request.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The whole body, as chunks to write in order.
    Ready(Vec<Bytes>),
    /// An open segment: these parts so far, more to come (chunked transfer; look up again
    /// when [`SharedStream::version`] moves and send the chunks past those already sent).
    Partial(Vec<Bytes>),
    /// The next part or segment: hold the request until the version moves.
    Pending,
    NotFound,
}

impl Snapshot {
    /// An empty window (nothing cut yet).
    pub fn empty(clock: WallClock, timing: Timing) -> Self {
        Snapshot {
            segments: Vec::new(),
            open: None,
            inits: Vec::new(),
            timing,
            ended: false,
            clock,
            anchor: None,
            discontinuity_sequence: 0,
            version: 0,
        }
    }

    /// The segment with this msn, complete or open.
    pub fn segment(&self, msn: u64) -> Option<&Arc<Segment>> {
        if let Some(open) = self.open.as_ref().filter(|s| s.msn == msn) {
            return Some(open);
        }
        let first = self.segments.first()?.msn;
        let index = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(index)
    }

    /// The msn of the last complete segment.
    pub fn last_complete_msn(&self) -> Option<u64> {
        self.segments.last().map(|s| s.msn)
    }

    /// The next part to come: (msn, part index) of the EXT-X-PRELOAD-HINT.
    pub fn next_part(&self) -> Option<(u64, u32)> {
        if self.ended {
            return None;
        }
        match (&self.open, self.segments.last()) {
            (Some(open), _) => Some((open.msn, open.parts.len() as u32)),
            (None, Some(last)) => Some((last.msn + 1, 0)),
            (None, None) => None,
        }
    }

    pub fn init(&self, version: u32) -> Option<&Arc<Init>> {
        self.inits.iter().find(|i| i.version == version)
    }

    /// The init of the newest segment (what a DASH client starts with).
    pub fn current_init(&self) -> Option<&Arc<Init>> {
        let newest = self.open.as_ref().or(self.segments.last())?;
        self.init(newest.init)
    }

    /// Bytes of media held (complete segments and the open one's parts).
    pub fn media_bytes(&self) -> usize {
        self.segments
            .iter()
            .chain(self.open.iter())
            .map(|s| s.len())
            .sum()
    }

    /// Answers a request for `resource`.
    pub fn lookup(&self, resource: Resource) -> Lookup {
        let upcoming = |msn: u64| self.next_part().is_some_and(|(next, _)| next == msn);
        match resource {
            Resource::Init(v) => match self.init(v) {
                Some(init) => Lookup::Ready(vec![init.muxed.clone()]),
                None => Lookup::NotFound,
            },
            Resource::TrackInit(track, v) => match self.init(v).and_then(|i| i.track(track)) {
                Some((bytes, _)) => Lookup::Ready(vec![bytes.clone()]),
                None => Lookup::NotFound,
            },
            Resource::Part(msn, part) => {
                if let Some(p) = self.segment(msn).and_then(|s| s.parts.get(part as usize)) {
                    return Lookup::Ready(p.muxed().cloned().collect());
                }
                // The preload hint, or the first part of the segment after the open one.
                match self.next_part() {
                    Some(next) if next == (msn, part) => Lookup::Pending,
                    _ => Lookup::NotFound,
                }
            }
            Resource::Segment(msn) => match self.segment(msn) {
                Some(s) if s.is_complete() => Lookup::Ready(s.muxed()),
                Some(s) => Lookup::Partial(s.muxed()),
                None if upcoming(msn) => Lookup::Pending,
                None => Lookup::NotFound,
            },
            Resource::TrackSegment(track, msn) => match self.segment(msn) {
                Some(s) if s.span(track).is_none() && s.is_complete() => Lookup::NotFound,
                Some(s) if s.is_complete() => Lookup::Ready(s.track(track)),
                Some(s) => Lookup::Partial(s.track(track)),
                None if upcoming(msn) => Lookup::Pending,
                None => Lookup::NotFound,
            },
        }
    }

    /// How old the newest part is at `now` (for a reader deciding to give up waiting).
    pub fn idle_for(&self, now: Instant) -> Option<Duration> {
        let newest = self
            .open
            .as_ref()
            .and_then(|s| s.parts.last())
            .or_else(|| self.segments.last().and_then(|s| s.parts.last()))?;
        Some(now.saturating_duration_since(newest.available_at))
    }
}

/// The `Arc`-shared handle other shards read; see the module doc.
#[derive(Debug)]
pub struct SharedStream {
    current: Mutex<Arc<Snapshot>>,
    version: AtomicU64,
}

impl SharedStream {
    pub fn new(initial: Snapshot) -> Self {
        SharedStream {
            current: Mutex::new(Arc::new(initial)),
            version: AtomicU64::new(0),
        }
    }

    /// The latest snapshot (cheap: one `Arc` clone under a short lock).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a whole Arc (the writer only ever swaps it).
        match self.current.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Publish counter: moves after every published part, segment or end of stream.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Replaces the snapshot (the segmenter, on the home shard).
    pub(super) fn publish(&self, mut snapshot: Snapshot) -> u64 {
        let version = self.version.load(Ordering::Relaxed) + 1;
        snapshot.version = version;
        let next = Arc::new(snapshot);
        match self.current.lock() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        self.version.store(version, Ordering::Release);
        version
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
