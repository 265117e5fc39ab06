//! Recording end to end: FFmpeg publishes H.264 + AAC to an app with recording on; the
//! split files are read back with ffprobe (each plays on its own: both codecs, plausible
//! frame counts, the first video packet a keyframe); a disk that fails mid-recording stops
//! the recording with one logged error while a player goes on receiving; an app without
//! recording writes nothing; `format = "mp4"` writes split fragmented MP4 files that ffprobe
//! and ffmpeg read on their own, without a decode error.
//!
//! Run with `RTMP_EDGE_TEST_IO=epoll` and `=uring` (the recorder is fed by either driver).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const PUBLISH_LIMIT: Duration = Duration::from_secs(30);
const RECORD_LIMIT: Duration = Duration::from_secs(25);
/// How long the server may take to close its files after the publisher left.
const CLOSE_LIMIT: Duration = Duration::from_secs(15);

fn config(dir: &Path, split_s: u64) -> String {
    config_as(dir, split_s, "flv")
}

fn config_as(dir: &Path, split_s: u64, format: &str) -> String {
    format!(
        "[[app]]\nname = \"{APP}\"\nrecord = {{ dir = \"{}\", split_after_s = {split_s}, \
         format = \"{format}\" }}\n",
        dir.display()
    )
}

/// The `.flv` files of one directory, sorted by name (that is, by time).
fn flv_files(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, "flv")
}

/// The files of one directory ending in `.EXT`, sorted by name (that is, by time).
fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == ext));
    files.sort();
    files
}

/// Asserts that each of `files` (2 s splits of a `seconds`-long test publish at 25 fps) holds
/// H.264 + AAC from a keyframe, and `more` of it; and that together they hold the publish.
fn assert_split_files(files: &[PathBuf], seconds: f64, more: impl Fn(&Path)) {
    let mut total = 0;
    for (i, file) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        // The last one holds what was left.
        let want = if last { 1..=80 } else { 40..=80 };
        let streams = assert_h264_aac(file, want, true, if last { 1 } else { 40 });
        total += stream_of(&streams, "video").map_or(0, |v| v.frames);
        let keys = ffprobe_video_keyflags(file);
        assert_eq!(
            keys.first(),
            Some(&true),
            "{} starts without a keyframe",
            file.display()
        );
        more(file);
        eprintln!("{}: {streams:?}", file.display());
    }
    let range = expected_video_frames(seconds);
    assert!(
        range.contains(&total),
        "{total} video frames in all, want {range:?}"
    );
}

/// Waits until the server's log has `line` `count` times.
fn wait_for_log(edge: &RtmpEdge, line: &str, count: usize) {
    let deadline = Instant::now() + CLOSE_LIMIT;
    while edge.log().matches(line).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {count}x {line:?} in the log:\n{}",
            edge.log_tail()
        );
        sleep_secs(0.1);
    }
}

#[test]
fn split_files_each_play_on_their_own_and_unrecorded_apps_write_nothing() {
    let rec = TempDir::new("record-split");
    // "plain" is a configured app without recording (an unlisted app is refused).
    let conf = format!("{}[[app]]\nname = \"plain\"\n", config(rec.path(), 2));
    let edge = RtmpEdge::start(2, &conf);
    let name = unique_name("rec");
    let seconds = 7.0;
    let mut publisher = ffmpeg_publish_testsrc(&edge.url(APP, &name), seconds, &[]);
    let mut plain = ffmpeg_publish_testsrc(&edge.url("plain", &name), 3.0, &[]);
    plain.wait_success(PUBLISH_LIMIT);
    publisher.wait_success(PUBLISH_LIMIT);
    wait_for_log(&edge, "recording ended", 1);

    let files = flv_files(&rec.path().join(APP).join(&name));
    assert!(files.len() >= 2, "split into {files:?}");
    for file in &files {
        assert_flv_file(file);
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            file_name.starts_with(&format!("{name}-20")) && file_name.ends_with(".flv"),
            "{file_name}"
        );
    }
    assert_split_files(&files, seconds, |_| {});
    // The app without recording has no directory, and nothing else appeared.
    let entries: Vec<_> = std::fs::read_dir(rec.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [APP], "only the recorded app wrote");
    assert_eq!(edge.log().matches("recording started").count(), 1);
}

#[test]
fn a_disk_failing_mid_recording_stops_the_recording_and_the_player_goes_on() {
    let rec = TempDir::new("record-fail");
    let edge = RtmpEdge::start(2, &config(rec.path(), 1));
    let name = unique_name("fail");
    let url = edge.url(APP, &name);
    let mut publisher = ffmpeg_publish_testsrc(&url, 8.0, &[]);
    sleep_secs(1.0);
    let out = rec.join("player.flv");
    let mut player = ffmpeg_record(&url, &out, 5.0);
    // Once the first file is there, the stream's directory goes away and a file takes its
    // place: the next split cannot make the directory (EEXIST), as on a failed disk.
    let sdir = rec.path().join(APP).join(&name);
    let deadline = Instant::now() + CLOSE_LIMIT;
    while flv_files(&sdir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no recording file:\n{}",
            edge.log_tail()
        );
        sleep_secs(0.05);
    }
    let moved = rec.join("moved");
    std::fs::rename(&sdir, &moved).unwrap();
    std::fs::write(&sdir, b"not a directory").unwrap();
    wait_for_log(&edge, "recording stopped: cannot write the file", 1);

    player.wait_success(RECORD_LIMIT);
    publisher.wait_success(PUBLISH_LIMIT);
    // The player got the whole time it asked for, after the disk failed.
    assert_recording(&out, 5.0);
    let log = edge.log();
    assert_eq!(
        log.matches("recording stopped").count(),
        1,
        "one error, once:\n{log}"
    );
    assert!(log.contains("(os error "), "the OS error is named:\n{log}");
    // What was written before the failure is a whole file.
    let kept = flv_files(&moved);
    assert!(!kept.is_empty());
    assert_h264_aac(&kept[0], 1..=60, true, 1);
}

#[test]
fn stopping_the_server_closes_the_files_whole() {
    let rec = TempDir::new("record-stop");
    let mut edge = RtmpEdge::start(2, &config(rec.path(), 0));
    let name = unique_name("stop");
    let mut publisher = ffmpeg_publish_testsrc(&edge.url(APP, &name), 10.0, &[]);
    let sdir = rec.path().join(APP).join(&name);
    wait_for_log(&edge, "recording file opened", 1);
    sleep_secs(3.0);
    // SIGINT stops at once: the shards go, then the recorder flushes and fsyncs.
    let status = edge.process().stop(Duration::from_secs(10));
    assert!(status.success(), "rtmp-edge exited with {status}");
    assert!(
        edge.log().contains("recording ended"),
        "{}",
        edge.log_tail()
    );
    publisher.kill();
    let files = flv_files(&sdir);
    assert_eq!(files.len(), 1, "split_after_s = 0: one file, {files:?}");
    // About 3 s of media, all of it readable.
    assert_h264_aac(&files[0], 40..=150, true, 40);
    assert_eq!(ffprobe_video_keyflags(&files[0]).first(), Some(&true));
}

#[test]
fn mp4_split_files_each_play_on_their_own_without_decode_errors() {
    let rec = TempDir::new("record-mp4");
    let edge = RtmpEdge::start(2, &config_as(rec.path(), 2, "mp4"));
    let name = unique_name("mp4");
    let seconds = 7.0;
    let mut publisher = ffmpeg_publish_testsrc(&edge.url(APP, &name), seconds, &[]);
    publisher.wait_success(PUBLISH_LIMIT);
    wait_for_log(&edge, "recording ended", 1);

    let files = files_with(&rec.path().join(APP).join(&name), "mp4");
    assert!(files.len() >= 2, "split into {files:?}");
    assert_split_files(&files, seconds, |file| {
        let errors = decode_errors(file, None);
        assert!(
            errors.trim().is_empty(),
            "{} decodes with:\n{errors}",
            file.display()
        );
    });
    assert!(
        !edge.log().contains("recording stopped"),
        "{}",
        edge.log_tail()
    );
}
