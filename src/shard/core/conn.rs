//! The connections of a shard core, as an enum of kinds, and the state every kind shares:
//! where the connection stands in the flush schedule.
//!
//! Kinds: inbound RTMP, and outbound relay connections (an upstream play that feeds a pulled
//! stream, or an upstream publish that forwards a local one) running the client session.
//! HTTP delivery connections (`Kind::Http`, see `http`) are another; TLS is a layer any kind
//! can run inside (`Connection::tls`). No sockets here: a connection is its
//! session, its role and its send queue.
use super::http::HttpConn;
use super::proxy_wait::ProxyWait;
use super::schedule::Wake;
use super::streams::{StreamId, Streams};
use crate::media::ingest::FrameBuilder;
use crate::media::log::FrameLog;
use crate::media::queue::SendQueue;
use crate::media::variants::Variant;
use crate::session::{ClientSession, ServerSession};
use crate::shard::mailbox::StreamKey;
use crate::shard::snapshot::ClientRole;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a connection stands with its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteState {
    /// Nothing known to write; a player is on its stream's list of caught-up players.
    Parked,
    /// An entry of the schedule will hand it out (urgent: at the end of this pass).
    Due { urgent: bool },
    /// Handed to the driver by `poll_transmit`; waiting for `handle_written`.
    InFlight,
    /// The socket took nothing more; waiting for `handle_writable`.
    Blocked,
}

/// What an inbound RTMP connection does.
pub(crate) enum Role {
    /// Handshake, connect, createStream: neither publishing nor playing yet.
    Pending,
    /// A publish or play waits for its access callback (see `authorize`).
    Authorizing(Box<super::authorize::Authorizing>),
    Publisher {
        stream: StreamId,
        generation: u64,
        builder: FrameBuilder,
        last_media: Instant,
        /// Last timestamp reported to the registry (for a takeover's timeline).
        noted_timestamp: Option<u32>,
    },
    Player {
        stream: StreamId,
        /// The form of the stream it gets: what its connect announced.
        variant: Variant,
        /// When play started: frames that arrived before (the startup GOP) are not fan-out
        /// latency.
        since: Instant,
    },
}

/// An accepted RTMP connection (plain TCP).
pub(crate) struct RtmpConn {
    /// The client: the socket's peer, or the source a PROXY header announced.
    pub peer: SocketAddr,
    /// Some until the PROXY header is complete (listeners with the PROXY protocol on).
    pub proxy: Option<ProxyWait>,
    pub session: ServerSession,
    pub role: Role,
}

/// What an outbound relay connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Job {
    /// Plays a stream from an origin for the pull of `stream`.
    Pull { stream: StreamId },
    /// Publishes `stream` to push target `target` (an index into the app's push list).
    Push { stream: StreamId, target: usize },
}

/// How far an outbound connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The driver is opening the TCP connection (`poll_connect` / `handle_connected`).
    Connecting,
    /// Handshake and `connect` under way.
    Handshaking,
    /// `connect` answered; play or publish requested, no media / `Publish.Start` yet.
    Requested,
    /// Media flows (pull: the upstream sends; push: we send).
    Live,
}

/// An outbound relay connection (plain TCP).
pub(crate) struct UpstreamConn {
    pub peer: SocketAddr,
    pub session: ClientSession,
    pub key: StreamKey,
    pub job: Job,
    pub phase: Phase,
    /// When `phase` was entered (for its timeout).
    pub phase_since: Instant,
}

/// The kinds of connection a shard core runs.
pub(crate) enum Kind {
    Rtmp(RtmpConn),
    Upstream(UpstreamConn),
    /// An HTTP delivery connection (HTTP-FLV; HLS/DASH routes).
    Http(HttpConn),
}

/// One connection of the core.
pub(crate) struct Connection {
    pub kind: Kind,
    pub listener: usize,
    /// Everything still to be written, in order (see `SendQueue`).
    pub queue: SendQueue,
    pub write: WriteState,
    /// Bumped on every change of `write`; schedule entries with an older epoch are stale.
    pub epoch: u32,
    pub created: Instant,
    /// Last time a write made progress (or the connection started).
    pub last_write: Instant,
    /// Close once the queued output is written (a protocol error's explanation).
    pub close_after_flush: Option<super::CloseReason>,
    /// Tells this connection apart from later ones with the same slab key (client ids).
    pub generation: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The last publish or play it started, for the access log.
    pub last_session: Option<(ClientRole, StreamKey)>,
    /// RTMPS: the TLS layer between the socket and the session (see `tls`).
    pub tls: Option<Box<super::tls::TlsLayer>>,
}

impl Connection {
    /// The inbound RTMP side, if this is an inbound connection.
    pub(crate) fn rtmp(&self) -> Option<&RtmpConn> {
        match &self.kind {
            Kind::Rtmp(c) => Some(c),
            Kind::Upstream(_) | Kind::Http(_) => None,
        }
    }

    pub(crate) fn rtmp_mut(&mut self) -> Option<&mut RtmpConn> {
        match &mut self.kind {
            Kind::Rtmp(c) => Some(c),
            Kind::Upstream(_) | Kind::Http(_) => None,
        }
    }

    /// The outbound side, if this is a relay connection.
    pub(crate) fn upstream_mut(&mut self) -> Option<&mut UpstreamConn> {
        match &mut self.kind {
            Kind::Upstream(c) => Some(c),
            Kind::Rtmp(_) | Kind::Http(_) => None,
        }
    }

    /// The HTTP side, if this is an HTTP delivery connection.
    pub(crate) fn http_mut(&mut self) -> Option<&mut HttpConn> {
        match &mut self.kind {
            Kind::Http(c) => Some(c),
            Kind::Rtmp(_) | Kind::Upstream(_) => None,
        }
    }

    /// Stops playing (the stream bookkeeping is the caller's).
    pub(crate) fn leave_stream(&mut self) {
        match &mut self.kind {
            Kind::Rtmp(c) => c.role = Role::Pending,
            Kind::Http(c) => c.leave_stream(),
            Kind::Upstream(_) => {}
        }
    }

    pub(crate) fn is_upstream(&self) -> bool {
        matches!(self.kind, Kind::Upstream(_))
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        match &self.kind {
            Kind::Rtmp(c) => c.peer,
            Kind::Upstream(c) => c.peer,
            Kind::Http(c) => c.peer,
        }
    }

    /// What the connection does now (a pull's upstream feeds a stream like a publisher; a
    /// push follows one like a player).
    pub(crate) fn role(&self) -> ClientRole {
        match &self.kind {
            Kind::Rtmp(c) => match c.role {
                Role::Pending | Role::Authorizing(_) => ClientRole::Pending,
                Role::Publisher { .. } => ClientRole::Publisher,
                Role::Player { .. } => ClientRole::Player,
            },
            Kind::Upstream(c) => match c.job {
                Job::Pull { .. } => ClientRole::Publisher,
                Job::Push { .. } => ClientRole::Player,
            },
            Kind::Http(c) => match c.flv() {
                Some(_) => ClientRole::Player,
                None => ClientRole::Pending,
            },
        }
    }

    /// The stream this connection publishes or plays.
    pub(crate) fn stream(&self) -> Option<StreamId> {
        match &self.kind {
            Kind::Rtmp(c) => match c.role {
                Role::Pending | Role::Authorizing(_) => None,
                Role::Publisher { stream, .. } | Role::Player { stream, .. } => Some(stream),
            },
            Kind::Upstream(c) => match c.job {
                Job::Pull { stream } | Job::Push { stream, .. } => Some(stream),
            },
            Kind::Http(c) => c.flv().map(|f| f.stream),
        }
    }

    /// The stream whose frame log this connection follows: a player, or a live push.
    pub(crate) fn playing(&self) -> Option<StreamId> {
        match &self.kind {
            Kind::Rtmp(c) => match c.role {
                Role::Player { stream, .. } => Some(stream),
                _ => None,
            },
            Kind::Upstream(c) => match (c.job, c.phase) {
                (Job::Push { stream, .. }, Phase::Live) => Some(stream),
                _ => None,
            },
            Kind::Http(c) => c.flv().map(|f| f.stream),
        }
    }

    /// The log this player reads (its stream's log of its variant), if it is a player.
    pub(crate) fn player_log<'a>(&self, streams: &'a Streams) -> Option<&'a FrameLog> {
        match &self.kind {
            Kind::Rtmp(c) => match c.role {
                Role::Player {
                    stream, variant, ..
                } => streams.get(stream).map(|s| s.logs.get(variant)),
                _ => None,
            },
            // A push forwards the stream as published (every track).
            Kind::Upstream(c) => match (c.job, c.phase) {
                (Job::Push { stream, .. }, Phase::Live) => {
                    streams.get(stream).map(|s| s.logs.get(Variant::Enhanced))
                }
                _ => None,
            },
            Kind::Http(c) => c
                .flv()
                .and_then(|f| streams.get(f.stream).map(|s| s.logs.get(f.variant))),
        }
    }

    /// When the play of a player started (frames from before are not fan-out latency).
    pub(crate) fn play_since(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Rtmp(RtmpConn {
                role: Role::Player { since, .. },
                ..
            }) => Some(*since),
            Kind::Http(c) => c.flv().map(|f| f.since),
            _ => None,
        }
    }

    /// A new schedule entry for this connection; older entries become stale.
    pub(crate) fn wake(&mut self, id: usize, state: WriteState) -> Wake {
        self.epoch = self.epoch.wrapping_add(1);
        self.write = state;
        Wake {
            conn: id,
            epoch: self.epoch,
        }
    }

    /// Moves the session's pending output into the send queue; true if there was any.
    pub(crate) fn take_session_output(&mut self) -> bool {
        let mut any = false;
        match &mut self.kind {
            Kind::Rtmp(rtmp) => {
                while let Some(bytes) = rtmp.session.poll_transmit() {
                    self.queue.push_control(bytes);
                    any = true;
                }
            }
            Kind::Upstream(up) => {
                // Nothing may go out before the TCP connection is up.
                if up.phase == Phase::Connecting {
                    return false;
                }
                while let Some(bytes) = up.session.poll_transmit() {
                    self.queue.push_control(bytes);
                    any = true;
                }
            }
            // HTTP responses are queued where they are decided.
            Kind::Http(_) => {}
        }
        any
    }
}
