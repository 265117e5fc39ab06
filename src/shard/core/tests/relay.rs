//! The pull state machine with the simulated clock: edge cores pulling from origin cores of
//! the harness (one upstream per node, failover, not found, backoff after a loss, the idle
//! window).
use super::harness::{origin_addr, Harness, Media, MS, UNPUBLISH_NOTIFY};
use crate::relay::origin::{BACKOFF_BASE, BACKOFF_CAP};
use crate::relay::url::RtmpUrl;
use crate::relay::{AppRelay, OriginChoice, RelaySettings, Upstream};
use crate::shard::{CloseReason, ShardSettings};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

/// App `live` on each of origin cores `cores`, in order.
fn upstreams(cores: &[usize]) -> Vec<Upstream> {
    cores
        .iter()
        .map(|&o| Upstream {
            url: RtmpUrl::parse_app(&format!("rtmp://{}/live", origin_addr(o))).unwrap(),
            addr: origin_addr(o),
        })
        .collect()
}

/// Edge settings pulling app `live` from origin cores `origins`, in order.
pub(super) fn relay(origins: &[usize]) -> impl FnOnce(&mut ShardSettings) {
    let origins = upstreams(origins);
    move |s| {
        s.relay = RelaySettings {
            apps: vec![AppRelay {
                name: "live".into(),
                origins,
                origin_choice: OriginChoice::Ordered,
                push: Vec::new(),
                idle_close: 5 * SEC,
                connect_timeout: 3 * SEC,
                handshake_timeout: 5 * SEC,
                play_timeout: 5 * SEC,
            }],
            hop_limit: 8,
        }
    }
}

/// A publisher of `name` on core `core` that has sent its sequence headers.
fn live_publisher(h: &mut Harness, core: usize, name: &str) -> usize {
    let p = h.publisher(core, name);
    h.headers(p);
    p
}

fn keyframes(h: &Harness, w: usize) -> usize {
    h.media(w).iter().filter(|m| m.is_keyframe()).count()
}

#[test]
fn one_upstream_per_node_feeds_players_on_both_shards() {
    let mut h = Harness::with_origins(1, relay(&[2]));
    let p = live_publisher(&mut h, 2, "cam");
    h.stream(p, 0, 30, 25, 300);
    let players = [h.player(0, "cam"), h.player(1, "cam"), h.player(1, "cam")];
    h.stream(p, 30, 60, 25, 300);
    let late = h.player(0, "cam");
    h.stream(p, 90, 30, 25, 300);
    assert_eq!(h.connects.len(), 1, "{:?}", h.connects);
    for w in players.into_iter().chain([late]) {
        h.assert_healthy(w);
        assert!(keyframes(&h, w) >= 2, "player {w}: {}", keyframes(&h, w));
        // Metadata and sequence headers came through the pull.
        assert!(h.media(w).iter().any(|m| m.type_id == 18));
    }
}

#[test]
fn fails_over_in_order_to_the_origin_that_answers() {
    let mut h = Harness::with_origins(2, relay(&[3, 2]));
    h.down.insert(3);
    let p = live_publisher(&mut h, 2, "cam");
    h.stream(p, 0, 10, 25, 300);
    let w = h.player(1, "cam");
    h.stream(p, 10, 40, 25, 300);
    let tried: Vec<_> = h.connects.iter().map(|c| c.1).collect();
    assert_eq!(tried, vec![origin_addr(3), origin_addr(2)]);
    assert!(keyframes(&h, w) >= 1);
}

#[test]
fn a_stream_no_origin_has_is_not_found_for_every_player_in_bounded_time() {
    // Origin 2 accepts the play but never sends media (play timeout); 9 refuses.
    let mut h = Harness::with_origins(1, relay(&[2, 9]));
    let players = [h.player(0, "nope"), h.player(1, "nope")];
    h.advance_in_steps(7 * SEC);
    for w in players {
        assert!(
            h.codes(w)
                .iter()
                .any(|c| c == "NetStream.Play.StreamNotFound"),
            "{:?}",
            h.codes(w)
        );
    }
    assert_eq!(
        h.connects.len(),
        2,
        "each origin tried once: {:?}",
        h.connects
    );
    assert!(h.links.is_empty());
    // The claim was given back: a later player starts a new pull.
    h.player(1, "nope");
    h.advance(MS);
    assert_eq!(h.connects.len(), 3);
}

#[test]
fn a_lost_upstream_reconnects_with_capped_jittered_backoff_and_players_continue() {
    let mut h = Harness::with_origins(1, relay(&[2]));
    let p = live_publisher(&mut h, 2, "cam");
    h.stream(p, 0, 50, 25, 300);
    let w = h.player(0, "cam");
    h.stream(p, 50, 50, 25, 300);
    let before = h.media(w).len();
    h.kill_origin(2);
    let lost = h.now;
    for _ in 0..3000 {
        h.advance(10 * MS);
    }
    // Retries: the gap before retry k is BACKOFF_BASE * 2^k capped, jittered to [half, full].
    let mut last = lost;
    for (k, &(at, _)) in h.connects[1..].iter().enumerate() {
        let full = BACKOFF_BASE.saturating_mul(1 << k.min(16)).min(BACKOFF_CAP);
        let gap = at - last;
        assert!(
            gap + 10 * MS >= full / 2 && gap <= full + 20 * MS,
            "retry {k}: {gap:?} for {full:?}"
        );
        last = at;
    }
    assert!(h.connects.len() >= 6, "{}", h.connects.len());
    h.assert_healthy(w);
    // The origin comes back with a new publisher whose clock starts at 0.
    h.revive(2);
    let p2 = live_publisher(&mut h, 2, "cam");
    h.stream(p2, 0, 200, 25, 300);
    h.assert_healthy(w);
    let media = h.media(w);
    let after: Vec<&Media> = media[before..].iter().collect();
    assert!(
        after.iter().any(|m| m.is_keyframe()),
        "no media after the return"
    );
    assert!(!h.codes(w).iter().any(|c| c == UNPUBLISH_NOTIFY));
    let video: Vec<u32> = media
        .iter()
        .filter(|m| m.type_id == 9)
        .map(|m| m.ts)
        .collect();
    assert!(
        video.windows(2).all(|p| p[1] >= p[0]),
        "timestamps went back: {video:?}"
    );
}

#[test]
fn the_idle_window_keeps_the_upstream_for_a_new_player_then_closes_it() {
    let mut h = Harness::with_origins(1, relay(&[2]));
    let p = live_publisher(&mut h, 2, "cam");
    h.stream(p, 0, 30, 25, 300);
    let first = h.player(1, "cam");
    h.stream(p, 30, 30, 25, 300);
    assert!(keyframes(&h, first) >= 1);
    h.hang_up(first);
    h.stream(p, 60, 50, 25, 300);
    assert_eq!(h.links.len(), 2, "upstream closed inside the window");
    // A new player gets the cached keyframe at once, over the same upstream.
    let second = h.player(0, "cam");
    assert!(keyframes(&h, second) >= 1, "{:?}", h.media(second).len());
    assert_eq!(h.connects.len(), 1);
    h.hang_up(second);
    h.stream(p, 110, 200, 25, 300);
    assert!(
        h.links.is_empty(),
        "upstream still open after the idle window"
    );
    assert_eq!(h.connects.len(), 1);
}

/// Edge settings pushing app `live` to origin cores `targets`.
fn push_to(targets: &[usize]) -> impl FnOnce(&mut ShardSettings) {
    let targets = upstreams(targets);
    move |s| {
        relay(&[])(s);
        s.relay.apps[0].push = targets;
    }
}

#[test]
fn a_local_stream_is_pushed_to_each_target_and_retried_after_a_loss() {
    let mut h = Harness::with_origins(2, push_to(&[2, 3]));
    let p = live_publisher(&mut h, 1, "cam");
    h.stream(p, 0, 10, 25, 300);
    let at_2 = h.player(2, "cam");
    let at_3 = h.player(3, "cam");
    h.stream(p, 10, 60, 25, 300);
    for w in [at_2, at_3] {
        h.assert_healthy(w);
        assert!(keyframes(&h, w) >= 2, "target player {w}");
    }
    assert_eq!(h.connects.len(), 2);
    // Target 3 dies: it is retried with backoff; target 2 never notices.
    let got_2 = h.media(at_2).len();
    h.kill_origin(3);
    h.stream(p, 70, 100, 25, 300);
    assert!(h.connects.len() >= 4, "{:?}", h.connects);
    assert!(h.connects[2..].iter().all(|c| c.1 == origin_addr(3)));
    assert!(h.media(at_2).len() >= got_2 + 190);
    h.revive(3);
    h.stream(p, 170, 200, 25, 300);
    let back = h.player(3, "cam");
    h.stream(p, 370, 50, 25, 300);
    assert!(keyframes(&h, back) >= 1);
    // The publisher leaves: the pushes end with it, and are not retried.
    h.hang_up(p);
    let n = h.connects.len();
    h.advance_in_steps(10 * SEC);
    assert_eq!(h.connects.len(), n);
    assert!(h.links.is_empty());
}

#[test]
fn hop_counts_stop_loops() {
    let mut h = Harness::with_origins(1, push_to(&[2]));
    // At the limit: published here, not forwarded any further.
    let p = live_publisher(&mut h, 0, "cam?hops=8");
    h.stream(p, 0, 10, 25, 300);
    assert!(h.connects.is_empty());
    // Beyond it: refused.
    let w = h.connect(1, 0);
    h.client(w).publish("other?hops=9");
    h.drive();
    assert!(
        h.codes(w).iter().any(|c| c == "NetStream.Publish.BadName"),
        "{:?}",
        h.codes(w)
    );
    // A forwarded stream carries the next count.
    let q = live_publisher(&mut h, 0, "fwd?hops=3");
    h.stream(q, 0, 10, 25, 300);
    assert_eq!(h.connects.len(), 1);
    assert!(h.cores[2].streams() >= 1);
}

#[test]
fn a_long_live_upstream_that_dies_fails_over_at_once() {
    let mut h = Harness::with_origins(2, relay(&[2, 3]));
    let (a, b) = (h.publisher(2, "cam"), h.publisher(3, "cam"));
    h.headers(a);
    h.headers(b);
    let w = h.player(0, "cam");
    for n in 0..200 {
        h.video(a, n * 40, n, n % 25 == 0, 300);
        h.video(b, n * 40, 1000 + n, n % 25 == 0, 300);
        h.advance(40 * MS);
    }
    assert_eq!(h.connects.len(), 1);
    h.kill_origin(2);
    let died = h.now;
    // Each failed connect is retried on the next pass (a due deadline).
    h.advance(MS);
    h.advance(MS);
    let retries: Vec<_> = h.connects[1..].iter().map(|c| (c.0 - died, c.1)).collect();
    assert_eq!(
        retries.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![origin_addr(2), origin_addr(3)]
    );
    assert!(retries.iter().all(|r| r.0 <= 2 * MS), "{retries:?}");
    // Origin 3's cached GOP reaches the player at once: its keyframe 175 (frame 1175).
    let numbers: Vec<u32> = h.media(w).iter().filter_map(Media::number).collect();
    assert!(
        numbers.contains(&1175),
        "{:?}",
        &numbers[numbers.len().saturating_sub(5)..]
    );
}

#[test]
fn a_stalled_push_target_gets_the_slow_player_policy_and_never_slows_the_stream() {
    let mut h = Harness::with_origins(2, push_to(&[2, 3]));
    let p = h.publisher(0, "cam");
    let local = h.player(0, "cam");
    h.headers(p);
    h.stream(p, 0, 25, 25, 2000);
    let (at_2, at_3) = (h.player(2, "cam"), h.player(3, "cam"));
    h.stream(p, 25, 25, 25, 2000);
    // The push to origin 3 stalls: its socket takes nothing from now on.
    let to_3 = *h.links.iter().find(|(k, v)| k.0 < 2 && v.0 == 3).unwrap().0;
    h.stalled.insert(to_3);
    let got_2 = h.media(at_2).len();
    let got_3 = h.media(at_3).len();
    h.stream(p, 50, 25 * 20, 25, 2000);
    // The stream, its local player and the other target went on in full.
    assert_eq!(h.media(local).len(), 3 + 2 * (50 + 500));
    assert_eq!(h.media(at_2).len(), got_2 + 2 * 500);
    h.assert_healthy(local);
    // The stalled push was dropped as too slow and connected again.
    let stats = h.cores[0].stats();
    assert!(stats.frames_dropped > 0, "{stats:?}");
    assert_eq!(
        stats.closed_by_reason[CloseReason::PlayerTooSlow.index()],
        1
    );
    assert!(!h.stalled.contains(&to_3));
    assert!(h.connects.len() >= 3, "{:?}", h.connects);
    assert!(
        h.media(at_3).len() > got_3,
        "origin 3 got nothing after the reconnect"
    );
}

#[test]
fn with_takeover_a_local_publisher_replaces_a_pull() {
    let mut h = Harness::with_origins(1, |s| {
        relay(&[2])(s);
        s.takeover = true;
    });
    let o = live_publisher(&mut h, 2, "cam");
    h.stream(o, 0, 30, 25, 300);
    let players = [h.player(0, "cam"), h.player(1, "cam")];
    h.stream(o, 30, 30, 25, 300);
    assert_eq!(h.links.len(), 2);
    let local = live_publisher(&mut h, 1, "cam");
    for n in 0..50 {
        h.video(local, n * 40, 5000 + n, n % 25 == 0, 300);
        h.advance(40 * MS);
    }
    assert!(h.links.is_empty(), "the pull's upstream stayed open");
    for w in players {
        h.assert_healthy(w);
        let numbers: Vec<u32> = h.media(w).iter().filter_map(Media::number).collect();
        assert!(
            numbers.contains(&5025),
            "player {w} missed the local publisher"
        );
    }
}

/// Found by fuzz/fuzz_targets/shard_core.rs: a push retry queued by the relay timers and
/// withdrawn by the publisher's idle close in the same `handle_timeout` came out of
/// `poll_close` although the driver had never been handed its connect (the harness fails on
/// a close of an unknown connection).
#[test]
fn a_push_retry_withdrawn_before_its_connect_is_not_closed_by_the_driver() {
    let mut h = Harness::with_origins(1, |s| {
        push_to(&[2])(s);
        s.publisher_idle_timeout = 2 * SEC;
    });
    h.down.insert(2);
    let p = live_publisher(&mut h, 0, "cam");
    h.stream(p, 0, 1, 25, 300);
    assert_eq!(h.connects.len(), 1, "the first push connect, refused");
    // One step past the retry and the idle timeout: the retry is queued, then the idle
    // publisher is closed, and the push with it.
    h.advance(5 * SEC);
    assert_eq!(h.wires[p].closed, Some(CloseReason::PublisherIdle));
    assert_eq!(h.connects.len(), 1, "the withdrawn retry was connected");
    assert_eq!(h.cores[0].connections(), 0);
}
