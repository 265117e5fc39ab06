//! The event-loop threads. Each owns a mio `Poll`, a slab of players (token = slab key), a
//! 64 KiB read buffer and a timerfd; thread 0 also owns the publisher.
//!
//! Timeline: thread 0 connects the publisher; once the publish is accepted it sets `t0`
//! (plus `--publish-delay-ms`) for everyone (without a publisher `t0` is set by `main`).
//! Player j (global index) connects at `t0 + j / ramp`, on thread `j % threads`. At `end =
//! t0 + duration` the publisher stops sending and players that are not playing yet count as
//! failed; players keep reading until they received the last published frame or the drain
//! time ran out, then close politely (deleteStream, best-effort flush). Nothing runs past
//! the hard deadline (`t0 + duration + 10 s`).
//!
//! Per wake-up: publisher sends what is due, socket events are handled (reads drain the
//! socket; edge-triggered), paused bursty players whose pause ended are read, due connects
//! start (capped per pass), and every tick (250 ms, 100 ms while ending) timeouts are checked
//! and the progress snapshot is shared.
//!
//! Bursty players (`--read-interval-ms N`): once playing, a player that drained its socket is
//! paused for N ms: its readiness events only peek (MSG_PEEK | MSG_TRUNC: nothing copied or
//! taken) to note how many bytes had arrived by when, since the kernel merges the queued
//! segments and keeps only the newest receive timestamp; at the end of the pause the thread
//! reads the socket itself, since edge-triggered polling may raise no new edge for data that
//! arrived during the pause, and frames are timed by those notes. All
//! pauses of a run are equally long, so the thread keeps them in one FIFO queue whose front is
//! always the next to end: one deadline for the thread, O(1) per pause, whatever the number
//! of players. A burst that finds nothing ends the pause without starting another; the next
//! arrival raises an edge.
//!
//! Time: a frame's arrival is the kernel's software receive timestamp of the read that
//! carried it (SO_TIMESTAMPING), falling back to the read time. That keeps the tester's own
//! scheduling out of the latency, and lets a thread wake at most every `--batch-us` (one
//! epoll_wait for many sockets instead of one per arriving message) at no cost in accuracy.
//! The publisher's sends are never delayed by that batching: its next due time bounds it.
mod io;
mod link;
mod pauses;
mod player;
mod players;
mod publisher;
mod run;

pub use io::raise_fd_limit;
pub use run::run_thread;

use crate::stats::Progress;
use rtmp_edge::session::ClientConfig;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Mutex;

/// No frame published yet (for [`Shared::last_published`]).
pub const NONE: u64 = u64::MAX;

/// The immutable plan every thread follows.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The publisher's address (`--url`).
    pub addr: SocketAddr,
    /// The players' address: `addr`, or its TLS port with `--tls-port`.
    pub player_addr: SocketAddr,
    /// RTMPS players (`--tls-port`): how they verify the server.
    pub tls: Option<crate::tls::TlsPlan>,
    pub stream: String,
    pub client: ClientConfig,
    pub players: usize,
    pub threads: usize,
    pub ramp: f64,
    pub duration_ns: u64,
    pub publish: bool,
    pub publish_delay_ns: u64,
    /// Shortest time between two wake-ups of a thread (0: wake on every event).
    pub batch_ns: u64,
    /// Bursty reading (`--read-interval-ms`): after a playing player drained its socket, it
    /// leaves it unread this long. 0: read continuously.
    pub read_interval_ns: u64,
    /// Players whose global index is below this announce Enhanced RTMP.
    pub enhanced_players: usize,
    /// Players play over HTTP-FLV from here instead of RTMP (`--http-flv`).
    pub http_flv: Option<HttpFlvTarget>,
}

/// Where HTTP-FLV players GET the stream.
#[derive(Debug, Clone)]
pub struct HttpFlvTarget {
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: String,
    /// Path and query.
    pub path: String,
}

/// What the threads share: the start signal, the publisher's progress, progress snapshots.
/// Touched once per frame by the publisher (a relaxed store) and once per tick by players.
pub struct Shared {
    /// Players may start at this CLOCK_MONOTONIC instant; 0 until known.
    pub t0: AtomicU64,
    /// The publisher failed before publishing: stop.
    pub abort: AtomicBool,
    /// Stamped frames published so far.
    pub frames_published: AtomicU64,
    /// The publisher stopped sending (end of run or failure); `last_published` is final.
    pub publisher_stopped: AtomicBool,
    /// Sequence of the last published frame, [`NONE`] if none.
    pub last_published: AtomicU64,
    /// Threads whose players are all closed.
    pub threads_drained: AtomicUsize,
    pub progress: Vec<Mutex<Progress>>,
}

impl Shared {
    pub fn new(threads: usize) -> Shared {
        Shared {
            t0: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            frames_published: AtomicU64::new(0),
            publisher_stopped: AtomicBool::new(false),
            last_published: AtomicU64::new(NONE),
            threads_drained: AtomicUsize::new(0),
            progress: (0..threads)
                .map(|_| Mutex::new(Progress::default()))
                .collect(),
        }
    }
}
