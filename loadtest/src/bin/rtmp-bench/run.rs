//! One measured run: start a server, run rtmp-loadtest against it, sample both processes over
//! the steady window after the player ramp, and collect the load tester's JSON report.
//!
//! Timeline from the moment the load tester starts (t0):
//! `[t0, t0 + STARTUP_S + players / ramp + settle)` publish, ramp, settle: not measured;
//! `[.., t0 + duration - END_MARGIN_S)` the steady window: /proc samples at both ends;
//! then the load tester drains and exits (killed if it runs past a generous deadline).
//! The load tester counts `--duration` from the moment its players start, so the window
//! ends before its run does. Both processes are stopped when this returns.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::procfs::{self, Sample};
use crate::procs::{self, Placement};
use crate::servers::{Binaries, PlayerPorts, ServerKind};
use crate::sockets::SocketSample;

/// Publisher connect and publish before players start.
const STARTUP_S: f64 = 1.0;
/// Left out at the end of the window, in case the load tester stops players early.
const END_MARGIN_S: f64 = 0.5;
/// Shortest steady window that still says something.
const MIN_WINDOW_S: f64 = 3.0;

/// The load that every server gets.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub players: usize,
    pub duration_s: f64,
    pub bitrate: String,
    pub fps: f64,
    pub threads: usize,
    pub ramp: f64,
    /// Seconds after the ramp before the window opens.
    pub settle_s: f64,
    /// Players read in bursts this far apart (rtmp-loadtest --read-interval-ms; 0: as data
    /// comes).
    pub read_interval_ms: u64,
    pub server: Placement,
    pub loadtest: Placement,
}

impl Load {
    /// Offsets of the steady window from the load tester's start, in seconds.
    pub fn window(&self) -> Result<(f64, f64), String> {
        let start = STARTUP_S + self.players as f64 / self.ramp + self.settle_s;
        let end = self.duration_s - END_MARGIN_S;
        if end - start < MIN_WINDOW_S {
            return Err(format!(
                "--duration {} leaves a steady window of {:.1} s after a ramp of {} players at \
                 {}/s; raise --duration to at least {:.0}",
                self.duration_s,
                end - start,
                self.players,
                self.ramp,
                (start + MIN_WINDOW_S + END_MARGIN_S).ceil()
            ));
        }
        Ok((start, end))
    }
}

/// The fields of rtmp-loadtest's JSON report this benchmark reads. Missing fields read as 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadReport {
    pub players_connected: u64,
    pub players_failed: u64,
    pub latency_ms: Latency,
    pub first_frame_ms: FirstFrame,
    pub first_frame_keyframe_ratio: f64,
    pub frames_expected: u64,
    pub frames_received: u64,
    pub frames_lost: u64,
    pub delivered_mbps: f64,
    pub expected_mbps: Option<f64>,
    pub disconnects: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FirstFrame {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub server: &'static str,
    /// The server with its setting, as tables show it (`rtmp-edge adaptive<=20`).
    pub label: String,
    pub write_merge_ms: Option<u32>,
    /// rtmp-edge's I/O driver (`epoll`, `uring`); None for nginx-rtmp.
    pub io: Option<&'static str>,
    pub players: usize,
    pub repeat: usize,
    pub window_s: f64,
    pub server_cpu_percent: f64,
    /// What the server's sockets delivered during the window (kernel `bytes_acked`, per
    /// connection `bytes_sent` where the kernel gives no `bytes_acked`), in Mbit/s.
    pub server_out_mbps: Option<f64>,
    /// Connections at the window's end counted by `bytes_sent` for want of `bytes_acked`.
    pub server_out_sent_fallbacks: usize,
    pub server_rss_mb: Option<f64>,
    /// Open descriptors of the server at the window's start and end (about one per player).
    pub server_fds: (Option<usize>, Option<usize>),
    pub loadtest_cpu_percent: f64,
    /// CPU (% of one core) used during the window by everything but the server and the load
    /// tester, summed over all cores: above a few percent the figures are noisy.
    pub other_cpu_percent: Option<f64>,
    pub load: LoadReport,
    /// The load tester's whole report as it wrote it.
    pub loadtest_json: serde_json::Value,
}

impl RunResult {
    /// The delivery rate the CPU is divided by: the server's own output over the window when
    /// /proc gives it, otherwise the load tester's delivered payload rate.
    pub fn rate_mbps(&self) -> f64 {
        match self.server_out_mbps {
            Some(mbps) if mbps > 0.0 => mbps,
            _ => self.load.delivered_mbps,
        }
    }

    /// Server CPU % (of one core) per Gbit/s delivered.
    pub fn cpu_per_gbps(&self) -> f64 {
        let gbps = self.rate_mbps() / 1000.0;
        if gbps > 0.0 {
            self.server_cpu_percent / gbps
        } else {
            f64::NAN
        }
    }
}

/// Runs `load` against `server` once. `dir` receives configs, logs and the JSON report.
pub fn run_once(
    server: ServerKind,
    load: &Load,
    bins: &Binaries,
    dir: &Path,
    repeat: usize,
    nofile: u64,
) -> Result<RunResult, String> {
    let (window_start, window_end) = load.window()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = procs::free_port()?;
    let extra = PlayerPorts {
        http: server.http_flv().then(procs::free_port).transpose()?,
        tls: server.tls().then(procs::free_port).transpose()?,
    };
    let mut server_guard = server.start(bins, dir, port, extra, load.server, nofile)?;
    // Deliveries are counted on the sockets of the port the players use.
    let delivery_port = extra.http.or(extra.tls).unwrap_or(port);
    let json_path = dir.join("loadtest.json");
    let _ = std::fs::remove_file(&json_path);
    let log_path = dir.join("loadtest.log");

    let mut cmd = Command::new(&bins.loadtest);
    cmd.arg("--url")
        .arg(format!("rtmp://127.0.0.1:{port}/live/bench"))
        .arg("--players")
        .arg(load.players.to_string())
        .arg("--duration")
        .arg(load.duration_s.to_string())
        .arg("--bitrate")
        .arg(&load.bitrate)
        .arg("--fps")
        .arg(load.fps.to_string())
        .arg("--threads")
        .arg(load.threads.to_string())
        .arg("--ramp")
        .arg(load.ramp.to_string())
        .arg("--read-interval-ms")
        .arg(load.read_interval_ms.to_string())
        .arg("--json")
        .arg(&json_path);
    if let Some(http_port) = extra.http {
        cmd.arg("--http-flv")
            .arg(format!("http://127.0.0.1:{http_port}/live/bench.flv"));
    }
    if let Some(tls_port) = extra.tls {
        cmd.arg("--tls-port")
            .arg(tls_port.to_string())
            .arg("--tls-ca")
            .arg(dir.join("bench-cert.pem"));
    }
    let t0 = Instant::now();
    let mut loadtest = procs::spawn("rtmp-loadtest", cmd, load.loadtest, &log_path)?;
    let failed = |e: String, log: &Path| {
        format!(
            "{e}\n--- {}:\n{}",
            log.display(),
            procs::log_tail(log, 2000)
        )
    };

    let at = |s: f64| t0 + Duration::from_secs_f64(s);
    let sampled = (|| {
        procs::sleep_until(at(window_start), &mut [&mut server_guard, &mut loadtest])?;
        let out0 = SocketSample::take(delivery_port)?;
        let busy0 = procfs::system_busy_ticks();
        let s0 = Sample::take(server_guard.pid())?;
        let l0 = Sample::take(loadtest.pid())?;
        procs::sleep_until(at(window_end), &mut [&mut server_guard, &mut loadtest])?;
        let busy1 = procfs::system_busy_ticks();
        let s1 = Sample::take(server_guard.pid())?;
        let l1 = Sample::take(loadtest.pid())?;
        let out1 = SocketSample::take(delivery_port)?;
        let out = (out1.mbps_since(&out0), out1.sent_fallbacks);
        Ok::<_, String>((s0, s1, l0, l1, busy0.zip(busy1), out))
    })();
    let (s0, s1, l0, l1, busy, (out_mbps, sent_fallbacks)) =
        sampled.map_err(|e| failed(e, &log_path))?;
    let window_s = s1.at.duration_since(s0.at).as_secs_f64();
    let server_cpu_percent = s1.cpu_percent_since(&s0);
    let loadtest_cpu_percent = l1.cpu_percent_since(&l0);
    // Everything else the machine ran meanwhile (other builds, other tests): noise.
    let other_cpu_percent = busy.map(|(b0, b1)| {
        let all = b1.saturating_sub(b0) as f64 / procfs::clock_ticks_per_second() / window_s;
        (100.0 * all - server_cpu_percent - loadtest_cpu_percent).max(0.0)
    });

    let deadline = at(load.duration_s + load.players as f64 / load.ramp + 60.0);
    let status = loadtest
        .wait_until(deadline)
        .map_err(|e| failed(e, &log_path))?;
    if let Some(status) = server_guard.try_wait()? {
        return Err(format!("{} died during the run ({status})", server.name()));
    }
    drop(server_guard);
    let text = std::fs::read_to_string(&json_path).map_err(|e| {
        failed(
            format!("rtmp-loadtest exited ({status}) without its JSON report: {e}"),
            &log_path,
        )
    })?;
    let loadtest_json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: bad JSON: {e}", json_path.display()))?;
    let load_report: LoadReport = serde_json::from_value(loadtest_json.clone())
        .map_err(|e| format!("{}: unexpected JSON: {e}", json_path.display()))?;

    Ok(RunResult {
        server: server.name(),
        label: server.label(),
        write_merge_ms: match server {
            ServerKind::Edge { write_merge_ms, .. } => Some(write_merge_ms),
            ServerKind::Nginx => None,
        },
        io: server.io().map(|io| io.name()),
        players: load.players,
        repeat,
        window_s,
        server_cpu_percent,
        server_out_mbps: out_mbps,
        server_out_sent_fallbacks: sent_fallbacks,
        server_rss_mb: s1.rss_kib.map(|k| k as f64 / 1024.0),
        server_fds: (s0.fds, s1.fds),
        loadtest_cpu_percent,
        other_cpu_percent,
        load: load_report,
        loadtest_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(players: usize, duration_s: f64) -> Load {
        Load {
            players,
            duration_s,
            bitrate: "600k".into(),
            fps: 25.0,
            threads: 1,
            ramp: 1000.0,
            settle_s: 2.0,
            read_interval_ms: 0,
            server: Placement::default(),
            loadtest: Placement::default(),
        }
    }

    #[test]
    fn window_follows_the_ramp() {
        let (start, end) = load(4000, 20.0).window().unwrap();
        assert_eq!((start, end), (7.0, 19.5));
        let err = load(4000, 8.0).window().unwrap_err();
        assert!(err.contains("at least 11"), "{err}");
    }

    #[test]
    fn report_parses_with_missing_fields() {
        let text = r#"{"players_connected": 10, "latency_ms": {"p50": 1.5, "p99": 9.0},
            "delivered_mbps": 6.4, "errors": {"connect": 2}, "extra": true}"#;
        let r: LoadReport = serde_json::from_str(text).unwrap();
        assert_eq!(r.players_connected, 10);
        assert_eq!(r.latency_ms.p99, 9.0);
        assert_eq!(r.latency_ms.p999, 0.0);
        assert_eq!(r.errors["connect"], 2);
    }
}
