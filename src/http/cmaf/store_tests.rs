use super::*;
use crate::http::cmaf::fixtures::*;
use crate::media::frame::MediaKind;

#[test]
fn resource_names_round_trip() {
    let all = [
        (Resource::Init(0), "init-0.mp4"),
        (Resource::Segment(12), "12.m4s"),
        (Resource::Part(12, 3), "12.3.m4s"),
        (Resource::TrackInit(TrackKind::Video, 2), "video-init-2.mp4"),
        (Resource::TrackInit(TrackKind::Audio, 0), "audio-init-0.mp4"),
        (Resource::TrackSegment(TrackKind::Video, 7), "video-7.m4s"),
        (Resource::TrackSegment(TrackKind::Audio, 7), "audio-7.m4s"),
    ];
    for (resource, name) in all {
        assert_eq!(resource.name(), name);
        assert_eq!(Resource::parse(name), Some(resource), "{name}");
    }
    for bad in [
        "",
        "index.m3u8",
        "x.m4s",
        "-1.m4s",
        "+1.m4s",
        "1..m4s",
        "1.2.3.m4s",
        "init-.mp4",
        "init-x.mp4",
        "video-.m4s",
        "video-init-1.m4s",
        "12.m4s.gz",
        "99999999999999999999.m4s",
        " 1.m4s",
        "audio--1.m4s",
    ] {
        assert_eq!(Resource::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn lookups_ready_partial_pending_and_missing() {
    let feed = av_feed(settings(), 2600);
    let snap = feed.segmenter.shared().snapshot();
    // Segment 0 complete (5 parts), segment 1 open with one part.
    assert_eq!(snap.segments.len(), 1);
    let open = snap.open.as_ref().unwrap();
    assert_eq!((open.msn, open.parts.len()), (1, 1));
    assert_eq!(snap.next_part(), Some((1, 1)));

    let ready = |r| match snap.lookup(r) {
        Lookup::Ready(chunks) => chunks,
        other => panic!("{} {other:?}", r.name()),
    };
    let init = ready(Resource::Init(0));
    assert_eq!(init, [snap.inits[0].muxed.clone()]);
    let seg = ready(Resource::Segment(0));
    // Muxed: video then audio fragment of each part, the same Bytes as the parts.
    assert_eq!(seg.len(), 10);
    let part = &snap.segments[0].parts[2];
    assert_eq!(
        ready(Resource::Part(0, 2)),
        [part.video.clone().unwrap(), part.audio.clone().unwrap()]
    );
    assert_eq!(seg[4].as_ptr(), part.video.as_ref().unwrap().as_ptr());
    assert_eq!(ready(Resource::TrackSegment(TrackKind::Audio, 0)).len(), 5);
    assert_eq!(ready(Resource::TrackInit(TrackKind::Video, 0)).len(), 1);
    assert_eq!(ready(Resource::Part(1, 0)).len(), 2);

    assert!(matches!(snap.lookup(Resource::Segment(1)), Lookup::Partial(c) if c.len() == 2));
    assert!(
        matches!(snap.lookup(Resource::TrackSegment(TrackKind::Video, 1)), Lookup::Partial(c) if c.len() == 1)
    );
    assert!(matches!(snap.lookup(Resource::Part(1, 1)), Lookup::Pending));
    for missing in [
        Resource::Part(1, 2),
        Resource::Part(0, 5),
        Resource::Segment(2),
        Resource::Segment(7),
        Resource::Init(1),
        Resource::TrackInit(TrackKind::Audio, 3),
    ] {
        assert!(
            matches!(snap.lookup(missing), Lookup::NotFound),
            "{missing:?}"
        );
    }
}

#[test]
fn readers_keep_their_snapshot_while_the_writer_moves_on() {
    let mut feed = av_feed(settings(), 2100);
    let shared = feed.segmenter.shared().clone();
    let before = shared.snapshot();
    let version = shared.version();
    let reader = std::thread::spawn({
        let shared = shared.clone();
        move || shared.snapshot().segments.len()
    });
    feed.run(4000, true, true);
    assert!(reader.join().unwrap() >= 1);
    assert_eq!(before.version, version);
    assert_eq!(before.segments.len(), 1);
    let after = shared.snapshot();
    assert!(after.version > version && after.segments.len() == 3);
    // Complete segments are shared, not copied, between snapshots.
    assert!(Arc::ptr_eq(&before.segments[0], &after.segments[0]));
    assert_eq!(
        after.media_bytes(),
        after.segments.iter().map(|s| s.len()).sum::<usize>()
            + after.open.as_ref().map_or(0, |s| s.len())
    );
}

#[test]
fn idle_time_and_wall_clock() {
    let mut feed = Feed::new(settings());
    feed.headers(true, false);
    for i in 0..13u64 {
        feed.push(MediaKind::Video, i * 40, &avc_frame(i == 0, 0, 10));
    }
    let snap = feed.segmenter.shared().snapshot();
    assert_eq!(
        snap.idle_for(feed.at(1480)),
        Some(std::time::Duration::from_millis(1000))
    );
    let clock = snap.clock;
    let later = clock.instant + std::time::Duration::from_secs(3);
    assert_eq!(
        clock.at(later),
        clock.system + std::time::Duration::from_secs(3)
    );
    // The anchor is the first part's start instant.
    assert_eq!(snap.anchor, Some((0, feed.at(0))));
}
