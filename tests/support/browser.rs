//! A real browser as a test peer: Debian's headless Chromium plays HLS (hls.js), DASH (dash.js)
//! or HTTP-FLV (mpegts.js) through tests/browser/play.mjs, which judges the playback.
//!
//! What it does: finds node, Chromium and the pinned npm packages (tests/browser/node_modules,
//! from `npm ci`), runs `node play.mjs --kind K --src URL --screenshot FILE ...` with a bounded
//! wait, and parses the one JSON line it prints into a [`Playback`]: how far the video's
//! currentTime advanced, the decoded picture's mean luma and spread (black or uniform fails),
//! what Chromium's decoders produced, the player's live latency and, for a publisher that burns
//! [`CLOCK_STRIP_VF`] into its picture, how far behind the wall clock the shown frame is.
//!
//! What it never does: skip when something is missing (it panics with the install hint:
//! `tuning/install-test-deps.sh`), download a browser (puppeteer-core drives /usr/bin/chromium),
//! or let the browser reach anything but 127.0.0.1 (play.mjs maps every other host to
//! NOTFOUND).
//!
//! Call order: start what serves the stream (the relay with `--http-play`, or a
//! [`super::StaticHttpServer`]), then [`play_in_browser`] or [`assert_browser_plays`].

use super::{find_tool, tool, unique_name, Process, INSTALL_HINT};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// An FFmpeg `-vf` chain that burns the wall clock into the picture: the top 12 rows become 24
/// blocks 12 px wide, block k white when bit k of (Unix time in centiseconds mod 2^24) was set
/// when the frame was made (RTCTIME at filter time, which `-re` paces), and the timestamps are
/// put back to frame counts. play.mjs `--clock` reads it back (needs a picture >= 288 px wide).
pub const CLOCK_STRIP_VF: &str = "settb=1/1000000,setpts=RTCTIME,\
geq=lum='if(lt(Y,12),if(lt(X,288),16+219*mod(floor(mod(floor(T*100),16777216)/pow(2,floor(X/12))),2),16),lum(X,Y))'\
:cb='if(lt(Y,12),128,cb(X,Y))':cr='if(lt(Y,12),128,cr(X,Y))',settb=1/25,setpts=N";

/// Packages play.mjs needs from tests/browser/node_modules (pinned by its package-lock.json).
const NPM_PACKAGES: [&str; 4] = ["hls.js", "dashjs", "mpegts.js", "puppeteer-core"];

/// Which player library plays the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    /// hls.js (HLS over MSE).
    Hls,
    /// dash.js (DASH over MSE).
    Dash,
    /// mpegts.js (HTTP-FLV over fetch + MSE).
    Flv,
}

impl Player {
    pub fn kind(self) -> &'static str {
        match self {
            Player::Hls => "hls",
            Player::Dash => "dash",
            Player::Flv => "flv",
        }
    }
}

/// How play.mjs plays and what it requires.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// hls.js `lowLatencyMode`, dash.js live catch-up, mpegts.js latency chasing.
    pub low_latency: bool,
    /// hls.js `maxLiveSyncPlaybackRate` (1 = hls.js's default: no speed-up to its target).
    pub catchup: f64,
    /// Read [`CLOCK_STRIP_VF`]'s strip and require it (reports `picture_delay`).
    pub clock: bool,
    /// Require decoded audio (AAC) as well as video.
    pub audio: bool,
    /// play.mjs's bound on everything after the browser started, seconds.
    pub timeout_secs: u32,
    /// How far currentTime must advance, seconds.
    pub advance_secs: f64,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            low_latency: false,
            catchup: 1.0,
            clock: false,
            audio: true,
            timeout_secs: 40,
            advance_secs: 3.0,
        }
    }
}

/// What play.mjs measured (its JSON line).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Playback {
    pub kind: String,
    pub ok: bool,
    /// Seconds the <video>'s currentTime advanced from where playback began.
    pub current_time_advanced: f64,
    /// Mean luma (0-255) of the decoded picture drawn to a canvas.
    pub mean_luma: Option<f64>,
    pub luma_std_dev: Option<f64>,
    /// The player's live latency, seconds: hls.js `latency`, dash.js current live latency,
    /// mpegts.js buffered-ahead; None when not live.
    pub latency: Option<f64>,
    /// hls.js `targetLatency`, dash.js target live delay.
    pub target_latency: Option<f64>,
    /// Seconds the shown frame is behind the wall clock (with [`PlayOptions::clock`]).
    pub picture_delay: Option<f64>,
    /// "hls.js 1.7.4" and the like.
    pub library: Option<String>,
    pub video_frames: u64,
    pub dropped_frames: u64,
    pub audio_decoded_bytes: u64,
    pub video_width: u32,
    pub video_height: u32,
    pub screenshot: Option<String>,
    pub errors: Vec<String>,
}

/// The tests/browser directory (player.html, play.mjs, package.json, node_modules).
pub fn browser_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The root crate's tests, or a workspace member that includes tests/support.
    [manifest.to_path_buf(), manifest.join("..")]
        .into_iter()
        .map(|root| root.join("tests").join("browser"))
        .find(|dir| dir.join("play.mjs").is_file())
        .unwrap_or_else(|| {
            panic!(
                "tests/browser/play.mjs not found above {}",
                manifest.display()
            )
        })
}

/// Chromium: `$CHROMIUM`, else `chromium` on PATH (Debian's package: /usr/bin/chromium).
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    find_tool("chromium").unwrap_or_else(|| {
        panic!("required test tool `chromium` (Debian package chromium) not found: {INSTALL_HINT}")
    })
}

/// Panics with the install hint unless every npm package play.mjs imports is installed.
fn check_npm_packages(dir: &Path) {
    for package in NPM_PACKAGES {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        assert!(
            manifest.is_file(),
            "npm package {package} missing ({} not found): {INSTALL_HINT} (it runs `npm ci` in \
             tests/browser)",
            manifest.display()
        );
    }
}

/// Plays `url` with `player` in headless Chromium and returns what play.mjs measured, whether
/// or not it passed; the screenshot goes to `screenshot`. Panics only when the harness itself
/// cannot run (tools missing, no JSON line, no exit within the bound).
pub fn play_in_browser(
    player: Player,
    url: &str,
    options: &PlayOptions,
    screenshot: &Path,
) -> Playback {
    let dir = browser_dir();
    let node = tool("node");
    let chromium = chromium();
    check_npm_packages(&dir);
    let mut cmd = Command::new(node);
    cmd.current_dir(&dir)
        .arg(dir.join("play.mjs"))
        .args(["--kind", player.kind(), "--src", url])
        .arg("--screenshot")
        .arg(screenshot)
        .arg("--chromium")
        .arg(&chromium)
        .args(["--timeout", &options.timeout_secs.to_string()])
        .args(["--advance", &options.advance_secs.to_string()]);
    if options.catchup != 1.0 {
        cmd.arg("--catchup").arg(options.catchup.to_string());
    }
    if options.low_latency {
        cmd.arg("--lowlatency");
    }
    if options.clock {
        cmd.arg("--clock");
    }
    if !options.audio {
        cmd.arg("--no-audio");
    }
    let log = screenshot.with_file_name(format!("{}.log", unique_name("play")));
    let mut process = Process::spawn_logged("play.mjs", cmd, &log);
    // Browser start (at most 20 s in play.mjs) + the play bound + closing, with room to spare.
    let limit = Duration::from_secs(u64::from(options.timeout_secs) + 40);
    process.wait_timeout(limit);
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let line = output
        .lines()
        .rev()
        .find(|line| line.starts_with("{\"kind\""))
        .unwrap_or_else(|| {
            panic!(
                "play.mjs printed no result line for {url}. Output:\n{}",
                process.log_tail()
            )
        });
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("play.mjs result line unreadable ({e}): {line}"))
}

/// [`play_in_browser`], then panics with every measurement and error unless play.mjs judged
/// the playback ok (advanced enough, a decoded non-black picture, audio, the clock if asked).
pub fn assert_browser_plays(
    player: Player,
    url: &str,
    options: &PlayOptions,
    screenshot: &Path,
) -> Playback {
    let playback = play_in_browser(player, url, options, screenshot);
    assert!(
        playback.ok,
        "{} did not play {url} in Chromium: {playback:#?}",
        player.kind()
    );
    eprintln!(
        "[browser] {} played {url}: advanced {:.2} s, {} frames ({} dropped), luma {:?} ± {:?}, \
         audio {} B, latency {:?} (target {:?}), picture delay {:?}, {:?}",
        playback.library.as_deref().unwrap_or(player.kind()),
        playback.current_time_advanced,
        playback.video_frames,
        playback.dropped_frames,
        playback.mean_luma,
        playback.luma_std_dev,
        playback.audio_decoded_bytes,
        playback.latency,
        playback.target_latency,
        playback.picture_delay,
        playback.errors
    );
    playback
}
