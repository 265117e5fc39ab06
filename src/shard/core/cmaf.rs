//! HLS, LL-HLS and DASH delivery from the home shard's CMAF segmenter.
//!
//! The stream's home shard (its publisher's, or the pulling shard) runs one
//! [`Segmenter`] per stream while the node serves HTTP and `hls.enabled` holds, fed every
//! audio/video message in `ingest`; its [`SharedStream`] is registered in the registry's
//! [`CmafDirectory`](crate::media::cmaf_directory::CmafDirectory) for every shard's readers.
//!
//! A request that cannot be answered yet (a blocking playlist reload, the next part, an open
//! segment sent chunked as it grows, a manifest before the first part) becomes the
//! [`CmafWait`] state of its HTTP connection, listed in `cmaf_waiting`. A published part
//! re-checks the waiters of the home shard at once and sends `ShardMsg::CmafPublished` to
//! the shards whose bit is set in the directory; the sweep re-checks everything as a safety
//! net and ends waits past their bound. A request for a stream the node does not have starts
//! the pull on demand (like HTTP-FLV): the shard holds one registry player of the stream while
//! HLS/DASH requests keep coming (`HOLD` after the last). Every request was access-checked
//! before it gets here (`http_auth`); playlist and MPD URIs carry its credential parameters.
//! A `HEAD` waits for the whole answer and gets its head only. Sans-IO: time is an argument.
use super::conn::Kind;
use super::http::HttpState;
use super::streams::StreamId;
use super::ShardCore;
use crate::http::cmaf::{Lookup, Pushed, Resource, Segmenter, Snapshot, WallClock};
use crate::http::hls::Reload;
use crate::http::response::{self, LAST_CHUNK};
use crate::http::route::{SegmentFile, StreamPath};
use crate::http::{dash, hls};
use crate::media::frame::MediaKind;
use crate::shard::mailbox::{ShardMsg, StreamKey};
use bytes::Bytes;
use std::fmt::Write;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tracing::debug;

/// How long a pulled stream is kept for HLS/DASH readers after their last request.
const HOLD: Duration = Duration::from_secs(30);

/// An HLS/DASH request waiting on its stream.
#[derive(Debug, Clone)]
pub(crate) struct CmafWait {
    key: StreamKey,
    what: Wanted,
    since: Instant,
    keep_alive: bool,
    /// HTTP/1.1: an open segment may be sent chunked as it grows (never for `HEAD`).
    chunked: bool,
    /// The credential part of the request's query, carried into playlist and MPD URIs.
    query: String,
}

#[derive(Debug, Clone, Copy)]
enum Wanted {
    Playlist {
        msn: Option<u64>,
        part: Option<u64>,
    },
    Manifest,
    /// `sent`: chunks of an open segment already written (its head is out once > 0 or
    /// `started`).
    File {
        resource: Resource,
        sent: usize,
        started: bool,
    },
}

/// What one check of a waiting request decided.
enum Check {
    Wait,
    /// The response is complete (queued).
    Done,
}

fn content_type(resource: Resource) -> &'static str {
    match resource {
        Resource::Init(_) | Resource::TrackInit(..) => "video/mp4",
        _ => "video/iso.segment",
    }
}

/// A 200 head; `len` None: chunked.
fn head(content_type: &str, len: Option<usize>, keep_alive: bool, no_cache: bool) -> Bytes {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nServer: rtmp-edge\r\nAccess-Control-Allow-Origin: *\r\nConnection: {connection}\r\nContent-Type: {content_type}\r\n"
    );
    if no_cache {
        s.push_str("Cache-Control: no-cache\r\n");
    }
    match len {
        Some(n) => {
            let _ = write!(s, "Content-Length: {n}\r\n");
        }
        None => s.push_str("Transfer-Encoding: chunked\r\n"),
    }
    s.push_str("\r\n");
    Bytes::from(s)
}

impl ShardCore {
    /// A segmenter for a stream starting on this (home) shard, registered for every shard's
    /// readers; None when the node does not serve HTTP or HLS is off.
    pub(super) fn new_segmenter(
        &self,
        key: &StreamKey,
        now: Instant,
    ) -> Option<(Segmenter, Option<Instant>)> {
        let app = key.split_once('/').map_or(&**key, |(app, _)| app);
        let settings = self
            .settings
            .hls
            .filter(|_| self.settings.serves_http() && self.settings.hls_apps.segments(app))?;
        let seg = Segmenter::new(settings, self.wall_clock_at(now));
        self.registry.cmaf.register(key, seg.shared().clone());
        Some((seg, None))
    }

    fn wall_clock_at(&self, now: Instant) -> WallClock {
        let system = match self.auth.wall_clock {
            Some((at, unix)) => {
                let t = if now >= at {
                    unix.saturating_add(now.duration_since(at))
                } else {
                    unix.saturating_sub(at.duration_since(now))
                };
                UNIX_EPOCH + t
            }
            None => UNIX_EPOCH,
        };
        WallClock {
            instant: now,
            system,
        }
    }

    /// One audio/video message of home stream `sid` into its segmenter.
    pub(super) fn segment_message(
        &mut self,
        sid: StreamId,
        kind: MediaKind,
        timestamp: u32,
        payload: &[u8],
        arrival: Instant,
        now: Instant,
    ) {
        if kind == MediaKind::Data {
            return;
        }
        let Some(stream) = self.streams.get_mut(sid) else {
            return;
        };
        let Some((seg, oldest)) = stream.home.as_mut().and_then(|h| h.segmenter.as_mut()) else {
            return;
        };
        let first = oldest.get_or_insert(arrival);
        match seg.push(kind, timestamp, payload, now) {
            Ok(Pushed::Published(_)) => {
                let latency = now.saturating_duration_since(*first);
                // This message may be in the next part already: it starts the next count.
                *oldest = Some(arrival);
                let key = stream.key.clone();
                self.record_part_latency(latency);
                self.cmaf_published(&key, now);
            }
            Ok(_) => {}
            Err(e) => {
                self.stats.segment_errors += 1;
                debug!(shard = self.index, error = %e, "segmenter refused a message");
            }
        }
    }

    /// The home stream's source stopped: the last part is published and the window, marked
    /// ended, stays served for `hls_ended_keep` (the sweep drops it).
    pub(super) fn finish_segmenter(
        &mut self,
        key: &StreamKey,
        seg: Option<(Segmenter, Option<Instant>)>,
    ) {
        let Some((mut seg, _)) = seg else {
            return;
        };
        let now = self.last_now;
        if seg.finish(now).is_err() {
            self.stats.segment_errors += 1;
        }
        let keep = self.settings.hls_ended_keep;
        let waiters = self.registry.cmaf.finish(key, seg.shared(), keep, now);
        self.notify_waiters(key, waiters);
        self.cmaf_recheck(now);
    }

    fn record_part_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // A value past the histogram's range is not counted (nor summed).
        if self.part_latency.record(us.max(1)).is_ok() {
            self.part_latency_sum += latency;
        }
    }

    /// A part of home stream `key` was published: wake its waiters here and elsewhere.
    fn cmaf_published(&mut self, key: &StreamKey, now: Instant) {
        let waiters = self.registry.cmaf.take_waiters(key);
        self.notify_waiters(key, waiters);
        self.cmaf_recheck_stream(key, now);
    }

    fn notify_waiters(&mut self, key: &StreamKey, waiters: u64) {
        for shard in (0..self.registry.shards().min(64)).filter(|&s| s != self.index) {
            if waiters & (1u64 << shard) != 0 {
                self.outbox
                    .push(shard, ShardMsg::CmafPublished { key: key.clone() });
            }
        }
    }

    /// `GET /APP/STREAM/FILE` of a segmented stream.
    pub(super) fn http_cmaf(
        &mut self,
        id: usize,
        path: StreamPath<'_>,
        file: SegmentFile<'_>,
        keep_alive: bool,
        http11: bool,
        now: Instant,
    ) {
        let what = match file {
            SegmentFile::HlsPlaylist => match hls::parse_query(path.query) {
                Ok((msn, part)) => Wanted::Playlist { msn, part },
                Err(_) => {
                    return self.cmaf_finish(id, response::simple(400, keep_alive), keep_alive, now)
                }
            },
            SegmentFile::DashManifest => Wanted::Manifest,
            SegmentFile::Other(name) => match Resource::parse(name) {
                Some(resource) => Wanted::File {
                    resource,
                    sent: 0,
                    started: false,
                },
                None => {
                    return self.cmaf_finish(id, response::simple(404, keep_alive), keep_alive, now)
                }
            },
        };
        // Access was checked before (`http_auth`); a HEAD waits for the whole answer.
        let head_only = self
            .conns
            .get_mut(id)
            .and_then(|c| c.http_mut())
            .is_some_and(|h| h.head_only);
        let key: StreamKey = path.key().into();
        if let Some(last) = self.cmaf_holds.get_mut(&key) {
            *last = now;
        }
        let wait = CmafWait {
            key,
            what,
            since: now,
            keep_alive,
            chunked: http11 && !head_only,
            query: crate::auth::credential_query(path.query),
        };
        if let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) {
            h.state = HttpState::Cmaf(wait);
        }
        if matches!(self.cmaf_check(id, now), Check::Wait) && !self.cmaf_waiting.contains(&id) {
            self.cmaf_waiting.push(id);
        }
    }

    /// A request for `key`, which has no segmenter on the node: when the app pulls, this
    /// shard counts as one of its players (which may start the pull here, as an HTTP-FLV
    /// play does) until no HLS/DASH request came for [`HOLD`].
    fn hold_stream(&mut self, key: &StreamKey, now: Instant) {
        if let Some(last) = self.cmaf_holds.get_mut(key) {
            *last = now;
            return;
        }
        let (app, name) = key.split_once('/').unwrap_or(("", key));
        if !self.can_pull(app) {
            return;
        }
        let added = self.registry.add_player_or_pull(key, self.index, true);
        self.cmaf_holds.insert(key.clone(), now);
        if let Some(generation) = added.pull {
            self.start_pull(key, name, 0, generation, now);
        } else if let Some(p) = added
            .publisher
            .filter(|p| added.first_on_shard && p.shard != self.index)
        {
            self.outbox.push(
                p.shard,
                ShardMsg::Subscribe {
                    key: key.clone(),
                    from: self.index,
                },
            );
        }
    }

    /// Releases the holds no request renewed for [`HOLD`] (from the sweep).
    pub(super) fn sweep_holds(&mut self, now: Instant) {
        let expired: Vec<StreamKey> = self
            .cmaf_holds
            .iter()
            .filter(|(_, &last)| now.saturating_duration_since(last) > HOLD)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.cmaf_holds.remove(&key);
            let (publisher, last_on_shard) = self.registry.remove_player(&key, self.index);
            if let Some(p) = publisher.filter(|p| last_on_shard && p.shard != self.index) {
                self.outbox.push(
                    p.shard,
                    ShardMsg::Unsubscribe {
                        key,
                        from: self.index,
                    },
                );
            }
        }
    }

    /// Re-checks every waiting request of this shard.
    pub(super) fn cmaf_recheck(&mut self, now: Instant) {
        self.cmaf_recheck_where(None, now);
    }

    /// Re-checks the requests of this shard waiting on `key`.
    pub(super) fn cmaf_recheck_stream(&mut self, key: &str, now: Instant) {
        self.cmaf_recheck_where(Some(key), now);
    }

    fn cmaf_recheck_where(&mut self, key: Option<&str>, now: Instant) {
        let ids = std::mem::take(&mut self.cmaf_waiting);
        for id in ids {
            let other = key.is_some_and(|k| {
                !matches!(self.conns.get(id).map(|c| &c.kind),
                    Some(Kind::Http(h)) if matches!(&h.state, HttpState::Cmaf(w) if *w.key == *k))
            });
            let waits = other || matches!(self.cmaf_check(id, now), Check::Wait);
            if waits && !self.cmaf_waiting.contains(&id) {
                self.cmaf_waiting.push(id);
            }
        }
    }

    /// Queues a complete answer and returns the connection to its next request.
    fn cmaf_finish(&mut self, id: usize, answer: Bytes, keep_alive: bool, now: Instant) {
        if let Some(h) = self.conns.get_mut(id).and_then(|c| c.http_mut()) {
            h.state = HttpState::Idle;
        }
        self.http_respond(id, answer, keep_alive, now);
        self.http_serve(id, now);
    }

    fn cmaf_check(&mut self, id: usize, now: Instant) -> Check {
        let Some(Kind::Http(h)) = self.conns.get(id).map(|c| &c.kind) else {
            return Check::Done;
        };
        let HttpState::Cmaf(wait) = &h.state else {
            return Check::Done;
        };
        let wait = wait.clone();
        let ka = wait.keep_alive;
        let waited = now.saturating_duration_since(wait.since);
        let Some(shared) = self.registry.cmaf.get(&wait.key) else {
            if let Wanted::File { started: true, .. } = wait.what {
                // The stream went while an open segment was sent: end its body.
                self.cmaf_finish_chunked(id, now, ka);
                return Check::Done;
            }
            if waited > self.settings.http.stream_wait {
                self.cmaf_finish(id, response::simple(404, ka), ka, now);
                return Check::Done;
            }
            self.hold_stream(&wait.key, now);
            return Check::Wait;
        };
        let snap = shared.snapshot();
        let target = Duration::from_millis(snap.timing.segment_target_ms.max(1));
        let stream_wait = self.settings.http.stream_wait;
        let answer = match wait.what {
            Wanted::Playlist { msn, part } => {
                let has_media = snap.current_init().is_some() && snap.next_part().is_some()
                    || !snap.segments.is_empty();
                match hls::blocking_reload(&snap, msn, part) {
                    Reload::BadRequest => Some(response::simple(400, ka)),
                    _ if !has_media && !snap.ended => {
                        (waited > stream_wait).then(|| response::simple(404, ka))
                    }
                    Reload::Ready => Some(self.playlist(&snap, &wait.query, ka)),
                    Reload::WaitUntil { .. } if waited > target * 3 => {
                        Some(self.playlist(&snap, &wait.query, ka))
                    }
                    Reload::WaitUntil { .. } => None,
                }
            }
            Wanted::Manifest => match dash::mpd(&snap, snap.clock.at(now), &wait.query) {
                Some(mpd) => {
                    let mut out = head("application/dash+xml", Some(mpd.len()), ka, true).to_vec();
                    out.extend_from_slice(mpd.as_bytes());
                    Some(Bytes::from(out))
                }
                None => {
                    // Media flowing but no segment complete yet: the first one may take a
                    // whole (long) GOP to cut.
                    let cutting = snap.current_init().is_some() && snap.next_part().is_some();
                    let bound = if cutting {
                        stream_wait + Duration::from_millis(snap.timing.max_segment_ms)
                    } else {
                        stream_wait
                    };
                    (snap.ended || waited > bound).then(|| response::simple(404, ka))
                }
            },
            Wanted::File {
                resource,
                sent,
                started,
            } => {
                return self.cmaf_file(id, &snap, &wait, resource, sent, started, target, now);
            }
        };
        match answer {
            Some(a) => {
                self.cmaf_finish(id, a, ka, now);
                Check::Done
            }
            None => {
                self.registry.cmaf.wait(&wait.key, self.index);
                Check::Wait
            }
        }
    }

    fn playlist(&self, snap: &Snapshot, query: &str, keep_alive: bool) -> Bytes {
        let body = hls::media_playlist(snap, true, query);
        let mut out = head(
            "application/vnd.apple.mpegurl",
            Some(body.len()),
            keep_alive,
            true,
        )
        .to_vec();
        out.extend_from_slice(body.as_bytes());
        Bytes::from(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn cmaf_file(
        &mut self,
        id: usize,
        snap: &Snapshot,
        wait: &CmafWait,
        resource: Resource,
        sent: usize,
        started: bool,
        target: Duration,
        now: Instant,
    ) -> Check {
        let ka = wait.keep_alive;
        let waited = now.saturating_duration_since(wait.since);
        match snap.lookup(resource) {
            Lookup::Ready(chunks) if !started => {
                let len = chunks.iter().map(Bytes::len).sum();
                let Some(c) = self.conns.get_mut(id) else {
                    return Check::Done;
                };
                c.queue
                    .push_control(head(content_type(resource), Some(len), ka, false));
                if !c.http_mut().is_some_and(|h| h.head_only) {
                    for chunk in chunks {
                        c.queue.push_control(chunk);
                    }
                }
                self.cmaf_done(id, ka, now);
                Check::Done
            }
            Lookup::Ready(chunks) => {
                self.send_chunks(id, &chunks, sent);
                self.cmaf_finish_chunked(id, now, ka);
                Check::Done
            }
            Lookup::Partial(chunks) if wait.chunked => {
                if !started {
                    if let Some(c) = self.conns.get_mut(id) {
                        c.queue
                            .push_control(head(content_type(resource), None, ka, false));
                    }
                }
                let total = self.send_chunks(id, &chunks, sent);
                if let Some(HttpState::Cmaf(w)) = self
                    .conns
                    .get_mut(id)
                    .and_then(|c| c.http_mut())
                    .map(|h| &mut h.state)
                {
                    w.what = Wanted::File {
                        resource,
                        sent: total,
                        started: true,
                    };
                }
                self.schedule_now(id);
                self.registry.cmaf.wait(&wait.key, self.index);
                Check::Wait
            }
            Lookup::Partial(_) | Lookup::Pending if !snap.ended && waited <= target * 3 => {
                self.registry.cmaf.wait(&wait.key, self.index);
                Check::Wait
            }
            _ if started => {
                self.cmaf_finish_chunked(id, now, ka);
                Check::Done
            }
            _ => {
                self.cmaf_finish(id, response::simple(404, ka), ka, now);
                Check::Done
            }
        }
    }

    /// Queues `chunks[sent..]` as body chunks; returns how many are sent now.
    fn send_chunks(&mut self, id: usize, chunks: &[Bytes], sent: usize) -> usize {
        if let Some(c) = self.conns.get_mut(id) {
            for chunk in chunks.iter().skip(sent) {
                c.queue
                    .push_control(Bytes::from(format!("{:x}\r\n", chunk.len())));
                c.queue.push_control(chunk.clone());
                c.queue.push_control(Bytes::from_static(b"\r\n"));
            }
        }
        chunks.len().max(sent)
    }

    fn cmaf_finish_chunked(&mut self, id: usize, now: Instant, keep_alive: bool) {
        if let Some(c) = self.conns.get_mut(id) {
            c.queue.push_control(Bytes::from_static(LAST_CHUNK));
        }
        self.cmaf_done(id, keep_alive, now);
    }

    /// The body is queued: back to reading requests.
    fn cmaf_done(&mut self, id: usize, keep_alive: bool, now: Instant) {
        if let Some(c) = self.conns.get_mut(id) {
            if !keep_alive {
                c.close_after_flush = Some(super::CloseReason::HttpComplete);
            }
            if let Some(h) = c.http_mut() {
                h.state = HttpState::Idle;
                h.idle_since = now;
            }
        }
        self.schedule_now(id);
        self.http_serve(id, now);
    }
}
