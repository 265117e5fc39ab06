use super::*;
use crate::http::cmaf::fixtures::*;
use crate::media::frame::MediaKind;

fn attr<'a>(text: &'a str, element: &str, name: &str) -> Vec<&'a str> {
    text.split('<')
        .filter(|e| e.starts_with(element))
        .filter_map(|e| {
            let at = e.find(&format!(" {name}=\""))? + name.len() + 3;
            e.get(at..).and_then(|rest| rest.split('"').next())
        })
        .collect()
}

fn feed(ms: u64, segments: usize) -> Feed {
    av_feed(window(segments), ms)
}

#[test]
fn nothing_before_the_first_part() {
    let mut f = Feed::new(settings());
    f.headers(true, true);
    let snap = f.segmenter.shared().snapshot();
    assert!(mpd(&snap, snap.clock.system, "").is_none());
}

#[test]
fn nothing_before_the_first_complete_segment() {
    // Parts of segment 1 are out, but no segment is complete: no AdaptationSet to list yet.
    let f = feed(1000, 3);
    let snap = f.segmenter.shared().snapshot();
    assert!(snap.segments.is_empty());
    assert!(mpd(&snap, snap.clock.system, "").is_none());
}

#[test]
fn dynamic_mpd_with_low_latency_attributes() {
    let f = feed(8600, 3);
    let snap = f.segmenter.shared().snapshot();
    let now = snap.clock.system + Duration::from_secs(9);
    let text = mpd(&snap, now, "").unwrap();
    assert_eq!(attr(&text, "MPD", "type"), ["dynamic"]);
    // The anchor: media time 0 arrived at the clock's instant.
    assert_eq!(
        attr(&text, "MPD", "availabilityStartTime"),
        ["2027-01-15T08:00:00.000Z"]
    );
    assert_eq!(
        attr(&text, "MPD", "publishTime"),
        ["2027-01-15T08:00:09.000Z"]
    );
    assert_eq!(attr(&text, "MPD", "timeShiftBufferDepth"), ["PT6.000S"]);
    assert_eq!(attr(&text, "Representation", "id"), ["video", "audio"]);
    assert_eq!(
        attr(&text, "Representation", "codecs"),
        ["avc1.64001f", "mp4a.40.2"]
    );
    assert_eq!(
        attr(&text, "SegmentTemplate", "timescale"),
        ["90000", "44100"]
    );
    assert_eq!(attr(&text, "SegmentTemplate", "startNumber"), ["1", "1"]);
    assert_eq!(
        attr(&text, "SegmentTemplate", "media"),
        ["video-$Number$.m4s", "audio-$Number$.m4s"]
    );
    assert_eq!(
        attr(&text, "SegmentTemplate", "initialization"),
        ["video-init-0.mp4", "audio-init-0.mp4"]
    );
    assert_eq!(
        attr(&text, "SegmentTemplate", "availabilityTimeOffset"),
        ["1.500", "1.500"]
    );
    assert_eq!(
        attr(&text, "SegmentTemplate", "availabilityTimeComplete"),
        ["false", "false"]
    );
    // Video: segments 1..=3 at 2 s each, the first with its start time.
    assert_eq!(
        attr(&text, "S", "t"),
        ["180000", &snap.segments[0].audio.unwrap().start.to_string()]
    );
    assert_eq!(attr(&text, "S", "d")[..3], ["180000", "180000", "180000"]);
    let audio: Vec<String> = snap
        .segments
        .iter()
        .map(|s| s.audio.unwrap().duration.to_string())
        .collect();
    assert_eq!(attr(&text, "S", "d")[3..], audio);
    assert_eq!(attr(&text, "Latency", "target"), ["2000"]);
    assert_eq!(
        attr(&text, "UTCTiming", "schemeIdUri"),
        ["urn:mpeg:dash:utc:direct:2014"]
    );
    assert_eq!(attr(&text, "AudioChannelConfiguration", "value"), ["2"]);
    assert!(text.ends_with("</MPD>\n"));
}

#[test]
fn static_once_ended_and_only_the_newest_init() {
    let mut f = feed(4100, 100);
    let mut other = AVCC.to_vec();
    other[3] = 0x28;
    f.push(MediaKind::Video, 4100, &avc_seq(&other));
    f.run(4000, true, true);
    let at = f.at(8100);
    f.segmenter.finish(at).unwrap();
    let snap = f.segmenter.shared().snapshot();
    let text = mpd(&snap, snap.clock.system, "").unwrap();
    assert_eq!(attr(&text, "MPD", "type"), ["static"]);
    assert!(attr(&text, "MPD", "availabilityStartTime").is_empty());
    assert!(!text.contains("UTCTiming"));
    assert_eq!(attr(&text, "Period", "id"), ["1"]);
    assert_eq!(
        attr(&text, "Representation", "codecs"),
        ["avc1.640028", "mp4a.40.2"]
    );
    assert_eq!(attr(&text, "SegmentTemplate", "startNumber"), ["3", "3"]);
    // The change at 4.1 s takes effect at the keyframe at 6 s (segment 3).
    assert_eq!(
        attr(&text, "SegmentTemplate", "presentationTimeOffset")[0],
        "540000"
    );
    assert_eq!(
        attr(&text, "SegmentTemplate", "initialization"),
        ["video-init-1.mp4", "audio-init-1.mp4"]
    );
}

#[test]
fn templates_carry_the_query_escaped() {
    let f = feed(4100, 100);
    let snap = f.segmenter.shared().snapshot();
    let text = mpd(&snap, snap.clock.system, "expires=9&token=ab").unwrap();
    assert_eq!(
        attr(&text, "SegmentTemplate", "initialization"),
        [
            "video-init-0.mp4?expires=9&amp;token=ab",
            "audio-init-0.mp4?expires=9&amp;token=ab"
        ]
    );
    assert_eq!(
        attr(&text, "SegmentTemplate", "media"),
        [
            "video-$Number$.m4s?expires=9&amp;token=ab",
            "audio-$Number$.m4s?expires=9&amp;token=ab"
        ]
    );
}
