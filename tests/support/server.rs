//! RTMP servers under test: our `rtmp-edge` binary, nginx-rtmp as the reference, and HAProxy
//! (TCP mode) in front of either, as on an edge node.
//!
//! What it does: writes a config into a fresh temp dir, starts the server on a free loopback
//! port, waits (at most 10 s) until the port accepts TCP, and kills the server on Drop, printing
//! its log when the test is failing. A server that exits during start-up because its port was
//! taken meanwhile is retried on another port.
//!
//! What it never does: listen on anything but 127.0.0.1, or touch system config (nginx runs with
//! `-p`/`-c`/`-e` inside the temp dir, no http block, no pid file outside it; HAProxy runs in
//! the foreground with `-db` and logs to its stderr).
//!
//! Call order: `RtmpEdge::start(..)` / `Nginx::start()`, then `Haproxy::start(server.port(), ..)`
//! if wanted, then `server.url(app, stream)` (or `haproxy.url(..)`) for the peers; drop the
//! servers after the peers.

use super::{free_port, tool, Process, TempDir, INSTALL_HINT};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a server may take to start accepting TCP.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The application name every test uses (nginx's config defines only this one).
pub const APP: &str = "live";

/// A running RTMP server on 127.0.0.1; dropping it kills it.
pub trait RtmpServer {
    /// Short name for messages ("rtmp-edge", "nginx-rtmp").
    fn name(&self) -> &str;
    fn port(&self) -> u16;
    /// The last few KB of the server's log.
    fn log_tail(&self) -> String;

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port()))
    }

    fn url(&self, app: &str, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}/{stream}", self.port())
    }
}

/// Our relay, started from the binary cargo built next to the test.
pub struct RtmpEdge {
    // Field order is drop order: the process (which prints its log) before its directory.
    process: Process,
    port: u16,
    shards: usize,
    /// The arguments after `--listen ADDR` (to restart it the same way).
    args: Vec<String>,
    dir: TempDir,
}

impl RtmpEdge {
    /// Starts `rtmp-edge --listen 127.0.0.1:PORT --shards N --config FILE --log-level LEVEL`
    /// with `extra_toml` as the whole config file (may be empty). LEVEL is
    /// `$RTMP_EDGE_TEST_LOG_LEVEL` or `info`; `--io $RTMP_EDGE_TEST_IO` when that is set.
    pub fn start(shards: usize, extra_toml: &str) -> RtmpEdge {
        RtmpEdge::start_with_args(shards, extra_toml, &[])
    }

    /// Like [`RtmpEdge::start`] with extra command-line arguments appended.
    pub fn start_with_args(shards: usize, extra_toml: &str, extra_args: &[&str]) -> RtmpEdge {
        let bin = rtmp_edge_binary();
        let dir = TempDir::new("rtmp-edge");
        let config = dir.join("rtmp-edge.toml");
        std::fs::write(&config, extra_toml).expect("write rtmp-edge config");
        let level =
            std::env::var("RTMP_EDGE_TEST_LOG_LEVEL").unwrap_or_else(|_| "info".to_string());
        let mut args: Vec<String> = vec![
            "--shards".into(),
            shards.to_string(),
            "--config".into(),
            config.display().to_string(),
            "--log-level".into(),
            level,
        ];
        args.extend(extra_args.iter().map(|a| a.to_string()));
        // The driver under test (CI runs the suite once per driver).
        if let Ok(io) = std::env::var("RTMP_EDGE_TEST_IO") {
            args.extend(["--io".to_string(), io]);
        }
        let (process, port) = start_listening("rtmp-edge", &dir.join("rtmp-edge.log"), |port| {
            edge_command(&bin, port, &args)
        });
        RtmpEdge {
            process,
            port,
            shards,
            args,
            dir,
        }
    }

    /// Kills the process (SIGKILL: an origin that dies) and keeps the port for `restart`.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the process again on the same port with the same arguments (after `kill`),
    /// waiting (at most 10 s) until it accepts TCP. Its log goes to `rtmp-edge-restarted.log`.
    pub fn restart(&mut self) {
        self.process.kill();
        let log = self.dir.join("rtmp-edge-restarted.log");
        let cmd = edge_command(&rtmp_edge_binary(), self.port, &self.args);
        self.process = Process::spawn_logged("rtmp-edge", cmd, &log);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_LIMIT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline && self.process.try_wait().is_none(),
                "rtmp-edge did not restart on {addr}. Log:\n{}",
                self.process.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The child process (e.g. to send it a signal or check that it is still alive).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Waits (at most `limit`) until the log contains `text`; panics with the log otherwise.
    pub fn wait_log(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The whole log so far (lossy UTF-8; [`RtmpServer::log_tail`] has only its end).
    pub fn log(&self) -> String {
        let bytes = std::fs::read(self.process.log_path()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl RtmpServer for RtmpEdge {
    fn name(&self) -> &str {
        "rtmp-edge"
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// `rtmp-edge sign --secret S --action A --app APP --stream N --expires-in SECONDS`: the
/// query string it prints (`expires=...&token=...`). A negative `expires_in` is not
/// possible from the command line; pass 0 and wait a second for an expired one.
pub fn edge_sign(secret: &str, action: &str, app: &str, stream: &str, expires_in: u64) -> String {
    let out = Command::new(rtmp_edge_binary())
        .args(["sign", "--secret", secret, "--action", action, "--app", app])
        .args(["--stream", stream, "--expires-in", &expires_in.to_string()])
        .output()
        .expect("run rtmp-edge sign");
    assert!(out.status.success(), "rtmp-edge sign failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The `rtmp-loadtest` binary beside `rtmp-edge` (`cargo build -p rtmp-loadtest` builds it;
/// `cargo test --workspace` does too).
pub fn rtmp_loadtest_binary() -> PathBuf {
    let edge = rtmp_edge_binary();
    let path = edge.with_file_name("rtmp-loadtest");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p rtmp-loadtest` first",
        path.display()
    );
    path
}

fn edge_command(bin: &Path, port: u16, args: &[String]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(args);
    cmd
}

/// The `rtmp-edge` binary: cargo's path when this file is compiled into the root package's
/// tests, else `rtmp-edge` in the profile dir above the test binary (`target/debug/deps/..`).
pub fn rtmp_edge_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_rtmp-edge") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile_dir| profile_dir.join("rtmp-edge"))
        .expect("test binary has no grandparent dir");
    assert!(
        path.is_file(),
        "{} not found: build it first (`cargo build --bin rtmp-edge`, or run the whole suite \
         with `cargo test --workspace`)",
        path.display()
    );
    path
}

/// nginx with the rtmp module (libnginx-mod-rtmp): the reference server.
pub struct Nginx {
    process: Process,
    port: u16,
    dir: TempDir,
}

impl Nginx {
    /// nginx-rtmp with `application live { live on; record off; }`.
    pub fn start() -> Nginx {
        Nginx::start_with("")
    }

    /// Like [`Nginx::start`] with extra directives inside `application live { }`
    /// (e.g. `"wait_key on;"`).
    pub fn start_with(live_directives: &str) -> Nginx {
        let nginx = tool("nginx");
        let module = nginx_rtmp_module();
        let dir = TempDir::new("nginx");
        let conf = dir.join("nginx.conf");
        let log = dir.join("nginx.log");
        let (process, port) = start_listening("nginx-rtmp", &log, |port| {
            let config = nginx_config(&module, dir.path(), port, live_directives);
            std::fs::write(&conf, config).expect("write nginx.conf");
            let mut cmd = Command::new(&nginx);
            cmd.arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(&log);
            cmd
        });
        Nginx { process, port, dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl RtmpServer for Nginx {
    fn name(&self) -> &str {
        "nginx-rtmp"
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

fn nginx_config(module: &Path, dir: &Path, port: u16, live_directives: &str) -> String {
    // Single process in the foreground, everything inside `dir`; no http block, so nginx needs
    // no temp paths and opens no other port.
    format!(
        "load_module {module};
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application {APP} {{
            live on;
            record off;
            {live_directives}
        }}
    }}
}}
",
        module = module.display(),
        dir = dir.display(),
    )
}

/// The nginx rtmp module .so: `$RTMP_EDGE_NGINX_RTMP_MODULE`, else the first `*rtmp*.so` in
/// the usual module directories.
pub fn nginx_rtmp_module() -> PathBuf {
    if let Some(path) = std::env::var_os("RTMP_EDGE_NGINX_RTMP_MODULE") {
        return PathBuf::from(path);
    }
    let dirs = [
        "/usr/lib/nginx/modules",
        "/usr/lib64/nginx/modules",
        "/usr/share/nginx/modules",
        "/usr/local/nginx/modules",
    ];
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.contains("rtmp") && name.ends_with(".so")
            })
            .collect();
        found.sort();
        if let Some(path) = found.into_iter().next() {
            return path;
        }
    }
    panic!("nginx rtmp module (libnginx-mod-rtmp) not found in {dirs:?}: {INSTALL_HINT}");
}

/// HAProxy in TCP mode on 127.0.0.1, forwarding every connection to one backend port.
pub struct Haproxy {
    process: Process,
    port: u16,
    dir: TempDir,
}

impl Haproxy {
    /// Starts `haproxy -f FILE -db` with a frontend on a free port and one server,
    /// `127.0.0.1:backend_port`, with `send_proxy` on its line: None, `Some("send-proxy")` (PROXY
    /// v1) or `Some("send-proxy-v2")`. Every connection is logged (`option tcplog`) to its log.
    pub fn start(backend_port: u16, send_proxy: Option<&str>) -> Haproxy {
        let haproxy = tool("haproxy");
        let dir = TempDir::new("haproxy");
        let conf = dir.join("haproxy.cfg");
        let (process, port) = start_listening("haproxy", &dir.join("haproxy.log"), |port| {
            let config = haproxy_config(port, backend_port, send_proxy.unwrap_or(""));
            std::fs::write(&conf, config).expect("write haproxy.cfg");
            let mut cmd = Command::new(&haproxy);
            cmd.arg("-f").arg(&conf).arg("-db");
            cmd
        });
        Haproxy { process, port, dir }
    }

    /// Starts `haproxy -f FILE -db` with the config `make(frontend_port, dir)` returns (the
    /// dir is where a stats socket may go).
    pub fn start_config(make: impl Fn(u16, &Path) -> String) -> Haproxy {
        let haproxy = tool("haproxy");
        let dir = TempDir::new("haproxy");
        let conf = dir.join("haproxy.cfg");
        let (process, port) = start_listening("haproxy", &dir.join("haproxy.log"), |port| {
            std::fs::write(&conf, make(port, dir.path())).expect("write haproxy.cfg");
            let mut cmd = Command::new(&haproxy);
            cmd.arg("-f").arg(&conf).arg("-db");
            cmd
        });
        Haproxy { process, port, dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// One command on HAProxy's runtime API (`stats socket PATH level admin`): the whole answer.
pub fn haproxy_command(socket: &Path, command: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The `show stat` CSV row of `proxy`/`server` as column name -> value.
pub fn haproxy_server_stat(
    socket: &Path,
    proxy: &str,
    server: &str,
) -> Option<std::collections::HashMap<String, String>> {
    let csv = haproxy_command(socket, "show stat").ok()?;
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()?
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_owned)
        .collect();
    lines.find_map(|line| {
        let fields: Vec<&str> = line.split(',').collect();
        (fields.first() == Some(&proxy) && fields.get(1) == Some(&server)).then(|| {
            header
                .iter()
                .cloned()
                .zip(fields.iter().map(|f| f.to_string()))
                .collect()
        })
    })
}

impl RtmpServer for Haproxy {
    fn name(&self) -> &str {
        "haproxy"
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

fn haproxy_config(port: u16, backend_port: u16, send_proxy: &str) -> String {
    // Long client/server timeouts: an RTMP player may send nothing for the whole test.
    format!(
        "global
    maxconn 256
    log stderr format short local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend rtmp
    bind 127.0.0.1:{port}
    default_backend edge

backend edge
    server edge1 127.0.0.1:{backend_port} {send_proxy}
"
    )
}

/// Spawns `make(port)` until it listens: a fresh port per attempt, because another process may
/// take a port between [`free_port`] and the server's bind.
fn start_listening(name: &str, log: &Path, mut make: impl FnMut(u16) -> Command) -> (Process, u16) {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        let port = free_port();
        let mut process = Process::spawn_logged(name, make(port), log);
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = process.try_wait() {
                let tail = process.log_tail();
                let port_taken = tail.contains("in use") || tail.contains("EADDRINUSE");
                if port_taken && attempt < ATTEMPTS {
                    break;
                }
                panic!("{name} exited during start-up ({status}) on port {port}. Log:\n{tail}");
            }
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return (process, port);
            }
            if Instant::now() >= deadline {
                process.kill();
                panic!(
                    "{name} did not accept TCP on 127.0.0.1:{port} within {START_LIMIT:?}. \
                     Log:\n{}",
                    process.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    unreachable!("the last attempt returns or panics")
}
