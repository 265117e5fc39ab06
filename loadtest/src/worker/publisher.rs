//! The publisher: one client session publishing the source on its schedule.
//!
//! Lives on thread 0. After the publish is accepted it anchors the source's schedule at
//! that instant and, whenever the thread wakes, sends every message that is due (a late
//! wake-up sends a burst, each frame still stamped with its scheduled time, so the delay
//! shows as latency instead of being hidden). It stops at the end of the run.
use crate::source::{Body, Source};
use crate::stats::PublisherStats;
use crate::worker::io::Outbox;
use mio::net::TcpStream;
use rtmp_edge::session::{ClientEvent, ClientSession};

/// A publisher whose socket does not drain this much is stuck.
const MAX_BACKLOG: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubPhase {
    Connecting,
    Setup,
    Publishing,
    /// Done sending (end of run); the connection stays open until the players drained.
    Stopped,
    Failed,
}

pub struct Publisher {
    pub sock: TcpStream,
    pub session: ClientSession,
    pub outbox: Outbox,
    pub phase: PubPhase,
    pub source: Source,
    pub stats: PublisherStats,
}

impl Publisher {
    pub fn new(sock: TcpStream, session: ClientSession, source: Source) -> Publisher {
        Publisher {
            sock,
            session,
            outbox: Outbox::default(),
            phase: PubPhase::Connecting,
            source,
            stats: PublisherStats::default(),
        }
    }

    /// Marks the publisher failed (first reason wins).
    pub fn fail(&mut self, why: String, now: u64) {
        if self.phase == PubPhase::Publishing {
            self.stats.stop_ns = now;
        }
        if self.stats.failure.is_none() && self.phase != PubPhase::Stopped {
            self.stats.failure = Some(why);
        }
        if self.phase != PubPhase::Stopped {
            self.phase = PubPhase::Failed;
        }
    }

    /// Feeds received bytes. Returns true when the publish was just accepted.
    pub fn handle_input(&mut self, data: &[u8], now: u64) -> bool {
        if let Err(e) = self.session.handle_input(data) {
            self.fail(format!("session: {e}"), now);
            return false;
        }
        let mut started = false;
        while let Some(event) = self.session.poll_event() {
            match event {
                ClientEvent::PublishStarted if self.phase == PubPhase::Setup => {
                    self.phase = PubPhase::Publishing;
                    self.stats.published = true;
                    self.stats.start_ns = now;
                    self.source.begin(now);
                    started = true;
                }
                ClientEvent::Status {
                    level,
                    code,
                    description,
                } if level == "error" => {
                    self.fail(format!("{code}: {description}"), now);
                }
                _ => {}
            }
        }
        started
    }

    /// Sends every message due by `now` and scheduled before `end`; stops at `end`.
    /// Returns the number of stamped frames sent so far.
    pub fn pump(&mut self, now: u64, end: u64) -> u64 {
        if self.phase != PubPhase::Publishing {
            return self.stats.frames;
        }
        loop {
            let due = self.source.next_due_ns();
            if due >= end {
                if now >= end {
                    self.phase = PubPhase::Stopped;
                    self.stats.stop_ns = end;
                }
                break;
            }
            if due > now {
                break;
            }
            let item = self.source.next();
            match item.body {
                Body::Media(payload) => {
                    self.session
                        .send_media(item.type_id, item.timestamp, payload);
                    self.stats.payload_bytes += payload.len() as u64;
                }
                Body::Metadata(value) => self.session.send_metadata(value.clone()),
            }
            if let Some(stamp) = item.stamp {
                self.stats.frames += 1;
                self.stats.last_sequence = Some(stamp.sequence);
            }
        }
        self.flush(now);
        self.stats.frames
    }

    /// When the next message is due, if publishing.
    pub fn next_due(&self, end: u64) -> Option<u64> {
        (self.phase == PubPhase::Publishing).then(|| self.source.next_due_ns().min(end))
    }

    /// Writes the session's output.
    pub fn flush(&mut self, now: u64) {
        if let Err(e) = self.outbox.flush(&mut self.sock) {
            self.fail(format!("write: {e}"), now);
            return;
        }
        while let Some(bytes) = self.session.poll_transmit() {
            if let Err(e) = self.outbox.send(&mut self.sock, &bytes) {
                self.fail(format!("write: {e}"), now);
                return;
            }
        }
        if self.outbox.len() > MAX_BACKLOG {
            self.fail("server does not read what we publish".into(), now);
        }
    }
}
