//! The command line: flags, the one-shot commands (`--check-config`, `--print-default-config`)
//! and merging flags over the config file.
//!
//! Never starts the server; the only I/O is reading the config file and, in
//! [`Cli::run_one_shot`], printing to stdout/stderr.
//!
//! Call order in `main`: `Cli::parse()` -> [`Cli::run_one_shot`] (exit with its code when it
//! returns one) -> [`Cli::into_config`] -> `init_logging(&config.log)` -> start shards (and
//! the HTTP listener when `http.listen` is set).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use super::check::{self, Diagnostic};
use super::config::{Config, ConfigError, IoMode, LogFormat, DEFAULT_CONFIG_TOML};

/// rtmp-edge: a high-performance RTMP edge relay.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "rtmp-edge", version, about)]
pub struct Cli {
    /// Listen on ADDR:PORT (repeatable; replaces server.listen from the file).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,

    /// Number of shard threads (0 = one per online CPU).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,

    /// Event-loop driver: auto, epoll or uring (server.io).
    #[arg(long, value_name = "DRIVER")]
    pub io: Option<IoMode>,

    /// Configuration file (TOML); without it the defaults apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log level or tracing directives (error|warn|info|debug|trace); RUST_LOG still wins.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format: text or json (log.format).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Serve /metrics, /healthz, /readyz and the control API on ADDR:PORT (http.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,

    /// Serve HTTP delivery (HTTP-FLV) from the shards on ADDR:PORT (repeatable; replaces
    /// http_play.listen).
    #[arg(long = "http-play", value_name = "ADDR:PORT")]
    pub http_play: Vec<SocketAddr>,

    /// Accept PROXY headers only from this CIDR or IP (repeatable; replaces
    /// server.trusted_proxies).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,

    /// Answer HAProxy's agent-check on ADDR:PORT (agent.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    pub agent: Option<SocketAddr>,

    /// Check a configuration file, print every problem with its line, and exit (1 if any).
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,

    /// Longest a player's frames may wait to be written together (play.write_merge_ms).
    #[arg(long, value_name = "MS")]
    pub write_merge_ms: Option<u64>,

    /// A newer publisher of a live stream replaces the older one (publish.takeover).
    #[arg(long)]
    pub takeover: bool,

    #[command(flatten)]
    pub limits: super::config::LimitFlags,

    /// Origin to pull streams not published here from, for every app (repeatable; tried in
    /// order unless the config says `origin_choice = "hash"`).
    #[arg(long, value_name = "rtmp://HOST:PORT/APP")]
    pub origin: Vec<String>,

    /// Server to forward every stream published here to, for every app (repeatable).
    #[arg(long, value_name = "rtmp://HOST:PORT/APP")]
    pub push: Vec<String>,

    /// Print the commented default configuration and exit.
    #[arg(long)]
    pub print_default_config: bool,

    /// Signed-URL secret required to publish, for every app (repeatable, for rotation).
    #[arg(long, value_name = "SECRET")]
    pub publish_secret: Vec<String>,

    /// Signed-URL secret required to play, for every app (repeatable, for rotation).
    #[arg(long, value_name = "SECRET")]
    pub play_secret: Vec<String>,

    /// RTMPS: --tls-listen, --tls-cert, --tls-key, --tls-ca (see `tls`).
    #[command(flatten)]
    pub tls: super::tls::TlsFlags,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// One-shot subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the query string (`expires=...&token=...`) of a signed publish or play URL.
    Sign(super::sign::SignArgs),
}

impl Cli {
    /// Handles the commands that only print and exit. Returns the exit code when `main` should
    /// stop here, `None` when it should go on to run the relay.
    pub fn run_one_shot(&self) -> Option<ExitCode> {
        if let Some(Command::Sign(args)) = &self.command {
            println!("{}", args.query());
            return Some(ExitCode::SUCCESS);
        }
        if self.print_default_config {
            print!("{DEFAULT_CONFIG_TOML}");
            return Some(ExitCode::SUCCESS);
        }
        let path = self.check_config.as_ref()?;
        let (report, ok) = check_config_file(path);
        println!("{report}");
        Some(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    /// The file (or the defaults), with the flags given on the command line laid over it,
    /// validated as a whole. Problems in keys the flags replaced are not reported against
    /// the file.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        self.load_config()
    }

    /// [`Cli::into_config`] without consuming the flags: SIGHUP reads the file again with
    /// the same flags laid over it.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let text = match &self.config {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?,
            None => String::new(),
        };
        let file = self.config.as_ref().map(|p| p.display().to_string());
        let name = |d: Diagnostic| match &file {
            Some(f) => d.with_file(f.clone()),
            None => d,
        };
        let (mut config, loc) = check::parse(&text).map_err(|all| ConfigError::Invalid {
            diagnostics: all.into_iter().map(name).collect(),
        })?;

        let mut from_flags = HashSet::new();
        if !self.listen.is_empty() {
            config.server.listen = self.listen.iter().map(ToString::to_string).collect();
            from_flags.insert(("server.listen", "--listen"));
        }
        if let Some(io) = self.io {
            config.server.io = io;
            from_flags.insert(("server.io", "--io"));
        }
        if let Some(n) = self.shards {
            config.server.shards = n;
            from_flags.insert(("server.shards", "--shards"));
        }
        if let Some(level) = self.log_level.clone() {
            config.log.level = level;
            from_flags.insert(("log.level", "--log-level"));
        }
        if let Some(format) = self.log_format {
            config.log.format = format;
        }
        if let Some(addr) = self.http {
            config.http.listen = addr.to_string();
            from_flags.insert(("http.listen", "--http"));
        }
        if !self.trusted_proxy.is_empty() {
            config.server.trusted_proxies = self.trusted_proxy.clone();
            from_flags.insert(("server.trusted_proxies", "--trusted-proxy"));
        }
        if !self.http_play.is_empty() {
            config.http_play.listen = self.http_play.iter().map(ToString::to_string).collect();
            from_flags.insert(("http_play.listen", "--http-play"));
        }
        if let Some(addr) = self.agent {
            config.agent.listen = addr.to_string();
            from_flags.insert(("agent.listen", "--agent"));
        }
        if let Some(ms) = self.write_merge_ms {
            config.play.write_merge_ms = ms;
            from_flags.insert(("play.write_merge_ms", "--write-merge-ms"));
        }
        if self.takeover {
            config.publish.takeover = true;
        }
        self.limits.apply(&mut config, &mut from_flags);
        config.add_relay_flags(&self.origin, &self.push);
        config.add_access_flags(&self.publish_secret, &self.play_secret);
        self.tls.apply(&mut config, &mut from_flags);

        let problems = config.validate();
        if problems.is_empty() {
            return Ok(config);
        }
        let diagnostics = problems
            .iter()
            .map(|p| match from_flags.iter().find(|(key, _)| *key == p.key) {
                Some((_, flag)) => Diagnostic {
                    file: None,
                    line: None,
                    column: None,
                    message: format!("{flag}: {p}"),
                },
                None => name(loc.diagnose(p)),
            })
            .collect();
        Err(ConfigError::Invalid { diagnostics })
    }
}

/// `--check-config FILE`: the report to print and whether the file is clean. A clean file
/// gives the single line `FILE: ok`; otherwise one `FILE:LINE:COL: message` line per problem.
pub fn check_config_file(path: impl AsRef<Path>) -> (String, bool) {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return (format!("{name}: cannot read: {e}"), false),
    };
    let diagnostics = Config::check_text(&text);
    if diagnostics.is_empty() {
        return (format!("{name}: ok"), true);
    }
    let lines: Vec<String> = diagnostics
        .into_iter()
        .map(|d| d.with_file(name.clone()).to_string())
        .collect();
    (lines.join("\n"), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rtmp-edge-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("rtmp-edge").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn no_flags_gives_defaults() {
        assert_eq!(cli(&[]).into_config().unwrap(), Config::default());
    }

    #[test]
    fn flags_override_file() {
        let path = temp_file(
            "merge.toml",
            "[server]\nlisten = [\"127.0.0.1:1935\"]\nshards = 2\n[play]\nwrite_merge_ms = 100\n",
        );
        let c = cli(&["--config", path.to_str().unwrap()])
            .into_config()
            .unwrap();
        assert_eq!(c.server.listen, vec!["127.0.0.1:1935"]);
        assert_eq!(c.server.shards, 2);

        let c = cli(&[
            "-c",
            path.to_str().unwrap(),
            "--listen",
            "0.0.0.0:1940",
            "--listen",
            "[::]:1941",
            "--shards",
            "3",
            "--log-level",
            "debug",
            "--write-merge-ms",
            "250",
            "--takeover",
            "--http",
            "127.0.0.1:8080",
            "--log-format",
            "json",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "192.0.2.1",
            "--agent",
            "127.0.0.1:5555",
            "--http-play",
            "127.0.0.1:8081",
        ])
        .into_config()
        .unwrap();
        assert_eq!(c.http_play.listen, vec!["127.0.0.1:8081"]);
        assert_eq!(c.http.listen, "127.0.0.1:8080");
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.server.trusted_proxies, vec!["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(c.agent.listen, "127.0.0.1:5555");
        assert_eq!(c.server.listen, vec!["0.0.0.0:1940", "[::]:1941"]);
        assert_eq!(c.listen_addrs().len(), 2);
        assert_eq!(c.server.shards, 3);
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.play.write_merge_ms, 250);
        assert!(c.publish.takeover);
    }

    #[test]
    fn bad_flag_values() {
        let bad = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("rtmp-edge").chain(args.iter().copied())).is_err()
        };
        assert!(bad(&["--listen", "localhost:1935"]));
        assert!(bad(&["--shards", "-1"]));
        assert!(bad(&["--write-merge-ms", "soon"]));
        assert!(bad(&["--no-such-flag"]));
        assert!(bad(&["--http", "8080"]));
        assert!(bad(&["--log-format", "xml"]));

        let err = cli(&["--write-merge-ms", "5000"])
            .into_config()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--write-merge-ms: play.write_merge_ms = 5000 is out of range"));
        let err = cli(&["--trusted-proxy", "10.0.0.300/8"])
            .into_config()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("--trusted-proxy: server.trusted_proxies[0]"),
            "{err}"
        );
        let err = cli(&["--log-level", "loud"]).into_config().unwrap_err();
        assert!(err.to_string().contains("--log-level: log.level"), "{err}");
    }

    #[test]
    fn flag_repairs_a_bad_file_key_and_file_errors_keep_their_line() {
        let path = temp_file(
            "repair.toml",
            "[server]\nlisten = [\"nowhere\"]\nshards = 5000\n",
        );
        let c = cli(&["-c", path.to_str().unwrap(), "--listen", "127.0.0.1:1935"]);
        let err = c.into_config().unwrap_err().to_string();
        assert!(!err.contains("nowhere"), "{err}");
        assert!(
            err.contains(&format!("{}:3:1: server.shards = 5000", path.display())),
            "{err}"
        );

        let c = cli(&[
            "-c",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:1",
            "--shards",
            "8",
        ]);
        assert_eq!(c.into_config().unwrap().server.shards, 8);
    }

    #[test]
    fn missing_config_file_is_a_read_error() {
        let err = cli(&["-c", "/nonexistent/x.toml"])
            .into_config()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }

    #[test]
    fn check_config_report() {
        let good = temp_file("good.toml", DEFAULT_CONFIG_TOML);
        let (report, ok) = check_config_file(&good);
        assert!(ok);
        assert_eq!(report, format!("{}: ok", good.display()));

        let bad = temp_file(
            "bad.toml",
            "[server]\nchunk_size = 64\n\n[play]\nwrite_merge_ms = 5000\nqueue_max_ms = 9000\n",
        );
        let (report, ok) = check_config_file(&bad);
        assert!(!ok);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), 2, "{report}");
        let f = bad.display();
        assert!(lines[0].starts_with(&format!("{f}:2:1: server.chunk_size = 64 is out of range")));
        assert!(lines[1].starts_with(&format!(
            "{f}:5:1: play.write_merge_ms = 5000 is out of range: must be 0..=1000 (ms)"
        )));

        let (report, ok) = check_config_file("/nonexistent/x.toml");
        assert!(!ok && report.contains("cannot read"));
    }

    #[test]
    fn one_shot_commands() {
        assert!(cli(&[]).run_one_shot().is_none());
        assert!(cli(&["--print-default-config"]).run_one_shot().is_some());
        let sign = cli(&[
            "sign", "--secret", "s", "--action", "play", "--app", "live", "--stream", "cam",
        ]);
        match &sign.command {
            Some(Command::Sign(args)) => {
                assert_eq!(args.expires_in, 3600);
                assert!(args.query().starts_with("expires="), "{}", args.query());
            }
            None => panic!("no sign command"),
        }
    }
}
