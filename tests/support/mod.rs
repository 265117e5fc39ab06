//! Shared helpers for the integration tests: the ONE place for them.
//!
//! What it does: picks free loopback ports, finds the real peers (FFmpeg, rtmpdump, GStreamer,
//! nginx-rtmp, HAProxy, Chromium with the npm players: [`play_in_browser`]) on PATH and FFmpeg 9
//! from imageio-ffmpeg ([`ffmpeg9`]), serves files over HTTP ([`StaticHttpServer`]), starts RTMP servers (our `rtmp-edge` binary or nginx-rtmp as
//! the reference, optionally behind HAProxy) and peer processes, and reads recordings back with
//! ffprobe.
//!
//! What it never does: skip a test because a tool is missing (it panics with the install hint:
//! `tuning/install-test-deps.sh`), send traffic anywhere but 127.0.0.1, or leave a child running:
//! every child is a [`Process`] that is killed on Drop (and by the kernel if the test process
//! dies), and every wait is bounded.
//!
//! Call order in a test: start a server ([`RtmpEdge::start`] or [`Nginx::start`]), start the
//! peers against `server.url(app, stream)` ([`ffmpeg_publish_testsrc`], [`ffmpeg_record`], ...),
//! wait for them with [`Process::wait_success`], then check the files ([`ffprobe_streams`],
//! [`ffprobe_packets`]). Write checks as `fn check_xxx(server: &dyn RtmpServer)` so the same
//! expectations run against nginx-rtmp and rtmp-edge.
//!
//! Other crates include this file with `#[path = "../../tests/support/mod.rs"] mod support;`.
#![allow(dead_code)]

mod browser;
mod cmaf;
mod enhanced;
mod hostile;
mod http;
mod http_play;
mod media;
mod process;
mod server;
mod sockets;
mod static_http;
mod tls;

// A test crate that uses only some helpers must not warn about the rest.
#[allow(unused_imports)]
pub use browser::*;
#[allow(unused_imports)]
pub use cmaf::*;
#[allow(unused_imports)]
pub use enhanced::*;
#[allow(unused_imports)]
pub use hostile::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use http_play::*;
#[allow(unused_imports)]
pub use media::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use server::*;
#[allow(unused_imports)]
pub use sockets::*;
#[allow(unused_imports)]
pub use static_http::*;
#[allow(unused_imports)]
pub use tls::*;

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The hint every "tool is missing" panic carries.
pub const INSTALL_HINT: &str = "install with tuning/install-test-deps.sh (as root)";

/// A loopback TCP port that was free a moment ago.
///
/// The kernel picks it (bind 127.0.0.1:0); a port is never handed out twice in one test process,
/// because two servers that both use SO_REUSEPORT could otherwise share it silently.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no fresh free port after 100 tries");
}

/// Absolute path of a required binary: PATH first, then the sbin directories (Debian does not
/// put /usr/sbin, where nginx lives, on a normal user's PATH). Panics with the install hint
/// when missing: interop tests never skip silently.
pub fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        let required = std::env::var_os("RTMP_EDGE_REQUIRE_INTEROP").is_some();
        panic!(
            "required test tool `{name}` not found on PATH or in /usr/sbin, /sbin: {INSTALL_HINT} \
             (RTMP_EDGE_REQUIRE_INTEROP {})",
            if required {
                "is set"
            } else {
                "is unset; tests never skip either way"
            }
        )
    })
}

/// Like [`tool`] but returns None instead of panicking (for choosing between alternatives).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A name no other test (in this or another process) uses: for stream names and temp dirs.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{n}-{nanos:x}", std::process::id())
}

/// A fresh directory under the system temp dir, removed on Drop unless the test is failing (then
/// it is kept and its path printed, so logs and recordings can be inspected).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir()
            .join("rtmp-edge-tests")
            .join(unique_name(tag));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("[support] kept {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
