//! From raw runs to what is printed: medians over repeats per (server, setting, players) point,
//! the side-by-side table, and the rtmp-edge / nginx-rtmp ratios.
//!
//! Pure functions over [`RunResult`]s: no I/O, so the tables are tested on made-up numbers.
//! Call order: [`points`] over all runs, then [`table`] and [`ratios`] (or `plot`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::run::RunResult;

/// Medians over the repeats of one (server, setting, players) point. Each column is the median
/// of that column, so a row may mix repeats.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// The server with its setting, as tables show it.
    pub label: String,
    pub server: &'static str,
    pub write_merge_ms: Option<u32>,
    /// rtmp-edge's I/O driver; None for nginx-rtmp.
    pub io: Option<&'static str>,
    pub players: usize,
    pub runs: usize,
    pub connected: f64,
    pub delivered_mbps: f64,
    /// Kernel `bytes_acked` of the server's sockets over the window (see `sockets`).
    pub server_out_mbps: f64,
    pub cpu_percent: f64,
    pub cpu_per_gbps: f64,
    pub rss_mb: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub first_frame_p50_ms: f64,
    pub frames_lost: f64,
    pub disconnects: f64,
    pub loadtest_cpu_percent: f64,
    pub other_cpu_percent: f64,
}

impl Point {
    pub fn label(&self) -> String {
        self.label.clone()
    }
}

/// The median of the finite values (NaN if there are none); the mean of the middle two for
/// an even count.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Groups runs by (server, write-merge, players), in the order the points first appear.
pub fn points(runs: &[RunResult]) -> Vec<Point> {
    let mut keys: Vec<(&str, Option<u32>, usize)> = Vec::new();
    for r in runs {
        let key = (r.label.as_str(), r.write_merge_ms, r.players);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(label, write_merge_ms, players)| {
            let group: Vec<&RunResult> = runs
                .iter()
                .filter(|r| {
                    (r.label.as_str(), r.write_merge_ms, r.players)
                        == (label, write_merge_ms, players)
                })
                .collect();
            let m = |f: &dyn Fn(&RunResult) -> f64| median(group.iter().map(|r| f(r)));
            Point {
                server: group[0].server,
                label: label.to_string(),
                write_merge_ms,
                io: group[0].io,
                players,
                runs: group.len(),
                connected: m(&|r| r.load.players_connected as f64),
                delivered_mbps: m(&|r| r.load.delivered_mbps),
                server_out_mbps: m(&|r| r.server_out_mbps.unwrap_or(f64::NAN)),
                cpu_percent: m(&|r| r.server_cpu_percent),
                cpu_per_gbps: m(&|r| r.cpu_per_gbps()),
                rss_mb: m(&|r| r.server_rss_mb.unwrap_or(f64::NAN)),
                p50_ms: m(&|r| r.load.latency_ms.p50),
                p99_ms: m(&|r| r.load.latency_ms.p99),
                p999_ms: m(&|r| r.load.latency_ms.p999),
                first_frame_p50_ms: m(&|r| r.load.first_frame_ms.p50),
                frames_lost: m(&|r| r.load.frames_lost as f64),
                disconnects: m(&|r| r.load.disconnects as f64),
                loadtest_cpu_percent: m(&|r| r.loadtest_cpu_percent),
                other_cpu_percent: m(&|r| r.other_cpu_percent.unwrap_or(f64::NAN)),
            }
        })
        .collect()
}

fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}

const HEADER: [&str; 16] = [
    "server",
    "players",
    "conn",
    "deliv Mbps",
    "acked Mbps",
    "CPU %",
    "CPU%/Gbps",
    "RSS MB",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "1st p50 ms",
    "lost",
    "disc",
    "LT CPU %",
    "other CPU %",
];

/// The side-by-side table, one row per point, as GitHub markdown.
pub fn table(points: &[Point]) -> String {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                p.label(),
                p.players.to_string(),
                num(p.connected, 0),
                num(p.delivered_mbps, 1),
                num(p.server_out_mbps, 1),
                num(p.cpu_percent, 1),
                num(p.cpu_per_gbps, 1),
                num(p.rss_mb, 1),
                num(p.p50_ms, 1),
                num(p.p99_ms, 1),
                num(p.p999_ms, 1),
                num(p.first_frame_p50_ms, 1),
                num(p.frames_lost, 0),
                num(p.disconnects, 0),
                num(p.loadtest_cpu_percent, 0),
                num(p.other_cpu_percent, 0),
            ]
        })
        .collect();
    markdown(&HEADER, &rows)
}

/// rtmp-edge / nginx-rtmp at each player count (below 1 means rtmp-edge is better). With
/// several rtmp-edge settings at one player count (a sweep), each gets its own row.
pub fn ratios(points: &[Point]) -> String {
    let mut rows = Vec::new();
    for edge in points.iter().filter(|p| p.server == "rtmp-edge") {
        let Some(nginx) = points
            .iter()
            .find(|p| p.server == "nginx-rtmp" && p.players == edge.players)
        else {
            continue;
        };
        rows.push(vec![
            edge.label(),
            edge.players.to_string(),
            num(edge.cpu_per_gbps / nginx.cpu_per_gbps, 2),
            num(edge.p99_ms / nginx.p99_ms, 2),
            num(edge.cpu_percent / nginx.cpu_percent, 2),
            num(edge.rss_mb / nginx.rss_mb, 2),
        ]);
    }
    markdown(
        &[
            "rtmp-edge / nginx-rtmp",
            "players",
            "CPU per Gbps",
            "p99 latency",
            "CPU %",
            "RSS",
        ],
        &rows,
    )
}

fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        out.push('|');
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            // First column (names) left-aligned, numbers right-aligned.
            if i == 0 {
                let _ = write!(out, " {cell:<w$} |");
            } else {
                let _ = write!(out, " {cell:>w$} |");
            }
        }
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        let dashes = "-".repeat(*w);
        if i == 0 {
            let _ = write!(out, " {dashes} |");
        } else {
            let _ = write!(out, " {}: |", &dashes[1..]);
        }
    }
    out.push('\n');
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::run::{LoadReport, RunResult};

    /// A made-up run: CPU and p99 as given, 600 Mbit/s written.
    pub(crate) fn fake(
        server: &'static str,
        wm: Option<u32>,
        players: usize,
        cpu: f64,
        p99: f64,
    ) -> RunResult {
        let mut load = LoadReport {
            players_connected: players as u64,
            delivered_mbps: 590.0,
            ..Default::default()
        };
        load.latency_ms.p50 = p99 / 3.0;
        load.latency_ms.p99 = p99;
        load.latency_ms.p999 = p99 * 1.5;
        load.first_frame_ms.p50 = 20.0;
        RunResult {
            server,
            label: match wm {
                Some(wm) => format!("{server} wm={wm}"),
                None => server.to_string(),
            },
            write_merge_ms: wm,
            io: None,
            players,
            repeat: 0,
            window_s: 12.5,
            server_cpu_percent: cpu,
            server_out_mbps: Some(600.0),
            server_out_sent_fallbacks: 0,
            server_rss_mb: Some(50.0),
            server_fds: (Some(players + 5), Some(players + 5)),
            loadtest_cpu_percent: 70.0,
            other_cpu_percent: Some(2.0),
            load,
            loadtest_json: serde_json::Value::Null,
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median([f64::NAN, 5.0]), 5.0);
        assert!(median([]).is_nan());
    }

    #[test]
    fn points_take_medians_per_server_and_players() {
        let runs = vec![
            fake("rtmp-edge", Some(0), 1000, 30.0, 10.0),
            fake("nginx-rtmp", None, 1000, 60.0, 40.0),
            fake("rtmp-edge", Some(0), 1000, 36.0, 12.0),
            fake("nginx-rtmp", None, 1000, 66.0, 30.0),
            fake("rtmp-edge", Some(0), 1000, 33.0, 99.0),
            fake("nginx-rtmp", None, 1000, 63.0, 35.0),
        ];
        let pts = points(&runs);
        assert_eq!(pts.len(), 2);
        assert_eq!(
            (pts[0].label().as_str(), pts[0].runs),
            ("rtmp-edge wm=0", 3)
        );
        assert_eq!(pts[0].cpu_percent, 33.0);
        assert_eq!(pts[0].p99_ms, 12.0);
        assert_eq!(pts[0].cpu_per_gbps, 55.0); // 33 % / 0.6 Gbps
        assert_eq!(pts[1].cpu_per_gbps, 105.0);

        let t = table(&pts);
        assert!(t.lines().count() == 4, "{t}");
        assert!(t.contains("| rtmp-edge wm=0 |"), "{t}");
        assert!(t.contains("55.0"), "{t}");
        let r = ratios(&pts);
        assert!(r.contains("0.52"), "CPU per Gbps ratio 55/105 in\n{r}");
        assert!(r.contains("0.34"), "p99 ratio 12/35 in\n{r}");
    }

    #[test]
    fn missing_values_print_as_dashes() {
        let mut run = fake("nginx-rtmp", None, 10, 1.0, 1.0);
        run.server_rss_mb = None;
        let t = table(&points(&[run]));
        assert!(t.contains(" - |"), "{t}");
        assert_eq!(ratios(&[]).lines().count(), 2);
    }
}
