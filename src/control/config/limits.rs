//! `[limits]`: what one peer, one IP and the whole node may take, with the defaults in one
//! place. The shard core enforces them (`shard::core::limits`); this module only holds the
//! table and checks its ranges. No I/O.
use super::super::validate::{parse_trusted, ConfigProblem};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[limits]`. A count of 0 turns that limit off where the comment says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections open on the whole node (all shards); further accepts are closed at once.
    pub max_connections: usize,
    /// Connections open from one IP address, node-wide (0 = no limit).
    pub max_connections_per_ip: usize,
    /// New connections (handshakes) one IP may start per second, on average (0 = no limit).
    pub handshakes_per_ip_per_s: u32,
    /// How many new connections one IP may start in a burst above that rate.
    pub handshake_burst_per_ip: u32,
    /// Sources the per-IP limits do not apply to (CIDRs or IPs): monitoring, load tests, a
    /// local proxy. The node-wide limits still do.
    pub exempt: Vec<String>,
    /// Streams the node keeps (published, pulled or waited for) at once.
    pub max_streams: usize,
    /// Players of one stream, node-wide (checked against the registry at play: with N shards
    /// simultaneous plays may pass it by up to N - 1).
    pub max_players_per_stream: usize,
    /// Chunk streams one peer may keep open.
    pub max_chunk_streams: usize,
    /// Bytes all partial (not yet complete) messages of one peer may hold together; at least
    /// `publish.max_message_size`.
    pub max_reassembly_bytes: usize,
    /// After the handshake: a connection that has not started publishing or playing within
    /// this long is closed.
    pub command_timeout_ms: u64,
    /// Deepest nesting of AMF objects and arrays accepted in a command or data message.
    pub amf_max_depth: usize,
    /// Most elements of one AMF object or array.
    pub amf_max_elements: usize,
    /// Longest stream or app name, in bytes (without the `?query`).
    pub max_name_bytes: usize,
    /// Refusal log lines per second per shard; beyond it lines are counted and the count of
    /// suppressed lines is logged with the next line that goes out.
    pub log_refusals_per_s: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 100_000,
            max_connections_per_ip: 1_000,
            handshakes_per_ip_per_s: 50,
            handshake_burst_per_ip: 200,
            exempt: vec!["127.0.0.0/8".to_owned(), "::1".to_owned()],
            max_streams: 10_000,
            max_players_per_stream: 100_000,
            max_chunk_streams: 64,
            max_reassembly_bytes: 32 << 20,
            command_timeout_ms: 10_000,
            amf_max_depth: 32,
            amf_max_elements: 65_536,
            max_name_bytes: 1_024,
            log_refusals_per_s: 5,
        }
    }
}

impl LimitsConfig {
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }

    /// The parsed exempt networks (entries that do not parse are skipped: validate first).
    pub fn exempt_nets(&self) -> Vec<ipnet::IpNet> {
        self.exempt
            .iter()
            .filter_map(|t| parse_trusted(t))
            .collect()
    }

    /// Range problems of the table; `max_message_size` is `publish.max_message_size`.
    pub(crate) fn problems(&self, max_message_size: u32) -> Vec<ConfigProblem> {
        let d = LimitsConfig::default();
        const M: u64 = 100_000_000;
        let ranges: [(&'static str, u64, u64, u64, u64); 12] = [
            (
                "limits.max_connections",
                self.max_connections as u64,
                d.max_connections as u64,
                1,
                M,
            ),
            (
                "limits.max_connections_per_ip",
                self.max_connections_per_ip as u64,
                d.max_connections_per_ip as u64,
                0,
                M,
            ),
            (
                "limits.handshakes_per_ip_per_s",
                self.handshakes_per_ip_per_s.into(),
                d.handshakes_per_ip_per_s.into(),
                0,
                1_000_000,
            ),
            (
                "limits.handshake_burst_per_ip",
                self.handshake_burst_per_ip.into(),
                d.handshake_burst_per_ip.into(),
                1,
                1_000_000,
            ),
            (
                "limits.max_streams",
                self.max_streams as u64,
                d.max_streams as u64,
                1,
                M,
            ),
            (
                "limits.max_players_per_stream",
                self.max_players_per_stream as u64,
                d.max_players_per_stream as u64,
                1,
                M,
            ),
            (
                "limits.max_chunk_streams",
                self.max_chunk_streams as u64,
                d.max_chunk_streams as u64,
                4,
                65_599,
            ),
            (
                "limits.command_timeout_ms",
                self.command_timeout_ms,
                d.command_timeout_ms,
                100,
                600_000,
            ),
            (
                "limits.amf_max_depth",
                self.amf_max_depth as u64,
                d.amf_max_depth as u64,
                4,
                1_000,
            ),
            (
                "limits.amf_max_elements",
                self.amf_max_elements as u64,
                d.amf_max_elements as u64,
                16,
                16_777_215,
            ),
            (
                "limits.max_name_bytes",
                self.max_name_bytes as u64,
                d.max_name_bytes as u64,
                16,
                65_535,
            ),
            (
                "limits.log_refusals_per_s",
                self.log_refusals_per_s.into(),
                d.log_refusals_per_s.into(),
                1,
                10_000,
            ),
        ];
        let mut out = Vec::new();
        for (key, value, default, lo, hi) in ranges {
            if value < lo || value > hi {
                out.push(ConfigProblem {
                    key,
                    index: None,
                    value: value.to_string(),
                    reason: format!(
                        "is out of range: must be {lo}..={hi}; the default is {default}"
                    ),
                });
            }
        }
        let reassembly = self.max_reassembly_bytes as u64;
        if reassembly < u64::from(max_message_size) || reassembly > 1 << 30 {
            out.push(ConfigProblem {
                key: "limits.max_reassembly_bytes",
                index: None,
                value: reassembly.to_string(),
                reason: format!(
                    "is out of range: must be publish.max_message_size ({max_message_size})..=1073741824 \
                     (bytes); the default is {}",
                    d.max_reassembly_bytes
                ),
            });
        }
        for (i, text) in self.exempt.iter().enumerate() {
            if parse_trusted(text).is_none() {
                out.push(ConfigProblem {
                    key: "limits.exempt",
                    index: Some(i),
                    value: format!("{text:?}"),
                    reason: "is not a CIDR or an IP address: write e.g. \"127.0.0.0/8\" or \"::1\""
                        .to_owned(),
                });
            }
        }
        out
    }
}

/// The command-line flags for the limits most often set (each overrides its key).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct LimitFlags {
    /// Connections open from one IP, node-wide; 0 = no limit (limits.max_connections_per_ip).
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// New connections per second per IP; 0 = no limit (limits.handshakes_per_ip_per_s).
    #[arg(long, value_name = "N")]
    pub handshakes_per_ip: Option<u32>,
    /// After the handshake: close connections that do not publish or play within this long
    /// (limits.command_timeout_ms).
    #[arg(long, value_name = "MS")]
    pub command_timeout_ms: Option<u64>,
}

impl LimitFlags {
    /// Writes the flags given into `config`, noting each key in `from_flags` (for errors).
    pub fn apply(
        &self,
        config: &mut super::Config,
        from_flags: &mut std::collections::HashSet<(&'static str, &'static str)>,
    ) {
        let l = &mut config.limits;
        if let Some(n) = self.max_connections_per_ip {
            l.max_connections_per_ip = n;
            from_flags.insert(("limits.max_connections_per_ip", "--max-connections-per-ip"));
        }
        if let Some(n) = self.handshakes_per_ip {
            l.handshakes_per_ip_per_s = n;
            from_flags.insert(("limits.handshakes_per_ip_per_s", "--handshakes-per-ip"));
        }
        if let Some(ms) = self.command_timeout_ms {
            l.command_timeout_ms = ms;
            from_flags.insert(("limits.command_timeout_ms", "--command-timeout-ms"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Config::default().validate().is_empty());
        let c =
            Config::from_toml_str("[limits]\ncommand_timeout_ms = 2000\nexempt = []\n").unwrap();
        assert_eq!(c.limits.command_timeout_ms, 2000);
        assert!(c.limits.exempt_nets().is_empty());
        for (text, key) in [
            (
                "[limits]\nmax_reassembly_bytes = 100\n",
                "limits.max_reassembly_bytes",
            ),
            ("[limits]\nexempt = [\"nope\"]\n", "limits.exempt"),
            ("[limits]\namf_max_depth = 0\n", "limits.amf_max_depth"),
        ] {
            let c: Config = toml::from_str(text).unwrap();
            let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
            assert_eq!(keys, [key], "{text}");
        }
        assert!(Config::from_toml_str("[limits]\nmax_conections = 1\n").is_err());
    }
}
