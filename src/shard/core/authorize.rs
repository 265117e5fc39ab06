//! Access control in the shard core: every publish and play is decided by the sans-IO
//! [`crate::auth`] policy before it starts. A refusal answers with the request's onStatus
//! error (publish: `NetStream.Publish.BadName`, play: `NetStream.Play.StreamNotFound`), a
//! description that names no secret, closes the connection once that is written, is counted
//! by action and reason, and is logged at most [`LOG_LINES_PER_SEC`] times per second.
//!
//! When the policy asks its HTTP callback, the connection waits in [`Role::Authorizing`]: no
//! thread blocks. The request comes out of `poll_callback` for the driver to hand to the
//! worker pool, the answer comes back through `handle_callback` (or the callback's timeout
//! passes in `handle_timeout`). Meanwhile the connection's events and further input are held,
//! at most [`HOLD_LIMIT`] bytes (beyond it the connection is refused), and replayed in order
//! once it is allowed.
//!
//! HTTP plays are decided by the same policy in `http_auth`, sharing the callback queue,
//! the deadlines and the refusal log kept here.
//!
//! Wall-clock time for expiries is derived from `now` and one `handle_wall_clock` input; until
//! that came, every expiry counts as past (fail closed).
use super::conn::Role;
use super::{CloseReason, ConnId, ShardCore};
use crate::auth::callback::{CallbackEvent, CallbackOutcome, CallbackRequest};
use crate::auth::{AccessRequest, Action, Decision, DenyReason};
use crate::session::{PlayRequest, PublishRequest, ServerEvent, SessionError};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Most bytes (input and held events) a connection may send while its callback is pending.
pub const HOLD_LIMIT: usize = 1 << 20;
/// Refusal log lines per second per shard; the rest are counted and summarised.
pub const LOG_LINES_PER_SEC: u32 = 10;

/// The request a connection waits with.
#[derive(Debug)]
pub(crate) enum Held {
    Publish(PublishRequest),
    Play(PlayRequest),
}

/// An inbound connection waiting for its callback.
#[derive(Debug)]
pub(crate) struct Authorizing {
    pub request: Held,
    pub ticket: u64,
    pub fail_open: bool,
    /// Events decoded after the request, in order.
    pub events: VecDeque<ServerEvent>,
    /// Input not yet given to the session.
    pub input: Vec<u8>,
    /// Bytes held in `events` and `input`.
    pub held_bytes: usize,
}

/// A callback for the driver to hand to the worker pool. With a ticket, its outcome goes
/// back to `handle_callback`; without one (on_done) nobody waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCallback {
    pub conn: ConnId,
    pub ticket: Option<u64>,
    pub request: CallbackRequest,
}

/// The core's access-control state.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    /// `(at, unix time then)` from `handle_wall_clock`.
    pub(super) wall_clock: Option<(Instant, Duration)>,
    next_ticket: u64,
    callbacks: VecDeque<AuthCallback>,
    /// Deadlines of pending callbacks: `(deadline, conn, ticket)`.
    waiting: Vec<(Instant, usize, u64)>,
    /// on_done callbacks of allowed publishes and plays, by connection.
    done: HashMap<usize, CallbackRequest>,
    log_window: Option<Instant>,
    log_lines: u32,
    suppressed: u64,
    /// Callback allows of HTTP plays (see `http_auth`).
    pub(super) allowed: super::http_auth::AllowCache,
}

impl AuthState {
    /// Queues an authorizing callback of `conn` and its deadline; returns its ticket.
    pub(super) fn ask(&mut self, conn: ConnId, request: CallbackRequest, now: Instant) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        // A timeout past the clock's range: as good as never (the worker's own bound holds).
        let deadline = now
            .checked_add(request.timeout)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        self.waiting.push((deadline, conn.0, ticket));
        self.callbacks.push_back(AuthCallback {
            conn,
            ticket: Some(ticket),
            request,
        });
        ticket
    }

    /// The callback `ticket` of `id` is decided: its deadline goes.
    pub(super) fn settle(&mut self, id: usize, ticket: u64) {
        self.waiting.retain(|&(_, c, t)| !(c == id && t == ticket));
    }
}

/// What a callback's outcome means for a request (`fail_open`: the app's setting).
pub(super) fn verdict(outcome: CallbackOutcome, fail_open: bool) -> Result<(), DenyReason> {
    match outcome {
        CallbackOutcome::Allowed => Ok(()),
        CallbackOutcome::Denied => Err(DenyReason::CallbackDenied),
        CallbackOutcome::TimedOut if fail_open => Ok(()),
        CallbackOutcome::TimedOut => Err(DenyReason::CallbackTimeout),
        CallbackOutcome::Failed if fail_open => Ok(()),
        CallbackOutcome::Failed => Err(DenyReason::CallbackFailed),
    }
}

impl ShardCore {
    /// The wall clock read `unix` (since the epoch) at `now`: expiries are judged from it.
    pub fn handle_wall_clock(&mut self, now: Instant, unix: Duration) {
        self.auth.wall_clock = Some((now, unix));
    }

    /// Refusal log lines suppressed in the current second (for tests).
    #[cfg(test)]
    pub(crate) fn suppressed_refusal_lines(&self) -> u64 {
        self.auth.suppressed
    }

    /// The next callback for the worker pool.
    pub fn poll_callback(&mut self) -> Option<AuthCallback> {
        self.auth.callbacks.pop_front()
    }

    /// The callback `ticket` of `conn` ended with `outcome`.
    pub fn handle_callback(
        &mut self,
        conn: ConnId,
        ticket: u64,
        outcome: CallbackOutcome,
        now: Instant,
    ) {
        self.last_now = now;
        let id = conn.0;
        let Some(wait) = self.take_authorizing(id, ticket) else {
            if self.http_callback(id, ticket, outcome, now) {
                self.close_pending();
            }
            return;
        };
        let verdict = verdict(outcome, wait.fail_open);
        self.finish_authorizing(id, wait, verdict, now);
        self.close_pending();
    }

    /// Seconds since the epoch at `now` (u64::MAX before any `handle_wall_clock`).
    pub(super) fn unix_now(&self, now: Instant) -> u64 {
        match self.auth.wall_clock {
            Some((at, unix)) => {
                let t = if now >= at {
                    unix.saturating_add(now.duration_since(at))
                } else {
                    unix.saturating_sub(at.duration_since(now))
                };
                t.as_secs()
            }
            None => u64::MAX,
        }
    }

    /// Decides a publish (`Held::Publish`) or play request of `id`: true when it may go on
    /// now. Otherwise it was refused, or the connection waits for its callback.
    pub(super) fn authorize(&mut self, id: usize, request: Held, now: Instant) -> bool {
        let unix_now = self.unix_now(now);
        let Some(rtmp) = self.conns.get(id).and_then(|c| c.rtmp()) else {
            return false;
        };
        let (action, app, name, query) = request.parts();
        let decision = self.settings.access.decide(&AccessRequest {
            action,
            app,
            stream: name,
            query,
            peer: rtmp.peer.ip(),
            unix_now,
        });
        match decision {
            Decision::Allow => true,
            Decision::Deny(reason) => {
                self.refuse(id, &request, reason, now);
                false
            }
            Decision::AskCallback => {
                let Some(rules) = self.settings.access.app(app) else {
                    return true;
                };
                let Some(url) = rules.rules(action).callback.clone() else {
                    return true;
                };
                let fail_open = rules.callback_fail_open;
                let callback = CallbackRequest {
                    url,
                    event: CallbackEvent::Authorize,
                    action,
                    client: rtmp.peer,
                    app: app.to_owned(),
                    stream: name.to_owned(),
                    query: query.to_owned(),
                    timeout: rules.callback_timeout,
                };
                let ticket = self.auth.ask(ConnId(id), callback, now);
                if let Some(rtmp) = self.conns.get_mut(id).and_then(|c| c.rtmp_mut()) {
                    rtmp.role = Role::Authorizing(Box::new(Authorizing {
                        request,
                        ticket,
                        fail_open,
                        events: VecDeque::new(),
                        input: Vec::new(),
                        held_bytes: 0,
                    }));
                }
                false
            }
        }
    }

    /// Whether `id` waits for its callback.
    pub(super) fn is_authorizing(&self, id: usize) -> bool {
        matches!(
            self.conns.get(id).and_then(|c| c.rtmp()).map(|r| &r.role),
            Some(Role::Authorizing(_))
        )
    }

    /// Holds an event of a connection that waits for its callback (refusing it when the hold
    /// goes over its bound).
    pub(super) fn hold_event(&mut self, id: usize, event: ServerEvent, now: Instant) {
        let size = match &event {
            ServerEvent::Media { payload, .. } | ServerEvent::Metadata { payload, .. } => {
                payload.len()
            }
            _ => 64,
        };
        if let Some(wait) = self.authorizing_mut(id) {
            wait.held_bytes += size;
            wait.events.push_back(event);
        }
        self.check_hold(id, now);
    }

    /// Holds input of a connection that waits for its callback.
    pub(super) fn hold_input(&mut self, id: usize, input: &[u8], now: Instant) {
        if let Some(wait) = self.authorizing_mut(id) {
            let room = HOLD_LIMIT.saturating_sub(wait.held_bytes);
            let take = input.len().min(room.saturating_add(1));
            wait.input
                .extend_from_slice(input.get(..take).unwrap_or_default());
            wait.held_bytes += take;
        }
        self.check_hold(id, now);
    }

    fn check_hold(&mut self, id: usize, now: Instant) {
        let over = self
            .authorizing_mut(id)
            .is_some_and(|w| w.held_bytes > HOLD_LIMIT);
        if over {
            if let Some(wait) = self.take_authorizing(id, None) {
                self.finish_authorizing(id, wait, Err(DenyReason::CallbackBufferFull), now);
            }
        }
    }

    fn authorizing_mut(&mut self, id: usize) -> Option<&mut Authorizing> {
        match self
            .conns
            .get_mut(id)
            .and_then(|c| c.rtmp_mut())
            .map(|r| &mut r.role)
        {
            Some(Role::Authorizing(wait)) => Some(wait),
            _ => None,
        }
    }

    /// Takes `id` out of `Authorizing` (if it waits, for `ticket` when one is given).
    fn take_authorizing(
        &mut self,
        id: usize,
        ticket: impl Into<Option<u64>>,
    ) -> Option<Authorizing> {
        let ticket = ticket.into();
        let rtmp = self.conns.get_mut(id).and_then(|c| c.rtmp_mut())?;
        match &rtmp.role {
            Role::Authorizing(wait) if ticket.is_none_or(|t| t == wait.ticket) => {}
            _ => return None,
        }
        let Role::Authorizing(wait) = std::mem::replace(&mut rtmp.role, Role::Pending) else {
            return None;
        };
        self.auth.settle(id, wait.ticket);
        Some(*wait)
    }

    /// The callback decided: start the request and replay what was held, or refuse.
    fn finish_authorizing(
        &mut self,
        id: usize,
        wait: Authorizing,
        verdict: Result<(), DenyReason>,
        now: Instant,
    ) {
        let Authorizing {
            request,
            events,
            input,
            ..
        } = wait;
        if let Err(reason) = verdict {
            self.refuse(id, &request, reason, now);
            self.collect_output(id);
            return;
        }
        match request {
            Held::Publish(req) => {
                let hops = crate::relay::hops_of(&req.query);
                self.publish_allowed(id, req, hops, now);
            }
            Held::Play(req) => {
                let hops = crate::relay::hops_of(&req.query);
                self.play_allowed(id, req, hops, now);
            }
        }
        for event in events {
            if self.is_authorizing(id) {
                self.hold_event(id, event, now);
            } else {
                self.handle_session_event(id, event, now);
            }
        }
        if self.is_authorizing(id) {
            self.hold_input(id, &input, now);
        } else if !input.is_empty() {
            self.session_input(id, &input, now);
        }
        self.collect_output(id);
    }

    /// Callbacks whose timeout passed: decided as the app says (fail closed by default).
    pub(super) fn auth_timers(&mut self, now: Instant) {
        let due: Vec<(usize, u64)> = self
            .auth
            .waiting
            .iter()
            .filter(|(at, _, _)| *at <= now)
            .map(|&(_, c, t)| (c, t))
            .collect();
        for (id, ticket) in due {
            self.handle_callback(ConnId(id), ticket, CallbackOutcome::TimedOut, now);
        }
    }

    /// The earliest callback deadline.
    pub(super) fn auth_deadline(&self) -> Option<Instant> {
        self.auth.waiting.iter().map(|(at, _, _)| *at).min()
    }

    /// A publish or play of `id` started: remember its on_done callback, if its app has one.
    pub(super) fn note_started(
        &mut self,
        id: usize,
        action: Action,
        app: &str,
        name: &str,
        query: &str,
    ) {
        let Some(rules) = self.settings.access.app(app) else {
            return;
        };
        let (Some(url), Some(c)) = (rules.on_done.clone(), self.conns.get(id)) else {
            return;
        };
        self.auth.done.insert(
            id,
            CallbackRequest {
                url,
                event: CallbackEvent::Done,
                action,
                client: c.peer(),
                app: app.to_owned(),
                stream: name.to_owned(),
                query: query.to_owned(),
                timeout: rules.callback_timeout,
            },
        );
    }

    /// `id` closed: its on_done goes out, a pending callback's deadline is dropped.
    pub(super) fn forget_auth(&mut self, id: usize) {
        self.note_ended(id);
        self.auth.waiting.retain(|&(_, c, _)| c != id);
    }

    /// The publish or play of `id` ended (or it closed): its on_done goes out.
    pub(super) fn note_ended(&mut self, id: usize) {
        if let Some(request) = self.auth.done.remove(&id) {
            self.auth.callbacks.push_back(AuthCallback {
                conn: ConnId(id),
                ticket: None,
                request,
            });
        }
    }

    /// Refuses `request` of `id` for `reason`: the onStatus error, a close once it is
    /// written, the counter, a (rate-limited) log line.
    fn refuse(&mut self, id: usize, request: &Held, reason: DenyReason, now: Instant) {
        let (action, app, name, _) = request.parts();
        self.stats.auth_refused[action.index()][reason.index()] += 1;
        if action == Action::Publish {
            self.stats.publishes_refused += 1;
        }
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let peer = c.peer();
        if let Some(rtmp) = c.rtmp_mut() {
            match request {
                Held::Publish(r) => rtmp
                    .session
                    .reject_publish(r.stream_id, reason.description()),
                Held::Play(r) => rtmp.session.reject_play(r.stream_id, reason.description()),
            }
        }
        c.close_after_flush = Some(CloseReason::AccessDenied);
        c.take_session_output();
        self.schedule_now(id);
        if self.may_log(now) {
            info!(shard = self.index, %peer, app, stream = name, action = action.as_str(), reason = reason.as_str(), "access refused");
        }
    }

    /// A connect to an app that is not configured was rejected: counted and logged (within
    /// the refusal log's rate).
    pub(super) fn connect_refused(
        &mut self,
        peer: std::net::SocketAddr,
        error: &SessionError,
        now: Instant,
    ) {
        self.stats.connects_refused += 1;
        if self.may_log(now) {
            info!(shard = self.index, %peer, %error, action = "connect", reason = DenyReason::UnknownApp.as_str(), "access refused");
        }
    }

    /// At most `LOG_LINES_PER_SEC` refusal lines per second; a summary of the rest.
    pub(super) fn may_log(&mut self, now: Instant) -> bool {
        let log = &mut self.auth;
        let fresh = log
            .log_window
            .is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1));
        if fresh {
            if log.suppressed > 0 {
                warn!(
                    shard = self.index,
                    suppressed = log.suppressed,
                    "access refusal lines suppressed"
                );
            }
            log.log_window = Some(now);
            log.log_lines = 0;
            log.suppressed = 0;
        }
        if log.log_lines < LOG_LINES_PER_SEC {
            log.log_lines += 1;
            true
        } else {
            log.suppressed += 1;
            false
        }
    }
}

impl Held {
    fn parts(&self) -> (Action, &str, &str, &str) {
        match self {
            Held::Publish(r) => (Action::Publish, &r.app, &r.name, &r.query),
            Held::Play(r) => (Action::Play, &r.app, &r.name, &r.query),
        }
    }
}
