//! The recorder's worker driven with events and a simulated wall clock: split files on a
//! temp dir read back with the FLV reader, and the error paths.
use super::*;
use crate::media::frame::MediaKind;
use crate::protocol::flv::{parse_file_header, read_file_header, TagIter, TAG_SCRIPT, TAG_VIDEO};
use crate::record::{temp_dir, RecordFormat};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

const ID: RecordingId = RecordingId { shard: 0, seq: 1 };

use crate::record::test_frame as frame;

/// Metadata and both sequence headers, then `seconds` of 25 fps video with a keyframe every
/// second and audio every 40 ms, from timestamp 5000.
fn stream(seconds: u32) -> Vec<RecordFrame> {
    let mut out = vec![
        frame(MediaKind::Data, 0, false, true, b"\x02\x00\x0aonMetaData"),
        frame(MediaKind::Video, 0, true, true, b"\x17\x00seq"),
        frame(MediaKind::Audio, 0, false, true, b"\xaf\x00\x12\x10"),
    ];
    for i in 0..seconds * 25 {
        let ts = 5000 + i * 40;
        let key = i % 25 == 0;
        let v: &'static [u8] = if key {
            b"\x17\x01key"
        } else {
            b"\x27\x01inter"
        };
        out.push(frame(MediaKind::Video, ts, key, false, v));
        out.push(frame(
            MediaKind::Audio,
            ts + 1,
            false,
            false,
            b"\xaf\x01aac",
        ));
    }
    out
}

fn settings(dir: &Path, split_s: u64) -> Arc<RecordSettings> {
    Arc::new(RecordSettings {
        dir: dir.to_owned(),
        format: RecordFormat::Flv,
        split_after: Some(Duration::from_secs(split_s)),
        max_queue_bytes: 1 << 20,
    })
}

fn start(w: &mut Worker, dir: &Path, stream: &str, split_s: u64) -> Arc<RecordQueue> {
    let queue = Arc::new(RecordQueue::default());
    w.handle(
        RecordEvent::Start {
            id: ID,
            app: "live".into(),
            stream: stream.into(),
            settings: settings(dir, split_s),
            queue: queue.clone(),
        },
        UNIX_EPOCH,
    );
    queue
}

fn send(w: &mut Worker, frames: Vec<RecordFrame>, wall_s: u64, queue: &RecordQueue) {
    let bytes: usize = frames.iter().map(|f| f.payload.len()).sum();
    queue.add(bytes);
    let wall = UNIX_EPOCH + Duration::from_secs(1_796_173_323 + wall_s);
    w.handle(
        RecordEvent::Frames {
            id: ID,
            frames,
            bytes,
        },
        wall,
    );
}

fn stop(w: &mut Worker, reason: StopReason) {
    w.handle(RecordEvent::Stop { id: ID, reason }, UNIX_EPOCH);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn splits_into_files_that_each_start_with_headers_and_a_keyframe_at_zero() {
    let dir = temp_dir("split");
    let stats = Arc::new(RecorderStats::default());
    let mut w = Worker::new(stats.clone());
    let queue = start(&mut w, &dir, "cam/../x", 2);
    assert_eq!(stats.totals().active, 1);
    // One batch per simulated second of wall time: files are named by it.
    let frames = stream(5);
    for (i, chunk) in frames.chunks(50).enumerate() {
        send(&mut w, chunk.to_vec(), i as u64, &queue);
    }
    assert_eq!(queue.queued(), 0);
    stop(&mut w, StopReason::Ended);
    let t = stats.totals();
    assert_eq!(
        (t.active, t.write_errors, t.files_opened),
        (0, 0, 3),
        "{t:?}"
    );
    let got = files(&dir.join("live/cam_.._x"));
    let names: Vec<_> = got
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // 5 s from a keyframe, split every 2 s: 0-2 s, 2-4 s, 4-5 s.
    assert_eq!(
        names,
        [
            "cam_.._x-20261202-010203.flv",
            "cam_.._x-20261202-010205.flv",
            "cam_.._x-20261202-010207.flv"
        ]
    );
    let mut total = 0;
    for path in &got {
        let bytes = std::fs::read(path).unwrap();
        total += bytes.len() as u64;
        let h = read_file_header(&bytes).unwrap();
        assert!(h.has_audio && h.has_video);
        let tags: Vec<_> = TagIter::new(&bytes, parse_file_header(&bytes).unwrap())
            .map(Result::unwrap)
            .collect();
        let body = |i: usize| &bytes[tags[i].data.clone()];
        assert_eq!(tags[0].tag_type, TAG_SCRIPT, "{}", path.display());
        assert_eq!(body(1), b"\x17\x00seq");
        assert_eq!(body(2), b"\xaf\x00\x12\x10");
        assert_eq!((tags[3].tag_type, tags[3].timestamp), (TAG_VIDEO, 0));
        assert_eq!(body(3), b"\x17\x01key");
        let last = tags.last().unwrap().timestamp;
        assert!(last < 2000, "{} ends at {last} ms", path.display());
    }
    assert_eq!(stats.totals().bytes_written, total);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_write_error_stops_that_recording_with_one_error_and_marks_the_queue() {
    let dir = temp_dir("notdir");
    // The app's directory is a file: the stream's directory cannot be made.
    std::fs::write(dir.join("live"), b"in the way").unwrap();
    let stats = Arc::new(RecorderStats::default());
    let mut w = Worker::new(stats.clone());
    let queue = start(&mut w, &dir, "cam", 2);
    send(&mut w, stream(3), 0, &queue);
    assert!(queue.failed());
    send(&mut w, stream(1), 1, &queue);
    assert_eq!(queue.queued(), 0, "discarded frames leave the queue too");
    stop(&mut w, StopReason::WriteFailed);
    let t = stats.totals();
    assert_eq!(
        (t.active, t.write_errors, t.files_opened),
        (0, 1, 0),
        "{t:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_disk_that_fails_mid_recording_keeps_the_files_written_so_far() {
    let dir = temp_dir("midway");
    let stats = Arc::new(RecorderStats::default());
    let mut w = Worker::new(stats.clone());
    let queue = start(&mut w, &dir, "cam", 1);
    let frames = stream(4);
    let (first, rest) = frames.split_at(40);
    send(&mut w, first.to_vec(), 0, &queue);
    // The stream's directory goes away and a file takes its place: the split's open fails.
    let sdir = dir.join("live/cam");
    std::fs::rename(&sdir, dir.join("moved")).unwrap();
    std::fs::write(&sdir, b"in the way").unwrap();
    send(&mut w, rest.to_vec(), 1, &queue);
    assert!(queue.failed());
    let t = stats.totals();
    assert_eq!(
        (t.active, t.write_errors, t.files_opened),
        (0, 1, 1),
        "{t:?}"
    );
    // A queue-full stop is counted apart, and a stop of an unknown id is harmless.
    let q2 = start(&mut w, &dir, "other", 1);
    assert!(!q2.failed());
    for _ in 0..2 {
        stop(&mut w, StopReason::QueueFull);
    }
    let t = stats.totals();
    assert_eq!((t.active, t.queue_full, t.write_errors), (0, 1, 1), "{t:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mp4_files_split_at_keyframes_and_at_a_configuration_change_each_with_its_own_init() {
    use crate::http::cmaf::fixtures::{avc_seq, AVCC};
    use crate::record::mp4::tests::{box_kinds, frame as mp4_frame, headers, media};
    let dir = temp_dir("mp4-split");
    let stats = Arc::new(RecorderStats::default());
    let mut w = Worker::new(stats.clone());
    let queue = Arc::new(RecordQueue::default());
    let settings = Arc::new(RecordSettings {
        format: RecordFormat::Mp4,
        ..(*settings(&dir, 2)).clone()
    });
    w.handle(
        RecordEvent::Start {
            id: ID,
            app: "live".into(),
            stream: "cam".into(),
            settings,
            queue: queue.clone(),
        },
        UNIX_EPOCH,
    );
    // 6 s of media; a changed AVC configuration at 2.5 s makes the 3 s keyframe split too.
    let mut other = AVCC.to_vec();
    other[3] = 0x28;
    let mut frames = headers();
    for m in media(6) {
        if m.timestamp == 2520 && m.kind == MediaKind::Video {
            frames.push(mp4_frame(
                MediaKind::Video,
                2500,
                true,
                true,
                avc_seq(&other),
            ));
        }
        frames.push(m);
    }
    for (i, chunk) in frames.chunks(75).enumerate() {
        send(&mut w, chunk.to_vec(), i as u64, &queue);
    }
    stop(&mut w, StopReason::Ended);
    let t = stats.totals();
    // 0-2 s (duration), 2-3 s (configuration), 3-5 s (duration), 5-6 s.
    assert_eq!(
        (t.active, t.write_errors, t.files_opened),
        (0, 0, 4),
        "{t:?}"
    );
    let got = files(&dir.join("live/cam"));
    assert_eq!(got.len(), 4, "{got:?}");
    let mut total = 0;
    for path in &got {
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("mp4"));
        let bytes = std::fs::read(path).unwrap();
        total += bytes.len() as u64;
        let kinds = box_kinds(&bytes);
        assert_eq!(&kinds[..2], &[b"ftyp".into(), b"moov".into()], "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == b"moov".into()).count(), 1);
        assert!(
            kinds.len() >= 4,
            "{} has fragments: {kinds:?}",
            path.display()
        );
    }
    assert_eq!(t.bytes_written, total);
    let _ = std::fs::remove_dir_all(&dir);
}
