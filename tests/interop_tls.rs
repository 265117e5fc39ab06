//! RTMPS end to end: rtmp-edge with a TLS listener (a certificate generated at test time)
//! and real peers. FFmpeg publishes and plays over rtmps:// (gnutls; FFmpeg does not verify
//! by default), a plain rtmp:// player gets a stream published over TLS, a certificate
//! renewed on disk and SIGHUP'd reaches new handshakes while a TLS player keeps playing, an
//! edge pulls over rtmps:// from an origin's TLS listener and pushes to one (verified
//! against the test CA; an origin with an untrusted certificate is refused), a TLS client that
//! stops mid-handshake is closed at the handshake timeout, and `https://` access callbacks
//! are verified against the configured CA.
//!
//! Run with RTMP_EDGE_TEST_IO=epoll and =uring: TLS lives in the core, under both drivers.
//! Bounded: every child is waited for with a generous limit; no assertion on speed.
#[path = "support/rtmp_client.rs"]
#[allow(dead_code)] // this test uses only publish and its refusal
mod rtmp_client;
mod support;

use rtmp_client::{ClientError, TestClient};
use std::time::Duration;
use support::*;

const SECONDS: f64 = 5.0;
const LIMIT: Duration = Duration::from_secs(40);

#[test]
fn ffmpeg_publishes_and_plays_over_rtmps_and_plain_players_get_it_too() {
    let server = TlsEdge::start(2, "", &[]);
    let dir = TempDir::new("interop-tls");
    let mut publisher = ffmpeg_publish_testsrc(&server.tls_url(APP, "tls"), SECONDS + 4.0, &[]);
    sleep_secs(1.5);
    let (tls_out, plain_out) = (dir.join("tls.flv"), dir.join("plain.flv"));
    let mut tls_player = ffmpeg_record(&server.tls_url(APP, "tls"), &tls_out, SECONDS);
    let mut plain_player = ffmpeg_record(&server.edge.url(APP, "tls"), &plain_out, SECONDS);
    tls_player.wait_success(LIMIT);
    plain_player.wait_success(LIMIT);
    publisher.wait_success(LIMIT);
    assert_recording(&tls_out, SECONDS);
    assert_recording(&plain_out, SECONDS);
}

#[test]
fn a_certificate_reload_on_sighup_keeps_a_playing_tls_connection() {
    let mut server = TlsEdge::start(1, "", &[]);
    let old = server.cert.der();
    handshake_trusting(server.tls_addr(), &old).expect("the first certificate");
    let dir = TempDir::new("interop-tls-reload");
    let seconds = 8.0;
    let mut publisher = ffmpeg_publish_testsrc(&server.edge.url(APP, "reload"), seconds + 4.0, &[]);
    sleep_secs(1.5);
    let out = dir.join("player.flv");
    let mut player = ffmpeg_record(&server.tls_url(APP, "reload"), &out, seconds);
    sleep_secs(2.0);
    server.cert.renew();
    let new = server.cert.der();
    assert_ne!(old, new);
    server.edge.process().signal(libc::SIGHUP);
    let mut presented_new = false;
    for _ in 0..50 {
        if handshake_trusting(server.tls_addr(), &new).is_ok() {
            presented_new = true;
            break;
        }
        sleep_secs(0.1);
    }
    assert!(
        presented_new,
        "new handshakes get the renewed certificate:\n{}",
        server.edge.log_tail()
    );
    assert!(
        handshake_trusting(server.tls_addr(), &old).is_err(),
        "the old one is gone"
    );
    player.wait_success(LIMIT);
    publisher.wait_success(LIMIT);
    // The player that started before the reload got the whole recording.
    assert_recording(&out, seconds);
    assert!(server.edge.log().contains("configuration reloaded"));
}

/// An edge relays over rtmps:// to or from a TLS listener of another rtmp-edge (verified
/// against its certificate as the CA): with `--origin` it pulls (FFmpeg publishes to the
/// origin, plays from the edge), with `--push` it pushes (publishes to the edge, plays from
/// the target).
fn relay_over_tls(flag: &str, stream: &str) {
    let tls_end = TlsEdge::start(1, "", &[]);
    let upstream = format!("rtmps://127.0.0.1:{}/{APP}", tls_end.tls_port);
    let ca = tls_end.cert.cert.display().to_string();
    let edge = RtmpEdge::start_with_args(2, "", &[flag, &upstream, "--tls-ca", &ca]);
    let (publish_to, play_from) = match flag {
        "--origin" => (&tls_end.edge, &edge),
        _ => (&edge, &tls_end.edge),
    };
    let dir = TempDir::new("interop-tls-relay");
    let mut publisher = ffmpeg_publish_testsrc(&publish_to.url(APP, stream), SECONDS + 4.0, &[]);
    sleep_secs(2.0);
    let out = dir.join("relayed.flv");
    let mut player = ffmpeg_record(&play_from.url(APP, stream), &out, SECONDS);
    player.wait_success(LIMIT);
    publisher.wait_success(LIMIT);
    assert_recording(&out, SECONDS);
}

#[test]
fn an_edge_pulls_over_rtmps_from_an_origin_tls_listener() {
    relay_over_tls("--origin", "pulled");
}

#[test]
fn an_edge_pushes_over_rtmps_to_a_tls_listener() {
    relay_over_tls("--push", "pushed");
}

#[test]
fn an_edge_refuses_an_origin_whose_certificate_it_does_not_trust() {
    let origin = TlsEdge::start(1, "", &[]);
    let other = TempDir::new("interop-tls-other-ca");
    let stranger = TestCert::generate(other.path(), "stranger");
    let origin_url = format!("rtmps://127.0.0.1:{}/{APP}", origin.tls_port);
    let ca = stranger.cert.display().to_string();
    let edge = RtmpEdge::start_with_args(1, "", &["--origin", &origin_url, "--tls-ca", &ca]);
    let mut publisher = ffmpeg_publish_testsrc(&origin.edge.url(APP, "s"), 6.0, &[]);
    sleep_secs(1.5);
    let dir = TempDir::new("interop-tls-refused");
    let mut player = ffmpeg_record(&edge.url(APP, "s"), &dir.join("none.flv"), 2.0);
    let status = player.wait_timeout(LIMIT);
    assert!(!status.success(), "no media from an untrusted origin");
    publisher.wait_success(LIMIT);
    assert!(edge.log().contains("TLS error"), "{}", edge.log_tail());
}

#[test]
fn a_tls_client_that_stops_mid_handshake_is_closed_at_the_handshake_timeout() {
    let server = TlsEdge::start(1, "[timeouts]\nhandshake_ms = 1500\n", &[]);
    let took = closed_after(
        server.tls_addr(),
        &half_client_hello(),
        Duration::from_secs(15),
    )
    .expect("the server closes a stalled TLS handshake");
    assert!(
        took >= Duration::from_millis(1000),
        "closed after {took:?}: before the timeout"
    );
    // Plain RTMP on the TLS port is a TLS error: closed at once, well before the timeout.
    let mut c0c1 = vec![3u8];
    c0c1.resize(1537, 0);
    let took = closed_after(server.tls_addr(), &c0c1, Duration::from_secs(15))
        .expect("plain RTMP on the TLS port is closed");
    assert!(took < Duration::from_millis(1500), "closed after {took:?}");
}

#[test]
fn https_access_callbacks_are_verified_against_the_configured_ca() {
    let dir = TempDir::new("interop-tls-callback");
    let trusted = TestCert::generate(dir.path(), "callback");
    let stranger = TestCert::generate(dir.path(), "stranger");
    let allow = CallbackServer::start_tls(CallbackMode::Allow, &trusted);
    let impostor = CallbackServer::start_tls(CallbackMode::Allow, &stranger);
    let toml = format!(
        "[tls]\nca_file = {:?}\n\
         [[app]]\nname = \"live\"\n[app.access.publish]\ncallback = \"{}\"\n\
         [[app]]\nname = \"other\"\n[app.access.publish]\ncallback = \"{}\"\n",
        trusted.cert.display().to_string(),
        allow.url("/publish"),
        impostor.url("/publish"),
    );
    let edge = RtmpEdge::start(1, &toml);
    drop(TestClient::publish(edge.addr(), "live", "cam").expect("allowed over https"));
    let bodies = allow.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "publish");
    // A callback server whose certificate does not chain to the CA: never told anything,
    // and the publish fails closed.
    match TestClient::publish(edge.addr(), "other", "cam") {
        Err(ClientError::Status(code)) => assert_eq!(code, "NetStream.Publish.BadName"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("allowed by an unverified callback server"),
    }
    assert!(impostor.bodies().is_empty(), "{:?}", impostor.bodies());
}
