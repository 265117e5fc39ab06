//! One event-loop thread: see the parent module for the timeline.
use super::io::{connect_error_kind, connect_state, io_error_kind, read_step, ConnectState, ReadStep, Timer};
use super::player::{Ended, Phase, Player, PlayerRecord};
use super::publisher::{PubPhase, Publisher};
use super::{Plan, Shared, NONE};
use crate::clock::{now_ns, NS_PER_MS, NS_PER_SEC};
use crate::source::Source;
use crate::stats::{record_ns, ThreadStats};
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
const TICK_NS: u64 = 250 * NS_PER_MS;
const ENDING_TICK_NS: u64 = 100 * NS_PER_MS;
/// After the end, players wait this long at most for the last frames.
const DRAIN_NS: u64 = 2 * NS_PER_SEC;
const HARD_EXTRA_NS: u64 = 10 * NS_PER_SEC;
/// Longest a connection may take from connect to play (or publish) start.
const SETUP_TIMEOUT_NS: u64 = 10 * NS_PER_SEC;
/// Connects started per pass, so a big ramp step does not stall reading.
const MAX_CONNECTS_PER_PASS: usize = 64;

struct Worker {
    index: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    poll: Poll,
    timer: Timer,
    players: Slab<Player>,
    records: Vec<PlayerRecord>,
    stats: ThreadStats,
    buf: Vec<u8>,
    publisher: Option<Publisher>,
    /// Next global player index this thread starts.
    next_player: usize,
    t0: u64,
    end: u64,
    drain_until: u64,
    hard: u64,
    ending: bool,
    drained_reported: bool,
    publisher_reported: bool,
    next_tick: u64,
}

/// Runs thread `index` to the end of the run and returns what it measured.
pub fn run_thread(index: usize, plan: Arc<Plan>, shared: Arc<Shared>, source: Option<Source>) -> ThreadStats {
    let mut stats = ThreadStats::default();
    let worker = match Worker::new(index, plan, shared.clone(), source) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("rtmp-loadtest: thread {index}: {e}");
            stats.error("local");
            if index == 0 {
                shared.abort.store(true, Release);
            }
            shared.threads_done.fetch_add(1, Release);
            return stats;
        }
    };
    let stats = worker.run();
    shared.threads_done.fetch_add(1, Release);
    stats
}

impl Worker {
    fn new(index: usize, plan: Arc<Plan>, shared: Arc<Shared>, source: Option<Source>) -> std::io::Result<Worker> {
        let poll = Poll::new()?;
        let timer = Timer::new()?;
        poll.registry()
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        let per_thread = plan.players / plan.threads + 1;
        let mut w = Worker {
            index,
            plan,
            shared,
            poll,
            timer,
            players: Slab::with_capacity(per_thread),
            records: Vec::with_capacity(per_thread),
            stats: ThreadStats::default(),
            buf: vec![0; READ_BUF],
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
        };
        if let Some(source) = source {
            w.start_publisher(source)?;
        }
        Ok(w)
    }

    fn start_publisher(&mut self, source: Source) -> std::io::Result<()> {
        let now = now_ns();
        let mut sock = TcpStream::connect(self.plan.addr)?;
        self.poll.registry().register(&mut sock, PUBLISHER, Interest::READABLE | Interest::WRITABLE)?;
        let mut session = ClientSession::new(self.plan.client.clone(), now, uptime_ms(now));
        session.publish(&self.plan.stream);
        self.publisher = Some(Publisher::new(sock, session, source, now));
        // Until the publish is accepted, only the setup timeout bounds the wait.
        self.hard = now + SETUP_TIMEOUT_NS;
        Ok(())
    }

    fn set_start(&mut self, t0: u64) {
        self.t0 = t0;
        self.end = t0 + self.plan.duration_ns;
        self.drain_until = self.end + DRAIN_NS;
        self.hard = self.end + HARD_EXTRA_NS;
        self.next_tick = t0;
    }

    fn run(mut self) -> ThreadStats {
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
                self.start_players(now);
                if self.finished(now) {
                    break;
                }
            }
            let deadline = self.next_deadline();
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
    fn publisher_failed_setup(&self) -> bool {
        self.t0 == 0 && self.publisher.as_ref().is_some_and(|p| p.phase == PubPhase::Failed)
    }

    fn publisher_setup_failed(&mut self, why: String, now: u64) {
        if let Some(p) = &mut self.publisher {
            p.fail(why, now);
        }
        self.shared.abort.store(true, Release);
    }

    fn next_deadline(&self) -> u64 {
        let mut d = self.hard;
        if self.t0 == 0 {
            return d;
        }
        if let Some(due) = self.publisher.as_ref().and_then(|p| p.next_due(self.end)) {
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

    fn connect_due(&self, global: usize) -> u64 {
        self.t0 + (global as f64 * NS_PER_SEC as f64 / self.plan.ramp) as u64
    }

    fn pump_publisher(&mut self, now: u64) {
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

    fn on_publisher_event(&mut self) {
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
                ReadStep::Data { n, more } => {
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

    fn start_players(&mut self, now: u64) {
        let mut started = 0;
        while self.next_player < self.plan.players && started < MAX_CONNECTS_PER_PASS {
            let due = self.connect_due(self.next_player);
            if due > now || self.ending {
                break;
            }
            self.start_player(self.next_player as u64, now);
            self.next_player += self.plan.threads;
            started += 1;
        }
    }

    fn start_player(&mut self, global: u64, now: u64) {
        let mut sock = match TcpStream::connect(self.plan.addr) {
            Ok(s) => s,
            Err(e) => {
                self.stats.error(connect_error_kind(&e));
                self.stats.players_failed += 1;
                return;
            }
        };
        let entry = self.players.vacant_entry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut sock, Token(entry.key()), interest) {
            eprintln!("rtmp-loadtest: register: {e}");
            self.stats.error("local");
            self.stats.players_failed += 1;
            return;
        }
        let seed = global.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ now;
        let mut session = ClientSession::new(self.plan.client.clone(), seed, uptime_ms(now));
        session.play(&self.plan.stream);
        entry.insert(Player::new(sock, session, now));
    }

    fn on_player_event(&mut self, key: usize, writable: bool) {
        let now = now_ns();
        let Some(p) = self.players.get_mut(key) else { return };
        if p.phase == Phase::Connecting {
            match connect_state(&p.sock) {
                ConnectState::Pending => return,
                ConnectState::Failed(e) => return self.fail_player(key, connect_error_kind(&e), now),
                ConnectState::Connected => {
                    p.phase = Phase::Setup;
                    p.tcp_connected = now;
                    record_ns(&mut self.stats.connect, now.saturating_sub(p.connect_start));
                    let _ = p.sock.set_nodelay(true);
                }
            }
        }
        if writable {
            if let Err(e) = p.outbox.flush(&mut p.sock) {
                return self.fail_player(key, io_error_kind(&e), now);
            }
        }
        let published = self.shared.frames_published.load(Relaxed);
        loop {
            match read_step(&mut p.sock, &mut self.buf) {
                ReadStep::Data { n, more } => {
                    self.stats.wire_bytes += n as u64;
                    // Each chunk is timed on its own: a long pass must not age later frames.
                    let at = now_ns();
                    if let Err(Ended::Error(kind)) = p.handle_input(&self.buf[..n], at, published, &mut self.stats) {
                        return self.fail_player(key, kind, now);
                    }
                    if !more {
                        break;
                    }
                }
                ReadStep::Drained => break,
                ReadStep::Closed if self.ending && p.phase == Phase::Playing => {
                    return self.close_player(key, now, false);
                }
                ReadStep::Closed => return self.fail_player(key, "closed_early", now),
                ReadStep::Failed(e) => return self.fail_player(key, io_error_kind(&e), now),
            }
        }
        while let Some(out) = p.session.poll_transmit() {
            if let Err(e) = p.outbox.send(&mut p.sock, &out) {
                return self.fail_player(key, io_error_kind(&e), now);
            }
        }
        let last_seq = p.last_seq();
        if self.ending && self.drained(last_seq) {
            self.close_player(key, now, true);
        }
    }

    /// During the drain: has a player with this last sequence got everything?
    fn drained(&self, last_seq: Option<u64>) -> bool {
        if !self.shared.publisher_stopped.load(Acquire) {
            return false;
        }
        match self.shared.last_published.load(Relaxed) {
            NONE => true,
            last => last_seq.is_some_and(|s| s >= last),
        }
    }

    fn begin_ending(&mut self, now: u64) {
        self.ending = true;
        let never_started = self.remaining_players();
        self.next_player = self.plan.players;
        self.stats.players_failed += never_started;
        if never_started > 0 {
            *self.stats.errors.entry("not_started").or_insert(0) += never_started;
        }
        let keys: Vec<usize> = self.players.iter().map(|(k, _)| k).collect();
        for key in keys {
            let playing = self.players[key].phase == Phase::Playing;
            if !playing {
                self.fail_player(key, "setup_unfinished", now);
            } else if !self.plan.publish {
                self.close_player(key, now, true);
            }
        }
    }

    fn remaining_players(&self) -> u64 {
        let n = self.plan.players;
        if self.next_player >= n {
            0
        } else {
            ((n - self.next_player).div_ceil(self.plan.threads)) as u64
        }
    }

    fn tick(&mut self, now: u64) {
        self.next_tick = now + if self.ending { ENDING_TICK_NS } else { TICK_NS };
        let mut timed_out = Vec::new();
        let mut done = Vec::new();
        for (key, p) in self.players.iter() {
            match p.phase {
                Phase::Connecting | Phase::Setup if now.saturating_sub(p.connect_start) > SETUP_TIMEOUT_NS => {
                    let kind = if p.phase == Phase::Connecting { "connect_timeout" } else { "setup_timeout" };
                    timed_out.push((key, kind));
                }
                Phase::Playing if self.ending && (now >= self.drain_until || self.drained(p.last_seq())) => {
                    done.push(key);
                }
                _ => {}
            }
        }
        for (key, kind) in timed_out {
            self.fail_player(key, kind, now);
        }
        for key in done {
            self.close_player(key, now, true);
        }
        self.share_progress();
    }

    fn share_progress(&mut self) {
        let up = self.players.iter().filter(|(_, p)| p.phase == Phase::Playing).count() as u64;
        if let Ok(mut slot) = self.shared.progress[self.index].lock() {
            slot.players_up = up;
            slot.payload_bytes = self.stats.payload_bytes;
            slot.lost = self.stats.frames_lost_gaps;
            slot.errors = self.stats.error_count();
            let _ = slot.latency.add(&self.stats.recent_latency);
        }
        self.stats.recent_latency.reset();
    }

    /// A player failed: count the error and drop it.
    fn fail_player(&mut self, key: usize, kind: &'static str, now: u64) {
        self.stats.error(kind);
        let Some(p) = self.players.get(key) else { return };
        if p.phase == Phase::Playing {
            self.stats.disconnects += 1;
        } else {
            self.stats.players_failed += 1;
        }
        self.close_player(key, now, false);
    }

    /// Removes a player; `polite` sends deleteStream first (best effort, no waiting).
    fn close_player(&mut self, key: usize, now: u64, polite: bool) {
        if !self.players.contains(key) {
            return;
        }
        let mut p = self.players.remove(key);
        if polite {
            p.session.close();
            while let Some(out) = p.session.poll_transmit() {
                if p.outbox.send(&mut p.sock, &out).is_err() {
                    break;
                }
            }
        }
        let _ = self.poll.registry().deregister(&mut p.sock);
        if p.phase == Phase::Playing {
            self.stats.player_ns += now.min(self.end).saturating_sub(p.play_started);
            self.records.push(p.record());
        }
    }

    /// All players of this thread are done (and, on thread 0, every thread's, so the
    /// publisher's stream outlives all of them).
    fn finished(&mut self, now: u64) -> bool {
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
        let publisher_done = self.publisher.as_ref().is_some_and(|p| p.phase != PubPhase::Publishing);
        publisher_done
            && (self.shared.threads_drained.load(Acquire) >= self.plan.threads || now >= self.drain_until)
    }

    fn teardown(&mut self, now: u64) {
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
    fn finish(mut self) -> ThreadStats {
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

fn uptime_ms(now: u64) -> u32 {
    (now / NS_PER_MS) as u32
}
