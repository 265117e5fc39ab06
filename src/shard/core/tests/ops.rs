//! Trusted proxies, the v2 LOCAL health check, the proxy header timeout, drain and reload,
//! on the simulated shard pair.
use super::harness::{Harness, MS};
use super::SEC;
use crate::session::{ClientConfig, ClientEvent};
use crate::shard::core::{CloseReason, MailBatch};
use crate::shard::mailbox::ShardMsg;
use crate::shard::{ListenerSettings, ShardSettings};
use std::net::SocketAddr;
use std::sync::Arc;

const RECONNECT: &str = "NetConnection.Connect.ReconnectRequest";

fn proxied(trusted: &[&str]) -> ListenerSettings {
    ListenerSettings {
        addr: "127.0.0.1:1936".parse().unwrap(),
        proxy_protocol: true,
        trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        protocol: Default::default(),
        tls: None,
    }
}

fn peer(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn mail(h: &mut Harness, shard: usize, msg: ShardMsg) {
    let now = h.now;
    h.cores[shard].handle_mailbox(MailBatch(vec![msg]), now);
    h.drive();
}

#[test]
fn only_trusted_sources_are_admitted_on_proxy_listeners() {
    let mut h = Harness::new(|s| s.listeners.push(proxied(&["10.0.0.0/8", "127.0.0.7/32"])));
    let now = h.now;
    let core = &mut h.cores[0];
    // The plain listener admits anyone.
    assert_eq!(core.admit(0, peer("198.51.100.1:5000"), now), Ok(()));
    assert_eq!(core.admit(1, peer("10.20.30.40:5000"), now), Ok(()));
    assert_eq!(core.admit(1, peer("127.0.0.7:5000"), now), Ok(()));
    assert_eq!(core.admit(1, peer("[::ffff:10.0.0.1]:5000"), now), Ok(()));
    for _ in 0..3 {
        assert_eq!(
            core.admit(1, peer("127.0.0.1:5000"), now),
            Err(CloseReason::UntrustedProxy)
        );
    }
    let by = CloseReason::UntrustedProxy.index();
    assert_eq!(core.stats().closed_by_reason[by], 3);
    assert_eq!(core.connections(), 0);
}

#[test]
fn a_v2_local_header_closes_quietly_and_a_missing_header_times_out_on_its_own_clock() {
    let mut h = Harness::new(|s| {
        s.handshake_timeout = 10 * SEC;
        s.proxy_header_timeout = 3 * SEC;
        s.listeners.push(proxied(&[]));
    });
    let check = h.raw(0, 1);
    let mut local = crate::protocol::proxy::V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    h.inject(check, &local);
    h.drive();
    assert_eq!(h.wires[check].closed, Some(CloseReason::ProxyHealthCheck));
    assert_eq!(h.cores[0].stats().protocol_errors, 0);

    let silent = h.raw(0, 1);
    let plain = h.raw(0, 0);
    h.advance_in_steps(3500 * MS);
    assert_eq!(h.wires[silent].closed, Some(CloseReason::ProxyTimeout));
    // Without PROXY, the handshake timeout rules.
    assert_eq!(h.wires[plain].closed, None);
}

#[test]
fn a_drain_stops_accepting_and_asks_capable_clients_to_reconnect() {
    let mut h = Harness::new(|_| {});
    let publisher = h.publisher(0, "cam");
    let player = h.player(1, "cam");
    let mut config = ClientConfig::new("live", "rtmp://edge.example/live");
    config.caps_ex = 0x01;
    let capable = h.connect_config(0, 0, config);
    h.drive();
    assert!(h.wires[capable].events.contains(&ClientEvent::Connected));
    assert!(h.cores[0].has_room());

    for shard in 0..2 {
        mail(&mut h, shard, ShardMsg::Drain);
        assert!(h.cores[shard].is_draining());
        assert!(!h.cores[shard].has_room());
    }
    // A second drain asks nobody twice.
    mail(&mut h, 0, ShardMsg::Drain);
    assert_eq!(
        h.codes(capable).iter().filter(|c| *c == RECONNECT).count(),
        1
    );
    assert!(!h.codes(player).iter().any(|c| c == RECONNECT));
    assert!(!h.codes(publisher).iter().any(|c| c == RECONNECT));
    assert_eq!(h.cores[0].stats().reconnect_requests, 1);

    // Connected clients go on being served.
    h.headers(publisher);
    h.stream(publisher, 0, 20, 10, 100);
    assert!(h.media(player).len() >= 20);
    for w in [publisher, player, capable] {
        h.assert_healthy(w);
    }
}

#[test]
fn a_drain_closes_idle_http_connections_and_closes_the_others_after_their_answer() {
    use super::http::{get, responses, with_http, HTTP};
    let mut h = Harness::new(with_http);
    let idle = h.raw(0, HTTP);
    get(&mut h, idle, "/nonsense");
    assert_eq!(responses(&h.wires[idle].received)[0].status, 404);
    assert!(h.wires[idle].closed.is_none(), "kept alive");
    // A playlist request waiting for its stream when the drain starts.
    let waiting = h.raw(0, HTTP);
    get(&mut h, waiting, "/live/none/index.m3u8");
    assert!(h.wires[waiting].received.is_empty());
    mail(&mut h, 0, ShardMsg::Drain);
    assert_eq!(h.wires[idle].closed, Some(CloseReason::Shutdown));
    assert!(h.wires[waiting].closed.is_none());
    // Its answer comes as before, then the connection closes.
    h.advance_in_steps(6 * SEC);
    let r = responses(&h.wires[waiting].received);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 404);
    assert!(h.wires[waiting].closed.is_some());
    // A request begun before the drain and completed during it is answered with
    // `Connection: close`.
    let late = h.raw(1, HTTP);
    h.inject(late, b"GET /nonsense HTTP/1.1\r\n");
    h.drive();
    mail(&mut h, 1, ShardMsg::Drain);
    assert!(h.wires[late].closed.is_none());
    h.inject(late, b"Host: x\r\n\r\n");
    h.drive();
    let r = responses(&h.wires[late].received);
    assert!(r[0].head.contains("Connection: close\r\n"), "{}", r[0].head);
    assert_eq!(h.wires[late].closed, Some(CloseReason::HttpComplete));
}

#[test]
fn a_reload_changes_runtime_settings_and_keeps_bound_ones_and_every_connection() {
    let mut h = Harness::new(|s| s.listeners.push(proxied(&["10.0.0.0/8"])));
    let publisher = h.publisher(0, "cam");
    let players = [h.player(0, "cam"), h.player(1, "cam")];
    let before = h.cores[0].settings().clone();

    let mut new = ShardSettings {
        listeners: vec![
            ListenerSettings::rtmp("0.0.0.0:9".parse().unwrap()),
            proxied(&["192.0.2.0/24"]),
        ],
        shards: 64,
        max_connections: 3,
        handshake_timeout: 2 * SEC,
        ..ShardSettings::default()
    };
    new.session.chunk_size = 128;
    new.queue.max_span_ms = 1234;
    let new = Arc::new(new);
    for shard in 0..2 {
        mail(&mut h, shard, ShardMsg::Reload(new.clone()));
    }
    let s = h.cores[0].settings();
    assert_eq!(s.max_connections, 3);
    assert_eq!(s.queue.max_span_ms, 1234);
    assert_eq!(s.handshake_timeout, 2 * SEC);
    assert_eq!(s.shards, before.shards);
    assert_eq!(s.session.chunk_size, before.session.chunk_size);
    let addrs: Vec<_> = s.listeners.iter().map(|l| l.addr).collect();
    let were: Vec<_> = before.listeners.iter().map(|l| l.addr).collect();
    assert_eq!(addrs, were);
    let now = h.now;
    let core = &mut h.cores[0];
    assert_eq!(
        core.admit(1, peer("10.0.0.1:1"), now),
        Err(CloseReason::UntrustedProxy)
    );
    assert_eq!(core.admit(1, peer("192.0.2.9:1"), now), Ok(()));
    let id = h.wires[players[0]].conn.0;
    assert_eq!(h.cores[0].conns[id].queue.limits().max_span_ms, 1234);

    h.headers(publisher);
    h.stream(publisher, 0, 20, 10, 100);
    for w in players {
        h.assert_healthy(w);
        assert!(h.media(w).len() >= 20);
    }
    h.assert_healthy(publisher);
}
