//! The players' side of a worker thread: starting connections on the ramp, handling their
//! socket events, bursty players' pauses, the periodic tick (timeouts, drain, progress) and
//! closing them.
use super::io::{
    connect_error_kind, connect_state, enable_rx_timestamps, io_error_kind, peek_step, read_step,
    start_connect, ConnectState, ReadStep,
};
use super::link::Link;
use super::player::{Ended, Phase, Player};
use super::run::{
    uptime_ms, Worker, ENDING_TICK_NS, MAX_CONNECTS_PER_PASS, SETUP_TIMEOUT_NS, TICK_NS,
};
use super::NONE;
use crate::clock::{now_ns, real_ns};
use crate::http_flv::FlvReader;
use crate::stats::record_ns;
use crate::tls::PlayerTls;
use mio::net::TcpStream;
use mio::{Interest, Token};
use rtmp_edge::session::ClientSession;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

impl Worker {
    pub(super) fn start_players(&mut self, now: u64) {
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

    pub(super) fn start_player(&mut self, global: u64, now: u64) {
        let addr = self
            .plan
            .http_flv
            .as_ref()
            .map_or(self.plan.player_addr, |t| t.addr);
        let mut sock = match start_connect(addr, true) {
            Ok(s) => TcpStream::from_std(s),
            Err(e) => {
                self.stats.error(connect_error_kind(&e));
                self.stats.players_failed += 1;
                return;
            }
        };
        let entry = self.players.vacant_entry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(entry.key()), interest)
        {
            eprintln!("rtmp-loadtest: register: {e}");
            self.stats.error("local");
            self.stats.players_failed += 1;
            return;
        }
        let link = match &self.plan.http_flv {
            Some(target) => Link::HttpFlv {
                reader: FlvReader::new(),
                request: Some(FlvReader::request(&target.host, &target.path)),
            },
            None => {
                let seed = global.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ now;
                let mut client = self.plan.client.clone();
                client.enhanced = (global as usize) < self.plan.enhanced_players;
                let mut session = ClientSession::new(client, seed, uptime_ms(now));
                session.play(&self.plan.stream);
                Link::Rtmp(session)
            }
        };
        let tls = match self.plan.tls.as_ref().map(PlayerTls::new).transpose() {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("rtmp-loadtest: TLS: {e}");
                self.stats.error("local");
                self.stats.players_failed += 1;
                let _ = self.poll.registry().deregister(&mut sock);
                return;
            }
        };
        entry.insert(Player::new(sock, link, tls, now));
    }

    pub(super) fn on_player_event(&mut self, key: usize, writable: bool) {
        let now = now_ns();
        let Some(p) = self.players.get_mut(key) else {
            return;
        };
        if p.phase == Phase::Connecting {
            match connect_state(&p.sock) {
                ConnectState::Pending => return,
                ConnectState::Failed(e) => {
                    return self.fail_player(key, connect_error_kind(&e), now)
                }
                ConnectState::Connected => {
                    p.phase = Phase::Setup;
                    p.tcp_connected = now;
                    record_ns(&mut self.stats.connect, now.saturating_sub(p.connect_start));
                    let _ = p.sock.set_nodelay(true);
                    if !enable_rx_timestamps(&p.sock) {
                        self.stats.error("no_rx_timestamps");
                    }
                }
            }
        }
        if writable {
            if let Err(e) = p.outbox.flush(&mut p.sock) {
                return self.fail_player(key, io_error_kind(&e), now);
            }
        }
        if p.paused.is_some() {
            // A bursty player in its pause: the data stays in the socket until the pause
            // ends (resume_players reads it then: no new edge is needed). Only note when it
            // arrived, which the kernel forgets once it merges the queued segments.
            if let ReadStep::Data { n, rx_real_ns, .. } = peek_step(&mut p.sock, &mut self.peek_buf)
            {
                p.mark_arrival(n, arrival(rx_real_ns, self.real_minus_mono));
            }
            return;
        }
        self.read_player(key, now);
    }

    /// Reads every bursty player whose pause has ended by `now`.
    pub(super) fn resume_players(&mut self, now: u64) {
        while let Some((key, serial)) = self.pauses.pop_due(now) {
            // Skips a closed player's entry, or one for a newer player on the same slab key.
            let Some(p) = self
                .players
                .get_mut(key)
                .filter(|p| p.paused == Some(serial))
            else {
                continue;
            };
            p.paused = None;
            self.read_player(key, now);
        }
    }

    /// Reads the player's socket until it is empty, hands the bytes to its session and sends
    /// what the session answers. A bursty player that got data then pauses.
    fn read_player(&mut self, key: usize, now: u64) {
        let Some(p) = self.players.get_mut(key) else {
            return;
        };
        let published = self.shared.frames_published.load(Relaxed);
        let mut got = false;
        loop {
            match read_step(&mut p.sock, &mut self.buf) {
                ReadStep::Data {
                    n,
                    more,
                    rx_real_ns,
                } => {
                    got = true;
                    self.stats.wire_bytes += n as u64;
                    // Each chunk is timed on its own: the kernel's arrival stamp when there
                    // is one, else the time we read it (earlier parts by the arrival marks).
                    let at = arrival(rx_real_ns, self.real_minus_mono);
                    // RTMPS: the records are decrypted before the session sees them.
                    let (data, mut tls) = (&self.buf[..n], p.tls.take());
                    let result = match tls.as_mut().map(|t| t.open(data)) {
                        None => p.handle_read(data, at, published, &mut self.stats),
                        Some(Ok(plain)) => p.handle_read(plain, at, published, &mut self.stats),
                        Some(Err(_)) => Err(Ended::Error("tls")),
                    };
                    p.tls = tls;
                    if let Err(Ended::Error(kind)) = result {
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
        while let Some(out) = p.poll_output() {
            if let Err(e) = p.outbox.send(&mut p.sock, &out) {
                return self.fail_player(key, io_error_kind(&e), now);
            }
        }
        // Setup reads continuously; a burst that found nothing waits for the next edge.
        if self.plan.read_interval_ns > 0 && p.phase == Phase::Playing && got {
            let due = now_ns() + self.plan.read_interval_ns;
            p.paused = Some(self.pauses.push(key, due));
        }
        let last_seq = p.last_seq();
        if self.ending && self.drained(last_seq) {
            self.close_player(key, now, true);
        }
    }

    /// During the drain: has a player with this last sequence got everything?
    pub(super) fn drained(&self, last_seq: Option<u64>) -> bool {
        if !self.shared.publisher_stopped.load(Acquire) {
            return false;
        }
        match self.shared.last_published.load(Relaxed) {
            NONE => true,
            last => last_seq.is_some_and(|s| s >= last),
        }
    }

    pub(super) fn begin_ending(&mut self, now: u64) {
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

    pub(super) fn remaining_players(&self) -> u64 {
        let n = self.plan.players;
        if self.next_player >= n {
            0
        } else {
            ((n - self.next_player).div_ceil(self.plan.threads)) as u64
        }
    }

    pub(super) fn tick(&mut self, now: u64) {
        self.real_minus_mono = real_ns().wrapping_sub(now_ns());
        self.next_tick = now + if self.ending { ENDING_TICK_NS } else { TICK_NS };
        let mut timed_out = Vec::new();
        let mut done = Vec::new();
        for (key, p) in self.players.iter() {
            match p.phase {
                Phase::Connecting | Phase::Setup
                    if now.saturating_sub(p.connect_start) > SETUP_TIMEOUT_NS =>
                {
                    let kind = if p.phase == Phase::Connecting {
                        "connect_timeout"
                    } else {
                        "setup_timeout"
                    };
                    timed_out.push((key, kind));
                }
                Phase::Playing
                    if self.ending && (now >= self.drain_until || self.drained(p.last_seq())) =>
                {
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

    pub(super) fn share_progress(&mut self) {
        let up = self
            .players
            .iter()
            .filter(|(_, p)| p.phase == Phase::Playing)
            .count() as u64;
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
    pub(super) fn fail_player(&mut self, key: usize, kind: &'static str, now: u64) {
        self.stats.error(kind);
        let Some(p) = self.players.get(key) else {
            return;
        };
        if p.phase == Phase::Playing {
            self.stats.disconnects += 1;
        } else {
            self.stats.players_failed += 1;
        }
        self.close_player(key, now, false);
    }

    /// Removes a player; `polite` sends deleteStream first (best effort, no waiting).
    pub(super) fn close_player(&mut self, key: usize, now: u64, polite: bool) {
        if !self.players.contains(key) {
            return;
        }
        let mut p = self.players.remove(key);
        if polite {
            p.link.close();
            while let Some(out) = p.poll_output() {
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
}

/// When bytes arrived (CLOCK_MONOTONIC): the kernel's receive timestamp (CLOCK_REALTIME,
/// converted with `real_minus_mono`) when there is one, never later than now; else now.
fn arrival(rx_real_ns: Option<u64>, real_minus_mono: u64) -> u64 {
    let now = now_ns();
    rx_real_ns.map_or(now, |real| real.wrapping_sub(real_minus_mono).min(now))
}
