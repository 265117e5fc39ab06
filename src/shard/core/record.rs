//! The core's side of recording (see `crate::record`): a stream published here whose app
//! records gets a recording; its frames (the message payloads as published, shared, never
//! copied) are gathered per pass and handed to the [`RecordSink`] once per pass, in
//! `poll_mailbox`. The core never writes a file, spawns a thread or blocks: the sink's send
//! never waits.
//!
//! Bounded memory: each recording's [`RecordQueue`] counts the bytes handed over and not yet
//! written; a pass whose frames would take it past the app's `max_queue_bytes` stops the
//! recording (one logged error; the recorder counts it), and a recording the recorder gave up
//! on (a write error, marked in the queue) is dropped at the next pass. The stream goes on
//! either way.
//!
//! Hooks: `start_recording` when a local publish or a pull starts, `record_frame` for every
//! message the stream's source sends (in `ingest`), `stop_recording` when the publish or the
//! pull ends, `flush_recordings` once per pass.
use super::streams::StreamId;
use super::ShardCore;
use crate::media::frame::Frame;
use crate::record::{RecordEvent, RecordFrame, RecordQueue, RecordSink, RecordingId, StopReason};
use crate::shard::mailbox::StreamKey;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{error, warn};

/// The recordings of one core's home streams.
#[derive(Default)]
pub(super) struct Recordings {
    sink: Option<RecordSink>,
    active: HashMap<StreamId, Active>,
    next_seq: u64,
}

struct Active {
    id: RecordingId,
    key: StreamKey,
    queue: Arc<RecordQueue>,
    max_bytes: usize,
    /// This pass's frames, not yet handed over.
    pending: Vec<RecordFrame>,
    pending_bytes: usize,
}

impl ShardCore {
    /// Where this core sends its recording events. Without one (the default) nothing is
    /// recorded, whatever the settings say.
    pub fn set_record_sink(&mut self, sink: RecordSink) {
        self.recordings.sink = Some(sink);
    }

    /// A local publish of `app/name` started on `sid`: record it if its app says so.
    pub(super) fn start_recording(
        &mut self,
        sid: StreamId,
        key: &StreamKey,
        app: &str,
        name: &str,
    ) {
        let Some(settings) = self.settings.record.app(app).cloned() else {
            return;
        };
        self.stop_recording(sid);
        let rec = &mut self.recordings;
        let Some(sink) = &rec.sink else {
            return;
        };
        rec.next_seq += 1;
        let id = RecordingId {
            shard: self.index,
            seq: rec.next_seq,
        };
        let queue = Arc::new(RecordQueue::default());
        let max_bytes = settings.max_queue_bytes;
        let start = RecordEvent::Start {
            id,
            app: app.to_owned(),
            stream: name.to_owned(),
            settings,
            queue: queue.clone(),
        };
        if !sink.send(start) {
            warn!(shard = self.index, stream = %key, "recorder is not running: not recorded");
            return;
        }
        rec.active.insert(
            sid,
            Active {
                id,
                key: key.clone(),
                queue,
                max_bytes,
                pending: Vec::new(),
                pending_bytes: 0,
            },
        );
    }

    /// A message of `sid`'s source (no-op unless it is being recorded).
    pub(super) fn record_frame(&mut self, sid: StreamId, frame: &Frame, payload: &Bytes) {
        let Some(a) = self.recordings.active.get_mut(&sid) else {
            return;
        };
        a.pending_bytes += payload.len();
        a.pending.push(RecordFrame::new(frame, payload.clone()));
        // One pass alone can outgrow the queue (a huge read): stop before holding more.
        if a.pending_bytes > a.max_bytes {
            self.end_recording(sid, StopReason::QueueFull);
        }
    }

    /// The publish of `sid` ended: hand over its last frames, then stop.
    pub(super) fn stop_recording(&mut self, sid: StreamId) {
        if self.recordings.active.contains_key(&sid) && self.hand_over(sid) {
            self.end_recording(sid, StopReason::Ended);
        }
    }

    /// Once per pass: every recording's frames of this pass to the recorder.
    pub(super) fn flush_recordings(&mut self) {
        if self.recordings.active.is_empty() {
            return;
        }
        let sids: Vec<StreamId> = self.recordings.active.keys().copied().collect();
        for sid in sids {
            self.hand_over(sid);
        }
    }

    /// Sends `sid`'s pending frames; false when the recording ended instead (the recorder
    /// failed it, or the queue is full).
    fn hand_over(&mut self, sid: StreamId) -> bool {
        let Some(a) = self.recordings.active.get_mut(&sid) else {
            return false;
        };
        if a.queue.failed() {
            // The recorder logged and counted it.
            self.end_recording(sid, StopReason::WriteFailed);
            return false;
        }
        if a.pending.is_empty() {
            return true;
        }
        let bytes = std::mem::take(&mut a.pending_bytes);
        if a.queue.add(bytes) > a.max_bytes {
            self.end_recording(sid, StopReason::QueueFull);
            return false;
        }
        let frames = std::mem::take(&mut a.pending);
        let id = a.id;
        let sent = self
            .recordings
            .sink
            .as_ref()
            .is_some_and(|sink| sink.send(RecordEvent::Frames { id, frames, bytes }));
        if !sent {
            self.recordings.active.remove(&sid);
        }
        sent
    }

    fn end_recording(&mut self, sid: StreamId, reason: StopReason) {
        let Some(a) = self.recordings.active.remove(&sid) else {
            return;
        };
        if reason == StopReason::QueueFull {
            error!(
                shard = self.index,
                stream = %a.key,
                queued = a.queue.queued() + a.pending_bytes,
                "recording stopped: the disk cannot keep up (over the app's record \
                 max_queue_bytes); the stream goes on"
            );
        }
        if let Some(sink) = &self.recordings.sink {
            sink.send(RecordEvent::Stop { id: a.id, reason });
        }
    }
}
