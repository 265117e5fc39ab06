//! RTMPS in the core: rustls clients driven in memory against TLS listeners (publish, play,
//! partial and held sends of ciphertext, a stalled handshake, garbage, a certificate reload,
//! a slow TLS player's bounded buffers).
use super::harness::{settings, Harness, Mode, MS};
use super::{assert_same, SEC};
use crate::shard::core::{CloseReason, TlsServer, TLS_BUFFER};
use crate::shard::{ListenerSettings, ShardSettings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A self-signed certificate for `localhost`: the server side and a client that trusts it.
fn pair() -> (TlsServer, Arc<rustls::ClientConfig>) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = CertificateDer::from(generated.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (TlsServer(Arc::new(server)), Arc::new(client))
}

/// Listener 1 of every shard speaks TLS with `server`.
fn with_tls_listener(s: &mut ShardSettings, server: &TlsServer) {
    let mut l = ListenerSettings::rtmp("127.0.0.1:1936".parse().unwrap());
    l.tls = Some(server.clone());
    s.listeners.push(l);
}

const TLS: usize = 1;

/// A TLS player of `cam` on shard 0 whose play went out.
fn tls_player(h: &mut Harness, client: Arc<rustls::ClientConfig>) -> usize {
    let player = h.connect_tls(0, TLS, client);
    h.client(player).play("cam");
    h.drive();
    player
}

#[test]
fn publish_and_play_over_tls_beside_plain_players() {
    let (server, client) = pair();
    let mut h = Harness::new(|s| with_tls_listener(s, &server));
    let publisher = h.connect_tls(0, TLS, client.clone());
    h.client(publisher).publish("cam");
    h.drive();
    h.assert_healthy(publisher);
    assert!(h
        .codes(publisher)
        .iter()
        .any(|c| c == "NetStream.Publish.Start"));
    let tls_players = [
        h.connect_tls(0, TLS, client.clone()),
        h.connect_tls(1, TLS, client.clone()),
    ];
    // One socket takes a few bytes per send, one keeps each send in flight a while.
    h.wires[tls_players[1]].mode = Mode::Partial(1000);
    for &w in &tls_players {
        h.client(w).play("cam");
    }
    let plain = h.player(1, "cam");
    h.drive();
    h.headers(publisher);
    h.stream(publisher, 0, 60, 25, 3000);
    h.drive();
    let sent = h.wires[publisher].sent.clone();
    for w in tls_players.into_iter().chain([plain]) {
        h.assert_healthy(w);
        assert_same(&h.media(w), &sent, &format!("player {w}"));
    }
    // What went on the TLS wires was ciphertext.
    let raw = &h.wires[tls_players[0]].received;
    assert_eq!(raw.first(), Some(&0x16), "a TLS handshake record first");
    assert!(h.cores[0].stats().tls_handshakes >= 2);
    assert_eq!(h.cores[0].stats().tls_errors, 0);
}

#[test]
fn ciphertext_in_flight_stays_pinned_until_written() {
    let (server, client) = pair();
    let mut h = Harness::new(|s| with_tls_listener(s, &server));
    let publisher = h.publisher(0, "cam");
    let player = tls_player(&mut h, client);
    h.wires[player].mode = Mode::Hold;
    h.headers(publisher);
    h.stream(publisher, 0, 30, 10, 2000);
    h.drive();
    // Release each held send in two parts: the core hands out the rest, then more.
    for _ in 0..200 {
        let Some(held) = h.wires[player].in_flight.as_ref().map(Vec::len) else {
            break;
        };
        h.release(player, held / 2);
        h.drive();
        if let Some(rest) = h.wires[player].in_flight.as_ref().map(Vec::len) {
            h.release(player, rest);
        }
        h.drive();
    }
    h.wires[player].mode = Mode::All;
    h.unblock(player);
    h.drive();
    h.assert_healthy(player);
    let sent = h.wires[publisher].sent.clone();
    assert_same(&h.media(player), &sent, "held TLS player");
}

#[test]
fn a_tls_client_that_stops_mid_handshake_is_closed_at_the_handshake_timeout() {
    let (server, client) = pair();
    let mut h = Harness::new(|s| {
        s.handshake_timeout = 5 * SEC;
        with_tls_listener(s, &server);
    });
    // The first half of a real ClientHello, then nothing.
    let mut hello = Vec::new();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    rustls::ClientConnection::new(client, name)
        .unwrap()
        .write_tls(&mut hello)
        .unwrap();
    let stalled = h.raw(0, TLS);
    h.inject(stalled, &hello[..hello.len() / 2]);
    h.drive();
    h.advance_in_steps(4 * SEC);
    assert_eq!(h.wires[stalled].closed, None);
    h.advance_in_steps(2 * SEC);
    assert_eq!(h.wires[stalled].closed, Some(CloseReason::HandshakeTimeout));
}

#[test]
fn plain_rtmp_on_a_tls_listener_is_a_tls_error_at_once() {
    let (server, _) = pair();
    let mut h = Harness::new(|s| with_tls_listener(s, &server));
    let w = h.raw(0, TLS);
    // An RTMP C0+C1 where a ClientHello belongs.
    let mut c0c1 = vec![3u8];
    c0c1.resize(1537, 0);
    h.inject(w, &c0c1);
    h.drive();
    assert_eq!(h.wires[w].closed, Some(CloseReason::TlsError));
    assert_eq!(h.cores[0].stats().tls_errors, 1);
    let s = h.cores[0].stats();
    assert_eq!(s.closed_by_reason[CloseReason::TlsError.index()], 1);
}

#[test]
fn a_reload_gives_new_handshakes_the_new_certificate_and_keeps_running_ones() {
    let (old, old_client) = pair();
    let (new, new_client) = pair();
    let mut h = Harness::new(|s| with_tls_listener(s, &old));
    let publisher = h.publisher(0, "cam");
    let before = tls_player(&mut h, old_client.clone());
    h.headers(publisher);
    h.stream(publisher, 0, 10, 10, 500);
    h.drive();
    let reloaded = Arc::new(settings(|s| with_tls_listener(s, &new)));
    for core in &mut h.cores {
        core.reload(reloaded.clone());
    }
    // A client that trusts only the old certificate now fails its handshake ...
    let refused = h.connect_tls(0, TLS, old_client);
    h.client(refused).play("cam");
    h.drive();
    assert!(h.wires[refused]
        .error
        .as_ref()
        .is_some_and(|e| e.contains("TLS")));
    // ... one that trusts the new one plays, and the running player goes on.
    let after = h.connect_tls(1, TLS, new_client);
    h.client(after).play("cam");
    h.drive();
    h.stream(publisher, 400, 20, 10, 500);
    h.drive();
    h.assert_healthy(before);
    h.assert_healthy(after);
    let sent = h.wires[publisher].sent.clone();
    assert_same(&h.media(before), &sent, "player from before the reload");
    assert!(h.media(after).len() > 10);
}

#[test]
fn a_slow_tls_player_keeps_bounded_buffers_and_the_policy_applies() {
    let (server, client) = pair();
    let mut h = Harness::new(|s| {
        s.queue.max_bytes = 2 << 20;
        with_tls_listener(s, &server);
    });
    let publisher = h.publisher(0, "cam");
    let player = tls_player(&mut h, client);
    h.wires[player].mode = Mode::Blocked;
    h.headers(publisher);
    for second in 0..20u32 {
        h.stream(publisher, second * 1000, 25, 25, 20_000);
        h.advance(1000 * MS);
        h.drive();
        let Some(c) = h.cores[0].conns.get(h.wires[player].conn.0) else {
            break;
        };
        let tls = c.tls.as_ref().expect("a TLS connection");
        assert!(tls.cipher().committed_bytes() <= TLS_BUFFER + 64 * 1024);
        assert!(c.queue.committed_bytes() <= 2 * (2 << 20));
    }
    let s = h.cores[0].stats();
    assert!(
        s.frames_dropped > 0 || h.wires[player].closed.is_some(),
        "the slow-player policy skipped frames or closed the player"
    );
}
