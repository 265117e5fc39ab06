//! Observability of the core: snapshots (roles, listeners, streams, clients, health), the
//! fan-out latency histogram measured on the simulated clock, busy time, kicks by client id
//! and the access log's per-connection byte counts.
use super::harness::{Harness, Mode};
use super::{CloseReason, MS, SEC};
use crate::shard::core::MailBatch;
use crate::shard::mailbox::ShardMsg;
use crate::shard::snapshot::{ClientRole, ShardSnapshot};
use std::time::Duration;

fn snapshot(h: &Harness, shard: usize) -> ShardSnapshot {
    h.cores[shard].snapshot(h.now)
}

#[test]
fn snapshots_come_once_per_sweep() {
    let mut h = Harness::new(|_| {});
    let now = h.now;
    assert!(h.cores[0].poll_snapshot(now).is_some(), "one at the start");
    assert!(h.cores[0].poll_snapshot(now).is_none());
    h.advance(600 * MS);
    let snap = h.cores[0]
        .poll_snapshot(h.now)
        .expect("one after the sweep");
    assert_eq!(snap.shard, 0);
    assert_eq!(snap.uptime, 600 * MS);
    assert!(h.cores[0].poll_snapshot(h.now).is_none());
    h.cores[0].handle_busy(3 * MS);
    h.cores[0].handle_busy(2 * MS);
    assert_eq!(snapshot(&h, 0).stats.busy, 5 * MS);
}

#[test]
fn latency_is_counted_once_per_frame_per_player_and_measured() {
    let mut h = Harness::new(|_| {});
    let players = [h.player(0, "cam"), h.player(0, "cam"), h.player(1, "cam")];
    let publisher = h.publisher(0, "cam");
    h.headers(publisher);
    h.stream(publisher, 0, 20, 10, 300);
    let frames = h.wires[publisher].sent.len() as u64;
    assert_eq!(frames, 3 + 40);
    let total: u64 = (0..2)
        .map(|s| {
            let snap = snapshot(&h, s);
            assert_eq!(snap.latency.len(), snap.stats.frames_delivered);
            snap.latency.len()
        })
        .sum();
    assert_eq!(total, frames * players.len() as u64);
    for &p in &players {
        assert_eq!(h.media(p).len() as u64, frames);
    }

    // A send held in flight for 250 ms of the clock: that frame's latency is 250 ms.
    let slow = players[0];
    h.wires[slow].mode = Mode::Hold;
    let before = snapshot(&h, 0).latency.len();
    h.video(publisher, 800, 20, false, 300);
    h.drive();
    h.advance(250 * MS);
    let held = h.wires[slow].in_flight.as_ref().map_or(0, Vec::len);
    h.release(slow, held);
    h.wires[slow].mode = Mode::All;
    h.drive();
    let snap = snapshot(&h, 0);
    // The other local player got it at once, the held one 250 ms later.
    assert_eq!(snap.latency.len(), before + 2);
    let max = Duration::from_micros(snap.latency.max());
    assert!(max >= 248 * MS && max <= 252 * MS, "{max:?}");
}

#[test]
fn snapshot_shows_roles_streams_clients_and_health() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "cam");
    let player = h.player(0, "cam");
    let _remote = h.player(1, "cam");
    let _pending = h.connect(0, 0);
    h.drive();
    h.headers(publisher);
    h.stream(publisher, 0, 30, 25, 500);
    h.advance(SEC);
    let snap = snapshot(&h, 0);
    let l = &snap.listeners[0];
    assert_eq!((l.publishers, l.players, l.pending), (1, 1, 1));
    assert_eq!(snap.streams.len(), 1);
    let stream = &snap.streams[0];
    assert_eq!(&*stream.key, "live/cam");
    assert_eq!(stream.players, 1);
    let home = stream.home.as_ref().expect("home on shard 0");
    assert_eq!(home.health.media.video_codec.as_deref(), Some("h264"));
    assert_eq!(home.health.media.width, Some(320.0));
    assert_eq!(home.health.keyframe_interval_ms, Some(1000));
    assert!(home.health.ingest_bps > 0.0);
    assert_eq!(home.health.since_last_frame, SEC);
    let pc = snap
        .clients
        .iter()
        .find(|c| c.id == home.publisher)
        .expect("the publisher is a client");
    assert_eq!(pc.role, ClientRole::Publisher);
    let conn = h.wires[player].conn.0;
    let client = snap.clients.iter().find(|c| c.id.conn == conn).unwrap();
    assert_eq!(client.role, ClientRole::Player);
    assert_eq!(client.bytes_out, h.wires[player].received.len() as u64);
    assert_eq!(client.stream.as_deref(), Some("live/cam"));
    assert_eq!((client.queued_bytes, client.lag_ms), (0, 0));
    let remote = snapshot(&h, 1);
    assert_eq!(remote.streams[0].players, 1);
    assert!(remote.streams[0].live && remote.streams[0].home.is_none());
}

#[test]
fn kicks_close_the_right_generation_only() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "cam");
    let player = h.player(0, "cam");
    let snap = snapshot(&h, 0);
    let conn = h.wires[player].conn.0;
    let id = snap.clients.iter().find(|c| c.id.conn == conn).unwrap().id;
    let kick = |generation| {
        MailBatch(vec![ShardMsg::Kick {
            conn: id.conn,
            generation,
        }])
    };
    let now = h.now;
    h.cores[0].handle_mailbox(kick(id.generation + 1000), now);
    h.drive();
    assert_eq!(h.wires[player].closed, None, "a stale id kicks nobody");
    h.cores[0].handle_mailbox(kick(id.generation), now);
    h.drive();
    assert_eq!(h.wires[player].closed, Some(CloseReason::Kicked));
    assert_eq!(h.wires[publisher].closed, None);
    let stats = snapshot(&h, 0).stats;
    assert_eq!(stats.closed_by_reason[CloseReason::Kicked.index()], 1);
}

#[test]
fn protocol_errors_are_counted_by_kind() {
    use crate::shard::ProtocolErrorKind;
    let mut h = Harness::new(|_| {});
    let w = h.raw(0, 0);
    // An HTTP request where the RTMP handshake's C0 belongs.
    h.inject(w, b"GET / HTTP/1.1\r\n\r\n");
    h.drive();
    let stats = snapshot(&h, 0).stats;
    assert_eq!(stats.protocol_errors, 1);
    assert_eq!(
        stats.protocol_errors_by_kind[ProtocolErrorKind::Handshake.index()],
        1
    );
}
