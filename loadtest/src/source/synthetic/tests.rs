use super::*;
use crate::sei::find_stamp;
use rtmp_edge::protocol::flv::{video_facts, write_file_header, write_tag};

fn source(video_bps: u64, fps: f64, gop_s: f64) -> SyntheticSource {
    let mut s = SyntheticSource::new(SyntheticConfig {
        video_bps,
        fps,
        gop_s,
    });
    s.begin(1_000_000_000);
    s
}

#[test]
fn headers_first_then_interleaved_by_time() {
    let mut s = source(600_000, 25.0, 2.0);
    assert_eq!(s.gop_frames(), 50);
    assert_eq!(s.next_due_ns(), 1_000_000_000);
    let kinds: Vec<(u8, bool)> = (0..3)
        .map(|_| {
            let item = s.next();
            (item.type_id, matches!(item.body, Body::Metadata(_)))
        })
        .collect();
    assert_eq!(kinds, vec![(18, true), (9, false), (8, false)]);
    let mut last_due = 0;
    let mut video = 0;
    let mut audio = 0;
    for _ in 0..200 {
        let due = s.next_due_ns();
        assert!(due >= last_due);
        last_due = due;
        let item = s.next();
        match item.type_id {
            9 => {
                let stamp = item.stamp.unwrap();
                assert_eq!(stamp.sequence, video);
                assert_eq!(stamp.scheduled_ns, due);
                assert_eq!(u64::from(item.timestamp), video * 40);
                video += 1;
            }
            8 => {
                assert!(item.stamp.is_none());
                audio += 1;
            }
            t => panic!("type {t}"),
        }
    }
    // 25 video and ~43 audio frames per second.
    assert!(
        (video as f64 / audio as f64 - 25.0 / 43.07).abs() < 0.02,
        "{video} {audio}"
    );
}

#[test]
fn sizes_follow_the_bitrate() {
    for (bps, fps, gop) in [
        (600_000, 25.0, 2.0),
        (2_500_000, 30.0, 1.0),
        (300_000, 25.0, 0.04),
    ] {
        let mut s = source(bps, fps, gop);
        for _ in 0..3 {
            s.next();
        }
        let seconds = 10.0;
        let (mut vbytes, mut abytes) = (0usize, 0usize);
        let mut sizes = Vec::new();
        let gop_frames = s.gop_frames();
        while s.next_due_ns() < 1_000_000_000 + (seconds * 1e9) as u64 {
            let item = s.next();
            let Body::Media(payload) = item.body else {
                panic!()
            };
            match item.type_id {
                9 => {
                    let facts = video_facts(payload).unwrap();
                    assert_eq!(facts.keyframe, sizes.len() as u64 % gop_frames == 0);
                    assert_eq!(find_stamp(payload, 4).unwrap(), item.stamp.unwrap());
                    sizes.push(payload.len());
                    vbytes += payload.len();
                }
                _ => abytes += payload.len(),
            }
        }
        let vrate = vbytes as f64 * 8.0 / seconds;
        let arate = abytes as f64 * 8.0 / seconds;
        assert!(
            (vrate / bps as f64 - 1.0).abs() < 0.01,
            "video {vrate} for {bps}"
        );
        assert!(
            (arate / AUDIO_BPS as f64 - 1.0).abs() < 0.01,
            "audio {arate}"
        );
        if gop_frames > 1 {
            let ratio = sizes[0] as f64 / sizes[1] as f64;
            assert!((ratio - 10.0).abs() < 0.2, "IDR/P ratio {ratio}");
        }
    }
}

/// Writes ten seconds of the synthetic stream as an FLV file and has FFmpeg decode it: any
/// line on stderr at `-v error` is a bitstream the decoders do not accept.
#[test]
fn ffmpeg_decodes_the_synthetic_stream() {
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("ffmpeg not installed: skipped");
        return;
    }
    let mut s = source(600_000, 25.0, 1.0);
    let mut flv = Vec::new();
    write_file_header(true, true, &mut flv);
    let mut video_frames = 0;
    while s.next_due_ns() < 1_000_000_000 + 10_000_000_000 {
        let item = s.next();
        if let Body::Media(payload) = item.body {
            write_tag(item.type_id, item.timestamp, payload, &mut flv);
            video_frames += usize::from(item.type_id == 9);
        }
    }
    let dir = std::env::temp_dir().join(format!("rtmp-loadtest-syn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("synthetic.flv");
    std::fs::write(&path, &flv).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "framemd5", "-"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported errors: {stderr}");
    let md5 = String::from_utf8_lossy(&out.stdout);
    // Stream 0 is video: every frame decoded, all the same flat grey picture.
    let video: Vec<&str> = md5.lines().filter(|l| l.starts_with("0,")).collect();
    assert_eq!(video.len(), video_frames - 1, "{md5}");
    let hashes: std::collections::HashSet<&str> =
        video.iter().filter_map(|l| l.rsplit(',').next()).collect();
    assert_eq!(hashes.len(), 1);
    assert!(md5.lines().any(|l| l.starts_with("1,")), "no audio decoded");
}
