//! Access control of HTTP plays on the simulated clock: the callback waited for by HTTP-FLV
//! and HLS requests (allow, deny, timeout, fail open), the remembered allow that spares
//! playlist reloads and segment fetches a callback, on_done after an HTTP-FLV play, signed
//! tokens carried into playlist and MPD URIs and checked on every file, and HEAD answers.
use super::harness::{Harness, UNIX_AT_START};
use super::http::{get, responses, with_http, Response, HTTP};
use super::SEC;
use crate::auth::callback::{CallbackEvent, CallbackOutcome};
use crate::auth::{signed, AccessPolicy, Action, ActionRules, AppRules, DenyReason};
use crate::http::cmaf::fixtures::{aac_frame, aac_seq, avc_frame, avc_seq, ASC, AVCC};
use std::sync::Arc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn with_play_rules(play: ActionRules, tune: impl FnOnce(&mut AppRules)) -> Harness {
    let mut app = AppRules {
        name: "*".into(),
        play,
        callback_timeout: 3 * SEC,
        callback_cache: 30 * SEC,
        ..AppRules::default()
    };
    tune(&mut app);
    Harness::new(|s| {
        with_http(s);
        s.access = Arc::new(AccessPolicy {
            apps: vec![app],
            closed: false,
        });
    })
}

fn with_callback(tune: impl FnOnce(&mut AppRules)) -> Harness {
    let play = ActionRules {
        callback: Some("http://127.0.0.1:1/on_play".into()),
        ..ActionRules::default()
    };
    with_play_rules(play, tune)
}

/// A real H.264 + AAC publisher of `cam` on shard 0 with a few segments out.
fn publish(h: &mut Harness) -> usize {
    let p = h.publisher(0, "cam");
    h.send(p, 9, 0, avc_seq(AVCC));
    h.send(p, 8, 0, aac_seq(ASC));
    for i in 0..120 {
        h.send(p, 9, i * 40, avc_frame(i % 25 == 0, 0, 300));
        h.send(p, 8, i * 40 + 5, aac_frame(20));
        h.advance(40 * MS);
    }
    p
}

fn request(h: &mut Harness, w: usize, method: &str, path: &str) {
    h.inject(
        w,
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    h.drive();
}

fn got(h: &Harness, w: usize) -> Vec<Response> {
    responses(&h.wires[w].received)
}

fn statuses(h: &Harness, w: usize) -> Vec<u16> {
    got(h, w).iter().map(|r| r.status).collect()
}

fn refused(h: &Harness, shard: usize, reason: DenyReason) -> u64 {
    h.cores[shard].stats().auth_refused[Action::Play.index()][reason.index()]
}

#[test]
fn http_flv_waits_for_the_callback_and_plays_when_allowed() {
    let mut h = with_callback(|a| a.on_done = Some("http://127.0.0.1:1/done".into()));
    let p = h.publisher(0, "cam");
    h.headers(p);
    h.stream(p, 0, 10, 10, 200);
    let w = h.raw(1, HTTP);
    get(&mut h, w, "/live/cam.flv?session=abc");
    assert!(
        h.wires[w].received.is_empty(),
        "answered before the callback"
    );
    let calls = h.callbacks(1);
    assert_eq!(calls.len(), 1);
    let call = &calls[0].request;
    assert_eq!(call.event, CallbackEvent::Authorize);
    assert_eq!(call.action, Action::Play);
    assert_eq!((call.app.as_str(), call.stream.as_str()), ("live", "cam"));
    assert_eq!(call.query, "session=abc");
    assert_eq!(call.url, "http://127.0.0.1:1/on_play");
    assert_eq!(call.client, "127.0.0.1:40000".parse().unwrap());
    let body: serde_json::Value = serde_json::from_str(&call.body()).unwrap();
    assert_eq!(body["event"], "play");
    h.answer(1, &calls[0], CallbackOutcome::Allowed);
    h.stream(p, 10, 10, 10, 200);
    let r = got(&h, w);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    assert!(r[0].head.contains("Content-Type: video/x-flv\r\n"));
    assert!(!r[0].body.is_empty());
    h.assert_healthy(w);
    // The play ends with the connection: on_done goes out.
    h.hang_up(w);
    let done = h.callbacks(1);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].request.event, CallbackEvent::Done);
    assert_eq!(done[0].ticket, None);
}

#[test]
fn a_denied_or_late_callback_is_a_403() {
    let mut h = with_callback(|_| {});
    let w = h.raw(0, HTTP);
    get(&mut h, w, "/live/cam.flv");
    let call = h.callbacks(0).remove(0);
    h.answer(0, &call, CallbackOutcome::Denied);
    assert_eq!(statuses(&h, w), [403]);
    assert_eq!(refused(&h, 0, DenyReason::CallbackDenied), 1);
    // Kept alive: the next request asks again (a refusal is not remembered); this one times
    // out (fail closed).
    get(&mut h, w, "/live/cam/index.m3u8");
    assert_eq!(h.callbacks(0).len(), 1);
    h.advance(2 * SEC);
    assert_eq!(statuses(&h, w), [403]);
    h.advance(2 * SEC);
    assert_eq!(statuses(&h, w), [403, 403]);
    assert_eq!(refused(&h, 0, DenyReason::CallbackTimeout), 1);
    // A late answer is ignored.
    h.answer(0, &call, CallbackOutcome::Allowed);
    assert_eq!(statuses(&h, w), [403, 403]);
    h.assert_healthy(w);
}

#[test]
fn a_timed_out_callback_allows_when_the_app_fails_open() {
    let mut h = with_callback(|a| a.callback_fail_open = true);
    publish(&mut h);
    let w = h.raw(1, HTTP);
    get(&mut h, w, "/live/cam/index.m3u8");
    assert_eq!(h.callbacks(1).len(), 1);
    h.advance(4 * SEC);
    assert_eq!(statuses(&h, w), [200]);
    // A fail-open allow is not remembered.
    get(&mut h, w, "/live/cam/index.m3u8");
    assert_eq!(h.callbacks(1).len(), 1);
}

#[test]
fn an_allowed_playlist_is_remembered_for_reloads_and_files() {
    let mut h = with_callback(|_| {});
    publish(&mut h);
    let w = h.raw(1, HTTP);
    get(&mut h, w, "/live/cam/index.m3u8?token=t1");
    let calls = h.callbacks(1);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].request.query, "token=t1");
    h.answer(1, &calls[0], CallbackOutcome::Allowed);
    assert_eq!(statuses(&h, w), [200]);
    let playlist = String::from_utf8(got(&h, w)[0].body.clone()).unwrap();
    assert!(playlist.contains("1.m4s?token=t1\n"), "{playlist}");
    // Reloads (with LL-HLS parameters), the init and a segment: no further callback.
    get(&mut h, w, "/live/cam/index.m3u8?token=t1&_HLS_msn=1");
    get(&mut h, w, "/live/cam/init-0.mp4?token=t1");
    get(&mut h, w, "/live/cam/1.m4s?token=t1");
    assert!(h.callbacks(1).is_empty());
    assert_eq!(statuses(&h, w), [200, 200, 200, 200]);
    // Other credentials, or another shard: asked again.
    let other = h.raw(1, HTTP);
    get(&mut h, other, "/live/cam/1.m4s?token=t2");
    assert_eq!(h.callbacks(1).len(), 1);
    let elsewhere = h.raw(0, HTTP);
    get(&mut h, elsewhere, "/live/cam/index.m3u8?token=t1");
    assert_eq!(h.callbacks(0).len(), 1);
    // Past the cache time: asked again.
    h.advance_in_steps(31 * SEC);
    let later = h.raw(1, HTTP);
    get(&mut h, later, "/live/cam/index.m3u8?token=t1");
    assert_eq!(h.callbacks(1).len(), 1);
}

#[test]
fn without_a_cache_time_every_request_asks() {
    let mut h = with_callback(|a| a.callback_cache = Duration::ZERO);
    publish(&mut h);
    let w = h.raw(1, HTTP);
    for expect in [200, 200] {
        get(&mut h, w, "/live/cam/index.m3u8");
        let calls = h.callbacks(1);
        assert_eq!(calls.len(), 1);
        h.answer(1, &calls[0], CallbackOutcome::Allowed);
        assert_eq!(*statuses(&h, w).last().unwrap(), expect);
    }
}

#[test]
fn signed_tokens_are_carried_into_uris_and_checked_on_every_file() {
    let play = ActionRules {
        secrets: vec![b"s".to_vec()],
        ..ActionRules::default()
    };
    let mut h = with_play_rules(play, |_| {});
    publish(&mut h);
    let expires = UNIX_AT_START.as_secs() + 600;
    let token = signed::query(b"s", Action::Play, "live", "cam", expires);
    let w = h.raw(1, HTTP);
    get(
        &mut h,
        w,
        &format!("/live/cam/index.m3u8?{token}&_HLS_msn=1"),
    );
    get(&mut h, w, &format!("/live/cam/index.mpd?{token}"));
    let r = got(&h, w);
    assert_eq!(statuses(&h, w), [200, 200]);
    let playlist = String::from_utf8(r[0].body.clone()).unwrap();
    let suffix = format!("?{token}");
    for line in playlist.lines() {
        if let Some(uri) = line.split("URI=\"").nth(1) {
            let uri = uri.split('"').next().unwrap();
            assert!(uri.ends_with(&suffix), "{line}");
        } else if !line.starts_with('#') {
            assert!(line.ends_with(&suffix), "{line}");
        }
    }
    assert!(!playlist.contains("_HLS_msn"));
    let mpd = String::from_utf8(r[1].body.clone()).unwrap();
    let escaped = suffix.replace('&', "&amp;");
    assert!(
        mpd.contains(&format!("media=\"video-$Number$.m4s{escaped}\"")),
        "{mpd}"
    );
    assert!(mpd.contains(&format!("initialization=\"video-init-0.mp4{escaped}\"")));
    // Files: without the token 403, with it 200 (the URIs as the playlist wrote them).
    let files = h.raw(1, HTTP);
    for path in ["init-0.mp4", "1.m4s", "video-init-0.mp4", "video-1.m4s"] {
        get(&mut h, files, &format!("/live/cam/{path}"));
        get(&mut h, files, &format!("/live/cam/{path}{suffix}"));
    }
    assert_eq!(
        statuses(&h, files),
        [403, 200, 403, 200, 403, 200, 403, 200]
    );
    assert_eq!(refused(&h, 1, DenyReason::CredentialsMissing), 4);
    // A token for another stream does not open this one's files.
    let other = signed::query(b"s", Action::Play, "live", "other", expires);
    get(&mut h, files, &format!("/live/cam/1.m4s?{other}"));
    assert_eq!(*statuses(&h, files).last().unwrap(), 403);
    assert_eq!(refused(&h, 1, DenyReason::TokenInvalid), 1);
}

#[test]
fn head_answers_like_get_without_a_body() {
    let mut h = with_play_rules(ActionRules::default(), |_| {});
    publish(&mut h);
    let w = h.raw(1, HTTP);
    for path in [
        "/live/cam/index.m3u8",
        "/live/cam/index.mpd",
        "/live/cam/init-0.mp4",
        "/live/cam/1.m4s",
        "/live/cam/nope.txt",
        "/nothing",
    ] {
        get(&mut h, w, path);
        let full = got(&h, w).pop().unwrap();
        request(&mut h, w, "HEAD", path);
        let mut all = h.wires[w].received.clone();
        // The HEAD answer is the head of the GET's (Content-Length included), alone.
        let at = all.len() - full.head.len();
        let head = String::from_utf8(all.split_off(at)).unwrap();
        assert_eq!(head, full.head, "{path}");
        h.wires[w].received.clear();
    }
    // HTTP-FLV: the head, kept alive (HTTP/1.1), no stream joined.
    request(&mut h, w, "HEAD", "/live/cam.flv");
    let text = String::from_utf8(h.wires[w].received.clone()).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Type: video/x-flv\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
    assert_eq!(h.cores[1].stats().plays, 0);
    h.assert_healthy(w);
    // A stream nobody publishes: 404 at once (a GET's answer after its wait).
    h.wires[w].received.clear();
    request(&mut h, w, "HEAD", "/live/nobody.flv");
    let text = String::from_utf8(h.wires[w].received.clone()).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    // Other methods: 405 naming HEAD.
    request(&mut h, w, "POST", "/live/cam.flv");
    let text = String::from_utf8(h.wires[w].received.clone()).unwrap();
    assert!(text.contains("Allow: GET, HEAD, OPTIONS\r\n"), "{text}");
}

#[test]
fn head_is_access_checked_too() {
    let mut h = with_callback(|_| {});
    let w = h.raw(0, HTTP);
    request(&mut h, w, "HEAD", "/live/cam.flv");
    let call = h.callbacks(0).remove(0);
    h.answer(0, &call, CallbackOutcome::Denied);
    let text = String::from_utf8(h.wires[w].received.clone()).unwrap();
    assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "a body in a HEAD answer: {text}"
    );
}
