//! Turns the validated [`Config`] into what the shards run with.
use super::Config;
use crate::media::queue::QueueLimits;
use crate::session::SessionConfig;
use crate::shard::{ListenerSettings, ShardSettings};

/// Largest GOP kept for instant start, whatever the queue allows.
const MAX_GOP_BYTES: usize = 32 << 20;

impl Config {
    /// The shard settings this configuration asks for.
    pub fn shard_settings(&self) -> ShardSettings {
        ShardSettings {
            listeners: self
                .listen_addrs()
                .into_iter()
                .map(|addr| ListenerSettings {
                    addr,
                    proxy_protocol: self.server.proxy_protocol,
                    trusted_proxies: self
                        .server
                        .trusted_proxies
                        .iter()
                        .filter_map(|t| super::validate::parse_trusted(t))
                        .collect(),
                    // TLS listeners and their certificates: `Config::shard_settings_with_tls`.
                    tls: None,
                })
                .collect(),
            io: self.server.io,
            shards: self.shard_count(),
            pin_shards: self.server.pin_shards,
            max_connections: self.server.max_connections,
            session: SessionConfig {
                chunk_size: self.server.chunk_size,
                window_ack_size: self.server.window_ack_size,
                max_message_size: self.publish.max_message_size,
                ..SessionConfig::default()
            },
            nodelay: self.socket.nodelay,
            send_buffer: self.socket.send_buffer,
            recv_buffer: self.socket.recv_buffer,
            takeover: self.publish.takeover,
            publisher_idle_timeout: self.publish.idle_timeout(),
            handshake_timeout: self.timeouts.handshake(),
            proxy_header_timeout: self.timeouts.proxy_header(),
            write_merge: self.play.write_merge(),
            adaptive_merge_max: self.play.adaptive_merge_max(),
            queue: QueueLimits {
                max_span_ms: clamp_ms(self.play.queue_max_ms),
                max_bytes: self.play.queue_max_bytes,
                kick_after_ms: clamp_ms(self.play.kick_after_ms),
            },
            gop_cache: self.play.gop_cache,
            // A GOP bigger than a player's queue could never be sent whole anyway.
            max_gop_bytes: self.play.queue_max_bytes.min(MAX_GOP_BYTES),
            write_stall_timeout: self.play.write_stall_timeout(),
            relay: self.relay_settings(),
            tls_client: None,
        }
    }
}

fn clamp_ms(ms: u64) -> u32 {
    ms.min(u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_map_onto_shard_settings() {
        let s = Config::default().shard_settings();
        let addrs: Vec<_> = s.listeners.iter().map(|l| l.addr).collect();
        assert_eq!(addrs, vec!["0.0.0.0:1935".parse().unwrap()]);
        assert!(s.shards >= 1);
        assert_eq!(s.session.chunk_size, 4096);
        assert_eq!(s.queue.max_span_ms, 5000);
        assert!(s.write_merge.is_zero());
        assert!(!s.listeners[0].proxy_protocol);
        assert_eq!(s.queue.kick_after_ms, 15_000);
        assert_eq!(s.queue.max_bytes, 16 << 20);
    }

    #[test]
    fn proxy_protocol_reaches_the_shards() {
        let c = Config::from_toml_str("[server]\nproxy_protocol = true\n").unwrap();
        assert!(c.shard_settings().listeners[0].proxy_protocol);
    }

    #[test]
    fn trusted_proxies_reach_the_listeners() {
        let c = Config::from_toml_str(
            "[server]\nproxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.7\"]\n",
        )
        .unwrap();
        let l = &c.shard_settings().listeners[0];
        assert!(l.trusts("10.1.2.3".parse().unwrap()));
        assert!(l.trusts("127.0.0.7".parse().unwrap()));
        assert!(l.trusts("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!l.trusts("127.0.0.1".parse().unwrap()));
        let err = Config::from_toml_str("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"nope\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2:1: server.trusted_proxies[1] = \"nope\""),
            "{err}"
        );
    }
}
