//! Turns the validated [`Config`] into what the shards run with.
use super::Config;
use crate::media::queue::QueueLimits;
use crate::session::SessionConfig;
use crate::shard::{LimitSettings, ListenerProtocol, ListenerSettings, ShardSettings};

/// Largest GOP kept for instant start, whatever the queue allows.
const MAX_GOP_BYTES: usize = 32 << 20;

impl Config {
    /// The shard settings this configuration asks for.
    pub fn shard_settings(&self) -> ShardSettings {
        let access = self.access_policy();
        let hls_apps = crate::shard::HlsApps {
            default: self.hls.enabled,
            apps: self
                .apps
                .iter()
                .filter_map(|a| a.hls.map(|on| (a.name.clone(), on)))
                .collect(),
        };
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
                    protocol: ListenerProtocol::Rtmp,
                    // TLS listeners and their certificates: `Config::shard_settings_with_tls`.
                    tls: None,
                })
                .chain(
                    self.http_play
                        .listen_addrs()
                        .into_iter()
                        .map(ListenerSettings::http),
                )
                .collect(),
            io: self.server.io,
            shards: self.shard_count(),
            pin_shards: self.server.pin_shards,
            max_connections: self.server.max_connections,
            session: SessionConfig {
                chunk_size: self.server.chunk_size,
                window_ack_size: self.server.window_ack_size,
                max_message_size: self.publish.max_message_size,
                known_apps: access
                    .closed
                    .then(|| access.apps.iter().map(|a| a.name.clone()).collect()),
                max_chunk_streams: self.limits.max_chunk_streams,
                max_reassembly_bytes: self.limits.max_reassembly_bytes,
                max_name_bytes: self.limits.max_name_bytes,
                amf_limits: crate::protocol::amf::Limits {
                    max_depth: self.limits.amf_max_depth,
                    max_elements: self.limits.amf_max_elements,
                },
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
            record: self.record_apps(),
            access: std::sync::Arc::new(access),
            limits: self.limit_settings(),
            http: self.http_play.settings(),
            tls_client: None,
            hls: hls_apps.any().then(|| self.hls.segmenter_settings()),
            hls_apps,
            hls_ended_keep: self.hls.ended_keep(),
        }
    }
}

impl Config {
    fn limit_settings(&self) -> LimitSettings {
        let l = &self.limits;
        LimitSettings {
            max_connections: l.max_connections,
            max_connections_per_ip: l.max_connections_per_ip,
            handshakes_per_ip_per_s: l.handshakes_per_ip_per_s,
            handshake_burst_per_ip: l.handshake_burst_per_ip,
            exempt: l.exempt_nets(),
            max_streams: l.max_streams,
            max_players_per_stream: l.max_players_per_stream,
            command_timeout: l.command_timeout(),
            log_refusals_per_s: l.log_refusals_per_s,
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
    fn http_play_listeners_follow_the_rtmp_ones() {
        let c = Config::from_toml_str(
            "[http_play]\nlisten = [\"127.0.0.1:8080\"]\nstream_wait_ms = 700\n",
        )
        .unwrap();
        let s = c.shard_settings();
        assert_eq!(s.listeners.len(), 2);
        assert_eq!(s.listeners[0].protocol, ListenerProtocol::Rtmp);
        assert_eq!(s.listeners[1].protocol, ListenerProtocol::Http);
        assert_eq!(s.listeners[1].addr, "127.0.0.1:8080".parse().unwrap());
        assert!(s.serves_http() && !Config::default().shard_settings().serves_http());
        assert_eq!(s.http.stream_wait, std::time::Duration::from_millis(700));
        assert_eq!(s.http.limits.max_head, 8192);
        let bad = Config::from_toml_str("[http_play]\nlisten = [\"nowhere\"]\n");
        assert!(bad.is_err());
        let bad = Config::from_toml_str("[http_play]\nmax_head_bytes = 10\n");
        assert!(bad.is_err());
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
