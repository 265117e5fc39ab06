//! The core's HTTP connection kind: requests read with [`crate::http::RequestReader`],
//! routed by [`crate::http::route`], answered in order on a kept-alive connection; HTTP-FLV
//! plays join their stream exactly like an RTMP play (registry, pull on demand, startup
//! headers and GOP, the slow-player policy) and are sent each frame's FLV tag form, encoded
//! once per stream ([`crate::media::frame::Frame::flv`]).
//!
//! An HTTP-FLV response starts (status, FLV file header) when its stream has a first frame
//! for it: at once for a live stream, else when the stream's media arrives (a publisher, a
//! pull); after `stream_wait` without media, or when no origin has the stream, it is a 404.
//! The stream's end finishes the response (the last chunk), and the connection stays open
//! for the next request when the client asked for keep-alive.
//!
//! Every stream route is access-checked first (`http_auth`: the play rules, the callback
//! waited for as a connection state). `HEAD` gets the status and headers a `GET` would,
//! without the body; a `HEAD` of an HTTP-FLV stream does not join it.
//!
//! Bounds: request heads (431 past `max_head`), pipelined input (one more head while a
//! response is written; more closes), queued responses before further pipelined requests
//! are parsed, the head and keep-alive timeouts, the write-stall timeout, and for streams the
//! players' queue limits and kick rule. Sans-IO like the rest of the core.
use super::conn::{Connection, Kind};
use super::http_auth::{HttpAccess, HttpAuthWait};
use super::play::Join;
use super::streams::StreamId;
use super::{CloseReason, ShardCore};
use crate::auth::Action;
use crate::http::response::{self, LAST_CHUNK};
use crate::http::route::StreamPath;
use crate::http::{route, Method, Request, RequestReader, Route};
use crate::media::frame::{MediaKind, WireForm};
use crate::media::ingest::{FrameBuilder, Timeline};
use crate::media::log::FrameLog;
use crate::media::queue::Verdict;
use crate::media::variants::Variant;
use crate::protocol::flv::write_file_header;
use crate::relay;
use crate::shard::mailbox::StreamKey;
use crate::shard::snapshot::ClientRole;
use crate::shard::{ListenerProtocol, ShardSettings};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{debug, info};

/// Response bytes queued on one connection beyond which further pipelined requests wait
/// until the client has read them.
const PIPELINE_OUTPUT_LIMIT: usize = 64 * 1024;

/// An HTTP delivery connection.
pub(crate) struct HttpConn {
    pub peer: SocketAddr,
    reader: RequestReader,
    pub(super) state: HttpState,
    /// When the connection last started waiting for a request (accept, or a response queued).
    pub(super) idle_since: Instant,
    /// The request being answered is a `HEAD`: responses go without their body.
    pub(super) head_only: bool,
}

pub(super) enum HttpState {
    /// Waiting for (the rest of) a request head.
    Idle,
    /// An HTTP-FLV response follows a stream.
    Flv(FlvPlay),
    /// An HLS/DASH request waiting on its stream (see `core::cmaf`).
    Cmaf(super::cmaf::CmafWait),
    /// A request waiting for its access callback (see `core::http_auth`).
    Authorizing(Box<HttpAuthWait>),
}

/// One HTTP-FLV response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlvPlay {
    pub stream: StreamId,
    pub variant: Variant,
    /// When the request came: frames that arrived before are not fan-out latency, and the
    /// stream has `stream_wait` from here to send media.
    pub since: Instant,
    /// The status line and FLV file header are queued.
    started: bool,
    /// A chunked body (HTTP/1.1); else it ends with the connection.
    chunked: bool,
    keep_alive: bool,
}

impl HttpConn {
    pub fn new(peer: SocketAddr, settings: &ShardSettings, now: Instant) -> Self {
        HttpConn {
            peer,
            reader: RequestReader::new(settings.http.limits),
            state: HttpState::Idle,
            idle_since: now,
            head_only: false,
        }
    }

    /// The HTTP-FLV response in progress, if any.
    pub fn flv(&self) -> Option<&FlvPlay> {
        match &self.state {
            HttpState::Flv(play) => Some(play),
            HttpState::Idle | HttpState::Cmaf(_) | HttpState::Authorizing(_) => None,
        }
    }

    pub fn leave_stream(&mut self) {
        self.state = HttpState::Idle;
    }
}

/// What the sweep found for one HTTP connection.
pub(super) enum HttpSweep {
    Keep,
    Close(CloseReason),
    /// Kicked by the slow-player policy.
    Kick,
    /// Its stream sent no media within `stream_wait`: answer 404.
    StreamMissing,
}

/// The sweep's rules for one HTTP connection (`log`: the log it plays, if any).
pub(super) fn sweep(
    c: &mut Connection,
    log: Option<&FrameLog>,
    s: &ShardSettings,
    now: Instant,
    dropped: &mut u64,
) -> HttpSweep {
    let waiting_on_socket = matches!(
        c.write,
        super::conn::WriteState::InFlight | super::conn::WriteState::Blocked
    );
    if waiting_on_socket && now.duration_since(c.last_write) > s.write_stall_timeout {
        return HttpSweep::Close(CloseReason::WriteStalled);
    }
    let committed = c.queue.committed_bytes();
    let Kind::Http(h) = &mut c.kind else {
        return HttpSweep::Keep;
    };
    match &h.state {
        HttpState::Flv(play) if !play.started => {
            if committed == 0 && now.duration_since(play.since) > s.http.stream_wait {
                return HttpSweep::StreamMissing;
            }
        }
        HttpState::Flv(_) => {
            if waiting_on_socket {
                match c.queue.check_lag(log) {
                    Verdict::Kick => return HttpSweep::Kick,
                    Verdict::Keep { dropped: d } => *dropped += d,
                }
            }
        }
        HttpState::Idle if committed == 0 => {
            let limit = if h.reader.buffered() > 0 {
                s.http.head_timeout
            } else {
                s.http.keepalive_timeout
            };
            if now.duration_since(h.idle_since) > limit {
                return HttpSweep::Close(CloseReason::HttpIdle);
            }
        }
        // A callback wait is bounded by its own deadline (`auth_timers`).
        HttpState::Idle | HttpState::Cmaf(_) | HttpState::Authorizing(_) => {}
    }
    HttpSweep::Keep
}

/// Whether `c` is an HTTP connection between requests with nothing to send and no request
/// begun: a drain closes it (its client then connects to another node through its balancer;
/// nothing is cut).
pub(super) fn idle_between_requests(c: &Connection) -> bool {
    let Kind::Http(h) = &c.kind else {
        return false;
    };
    matches!(h.state, HttpState::Idle)
        && h.reader.buffered() == 0
        && c.queue.committed_bytes() == 0
        && c.close_after_flush.is_none()
}

/// Before a send: an HTTP-FLV response whose first frame is queued gets its status line and
/// FLV file header in front of it (nothing of the connection was written yet).
pub(super) fn before_send(c: &mut Connection, log: Option<&FrameLog>) {
    let committed = c.queue.committed_bytes();
    let Kind::Http(h) = &mut c.kind else {
        return;
    };
    let HttpState::Flv(play) = &mut h.state else {
        return;
    };
    if play.started || committed == 0 {
        return;
    }
    play.started = true;
    let (audio, video) = log.map_or((true, true), tracks_of);
    let mut file = Vec::with_capacity(16);
    write_file_header(audio, video, &mut file);
    c.queue
        .push_front_control(response::body_chunk(&file, play.chunked));
    c.queue
        .push_front_control(response::flv_head(play.chunked, play.keep_alive));
}

/// Whether the stream has audio and video, from its sequence headers (both when unknown, so
/// players wait for either).
fn tracks_of(log: &FrameLog) -> (bool, bool) {
    let (mut audio, mut video) = (false, false);
    for f in log.headers().frames() {
        audio |= f.kind == MediaKind::Audio;
        video |= f.kind == MediaKind::Video;
    }
    if audio || video {
        (audio, video)
    } else {
        (true, true)
    }
}

/// A `key=1` flag of a query string.
fn query_flag(query: &str, key: &str) -> bool {
    query.split('&').any(|kv| {
        kv.split_once('=')
            .is_some_and(|(k, v)| k == key && v == "1")
    })
}

impl ShardCore {
    /// The HTTP kind for a connection accepted on `listener`, when that listener serves HTTP.
    pub(super) fn http_kind(
        &self,
        listener: usize,
        peer: SocketAddr,
        now: Instant,
    ) -> Option<Kind> {
        let l = self.settings.listeners.get(listener)?;
        (l.protocol == ListenerProtocol::Http)
            .then(|| Kind::Http(HttpConn::new(peer, &self.settings, now)))
    }

    /// The frame builder of a new publisher session: FLV tag forms too when the node serves
    /// HTTP.
    pub(super) fn frame_builder(&self, timeline: Timeline) -> FrameBuilder {
        FrameBuilder::new(self.settings.session.chunk_size, timeline)
            .with_flv_tags(self.settings.serves_http())
    }

    /// Bytes read from HTTP connection `id`.
    pub(super) fn http_input(&mut self, id: usize, input: &[u8], now: Instant) {
        let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) else {
            return;
        };
        if let Err(e) = h.reader.push(input) {
            info!(shard = self.index, peer = %h.peer, error = %e, "closing HTTP connection");
            self.stats.protocol_errors += 1;
            self.close_later(id, CloseReason::HttpBadRequest);
            return;
        }
        self.http_serve(id, now);
    }

    /// Answers the buffered requests of `id` while it may start a response.
    pub(super) fn http_serve(&mut self, id: usize, now: Instant) {
        loop {
            let Some(c) = self.conns.get_mut(id) else {
                return;
            };
            if c.close_after_flush.is_some() || c.queue.committed_bytes() > PIPELINE_OUTPUT_LIMIT {
                return;
            }
            let Some(h) = c.http_mut() else {
                return;
            };
            if !matches!(h.state, HttpState::Idle) {
                // Pipelined requests wait for the stream's end or the answer.
                return;
            }
            match h.reader.poll_request() {
                Ok(None) => return,
                Ok(Some(req)) => self.http_request(id, req, false, now),
                Err(e) => {
                    info!(shard = self.index, peer = %h.peer, error = %e, "bad HTTP request");
                    self.stats.protocol_errors += 1;
                    if let Some(status) = e.status() {
                        c.queue.push_control(response::simple(status, false));
                    }
                    c.close_after_flush = Some(CloseReason::HttpBadRequest);
                    self.schedule_now(id);
                    return;
                }
            }
        }
    }

    /// Answers `req` of `id`; `granted`: its access callback already allowed it.
    pub(super) fn http_request(
        &mut self,
        id: usize,
        mut req: Request,
        granted: bool,
        now: Instant,
    ) {
        // Draining: every answer closes its connection (`Connection: close`), so the client's
        // next request goes to another node.
        req.keep_alive &= !self.ops.draining;
        let keep_alive = req.keep_alive;
        let head_only = req.method == Method::Head;
        if let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) {
            h.head_only = head_only;
        }
        let answer = match req.method {
            Method::Options => response::preflight(req.cors_request_headers.as_deref(), keep_alive),
            Method::Get | Method::Head => {
                let routed = route(&req.target);
                let path = match &routed {
                    Route::Flv(path) | Route::Segment { stream: path, .. } => *path,
                    Route::NotFound => {
                        let answer = response::simple(404, keep_alive);
                        return self.http_respond(id, answer, keep_alive, now);
                    }
                };
                match self.http_authorize(id, &path, &req, granted, now) {
                    HttpAccess::Allow => {}
                    HttpAccess::Refused | HttpAccess::Waiting => return,
                }
                match routed {
                    Route::Flv(path) => return self.http_flv(id, path, &req, now),
                    // HLS playlists, DASH manifests and CMAF init/segment/part files.
                    Route::Segment { stream, file } => {
                        return self.http_cmaf(id, stream, file, keep_alive, req.http11, now)
                    }
                    Route::NotFound => response::simple(404, keep_alive),
                }
            }
            Method::Other => response::simple(405, keep_alive),
        };
        self.http_respond(id, answer, keep_alive, now);
    }

    /// Queues a whole response; the connection then waits for the next request or closes.
    pub(super) fn http_respond(
        &mut self,
        id: usize,
        answer: Bytes,
        keep_alive: bool,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let head_only = c.http_mut().is_some_and(|h| h.head_only);
        c.queue.push_control(if head_only {
            response::without_body(&answer)
        } else {
            answer
        });
        if !keep_alive {
            c.close_after_flush = Some(CloseReason::HttpComplete);
        }
        if let Some(h) = c.http_mut() {
            h.idle_since = now;
        }
        self.schedule_now(id);
    }

    /// `GET /APP/STREAM.flv` (allowed): joins the stream like an RTMP play. `HEAD`: the
    /// response head only, without joining.
    fn http_flv(&mut self, id: usize, path: StreamPath<'_>, req: &Request, now: Instant) {
        let keep_alive = req.keep_alive;
        let Some(peer) = self.conns.get(id).map(Connection::peer) else {
            return;
        };
        let hops = relay::hops_of(path.query);
        if hops > self.settings.relay.hop_limit {
            info!(shard = self.index, %peer, app = path.app, stream = path.stream, "HTTP play refused: relay loop");
            return self.http_respond(id, response::simple(403, keep_alive), keep_alive, now);
        }
        if req.method == Method::Head {
            // A GET's head: the body would run until the stream ends (or the connection). A
            // stream nobody publishes and no origin could have is a 404 (a GET's after its
            // wait); one an origin may have is not pulled for a HEAD.
            let known = self.registry.publisher(&path.key()).is_some() || self.can_pull(path.app);
            if !known {
                return self.http_respond(id, response::simple(404, keep_alive), keep_alive, now);
            }
            let keep = keep_alive && req.http11;
            let head = response::flv_head(req.http11, keep_alive);
            return self.http_respond(id, head, keep, now);
        }
        let key: StreamKey = path.key().into();
        // Legacy codec ids unless asked for (mpegts.js and FFmpeg 6.1+ read Enhanced FLV).
        let variant = if query_flag(path.query, "enhanced") {
            Variant::Enhanced
        } else {
            Variant::Legacy
        };
        let chunked = req.http11;
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        c.queue.set_form(if chunked {
            WireForm::FlvChunked
        } else {
            WireForm::Flv
        });
        c.last_session = Some((ClientRole::Player, key.clone()));
        info!(shard = self.index, %peer, stream = %key, "HTTP-FLV play started");
        self.stats.plays += 1;
        let join = Join {
            key: &key,
            app: path.app,
            name: path.stream,
            hops,
            variant,
        };
        let Some(sid) = self.join_stream(id, join, now) else {
            return;
        };
        self.note_started(id, Action::Play, path.app, path.stream, path.query);
        if let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) {
            h.state = HttpState::Flv(FlvPlay {
                stream: sid,
                variant,
                since: now,
                started: false,
                chunked,
                keep_alive,
            });
        }
    }

    /// The stream of HTTP player `id` ended: finish its response (last chunk), then serve
    /// the next request or close. A response not started yet keeps waiting for media.
    pub(super) fn http_stream_ended(&mut self, id: usize) {
        let Some(play) = self.http_play(id).filter(|p| p.started) else {
            return;
        };
        self.end_play(id);
        self.note_ended(id);
        let now = self.last_now;
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        debug!(shard = self.index, peer = %c.peer(), "HTTP-FLV response finished");
        if play.chunked {
            c.queue.push_control(Bytes::from_static(LAST_CHUNK));
        }
        if !(play.chunked && play.keep_alive) {
            c.close_after_flush = Some(CloseReason::HttpComplete);
        }
        if let Some(h) = c.http_mut() {
            h.idle_since = now;
        }
        self.schedule_now(id);
        self.http_serve(id, now);
    }

    /// HTTP player `id` waits for a stream that does not come (no origin has it, or no
    /// media within `stream_wait`): 404.
    pub(super) fn http_not_found(&mut self, id: usize) {
        let Some(play) = self.http_play(id).filter(|p| !p.started) else {
            return;
        };
        if self
            .conns
            .get(id)
            .is_some_and(|c| c.queue.committed_bytes() > 0)
        {
            // Its first frame is queued: the response starts at the next send.
            return;
        }
        self.end_play(id);
        self.note_ended(id);
        let now = self.last_now;
        if let Some(c) = self.conns.get_mut(id) {
            c.queue.set_form(WireForm::Rtmp);
            debug!(shard = self.index, peer = %c.peer(), "HTTP-FLV stream not found");
        }
        self.http_respond(
            id,
            response::simple(404, play.keep_alive),
            play.keep_alive,
            now,
        );
        self.http_serve(id, now);
    }

    fn http_play(&self, id: usize) -> Option<FlvPlay> {
        match &self.conns.get(id)?.kind {
            Kind::Http(h) => h.flv().copied(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_flags() {
        assert!(query_flag("enhanced=1", "enhanced"));
        assert!(query_flag("token=x&enhanced=1", "enhanced"));
        assert!(!query_flag("enhanced=0", "enhanced"));
        assert!(!query_flag("xenhanced=1", "enhanced"));
        assert!(!query_flag("", "enhanced"));
    }
}
