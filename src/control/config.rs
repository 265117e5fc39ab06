//! The relay's configuration: the TOML layout, its defaults, and loading it from text or a file.
//!
//! Every key has a default (`#[serde(default)]`) and every table rejects unknown keys
//! (`deny_unknown_fields`), so a typo is an error rather than a silently ignored setting.
//! Durations are integer milliseconds (keys end in `_ms`), sizes are bytes.
//!
//! This module never opens sockets or starts threads; the only I/O is reading the file in
//! [`Config::load`], and [`Config::shard_count`] asks std how many CPUs are online.
//!
//! Call order: [`Config::load`] (or [`Config::from_toml_str`]) parses *and* validates, so a
//! `Config` obtained that way is usable as is; the command line then overrides fields (see
//! `cli`), and validates again. `--check-config` uses [`Config::check_text`], which reports
//! every problem with its line instead of stopping at the first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::{self, Diagnostic};
pub use crate::shard::IoMode;
pub use agent::AgentConfig;
pub use hls::HlsConfig;
pub use http_play::HttpPlayConfig;

mod agent;
mod default_toml;
mod hls;
mod http_play;
mod limits;
pub use default_toml::DEFAULT_CONFIG_TOML;
pub use limits::{LimitFlags, LimitsConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub socket: SocketConfig,
    pub publish: PublishConfig,
    pub play: PlayConfig,
    pub timeouts: TimeoutConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub agent: AgentConfig,
    pub hls: HlsConfig,
    pub http_play: HttpPlayConfig,
    pub relay: super::relay::RelayConfig,
    pub limits: LimitsConfig,
    /// `[tls]`: RTMPS listeners and upstream verification (see `tls`).
    pub tls: super::tls::TlsConfig,
    /// `[[app]]` tables: origins and push targets per app (see `relay`).
    #[serde(rename = "app", skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<super::relay::AppConfig>,
}

/// `[server]`: listeners, shards and per-connection protocol settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// One or more `ADDR:PORT` (IPv4, or `[IPv6]:port`). Kept as text so `--check-config`
    /// can point at the bad entry; [`Config::listen_addrs`] gives the parsed form.
    pub listen: Vec<String>,
    /// Number of shard threads; 0 means one per online CPU ([`Config::shard_count`]).
    pub shards: usize,
    /// Pin shard `i` to CPU `i % ncpu`.
    pub pin_shards: bool,
    /// Connections per shard; beyond it the shard stops accepting until one closes.
    pub max_connections: usize,
    /// Outgoing chunk size, the same for every player so a message is chunked once.
    pub chunk_size: u32,
    /// Window acknowledgement size announced to peers.
    pub window_ack_size: u32,
    /// Every connection starts with a PROXY protocol header (v1 or v2, as HAProxy's
    /// `send-proxy`/`send-proxy-v2` write it) carrying the real client address; a connection
    /// without one is closed. Only for listeners that nothing but the proxy can reach.
    pub proxy_protocol: bool,
    /// With `proxy_protocol`: the proxies (CIDR like `10.0.0.0/8`, or one IP) allowed to
    /// connect; others are closed before a byte is read. Empty: any source.
    pub trusted_proxies: Vec<String>,
    /// SIGTERM: how long connected clients are served (no new ones) before the exit.
    pub drain_timeout_ms: u64,
    /// Event-loop driver: `auto` (the one measured faster: epoll today),
    /// `epoll` (mio) or `uring` (fails at start where io_uring cannot run).
    pub io: IoMode,
}

/// `[socket]`: options set on every accepted TCP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocketConfig {
    pub nodelay: bool,
    /// SO_SNDBUF in bytes; 0 keeps the kernel default (and its autotuning).
    pub send_buffer: usize,
    /// SO_RCVBUF in bytes; 0 keeps the kernel default (and its autotuning).
    pub recv_buffer: usize,
}

/// `[publish]`: rules for publishers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    /// A newer publisher of a live stream replaces the older one (otherwise it gets BadName).
    pub takeover: bool,
    /// Largest message accepted from a publisher, in bytes (RTMP's limit is 16 MiB - 1).
    pub max_message_size: u32,
    /// A publisher that sends no media for this long is closed.
    pub idle_timeout_ms: u64,
}

/// `[play]`: how frames reach players.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlayConfig {
    /// Longest a player's frames may wait to be written together (SRS `mw_latency`).
    pub write_merge_ms: u64,
    /// With `write_merge_ms = 0`: frames may wait as long as the shard's previous flush of
    /// players took, up to this. Light load: no wait; heavy load: fewer, larger writes.
    pub adaptive_merge_max_ms: u64,
    /// Queue span beyond which a player skips to the next keyframe.
    pub queue_max_ms: u64,
    /// Queue size in bytes beyond which a player skips to the next keyframe.
    pub queue_max_bytes: usize,
    /// A player that stays behind continuously for this long is disconnected.
    pub kick_after_ms: u64,
    /// Keep the frames since the last keyframe so a new player starts at once.
    pub gop_cache: bool,
    /// A player whose socket accepts nothing for this long is closed.
    pub write_stall_timeout_ms: u64,
}

/// `[timeouts]`: connection-level deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// From TCP accept until the RTMP handshake is complete (then `limits.command_timeout_ms`
    /// runs until publish or play).
    pub handshake_ms: u64,
    /// From TCP accept until the PROXY header is complete (listeners with the PROXY protocol
    /// on); HAProxy's own rule is 3 s.
    pub proxy_header_ms: u64,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error|warn|info|debug|trace`, or `tracing` directives such as
    /// `info,rtmp_edge::shard=debug`. `RUST_LOG` overrides it when set.
    pub level: String,
    /// `text` (compact lines) or `json` (one JSON object per line, for ELK).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Compact human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON layer).
    Json,
}

/// `[http]`: the metrics, health and control API listener (off unless `listen` is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `ADDR:PORT` of the HTTP listener; empty = no HTTP listener.
    pub listen: String,
    /// When not empty, `/api/*` requires `Authorization: Bearer <token>`; `/metrics`,
    /// `/healthz` and `/readyz` stay open.
    pub api_token: String,
    /// Export per-stream metrics with a `stream` label.
    pub stream_labels: bool,
    /// At most this many streams get labelled series (the ones with the most players).
    pub max_labelled_streams: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: vec!["0.0.0.0:1935".to_owned()],
            shards: 0,
            pin_shards: false,
            max_connections: 20_000,
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
            drain_timeout_ms: 30_000,
            io: IoMode::Auto,
        }
    }
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            nodelay: true,
            send_buffer: 0,
            recv_buffer: 0,
        }
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            takeover: false,
            max_message_size: 16_777_215,
            idle_timeout_ms: 30_000,
        }
    }
}

impl Default for PlayConfig {
    fn default() -> Self {
        Self {
            write_merge_ms: 0,
            adaptive_merge_max_ms: 20,
            queue_max_ms: 5_000,
            queue_max_bytes: 16_777_216,
            kick_after_ms: 15_000,
            gop_cache: true,
            write_stall_timeout_ms: 30_000,
        }
    }
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            handshake_ms: 10_000,
            proxy_header_ms: 3_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            api_token: String::new(),
            stream_labels: false,
            max_labelled_streams: 100,
        }
    }
}

impl HttpConfig {
    /// The HTTP listener's address, when one is configured (call on a validated config).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.trim().parse().ok()
    }
}

/// Why a configuration could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type, unknown-key or range problems; each diagnostic has its line when known.
    #[error("invalid configuration:\n{}", join_lines(diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

fn join_lines(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(|d| format!("  {d}")).collect();
    lines.join("\n")
}

impl Config {
    /// Parses and validates TOML text. Any problem, syntactic or semantic, is an error.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        check::parse_checked(text, None)
    }

    /// Reads, parses and validates a config file; diagnostics name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        check::parse_checked(&text, Some(&path.display().to_string()))
    }

    /// Every syntax, type, unknown-key and semantic problem in `text`, each located at the
    /// 1-based line and column of the offending key or value. Empty means the text is good.
    pub fn check_text(text: &str) -> Vec<Diagnostic> {
        check::check_text(text)
    }

    /// The parsed listen addresses; entries that do not parse are skipped, so call this on
    /// a validated config.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.server
            .listen
            .iter()
            .filter_map(|a| a.trim().parse().ok())
            .collect()
    }

    /// The number of shard threads: `server.shards`, or one per online CPU when it is 0.
    pub fn shard_count(&self) -> usize {
        match self.server.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The configuration as TOML (without comments).
    pub fn to_toml_string(&self) -> String {
        // Serializing plain structs of integers, bools and strings cannot fail.
        toml::to_string(self).unwrap_or_default()
    }
}

impl PublishConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

impl PlayConfig {
    pub fn write_merge(&self) -> Duration {
        Duration::from_millis(self.write_merge_ms)
    }
    pub fn adaptive_merge_max(&self) -> Duration {
        Duration::from_millis(self.adaptive_merge_max_ms)
    }
    pub fn queue_max(&self) -> Duration {
        Duration::from_millis(self.queue_max_ms)
    }
    pub fn kick_after(&self) -> Duration {
        Duration::from_millis(self.kick_after_ms)
    }
    pub fn write_stall_timeout(&self) -> Duration {
        Duration::from_millis(self.write_stall_timeout_ms)
    }
}

impl TimeoutConfig {
    pub fn handshake(&self) -> Duration {
        Duration::from_millis(self.handshake_ms)
    }
    pub fn proxy_header(&self) -> Duration {
        Duration::from_millis(self.proxy_header_ms)
    }
}

impl ServerConfig {
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.server.listen, vec!["0.0.0.0:1935"]);
        assert_eq!(c.server.shards, 0);
        assert!(!c.server.pin_shards);
        assert_eq!(c.server.max_connections, 20_000);
        assert_eq!(c.server.chunk_size, 4096);
        assert_eq!(c.server.window_ack_size, 2_500_000);
        assert!(!c.server.proxy_protocol);
        assert!(c.socket.nodelay);
        assert_eq!((c.socket.send_buffer, c.socket.recv_buffer), (0, 0));
        assert!(!c.publish.takeover);
        assert_eq!(c.publish.max_message_size, 16_777_215);
        assert_eq!(c.publish.idle_timeout(), Duration::from_secs(30));
        assert_eq!(c.play.write_merge_ms, 0);
        assert_eq!(c.play.queue_max(), Duration::from_secs(5));
        assert_eq!(c.play.queue_max_bytes, 16 << 20);
        assert_eq!(c.play.kick_after(), Duration::from_secs(15));
        assert!(c.play.gop_cache);
        assert_eq!(c.play.write_stall_timeout(), Duration::from_secs(30));
        assert_eq!(c.timeouts.handshake(), Duration::from_secs(10));
        assert_eq!(c.log.level, "info");
        assert_eq!(c.log.format, LogFormat::Text);
        assert_eq!(c.http.listen, "");
        assert_eq!(c.http.listen_addr(), None);
        assert_eq!(c.http.api_token, "");
        assert!(!c.http.stream_labels);
        assert_eq!(c.http.max_labelled_streams, 100);
        assert!(c.server.trusted_proxies.is_empty() && c.agent.listen_addr().is_none());
        assert_eq!(c.server.drain_timeout(), Duration::from_secs(30));
        assert_eq!(c.timeouts.proxy_header(), Duration::from_secs(3));
        assert_eq!((c.agent.max_players, c.agent.max_mbps), (20_000, 10_000));
        assert!(c.validate().is_empty());
    }

    #[test]
    fn http_and_log_format_keys() {
        let c = Config::from_toml_str(
            "[http]\nlisten = \"127.0.0.1:8080\"\napi_token = \"abc\"\nstream_labels = true\n\
             max_labelled_streams = 5\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        assert_eq!(
            c.http.listen_addr(),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(c.http.api_token, "abc");
        assert!(c.http.stream_labels);
        assert_eq!(c.http.max_labelled_streams, 5);
        assert_eq!(c.log.format, LogFormat::Json);
        let problems = |text: &str| -> Vec<&'static str> {
            let c: Config = toml::from_str(text).unwrap();
            c.validate().into_iter().map(|p| p.key).collect()
        };
        assert_eq!(
            problems("[http]\nlisten = \"localhost:80\"\n"),
            ["http.listen"]
        );
        assert_eq!(
            problems("[http]\napi_token = \"a b\"\n"),
            ["http.api_token"]
        );
        assert_eq!(
            problems("[http]\nmax_labelled_streams = 100000\n"),
            ["http.max_labelled_streams"]
        );
        assert!(Config::from_toml_str("[log]\nformat = \"xml\"\n").is_err());
    }

    #[test]
    fn empty_text_is_the_default() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    }

    #[test]
    fn default_toml_text_is_the_default() {
        assert_eq!(
            Config::from_toml_str(DEFAULT_CONFIG_TOML).unwrap(),
            Config::default()
        );
        assert!(Config::check_text(DEFAULT_CONFIG_TOML).is_empty());
    }

    #[test]
    fn serialize_round_trips() {
        let mut c = Config::default();
        c.server.listen = vec!["127.0.0.1:1935".into(), "[::1]:1936".into()];
        c.play.write_merge_ms = 350;
        let back = Config::from_toml_str(&c.to_toml_string()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
[server]
listen = ["127.0.0.1:1935", "[::]:1936"]
shards = 4
pin_shards = true
max_connections = 5000
chunk_size = 60000
window_ack_size = 5000000
proxy_protocol = true
[socket]
nodelay = false
send_buffer = 4194304
recv_buffer = 262144
[publish]
takeover = true
max_message_size = 8388608
idle_timeout_ms = 10000
[play]
write_merge_ms = 350
queue_max_ms = 3000
queue_max_bytes = 8388608
kick_after_ms = 20000
gop_cache = false
write_stall_timeout_ms = 60000
[timeouts]
handshake_ms = 5000
[log]
level = "debug"
"#;
        let c = Config::from_toml_str(text).unwrap();
        assert_eq!(c.listen_addrs().len(), 2);
        assert_eq!(c.listen_addrs()[1], "[::]:1936".parse().unwrap());
        assert_eq!(c.shard_count(), 4);
        assert!(c.server.pin_shards);
        assert_eq!(c.server.chunk_size, 60_000);
        assert!(c.server.proxy_protocol);
        assert!(!c.socket.nodelay);
        assert_eq!(c.socket.send_buffer, 4 << 20);
        assert!(c.publish.takeover);
        assert_eq!(c.play.write_merge(), Duration::from_millis(350));
        assert!(!c.play.gop_cache);
        assert_eq!(c.timeouts.handshake_ms, 5000);
        assert_eq!(c.log.level, "debug");
    }

    #[test]
    fn partial_table_keeps_other_defaults() {
        let c = Config::from_toml_str("[play]\nwrite_merge_ms = 100\n").unwrap();
        assert_eq!(c.play.write_merge_ms, 100);
        assert_eq!(c.play.queue_max_ms, 5000);
        assert_eq!(c.server, ServerConfig::default());
    }

    #[test]
    fn shard_count_resolves_zero_to_cpus() {
        let c = Config::default();
        assert!(c.shard_count() >= 1);
    }

    #[test]
    fn load_reports_missing_file_and_names_file_in_diagnostics() {
        let err = Config::load("/nonexistent/rtmp-edge.toml").unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");

        let dir = std::env::temp_dir().join(format!("rtmp-edge-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[play]\nwrite_merge_ms = 5000\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            err.contains(&format!(
                "{}:2:1: play.write_merge_ms = 5000",
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn tuning_example_parses_and_validates_clean() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/rtmp-edge.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let diags = Config::check_text(&text);
        assert!(diags.is_empty(), "{diags:?}");
        let c = Config::load(path).unwrap();
        assert!(!c.listen_addrs().is_empty());
    }
}
