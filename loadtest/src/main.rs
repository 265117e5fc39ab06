//! rtmp-loadtest: fan-out latency load tester for any RTMP server (issue #3).
//!
//! Publishes a stream (synthetic H.264/AAC or an FLV file, every video frame stamped with its
//! scheduled send time in an SEI) and plays it back with many players spread over event-loop
//! threads, then reports latency, first-frame time, loss and throughput (stdout, and JSON
//! with `--json`). Progress goes to stderr once a second.
//!
//! Exit codes: 0 the run completed (even with errors counted), 1 the publisher could not
//! publish, 2 bad arguments.
mod aac;
mod cli;
mod clock;
mod h264;
mod http_flv;
mod report;
mod sei;
mod source;
mod stats;
mod tls;
mod worker;

use clap::Parser;
use cli::{Cli, Settings, SourceKind};
use clock::{now_ns, NS_PER_MS, NS_PER_SEC};
use report::{progress_line, Report, RunInfo};
use rtmp_edge::session::ClientConfig;
use source::{FileSource, Source, SyntheticConfig, SyntheticSource};
use stats::{histogram, ThreadStats};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use worker::{HttpFlvTarget, Plan, Shared};

fn main() -> ExitCode {
    let settings = match Cli::parse().into_settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rtmp-loadtest: {e}");
            return ExitCode::from(2);
        }
    };
    match run(settings) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rtmp-loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

fn resolve(authority: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{authority} has no address"))
}

fn open_source(settings: &Settings) -> Result<Source, String> {
    Ok(match &settings.source {
        SourceKind::Synthetic => {
            Source::Synthetic(Box::new(SyntheticSource::new(SyntheticConfig {
                video_bps: settings.bitrate,
                fps: settings.fps,
                gop_s: settings.gop_s,
            })))
        }
        SourceKind::File(path) => Source::File(FileSource::open(path).map_err(|e| e.to_string())?),
    })
}

fn run(settings: Settings) -> Result<ExitCode, String> {
    let addr = resolve(&settings.url.authority())?;
    let http_flv = match &settings.http_flv {
        Some((authority, path)) => Some(HttpFlvTarget {
            addr: resolve(authority)?,
            host: authority.clone(),
            path: path.clone(),
        }),
        None => None,
    };
    let source = if settings.publish {
        Some(open_source(&settings)?)
    } else {
        None
    };
    let bitrate_kbps = match (&settings.source, &source) {
        (SourceKind::File(_), Some(s)) => s.nominal_bps() as f64 / 1000.0,
        _ => settings.bitrate as f64 / 1000.0,
    };
    let fd_limit = worker::raise_fd_limit();
    if (settings.players as u64 + 64) > fd_limit {
        eprintln!(
            "rtmp-loadtest: warning: {} players but only {fd_limit} file descriptors",
            settings.players
        );
    }
    let url = &settings.url;
    let mut client = ClientConfig::new(&url.app, &url.tc_url());
    client.flash_ver = "LNX 9,0,124,2".to_string();
    // RTMPS players: the same host, its TLS port.
    let (player_addr, tls) = match settings.tls_port {
        Some(port) => {
            let plan = tls::TlsPlan::new(&settings.url.host, settings.tls_ca.as_deref())?;
            (SocketAddr::new(addr.ip(), port), Some(plan))
        }
        None => (addr, None),
    };
    let plan = Arc::new(Plan {
        addr,
        player_addr,
        tls,
        stream: url.stream.clone(),
        client,
        players: settings.players,
        threads: settings.threads,
        ramp: settings.ramp,
        duration_ns: (settings.duration_s * NS_PER_SEC as f64) as u64,
        publish: settings.publish,
        publish_delay_ns: settings.publish_delay_ms * NS_PER_MS,
        batch_ns: settings.batch_us * 1000,
        read_interval_ns: settings.read_interval_ms * NS_PER_MS,
        enhanced_players: settings.enhanced_players,
        http_flv,
    });
    let shared = Arc::new(Shared::new(plan.threads));
    if !plan.publish {
        shared.t0.store(now_ns(), Release);
    }
    let mut source = source;
    let handles: Vec<_> = (0..plan.threads)
        .map(|i| {
            let (plan, shared) = (plan.clone(), shared.clone());
            let src = if i == 0 { source.take() } else { None };
            std::thread::Builder::new()
                .name(format!("loadtest-{i}"))
                .spawn(move || worker::run_thread(i, plan, shared, src))
                .map_err(|e| format!("cannot start thread: {e}"))
        })
        .collect::<Result<_, _>>()?;

    watch_progress(&plan, &shared, &handles);

    let mut total = ThreadStats::default();
    for h in handles {
        match h.join() {
            Ok(stats) => total.merge(&stats),
            Err(_) => {
                eprintln!("rtmp-loadtest: a worker thread panicked");
                return Ok(ExitCode::from(1));
            }
        }
    }
    if plan.publish && !total.publisher.as_ref().is_some_and(|p| p.published) {
        let why = total.publisher.as_ref().and_then(|p| p.failure.clone());
        eprintln!(
            "rtmp-loadtest: could not publish: {}",
            why.unwrap_or_else(|| "unknown".into())
        );
        return Ok(ExitCode::from(1));
    }
    let info = RunInfo {
        players_requested: settings.players as u64,
        duration_s: settings.duration_s,
        bitrate_kbps,
        read_interval_ms: settings.read_interval_ms,
    };
    let report = Report::build(info, &total);
    print!("{}", report.summary());
    if let Some(path) = &settings.json {
        if let Err(e) = report::write_json(path, &report) {
            eprintln!("rtmp-loadtest: cannot write {}: {e}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the progress line every second until every thread returned.
fn watch_progress(plan: &Plan, shared: &Shared, threads: &[std::thread::JoinHandle<ThreadStats>]) {
    let mut last_bytes = 0u64;
    let mut second = 1u64;
    let mut recent = histogram();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        // is_finished also covers a thread that panicked.
        if threads.iter().all(|t| t.is_finished()) {
            return;
        }
        let t0 = shared.t0.load(Acquire);
        if t0 == 0 || now_ns() < t0 + second * NS_PER_SEC {
            continue;
        }
        let (mut up, mut bytes, mut lost, mut errors) = (0, 0, 0, 0);
        recent.reset();
        for slot in &shared.progress {
            if let Ok(mut s) = slot.lock() {
                up += s.players_up;
                bytes += s.payload_bytes;
                lost += s.lost;
                errors += s.errors;
                let _ = recent.add(&s.latency);
                s.latency.reset();
            }
        }
        let mbps = bytes.saturating_sub(last_bytes) as f64 * 8.0 / 1e6;
        last_bytes = bytes;
        let p99 = (!recent.is_empty()).then(|| recent.value_at_quantile(0.99) as f64 / 1000.0);
        eprintln!(
            "{}",
            progress_line(second, up, plan.players as u64, mbps, p99, lost, errors)
        );
        second += 1;
    }
}
