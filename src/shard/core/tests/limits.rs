//! The core's limits on the simulated shard pair: connections per IP and in total across two
//! cores sharing one peer table, streams and players per stream, and the counting of
//! refusals the session and the decoders make.
use super::harness::{settings, Harness};
use crate::media::registry::Registry;
use crate::shard::core::{CloseReason, LimitKind, PeerTable, ShardCore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

const BAD_NAME: &str = "NetStream.Publish.BadName";
const NOT_FOUND: &str = "NetStream.Play.StreamNotFound";

#[test]
fn connection_limits_hold_across_shards_and_are_given_back() {
    let s = Arc::new(settings(|s| {
        s.limits.max_connections = 3;
        s.limits.max_connections_per_ip = 2;
        s.limits.exempt.clear();
    }));
    let registry = Arc::new(Registry::new(2));
    let peers = Arc::new(PeerTable::default());
    let now = Instant::now();
    let mut cores: Vec<ShardCore> = (0..2)
        .map(|i| {
            ShardCore::new(i, s.clone(), registry.clone(), now, i as u64)
                .with_peer_table(peers.clone())
        })
        .collect();
    let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let accept = |core: &mut ShardCore, peer| {
        core.admit(0, peer, now)
            .map(|()| core.handle_accept(0, peer, now))
    };
    let first = accept(&mut cores[0], a).unwrap();
    accept(&mut cores[1], a).unwrap();
    // The third from the same source, on either shard, is refused.
    assert_eq!(accept(&mut cores[0], a), Err(CloseReason::LimitRefused));
    accept(&mut cores[1], b).unwrap();
    // Three open on the node: the total refuses the next one.
    assert_eq!(accept(&mut cores[0], b), Err(CloseReason::LimitRefused));
    assert_eq!(peers.open(), 3);
    cores[0].handle_closed(first, CloseReason::PeerClosed);
    assert_eq!(peers.open(), 2);
    accept(&mut cores[0], a).unwrap();
    let refused = |c: &ShardCore, k: LimitKind| c.stats().limit_refused[k.index()];
    assert_eq!(refused(&cores[0], LimitKind::ConnectionsPerIp), 1);
    assert_eq!(refused(&cores[0], LimitKind::Connections), 1);
    let by = CloseReason::LimitRefused.index();
    assert_eq!(cores[0].stats().closed_by_reason[by], 2);
}

#[test]
fn streams_and_players_per_stream_are_bounded() {
    let mut h = Harness::new(|s| {
        s.limits.max_streams = 1;
        s.limits.max_players_per_stream = 1;
    });
    let _publisher = h.publisher(0, "a");
    let other = h.connect(1, 0);
    h.client(other).publish("b");
    h.drive();
    assert!(
        h.codes(other).contains(&BAD_NAME.to_owned()),
        "{:?}",
        h.codes(other)
    );
    let _player = h.player(1, "a");
    let second = h.connect(0, 0);
    h.client(second).play("a");
    h.drive();
    assert!(h.codes(second).contains(&NOT_FOUND.to_owned()));
    let unknown = h.connect(0, 0);
    h.client(unknown).play("c");
    h.drive();
    assert!(h.codes(unknown).contains(&NOT_FOUND.to_owned()));
    let refused =
        |h: &Harness, core: usize, k: LimitKind| h.cores[core].stats().limit_refused[k.index()];
    assert_eq!(refused(&h, 1, LimitKind::Streams), 1);
    assert_eq!(refused(&h, 0, LimitKind::Streams), 1);
    assert_eq!(refused(&h, 0, LimitKind::PlayersPerStream), 1);
    // Refused requests leave the connection open (the command timeout ends it later).
    h.assert_healthy(second);
}

#[test]
fn deep_amf_closes_at_once_and_is_counted() {
    let mut h = Harness::new(|_| {});
    let w = h.connect(0, 0);
    h.drive();
    // A command whose object nests 1,000 levels deep and is never closed.
    let mut payload = vec![0x02, 0, 4];
    payload.extend(b"call");
    payload.extend([0; 9]);
    for _ in 0..1000 {
        payload.extend([0x03, 0x00, 0x01, b'a']);
    }
    h.send(w, 20, 0, payload);
    h.drive();
    assert_eq!(h.wires[w].closed, Some(CloseReason::ProtocolError));
    assert_eq!(
        h.cores[0].stats().limit_refused[LimitKind::AmfDepth.index()],
        1
    );
}

#[test]
fn behind_a_proxy_the_header_source_is_what_per_ip_limits_count() {
    let s = Arc::new(settings(|s| {
        s.listeners = vec![crate::shard::ListenerSettings {
            addr: "127.0.0.1:1936".parse().unwrap(),
            proxy_protocol: true,
            trusted_proxies: Vec::new(),
            protocol: Default::default(),
            tls: None,
        }];
        s.limits.max_connections_per_ip = 1;
        s.limits.exempt.clear();
    }));
    let now = Instant::now();
    let mut core = ShardCore::new(0, s, Arc::new(Registry::new(1)), now, 1);
    let proxy: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let header = |port: u16| format!("PROXY TCP4 203.0.113.7 127.0.0.1 {port} 1936\r\n");
    let mut open = Vec::new();
    for port in [40000, 40001] {
        // Both come from the one proxy: only the node-wide count applies at accept.
        core.admit(0, proxy, now).unwrap();
        let id = core.handle_accept(0, proxy, now);
        core.handle_input(id, header(port).as_bytes(), now);
        open.push(id);
    }
    let closed: Vec<_> = std::iter::from_fn(|| core.poll_close()).collect();
    assert_eq!(closed, [(open[1], CloseReason::LimitRefused)]);
    assert_eq!(
        core.peer_table().open_from("203.0.113.7".parse().unwrap()),
        1
    );
    assert_eq!(core.peer_table().open(), 1);
    let per_ip = core.stats().limit_refused[LimitKind::ConnectionsPerIp.index()];
    assert_eq!(per_ip, 1);
}
