//! Access control of HTTP plays: HTTP-FLV, and HLS/DASH playlists, manifests and every file
//! they name (init, segments, parts). Each request is decided by the same sans-IO
//! [`crate::auth`] play rules as an RTMP play, before it is served.
//!
//! A refusal is a 403, counted by reason and logged (within the shard's refusal log rate) like
//! an RTMP refusal. When the rules ask the HTTP callback, the connection waits in
//! [`HttpState::Authorizing`]: no thread blocks, pipelined requests stay unread, and the
//! request is served as if it had just come once the answer is back (`handle_callback`), or
//! decided as the app's `callback_fail_open` says when `callback_timeout` passes first.
//!
//! HLS/DASH clients reload the playlist every part or second and fetch many files, so a
//! callback's "allow" is remembered ([`AllowCache`]) for the app's `callback_cache`, keyed by
//! client IP, app, stream and the credential part of the query (what playlist URIs carry):
//! reloads and file fetches within that time do not ask again. Only a real 2xx is
//! remembered (a fail-open allow is not). The cache is per shard and bounded
//! ([`CACHE_ENTRIES`]: when full, expired entries go, then the one expiring first); a
//! settings reload empties it. Sans-IO: time is an argument.
use super::conn::Connection;
use super::http::HttpState;
use super::{ConnId, ShardCore};
use crate::auth::callback::{CallbackEvent, CallbackOutcome, CallbackRequest};
use crate::auth::{credential_query, AccessRequest, Action, Decision, DenyReason};
use crate::http::response;
use crate::http::route::StreamPath;
use crate::http::{route, Request, Route};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tracing::info;

/// Most remembered callback allows per shard.
pub const CACHE_ENTRIES: usize = 4096;

/// What a remembered allow is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    ip: IpAddr,
    app: String,
    stream: String,
    /// The credential part of the query ([`credential_query`]).
    query: String,
}

/// Callback allows of HTTP plays, with their expiry. See the module doc.
#[derive(Debug, Default)]
pub(crate) struct AllowCache {
    entries: HashMap<CacheKey, Instant>,
}

impl AllowCache {
    fn allows(&self, key: &CacheKey, now: Instant) -> bool {
        self.entries.get(key).is_some_and(|&until| until > now)
    }

    fn insert(&mut self, key: CacheKey, until: Instant, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= CACHE_ENTRIES {
            self.entries.retain(|_, until| *until > now);
            if self.entries.len() >= CACHE_ENTRIES {
                let first = self
                    .entries
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| k.clone());
                if let Some(first) = first {
                    self.entries.remove(&first);
                }
            }
        }
        self.entries.insert(key, until);
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// An HTTP request waiting for its callback.
#[derive(Debug)]
pub(crate) struct HttpAuthWait {
    request: Request,
    ticket: u64,
    fail_open: bool,
    /// Where a 2xx is remembered, and for how long (None: not remembered).
    cache: Option<(CacheKey, Duration)>,
}

/// What the access check of one HTTP request decided.
pub(super) enum HttpAccess {
    /// Serve it now.
    Allow,
    /// The 403 is queued.
    Refused,
    /// The connection waits for the callback.
    Waiting,
}

impl ShardCore {
    /// Decides `req` of HTTP connection `id` for the stream `path` names. `granted`: its
    /// callback already allowed it (the request is served after the answer).
    pub(super) fn http_authorize(
        &mut self,
        id: usize,
        path: &StreamPath<'_>,
        req: &Request,
        granted: bool,
        now: Instant,
    ) -> HttpAccess {
        let Some(peer) = self.conns.get(id).map(Connection::peer) else {
            return HttpAccess::Refused;
        };
        let decision = self.settings.access.decide(&AccessRequest {
            action: Action::Play,
            app: path.app,
            stream: path.stream,
            query: path.query,
            peer: peer.ip(),
            unix_now: self.unix_now(now),
        });
        let deny = |core: &mut ShardCore, reason| {
            core.http_refuse(id, path, peer, reason, req.keep_alive, now);
            HttpAccess::Refused
        };
        match decision {
            Decision::Allow => HttpAccess::Allow,
            Decision::Deny(reason) => deny(self, reason),
            Decision::AskCallback if granted => HttpAccess::Allow,
            Decision::AskCallback => {
                let Some(rules) = self.settings.access.app(path.app) else {
                    return HttpAccess::Allow;
                };
                let Some(url) = rules.play.callback.clone() else {
                    return HttpAccess::Allow;
                };
                let key = CacheKey {
                    ip: peer.ip().to_canonical(),
                    app: path.app.to_owned(),
                    stream: path.stream.to_owned(),
                    query: credential_query(path.query),
                };
                if self.auth.allowed.allows(&key, now) {
                    return HttpAccess::Allow;
                }
                let ttl = rules.callback_cache;
                let fail_open = rules.callback_fail_open;
                let request = CallbackRequest {
                    url,
                    event: CallbackEvent::Authorize,
                    action: Action::Play,
                    client: peer,
                    app: path.app.to_owned(),
                    stream: path.stream.to_owned(),
                    query: path.query.to_owned(),
                    timeout: rules.callback_timeout,
                };
                let ticket = self.auth.ask(ConnId(id), request, now);
                if let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) {
                    h.state = HttpState::Authorizing(Box::new(HttpAuthWait {
                        request: req.clone(),
                        ticket,
                        fail_open,
                        cache: (!ttl.is_zero()).then_some((key, ttl)),
                    }));
                }
                HttpAccess::Waiting
            }
        }
    }

    /// The callback `ticket` of HTTP connection `id` ended with `outcome`: serve or refuse
    /// its request. False when `id` has no HTTP request waiting for `ticket`.
    pub(super) fn http_callback(
        &mut self,
        id: usize,
        ticket: u64,
        outcome: CallbackOutcome,
        now: Instant,
    ) -> bool {
        let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) else {
            return false;
        };
        if !matches!(&h.state, HttpState::Authorizing(w) if w.ticket == ticket) {
            return false;
        }
        let HttpState::Authorizing(wait) = std::mem::replace(&mut h.state, HttpState::Idle) else {
            return false;
        };
        h.idle_since = now;
        self.auth.settle(id, ticket);
        let HttpAuthWait {
            request,
            fail_open,
            cache,
            ..
        } = *wait;
        if outcome == CallbackOutcome::Allowed {
            // A cache time past the clock's range is not remembered.
            if let Some((key, until)) = cache.and_then(|(k, ttl)| Some((k, now.checked_add(ttl)?)))
            {
                self.auth.allowed.insert(key, until, now);
            }
        }
        match super::authorize::verdict(outcome, fail_open) {
            Ok(()) => self.http_request(id, request, true, now),
            Err(reason) => {
                let peer = self.conns.get(id).map(Connection::peer);
                if let (Some(peer), Route::Flv(path) | Route::Segment { stream: path, .. }) =
                    (peer, route(&request.target))
                {
                    self.http_refuse(id, &path, peer, reason, request.keep_alive, now);
                }
            }
        }
        self.http_serve(id, now);
        true
    }

    /// Refuses an HTTP play: 403, the counter, a (rate-limited) log line.
    fn http_refuse(
        &mut self,
        id: usize,
        path: &StreamPath<'_>,
        peer: SocketAddr,
        reason: DenyReason,
        keep_alive: bool,
        now: Instant,
    ) {
        self.stats.auth_refused[Action::Play.index()][reason.index()] += 1;
        if self.may_log(now) {
            info!(shard = self.index, %peer, app = path.app, stream = path.stream, action = "play", reason = reason.as_str(), "HTTP access refused");
        }
        self.http_respond(id, response::simple(403, keep_alive), keep_alive, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> CacheKey {
        CacheKey {
            ip: IpAddr::from([127, 0, 0, 1]),
            app: "live".into(),
            stream: format!("s{n}"),
            query: String::new(),
        }
    }

    #[test]
    fn the_cache_expires_and_stays_bounded() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut c = AllowCache::default();
        c.insert(key(0), t0 + sec, t0);
        assert!(c.allows(&key(0), t0));
        assert!(!c.allows(&key(0), t0 + sec));
        assert!(!c.allows(&key(1), t0));
        for n in 1..CACHE_ENTRIES + 10 {
            c.insert(key(n), t0 + sec * (n as u32 + 1), t0);
        }
        assert_eq!(c.len(), CACHE_ENTRIES);
        // The ones expiring first went; the newest stay.
        assert!(!c.allows(&key(1), t0));
        assert!(c.allows(&key(CACHE_ENTRIES + 9), t0));
        // Full of expired entries: they all go at the next insert.
        let late = t0 + sec * 100_000;
        c.insert(key(0), late + sec, late);
        assert_eq!(c.len(), 1);
    }
}
