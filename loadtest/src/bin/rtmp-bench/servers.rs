//! The two servers under test and how each is started: rtmp-edge with one shard, a generated
//! config and `--io epoll|uring` (its I/O driver), nginx-rtmp (Debian's libnginx-mod-rtmp) as
//! one process that is its own worker.
//!
//! Writes the config files into the run's work directory and starts the server through
//! `procs::spawn`, pinned to the server core, listening on 127.0.0.1 only. Call order:
//! [`ServerKind::start`], which returns once the port accepts connections.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::procs::{self, Guard, Placement};

/// The chunk size both servers send with, so their wire bytes are comparable.
pub const CHUNK_SIZE: u32 = 4096;
/// The nginx-rtmp module as Debian installs it.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// rtmp-edge's I/O driver (its `--io` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Io {
    Epoll,
    Uring,
}

impl Io {
    pub fn name(self) -> &'static str {
        match self {
            Io::Epoll => "epoll",
            Io::Uring => "uring",
        }
    }

    /// For clap: `epoll` or `uring`.
    pub fn parse(s: &str) -> Result<Io, String> {
        match s.trim() {
            "epoll" => Ok(Io::Epoll),
            "uring" => Ok(Io::Uring),
            other => Err(format!("unknown I/O driver {other:?}: epoll or uring")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `adaptive_merge_max_ms` only acts with `write_merge_ms` 0 (rtmp-edge's default: 20).
    /// `show_merge`: the label names the merge setting (in a sweep, where it varies).
    /// `http_flv`: the players play HTTP-FLV from the shards' HTTP listener (`--http-play`)
    /// instead of RTMP; the publisher publishes over RTMP either way.
    Edge {
        io: Io,
        write_merge_ms: u32,
        adaptive_merge_max_ms: u32,
        show_merge: bool,
        /// Players play HTTP-FLV from an HTTP listener.
        http_flv: bool,
        /// RTMPS: players play from a TLS listener (the publisher stays plain).
        tls: bool,
    },
    Nginx,
}

/// The listeners players use besides the RTMP port: HTTP-FLV, RTMPS.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlayerPorts {
    pub http: Option<u16>,
    pub tls: Option<u16>,
}

/// Where the server binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub edge: PathBuf,
    pub nginx: PathBuf,
    pub loadtest: PathBuf,
}

impl ServerKind {
    /// rtmp-edge on driver `io` with these merge settings, its players on RTMP.
    pub fn edge(
        io: Io,
        write_merge_ms: u32,
        adaptive_merge_max_ms: u32,
        show_merge: bool,
    ) -> ServerKind {
        ServerKind::Edge {
            io,
            write_merge_ms,
            adaptive_merge_max_ms,
            show_merge,
            http_flv: false,
            tls: false,
        }
    }

    /// The same server with its players on HTTP-FLV or RTMPS (nginx-rtmp: unchanged).
    pub fn players_over(mut self, http: bool, over_tls: bool) -> ServerKind {
        if let ServerKind::Edge { http_flv, tls, .. } = &mut self {
            (*http_flv, *tls) = (http, over_tls);
        }
        self
    }

    pub fn name(&self) -> &'static str {
        match self {
            ServerKind::Edge { .. } => "rtmp-edge",
            ServerKind::Nginx => "nginx-rtmp",
        }
    }

    /// The name with its driver (and in a sweep its merge setting), for tables and logs:
    /// `rtmp-edge (epoll)`, `rtmp-edge (uring) wm=50`.
    pub fn label(&self) -> String {
        match *self {
            ServerKind::Edge {
                io,
                write_merge_ms,
                adaptive_merge_max_ms,
                show_merge,
                http_flv,
                tls,
            } => {
                let protocol = match (http_flv, tls) {
                    (true, _) => " http-flv",
                    (false, true) => " TLS",
                    (false, false) => "",
                };
                let name = format!("rtmp-edge ({}){protocol}", io.name());
                match (show_merge, write_merge_ms) {
                    (false, _) => name,
                    (true, 0) if adaptive_merge_max_ms > 0 => {
                        format!("{name} adaptive<={adaptive_merge_max_ms}")
                    }
                    (true, wm) => format!("{name} wm={wm}"),
                }
            }
            ServerKind::Nginx => "nginx-rtmp".into(),
        }
    }

    /// Whether the players play HTTP-FLV.
    pub fn http_flv(&self) -> bool {
        matches!(self, ServerKind::Edge { http_flv: true, .. })
    }

    /// Whether players play over RTMPS (rtmp-edge with a TLS listener).
    pub fn tls(&self) -> bool {
        matches!(self, ServerKind::Edge { tls: true, .. })
    }

    /// rtmp-edge's I/O driver; None for nginx-rtmp.
    pub fn io(&self) -> Option<Io> {
        match self {
            ServerKind::Edge { io, .. } => Some(*io),
            ServerKind::Nginx => None,
        }
    }

    /// Writes the config into `dir`, starts the server on `port` (and the player listeners
    /// of `extra`) placed as `place` says, and waits until it listens. `nofile` is the
    /// open-file limit the children inherit. With `extra.tls`, rtmp-edge also listens for
    /// RTMPS there with the certificate of [`bench_cert`].
    pub fn start(
        &self,
        bins: &Binaries,
        dir: &Path,
        port: u16,
        extra: PlayerPorts,
        place: Placement,
        nofile: u64,
    ) -> Result<Guard, String> {
        let write = |name: &str, text: String| -> Result<PathBuf, String> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(path)
        };
        let (mut cmd, log) = match *self {
            ServerKind::Edge {
                io,
                write_merge_ms,
                adaptive_merge_max_ms,
                ..
            } => {
                let text = edge_config(port, write_merge_ms, adaptive_merge_max_ms);
                let config = write("rtmp-edge.toml", text)?;
                let mut cmd = Command::new(&bins.edge);
                cmd.arg("--listen")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--shards")
                    .arg("1")
                    .arg("--config")
                    .arg(&config)
                    .arg("--io")
                    .arg(io.name());
                if let Some(http_port) = extra.http {
                    cmd.arg("--http-play").arg(format!("127.0.0.1:{http_port}"));
                }
                if let Some(tls_port) = extra.tls {
                    let (cert, key) = bench_cert(dir)?;
                    cmd.arg("--tls-listen")
                        .arg(format!("127.0.0.1:{tls_port}"))
                        .arg("--tls-cert")
                        .arg(cert)
                        .arg("--tls-key")
                        .arg(key);
                }
                (cmd, dir.join("rtmp-edge.log"))
            }
            ServerKind::Nginx => {
                std::fs::create_dir_all(dir.join("logs")).map_err(|e| e.to_string())?;
                let config = write("nginx.conf", nginx_config(dir, port, nofile))?;
                let mut cmd = Command::new(&bins.nginx);
                cmd.arg("-p")
                    .arg(dir)
                    .arg("-e")
                    .arg(dir.join("error.log"))
                    .arg("-c")
                    .arg(&config);
                (cmd, dir.join("nginx.log"))
            }
        };
        cmd.current_dir(dir);
        let mut guard = procs::spawn(self.name(), cmd, place, &log)?;
        if let Err(e) = procs::wait_for_port(port, &mut guard) {
            return Err(format!("{e}\n{}", procs::log_tail(&log, 2000)));
        }
        Ok(guard)
    }
}

/// A self-signed certificate for 127.0.0.1 (rcgen), written as `bench-cert.pem` and
/// `bench-key.pem` in `dir`: the server presents it, the load tester trusts it (`--tls-ca`).
pub fn bench_cert(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .map_err(|e| format!("certificate: {e}"))?;
    let (cert, key) = (dir.join("bench-cert.pem"), dir.join("bench-key.pem"));
    for (path, text) in [
        (&cert, generated.cert.pem()),
        (&key, generated.key_pair.serialize_pem()),
    ] {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok((cert, key))
}

/// rtmp-edge settings matching nginx-rtmp's: one shard, chunk size 4096, loopback only.
pub fn edge_config(port: u16, write_merge_ms: u32, adaptive_merge_max_ms: u32) -> String {
    format!(
        "# Generated by rtmp-bench.\n\
         [server]\n\
         listen = [\"127.0.0.1:{port}\"]\n\
         shards = 1\n\
         pin_shards = false\n\
         max_connections = 20000\n\
         chunk_size = {CHUNK_SIZE}\n\
         \n\
         [play]\n\
         write_merge_ms = {write_merge_ms}\n\
         adaptive_merge_max_ms = {adaptive_merge_max_ms}\n\
         \n\
         [log]\n\
         level = \"warn\"\n"
    )
}

/// nginx-rtmp in one process (`master_process off`: the pid we start is the worker that does
/// the work, so its /proc figures are the server's), chunk size 4096, loopback only, every
/// path under `dir`.
pub fn nginx_config(dir: &Path, port: u16, nofile: u64) -> String {
    let dir = dir.display();
    let connections = nofile.saturating_sub(64).clamp(1024, 65_536);
    format!(
        "# Generated by rtmp-bench.\n\
         load_module {NGINX_RTMP_MODULE};\n\
         daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         worker_rlimit_nofile {nofile};\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{ worker_connections {connections}; }}\n\
         rtmp {{\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       chunk_size {CHUNK_SIZE};\n\
         \x20       access_log off;\n\
         \x20       application live {{ live on; }}\n\
         \x20   }}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_config_is_one_process_on_loopback() {
        let text = nginx_config(Path::new("/tmp/x"), 19350, 20000);
        for needle in [
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;",
            "daemon off;",
            "master_process off;",
            "worker_processes 1;",
            "listen 127.0.0.1:19350;",
            "chunk_size 4096;",
            "application live { live on; }",
            "pid /tmp/x/nginx.pid;",
            "worker_connections 19936;",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    #[test]
    fn edge_config_matches() {
        let text = edge_config(1935, 50, 0);
        assert!(text.contains("listen = [\"127.0.0.1:1935\"]"));
        assert!(text.contains("shards = 1"));
        assert!(text.contains("chunk_size = 4096"));
        assert!(text.contains("write_merge_ms = 50"));
    }

    #[test]
    fn labels() {
        let edge = ServerKind::edge;
        assert_eq!(edge(Io::Epoll, 0, 20, false).label(), "rtmp-edge (epoll)");
        assert_eq!(edge(Io::Uring, 50, 20, false).label(), "rtmp-edge (uring)");
        assert_eq!(
            edge(Io::Epoll, 10, 0, true).label(),
            "rtmp-edge (epoll) wm=10"
        );
        assert_eq!(
            edge(Io::Uring, 0, 20, true).label(),
            "rtmp-edge (uring) adaptive<=20"
        );
        assert_eq!(ServerKind::Nginx.label(), "nginx-rtmp");
        let with = |http_flv, tls| edge(Io::Epoll, 0, 20, false).players_over(http_flv, tls);
        let (http, tls) = (with(true, false), with(false, true));
        assert_eq!(http.label(), "rtmp-edge (epoll) http-flv");
        assert!(http.http_flv() && !edge(Io::Epoll, 0, 20, false).http_flv());
        assert_eq!(tls.label(), "rtmp-edge (epoll) TLS");
        assert!(tls.tls() && !http.tls());
        assert_eq!(Io::parse("uring"), Ok(Io::Uring));
        assert!(Io::parse("kqueue").is_err());
    }
}
