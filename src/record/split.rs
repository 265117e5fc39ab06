//! Where a recording's files begin and end, and what each file starts with. Pure: frames
//! in, decisions out; the recorder does the file work.
//!
//! - A file opens on a frame a player could start from: the first video keyframe (audio
//!   frames before it are dropped too, so the file starts in sync), or, for a stream without
//!   video, the first audio frame.
//! - It ends at the first such frame at least `split_after` (media time) after its first
//!   frame, and the next file opens on that frame.
//! - Every file begins with the latest `onMetaData` and sequence headers (every track's
//!   configuration, as the startup cache keeps them), so each file plays on its own; a
//!   configuration that changes mid-file is written where it arrives as well.
//! - Timestamps are rebased per file: the opening frame is at 0 (a frame a little older than
//!   it, audio interleaved before the keyframe, is clamped to 0).
use super::RecordFrame;
use crate::media::frame::MediaKind;
use std::time::Duration;

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Not written: before the first file, or a header kept for the next file.
    Skip,
    /// Write it into the open file at this file timestamp (ms).
    Write(u32),
    /// Close the open file (if any), open a new one beginning with [`Splitter::headers`],
    /// then write this frame at timestamp 0.
    Open,
}

/// The split state of one recording.
#[derive(Debug)]
pub struct Splitter {
    split_after_ms: Option<u64>,
    /// The latest configuration per slot (kind, track, config kind), in arrival order.
    headers: Vec<RecordFrame>,
    has_video: bool,
    has_audio: bool,
    /// The open file's first timestamp; None while no file is open.
    base: Option<u32>,
    /// The next opening frame starts a new file whatever the duration.
    split_wanted: bool,
}

impl Splitter {
    pub fn new(split_after: Option<Duration>) -> Self {
        Splitter {
            split_after_ms: split_after.map(|d| d.as_millis() as u64),
            headers: Vec::new(),
            has_video: false,
            has_audio: false,
            base: None,
            split_wanted: false,
        }
    }

    /// Decides what `f` does (and remembers it: call once per frame, in order).
    pub fn push(&mut self, f: &RecordFrame) -> Action {
        match f.kind {
            MediaKind::Video => self.has_video = true,
            MediaKind::Audio => self.has_audio = true,
            MediaKind::Data => {}
        }
        if f.sequence_header {
            let slot = |h: &RecordFrame| (h.kind, h.track, h.config) == (f.kind, f.track, f.config);
            match self.headers.iter_mut().find(|h| slot(h)) {
                Some(h) => *h = f.clone(),
                None => self.headers.push(f.clone()),
            }
            return self.base.map_or(Action::Skip, |b| Action::Write(rel(f, b)));
        }
        let opens = if self.has_video {
            f.is_video_keyframe()
        } else {
            f.kind == MediaKind::Audio
        };
        match self.base {
            None if opens => {
                self.base = Some(f.timestamp);
                Action::Open
            }
            None => Action::Skip,
            Some(base) => {
                let t = rel(f, base);
                let due = self.split_after_ms.is_some_and(|s| u64::from(t) >= s);
                if opens && (due || self.split_wanted) {
                    self.base = Some(f.timestamp);
                    self.split_wanted = false;
                    Action::Open
                } else {
                    Action::Write(t)
                }
            }
        }
    }

    /// Makes the next frame a file could open on start a new file (a configuration the
    /// open file cannot take arrived).
    pub fn split_at_next_opening(&mut self) {
        self.split_wanted = true;
    }

    /// What a new file begins with: metadata first, then video, then audio configuration.
    pub fn headers(&self) -> impl Iterator<Item = &RecordFrame> {
        let order = [MediaKind::Data, MediaKind::Video, MediaKind::Audio];
        order
            .into_iter()
            .flat_map(move |k| self.headers.iter().filter(move |h| h.kind == k))
    }

    /// The FLV header flags of a file opened now: (audio, video).
    pub fn av_flags(&self) -> (bool, bool) {
        (self.has_audio, self.has_video)
    }
}

/// `f`'s timestamp in a file that began at `base`, clamped at 0.
fn rel(f: &RecordFrame, base: u32) -> u32 {
    let d = f.timestamp.wrapping_sub(base) as i32;
    d.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: MediaKind, ts: u32, key: bool, header: bool) -> RecordFrame {
        crate::record::test_frame(kind, ts, key, header, b"x")
    }
    use MediaKind::{Audio, Data, Video};

    #[test]
    fn opens_on_the_first_keyframe_and_splits_at_the_first_keyframe_after_the_duration() {
        let mut s = Splitter::new(Some(Duration::from_secs(2)));
        assert_eq!(s.push(&f(Data, 0, false, true)), Action::Skip);
        assert_eq!(s.push(&f(Video, 0, true, true)), Action::Skip);
        assert_eq!(s.push(&f(Audio, 0, false, true)), Action::Skip);
        // Inter frame and audio before the first keyframe: dropped.
        assert_eq!(s.push(&f(Video, 40, false, false)), Action::Skip);
        assert_eq!(s.push(&f(Audio, 50, false, false)), Action::Skip);
        assert_eq!(s.push(&f(Video, 1000, true, false)), Action::Open);
        // Audio just before the keyframe's timestamp is clamped to 0.
        assert_eq!(s.push(&f(Audio, 990, false, false)), Action::Write(0));
        assert_eq!(s.push(&f(Video, 1040, false, false)), Action::Write(40));
        // A keyframe before the duration does not split; a changed header is written.
        assert_eq!(s.push(&f(Video, 2000, true, false)), Action::Write(1000));
        assert_eq!(s.push(&f(Video, 2010, true, true)), Action::Write(1010));
        assert_eq!(s.push(&f(Video, 2960, false, false)), Action::Write(1960));
        // 2 s after the file's start, only a keyframe splits.
        assert_eq!(s.push(&f(Video, 3040, false, false)), Action::Write(2040));
        assert_eq!(s.push(&f(Audio, 3050, false, false)), Action::Write(2050));
        assert_eq!(s.push(&f(Video, 3100, true, false)), Action::Open);
        assert_eq!(s.push(&f(Video, 3140, false, false)), Action::Write(40));
        // The next file begins with metadata, then video, then audio configuration; the
        // video one is the latest.
        let h: Vec<_> = s.headers().map(|h| (h.kind, h.timestamp)).collect();
        assert_eq!(h, [(Data, 0), (Video, 2010), (Audio, 0)]);
        assert_eq!(s.av_flags(), (true, true));
    }

    #[test]
    fn without_a_split_duration_one_file() {
        let mut s = Splitter::new(None);
        assert_eq!(s.push(&f(Video, 0, true, false)), Action::Open);
        assert_eq!(
            s.push(&f(Video, 3_600_000, true, false)),
            Action::Write(3_600_000)
        );
    }

    #[test]
    fn audio_only_streams_open_and_split_on_audio() {
        let mut s = Splitter::new(Some(Duration::from_secs(1)));
        assert_eq!(s.push(&f(Audio, 0, false, true)), Action::Skip);
        assert_eq!(s.push(&f(Audio, 100, false, false)), Action::Open);
        assert_eq!(s.push(&f(Data, 500, false, false)), Action::Write(400));
        assert_eq!(s.push(&f(Audio, 1099, false, false)), Action::Write(999));
        assert_eq!(s.push(&f(Audio, 1100, false, false)), Action::Open);
        assert_eq!(s.av_flags(), (true, false));
    }

    #[test]
    fn timestamps_wrap_at_2_pow_32() {
        let mut s = Splitter::new(Some(Duration::from_secs(1)));
        assert_eq!(s.push(&f(Video, u32::MAX - 9, true, false)), Action::Open);
        assert_eq!(s.push(&f(Video, 30, false, false)), Action::Write(40));
        assert_eq!(s.push(&f(Video, 1000, true, false)), Action::Open);
    }
}
