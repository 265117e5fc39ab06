//! One fragmented-MP4 recording file: the recorded messages go through a CMAF [`Segmenter`]
//! owned by the file (on the recorder thread, never a shard), and each completed segment is
//! appended: the init segment (ftyp + moov) before the first one, then every segment's
//! moof + mdat fragments in order. An init followed by its fragments is a fragmented MP4
//! that plays on its own (`http::cmaf::recording` relies on the same property).
//!
//! One init per file: a configuration that changes mid-file ([`Mp4File::changes_config`])
//! makes the recorder split at the next keyframe, so the new configuration begins a new file
//! with its own init. Metadata messages are not carried (MP4 has no place for
//! `onMetaData`); a message the segmenter cannot use is lost to this file only (counted in
//! [`Mp4File::dropped`]). `close` completes the open segment, writes it, flushes and fsyncs.
use super::flv::{create_new, BUFFER};
use super::RecordFrame;
use crate::http::cmaf::{Pushed, Segmenter, SegmenterSettings, WallClock};
use crate::media::frame::MediaKind;
use bytes::Bytes;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// How the recording segmenter cuts: a fragment per keyframe interval (at least a second),
/// and at most two completed segments kept in memory (each is written as soon as it is
/// complete). A keyframe-less stream is cut by size at half of `max_bytes`.
const SETTINGS: SegmenterSettings = SegmenterSettings {
    segment_target_ms: 1000,
    part_target_ms: 1000,
    window_segments: 2,
    max_bytes: 16 << 20,
};

/// An open fragmented-MP4 file being written.
pub struct Mp4File {
    path: PathBuf,
    out: BufWriter<File>,
    segmenter: Segmenter,
    /// The instant handed to the segmenter: part availability times are meaningless in a
    /// file, so one instant (taken when the file opened) serves every call.
    now: Instant,
    /// The init version written at the top of the file; None until the first segment.
    init: Option<u32>,
    next_msn: u64,
    /// The sequence headers this file's configuration came from, per kind.
    configs: Vec<(MediaKind, Bytes)>,
    dropped: u64,
}

impl Mp4File {
    /// Creates a new file in `dir` (see `flv::create_new`); `wall` is now on the wall clock.
    pub fn create(
        dir: &Path,
        name: impl Fn(u32) -> String,
        wall: SystemTime,
    ) -> io::Result<Mp4File> {
        let (path, file) = create_new(dir, name)?;
        Ok(Mp4File::from_file(path, file, wall))
    }

    /// Writes into an already open `file` (known as `path` in messages).
    pub fn from_file(path: PathBuf, file: File, wall: SystemTime) -> Mp4File {
        let now = Instant::now();
        let clock = WallClock {
            instant: now,
            system: wall,
        };
        Mp4File {
            path,
            out: BufWriter::with_capacity(BUFFER, file),
            segmenter: Segmenter::new(SETTINGS, clock),
            now,
            init: None,
            next_msn: 0,
            configs: Vec::new(),
            dropped: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Messages the segmenter refused or that came too late for this file's init.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether `f` is a sequence header other than the one this file was configured with:
    /// the file cannot take it (one init per file), the next file must begin with it.
    pub fn changes_config(&self, f: &RecordFrame) -> bool {
        f.sequence_header
            && f.kind != MediaKind::Data
            && !self
                .configs
                .iter()
                .any(|(kind, payload)| *kind == f.kind && *payload == f.payload)
    }

    /// Feeds `f` at file timestamp `timestamp`; writes the segments it completed. Returns
    /// the bytes written.
    pub fn write_frame(&mut self, f: &RecordFrame, timestamp: u32) -> io::Result<u64> {
        if f.kind == MediaKind::Data {
            return Ok(0);
        }
        if f.sequence_header {
            match self.configs.iter_mut().find(|(kind, _)| *kind == f.kind) {
                Some(slot) => slot.1 = f.payload.clone(),
                None => self.configs.push((f.kind, f.payload.clone())),
            }
        }
        match self.segmenter.push(f.kind, timestamp, &f.payload, self.now) {
            Ok(Pushed::Published(_)) => self.write_complete(),
            Ok(Pushed::Buffered) => Ok(0),
            Ok(Pushed::Dropped) | Err(_) => {
                self.dropped += 1;
                Ok(0)
            }
        }
    }

    /// Completes the open segment, writes it, flushes and fsyncs. Returns the bytes written.
    pub fn close(mut self) -> io::Result<u64> {
        // A segmenter error here only loses the open segment's last samples.
        let _ = self.segmenter.finish(self.now);
        let n = self.write_complete()?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(n)
    }

    /// Appends every completed segment not written yet (the init first, once).
    fn write_complete(&mut self) -> io::Result<u64> {
        let snapshot = self.segmenter.shared().snapshot();
        let mut n = 0;
        let from = self.next_msn;
        for segment in snapshot.segments.iter().filter(|s| s.msn >= from) {
            self.next_msn = segment.msn + 1;
            match self.init {
                None => {
                    let init = snapshot.init(segment.init).ok_or_else(|| {
                        io::Error::other("the segmenter has no init segment for its segment")
                    })?;
                    self.out.write_all(&init.muxed)?;
                    n += init.muxed.len() as u64;
                    self.init = Some(segment.init);
                }
                // Cannot happen while the recorder splits at a configuration change; a
                // segment of another init would not play in this file.
                Some(version) if version != segment.init => {
                    self.dropped += 1;
                    continue;
                }
                Some(_) => {}
            }
            for chunk in segment.muxed() {
                self.out.write_all(&chunk)?;
                n += chunk.len() as u64;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
#[path = "mp4_tests.rs"]
pub(crate) mod tests;
