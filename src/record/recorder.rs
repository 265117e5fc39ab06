//! The recorder thread: ONE per process, fed by every shard's [`RecordSink`]. For each
//! recording it keeps a [`Splitter`] and the open file, writes each pass's frames, opens the
//! next file at a split (named from the wall clock read here, on the I/O side), and closes
//! (flush + fsync) at the end.
//!
//! A failed open, write or close stops that recording only: one `error!` line naming the
//! stream, the file and the OS error, the error counter, the queue marked failed (so the
//! shard stops handing it frames), and its later frames discarded. A queue-full stop from a
//! shard (the disk too slow) is counted here too. Nothing here can reach a stream.
//!
//! Call order: [`Recorder::spawn`], hand the sink to the shards, [`Recorder::stats`] for
//! the metrics; [`Recorder::join`] after the shards stopped (their sinks dropped).
use super::file::RecordFile;
use super::naming::stream_dir;
use super::split::{Action, Splitter};
use super::{
    Counter, RecordEvent, RecordFrame, RecordQueue, RecordSettings, RecordSink, RecordingId,
    StopReason,
};
use std::collections::HashMap;
use std::io;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;
use tracing::{error, info};

/// What the recorder has done, for `/metrics` (updated by the recorder thread only).
#[derive(Debug, Default)]
pub struct RecorderStats {
    active: Counter,
    write_errors: Counter,
    queue_full: Counter,
    bytes: Counter,
    files: Counter,
}

/// A reading of [`RecorderStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderTotals {
    /// Recordings running (started, not stopped or failed).
    pub active: u64,
    /// Recordings stopped by a failed open, write or close.
    pub write_errors: u64,
    /// Recordings stopped because their queue was full (the disk too slow).
    pub queue_full: u64,
    pub bytes_written: u64,
    pub files_opened: u64,
}

impl RecorderStats {
    pub fn totals(&self) -> RecorderTotals {
        RecorderTotals {
            active: self.active.get(),
            write_errors: self.write_errors.get(),
            queue_full: self.queue_full.get(),
            bytes_written: self.bytes.get(),
            files_opened: self.files.get(),
        }
    }
}

/// The running recorder thread.
pub struct Recorder {
    thread: JoinHandle<()>,
    stats: Arc<RecorderStats>,
}

impl Recorder {
    /// Starts the thread; returns the sink the shards send to.
    pub fn spawn() -> io::Result<(RecordSink, Recorder)> {
        let (sink, events) = RecordSink::channel();
        let stats = Arc::new(RecorderStats::default());
        let mut worker = Worker::new(stats.clone());
        let thread = std::thread::Builder::new()
            .name("recorder".to_owned())
            .spawn(move || worker.run(events))?;
        Ok((sink, Recorder { thread, stats }))
    }

    pub fn stats(&self) -> Arc<RecorderStats> {
        self.stats.clone()
    }

    /// Waits until every sink is dropped and every file is closed.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// One recording on the recorder thread.
struct Recording {
    app: String,
    stream: String,
    settings: Arc<RecordSettings>,
    queue: Arc<RecordQueue>,
    splitter: Splitter,
    file: Option<RecordFile>,
    failed: bool,
}

/// The recorder's state: every recording, keyed by id. Driven by [`Worker::handle`] with
/// the wall clock passed in, so it is tested without a thread or a real clock.
pub(crate) struct Worker {
    recordings: HashMap<RecordingId, Recording>,
    stats: Arc<RecorderStats>,
}

impl Worker {
    pub(crate) fn new(stats: Arc<RecorderStats>) -> Self {
        Worker {
            recordings: HashMap::new(),
            stats,
        }
    }

    fn run(&mut self, events: Receiver<RecordEvent>) {
        while let Ok(event) = events.recv() {
            self.handle(event, SystemTime::now());
        }
        self.close_all();
    }

    pub(crate) fn handle(&mut self, event: RecordEvent, wall: SystemTime) {
        match event {
            RecordEvent::Start {
                id,
                app,
                stream,
                settings,
                queue,
            } => {
                info!(app, stream, dir = %settings.dir.display(), "recording started");
                self.stats.active.add(1);
                let splitter = Splitter::new(settings.split_after);
                let rec = Recording {
                    app,
                    stream,
                    settings,
                    queue,
                    splitter,
                    file: None,
                    failed: false,
                };
                if let Some(mut old) = self.recordings.insert(id, rec) {
                    self.finish(&mut old);
                }
            }
            RecordEvent::Frames { id, frames, bytes } => {
                let Some(rec) = self.recordings.get_mut(&id) else {
                    return;
                };
                if !rec.failed {
                    if let Err((e, path)) = write_frames(rec, &frames, wall, &self.stats) {
                        fail(rec, &e, &path, &self.stats);
                    }
                }
                rec.queue.done(bytes);
            }
            RecordEvent::Stop { id, reason } => {
                let Some(mut rec) = self.recordings.remove(&id) else {
                    return;
                };
                if reason == StopReason::QueueFull {
                    self.stats.queue_full.add(1);
                }
                self.finish(&mut rec);
            }
        }
    }

    /// Closes `rec`'s file (a recording that failed is already closed and uncounted).
    fn finish(&self, rec: &mut Recording) {
        if rec.failed {
            return;
        }
        if let Some(file) = rec.file.take() {
            let path = file.path().display().to_string();
            match file.close() {
                Ok(n) => self.stats.bytes.add(n),
                Err(e) => return fail(rec, &e, &path, &self.stats),
            }
            info!(
                app = rec.app,
                stream = rec.stream,
                path,
                "recording file closed"
            );
        }
        rec.failed = true;
        self.stats.active.sub(1);
        info!(app = rec.app, stream = rec.stream, "recording ended");
    }

    fn close_all(&mut self) {
        for (_, mut rec) in std::mem::take(&mut self.recordings) {
            self.finish(&mut rec);
        }
    }
}

/// Writes one batch; an error comes back with the file it concerns.
fn write_frames(
    rec: &mut Recording,
    frames: &[RecordFrame],
    wall: SystemTime,
    stats: &RecorderStats,
) -> Result<(), (io::Error, String)> {
    for f in frames {
        let written = match rec.splitter.push(f) {
            Action::Skip => 0,
            Action::Write(t) => match &mut rec.file {
                Some(file) if file.needs_new_file_for(f) => {
                    // Kept by the splitter: the next file begins with it.
                    rec.splitter.split_at_next_opening();
                    0
                }
                Some(file) => file.write_frame(f, t).map_err(|e| at(e, file))?,
                None => 0,
            },
            Action::Open => open_next(rec, f, wall, stats)?,
        };
        stats.bytes.add(written);
    }
    Ok(())
}

/// Closes the open file, opens the next one, and writes its header, the cached headers and
/// `first` at timestamp 0.
fn open_next(
    rec: &mut Recording,
    first: &RecordFrame,
    wall: SystemTime,
    stats: &RecorderStats,
) -> Result<u64, (io::Error, String)> {
    if let Some(old) = rec.file.take() {
        let path = old.path().display().to_string();
        stats.bytes.add(old.close().map_err(|e| (e, path.clone()))?);
        info!(
            app = rec.app,
            stream = rec.stream,
            path,
            "recording file closed (split)"
        );
    }
    let dir = stream_dir(&rec.settings.dir, &rec.app, &rec.stream);
    let mut file = RecordFile::create(rec.settings.format, &dir, &rec.stream, wall)
        .map_err(|e| (e, dir.display().to_string()))?;
    stats.files.add(1);
    info!(app = rec.app, stream = rec.stream, path = %file.path().display(), "recording file opened");
    let (audio, video) = rec.splitter.av_flags();
    let mut n = file.write_header(audio, video).map_err(|e| at(e, &file))?;
    for h in rec.splitter.headers() {
        n += file.write_frame(h, 0).map_err(|e| at(e, &file))?;
    }
    n += file.write_frame(first, 0).map_err(|e| at(e, &file))?;
    rec.file = Some(file);
    Ok(n)
}

fn at(e: io::Error, file: &RecordFile) -> (io::Error, String) {
    (e, file.path().display().to_string())
}

/// Stops `rec` after an I/O error: logged once, counted, the shard told through the queue.
fn fail(rec: &mut Recording, e: &io::Error, path: &str, stats: &RecorderStats) {
    error!(
        app = rec.app,
        stream = rec.stream,
        path,
        error = %e,
        "recording stopped: cannot write the file (the stream goes on)"
    );
    stats.write_errors.add(1);
    stats.active.sub(1);
    rec.queue.fail();
    // Dropped unflushed: the disk refused it already.
    rec.file = None;
    rec.failed = true;
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
