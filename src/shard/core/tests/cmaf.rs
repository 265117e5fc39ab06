//! HLS/DASH delivery on the simulated clock: files served from the home shard's segmenter on
//! every shard, blocking playlist reloads woken at once on the home shard and by mailbox on
//! the others, the bounded waits, the play rules (403), and no segmenter without HLS.
use super::harness::Harness;
use super::http::{get, responses, with_http, HTTP};
use crate::http::cmaf::fixtures::{aac_frame, aac_seq, avc_frame, avc_seq, ASC, AVCC};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// A real H.264 + AAC publisher on shard 0 (the segmenter parses it).
fn publish(h: &mut Harness) -> usize {
    let p = h.publisher(0, "cam");
    h.send(p, 9, 0, avc_seq(AVCC));
    h.send(p, 8, 0, aac_seq(ASC));
    p
}

/// Frames `first..first + n` at 25 fps (keyframe every 25), an audio frame after each,
/// without moving the clock unless `advance` (no sweep runs then).
fn frames(h: &mut Harness, p: usize, first: u32, n: u32, advance: bool) {
    for i in first..first + n {
        h.send(p, 9, i * 40, avc_frame(i % 25 == 0, 0, 300));
        h.send(p, 8, i * 40 + 5, aac_frame(20));
        if advance {
            h.advance(40 * MS);
        } else {
            h.drive();
        }
    }
}

fn body(h: &Harness, w: usize) -> Vec<String> {
    responses(&h.wires[w].received)
        .into_iter()
        .map(|r| format!("{}\n{}", r.head, String::from_utf8_lossy(&r.body)))
        .collect()
}

/// The (msn, part) of the playlist's preload hint.
fn preload_hint(playlist: &str) -> (u64, u64) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
        .expect("a preload hint");
    let uri = line.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
    let stem = uri.strip_suffix(".m4s").unwrap();
    let (m, p) = stem.split_once('.').unwrap();
    (m.parse().unwrap(), p.parse().unwrap())
}

/// A blocking reload of `cam` on shard 1 for what `query(msn, part)` of the current preload
/// hint names, still waiting; returns its wire and the hinted msn.
fn blocked_reload(h: &mut Harness, query: impl FnOnce(u64, u64) -> String) -> (usize, u64) {
    let probe = h.raw(1, HTTP);
    get(h, probe, "/live/cam/index.m3u8");
    let (msn, part) = preload_hint(&body(h, probe)[0]);
    let waiter = h.raw(1, HTTP);
    get(
        h,
        waiter,
        &format!("/live/cam/index.m3u8?{}", query(msn, part)),
    );
    assert!(h.wires[waiter].received.is_empty());
    (waiter, msn)
}

#[test]
fn playlists_manifests_and_files_are_served_on_every_shard() {
    let mut h = Harness::new(with_http);
    let p = publish(&mut h);
    frames(&mut h, p, 0, 120, true);
    for shard in [0, 1] {
        let w = h.raw(shard, HTTP);
        get(&mut h, w, "/live/cam/index.m3u8");
        get(&mut h, w, "/live/cam/index.mpd");
        get(&mut h, w, "/live/cam/init-0.mp4");
        get(&mut h, w, "/live/cam/1.m4s");
        get(&mut h, w, "/live/cam/nonsense.txt");
        let r = responses(&h.wires[w].received);
        assert_eq!(r.len(), 5, "{:?}", body(&h, w));
        assert_eq!(r[0].status, 200);
        assert!(r[0]
            .head
            .contains("Content-Type: application/vnd.apple.mpegurl\r\n"));
        assert!(r[0].head.contains("Cache-Control: no-cache\r\n"));
        let playlist = String::from_utf8(r[0].body.clone()).unwrap();
        assert!(playlist.starts_with("#EXTM3U"), "{playlist}");
        assert!(playlist.contains("#EXT-X-PART:"));
        assert_eq!(r[1].status, 200);
        assert!(r[1].head.contains("Content-Type: application/dash+xml\r\n"));
        assert_eq!(r[2].status, 200, "{:?}", r[2].head);
        assert!(r[2].head.contains("Content-Type: video/mp4\r\n"));
        assert_eq!(&r[2].body[4..8], b"ftyp");
        assert_eq!(r[3].status, 200);
        assert!(r[3].body.windows(4).any(|w| w == b"moof"));
        assert_eq!(r[4].status, 404);
        h.assert_healthy(w);
    }
}

#[test]
fn a_blocking_reload_returns_once_the_part_exists_on_the_home_and_other_shards() {
    let mut h = Harness::new(with_http);
    let p = publish(&mut h);
    frames(&mut h, p, 0, 60, true);
    let probe = h.raw(0, HTTP);
    get(&mut h, probe, "/live/cam/index.m3u8");
    let (msn, part) = preload_hint(&body(&h, probe)[0]);
    let wanted = format!("/live/cam/index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
    let home = h.raw(0, HTTP);
    let other = h.raw(1, HTTP);
    get(&mut h, home, &wanted);
    get(&mut h, other, &wanted);
    assert!(h.wires[home].received.is_empty());
    assert!(h.wires[other].received.is_empty());
    // The clock stands still: no sweep runs, only the publication wakes them.
    let mut n = 60;
    while h.wires[home].received.is_empty() {
        assert!(n < 120, "the part never came");
        frames(&mut h, p, n, 1, false);
        n += 1;
    }
    assert!(
        !h.wires[other].received.is_empty(),
        "the other shard was not woken with the home's waiter"
    );
    let name = format!("URI=\"{msn}.{part}.m4s\"");
    for w in [home, other] {
        let r = responses(&h.wires[w].received);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, 200);
        let playlist = String::from_utf8(r[0].body.clone()).unwrap();
        assert!(
            playlist
                .lines()
                .any(|l| l.starts_with("#EXT-X-PART") && l.contains(&name)),
            "{playlist}"
        );
    }
}

#[test]
fn waits_are_bounded() {
    let mut h = Harness::new(with_http);
    // No such stream: 404 after the stream wait.
    let w = h.raw(1, HTTP);
    get(&mut h, w, "/live/none/index.m3u8");
    get(&mut h, w, "/live/none/index.mpd");
    assert!(h.wires[w].received.is_empty());
    h.advance_in_steps(Duration::from_secs(12));
    let r = responses(&h.wires[w].received);
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [404, 404]);
    // A live stream that stops sending: the blocking reload answers with the playlist
    // after three target durations.
    let p = publish(&mut h);
    frames(&mut h, p, 0, 60, true);
    let (waiter, msn) = blocked_reload(&mut h, |msn, _| format!("_HLS_msn={}", msn + 1));
    h.advance_in_steps(Duration::from_secs(7));
    let r = responses(&h.wires[waiter].received);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    // Too far ahead: 400.
    get(
        &mut h,
        waiter,
        &format!("/live/cam/index.m3u8?_HLS_msn={}", msn + 5),
    );
    assert_eq!(responses(&h.wires[waiter].received)[1].status, 400);
}

#[test]
fn an_ended_stream_is_served_with_endlist_then_dropped() {
    let mut h = Harness::new(with_http);
    let p = publish(&mut h);
    frames(&mut h, p, 0, 120, true);
    // A reload waiting for the next part when the publisher leaves: answered at once.
    let (waiter, _) = blocked_reload(&mut h, |msn, part| {
        format!("_HLS_msn={msn}&_HLS_part={part}")
    });
    h.hang_up(p);
    h.drive();
    let r = responses(&h.wires[waiter].received);
    assert_eq!(r.len(), 1, "{:?}", body(&h, waiter));
    let last = String::from_utf8(r[0].body.clone()).unwrap();
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");
    assert!(!last.contains("#EXT-X-PRELOAD-HINT"), "{last}");
    // Within hls.ended_keep_ms: the ended playlist, the static MPD and the segments.
    h.advance_in_steps(Duration::from_secs(5));
    let w = h.raw(0, HTTP);
    get(&mut h, w, "/live/cam/index.m3u8");
    get(&mut h, w, "/live/cam/index.mpd");
    get(&mut h, w, "/live/cam/1.m4s");
    let r = responses(&h.wires[w].received);
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200]
    );
    assert!(String::from_utf8_lossy(&r[0].body).contains("#EXT-X-ENDLIST"));
    assert!(String::from_utf8_lossy(&r[1].body).contains("type=\"static\""));
    // Past it: gone (404 after the stream wait, as for any stream the node lacks).
    h.advance_in_steps(Duration::from_secs(6));
    let late = h.raw(0, HTTP);
    get(&mut h, late, "/live/cam/index.m3u8");
    h.advance_in_steps(Duration::from_secs(6));
    assert_eq!(responses(&h.wires[late].received)[0].status, 404);
}

/// With `tune` on top of an HTTP listener, a published `live/cam` gets no segmenter: its
/// playlist is 404 after the stream wait.
fn assert_not_segmented(tune: impl FnOnce(&mut crate::shard::ShardSettings)) {
    let mut h = Harness::new(|s| {
        with_http(s);
        tune(s);
    });
    let p = publish(&mut h);
    frames(&mut h, p, 0, 60, true);
    let w = h.raw(0, HTTP);
    get(&mut h, w, "/live/cam/index.m3u8");
    h.advance_in_steps(Duration::from_secs(12));
    assert_eq!(responses(&h.wires[w].received)[0].status, 404);
}

#[test]
fn an_app_with_hls_off_gets_no_segmenter() {
    assert_not_segmented(|s| s.hls_apps.apps.push(("live".into(), false)));
}

#[test]
fn no_segmenter_runs_without_hls() {
    assert_not_segmented(|s| s.hls = None);
}

#[test]
fn playlists_manifests_and_http_flv_follow_the_play_rules() {
    use crate::auth::{AccessPolicy, ActionRules, AppRules};
    let play = ActionRules {
        keys: vec!["sekrit".into()],
        ..ActionRules::default()
    };
    let app = AppRules {
        name: "*".into(),
        publish: ActionRules::default(),
        play,
        on_done: None,
        callback_timeout: Duration::from_secs(3),
        callback_fail_open: false,
        callback_cache: Duration::from_secs(30),
    };
    let mut h = Harness::new(|s| {
        with_http(s);
        s.access = std::sync::Arc::new(AccessPolicy {
            apps: vec![app],
            closed: false,
        });
    });
    let p = publish(&mut h);
    frames(&mut h, p, 0, 60, true);
    let w = h.raw(1, HTTP);
    for path in [
        "/live/cam/index.m3u8?key=guess",
        "/live/cam/index.mpd",
        "/live/cam.flv?key=guess",
    ] {
        get(&mut h, w, path);
    }
    let statuses: Vec<u16> = responses(&h.wires[w].received)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [403, 403, 403]);
    let ok = h.raw(1, HTTP);
    get(&mut h, ok, "/live/cam/index.m3u8?key=sekrit");
    get(&mut h, ok, "/live/cam/index.mpd?key=sekrit");
    let statuses: Vec<u16> = responses(&h.wires[ok].received)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 200]);
}
