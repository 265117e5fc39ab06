//! `ShardCore` with a simulated clock: two shards of one registry, client sessions on the
//! other end of every connection, sends that complete, split, block or stay in flight as each
//! test says. See `harness` for the simulated driver.
use super::CloseReason;
use crate::shard::ListenerSettings;
use harness::{Harness, Media, Mode, MS, PUBLISH_NOTIFY, UNPUBLISH_NOTIFY};
use std::time::Duration;

mod auth;
mod harness;
mod limits;
mod ops;
mod variants;

const SEC: Duration = Duration::from_secs(1);

fn assert_same(got: &[Media], want: &[Media], who: &str) {
    let brief = |m: &[Media]| -> Vec<(u8, u32, Option<u32>)> {
        m.iter().map(|m| (m.type_id, m.ts, m.number())).collect()
    };
    let same = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.same(w));
    assert!(same, "{who}: got {:?}\nwant {:?}", brief(got), brief(want));
}

/// What a player joining now gets: the headers, then the stream from its last keyframe.
fn from_last_keyframe(sent: &[Media]) -> Vec<Media> {
    let key = sent.iter().rposition(Media::is_keyframe).unwrap();
    let mut want = sent[..3].to_vec();
    want.extend_from_slice(&sent[key..]);
    want
}

#[test]
fn frames_fan_out_in_order_to_players_on_both_shards() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "cam");
    let local = h.player(0, "cam");
    let remote = h.player(1, "cam");
    // Sends split at arbitrary points, frames included.
    h.wires[remote].mode = Mode::Partial(97);
    h.headers(publisher);
    h.stream(publisher, 0, 30, 12, 300);
    let late_local = h.player(0, "cam");
    let late_remote = h.player(1, "cam");
    h.stream(publisher, 30, 20, 12, 5000);

    let sent = h.wires[publisher].sent.clone();
    assert_eq!(sent.len(), 3 + 2 * 50);
    for (w, who) in [(local, "local"), (remote, "remote")] {
        h.assert_healthy(w);
        assert_same(&h.media(w), &sent, who);
    }
    // Late joiners start at the cached GOP (keyframe 24), headers first.
    let gop = from_last_keyframe(&sent[..3 + 2 * 30]);
    let mut want = gop;
    want.extend_from_slice(&sent[3 + 2 * 30..]);
    for (w, who) in [(late_local, "late local"), (late_remote, "late remote")] {
        h.assert_healthy(w);
        assert_same(&h.media(w), &want, who);
    }
    assert_eq!(h.cores[0].stats().frames_in, 103);
    assert_eq!(h.cores[0].stats().frames_dropped, 0);
    assert_eq!(h.cores[1].stats().frames_dropped, 0);
}

#[test]
fn early_players_are_notified_and_start_at_the_first_keyframe() {
    let mut h = Harness::new(|_| {});
    let local = h.player(0, "cam");
    let remote = h.player(1, "cam");
    assert!(h.media(local).is_empty());
    let publisher = h.publisher(0, "cam");
    for w in [local, remote] {
        assert!(h.codes(w).iter().any(|c| c == PUBLISH_NOTIFY), "{w}");
    }
    h.headers(publisher);
    // Undecodable without the keyframe before them: an inter frame and audio.
    h.video(publisher, 0, 0, false, 100);
    h.audio(publisher, 10);
    h.drive();
    h.stream(publisher, 1, 24, 12, 100);

    let sent = h.wires[publisher].sent.clone();
    let first_key = sent.iter().position(Media::is_keyframe).unwrap();
    assert_eq!(sent[first_key].number(), Some(12));
    let mut want = sent[..3].to_vec();
    want.extend_from_slice(&sent[first_key..]);
    for w in [local, remote] {
        h.assert_healthy(w);
        assert_same(&h.media(w), &want, "early player");
    }
}

#[test]
fn a_takeover_closes_the_old_publisher_and_players_carry_on() {
    // The newer publisher on the same shard, then on the other shard.
    for new_shard in [0, 1] {
        let mut h = Harness::new(|s| s.takeover = true);
        let old = h.publisher(0, "cam");
        let players = [h.player(0, "cam"), h.player(1, "cam")];
        h.headers(old);
        h.stream(old, 0, 40, 10, 200);
        let new = h.publisher(new_shard, "cam");
        assert_eq!(
            h.wires[old].closed,
            Some(CloseReason::ReplacedByNewerPublisher)
        );
        h.assert_healthy(new);
        // The new encoder's clock starts at 0 again.
        h.headers(new);
        h.stream(new, 0, 30, 10, 200);
        for w in players {
            h.assert_healthy(w);
            assert!(!h.codes(w).iter().any(|c| c == UNPUBLISH_NOTIFY), "{w}");
            let media = h.media(w);
            let ts: Vec<u32> = media.iter().map(|m| m.ts).collect();
            assert!(
                ts.windows(2).all(|p| p[0] <= p[1]),
                "shard {new_shard}: {ts:?}"
            );
            // Everything the old publisher sent, then all of the new one's (headers first).
            let numbers: Vec<u32> = media.iter().filter_map(Media::number).collect();
            let want: Vec<u32> = (0..40).chain(0..30).collect();
            assert_eq!(numbers, want, "shard {new_shard}");
            let after = media.len() - 60;
            assert!(media[after - 3..after].iter().all(|m| m.number().is_none()));
        }
        let by = CloseReason::ReplacedByNewerPublisher.index();
        assert_eq!(h.cores[0].stats().closed_by_reason[by], 1);
    }
}

#[test]
fn a_slow_player_skips_to_keyframes_then_is_kicked() {
    let mut h = Harness::new(|s| {
        s.queue.max_span_ms = 1000;
        s.queue.kick_after_ms = 3000;
    });
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 1, 10, 500);
    let fast = h.player(0, "cam");
    let stuck = h.player(0, "cam");
    let lagging = h.player(0, "cam");
    h.wires[stuck].mode = Mode::Blocked;
    h.wires[lagging].mode = Mode::Blocked;
    h.stream(publisher, 1, 50, 10, 500);
    // Two seconds behind: it was moved on to a keyframe; once its socket drains it resumes.
    h.unblock(lagging);
    h.drive();
    h.stream(publisher, 51, 60, 10, 500);

    assert_eq!(h.wires[stuck].closed, Some(CloseReason::PlayerTooSlow));
    let stats = h.cores[0].stats();
    assert_eq!(stats.players_kicked, 1);
    assert!(stats.frames_dropped > 0);
    h.assert_healthy(fast);
    let sent = h.wires[publisher].sent.clone();
    assert_same(&h.media(fast), &sent, "fast player");

    h.assert_healthy(lagging);
    let numbers: Vec<u32> = h.media(lagging).iter().filter_map(Media::number).collect();
    let gap = numbers.windows(2).position(|p| p[1] != p[0] + 1).unwrap();
    let media = h.media(lagging);
    let resumed = media.iter().filter(|m| m.number().is_some()).nth(gap + 1);
    let resumed = resumed.unwrap();
    assert!(resumed.is_keyframe(), "resumed at {:?}", resumed.number());
    assert!(numbers[gap + 1] > numbers[gap] + 1);
    assert_eq!(numbers.last(), Some(&110));
}

#[test]
fn bytes_in_flight_stay_pinned_across_a_trim() {
    let mut h = Harness::new(|s| s.queue.max_span_ms = 1000);
    let publisher = h.publisher(0, "cam");
    let player = h.player(0, "cam");
    h.headers(publisher);
    h.drive();
    h.wires[player].mode = Mode::Hold;
    let transmits = h.wires[player].transmits;
    h.stream(publisher, 0, 1, 10, 3000);
    let in_flight = h.wires[player].in_flight.clone().expect("a send in flight");
    // Four seconds of media (several keyframes) arrive while the send is in flight; the
    // sweeps apply the policy to the player's position.
    h.stream(publisher, 1, 100, 10, 3000);
    h.advance(SEC);
    assert!(h.cores[0].stats().frames_dropped > 0, "no trim happened");
    let again = h.wires[player].transmits - transmits;
    assert_eq!(again, 1, "handed out again while in flight");
    let queued = h.queued(player);
    assert_eq!(
        &queued[..in_flight.len()],
        &in_flight[..],
        "in-flight bytes changed"
    );

    // The send completes partly, then the socket takes everything.
    let before = h.wires[player].received.len();
    h.wires[player].mode = Mode::All;
    h.release(player, in_flight.len() / 2 + 7);
    h.drive();
    let received = &h.wires[player].received[before..];
    assert_eq!(&received[..in_flight.len()], &in_flight[..]);
    h.assert_healthy(player);
    let media = h.media(player);
    let numbers: Vec<u32> = media.iter().filter_map(Media::number).collect();
    assert_eq!(numbers[0], 0);
    let resumed = media
        .iter()
        .filter(|m| m.number().is_some())
        .nth(1)
        .unwrap();
    assert!(resumed.is_keyframe() && numbers[1] > 1, "{numbers:?}");
    assert_eq!(numbers.last(), Some(&100));
}

#[test]
fn silent_connections_time_out_in_the_handshake() {
    let mut h = Harness::new(|s| {
        s.handshake_timeout = 5 * SEC;
        s.limits.command_timeout = 5 * SEC;
    });
    let silent = h.raw(0, 0);
    let connected_only = h.connect(0, 0);
    h.drive();
    let player = h.player(0, "cam");
    h.advance_in_steps(5 * SEC);
    assert_eq!(h.wires[silent].closed, None);
    h.advance(500 * MS);
    assert_eq!(h.wires[silent].closed, Some(CloseReason::HandshakeTimeout));
    // Past the handshake, the command timeout applies.
    assert_eq!(
        h.wires[connected_only].closed,
        Some(CloseReason::CommandTimeout)
    );
    h.assert_healthy(player);
    assert_eq!(h.cores[0].stats().timeouts, 2);
}

#[test]
fn a_missing_proxy_header_times_out() {
    let proxied = "127.0.0.1:1936".parse().unwrap();
    let mut h = Harness::new(|s| {
        s.handshake_timeout = 5 * SEC;
        s.listeners.push(ListenerSettings {
            addr: proxied,
            proxy_protocol: true,
            trusted_proxies: Vec::new(),
            protocol: Default::default(),
            tls: None,
        });
    });
    let partial = h.raw(0, 1);
    h.inject(partial, b"PROXY TCP4 203.0.113.7 ");
    // A complete header, then RTMP: plays normally.
    let player = h.connect(0, 1);
    h.inject(player, b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 1936\r\n");
    h.client(player).play("cam");
    h.drive();
    assert!(h.codes(player).iter().any(|c| c == "NetStream.Play.Start"));
    h.advance_in_steps(5500 * MS);
    assert_eq!(h.wires[partial].closed, Some(CloseReason::ProxyTimeout));
    h.assert_healthy(player);
    let peer = h.cores[0].conns[h.wires[player].conn.0].peer();
    assert_eq!(peer, "203.0.113.7:40000".parse().unwrap());
}

#[test]
fn an_idle_publisher_times_out_and_players_hear_of_it() {
    let mut h = Harness::new(|s| s.publisher_idle_timeout = 10 * SEC);
    let publisher = h.publisher(0, "cam");
    let players = [h.player(0, "cam"), h.player(1, "cam")];
    h.headers(publisher);
    h.stream(publisher, 0, 25, 10, 100);
    h.advance_in_steps(9 * SEC);
    assert_eq!(h.wires[publisher].closed, None);
    h.advance_in_steps(2 * SEC);
    assert_eq!(h.wires[publisher].closed, Some(CloseReason::PublisherIdle));
    for w in players {
        h.assert_healthy(w);
        assert!(h.codes(w).iter().any(|c| c == UNPUBLISH_NOTIFY), "{w}");
    }
}

#[test]
fn a_blocked_player_with_data_queued_stalls_out() {
    let mut h = Harness::new(|s| {
        s.write_stall_timeout = 8 * SEC;
        s.publisher_idle_timeout = 60 * SEC;
    });
    let publisher = h.publisher(0, "cam");
    let idle_player = h.player(0, "cam");
    let stalled = h.player(0, "cam");
    h.wires[stalled].mode = Mode::Blocked;
    h.headers(publisher);
    h.stream(publisher, 0, 1, 10, 100);
    assert!(!h.queued(stalled).is_empty());
    h.advance_in_steps(7500 * MS);
    assert_eq!(h.wires[stalled].closed, None);
    h.advance_in_steps(SEC);
    assert_eq!(h.wires[stalled].closed, Some(CloseReason::WriteStalled));
    // Caught up and parked is not stalled.
    h.assert_healthy(idle_player);
    assert_eq!(h.cores[0].stats().players_kicked, 0);
}

#[test]
fn protocol_errors_close_only_their_connection() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "cam");
    let player = h.player(0, "cam");
    // RTMPE's version byte in C0.
    let bad_version = h.raw(0, 0);
    let mut c0c1 = vec![0x06];
    c0c1.resize(1537, 0);
    h.inject(bad_version, &c0c1);
    // A fmt-1 chunk on a chunk stream that never had a header, after a good session start.
    let garbage = h.player(0, "cam");
    h.inject(garbage, &[0x4A, 0, 0, 0, 0, 0, 4, 0x14, 1, 2, 3, 4]);
    h.drive();
    assert_eq!(
        h.wires[bad_version].closed,
        Some(CloseReason::ProtocolError)
    );
    assert_eq!(h.wires[garbage].closed, Some(CloseReason::ProtocolError));
    assert_eq!(h.cores[0].stats().protocol_errors, 2);

    h.headers(publisher);
    h.stream(publisher, 0, 20, 10, 100);
    h.assert_healthy(publisher);
    h.assert_healthy(player);
    let sent = h.wires[publisher].sent.clone();
    assert_same(&h.media(player), &sent, "player");
}

#[test]
fn a_frame_costs_one_batch_whatever_the_number_of_players() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 1, 10, 100);
    let players: Vec<usize> = (0..1000).map(|_| h.connect(0, 0)).collect();
    for &w in &players {
        h.client(w).play("cam");
    }
    h.drive();
    let before: Vec<usize> = players.iter().map(|&w| h.wires[w].transmits).collect();

    // One frame, fed straight to the core: the schedule gets the caught-up list whole.
    h.video(publisher, 40, 1, false, 100);
    let bytes: Vec<_> = std::iter::from_fn(|| h.client(publisher).poll_transmit()).collect();
    for b in bytes {
        h.inject(publisher, &b);
    }
    assert_eq!(h.cores[0].schedule.scheduled_batches(), 1);
    assert_eq!(h.cores[0].schedule.scheduled_wakes(), 1000);

    h.drive();
    for (i, &w) in players.iter().enumerate() {
        assert_eq!(h.wires[w].transmits, before[i] + 1, "player {i}");
        h.assert_healthy(w);
        assert_eq!(h.media(w).last().and_then(Media::number), Some(1));
    }
}

#[test]
fn closing_everything_leaves_no_streams_behind() {
    let mut h = Harness::new(|s| s.takeover = true);
    let old = h.publisher(0, "cam");
    let _players = [h.player(0, "cam"), h.player(1, "cam"), h.player(1, "cam")];
    h.headers(old);
    h.stream(old, 0, 20, 10, 200);
    let new = h.publisher(1, "cam");
    h.headers(new);
    h.stream(new, 0, 20, 10, 200);
    let _other = h.player(0, "other");
    for core in &mut h.cores {
        core.shutdown();
    }
    h.drive();
    assert!(h.wires[1..]
        .iter()
        .all(|w| w.closed == Some(CloseReason::Shutdown)));
    for core in &h.cores {
        assert_eq!((core.connections(), core.streams()), (0, 0));
    }
    assert!(h.cores[0].registry.is_empty(), "registry entries leaked");
}

mod cmaf;
mod http;
mod http_auth;
mod observe;
mod record;
mod relay;
mod tls;
