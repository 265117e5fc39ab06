//! Recording: every stream of an app with recording on is written to files under a
//! configured directory, split by duration, by ONE recorder thread per process, never on a
//! shard thread.
//!
//! The stream's home shard (its publisher's) sees every frame. Its core stays sans-IO: it
//! only hands [`RecordEvent`]s to a [`RecordSink`] (a channel whose `send` never blocks),
//! frames batched once per pass. Memory is bounded per stream: the core and the recorder
//! share a [`RecordQueue`] counting the bytes handed over and not yet written; a batch that
//! would take it past the app's `max_queue_bytes` (the disk is too slow) stops that
//! recording instead, with a logged error. A write error (ENOSPC, EIO, permissions) stops
//! that recording on the recorder thread with one logged error and marks the queue failed,
//! so the core stops handing it frames. Neither ever stops the stream or another recording.
//!
//! - [`naming`]: file paths `DIR/APP/STREAM/STREAM-YYYYMMDD-HHMMSS.flv` from a wall clock
//!   passed in, with unsafe characters made safe (pure).
//! - [`split`]: which frame opens a file, which one starts the next, the header cache that
//!   begins every file and the per-file timestamp rebase (pure).
//! - [`flv`]: the FLV file writer (buffered writes, fsync on close).
//! - [`mp4`]: the fragmented-MP4 file writer (a CMAF segmenter per file, on the recorder
//!   thread); [`file`]: the open file of either format.
//! - [`recorder`]: the recorder thread: events in, files out, errors and [`RecorderStats`].
//!
//! Call order: [`recorder::Recorder::spawn`] once at start gives the sink; each shard core
//! gets a clone (`ShardCore::set_record_sink`); the core sends `Start`, `Frames`..., `Stop`
//! per recording; when every sink is dropped (the shards stopped) the recorder closes its
//! files and [`recorder::Recorder::join`] returns.
use crate::media::frame::{ConfigKind, Frame, MediaKind};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

pub mod file;
pub mod flv;
pub mod mp4;
pub mod naming;
pub mod recorder;
pub mod split;

pub use recorder::{Recorder, RecorderStats, RecorderTotals};

/// The container a recording is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// FLV: the tag bodies are the RTMP message payloads as published.
    #[default]
    Flv,
    /// Fragmented MP4 (CMAF fragments behind one init segment per file).
    Mp4,
}

impl RecordFormat {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            RecordFormat::Flv => "flv",
            RecordFormat::Mp4 => "mp4",
        }
    }
}

/// How one app records, resolved from its `[[app]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    pub dir: PathBuf,
    pub format: RecordFormat,
    /// A file ends at the first keyframe this long (media time) after it began; None: never.
    pub split_after: Option<Duration>,
    /// Bytes handed to the recorder and not yet written, per stream, beyond which the
    /// recording stops (the disk cannot keep up).
    pub max_queue_bytes: usize,
}

/// The recording settings of every app table (None: that table does not record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordApps {
    pub apps: Vec<(String, Option<Arc<RecordSettings>>)>,
}

impl RecordApps {
    /// How `app` records: its own table's setting, else the `*` table's.
    pub fn app(&self, app: &str) -> Option<&Arc<RecordSettings>> {
        let find = |name: &str| self.apps.iter().find(|(n, _)| n == name);
        find(app)
            .or_else(|| find(crate::relay::ANY_APP))
            .and_then(|(_, s)| s.as_ref())
    }
}

/// One recording, unique in the process: the shard that started it and its sequence there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordingId {
    pub shard: usize,
    pub seq: u64,
}

/// One message of the recorded stream: what the FLV tag needs.
#[derive(Debug, Clone)]
pub struct RecordFrame {
    pub kind: MediaKind,
    /// The stream's (rebased) media timestamp in ms, as players get it.
    pub timestamp: u32,
    pub keyframe: bool,
    pub sequence_header: bool,
    pub track: u8,
    pub config: ConfigKind,
    /// The RTMP message payload as published (shared, not copied): the FLV tag body.
    pub payload: Bytes,
}

impl RecordFrame {
    pub fn new(frame: &Frame, payload: Bytes) -> Self {
        RecordFrame {
            kind: frame.kind,
            timestamp: frame.timestamp,
            keyframe: frame.keyframe,
            sequence_header: frame.sequence_header,
            track: frame.track,
            config: frame.config,
            payload,
        }
    }

    pub fn is_video_keyframe(&self) -> bool {
        self.kind == MediaKind::Video && self.keyframe && !self.sequence_header
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The publisher stopped (or the server is stopping).
    Ended,
    /// The queue went over `max_queue_bytes`: the disk is too slow.
    QueueFull,
    /// The recorder failed to write it (already logged and counted there).
    WriteFailed,
}

/// What the core hands the recorder, in order per recording: `Start`, `Frames`..., `Stop`.
#[derive(Debug)]
pub enum RecordEvent {
    Start {
        id: RecordingId,
        app: String,
        stream: String,
        settings: Arc<RecordSettings>,
        queue: Arc<RecordQueue>,
    },
    /// One pass's frames; `bytes` of them were added to the queue.
    Frames {
        id: RecordingId,
        frames: Vec<RecordFrame>,
        bytes: usize,
    },
    Stop {
        id: RecordingId,
        reason: StopReason,
    },
}

/// Shared by the core and the recorder for one recording: bytes queued, and whether the
/// recorder gave up on it.
#[derive(Debug, Default)]
pub struct RecordQueue {
    queued: AtomicUsize,
    failed: AtomicBool,
}

impl RecordQueue {
    /// Adds `bytes` handed over; returns the new total.
    pub fn add(&self, bytes: usize) -> usize {
        self.queued
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes)
    }

    /// `bytes` were written (or discarded).
    pub fn done(&self, bytes: usize) {
        // Never below zero, whatever the order of the two threads' updates.
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(bytes))
            });
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Where a shard core sends its recording events: never blocks (the memory behind it is
/// bounded per recording by [`RecordQueue`]).
#[derive(Debug, Clone)]
pub struct RecordSink {
    sender: mpsc::Sender<RecordEvent>,
}

impl RecordSink {
    /// A sink and the receiving end (the recorder's, or a test's).
    pub fn channel() -> (RecordSink, mpsc::Receiver<RecordEvent>) {
        let (sender, receiver) = mpsc::channel();
        (RecordSink { sender }, receiver)
    }

    /// Hands `event` over; false when the recorder is gone.
    pub fn send(&self, event: RecordEvent) -> bool {
        self.sender.send(event).is_ok()
    }
}

/// A process-wide count (recorder thread writes, metrics read).
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A test frame of the default track.
#[cfg(test)]
pub(crate) fn test_frame(
    kind: MediaKind,
    timestamp: u32,
    keyframe: bool,
    sequence_header: bool,
    payload: &'static [u8],
) -> RecordFrame {
    RecordFrame {
        kind,
        timestamp,
        keyframe,
        sequence_header,
        track: 0,
        config: ConfigKind::SequenceStart,
        payload: Bytes::from_static(payload),
    }
}

/// A fresh directory for one unit test.
#[cfg(test)]
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rtmp-edge-record-{tag}-{}-{:x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_lookup_falls_back_to_the_any_table() {
        let s = Arc::new(RecordSettings {
            dir: "/r".into(),
            format: RecordFormat::Flv,
            split_after: None,
            max_queue_bytes: 1 << 20,
        });
        let apps = RecordApps {
            apps: vec![("live".into(), None), ("*".into(), Some(s.clone()))],
        };
        assert!(apps.app("live").is_none(), "its own table says no");
        assert_eq!(apps.app("other"), Some(&s));
        assert!(RecordApps::default().app("x").is_none());
    }

    #[test]
    fn queue_counts_and_never_goes_negative() {
        let q = RecordQueue::default();
        assert_eq!(q.add(10), 10);
        assert_eq!(q.add(5), 15);
        q.done(20);
        assert_eq!(q.queued(), 0);
        assert!(!q.failed());
        q.fail();
        assert!(q.failed());
    }
}
