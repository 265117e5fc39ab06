//! Recording from the core's side: what a publish of a recorded app hands the sink (Start,
//! one Frames batch per pass with the payloads as published, Stop), and that a full queue or
//! a failed recording stops the recording while the stream and its players go on.
use super::harness::Harness;
use super::relay::relay;
use super::SEC;
use crate::media::frame::MediaKind;
use crate::record::{
    RecordApps, RecordEvent, RecordFormat, RecordQueue, RecordSettings, RecordSink, StopReason,
};
use crate::shard::ShardSettings;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// Two shards recording app `live` (queue bound `max_queue`), both sending to one sink.
fn recording(max_queue: usize) -> (Harness, Receiver<RecordEvent>) {
    recording_with(max_queue, 0, |_| {})
}

/// Like `recording`, with `origins` origin cores and the settings tuned by `tune` first.
fn recording_with(
    max_queue: usize,
    origins: usize,
    tune: impl FnOnce(&mut ShardSettings),
) -> (Harness, Receiver<RecordEvent>) {
    let settings = Arc::new(RecordSettings {
        dir: "/unused".into(),
        format: RecordFormat::Flv,
        split_after: Some(SEC),
        max_queue_bytes: max_queue,
    });
    let mut h = Harness::with_origins(origins, |s| {
        tune(s);
        s.record = RecordApps {
            apps: vec![("live".into(), Some(settings))],
        }
    });
    let (sink, events) = RecordSink::channel();
    // The edge shards only: an origin core is a node of its own.
    for core in h.cores.iter_mut().take(2) {
        core.set_record_sink(sink.clone());
    }
    (h, events)
}

/// Every event so far: (frames per batch, the Start's queue, the Stop's reason).
fn drain(
    events: &Receiver<RecordEvent>,
) -> (Vec<usize>, Option<Arc<RecordQueue>>, Option<StopReason>) {
    let (mut batches, mut queue, mut stop) = (Vec::new(), None, None);
    for event in events.try_iter() {
        assert!(stop.is_none(), "an event after Stop: {event:?}");
        match event {
            RecordEvent::Start {
                app,
                stream,
                queue: q,
                ..
            } => {
                assert_eq!((app.as_str(), stream.as_str()), ("live", "cam"));
                assert!(queue.replace(q).is_none(), "two Starts");
            }
            RecordEvent::Frames { frames, bytes, .. } => {
                assert!(queue.is_some(), "frames before Start");
                let sum: usize = frames.iter().map(|f| f.payload.len()).sum();
                assert_eq!(sum, bytes);
                batches.push(frames.len());
            }
            RecordEvent::Stop { reason, .. } => stop = Some(reason),
        }
    }
    (batches, queue, stop)
}

#[test]
fn a_recorded_publish_hands_over_every_frame_as_published_then_stops() {
    let (mut h, events) = recording(1 << 20);
    let p = h.publisher(0, "cam");
    let player = h.player(1, "cam");
    h.headers(p);
    h.stream(p, 0, 30, 12, 300);
    h.hang_up(p);
    let (batches, queue, stop) = drain(&events);
    assert!(queue.is_some());
    assert_eq!(stop, Some(StopReason::Ended));
    // Metadata, two sequence headers, 30 video and 30 audio frames, in batches per pass.
    assert_eq!(batches.iter().sum::<usize>(), 63, "{batches:?}");
    assert!(
        batches.len() > 10,
        "batched per pass, not all at the end: {batches:?}"
    );
    assert_eq!(h.media(player).len(), 63);
}

#[test]
fn the_frames_are_the_published_payloads_with_the_stream_timestamps() {
    let (mut h, events) = recording(1 << 20);
    let p = h.publisher(0, "cam");
    h.headers(p);
    h.stream(p, 0, 3, 12, 100);
    let sent = h.wires[p].sent.clone();
    let frames: Vec<_> = events
        .try_iter()
        .filter_map(|e| match e {
            RecordEvent::Frames { frames, .. } => Some(frames),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(frames.len(), sent.len());
    assert_eq!(frames[0].kind, MediaKind::Data);
    assert!(frames[0].sequence_header);
    for (f, m) in frames.iter().zip(&sent).skip(1) {
        assert_eq!((f.timestamp, &f.payload), (m.ts, &m.payload));
    }
    assert!(frames[3].is_video_keyframe());
}

#[test]
fn a_full_queue_stops_the_recording_and_the_stream_goes_on() {
    // Nobody drains the queue (a disk that takes nothing): 64 KiB of frames fill it.
    let (mut h, events) = recording(64 << 10);
    let p = h.publisher(0, "cam");
    let player = h.player(0, "cam");
    h.headers(p);
    h.stream(p, 0, 100, 12, 2000);
    let (batches, _, stop) = drain(&events);
    assert_eq!(stop, Some(StopReason::QueueFull));
    let handed: usize = batches.iter().sum();
    assert!(handed < 100, "{handed} frames handed over");
    h.stream(p, 100, 10, 12, 2000);
    assert_eq!(events.try_iter().count(), 0, "nothing after the stop");
    assert_eq!(h.media(player).len(), 3 + 220);
    h.assert_healthy(player);
}

#[test]
fn a_recording_the_recorder_failed_ends_at_the_next_pass() {
    let (mut h, events) = recording(1 << 20);
    let p = h.publisher(0, "cam");
    h.headers(p);
    let (_, queue, stop) = drain(&events);
    assert_eq!(stop, None);
    queue.unwrap().fail();
    h.stream(p, 0, 5, 12, 100);
    let (batches, _, stop) = drain(&events);
    assert!(batches.is_empty(), "{batches:?}");
    assert_eq!(stop, Some(StopReason::WriteFailed));
    h.stream(p, 5, 5, 12, 100);
    assert_eq!(events.try_iter().count(), 0);
}

#[test]
fn apps_without_recording_send_nothing() {
    let mut plain = Harness::new(|_| {});
    let (sink, events) = RecordSink::channel();
    plain.cores[0].set_record_sink(sink);
    let p = plain.publisher(0, "cam");
    plain.headers(p);
    plain.stream(p, 0, 5, 12, 100);
    plain.hang_up(p);
    assert_eq!(events.try_iter().count(), 0);
}

#[test]
fn a_pulled_stream_is_recorded_on_the_shard_that_pulls_it() {
    let (mut h, events) = recording_with(1 << 20, 1, relay(&[2]));
    let p = h.publisher(2, "cam");
    h.headers(p);
    h.stream(p, 0, 10, 5, 100);
    let player = h.player(1, "cam");
    h.stream(p, 10, 20, 5, 100);
    let (batches, queue, stop) = drain(&events);
    assert!(queue.is_some(), "no Start for the pull");
    assert_eq!(stop, None);
    // Headers and the cached GOP come first, then the live frames.
    let handed: usize = batches.iter().sum();
    assert!(handed >= 3 + 40, "{handed} frames");
    assert!(!h.media(player).is_empty());
    // The last player leaves: the upstream closes after the idle window, the recording ends.
    h.hang_up(player);
    h.advance_in_steps(30 * SEC);
    let (_, _, stop) = drain(&events);
    assert_eq!(stop, Some(StopReason::Ended));
}
