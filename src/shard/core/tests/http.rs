//! HTTP connections of the core with the simulated clock: HTTP-FLV plays beside RTMP players
//! (the same frames, startup and policy), keep-alive and pipelining, the 404 after the stream
//! wait, bad requests, timeouts, and pull on demand started by an HTTP play.
use super::harness::{Harness, Media, Mode, MS};
use super::relay::relay;
use crate::protocol::flv::{parse_file_header, TagIter};
use crate::shard::{CloseReason, ListenerSettings, ShardSettings};
use bytes::Bytes;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
/// The HTTP listener's index: after the default RTMP listener.
pub(super) const HTTP: usize = 1;

pub(super) fn with_http(s: &mut ShardSettings) {
    s.listeners
        .push(ListenerSettings::http("127.0.0.1:8080".parse().unwrap()));
}

/// One response read off a wire: status, head, and the (de-chunked) body so far.
#[derive(Debug)]
pub(super) struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// The chunked body ended with its last chunk.
    pub complete: bool,
}

/// Every response in `bytes`, in order (a streaming body may be incomplete).
pub(super) fn responses(mut bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head")
            + 4;
        let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
        bytes = &bytes[end..];
        let status = head[9..12].parse().unwrap();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let mut body = Vec::new();
        let mut complete = false;
        if let Some(len) = header("Content-Length:") {
            let len: usize = len.parse().unwrap();
            body.extend_from_slice(&bytes[..len]);
            bytes = &bytes[len..];
            complete = true;
        } else if header("Transfer-Encoding:").as_deref() == Some("chunked") {
            while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&bytes[..line_end]).unwrap(), 16)
                        .unwrap();
                if bytes.len() < line_end + 2 + size + 2 {
                    panic!("a chunk cut in the middle");
                }
                body.extend_from_slice(&bytes[line_end + 2..line_end + 2 + size]);
                bytes = &bytes[line_end + 2 + size + 2..];
                if size == 0 {
                    complete = true;
                    break;
                }
            }
        } else {
            body.extend_from_slice(bytes);
            bytes = &[];
        }
        out.push(Response {
            status,
            head,
            body,
            complete,
        });
    }
    out
}

/// The FLV tags of an HTTP-FLV body, as the media an RTMP player would have got.
fn flv_media(body: &[u8]) -> Vec<Media> {
    let start = parse_file_header(body).expect("an FLV file header");
    TagIter::new(body, start)
        .map(|t| {
            let t = t.expect("a whole tag");
            Media {
                type_id: t.tag_type,
                ts: t.timestamp,
                payload: Bytes::copy_from_slice(&body[t.data]),
            }
        })
        .collect()
}

pub(super) fn get(h: &mut Harness, w: usize, path: &str) {
    h.inject(
        w,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    h.drive();
}

fn assert_same_media(got: &[Media], want: &[Media]) {
    assert_eq!(got.len(), want.len(), "media count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.same(w), "media {i}: {g:?} vs {w:?}");
    }
}

#[test]
fn http_flv_players_get_what_rtmp_players_get_on_both_shards() {
    let mut h = Harness::new(with_http);
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 15, 10, 400);
    let rtmp = h.player(1, "cam");
    let local = h.raw(0, HTTP);
    let remote = h.raw(1, HTTP);
    get(&mut h, local, "/live/cam.flv");
    get(&mut h, remote, "/live/cam.flv?token=abc");
    h.stream(publisher, 15, 30, 10, 400);
    let want = h.media(rtmp);
    assert!(want.len() > 20);
    for w in [local, remote] {
        h.assert_healthy(w);
        let r = responses(&h.wires[w].received);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, 200);
        assert!(r[0].head.contains("Content-Type: video/x-flv\r\n"));
        assert!(r[0].head.contains("Access-Control-Allow-Origin: *\r\n"));
        assert!(!r[0].complete);
        let media = flv_media(&r[0].body);
        // Metadata and sequence headers first, then from the GOP's keyframe.
        assert_eq!(media[0].type_id, 18);
        assert!(media
            .iter()
            .find(|m| m.number().is_some())
            .unwrap()
            .is_keyframe());
        assert_same_media(&media, &want);
    }
    assert_eq!(h.cores[0].stats().plays + h.cores[1].stats().plays, 3);
}

#[test]
fn the_stream_end_finishes_the_response_and_the_connection_serves_the_next_request() {
    let mut h = Harness::new(with_http);
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 5, 5, 100);
    let w = h.raw(1, HTTP);
    // A pipelined second request waits for the stream's end.
    h.inject(
        w,
        b"GET /live/cam.flv HTTP/1.1\r\n\r\nOPTIONS /live/cam.flv HTTP/1.1\r\n\r\n",
    );
    h.drive();
    assert_eq!(responses(&h.wires[w].received).len(), 1);
    h.hang_up(publisher);
    h.drive();
    let r = responses(&h.wires[w].received);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].complete);
    assert_eq!(
        flv_media(&r[0].body)
            .iter()
            .filter(|m| m.number().is_some())
            .count(),
        5
    );
    assert_eq!(r[1].status, 204);
    assert!(r[1]
        .head
        .contains("Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"));
    h.assert_healthy(w);
}

#[test]
fn a_player_waiting_for_a_publisher_starts_with_its_first_frames() {
    let mut h = Harness::new(with_http);
    let w = h.raw(0, HTTP);
    get(&mut h, w, "/live/later.flv");
    assert!(h.wires[w].received.is_empty());
    h.advance(2 * SEC);
    let publisher = h.publisher(1, "later");
    h.headers(publisher);
    h.stream(publisher, 0, 10, 5, 100);
    let r = responses(&h.wires[w].received);
    assert_eq!(r[0].status, 200);
    let media = flv_media(&r[0].body);
    assert!(media
        .iter()
        .find(|m| m.number().is_some())
        .unwrap()
        .is_keyframe());
    assert_eq!(media.iter().filter(|m| m.number().is_some()).count(), 10);
}

#[test]
fn a_missing_stream_is_404_after_the_stream_wait_and_the_connection_stays() {
    let mut h = Harness::new(|s| {
        with_http(s);
        s.http.stream_wait = 3 * SEC;
    });
    let w = h.raw(1, HTTP);
    get(&mut h, w, "/live/nobody.flv");
    h.advance_in_steps(2 * SEC);
    assert!(h.wires[w].received.is_empty());
    h.advance_in_steps(2 * SEC);
    let r = responses(&h.wires[w].received);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 404);
    h.assert_healthy(w);
    assert_eq!(h.cores[1].streams(), 0, "the wait left no stream behind");
    get(&mut h, w, "/nothing/here");
    assert_eq!(responses(&h.wires[w].received)[1].status, 404);
}

#[test]
fn routes_methods_and_preflight() {
    let mut h = Harness::new(with_http);
    let w = h.raw(0, HTTP);
    h.inject(
        w,
        b"GET /live/s/nonsense.txt HTTP/1.1\r\n\r\nPOST /live/s.flv HTTP/1.1\r\n\r\n\
          OPTIONS /live/s.flv HTTP/1.1\r\nAccess-Control-Request-Headers: range\r\n\r\n\
          GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    h.drive();
    let r = responses(&h.wires[w].received);
    let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [404, 405, 204, 404]);
    assert!(r[2]
        .head
        .contains("Access-Control-Allow-Headers: range\r\n"));
    assert!(r
        .iter()
        .all(|r| r.head.contains("Access-Control-Allow-Origin: *")));
    assert_eq!(h.wires[w].closed, Some(CloseReason::HttpComplete));
}

#[test]
fn bad_requests_are_answered_and_closed() {
    let mut h = Harness::new(with_http);
    let garbage = h.raw(0, HTTP);
    h.inject(garbage, b"\x03\x00\x00\x00 not http\r\n\r\n");
    let big = h.raw(0, HTTP);
    h.inject(big, b"GET /live/s.flv HTTP/1.1\r\nX-Pad: ");
    h.inject(big, &[b'a'; 9000]);
    let flood = h.raw(1, HTTP);
    h.inject(flood, &[b'a'; 20_000]);
    h.drive();
    assert_eq!(responses(&h.wires[garbage].received)[0].status, 400);
    assert_eq!(h.wires[garbage].closed, Some(CloseReason::HttpBadRequest));
    assert_eq!(responses(&h.wires[big].received)[0].status, 431);
    assert_eq!(h.wires[big].closed, Some(CloseReason::HttpBadRequest));
    assert_eq!(h.wires[flood].closed, Some(CloseReason::HttpBadRequest));
}

#[test]
fn idle_and_slow_request_heads_time_out() {
    let mut h = Harness::new(|s| {
        with_http(s);
        s.http.keepalive_timeout = 5 * SEC;
        s.http.head_timeout = 2 * SEC;
    });
    let idle = h.raw(0, HTTP);
    let slow = h.raw(0, HTTP);
    let served = h.raw(0, HTTP);
    h.inject(slow, b"GET /live/s.f");
    get(&mut h, served, "/x");
    h.advance_in_steps(3 * SEC);
    assert_eq!(h.wires[slow].closed, Some(CloseReason::HttpIdle));
    assert_eq!(h.wires[idle].closed, None);
    h.advance_in_steps(3 * SEC);
    assert_eq!(h.wires[idle].closed, Some(CloseReason::HttpIdle));
    assert_eq!(h.wires[served].closed, Some(CloseReason::HttpIdle));
}

#[test]
fn an_http_player_that_never_reads_is_kicked_and_the_others_carry_on() {
    let mut h = Harness::new(|s| {
        with_http(s);
        s.queue.max_span_ms = 1000;
        s.queue.kick_after_ms = 3000;
    });
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 1, 10, 500);
    let stuck = h.raw(0, HTTP);
    let fine = h.raw(0, HTTP);
    let rtmp = h.player(0, "cam");
    get(&mut h, stuck, "/live/cam.flv");
    get(&mut h, fine, "/live/cam.flv");
    h.wires[stuck].mode = Mode::Blocked;
    for i in 0..10 {
        h.stream(publisher, 1 + i * 10, 10, 10, 500);
        h.advance(400 * MS);
    }
    assert_eq!(h.wires[stuck].closed, Some(CloseReason::PlayerTooSlow));
    h.assert_healthy(fine);
    h.assert_healthy(rtmp);
    let got = flv_media(&responses(&h.wires[fine].received)[0].body);
    assert_same_media(&got, &h.media(rtmp));
}

#[test]
fn an_http_play_pulls_from_the_origin_and_a_stream_no_origin_has_is_404() {
    let mut h = Harness::with_origins(1, |s| {
        relay(&[2])(s);
        with_http(s);
    });
    let p = h.publisher(2, "cam");
    h.headers(p);
    h.stream(p, 0, 10, 5, 300);
    let w = h.raw(1, HTTP);
    get(&mut h, w, "/live/cam.flv");
    h.stream(p, 10, 20, 5, 300);
    assert_eq!(h.connects.len(), 1, "one pull");
    let r = responses(&h.wires[w].received);
    assert_eq!(r[0].status, 200);
    let media = flv_media(&r[0].body);
    assert!(media.iter().any(|m| m.type_id == 18));
    assert!(media
        .iter()
        .find(|m| m.number().is_some())
        .unwrap()
        .is_keyframe());

    let missing = h.raw(0, HTTP);
    get(&mut h, missing, "/live/nope.flv");
    h.advance_in_steps(7 * SEC);
    assert_eq!(responses(&h.wires[missing].received)[0].status, 404);
    h.assert_healthy(w);
}

#[test]
fn http_10_bodies_are_bare_tags_until_the_close() {
    let mut h = Harness::new(with_http);
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 5, 5, 100);
    let w = h.raw(0, HTTP);
    h.inject(w, b"GET /live/cam.flv HTTP/1.0\r\n\r\n");
    h.drive();
    h.hang_up(publisher);
    h.drive();
    let r = responses(&h.wires[w].received);
    assert!(r[0].head.contains("Connection: close\r\n") && !r[0].head.contains("chunked"));
    assert_eq!(
        flv_media(&r[0].body)
            .iter()
            .filter(|m| m.number().is_some())
            .count(),
        5
    );
    assert_eq!(h.wires[w].closed, Some(CloseReason::HttpComplete));
}
