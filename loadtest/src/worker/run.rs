//! One event-loop thread: the loop, its deadlines, the publisher and the end of the run (see
//! the parent module for the timeline). The players' side is in `players.rs`.
use super::io::{connect_state, read_step, start_connect, ConnectState, ReadStep, Timer};
use super::pauses::Pauses;
use super::player::{Phase, Player, PlayerRecord};
use super::publisher::{PubPhase, Publisher};
use super::{Plan, Shared, NONE};
use crate::clock::{now_ns, real_ns, NS_PER_MS, NS_PER_SEC};
use crate::source::Source;
use crate::stats::ThreadStats;
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rtmp_edge::session::ClientSession;
use slab::Slab;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

const PUBLISHER: Token = Token(usize::MAX - 1);
const TIMER: Token = Token(usize::MAX - 2);
const READ_BUF: usize = 64 * 1024;
/// What a paused player's peek may see at once: above any socket receive buffer, so that the
/// peek reaches the newest byte. MSG_TRUNC never writes it: its pages stay unbacked.
const PEEK_BUF: usize = 64 << 20;
pub(super) const TICK_NS: u64 = 250 * NS_PER_MS;
pub(super) const ENDING_TICK_NS: u64 = 100 * NS_PER_MS;
/// After the end, players wait this long at most for the last frames.
const DRAIN_NS: u64 = 2 * NS_PER_SEC;
const HARD_EXTRA_NS: u64 = 10 * NS_PER_SEC;
/// Longest a connection may take from connect to play (or publish) start.
pub(super) const SETUP_TIMEOUT_NS: u64 = 10 * NS_PER_SEC;
/// Connects started per pass, so a big ramp step does not stall reading.
pub(super) const MAX_CONNECTS_PER_PASS: usize = 64;

pub(super) struct Worker {
    pub(super) index: usize,
    pub(super) plan: Arc<Plan>,
    pub(super) shared: Arc<Shared>,
    pub(super) poll: Poll,
    pub(super) timer: Timer,
    pub(super) players: Slab<Player>,
    /// Bursty players waiting to be read again (`--read-interval-ms`).
    pub(super) pauses: Pauses,
    pub(super) records: Vec<PlayerRecord>,
    pub(super) stats: ThreadStats,
    pub(super) buf: Vec<u8>,
    /// Length for bursty players' peeks (empty without `--read-interval-ms`).
    pub(super) peek_buf: Vec<u8>,
    pub(super) publisher: Option<Publisher>,
    /// Next global player index this thread starts.
    pub(super) next_player: usize,
    pub(super) t0: u64,
    pub(super) end: u64,
    pub(super) drain_until: u64,
    pub(super) hard: u64,
    pub(super) ending: bool,
    pub(super) drained_reported: bool,
    pub(super) publisher_reported: bool,
    pub(super) next_tick: u64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, to convert kernel receive timestamps.
    pub(super) real_minus_mono: u64,
}

/// Runs thread `index` to the end of the run and returns what it measured.
pub fn run_thread(
    index: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    source: Option<Source>,
) -> ThreadStats {
    let mut stats = ThreadStats::default();
    let worker = match Worker::new(index, plan, shared.clone(), source) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("rtmp-loadtest: thread {index}: {e}");
            stats.error("local");
            if index == 0 {
                shared.abort.store(true, Release);
            }
            return stats;
        }
    };
    // Threads waiting for the start must not wait forever on a thread 0 that died.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run())) {
        Ok(stats) => stats,
        Err(panic) => {
            shared.abort.store(true, Release);
            std::panic::resume_unwind(panic)
        }
    }
}

impl Worker {
    pub(super) fn new(
        index: usize,
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        source: Option<Source>,
    ) -> std::io::Result<Worker> {
        let poll = Poll::new()?;
        let timer = Timer::new()?;
        poll.registry()
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        let per_thread = plan.players / plan.threads + 1;
        // Zeroed, so the allocator maps it lazily: it costs address space, not memory.
        let peek_buf = if plan.read_interval_ns > 0 {
            vec![0; PEEK_BUF]
        } else {
            Vec::new()
        };
        let mut w = Worker {
            index,
            plan,
            shared,
            poll,
            timer,
            players: Slab::with_capacity(per_thread),
            pauses: Pauses::default(),
            records: Vec::with_capacity(per_thread),
            stats: ThreadStats::default(),
            buf: vec![0; READ_BUF],
            peek_buf,
            publisher: None,
            next_player: index,
            t0: 0,
            end: 0,
            drain_until: 0,
            hard: u64::MAX,
            ending: false,
            drained_reported: false,
            publisher_reported: false,
            next_tick: 0,
            real_minus_mono: real_ns().wrapping_sub(now_ns()),
        };
        if let Some(source) = source {
            w.start_publisher(source)?;
        }
        Ok(w)
    }

    pub(super) fn start_publisher(&mut self, source: Source) -> std::io::Result<()> {
        let now = now_ns();
        let mut sock = TcpStream::from_std(start_connect(self.plan.addr, true)?);
        self.poll.registry().register(
            &mut sock,
            PUBLISHER,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut session = ClientSession::new(self.plan.client.clone(), now, uptime_ms(now));
        session.publish(&self.plan.stream);
        self.publisher = Some(Publisher::new(sock, session, source));
        // Until the publish is accepted, only the setup timeout bounds the wait.
        self.hard = now + SETUP_TIMEOUT_NS;
        Ok(())
    }

    pub(super) fn set_start(&mut self, t0: u64) {
        self.t0 = t0;
        self.end = t0 + self.plan.duration_ns;
        // A bursty player may leave the last frames unread for one more interval.
        self.drain_until = self.end + DRAIN_NS + self.plan.read_interval_ns;
        self.hard = self.end + HARD_EXTRA_NS + self.plan.read_interval_ns;
        self.next_tick = t0;
    }

    pub(super) fn run(mut self) -> ThreadStats {
        if self.publisher.is_none() {
            // Wait for thread 0's publisher (or main) to set the start.
            loop {
                if self.shared.abort.load(Acquire) {
                    return self.stats;
                }
                let t0 = self.shared.t0.load(Acquire);
                if t0 != 0 {
                    self.set_start(t0);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut last_wake = 0u64;
        loop {
            let now = now_ns();
            if now >= self.hard {
                if self.t0 == 0 {
                    self.publisher_setup_failed("publish not accepted in time".into(), now);
                }
                break;
            }
            if self.publisher_failed_setup() {
                self.shared.abort.store(true, Release);
                break;
            }
            if self.t0 != 0 {
                self.pump_publisher(now);
                if !self.ending && now >= self.end {
                    self.begin_ending(now);
                }
                if now >= self.next_tick {
                    self.tick(now);
                }
                self.resume_players(now);
                self.start_players(now);
                if self.finished(now) {
                    break;
                }
            }
            let deadline = self.next_deadline();
            if self.plan.batch_ns > 0 && self.t0 != 0 {
                // Gather more readiness per wake-up: arrival times come from the kernel,
                // so waiting here does not age what we measure; the publisher's next send
                // still bounds the wait.
                let floor = (last_wake + self.plan.batch_ns).min(deadline);
                let now2 = now_ns();
                if floor > now2 {
                    std::thread::sleep(std::time::Duration::from_nanos(floor - now2));
                }
            }
            let timeout = if deadline <= now {
                Some(std::time::Duration::ZERO)
            } else {
                if let Err(e) = self.timer.arm(deadline) {
                    eprintln!("rtmp-loadtest: timer: {e}");
                }
                // The timerfd wakes us precisely; this only bounds a lost wake-up.
                Some(std::time::Duration::from_nanos(deadline - now + NS_PER_MS))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    eprintln!("rtmp-loadtest: poll: {e}");
                    break;
                }
            }
            last_wake = now_ns();
            for event in events.iter() {
                match event.token() {
                    TIMER => {}
                    PUBLISHER => self.on_publisher_event(),
                    Token(key) => self.on_player_event(key, event.is_writable()),
                }
            }
        }
        self.teardown(now_ns());
        self.finish()
    }

    /// True once the publisher failed before publishing (the run is aborted).
    pub(super) fn publisher_failed_setup(&self) -> bool {
        self.t0 == 0
            && self
                .publisher
                .as_ref()
                .is_some_and(|p| p.phase == PubPhase::Failed)
    }

    pub(super) fn publisher_setup_failed(&mut self, why: String, now: u64) {
        if let Some(p) = &mut self.publisher {
            p.fail(why, now);
        }
        self.shared.abort.store(true, Release);
    }

    pub(super) fn next_deadline(&self) -> u64 {
        let mut d = self.hard;
        if self.t0 == 0 {
            return d;
        }
        if let Some(due) = self.publisher.as_ref().and_then(|p| p.next_due(self.end)) {
            d = d.min(due);
        }
        if let Some(due) = self.pauses.next_due() {
            d = d.min(due);
        }
        if !self.ending {
            d = d.min(self.end);
            if self.next_player < self.plan.players {
                d = d.min(self.connect_due(self.next_player));
            }
        }
        d.min(self.next_tick)
    }

    pub(super) fn connect_due(&self, global: usize) -> u64 {
        self.t0 + (global as f64 * NS_PER_SEC as f64 / self.plan.ramp) as u64
    }

    pub(super) fn pump_publisher(&mut self, now: u64) {
        let Some(p) = &mut self.publisher else { return };
        let frames = p.pump(now, self.end);
        self.shared.frames_published.store(frames, Relaxed);
        let stopped = matches!(p.phase, PubPhase::Stopped | PubPhase::Failed);
        if stopped && !self.publisher_reported {
            self.publisher_reported = true;
            if p.phase == PubPhase::Failed {
                self.stats.error("publisher_failed");
                if let Some(why) = &p.stats.failure {
                    eprintln!("rtmp-loadtest: publisher failed: {why}");
                }
            }
            let last = p.stats.last_sequence.unwrap_or(NONE);
            self.shared.last_published.store(last, Relaxed);
            self.shared.publisher_stopped.store(true, Release);
        }
    }

    pub(super) fn on_publisher_event(&mut self) {
        let Some(p) = &mut self.publisher else { return };
        let now = now_ns();
        if p.phase == PubPhase::Connecting {
            match connect_state(&p.sock) {
                ConnectState::Pending => return,
                ConnectState::Failed(e) => {
                    p.fail(format!("connect to {}: {e}", self.plan.addr), now);
                    return;
                }
                ConnectState::Connected => {
                    let _ = p.sock.set_nodelay(true);
                    p.phase = PubPhase::Setup;
                }
            }
        }
        if matches!(p.phase, PubPhase::Failed) {
            return;
        }
        let mut started = false;
        loop {
            match read_step(&mut p.sock, &mut self.buf) {
                ReadStep::Data { n, more, .. } => {
                    started |= p.handle_input(&self.buf[..n], now);
                    if p.phase == PubPhase::Failed || !more {
                        break;
                    }
                }
                ReadStep::Drained => break,
                ReadStep::Closed => {
                    p.fail("server closed the publisher's connection".into(), now);
                    break;
                }
                ReadStep::Failed(e) => {
                    p.fail(format!("read: {e}"), now);
                    break;
                }
            }
        }
        p.flush(now);
        if started {
            let t0 = now + self.plan.publish_delay_ns;
            self.set_start(t0);
            self.shared.t0.store(t0, Release);
            self.pump_publisher(now);
        } else if self.t0 != 0 {
            // A failure while publishing is reported by pump_publisher.
            self.pump_publisher(now);
        }
    }

    /// All players of this thread are done (and, on thread 0, every thread's, so the
    /// publisher's stream outlives all of them).
    pub(super) fn finished(&mut self, now: u64) -> bool {
        if !self.ending || !self.players.is_empty() {
            return false;
        }
        if !self.drained_reported {
            self.drained_reported = true;
            self.shared.threads_drained.fetch_add(1, Release);
        }
        if self.publisher.is_none() {
            return true;
        }
        let publisher_done = self
            .publisher
            .as_ref()
            .is_some_and(|p| p.phase != PubPhase::Publishing);
        publisher_done
            && (self.shared.threads_drained.load(Acquire) >= self.plan.threads
                || now >= self.drain_until)
    }

    pub(super) fn teardown(&mut self, now: u64) {
        let keys: Vec<usize> = self.players.iter().map(|(k, _)| k).collect();
        for key in keys {
            if self.players[key].phase == Phase::Playing {
                self.close_player(key, now, true);
            } else {
                self.fail_player(key, "setup_unfinished", now);
            }
        }
        let unstarted = self.remaining_players();
        if unstarted > 0 {
            self.stats.players_failed += unstarted;
            *self.stats.errors.entry("not_started").or_insert(0) += unstarted;
            self.next_player = self.plan.players;
        }
        if let Some(p) = &mut self.publisher {
            if p.phase == PubPhase::Publishing {
                p.phase = PubPhase::Stopped;
                p.stats.stop_ns = now.min(self.end);
            }
            if p.phase == PubPhase::Stopped {
                p.session.close();
                p.flush(now);
            }
            let _ = self.poll.registry().deregister(&mut p.sock);
        }
        self.pump_publisher(now);
    }

    /// Final accounting of expected and lost frames, once the last published frame is known.
    pub(super) fn finish(mut self) -> ThreadStats {
        let last = if self.plan.publish && self.shared.publisher_stopped.load(Acquire) {
            Some(self.shared.last_published.load(Relaxed))
        } else {
            None
        };
        for r in &self.records {
            match (r.first_last, last) {
                (Some((first, own_last)), Some(last)) if last != NONE && last >= own_last => {
                    self.stats.frames_expected += last - first + 1;
                    self.stats.frames_lost_tail += last - own_last;
                }
                (Some((first, own_last)), _) => self.stats.frames_expected += own_last - first + 1,
                (None, Some(last)) if last != NONE => {
                    let expected = (last + 1).saturating_sub(r.published_at_play);
                    self.stats.frames_expected += expected;
                    self.stats.frames_lost_tail += expected;
                }
                (None, _) => {}
            }
        }
        self.share_progress();
        if let Some(p) = self.publisher.take() {
            self.stats.publisher = Some(p.stats);
        }
        self.stats
    }
}

pub(super) fn uptime_ms(now: u64) -> u32 {
    (now / NS_PER_MS) as u32
}
