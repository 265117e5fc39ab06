//! The access part of the configuration: the `access` sub-table of an `[[app]]` table
//! (`[app.access]`, `[app.access.publish]`, `[app.access.play]`), the `--publish-secret` /
//! `--play-secret` flags, their checks, and their resolution into the sans-IO
//! [`AccessPolicy`] the shards decide with.
//!
//! Defaults live here, in the `Default` impls. The only I/O is reading the key files (PEM,
//! JWKS, stream keys) in [`Config::access_policy`], at start and on every reload (SIGHUP), so
//! rotated keys are picked up without a restart.
use super::config::Config;
use super::validate::ConfigProblem;
use crate::auth::{AccessPolicy, ActionRules, AppRules, ANY_APP};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[app.access]`: who may publish and play the app's streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    pub publish: ActionAccessConfig,
    pub play: ActionAccessConfig,
    /// URL POSTed (fire-and-forget) when an allowed publish or play ends; empty: none.
    pub on_done: String,
    /// How long a callback may take before the request is decided without it.
    pub callback_timeout_ms: u64,
    /// Allow when a callback times out or fails (by default such requests are refused).
    pub callback_fail_open: bool,
    /// How long a shard remembers a callback's "allow" of an HTTP play (HLS/DASH playlist
    /// reloads and segment fetches), per client IP, app, stream and credentials; 0: never.
    pub callback_cache_ms: u64,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            publish: ActionAccessConfig::default(),
            play: ActionAccessConfig::default(),
            on_done: String::new(),
            callback_timeout_ms: 3_000,
            callback_fail_open: false,
            callback_cache_ms: 30_000,
        }
    }
}

/// `[app.access.publish]` / `[app.access.play]`: the rules of one action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionAccessConfig {
    /// CIDRs (or single IPs) allowed; empty: every address not denied.
    pub allow: Vec<String>,
    /// CIDRs (or single IPs) refused, checked first.
    pub deny: Vec<String>,
    /// Signed-URL secrets (`?expires=..&token=..`); several while rotating.
    pub secrets: Vec<String>,
    /// HS256 secrets for `?jwt=`.
    pub jwt_secrets: Vec<String>,
    /// PEM files of RS256 / ES256 public keys for `?jwt=`.
    pub jwt_public_keys: Vec<String>,
    /// JWKS files (RSA and EC keys, picked by `kid`) for `?jwt=`.
    pub jwt_jwks: Vec<String>,
    /// Stream keys accepted as `?key=`.
    pub stream_keys: Vec<String>,
    /// A file of further stream keys, one per line (`#` comments).
    pub stream_keys_file: String,
    /// The `on_publish` / `on_play` URL: POSTed after every other rule passed; 2xx allows.
    pub callback: String,
}

/// The CIDR (or single IP) `text` means.
fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// The dotted key of `field` in the table of `action` (`publish` or `play`), for problems.
fn dotted(action: &str, field: &str) -> &'static str {
    match (action, field) {
        ("publish", "allow") => "app.access.publish.allow",
        ("publish", "deny") => "app.access.publish.deny",
        ("publish", "secrets") => "app.access.publish.secrets",
        ("publish", "jwt_secrets") => "app.access.publish.jwt_secrets",
        ("publish", "jwt_public_keys") => "app.access.publish.jwt_public_keys",
        ("publish", "jwt_jwks") => "app.access.publish.jwt_jwks",
        ("publish", "stream_keys_file") => "app.access.publish.stream_keys_file",
        ("publish", "callback") => "app.access.publish.callback",
        ("play", "allow") => "app.access.play.allow",
        ("play", "deny") => "app.access.play.deny",
        ("play", "secrets") => "app.access.play.secrets",
        ("play", "jwt_secrets") => "app.access.play.jwt_secrets",
        ("play", "jwt_public_keys") => "app.access.play.jwt_public_keys",
        ("play", "jwt_jwks") => "app.access.play.jwt_jwks",
        ("play", "stream_keys_file") => "app.access.play.stream_keys_file",
        ("play", "callback") => "app.access.play.callback",
        _ => "app.access",
    }
}

/// The rules of `action` (`publish` or `play`), with every file read; or the first problem.
fn action_rules(action: &str, c: &ActionAccessConfig) -> Result<ActionRules, ConfigProblem> {
    let problem = |key: &'static str, index: usize, value: &str, reason: String| ConfigProblem {
        key,
        index: Some(index),
        value: format!("{value:?}"),
        reason,
    };
    let nets = |field: &'static str, list: &[String]| -> Result<Vec<IpNet>, ConfigProblem> {
        list.iter()
            .enumerate()
            .map(|(i, t)| {
                parse_net(t).ok_or_else(|| problem(field, i, t, "is not a CIDR or an IP".into()))
            })
            .collect()
    };
    let mut rules = ActionRules {
        allow: nets(dotted(action, "allow"), &c.allow)?,
        deny: nets(dotted(action, "deny"), &c.deny)?,
        secrets: c.secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
        keys: c.stream_keys.clone(),
        callback: (!c.callback.is_empty()).then(|| c.callback.clone()),
        ..ActionRules::default()
    };
    if let Some(i) = c.secrets.iter().position(String::is_empty) {
        return Err(problem(
            dotted(action, "secrets"),
            i,
            "",
            "must not be empty".into(),
        ));
    }
    for (i, s) in c.jwt_secrets.iter().enumerate() {
        rules
            .jwt
            .add_secret(s.as_bytes())
            .map_err(|e| problem(dotted(action, "jwt_secrets"), i, "", e.to_string()))?;
    }
    for (i, path) in c.jwt_public_keys.iter().enumerate() {
        let key = dotted(action, "jwt_public_keys");
        let pem = read(path).map_err(|e| problem(key, i, path, e))?;
        rules
            .jwt
            .add_pem(&pem)
            .map_err(|e| problem(key, i, path, e.to_string()))?;
    }
    for (i, path) in c.jwt_jwks.iter().enumerate() {
        let key = dotted(action, "jwt_jwks");
        let json = read(path).map_err(|e| problem(key, i, path, e))?;
        rules
            .jwt
            .add_jwks(&json)
            .map_err(|e| problem(key, i, path, e.to_string()))?;
    }
    if !c.stream_keys_file.is_empty() {
        let path = &c.stream_keys_file;
        let text = read(path).map_err(|e| ConfigProblem {
            key: dotted(action, "stream_keys_file"),
            index: None,
            value: format!("{path:?}"),
            reason: e,
        })?;
        let text = String::from_utf8_lossy(&text);
        rules.keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    for (key, url) in [(dotted(action, "callback"), &c.callback)] {
        if !url.is_empty() && !is_callback_url(url) {
            return Err(ConfigProblem {
                key,
                index: None,
                value: format!("{url:?}"),
                reason: CALLBACK_URL_RULE.into(),
            });
        }
    }
    Ok(rules)
}

const CALLBACK_URL_RULE: &str = "must be an http:// or https:// URL (https:// is verified \
     against tls.ca_file, else the system's root certificates)";

fn is_callback_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

impl Config {
    /// Whether some app calls an `https://` callback (its roots then matter).
    pub fn has_https_callback(&self) -> bool {
        self.apps.iter().any(|app| {
            let a = &app.access;
            [&a.publish.callback, &a.play.callback, &a.on_done]
                .into_iter()
                .any(|url| url.starts_with("https://"))
        })
    }

    /// Adds `--publish-secret` / `--play-secret` to every app table (to a `*` table created
    /// when there is none at all), so they apply to every app. Apps that are refused because
    /// other apps are named stay refused.
    pub fn add_access_flags(&mut self, publish: &[String], play: &[String]) {
        if publish.is_empty() && play.is_empty() {
            return;
        }
        if self.apps.is_empty() {
            self.apps.push(super::relay::AppConfig::default());
        }
        for app in &mut self.apps {
            app.access.publish.secrets.extend(publish.iter().cloned());
            app.access.play.secrets.extend(play.iter().cloned());
        }
    }

    /// Problems in the access tables: bad CIDRs, unreadable or unusable key files.
    pub(crate) fn validate_access(&self, out: &mut Vec<ConfigProblem>) {
        for app in &self.apps {
            for (action, rules) in [("publish", &app.access.publish), ("play", &app.access.play)] {
                if let Err(p) = action_rules(action, rules) {
                    out.push(p);
                }
            }
            let url = &app.access.on_done;
            if !url.is_empty() && !is_callback_url(url) {
                out.push(ConfigProblem {
                    key: "app.access.on_done",
                    index: None,
                    value: format!("{url:?}"),
                    reason: CALLBACK_URL_RULE.into(),
                });
            }
        }
    }

    /// The access policy, every key file read now. An action whose rules cannot be built (a
    /// key file that vanished since the config was validated) is logged and refuses every
    /// request: fail closed.
    pub fn access_policy(&self) -> AccessPolicy {
        let apps = self
            .apps
            .iter()
            .map(|a| {
                let rules = |action: &str, c: &ActionAccessConfig| {
                    action_rules(action, c).unwrap_or_else(|p| {
                        tracing::warn!(app = %a.name, problem = %p, "access rules unusable: refusing every request");
                        ActionRules {
                            deny: vec![IpNet::V4(Default::default()), IpNet::V6(Default::default())],
                            ..ActionRules::default()
                        }
                    })
                };
                AppRules {
                    name: a.name.clone(),
                    publish: rules("publish", &a.access.publish),
                    play: rules("play", &a.access.play),
                    on_done: (!a.access.on_done.is_empty()).then(|| a.access.on_done.clone()),
                    callback_timeout: Duration::from_millis(a.access.callback_timeout_ms),
                    callback_fail_open: a.access.callback_fail_open,
                    callback_cache: Duration::from_millis(a.access.callback_cache_ms),
                }
            })
            .collect();
        AccessPolicy {
            apps,
            closed: !self.apps.is_empty() && !self.apps.iter().any(|a| a.name == ANY_APP),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AccessRequest, Action, Decision, DenyReason};

    fn decide(c: &Config, action: Action, app: &str, query: &str, peer: &str) -> Decision {
        c.access_policy().decide(&AccessRequest {
            action,
            app,
            stream: "cam",
            query,
            peer: peer.parse().unwrap(),
            unix_now: 100,
        })
    }

    #[test]
    fn access_tables_parse_and_resolve() {
        let c = Config::from_toml_str(
            "[[app]]\nname = \"live\"\n[app.access.publish]\ndeny = [\"10.0.0.0/8\", \"127.0.0.9\"]\n\
             stream_keys = [\"k\"]\n[app.access.play]\ncallback = \"http://127.0.0.1:9/auth\"\n",
        )
        .unwrap();
        assert_eq!(
            decide(&c, Action::Publish, "live", "key=k", "127.0.0.9"),
            Decision::Deny(DenyReason::IpDenied)
        );
        assert_eq!(
            decide(&c, Action::Publish, "live", "key=k", "127.0.0.1"),
            Decision::Allow
        );
        assert_eq!(
            decide(&c, Action::Play, "live", "", "127.0.0.1"),
            Decision::AskCallback
        );
        // Only `live` is configured.
        assert_eq!(
            decide(&c, Action::Play, "other", "", "127.0.0.1"),
            Decision::Deny(DenyReason::UnknownApp)
        );
        let p = c.access_policy();
        assert_eq!(p.apps[0].callback_timeout, Duration::from_secs(3));
        assert!(!p.apps[0].callback_fail_open);
        assert_eq!(p.apps[0].callback_cache, Duration::from_secs(30));
    }

    #[test]
    fn bad_cidrs_urls_and_files_are_problems() {
        for bad in [
            "[app.access.publish]\nallow = [\"nope\"]\n",
            "[app.access.play]\ncallback = \"ftp://x\"\n",
            "[app.access.play]\njwt_public_keys = [\"/nonexistent.pem\"]\n",
            "[app.access.publish]\nstream_keys_file = \"/nonexistent\"\n",
            "[app.access]\non_done = \"x\"\n",
            "[app.access.publish]\nunknown = 1\n",
        ] {
            let text = format!("[[app]]\nname = \"live\"\n{bad}");
            assert!(Config::from_toml_str(&text).is_err(), "{bad}");
        }
        let err =
            Config::from_toml_str("[[app]]\n[app.access.play]\ndeny = [\"10.0.0.0/8\", \"x\"]\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("app.access.play.deny[1] = \"x\""), "{err}");
    }

    #[test]
    fn https_callbacks_are_accepted_and_noticed() {
        let plain = Config::from_toml_str(
            "[[app]]\nname = \"live\"\n[app.access.publish]\ncallback = \"http://127.0.0.1:9/a\"\n",
        )
        .unwrap();
        assert!(!plain.has_https_callback());
        let tls = Config::from_toml_str(
            "[[app]]\nname = \"live\"\n[app.access]\non_done = \"https://auth.example/done\"\n",
        )
        .unwrap();
        assert!(tls.has_https_callback());
    }

    #[test]
    fn secret_flags_apply_to_every_app() {
        let mut c = Config::default();
        c.add_access_flags(&["s".into()], &[]);
        assert_eq!(c.apps[0].name, ANY_APP);
        assert_eq!(
            decide(&c, Action::Publish, "any", "", "127.0.0.1"),
            Decision::Deny(DenyReason::CredentialsMissing)
        );
        assert_eq!(
            decide(&c, Action::Play, "any", "", "127.0.0.1"),
            Decision::Allow
        );
        let mut named = Config::from_toml_str("[[app]]\nname = \"live\"\n").unwrap();
        named.add_access_flags(&[], &["p".into()]);
        assert_eq!(named.apps.len(), 1);
        assert!(!named.apps[0].access.play.secrets.is_empty());
    }

    #[test]
    fn stream_keys_file_is_read() {
        let dir = std::env::temp_dir().join(format!("rtmp-edge-keys-{}", std::process::id()));
        std::fs::write(&dir, "# comment\nk1\n\n  k2  \n").unwrap();
        let c = Config::from_toml_str(&format!(
            "[[app]]\nname = \"*\"\n[app.access.publish]\nstream_keys_file = {:?}\n",
            dir.display().to_string()
        ))
        .unwrap();
        assert_eq!(c.access_policy().apps[0].publish.keys, ["k1", "k2"]);
        std::fs::remove_file(&dir).unwrap();
    }
}
