//! The relay part of the configuration: `[[app]]` tables (origins to pull from, push
//! targets, their timeouts) and `[relay]` (the hop limit), their checks, and their resolution
//! into [`RelaySettings`] for the shards.
//!
//! Defaults live here, in the `Default` impls, and nowhere else. The only I/O is the name
//! resolution of origin and push hosts in [`Config::relay_settings`] (once, at start).
use super::config::Config;
use super::validate::ConfigProblem;
use crate::relay::url::RtmpUrl;
use crate::relay::{AppRelay, OriginChoice, RelaySettings, Upstream, ANY_APP};
use serde::{Deserialize, Serialize};
use std::net::ToSocketAddrs;
use std::time::Duration;

/// One `[[app]]` table: where the streams of an app come from and go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// The app (the first path segment of the stream URL), or `*` for every app without a
    /// table of its own.
    pub name: String,
    /// `rtmp://HOST:PORT/APP` of the origins a stream not published here is pulled from.
    pub origins: Vec<String>,
    /// `ordered` (in order, failing over) or `hash` (rendezvous hashing of the stream key).
    pub origin_choice: OriginChoice,
    /// `rtmp://HOST:PORT/APP` of the servers every stream published here is forwarded to.
    pub push: Vec<String>,
    /// A pulled stream's upstream closes this long after its last player left.
    pub idle_close_ms: u64,
    pub connect_timeout_ms: u64,
    /// From TCP connect until the upstream answered `connect`.
    pub handshake_timeout_ms: u64,
    /// From the answered `connect` until the first media (pull) or `Publish.Start` (push).
    pub play_timeout_ms: u64,
    /// Recording of this app's streams (see `record`): the table form...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<super::record::RecordConfig>,
    /// ...or the flat keys (`record_dir` turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_format: Option<crate::record::RecordFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_split_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_max_queue_bytes: Option<usize>,
    /// Who may publish and play (see `access`).
    pub access: super::access::AccessConfig,
    /// Segment this app's streams for HLS/DASH; unset: the `*` table's, else `hls.enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls: Option<bool>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            name: ANY_APP.to_owned(),
            origins: Vec::new(),
            origin_choice: OriginChoice::Ordered,
            push: Vec::new(),
            idle_close_ms: 5_000,
            connect_timeout_ms: 3_000,
            handshake_timeout_ms: 5_000,
            play_timeout_ms: 5_000,
            record: None,
            record_dir: None,
            record_format: None,
            record_split_s: None,
            record_max_queue_bytes: None,
            access: Default::default(),
            hls: None,
        }
    }
}

/// `[relay]`: node-wide relay rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// A publish or play whose stream name carries more hops (`?hops=N`) is refused.
    pub hop_limit: u32,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig { hop_limit: 8 }
    }
}

impl Config {
    /// Adds `--origin` / `--push` URLs to every app table (and to a `*` table, created when
    /// missing), so they apply to every app.
    pub fn add_relay_flags(&mut self, origins: &[String], push: &[String]) {
        if origins.is_empty() && push.is_empty() {
            return;
        }
        if !self.apps.iter().any(|a| a.name == ANY_APP) {
            self.apps.push(AppConfig::default());
        }
        for app in &mut self.apps {
            app.origins.extend(origins.iter().cloned());
            app.push.extend(push.iter().cloned());
        }
    }

    /// Problems in the `[[app]]` tables: URLs that do not parse, empty names.
    pub(crate) fn validate_relay(&self, out: &mut Vec<ConfigProblem>) {
        for app in &self.apps {
            if app.name.is_empty() || app.name.contains('/') {
                out.push(ConfigProblem {
                    key: "app.name",
                    index: None,
                    value: format!("{:?}", app.name),
                    reason: "must be an app name or \"*\"".into(),
                });
            }
            for (key, list) in [("app.origins", &app.origins), ("app.push", &app.push)] {
                for (i, url) in list.iter().enumerate() {
                    if let Err(e) = RtmpUrl::parse_app(url) {
                        out.push(ConfigProblem {
                            key,
                            index: Some(i),
                            value: format!("{url:?}"),
                            reason: format!("is not rtmp://HOST[:PORT]/APP: {e}"),
                        });
                    }
                }
            }
        }
    }

    /// The relay settings, with every origin and push host resolved (first address). Hosts
    /// that do not resolve are skipped with a warning.
    pub fn relay_settings(&self) -> RelaySettings {
        let resolve = |list: &[String]| -> Vec<Upstream> {
            list.iter()
                .filter_map(|u| {
                    let url = RtmpUrl::parse_app(u).ok()?;
                    let addr = (url.host.as_str(), url.port)
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut a| a.next());
                    if addr.is_none() {
                        tracing::warn!(url = %u, "relay host does not resolve; skipped");
                    }
                    Some(Upstream { url, addr: addr? })
                })
                .collect()
        };
        let ms = Duration::from_millis;
        RelaySettings {
            apps: self
                .apps
                .iter()
                .map(|a| AppRelay {
                    name: a.name.clone(),
                    origins: resolve(&a.origins),
                    origin_choice: a.origin_choice,
                    push: resolve(&a.push),
                    idle_close: ms(a.idle_close_ms),
                    connect_timeout: ms(a.connect_timeout_ms),
                    handshake_timeout: ms(a.handshake_timeout_ms),
                    play_timeout: ms(a.play_timeout_ms),
                })
                .collect(),
            hop_limit: self.relay.hop_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_tables_parse_with_defaults() {
        let c = Config::from_toml_str(
            "[[app]]\nname = \"live\"\norigins = [\"rtmp://127.0.0.1:1940/live\"]\n\
             origin_choice = \"hash\"\n",
        )
        .unwrap();
        let r = c.relay_settings();
        let app = r.app("live").unwrap();
        assert_eq!(app.origins[0].addr, "127.0.0.1:1940".parse().unwrap());
        assert_eq!(app.origin_choice, OriginChoice::Hash);
        assert_eq!(app.idle_close, Duration::from_secs(5));
        assert_eq!(r.hop_limit, 8);
        assert!(r.app("other").is_none());
    }

    #[test]
    fn flags_apply_to_every_app_and_bad_urls_are_refused() {
        let mut c = Config::from_toml_str("[[app]]\nname = \"live\"\n").unwrap();
        c.add_relay_flags(
            &["rtmp://127.0.0.1:1/o".into()],
            &["rtmp://127.0.0.1:2/p".into()],
        );
        let r = c.relay_settings();
        assert_eq!(r.app("live").unwrap().origins.len(), 1);
        assert_eq!(r.app("x").unwrap().push.len(), 1);
        assert!(Config::from_toml_str("[[app]]\norigins = [\"http://x/a\"]\n").is_err());
    }
}
