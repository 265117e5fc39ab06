use super::*;
use crate::http::cmaf::fixtures::*;
use crate::media::frame::MediaKind;
use std::time::Duration;

fn live(ms: u64) -> Feed {
    av_feed(window(3), ms)
}

#[test]
fn low_latency_playlist_text() {
    let feed = live(2600);
    let snap = feed.segmenter.shared().snapshot();
    let expected = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,HOLD-BACK=6.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-MAP:URI=\"init-0.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:00.000Z
#EXT-X-PART:DURATION=0.480,URI=\"0.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.480,URI=\"0.1.m4s\"
#EXT-X-PART:DURATION=0.480,URI=\"0.2.m4s\"
#EXT-X-PART:DURATION=0.480,URI=\"0.3.m4s\"
#EXT-X-PART:DURATION=0.080,URI=\"0.4.m4s\"
#EXTINF:2.000,
0.m4s
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:02.000Z
#EXT-X-PART:DURATION=0.480,URI=\"1.0.m4s\",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"1.1.m4s\"
";
    assert_eq!(media_playlist(&snap, true, ""), expected);
}

#[test]
fn plain_playlist_has_no_low_latency_tags() {
    let feed = live(4100);
    let snap = feed.segmenter.shared().snapshot();
    let text = media_playlist(&snap, false, "");
    for tag in ["PART", "PRELOAD-HINT", "SERVER-CONTROL", "ENDLIST"] {
        assert!(!text.contains(tag), "{tag} in\n{text}");
    }
    assert_eq!(text.matches("#EXTINF:2.000,").count(), 2);
    assert!(text.ends_with("#EXTINF:2.000,\n1.m4s\n"));
}

#[test]
fn window_media_sequence_discontinuity_and_end() {
    let mut feed = live(6100);
    let mut other = AVCC.to_vec();
    other[3] = 0x28;
    feed.push(MediaKind::Video, 6100, &avc_seq(&other));
    feed.run(4000, true, true);
    let at = feed.at(10_100);
    feed.segmenter.finish(at).unwrap();
    let snap = feed.segmenter.shared().snapshot();
    let text = media_playlist(&snap, true, "");
    // Window of 3: msn 3 (init 0), 4 and 5 (init 1, discontinuity before 4).
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{text}");
    let map0 = text.find("#EXT-X-MAP:URI=\"init-0.mp4\"").unwrap();
    let disc = text.find("#EXT-X-DISCONTINUITY\n").unwrap();
    let map1 = text.find("#EXT-X-MAP:URI=\"init-1.mp4\"").unwrap();
    let seg4 = text.find("\n4.m4s\n").unwrap();
    assert!(map0 < disc && disc < map1 && map1 < seg4);
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(!text.contains("PRELOAD-HINT"));

    // Once the discontinuity itself leaves the window, the sequence counts it.
    feed = live(6100);
    feed.push(MediaKind::Video, 6100, &avc_seq(&other));
    feed.run(14_000, true, true);
    let text = media_playlist(&feed.segmenter.shared().snapshot(), true, "");
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
}

#[test]
fn target_duration_rounds_to_the_nearest_second() {
    let mut feed = Feed::new(settings());
    feed.gop = 63; // 2.52 s
    feed.headers(true, false);
    feed.run(8000, true, false);
    let text = media_playlist(&feed.segmenter.shared().snapshot(), false, "");
    assert!(text.contains("#EXT-X-TARGETDURATION:3\n"), "{text}");
    let mut feed = Feed::new(settings());
    feed.gop = 61; // 2.44 s
    feed.headers(true, false);
    feed.run(8000, true, false);
    let text = media_playlist(&feed.segmenter.shared().snapshot(), false, "");
    assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
}

#[test]
fn blocking_reload_decisions() {
    // Segment 0 complete (parts 0..=4), segment 1 open with part 0.
    let feed = live(2600);
    let snap = feed.segmenter.shared().snapshot();
    let decide = |msn, part| blocking_reload(&snap, msn, part);
    assert_eq!(decide(None, None), Reload::Ready);
    assert_eq!(decide(None, Some(0)), Reload::BadRequest);
    assert_eq!(decide(Some(0), None), Reload::Ready);
    assert_eq!(decide(Some(0), Some(4)), Reload::Ready);
    // Past the last part of a complete segment: that segment is done, ready.
    assert_eq!(decide(Some(0), Some(9)), Reload::Ready);
    assert_eq!(decide(Some(1), Some(0)), Reload::Ready);
    assert_eq!(
        decide(Some(1), Some(1)),
        Reload::WaitUntil {
            msn: 1,
            part: Some(1)
        }
    );
    assert_eq!(
        decide(Some(1), None),
        Reload::WaitUntil { msn: 1, part: None }
    );
    assert_eq!(
        decide(Some(2), Some(0)),
        Reload::WaitUntil {
            msn: 2,
            part: Some(0)
        }
    );
    assert_eq!(
        decide(Some(3), None),
        Reload::WaitUntil { msn: 3, part: None }
    );
    // More than two segments past the last one in the playlist (1).
    assert_eq!(decide(Some(4), None), Reload::BadRequest);
    assert_eq!(decide(Some(u64::MAX), Some(0)), Reload::BadRequest);
    // An evicted msn is in the past: ready.
    let later = live(12_100);
    let snap = later.segmenter.shared().snapshot();
    assert_eq!(blocking_reload(&snap, Some(0), Some(0)), Reload::Ready);
}

#[test]
fn blocking_request_becomes_ready_when_the_part_lands() {
    let mut feed = live(2600);
    let shared = feed.segmenter.shared().clone();
    let waiting = blocking_reload(&shared.snapshot(), Some(1), Some(1));
    assert!(matches!(waiting, Reload::WaitUntil { .. }));
    let version = shared.version();
    feed.run(400, true, true);
    assert!(shared.version() > version, "a part completed: waiters wake");
    assert_eq!(
        blocking_reload(&shared.snapshot(), Some(1), Some(1)),
        Reload::Ready
    );
    let text = media_playlist(&shared.snapshot(), true, "");
    assert!(text.contains("URI=\"1.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"1.2.m4s\""));
}

#[test]
fn ended_stream_answers_at_once() {
    let mut feed = live(2600);
    let at = feed.at(2600);
    feed.segmenter.finish(at).unwrap();
    let snap = feed.segmenter.shared().snapshot();
    assert_eq!(blocking_reload(&snap, Some(2), Some(0)), Reload::Ready);
}

#[test]
fn iso8601_dates() {
    let t = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
    assert_eq!(iso8601(t(0, 0)), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(t(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
    assert_eq!(iso8601(t(1_800_000_000, 0)), "2027-01-15T08:00:00.000Z");
    assert_eq!(iso8601(t(4_102_444_799, 999)), "2099-12-31T23:59:59.999Z");
}

#[test]
fn query_parsing() {
    assert_eq!(parse_query(""), Ok((None, None)));
    assert_eq!(parse_query("_HLS_msn=12"), Ok((Some(12), None)));
    assert_eq!(
        parse_query("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES"),
        Ok((Some(12), Some(3)))
    );
    assert_eq!(parse_query("token=abc&_HLS_part=0"), Ok((None, Some(0))));
    for bad in [
        "_HLS_msn=",
        "_HLS_msn=-1",
        "_HLS_msn=1x",
        "_HLS_part",
        "_HLS_msn=99999999999999999999",
    ] {
        assert_eq!(parse_query(bad), Err(BadQuery), "{bad}");
    }
}

#[test]
fn every_uri_carries_the_query() {
    let feed = live(2600);
    let snap = feed.segmenter.shared().snapshot();
    let text = media_playlist(&snap, true, "expires=9&token=ab");
    let uris: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.split("URI=\"")
                .nth(1)
                .map(|u| u.split('"').next().unwrap())
                .or((!l.starts_with('#')).then_some(l))
        })
        .collect();
    // The map, 6 parts, the segment, the hint.
    assert_eq!(uris.len(), 9, "{text}");
    for uri in uris {
        assert!(
            uri.ends_with(".mp4?expires=9&token=ab") || uri.ends_with(".m4s?expires=9&token=ab"),
            "{uri}"
        );
    }
}
