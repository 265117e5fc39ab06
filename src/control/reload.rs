//! What a reload (SIGHUP) can change while the relay runs, and what needs a restart.
//!
//! Pure functions of two validated configs; no I/O. The shards take the runtime settings
//! from [`Config::shard_settings`] through their mailboxes (limits, timeouts, write merge,
//! max connections, PROXY trust, socket options of new connections); the agent takes its
//! capacity; TLS certificates and keys are read again (new handshakes use them). Everything
//! listed in [`RESTART_KEYS`] is bound to sockets, threads, the
//! encode-once wire format or state built once at start: a change there is logged as
//! needing a restart and the running value stays.
use super::config::Config;

/// Keys whose new value takes effect only after a restart.
pub const RESTART_KEYS: &[&str] = &[
    "server.listen",
    "server.shards",
    "server.pin_shards",
    "server.io",
    "server.chunk_size",
    "log.level",
    "log.format",
    "http.listen",
    "http.api_token",
    "http.stream_labels",
    "http.max_labelled_streams",
    "agent.listen",
    "tls.listen",
];

/// The keys of [`RESTART_KEYS`] whose value differs between the running config and `new`.
pub fn restart_needed(running: &Config, new: &Config) -> Vec<&'static str> {
    let (r, n) = (running, new);
    let differs = [
        r.server.listen != n.server.listen,
        r.server.shards != n.server.shards,
        r.server.pin_shards != n.server.pin_shards,
        r.server.io != n.server.io,
        r.server.chunk_size != n.server.chunk_size,
        r.log.level != n.log.level,
        r.log.format != n.log.format,
        r.http.listen != n.http.listen,
        r.http.api_token != n.http.api_token,
        r.http.stream_labels != n.http.stream_labels,
        r.http.max_labelled_streams != n.http.max_labelled_streams,
        r.agent.listen != n.agent.listen,
        r.tls.listen != n.tls.listen,
    ];
    RESTART_KEYS
        .iter()
        .zip(differs)
        .filter_map(|(key, d)| d.then_some(*key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_keys_need_no_restart_and_bound_ones_do() {
        let running = Config::default();
        let mut new = running.clone();
        new.play.queue_max_ms = 2000;
        new.server.max_connections = 10;
        new.server.trusted_proxies = vec!["10.0.0.0/8".into()];
        new.timeouts.handshake_ms = 3000;
        new.agent.max_players = 5;
        assert!(restart_needed(&running, &new).is_empty());
        new.server.listen = vec!["127.0.0.1:1".into()];
        new.server.chunk_size = 128;
        new.agent.listen = "127.0.0.1:2".into();
        assert_eq!(
            restart_needed(&running, &new),
            ["server.listen", "server.chunk_size", "agent.listen"]
        );
    }
}
