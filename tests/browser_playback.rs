//! A real browser plays the relay's HTTP outputs: Debian's headless Chromium with hls.js (HLS),
//! dash.js (DASH) and mpegts.js (HTTP-FLV), driven by tests/browser/play.mjs. Each playback must
//! advance the video's currentTime by 3 s and show a decoded picture (mean luma and spread of
//! the frame drawn to a canvas: not black, not uniform), with AAC decoded too.
//!
//! Two groups:
//! - `harness_*`: the harness proved on its own, against files FFmpeg writes (HLS with fMP4 and
//!   with MPEG-TS segments, DASH, FLV) served by [`StaticHttpServer`] with CORS as the relay
//!   serves them: each player plays, a black video FAILS the picture check, and the wall-clock
//!   strip ([`CLOCK_STRIP_VF`]) reads back from live HLS as a plausible delay.
//! - `relay_*`: rtmp-edge with `--http-play 127.0.0.1:PORT`, an FFmpeg publisher (H.264 + AAC,
//!   1 s GOP, clock strip) over RTMP, and the browser playing `/live/NAME.flv`,
//!   `/live/NAME/index.m3u8` (also in hls.js low-latency mode, printing how far behind live it
//!   plays) and `/live/NAME/index.mpd`; and HLS and DASH opened with a signed URL (every
//!   file fetched with the token the playlist and MPD URIs carry).
//!
//! Needs chromium, node and `npm ci` in tests/browser (tuning/install-test-deps.sh); a missing
//! piece fails the test with that hint. Each test takes about 10-20 s.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

/// Length of the FFmpeg-made test files (the players must advance 3 s into them).
const CLIP_SECONDS: u32 = 10;
/// Bound on FFmpeg writing one test file (it encodes faster than real time).
const ENCODE_LIMIT: Duration = Duration::from_secs(60);
/// How long the relay publisher runs; the browser is done well before (it is killed on Drop).
const PUBLISH_SECONDS: f64 = 90.0;
/// How long the relay may take to answer 200 for a stream after the publisher started (HLS and
/// DASH need a couple of segments first).
const STREAM_READY_LIMIT: Duration = Duration::from_secs(20);

/// Starts FFmpeg encoding `video` (a lavfi source: `testsrc2`, `color=c=black`) + a sine tone, 320x240 at
/// [`FPS`], through `vf` (if any) into `output_args` (format options and the output path).
/// With `live`, it runs in real time (-re) for `seconds`, else as fast as it can.
fn ffmpeg_encode(
    video: &str,
    seconds: u32,
    live: bool,
    vf: Option<&str>,
    output_args: &[&str],
) -> Process {
    let mut cmd = std::process::Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning"]);
    if live {
        cmd.arg("-re");
    }
    cmd.args(["-f", "lavfi", "-i"])
        .arg(format!(
            "{video}{}size=320x240:rate={FPS}",
            if video.contains('=') { ':' } else { '=' }
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate={SAMPLE_RATE}"))
        .args(["-t", &seconds.to_string()]);
    if let Some(vf) = vf {
        cmd.args(["-vf", vf]);
    }
    cmd.args(h264_aac_args()).args(output_args);
    Process::spawn("ffmpeg-encode", cmd)
}

/// Writes a [`CLIP_SECONDS`] file of `video` into `dir`/`name` with `format_args`.
fn write_clip(dir: &Path, video: &str, format_args: &[&str], name: &str) {
    if let Some(parent) = dir.join(name).parent() {
        std::fs::create_dir_all(parent).expect("create clip dir");
    }
    let out = dir.join(name).display().to_string();
    let mut args = format_args.to_vec();
    args.push(&out);
    ffmpeg_encode(video, CLIP_SECONDS, false, None, &args).wait_success(ENCODE_LIMIT);
}

/// FFmpeg writes `name` in `dir` as `format_args`, a static server serves it with CORS, and
/// `player` must play it in Chromium.
fn check_harness_plays(player: Player, format_args: &[&str], name: &str) {
    let dir = TempDir::new("browser-files");
    write_clip(dir.path(), "testsrc2", format_args, name);
    let files = StaticHttpServer::serve(dir.path());
    let playback = assert_browser_plays(
        player,
        &files.url(name),
        &PlayOptions::default(),
        &dir.join("screenshot.png"),
    );
    assert_eq!((playback.video_width, playback.video_height), (320, 240));
}

#[test]
fn harness_plays_hls_fmp4_files() {
    let hls = ["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"];
    let fmp4 = ["-hls_segment_type", "fmp4"];
    check_harness_plays(
        Player::Hls,
        &[&hls[..], &fmp4[..]].concat(),
        "hls/index.m3u8",
    );
}

#[test]
fn harness_plays_hls_mpegts_files() {
    let hls = ["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"];
    check_harness_plays(Player::Hls, &hls, "hls/index.m3u8");
}

#[test]
fn harness_plays_dash_files() {
    let dash = ["-f", "dash", "-seg_duration", "1"];
    check_harness_plays(Player::Dash, &dash, "dash/index.mpd");
}

#[test]
fn harness_plays_flv_file() {
    check_harness_plays(Player::Flv, &["-f", "flv"], "clip.flv");
}

/// The picture check is what makes the other tests mean something: a black video that plays
/// (currentTime advances, audio decodes) must still FAIL.
#[test]
fn harness_rejects_black_video() {
    let dir = TempDir::new("browser-black");
    write_clip(dir.path(), "color=c=black", &["-f", "flv"], "black.flv");
    let files = StaticHttpServer::serve(dir.path());
    let playback = play_in_browser(
        Player::Flv,
        &files.url("black.flv"),
        &PlayOptions::default(),
        &dir.join("screenshot.png"),
    );
    eprintln!("[browser] black video: {playback:?}");
    assert!(
        !playback.ok,
        "a black video passed the check: {playback:#?}"
    );
    assert!(
        playback.current_time_advanced >= 3.0 && playback.audio_decoded_bytes > 0,
        "the black video should have played (so only the picture fails): {playback:#?}"
    );
    assert!(
        playback.mean_luma.is_some_and(|l| l < 20.0),
        "black frame measured as {:?}",
        playback.mean_luma
    );
    assert!(
        playback
            .errors
            .iter()
            .any(|e| e.contains("black or uniform")),
        "no picture error reported: {:?}",
        playback.errors
    );
}

/// FFmpeg writes live HLS with the clock strip while hls.js plays it in low-latency mode: the
/// strip reads back as a delay of a few seconds (segments are 1 s), and hls.js reports its
/// live latency.
#[test]
fn harness_reads_clock_strip_of_live_hls() {
    let dir = TempDir::new("browser-live");
    std::fs::create_dir_all(dir.join("live")).expect("create live dir");
    let playlist = dir.join("live/index.m3u8").display().to_string();
    let hls = [
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "6",
        "-hls_flags",
        "delete_segments+independent_segments+temp_file",
        "-hls_segment_type",
        "fmp4",
        &playlist,
    ];
    let _writer = ffmpeg_encode("testsrc2", 90, true, Some(CLOCK_STRIP_VF), &hls);
    let files = StaticHttpServer::serve(dir.path());
    let url = files.url("live/index.m3u8");
    wait_http_ok(&url, STREAM_READY_LIMIT);
    let options = PlayOptions {
        low_latency: true,
        clock: true,
        ..PlayOptions::default()
    };
    let playback = assert_browser_plays(Player::Hls, &url, &options, &dir.join("screenshot.png"));
    let delay = playback.picture_delay.expect("clock strip read");
    assert!(
        (0.0..30.0).contains(&delay),
        "live HLS picture {delay} s behind the clock"
    );
    assert!(
        playback.latency.is_some(),
        "hls.js reported no live latency"
    );
}

/// rtmp-edge with its HTTP listener on a free loopback port, and an FFmpeg publisher sending
/// `live/NAME` over RTMP with the clock strip. Fails at start-up (with rtmp-edge's log) while
/// rtmp-edge has no `--http-play`.
struct RelayWithHttpPlay {
    // Drop order: the publisher before the relay.
    _publisher: Process,
    _edge: RtmpEdge,
    http_port: u16,
    stream: String,
}

impl RelayWithHttpPlay {
    fn start() -> RelayWithHttpPlay {
        Self::start_with("")
    }

    /// Like [`RelayWithHttpPlay::start`] with the config `toml`.
    fn start_with(toml: &str) -> RelayWithHttpPlay {
        let http_port = free_port();
        let http_play = format!("127.0.0.1:{http_port}");
        let edge = RtmpEdge::start_with_args(1, toml, &["--http-play", &http_play]);
        let stream = unique_name("browser");
        let publisher = ffmpeg_publish_testsrc(
            &edge.url(APP, &stream),
            PUBLISH_SECONDS,
            &["-vf", CLOCK_STRIP_VF],
        );
        RelayWithHttpPlay {
            _publisher: publisher,
            _edge: edge,
            http_port,
            stream,
        }
    }

    /// `http://127.0.0.1:HTTP_PORT/live/NAME{suffix}` (".flv", "/index.m3u8", "/index.mpd").
    fn url(&self, suffix: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{APP}/{}{suffix}",
            self.http_port, self.stream
        )
    }

    /// Waits until the relay serves `suffix` for the stream, then plays it in the browser.
    fn play(&self, player: Player, suffix: &str, options: &PlayOptions) -> Playback {
        let url = self.url(suffix);
        let dir = TempDir::new("browser-relay");
        // On a panic here or in the browser, rtmp-edge's log is printed as it is dropped.
        wait_http_ok(&url, STREAM_READY_LIMIT);
        assert_browser_plays(player, &url, options, &dir.join("screenshot.png"))
    }
}

fn clock_options() -> PlayOptions {
    PlayOptions {
        clock: true,
        ..PlayOptions::default()
    }
}

#[test]
fn relay_http_flv_plays_in_mpegts_js() {
    let relay = RelayWithHttpPlay::start();
    relay.play(Player::Flv, ".flv", &clock_options());
}

#[test]
fn relay_hls_plays_in_hls_js() {
    let relay = RelayWithHttpPlay::start();
    relay.play(Player::Hls, "/index.m3u8", &clock_options());
}

/// hls.js with `lowLatencyMode: true`, as hls.js comes (no speed-up towards its target) and
/// with `maxLiveSyncPlaybackRate: 1.5` (how low-latency pages run it): prints how far behind
/// live it plays (hls.js `latency` / `targetLatency`, and the wall-clock delay of the shown
/// picture). Measured, not asserted.
#[test]
fn relay_hls_low_latency_mode_in_hls_js() {
    let relay = RelayWithHttpPlay::start();
    for catchup in [1.0, 1.5] {
        let options = PlayOptions {
            low_latency: true,
            catchup,
            ..clock_options()
        };
        let playback = relay.play(Player::Hls, "/index.m3u8", &options);
        eprintln!(
            "[browser] hls.js lowLatencyMode (maxLiveSyncPlaybackRate {catchup}) behind live: \
             latency {:?} s, target {:?} s, picture {:?} s behind the clock",
            playback.latency, playback.target_latency, playback.picture_delay
        );
        assert!(
            playback.latency.is_some(),
            "hls.js reported no live latency: the playlist is not live"
        );
    }
}

#[test]
fn relay_dash_plays_in_dash_js() {
    let relay = RelayWithHttpPlay::start();
    relay.play(Player::Dash, "/index.mpd", &clock_options());
}

/// Play rules with a signed-URL secret: hls.js and dash.js fetch every file with the token
/// the playlist and MPD URIs carry (a file without it is 403).
#[test]
fn relay_signed_hls_and_dash_play_in_hls_js_and_dash_js() {
    let secret = "browser-secret";
    let relay = RelayWithHttpPlay::start_with(&format!(
        "[[app]]\nname = \"{APP}\"\n[app.access.play]\nsecrets = [\"{secret}\"]\n"
    ));
    let token = edge_sign(secret, "play", APP, &relay.stream, 600);
    relay.play(
        Player::Hls,
        &format!("/index.m3u8?{token}"),
        &clock_options(),
    );
    relay.play(
        Player::Dash,
        &format!("/index.mpd?{token}"),
        &clock_options(),
    );
}
