//! The plan of a benchmark from the command line: which runs, in which order (repeats
//! outermost, servers alternating within each), the load of each run, and the binaries
//! to start. Checks the flags' combinations; runs nothing.

use std::path::Path;

use crate::procs;
use crate::run::Load;
use crate::servers::{Binaries, Io, ServerKind};
use crate::Cli;

/// The runs to make, in order: repeats outermost so each repeat covers every point once.
pub fn plan(cli: &Cli) -> Result<Vec<(ServerKind, usize)>, String> {
    let edge = cli.only.as_deref() != Some("nginx-rtmp");
    let nginx = cli.only.as_deref() != Some("rtmp-edge");
    if let Some(only) = &cli.only {
        if edge && nginx {
            return Err(format!("--only {only}: expected rtmp-edge or nginx-rtmp"));
        }
    }
    if cli.players.is_empty() || cli.players.contains(&0) {
        return Err("--players needs one or more counts above 0".into());
    }
    // Side by side: every player count at one write-merge setting. Sweep: one player count at
    // every write-merge setting, with nginx-rtmp once as the reference.
    let (counts, merges): (&[usize], &[u32]) = if cli.sweep_write_merge.is_empty() {
        (&cli.players, std::slice::from_ref(&cli.write_merge_ms))
    } else {
        if cli.players.len() != 1 {
            return Err("--sweep-write-merge takes exactly one --players count".into());
        }
        (&cli.players, &cli.sweep_write_merge)
    };
    if cli.io.is_empty() {
        return Err("--io needs one or more of epoll, uring".into());
    }
    let mut drivers: Vec<Io> = Vec::new();
    for &io in &cli.io {
        if !drivers.contains(&io) {
            drivers.push(io);
        }
    }
    let adaptive_merge_max_ms = cli.adaptive_merge_max_ms;
    let show_merge = !cli.sweep_write_merge.is_empty();
    let mut once = Vec::new();
    for &players in counts {
        if edge || show_merge {
            for &io in &drivers {
                for &write_merge_ms in merges {
                    // Plain RTMP players, then HTTP-FLV and RTMPS players when asked for.
                    let kinds = [(false, false), (true, false), (false, true)];
                    for (http_flv, tls) in kinds
                        .into_iter()
                        .filter(|&(h, t)| (!h || cli.http_flv) && (!t || cli.tls))
                    {
                        let server =
                            ServerKind::edge(io, write_merge_ms, adaptive_merge_max_ms, show_merge)
                                .players_over(http_flv, tls);
                        once.push((server, players));
                    }
                }
            }
        }
        if nginx {
            once.push((ServerKind::Nginx, players));
        }
    }
    let runs: Vec<_> = (0..cli.repeat.max(1)).flat_map(|_| once.clone()).collect();
    Ok(runs)
}

/// The load of a run with `players` players, placed as the flags say.
pub fn load_for(cli: &Cli, players: usize) -> Load {
    let place = |core| procs::Placement {
        core: (!cli.no_pin).then_some(core),
        nice: (cli.nice != 0).then_some(cli.nice),
    };
    Load {
        players,
        duration_s: cli.duration,
        bitrate: cli.bitrate.clone(),
        fps: cli.fps,
        threads: cli.threads,
        ramp: cli.ramp,
        settle_s: cli.settle,
        read_interval_ms: cli.read_interval_ms,
        server: place(cli.server_core),
        loadtest: place(cli.loadtest_core),
    }
}

/// The binaries to run: the flags, or the ones next to rtmp-bench itself.
pub fn binaries(cli: &Cli) -> Result<Binaries, String> {
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let bins = Binaries {
        edge: cli
            .edge_bin
            .clone()
            .unwrap_or_else(|| here.join("rtmp-edge")),
        loadtest: cli
            .loadtest_bin
            .clone()
            .unwrap_or_else(|| here.join("rtmp-loadtest")),
        nginx: cli.nginx_bin.clone(),
    };
    for (what, path) in [
        ("--edge-bin", &bins.edge),
        ("--loadtest-bin", &bins.loadtest),
    ] {
        if !path.exists() {
            return Err(format!(
                "{what} {} does not exist; build first: cargo build --release -p rtmp-edge -p \
                 rtmp-loadtest",
                path.display()
            ));
        }
    }
    Ok(bins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("rtmp-bench").chain(args.iter().copied()))
    }

    fn edge(io: Io, write_merge_ms: u32, show_merge: bool) -> ServerKind {
        ServerKind::edge(io, write_merge_ms, 20, show_merge)
    }

    #[test]
    fn plan_alternates_servers_within_each_repeat() {
        let runs = plan(&cli(&["--players", "1000,2000", "--repeat", "2"])).unwrap();
        let edge = edge(Io::Epoll, 0, false);
        assert_eq!(
            runs,
            vec![
                (edge, 1000),
                (ServerKind::Nginx, 1000),
                (edge, 2000),
                (ServerKind::Nginx, 2000),
                (edge, 1000),
                (ServerKind::Nginx, 1000),
                (edge, 2000),
                (ServerKind::Nginx, 2000),
            ]
        );
    }

    #[test]
    fn plan_runs_edge_once_per_io_driver() {
        let c = cli(&[
            "--players",
            "1000",
            "--io",
            "epoll,uring",
            "--read-interval-ms",
            "200",
        ]);
        assert_eq!(c.read_interval_ms, 200);
        assert_eq!(load_for(&c, 1000).read_interval_ms, 200);
        let runs = plan(&c).unwrap();
        assert_eq!(
            runs,
            vec![
                (edge(Io::Epoll, 0, false), 1000),
                (edge(Io::Uring, 0, false), 1000),
                (ServerKind::Nginx, 1000),
            ]
        );
        let labels: Vec<String> = runs.iter().map(|(s, _)| s.label()).collect();
        assert_eq!(
            labels,
            ["rtmp-edge (epoll)", "rtmp-edge (uring)", "nginx-rtmp"]
        );
        // A driver named twice runs once.
        let twice = plan(&cli(&[
            "--players",
            "5",
            "--io",
            "uring,uring",
            "--only",
            "rtmp-edge",
        ]));
        assert_eq!(twice.unwrap(), vec![(edge(Io::Uring, 0, false), 5)]);
        assert!(Cli::try_parse_from(["rtmp-bench", "--io", "kqueue"]).is_err());
    }

    #[test]
    fn sweep_plan_has_one_nginx_reference_per_repeat() {
        let runs = plan(&cli(&["--players", "4000", "--sweep-write-merge", "0,50"])).unwrap();
        assert_eq!(
            runs,
            vec![
                (edge(Io::Epoll, 0, true), 4000),
                (edge(Io::Epoll, 50, true), 4000),
                (ServerKind::Nginx, 4000),
            ]
        );
        assert!(plan(&cli(&["--players", "1,2", "--sweep-write-merge", "0"])).is_err());
        assert!(plan(&cli(&["--only", "nginx"])).is_err());
        let only = plan(&cli(&["--only", "rtmp-edge", "--players", "5"])).unwrap();
        assert_eq!(only, vec![(edge(Io::Epoll, 0, false), 5)]);
    }
}
