//! rtmp-bench: rtmp-edge and nginx-rtmp side by side under the same rtmp-loadtest load
//! (issue #3), reported as one table of medians and rtmp-edge / nginx-rtmp ratios; rtmp-edge
//! once per I/O driver given with `--io` (`epoll`, `uring`).
//!
//! # What it does
//!
//! For each point (server, players) and each repeat it starts the server on a free port of
//! 127.0.0.1, pinned to the server core (default 0), runs `rtmp-loadtest` (which publishes a
//! synthetic stream and plays it with N players) pinned to the other core (default 1), and
//! measures the server over the steady window after the player ramp: CPU (utime + stime from
//! /proc/PID/stat, all threads), what its sockets delivered (`bytes_acked` from `ss -tin`, or
//! `bytes_sent` for a connection the kernel gives no `bytes_acked` for), VmRSS at the window's
//! end. The load tester's JSON gives latency, first-frame time and loss. Runs
//! alternate between the servers so slow drifts of the machine hit both alike; every column
//! of the table is a median over `--repeat` runs.
//!
//! - rtmp-edge: `--shards 1 --io DRIVER` (each of `--io`, default `epoll`; rows
//!   `rtmp-edge (epoll)`, `rtmp-edge (uring)`, each with its own ratios to nginx-rtmp),
//!   generated config: chunk_size 4096, `write_merge_ms` as given.
//! - `--tls`: rtmp-edge once more per driver with its players over RTMPS (a TLS listener,
//!   a self-signed certificate made per run that the load tester trusts with `--tls-ca`;
//!   the publisher stays plain), rows `rtmp-edge (DRIVER) TLS`: the CPU per delivered Gbps
//!   of TLS next to plain RTMP.
//! - Players read as data comes, or in bursts with `--read-interval-ms N` (passed to the load
//!   tester, shown in the table's title).
//! - nginx-rtmp (Debian `libnginx-mod-rtmp`): `daemon off; master_process off;` so the pid is
//!   the worker, `worker_processes 1`, `chunk_size 4096`, `application live { live on; }`,
//!   everything under the run's work directory.
//!
//! Never builds anything, never talks to anything but 127.0.0.1, kills every child on exit
//! (error, panic, Ctrl-C; PR_SET_PDEATHSIG if it is killed itself), and bounds every run:
//! a load tester still running a minute after its expected end is killed.
//!
//! # Commands
//!
//! ```text
//! apt-get install nginx-light libnginx-mod-rtmp fonts-dejavu-core iproute2
//! CARGO_TARGET_DIR=target cargo build --release -p rtmp-edge -p rtmp-loadtest
//! # side by side at 1000, 2000 and 4000 players, 3 runs per point (about 10 minutes):
//! target/release/rtmp-bench --players 1000,2000,4000 --bitrate 600k --duration 20 --repeat 3 \
//!     --json bench.json
//! # write-merge sweep at 4000 players, rtmp-edge only, nginx-rtmp as the reference line:
//! target/release/rtmp-bench --players 4000 --sweep-write-merge 0,10,50,100,350 \
//!     --duration 20 --repeat 3 --plot sweep.png --json sweep.json
//! ```
//!
//! `--edge-bin` / `--loadtest-bin` default to the binaries next to rtmp-bench itself and
//! `--nginx-bin` to /usr/sbin/nginx. On a shared machine: before each run rtmp-bench waits
//! (`--wait-quiet`, up to 180 s) until other work is under 15% of a core, runs the server and
//! the load tester at nice -10 (`--nice`), and makes a run again (up to `--noisy-retries` 2
//! times) when other processes took over 25% of a core during its window. The `other CPU %`
//! column shows what else ran during each window (a build, say); `LT CPU %` near 100 means
//! the load tester, not the server, set the latency figures. A server near 100% `CPU %` is
//! saturated: rtmp-edge then writes bigger batches per syscall, so CPU per Gbps compares best
//! below saturation.
//!
//! # Columns
//!
//! `conn` players connected; `deliv Mbps` media payload received by all players over the load
//! tester's whole run (ramp included); `acked Mbps` what the server's sockets delivered during
//! the steady window, by the kernel's `bytes_acked` (RTMP framing included, TCP/IP headers
//! not); `CPU %` server CPU in the window, in % of one core; `CPU%/Gbps` CPU % / (acked Mbps
//! / 1000); `p50/p99/p99.9 ms`
//! end-to-end frame latency (publisher's send schedule to the player's kernel receive
//! timestamp); `1st p50 ms` play to first frame; `lost` frames lost over all players; `disc`
//! disconnects; `LT CPU %` the load tester's CPU in the window.

mod plan;
mod plot;
mod procfs;
mod procs;
mod report;
mod run;
mod servers;
mod sockets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use plan::{binaries, load_for, plan};
use report::Point;
use run::{Load, RunResult};
use servers::{Io, ServerKind};

/// rtmp-edge versus nginx-rtmp under rtmp-loadtest, on loopback, one core each.
#[derive(Debug, Parser)]
#[command(name = "rtmp-bench", version, about)]
struct Cli {
    /// Player counts, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000")]
    players: Vec<usize>,
    /// Seconds each load tester runs, counted from the start of its players.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Video bitrate of the published stream (rtmp-loadtest --bitrate).
    #[arg(long, default_value = "600k")]
    bitrate: String,
    #[arg(long, default_value_t = 25.0)]
    fps: f64,
    /// Players started per second.
    #[arg(long, default_value_t = 1000.0)]
    ramp: f64,
    /// Seconds after the ramp before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Load tester threads (all pinned to the load tester core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// rtmp-edge's I/O drivers, comma separated (`epoll`, `uring`): rtmp-edge runs once per
    /// driver (`--io DRIVER`), side by side with nginx-rtmp.
    #[arg(long, value_delimiter = ',', default_value = "epoll", value_parser = Io::parse)]
    io: Vec<Io>,
    /// Players read in bursts this far apart (rtmp-loadtest --read-interval-ms; 0: as data
    /// comes).
    #[arg(long, default_value_t = 0)]
    read_interval_ms: u64,
    /// Runs per point; the table shows medians.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// rtmp-edge's play.write_merge_ms in the side-by-side runs.
    #[arg(long, default_value_t = 0)]
    write_merge_ms: u32,
    /// rtmp-edge's play.adaptive_merge_max_ms (acts only with write_merge_ms 0; 0 = off).
    /// The default is rtmp-edge's own default.
    #[arg(long, default_value_t = 20)]
    adaptive_merge_max_ms: u32,
    /// Instead of the side-by-side runs: rtmp-edge at each of these write_merge_ms values (one
    /// player count), with nginx-rtmp once per repeat as the reference.
    #[arg(long, value_delimiter = ',')]
    sweep_write_merge: Vec<u32>,
    /// PNG of the sweep: CPU per Gbps and p99 latency versus write_merge_ms.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Font for the plot's text.
    #[arg(long, default_value = plot::DEFAULT_FONT)]
    font: PathBuf,
    /// All raw runs and the medians as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also run rtmp-edge with HTTP-FLV players (rows `rtmp-edge (DRIVER) http-flv`), side by
    /// side with its RTMP players: the publisher publishes over RTMP, the players GET
    /// /live/bench.flv from the shards' HTTP listener.
    #[arg(long)]
    http_flv: bool,
    /// Only this server: rtmp-edge or nginx-rtmp.
    #[arg(long)]
    only: Option<String>,
    #[arg(long)]
    edge_bin: Option<PathBuf>,
    #[arg(long)]
    loadtest_bin: Option<PathBuf>,
    #[arg(long, default_value = "/usr/sbin/nginx")]
    nginx_bin: PathBuf,
    /// Core for the server.
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    /// Core for the load tester.
    #[arg(long, default_value_t = 1)]
    loadtest_core: usize,
    /// Do not pin the processes to cores.
    #[arg(long)]
    no_pin: bool,
    /// Nice value of the server and the load tester (both alike), so that other work on a
    /// shared machine takes little of their cores; 0 leaves the priority alone.
    #[arg(long, default_value_t = -10, allow_negative_numbers = true)]
    nice: i32,
    /// Configs, logs and load tester reports go here (default: a fresh temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work directory after a successful run (it is always kept after a failure).
    #[arg(long)]
    keep_work_dir: bool,
    /// Before each run, wait up to this many seconds for the machine to be quiet (other
    /// processes busy below --quiet-percent); then run anyway and let `other CPU %` show it.
    #[arg(long, default_value_t = 180.0)]
    wait_quiet: f64,
    /// Busy CPU (% of one core, all cores summed) below which the machine counts as quiet.
    #[arg(long, default_value_t = 15.0)]
    quiet_percent: f64,
    /// A run during which other processes used more than this (% of one core) is noisy...
    #[arg(long, default_value_t = 25.0)]
    max_other_percent: f64,
    /// ...and is made again up to this many times (the last try is kept whatever it shows;
    /// the discarded ones are in the JSON).
    #[arg(long, default_value_t = 2)]
    noisy_retries: usize,
    /// Also run rtmp-edge with its players over RTMPS (a TLS listener with a certificate made
    /// per run; the publisher stays plain), side by side with the plain runs: rows
    /// `rtmp-edge (DRIVER) TLS`.
    #[arg(long)]
    tls: bool,
    /// Refuse plans expected to take longer than this many minutes.
    #[arg(long, default_value_t = 60.0)]
    max_minutes: f64,
}

#[derive(Serialize)]
struct Output<'a> {
    loads: &'a [Load],
    runs: &'a [RunResult],
    /// Runs made again because other work disturbed them.
    discarded: &'a [RunResult],
    points: &'a [Point],
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    procs::install_interrupt_handler();
    match bench(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtmp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(cli: &Cli) -> Result<(), String> {
    let runs_planned = plan(cli)?;
    let bins = binaries(cli)?;
    let needs_nginx = runs_planned.iter().any(|(s, _)| *s == ServerKind::Nginx);
    if needs_nginx && !Path::new(servers::NGINX_RTMP_MODULE).exists() {
        return Err(format!(
            "{} is missing: apt-get install libnginx-mod-rtmp (or --only rtmp-edge)",
            servers::NGINX_RTMP_MODULE
        ));
    }
    let mut loads: Vec<Load> = Vec::new();
    let mut minutes = 0.0;
    for &(_, players) in &runs_planned {
        let load = load_for(cli, players);
        load.window()?;
        // Server start, the run, the drain and the shutdown.
        minutes += (cli.duration + 8.0) / 60.0;
        if !loads.iter().any(|l| l.players == players) {
            loads.push(load);
        }
    }
    if minutes > cli.max_minutes {
        return Err(format!(
            "{} runs would take about {minutes:.0} minutes, more than --max-minutes {}",
            runs_planned.len(),
            cli.max_minutes
        ));
    }
    let nofile = procs::raise_nofile_limit();
    let max_players = cli.players.iter().copied().max().unwrap_or(0);
    if (max_players as u64) + 100 > nofile {
        return Err(format!(
            "{max_players} players need more than the open-file limit {nofile} allows"
        ));
    }
    let work = cli
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("rtmp-bench-{}", std::process::id())));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    eprintln!(
        "rtmp-bench: {} runs, about {minutes:.0} min; work dir {}",
        runs_planned.len(),
        work.display()
    );

    let mut results = Vec::new();
    let mut discarded = Vec::new();
    for (i, &(server, players)) in runs_planned.iter().enumerate() {
        let load = load_for(cli, players);
        let repeat = i / (runs_planned.len() / cli.repeat.max(1)).max(1);
        for attempt in 0..=cli.noisy_retries {
            wait_quiet(cli)?;
            let tag: String = server
                .label()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let dir = work.join(format!("{i:03}-{tag}-{players}-{attempt}"));
            eprint!(
                "[{}/{}] {} {players} players, repeat {}: ",
                i + 1,
                runs_planned.len(),
                server.label(),
                repeat + 1
            );
            let r = run::run_once(server, &load, &bins, &dir, repeat, nofile).map_err(|e| {
                format!(
                    "{} with {players} players: {e}\n(logs in {})",
                    server.label(),
                    dir.display()
                )
            })?;
            eprintln!(
                "CPU {:.1}%  acked {:.0} Mbps  p99 {:.1} ms  connected {}  lost {}  LT CPU {:.0}%  \
                 other {:.0}%",
                r.server_cpu_percent,
                r.rate_mbps(),
                r.load.latency_ms.p99,
                r.load.players_connected,
                r.load.frames_lost,
                r.loadtest_cpu_percent,
                r.other_cpu_percent.unwrap_or(f64::NAN),
            );
            let noisy = r.other_cpu_percent.unwrap_or(0.0) > cli.max_other_percent;
            if noisy && attempt < cli.noisy_retries {
                eprintln!("  other work took the machine during the window: run again");
                discarded.push(r);
                continue;
            }
            results.push(r);
            break;
        }
    }

    let points = report::points(&results);
    println!();
    let reading = match cli.read_interval_ms {
        0 => "players read as data comes".to_string(),
        ms => format!("players read in bursts {ms} ms apart"),
    };
    let merge = if cli.sweep_write_merge.is_empty() {
        format!(
            "; rtmp-edge write_merge_ms {}, adaptive_merge_max_ms {}",
            cli.write_merge_ms, cli.adaptive_merge_max_ms
        )
    } else {
        String::new()
    };
    println!(
        "rtmp-bench: {} bitrate, {} fps, {} s per run, ramp {}/s, {reading}{merge}, medians of \
         {} run(s); server on core {}, load tester on core {}, nice {}",
        cli.bitrate,
        cli.fps,
        cli.duration,
        cli.ramp,
        cli.repeat.max(1),
        if cli.no_pin {
            "any".into()
        } else {
            cli.server_core.to_string()
        },
        if cli.no_pin {
            "any".into()
        } else {
            cli.loadtest_core.to_string()
        },
        cli.nice,
    );
    println!();
    print!("{}", report::table(&points));
    println!();
    print!("{}", report::ratios(&points));
    let busy_lt = points.iter().any(|p| p.loadtest_cpu_percent > 90.0);
    let noisy = points.iter().any(|p| p.other_cpu_percent > 10.0);
    if busy_lt {
        println!("\nnote: the load tester used over 90% of its core: latency may be its own.");
    }
    if noisy {
        println!("\nnote: other processes used over 10% CPU during some windows: noisy figures.");
    }
    if results.iter().any(|r| r.server_out_sent_fallbacks > 0) {
        println!(
            "\nnote: the kernel gave no bytes_acked for some connections: acked Mbps counts \
             their bytes_sent."
        );
    }

    if let Some(path) = &cli.plot {
        if cli.sweep_write_merge.is_empty() {
            eprintln!("rtmp-bench: --plot is drawn for --sweep-write-merge only; skipped");
        } else {
            let (nginx, edge): (Vec<Point>, Vec<Point>) = points
                .iter()
                .cloned()
                .partition(|p| p.server == "nginx-rtmp");
            // One line per I/O driver.
            let mut lines: Vec<(String, Vec<Point>)> = Vec::new();
            for p in edge {
                let name = format!("rtmp-edge ({})", p.io.unwrap_or("-"));
                match lines.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, line)) => line.push(p),
                    None => lines.push((name, vec![p])),
                }
            }
            plot::sweep_png(path, &cli.font, cli.players[0], &lines, nginx.first())?;
            eprintln!("rtmp-bench: plot written to {}", path.display());
        }
    }
    if let Some(path) = &cli.json {
        let out = Output {
            loads: &loads,
            runs: &results,
            discarded: &discarded,
            points: &points,
        };
        let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("rtmp-bench: raw results written to {}", path.display());
    }
    if !cli.keep_work_dir && cli.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// Waits (up to --wait-quiet) until other work on the machine, e.g. someone's build, ends.
fn wait_quiet(cli: &Cli) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(cli.wait_quiet);
    let mut said = false;
    loop {
        procs::check_interrupt()?;
        let busy = procfs::busy_percent_over(std::time::Duration::from_secs(2)).unwrap_or(0.0);
        if busy < cli.quiet_percent {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            eprintln!("(machine still {busy:.0}% busy; running anyway) ");
            return Ok(());
        }
        if !said {
            eprint!("(waiting for the machine to be quiet: {busy:.0}% busy) ");
            said = true;
        }
    }
}
