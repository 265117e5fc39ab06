//! The control side: configuration file, command line, logging setup, and the HTTP control
//! listener (Prometheus metrics, health, the JSON stats and control API).
//!
//! Nothing here touches the data path: the configuration runs once at startup (and for
//! `--check-config`) and hands `main` a validated [`Config`]; the HTTP side runs on its own
//! threads and only reads the snapshots the shards publish (and sends kicks to their
//! mailboxes).
//!
//! Call order in `main`:
//! 1. `let cli = Cli::parse();` then `if let Some(code) = cli.run_one_shot() { return code; }`
//! 2. `let config = cli.into_config()?;` (file + flags, validated; errors print with lines)
//! 3. `init_logging(&config.log);`
//! 4. start `config.shard_count()` shards on `config.listen_addrs()`.
//! 5. with `config.http.listen_addr()`: `HttpServer::start(addr, ControlState::new(..))`;
//!    with `config.agent.listen_addr()`: `Agent::start(addr, state, capacity)` (HAProxy's
//!    agent-check), on the same `ControlState`.
//! 6. signals: SIGTERM drains (`ShardControl::drain`, `ControlState::draining`), SIGHUP
//!    reloads (`Cli::load_config`, then `ShardControl::reload`; see `reload`).

pub mod access;
pub mod agent;
pub mod api;
pub mod callbacks;
mod check;
pub mod cli;
pub mod config;
pub mod http;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
mod record;
mod relay;
pub mod reload;
mod settings;
pub mod sign;
pub mod tls;
mod validate;

pub use check::Diagnostic;
pub use cli::{check_config_file, Cli};
pub use config::{
    AgentConfig, Config, ConfigError, HttpConfig, LogConfig, LogFormat, PlayConfig, PublishConfig,
    ServerConfig, SocketConfig, TimeoutConfig, DEFAULT_CONFIG_TOML,
};
pub use logging::init_logging;
pub use record::RecordConfig;
pub use relay::{AppConfig, RelayConfig};
pub use validate::ConfigProblem;
