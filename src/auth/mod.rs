//! Access control: who may publish and play what. Sans-IO and reusable: the RTMP shard core
//! calls it for publish and play, and HTTP delivery can call the same checks for its players.
//!
//! [`AccessPolicy::decide`] takes an [`AccessRequest`] (action, app, stream, query, peer and
//! the current unix time, passed in: nothing here reads a clock) and answers a [`Decision`].
//! The rules of the request's app (its own entry, else the `*` one) for its action are
//! combined in this order:
//! 1. IP rules: a peer in `deny` is refused; with a non-empty `allow`, a peer outside it is
//!    refused.
//! 2. Credentials, when any kind is configured (signed-URL secrets, JWT keys, stream keys):
//!    the request must pass one of the kinds it presents (`token`, `jwt`, `key` in the
//!    query); a request presenting none is refused with `credentials_missing`.
//! 3. The HTTP callback, when configured: [`Decision::AskCallback`] (the caller asks it and
//!    the answer decides); otherwise [`Decision::Allow`].
//!
//! - [`signed`]: signed URLs (HMAC-SHA256, several secrets for rotation).
//! - [`jwt`]: JWT (HS256, RS256, ES256) and its claims.
//! - [`callback`]: what a callback request carries (the JSON body); the HTTP is elsewhere.
pub mod callback;
pub mod jwt;
pub mod signed;

use ipnet::IpNet;
use std::net::IpAddr;
use std::time::Duration;

pub use crate::relay::ANY_APP;

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Publish,
    Play,
}

impl Action {
    pub const ALL: [Action; 2] = [Action::Publish, Action::Play];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a request was refused: a metric label and a log field. It names the rule, never a
/// secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// The peer is in a deny list.
    IpDenied,
    /// The peer is outside a non-empty allow list.
    IpNotAllowed,
    /// Credentials are required and the request carries none.
    CredentialsMissing,
    /// A signed URL's token does not match (or its expiry is malformed).
    TokenInvalid,
    /// A signed URL or JWT expired.
    TokenExpired,
    /// A JWT's `nbf` is in the future.
    TokenNotYetValid,
    /// A JWT that does not verify with any key (or is malformed).
    JwtInvalid,
    /// A valid JWT whose claims do not grant this action, app and stream.
    JwtNotGranted,
    /// A stream key that is not in the app's list.
    KeyInvalid,
    /// The app is not configured (apps are, and there is no `*` entry).
    UnknownApp,
    /// The callback answered with a status other than 2xx.
    CallbackDenied,
    /// The callback did not answer in time (fail-closed).
    CallbackTimeout,
    /// The callback could not be reached (fail-closed).
    CallbackFailed,
    /// The connection sent more than the bound while its callback was pending.
    CallbackBufferFull,
}

impl DenyReason {
    pub const ALL: [DenyReason; 14] = [
        DenyReason::IpDenied,
        DenyReason::IpNotAllowed,
        DenyReason::CredentialsMissing,
        DenyReason::TokenInvalid,
        DenyReason::TokenExpired,
        DenyReason::TokenNotYetValid,
        DenyReason::JwtInvalid,
        DenyReason::JwtNotGranted,
        DenyReason::KeyInvalid,
        DenyReason::UnknownApp,
        DenyReason::CallbackDenied,
        DenyReason::CallbackTimeout,
        DenyReason::CallbackFailed,
        DenyReason::CallbackBufferFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::IpDenied => "ip_denied",
            DenyReason::IpNotAllowed => "ip_not_allowed",
            DenyReason::CredentialsMissing => "credentials_missing",
            DenyReason::TokenInvalid => "token_invalid",
            DenyReason::TokenExpired => "token_expired",
            DenyReason::TokenNotYetValid => "token_not_yet_valid",
            DenyReason::JwtInvalid => "jwt_invalid",
            DenyReason::JwtNotGranted => "jwt_not_granted",
            DenyReason::KeyInvalid => "key_invalid",
            DenyReason::UnknownApp => "unknown_app",
            DenyReason::CallbackDenied => "callback_denied",
            DenyReason::CallbackTimeout => "callback_timeout",
            DenyReason::CallbackFailed => "callback_failed",
            DenyReason::CallbackBufferFull => "callback_buffer_full",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// What the client is told: says what failed, never why in detail.
    pub fn description(self) -> &'static str {
        match self {
            DenyReason::IpDenied | DenyReason::IpNotAllowed => "access denied for this address",
            DenyReason::UnknownApp => "unknown application",
            DenyReason::CallbackTimeout | DenyReason::CallbackFailed => "authorization unavailable",
            _ => "access denied",
        }
    }
}

/// One publish or play request.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub action: Action,
    pub app: &'a str,
    /// The stream name without its query string.
    pub stream: &'a str,
    /// What followed `?` in the stream name, without the `?`.
    pub query: &'a str,
    /// The client (the PROXY protocol's source when that is on).
    pub peer: IpAddr,
    /// Seconds since the unix epoch, now.
    pub unix_now: u64,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
    /// Every local rule passed; the app's callback decides.
    AskCallback,
}

/// The rules of one action of one app.
#[derive(Debug, Clone, Default)]
pub struct ActionRules {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
    /// Signed-URL secrets (several while rotating).
    pub secrets: Vec<Vec<u8>>,
    pub jwt: jwt::JwtKeys,
    /// Stream keys (`?key=`); empty: no stream keys.
    pub keys: Vec<String>,
    /// The `on_publish` / `on_play` URL, if any.
    pub callback: Option<String>,
}

/// The rules of one app.
#[derive(Debug, Clone, Default)]
pub struct AppRules {
    /// The app name, or [`ANY_APP`].
    pub name: String,
    pub publish: ActionRules,
    pub play: ActionRules,
    /// Told (fire-and-forget) when an allowed publish or play ends.
    pub on_done: Option<String>,
    pub callback_timeout: Duration,
    /// Allow when the callback times out or fails (default: refuse).
    pub callback_fail_open: bool,
    /// How long an HTTP play's callback "allow" is remembered for the same client, stream
    /// and credentials (playlist reloads, segments); zero: not remembered.
    pub callback_cache: Duration,
}

impl AppRules {
    pub fn rules(&self, action: Action) -> &ActionRules {
        match action {
            Action::Publish => &self.publish,
            Action::Play => &self.play,
        }
    }
}

/// The access rules of every app.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    pub apps: Vec<AppRules>,
    /// Apps are configured by name and there is no `*` entry: others are refused.
    pub closed: bool,
}

impl AccessPolicy {
    /// The rules of `app`: its own entry, else the `*` one.
    pub fn app(&self, app: &str) -> Option<&AppRules> {
        self.apps
            .iter()
            .find(|a| a.name == app)
            .or_else(|| self.apps.iter().find(|a| a.name == ANY_APP))
    }

    /// Whether `app` may be connected to at all.
    pub fn knows_app(&self, app: &str) -> bool {
        !self.closed || self.app(app).is_some()
    }

    /// The decision for `req`, in the order of the module doc.
    pub fn decide(&self, req: &AccessRequest<'_>) -> Decision {
        if !self.knows_app(req.app) {
            return Decision::Deny(DenyReason::UnknownApp);
        }
        let Some(app) = self.app(req.app) else {
            return Decision::Allow;
        };
        let rules = app.rules(req.action);
        if let Err(reason) = check_ip(rules, req.peer) {
            return Decision::Deny(reason);
        }
        if let Err(reason) = check_credentials(rules, req) {
            return Decision::Deny(reason);
        }
        if rules.callback.is_some() {
            Decision::AskCallback
        } else {
            Decision::Allow
        }
    }
}

fn check_ip(rules: &ActionRules, peer: IpAddr) -> Result<(), DenyReason> {
    let peer = peer.to_canonical();
    if rules.deny.iter().any(|n| n.contains(&peer)) {
        return Err(DenyReason::IpDenied);
    }
    if !rules.allow.is_empty() && !rules.allow.iter().any(|n| n.contains(&peer)) {
        return Err(DenyReason::IpNotAllowed);
    }
    Ok(())
}

/// Passes when no kind of credential is configured, or one the request presents checks out.
/// Fails with the reason of the first kind presented that failed.
fn check_credentials(rules: &ActionRules, req: &AccessRequest<'_>) -> Result<(), DenyReason> {
    let any_kind = !rules.secrets.is_empty() || !rules.jwt.is_empty() || !rules.keys.is_empty();
    if !any_kind {
        return Ok(());
    }
    let mut first_failure = None;
    let mut note = |r: Result<(), DenyReason>| match r {
        Ok(()) => true,
        Err(reason) => {
            first_failure.get_or_insert(reason);
            false
        }
    };
    if !rules.secrets.is_empty() {
        if let Some(token) = query_param(req.query, "token") {
            let expires = query_param(req.query, "expires");
            let r = signed::verify(
                &rules.secrets,
                req.action,
                req.app,
                req.stream,
                expires,
                token,
                req.unix_now,
            );
            if note(r) {
                return Ok(());
            }
        }
    }
    if !rules.jwt.is_empty() {
        if let Some(token) = query_param(req.query, "jwt") {
            let r = rules
                .jwt
                .verify(token, req.action, req.app, req.stream, req.unix_now);
            if note(r) {
                return Ok(());
            }
        }
    }
    if !rules.keys.is_empty() {
        if let Some(key) = query_param(req.query, "key") {
            if note(check_key(&rules.keys, key)) {
                return Ok(());
            }
        }
    }
    Err(first_failure.unwrap_or(DenyReason::CredentialsMissing))
}

/// Every key is compared (in constant time each), so the time taken tells nothing of which
/// one came close.
fn check_key(keys: &[String], given: &str) -> Result<(), DenyReason> {
    use subtle::ConstantTimeEq;
    let mut found = subtle::Choice::from(0);
    for key in keys {
        found |= key.as_bytes().ct_eq(given.as_bytes());
    }
    if bool::from(found) {
        Ok(())
    } else {
        Err(DenyReason::KeyInvalid)
    }
}

/// The first value of `name` in a `a=1&b=2` query (verbatim: tokens, JWTs and keys need no
/// percent-decoding).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The query parameters [`AccessPolicy::decide`] reads as credentials.
pub const CREDENTIAL_PARAMS: [&str; 4] = ["expires", "token", "jwt", "key"];

/// The credential part of `query` (its [`CREDENTIAL_PARAMS`], in order), to carry into the
/// URIs of playlists and manifests so that the files they name pass the same checks. A
/// parameter whose value holds anything beyond URL-safe characters is left out: the result
/// is written verbatim into quoted playlist attributes and XML (after escaping `&`).
pub fn credential_query(query: &str) -> String {
    let safe = |v: &str| {
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=%:,".contains(&b))
    };
    let mut out = String::new();
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if CREDENTIAL_PARAMS.contains(&k) && safe(v) {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(pair);
        }
    }
    out
}

/// Whether `pattern` (where `*` matches any run of characters) matches `text`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests;
