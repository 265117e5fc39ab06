//! The control side: configuration file, command line and logging setup.
//!
//! Nothing here touches the data path: it runs once at startup (and for `--check-config`)
//! and hands `main` a validated [`Config`]. No sockets, no shard threads.
//!
//! Call order in `main`:
//! 1. `let cli = Cli::parse();` then `if let Some(code) = cli.run_one_shot() { return code; }`
//! 2. `let config = cli.into_config()?;` (file + flags, validated; errors print with lines)
//! 3. `init_logging(&config.log.level);`
//! 4. start `config.shard_count()` shards on `config.listen_addrs()`.

mod check;
pub mod cli;
pub mod config;
pub mod logging;
mod settings;
mod validate;

pub use check::Diagnostic;
pub use cli::{check_config_file, Cli};
pub use config::{
    Config, ConfigError, LogConfig, PlayConfig, PublishConfig, ServerConfig, SocketConfig,
    TimeoutConfig, DEFAULT_CONFIG_TOML,
};
pub use logging::init_logging;
pub use validate::ConfigProblem;
