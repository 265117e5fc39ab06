//! Process-wide logging: a `tracing` subscriber writing to stderr, compact lines
//! (`log.format = "text"`) or one JSON object per line (`"json"`, for ELK). Access-log events
//! (one per finished session) have the target `rtmp_edge::access` in both formats.
//!
//! Never called by the library layers; `main` calls [`init_logging`] once, after the
//! configuration is known and before shards start. `RUST_LOG`, when set and valid, wins over
//! the configured level so an operator can raise verbosity without editing the file.

use super::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for `log` (`log.level`: a level or `tracing` directives;
/// `log.format`). A second call, or an unusable filter, leaves logging as it was rather than
/// failing startup.
pub fn init_logging(log: &LogConfig) {
    let level = log.level.as_str();
    let (filter, rust_log_error) = filter_for(level, std::env::var("RUST_LOG").ok());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let installed = match log.format {
        LogFormat::Text => builder
            .compact()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
            .is_ok(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .try_init()
            .is_ok(),
    };
    if let (true, Some(e)) = (installed, rust_log_error) {
        tracing::warn!("RUST_LOG ignored, it does not parse: {e}; using log.level {level:?}");
    }
}

/// The filter to install, and why `RUST_LOG` was ignored if it was set but unusable.
fn filter_for(level: &str, rust_log: Option<String>) -> (EnvFilter, Option<String>) {
    let mut ignored = None;
    if let Some(env) = rust_log.filter(|v| !v.trim().is_empty()) {
        match EnvFilter::try_new(&env) {
            Ok(f) => return (f, None),
            Err(e) => ignored = Some(e.to_string()),
        }
    }
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    (filter, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_wins_when_set_and_valid() {
        let (f, ignored) = filter_for("info", Some("debug".into()));
        assert_eq!(f.to_string(), "debug");
        assert!(ignored.is_none());

        let (f, _) = filter_for("warn", Some("  ".into()));
        assert_eq!(f.to_string(), "warn");

        let (f, ignored) = filter_for("warn", Some("a=b=c=[".into()));
        assert_eq!(f.to_string(), "warn");
        assert!(ignored.is_some());
    }

    #[test]
    fn config_level_and_fallback() {
        let (f, _) = filter_for("info,rtmp_edge::shard=debug", None);
        assert!(f.to_string().contains("rtmp_edge::shard=debug"));
        let (f, _) = filter_for("a=b=c=[", None);
        assert_eq!(f.to_string(), "info");
    }
}
