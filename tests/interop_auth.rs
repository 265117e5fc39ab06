//! Access control end to end with real FFmpeg: signed URLs (made by `rtmp-edge sign`), JWT,
//! stream keys, IP deny lists and HTTP callbacks (a tiny server in the test that allows,
//! denies or answers too late). A refused FFmpeg exits non-zero; the status codes are read
//! with the test client; `/metrics` counts the refusals by reason. HTTP plays: FFmpeg plays
//! HTTP-FLV and HLS through an `on_play` callback that allows (asked once for the HLS
//! playlist and its files, then remembered) and is refused where it denies; FFmpeg plays HLS
//! opened with a signed URL (every file fetched with the token the playlist carries).
#[path = "support/rtmp_client.rs"]
#[allow(dead_code)] // this test uses only publish, play and their refusals
mod rtmp_client;
mod support;

use rtmp_client::{ClientError, TestClient};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::*;

const PUBLISH: f64 = 5.0;
const RECORD: f64 = 2.0;
const PUBLISH_LIMIT: Duration = Duration::from_secs(25);
const RECORD_LIMIT: Duration = Duration::from_secs(20);
/// A refused FFmpeg gives up within this.
const REFUSED_LIMIT: Duration = Duration::from_secs(20);

fn edge_with_http(toml: &str, args: &[&str]) -> (RtmpEdge, SocketAddr) {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let addr = http.to_string();
    let mut all = vec!["--http", addr.as_str()];
    all.extend_from_slice(args);
    (RtmpEdge::start_with_args(2, toml, &all), http)
}

/// The count of `rtmp_edge_auth_refused_total{action,reason}`.
fn refusals(http: SocketAddr, action: &str, reason: &str) -> f64 {
    let (status, body) = http_get(http, "/metrics");
    assert_eq!(status, 200, "{body}");
    let series =
        format!("rtmp_edge_auth_refused_total{{action=\"{action}\",reason=\"{reason}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

/// Polls the metric until it reaches `want` (snapshots are published every 500 ms).
fn wait_refusals(http: SocketAddr, action: &str, reason: &str, want: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = refusals(http, action, reason);
        if got >= want {
            assert_eq!(got, want, "{action}/{reason}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{action}/{reason}: {got} < {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A publish refused with `code` (read by the test client).
fn assert_publish_refused(edge: &RtmpEdge, name: &str, code: &str) {
    match TestClient::publish(edge.addr(), APP, name) {
        Err(ClientError::Status(got)) => assert_eq!(got, code, "publish {name}"),
        Err(other) => panic!("publish {name}: {other:?}\n{}", edge.log_tail()),
        Ok(_) => panic!("publish {name} was allowed"),
    }
}

fn assert_play_refused(edge: &RtmpEdge, name: &str) {
    match TestClient::play(edge.addr(), APP, name) {
        Err(ClientError::Status(got)) => assert_eq!(got, "NetStream.Play.StreamNotFound"),
        Err(other) => panic!("play {name}: {other:?}\n{}", edge.log_tail()),
        Ok(_) => panic!("play {name} was allowed"),
    }
}

/// FFmpeg publishing `url` is refused: it exits non-zero.
fn assert_ffmpeg_refused(url: &str) {
    let mut publisher = ffmpeg_publish_testsrc(url, PUBLISH, &[]);
    let status = publisher.wait_timeout(REFUSED_LIMIT);
    assert!(!status.success(), "ffmpeg publishing {url} succeeded");
}

/// FFmpeg publishes `publish_url`, FFmpeg plays `play_url`: the player records decodable media.
fn assert_publish_and_play(publish_url: &str, play_url: &str) {
    let dir = TempDir::new("auth-play");
    let mut publisher = ffmpeg_publish_testsrc(publish_url, PUBLISH, &[]);
    sleep_secs(1.0);
    let out = dir.join("play.flv");
    let mut player = ffmpeg_record(play_url, &out, RECORD);
    player.wait_success(RECORD_LIMIT);
    publisher.wait_success(PUBLISH_LIMIT);
    assert_recording(&out, RECORD);
}

#[test]
fn signed_urls_from_rtmp_edge_sign() {
    let (edge, http) = edge_with_http("", &["--publish-secret", "old", "--publish-secret", "new"]);
    let name = unique_name("signed");
    let query = edge_sign("new", "publish", APP, &name, 60);
    let url = edge.url(APP, &name);
    assert_publish_and_play(&format!("{url}?{query}"), &url);

    // A token of a secret being rotated out still works; one for another stream does not.
    let other = unique_name("signed");
    let old = edge_sign("old", "publish", APP, &other, 60);
    drop(TestClient::publish(edge.addr(), APP, &format!("{other}?{old}")).expect("old secret"));
    let wrong = edge_sign("new", "publish", APP, "elsewhere", 60);
    assert_publish_refused(
        &edge,
        &format!("{other}?{wrong}"),
        "NetStream.Publish.BadName",
    );
    assert_ffmpeg_refused(&format!("{url}?{wrong}"));
    assert_ffmpeg_refused(&url);

    let expired = edge_sign("new", "publish", APP, &name, 0);
    std::thread::sleep(Duration::from_millis(1100));
    assert_publish_refused(
        &edge,
        &format!("{name}?{expired}"),
        "NetStream.Publish.BadName",
    );
    wait_refusals(http, "publish", "token_invalid", 2.0);
    wait_refusals(http, "publish", "credentials_missing", 1.0);
    wait_refusals(http, "publish", "token_expired", 1.0);
    // Tokens are never logged.
    let token = query.split("token=").nth(1).expect("a token");
    assert!(!edge.log().contains(token), "{}", edge.log());
}

#[test]
fn jwt_grants_play() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let toml = "[[app]]\nname = \"live\"\n[app.access.play]\njwt_secrets = [\"jwt-secret\"]\n";
    let edge = RtmpEdge::start(2, toml);
    let name = unique_name("jwt");
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let claims = serde_json::json!({"exp": exp, "act": "play", "app": "live", "stream": "jwt-*"});
    let key = EncodingKey::from_secret(b"jwt-secret").unwrap();
    let jwt = encode(&Header::default(), &claims, &key).unwrap();
    let url = edge.url(APP, &name);
    assert_publish_and_play(&url, &format!("{url}?jwt={jwt}"));
    assert_play_refused(&edge, &name);
    let wrong = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"x").unwrap(),
    )
    .unwrap();
    assert_play_refused(&edge, &format!("{name}?jwt={wrong}"));
    let other = encode(
        &Header::default(),
        &serde_json::json!({"exp": exp, "act": "play", "app": "live", "stream": "other"}),
        &key,
    )
    .unwrap();
    assert_play_refused(&edge, &format!("{name}?jwt={other}"));
}

#[test]
fn stream_keys_for_publish() {
    let toml =
        "[[app]]\nname = \"live\"\n[app.access.publish]\nstream_keys = [\"k-one\", \"k-two\"]\n";
    let edge = RtmpEdge::start(1, toml);
    let name = unique_name("key");
    let url = edge.url(APP, &name);
    assert_publish_and_play(&format!("{url}?key=k-two"), &url);
    assert_ffmpeg_refused(&format!("{url}?key=k-three"));
    assert_publish_refused(&edge, &format!("{name}?key=k"), "NetStream.Publish.BadName");
}

#[test]
fn ip_deny_for_loopback_and_unknown_apps() {
    let toml = "[[app]]\nname = \"live\"\n[app.access.publish]\ndeny = [\"127.0.0.1\"]\n";
    let (edge, http) = edge_with_http(toml, &[]);
    let name = unique_name("ip");
    assert_ffmpeg_refused(&edge.url(APP, &name));
    assert_publish_refused(&edge, &name, "NetStream.Publish.BadName");
    wait_refusals(http, "publish", "ip_denied", 2.0);
    // Play has no rules: allowed (waiting for a publisher).
    drop(TestClient::play(edge.addr(), APP, &name).expect("play allowed"));
    // Only `live` is configured: a connect to another app is rejected.
    match TestClient::publish(edge.addr(), "other", &name) {
        Err(ClientError::Session(e)) => assert!(e.contains("unknown application"), "{e}"),
        Err(other) => panic!("connect to an unknown app: {other:?}"),
        Ok(_) => panic!("connect to an unknown app was allowed"),
    }
    wait_refusals(http, "connect", "unknown_app", 1.0);
}

#[test]
fn http_callbacks_allow_deny_and_time_out() {
    let allow = CallbackServer::start(CallbackMode::Allow);
    let deny = CallbackServer::start(CallbackMode::Deny);
    let slow = CallbackServer::start(CallbackMode::Sleep(Duration::from_secs(3)));
    let done = CallbackServer::start(CallbackMode::Allow);
    let toml = format!(
        "[[app]]\nname = \"live\"\n[app.access]\non_done = \"{}\"\n[app.access.publish]\ncallback = \"{}\"\n\
         [[app]]\nname = \"closed\"\n[app.access.publish]\ncallback = \"{}\"\n\
         [[app]]\nname = \"slow\"\n[app.access]\ncallback_timeout_ms = 500\n[app.access.publish]\ncallback = \"{}\"\n\
         [[app]]\nname = \"open\"\n[app.access]\ncallback_timeout_ms = 500\ncallback_fail_open = true\n\
         [app.access.publish]\ncallback = \"{}\"\n",
        done.url("/done"),
        allow.url("/publish"),
        deny.url("/publish"),
        slow.url("/publish"),
        slow.url("/publish"),
    );
    let (edge, http) = edge_with_http(&toml, &[]);
    let name = unique_name("cb");
    let url = edge.url(APP, &name);
    assert_publish_and_play(&format!("{url}?k=v"), &url);
    let bodies = allow.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "publish");
    assert_eq!(bodies[0]["app"], "live");
    assert_eq!(bodies[0]["stream"], name.as_str());
    assert_eq!(bodies[0]["query"], "k=v");
    assert!(bodies[0]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    // on_done for the publisher and the player that were allowed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while done.bodies().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "on_done: {:?}",
            done.bodies()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(done.bodies().iter().all(|b| b["event"] == "done"));

    let refused = |app: &str| match TestClient::publish(edge.addr(), app, "cam") {
        Err(ClientError::Status(code)) => code,
        Err(other) => panic!("{app}: {other:?}"),
        Ok(_) => panic!("{app}: allowed"),
    };
    assert_eq!(refused("closed"), "NetStream.Publish.BadName");
    assert_eq!(deny.bodies().len(), 1);
    // Slower than the timeout: refused (fail closed) ...
    assert_eq!(refused("slow"), "NetStream.Publish.BadName");
    // ... or allowed where the app says fail open.
    drop(TestClient::publish(edge.addr(), "open", "cam").expect("fail open"));
    wait_refusals(http, "publish", "callback_denied", 1.0);
    assert!(
        refusals(http, "publish", "callback_timeout")
            + refusals(http, "publish", "callback_failed")
            >= 1.0
    );
}

#[test]
fn jwt_public_keys_are_reloaded_on_sighup() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth/");
    let fixture = |name: &str| std::fs::read(format!("{fixtures}{name}")).expect("fixture");
    let keys = TempDir::new("auth-keys");
    let pem = keys.join("play.pem");
    std::fs::write(&pem, fixture("rsa_public.pem")).unwrap();
    let toml = format!(
        "[[app]]\nname = \"live\"\n[app.access.play]\njwt_public_keys = [{:?}]\n",
        pem.display().to_string()
    );
    let mut edge = RtmpEdge::start(2, &toml);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let claims = serde_json::json!({"exp": exp, "act": ["play"], "app": "*", "stream": "*"});
    let ec = EncodingKey::from_ec_pem(&fixture("ec_private.pem")).unwrap();
    let es256 = encode(&Header::new(Algorithm::ES256), &claims, &ec).unwrap();
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap();
    let rs256 = encode(&Header::new(Algorithm::RS256), &claims, &rsa).unwrap();
    drop(TestClient::play(edge.addr(), APP, &format!("a?jwt={rs256}")).expect("RS256 key"));
    assert_play_refused(&edge, &format!("a?jwt={es256}"));

    // The key is rotated: the new file is read on SIGHUP.
    std::fs::write(&pem, fixture("ec_public.pem")).unwrap();
    edge.process().signal(libc::SIGHUP);
    edge.wait_log("SIGHUP: configuration reloaded", Duration::from_secs(10));
    // Every shard (the next connection may land on either) has taken the new settings.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while edge.log().matches("settings reloaded").count() < edge.shards() {
        assert!(std::time::Instant::now() < deadline, "{}", edge.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(TestClient::play(edge.addr(), APP, &format!("a?jwt={es256}")).expect("ES256 key"));
    assert_play_refused(&edge, &format!("a?jwt={rs256}"));
}

/// FFmpeg reading `url` into an FLV file for `seconds`: Ok(()) when it exits cleanly.
fn ffmpeg_http_play(url: &str, seconds: f64) -> Result<(), String> {
    let dir = TempDir::new("auth-http");
    let out = dir.join("play.flv");
    let mut player = ffmpeg_record(url, &out, seconds);
    let status = player.wait_timeout(RECORD_LIMIT);
    if !status.success() {
        return Err(std::fs::read_to_string(player.log_path()).unwrap_or_default());
    }
    assert_recording(&out, seconds);
    Ok(())
}

#[test]
fn http_plays_ask_the_callback_and_carry_signed_tokens() {
    let allow = CallbackServer::start(CallbackMode::Allow);
    let deny = CallbackServer::start(CallbackMode::Deny);
    let done = CallbackServer::start(CallbackMode::Allow);
    let toml = format!(
        "[[app]]\nname = \"live\"\n[app.access]\non_done = \"{}\"\n[app.access.play]\ncallback = \"{}\"\n\
         [[app]]\nname = \"closed\"\n[app.access.play]\ncallback = \"{}\"\n\
         [[app]]\nname = \"signed\"\n[app.access.play]\nsecrets = [\"play-secret\"]\n",
        done.url("/done"),
        allow.url("/on_play"),
        deny.url("/on_play"),
    );
    let control = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let control_arg = control.to_string();
    let edge = HttpEdge::start(2, &toml, &["--http", control_arg.as_str()]);
    let name = unique_name("httpauth");
    // Long enough for every play below; killed when the test ends.
    let _live = ffmpeg_publish_testsrc(&edge.edge.url("live", &name), 30.0, &[]);
    let _signed = ffmpeg_publish_testsrc(&edge.edge.url("signed", &name), 30.0, &[]);
    // Time for a few HLS segments.
    sleep_secs(5.0);

    // The callback allows: HTTP-FLV, then HLS (the playlist asks, its files are remembered).
    ffmpeg_http_play(
        &edge.http_url(&format!("/live/{name}.flv?session=s1")),
        RECORD,
    )
    .unwrap_or_else(|log| panic!("HTTP-FLV: {log}\n{}", edge.edge.log_tail()));
    let bodies = allow.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "play");
    assert_eq!(bodies[0]["app"], "live");
    assert_eq!(bodies[0]["stream"], name.as_str());
    assert_eq!(bodies[0]["query"], "session=s1");
    assert!(bodies[0]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    ffmpeg_http_play(&edge.http_url(&format!("/live/{name}/index.m3u8")), RECORD)
        .unwrap_or_else(|log| panic!("HLS: {log}\n{}", edge.edge.log_tail()));
    // Dozens of playlist reloads and files, asked about at most once per shard.
    let hls_calls = allow.bodies().len() - 1;
    assert!((1..=2).contains(&hls_calls), "{:?}", allow.bodies());
    // on_done for the HTTP-FLV play.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while done.bodies().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no on_done");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(done.bodies()[0]["event"], "done");
    assert_eq!(done.bodies()[0]["action"], "play");

    // The callback denies: FFmpeg is refused (403) on both.
    for path in ["/closed/cam.flv", "/closed/cam/index.m3u8"] {
        assert!(
            ffmpeg_http_play(&edge.http_url(path), 2.0).is_err(),
            "{path} played"
        );
        let (status, head, _) = http_get_bytes(edge.http_addr(), path, RECORD_LIMIT);
        assert_eq!(status, 403, "{path}: {head}");
    }
    assert!(deny.bodies().len() >= 4, "{:?}", deny.bodies());
    wait_refusals(
        control,
        "play",
        "callback_denied",
        deny.bodies().len() as f64,
    );

    // A signed URL: FFmpeg plays the HLS, every file fetched with the playlist's token.
    let token = edge_sign("play-secret", "play", "signed", &name, 300);
    let playlist_path = format!("/signed/{name}/index.m3u8");
    let (status, _, _) = http_get_bytes(edge.http_addr(), &playlist_path, RECORD_LIMIT);
    assert_eq!(status, 403);
    let (status, head, body) = http_get_bytes(
        edge.http_addr(),
        &format!("{playlist_path}?{token}"),
        RECORD_LIMIT,
    );
    assert_eq!(status, 200, "{head}");
    let text = String::from_utf8(body).expect("a text playlist");
    let segment = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap_or_else(|| panic!("no segment in {text}"));
    assert!(segment.ends_with(&format!("?{token}")), "{text}");
    let bare = segment.split('?').next().unwrap();
    let dir = format!("/signed/{name}/");
    let (status, _, _) = http_get_bytes(edge.http_addr(), &format!("{dir}{bare}"), RECORD_LIMIT);
    assert_eq!(status, 403);
    let (status, _, _) = http_get_bytes(edge.http_addr(), &format!("{dir}{segment}"), RECORD_LIMIT);
    assert_eq!(status, 200);
    ffmpeg_http_play(&edge.http_url(&format!("{playlist_path}?{token}")), RECORD)
        .unwrap_or_else(|log| panic!("signed HLS: {log}\n{}", edge.edge.log_tail()));
    wait_refusals(control, "play", "credentials_missing", 2.0);
}
