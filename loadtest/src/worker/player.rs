//! One player: a client session playing the stream over RTMP, or an HTTP-FLV request, and
//! what it measures (setup times, first frame, per-frame latency from the SEI stamps,
//! sequence gaps): the same measurements for both protocols.
//!
//! The worker owns the socket events; a player is handed received bytes and the current
//! time, and records into the thread's [`ThreadStats`] directly (no per-frame allocation
//! beyond the payload `Bytes` the session hands out).
use super::link::{Link, LinkEvent};
use crate::h264::nal_length_size;
use crate::sei::find_stamp;
use crate::stats::{record_ns, ThreadStats};
use crate::tls::PlayerTls;
use crate::worker::io::Outbox;
use mio::net::TcpStream;
use rtmp_edge::protocol::flv::{video_facts, VideoCodec};
use std::collections::VecDeque;

/// Arrival marks a paused player keeps; past this the newest is moved forward instead (its
/// bytes then get a later, never an earlier, arrival time).
const MAX_ARRIVALS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect in progress.
    Connecting,
    /// Handshake, connect, createStream, play.
    Setup,
    Playing,
}

/// What a player leaves behind for the end-of-run count of expected frames.
#[derive(Debug, Clone, Copy)]
pub struct PlayerRecord {
    /// First and last stamped sequence received (in order).
    pub first_last: Option<(u64, u64)>,
    /// Frames published when its play was accepted.
    pub published_at_play: u64,
}

pub struct Player {
    pub sock: TcpStream,
    pub link: Link,
    pub outbox: Outbox,
    /// RTMPS: the TLS between the socket and the session (`--tls-port`).
    pub tls: Option<PlayerTls>,
    pub phase: Phase,
    pub connect_start: u64,
    pub tcp_connected: u64,
    /// RTMP connect answered: frames scheduled before this came from a cache.
    pub rtmp_connected: u64,
    pub play_started: u64,
    pub published_at_play: u64,
    /// Bursty reading: the serial of the pause this player is in (its socket is left unread
    /// until the pause ends), None while it reads as data comes.
    pub paused: Option<u64>,
    /// Bytes read from the socket so far (the stream offset the next read starts at).
    pub rx_offset: u64,
    /// Arrivals seen while paused, oldest first: `(stream offset, time)` = every byte before
    /// that offset had arrived by that time (CLOCK_MONOTONIC ns). See [`Player::mark_arrival`].
    pub arrivals: VecDeque<(u64, u64)>,
    avc_header: bool,
    nal_length: usize,
    first_video_seen: bool,
    first_seq: Option<u64>,
    last_seq: u64,
}

/// Why a player's input ended it.
#[derive(Debug)]
pub enum Ended {
    /// Error of the given kind (counted by the caller).
    Error(&'static str),
}

impl Player {
    pub fn new(sock: TcpStream, link: Link, tls: Option<PlayerTls>, now: u64) -> Player {
        Player {
            sock,
            link,
            outbox: Outbox::default(),
            tls,
            phase: Phase::Connecting,
            connect_start: now,
            tcp_connected: 0,
            rtmp_connected: 0,
            play_started: 0,
            published_at_play: 0,
            paused: None,
            rx_offset: 0,
            arrivals: VecDeque::new(),
            avc_header: false,
            nal_length: 4,
            first_video_seen: false,
            first_seq: None,
            last_seq: 0,
        }
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.first_seq.map(|_| self.last_seq)
    }

    pub fn record(&self) -> PlayerRecord {
        PlayerRecord {
            first_last: self.first_seq.map(|f| (f, self.last_seq)),
            published_at_play: self.published_at_play,
        }
    }

    /// Notes, while paused, that `queued` bytes wait in the socket, the last of them having
    /// arrived at `at`.
    pub fn mark_arrival(&mut self, queued: usize, at: u64) {
        let end = self.rx_offset + queued as u64;
        if self.arrivals.back().is_some_and(|&(last, _)| last >= end) {
            return;
        }
        if self.arrivals.len() >= MAX_ARRIVALS {
            self.arrivals.pop_back();
        }
        self.arrivals.push_back((end, at));
    }

    /// The next bytes to write: the link's output (RTMP session or HTTP request), sealed (with the handshake's own records)
    /// when TLS.
    pub fn poll_output(&mut self) -> Option<bytes::Bytes> {
        let Some(tls) = self.tls.as_mut() else {
            return self.link.poll_transmit();
        };
        while let Some(out) = self.link.poll_transmit() {
            if let Some(sealed) = tls.seal(&out) {
                return Some(sealed);
            }
        }
        tls.seal(&[])
    }

    /// Feeds `data`, just read at stream offset `rx_offset` with arrival time `at` (of its
    /// last byte), splitting it where arrival marks say earlier parts arrived earlier.
    pub fn handle_read(
        &mut self,
        data: &[u8],
        at: u64,
        published: u64,
        stats: &mut ThreadStats,
    ) -> Result<(), Ended> {
        let start = self.rx_offset;
        self.rx_offset += data.len() as u64;
        let mut from = 0;
        while let Some(&(end, mark_at)) = self.arrivals.front() {
            if end > self.rx_offset {
                break;
            }
            self.arrivals.pop_front();
            let upto = end.saturating_sub(start) as usize;
            if upto > from {
                self.handle_input(&data[from..upto], mark_at.min(at), published, stats)?;
                from = upto;
            }
        }
        if from < data.len() {
            self.handle_input(&data[from..], at, published, stats)?;
        }
        Ok(())
    }

    /// Feeds received bytes and handles every event they produced.
    pub fn handle_input(
        &mut self,
        data: &[u8],
        now: u64,
        published: u64,
        stats: &mut ThreadStats,
    ) -> Result<(), Ended> {
        let connected = self.rtmp_connected != 0;
        self.link
            .handle_input(data, connected)
            .map_err(Ended::Error)?;
        while let Some(event) = self.link.poll_event().map_err(Ended::Error)? {
            match event {
                LinkEvent::Media { type_id, payload } => {
                    self.on_media(type_id, &payload, now, stats)
                }
                LinkEvent::Connected => self.on_connected(now, stats),
                LinkEvent::PlayStarted => self.on_play_started(now, published, stats),
                LinkEvent::Started => {
                    self.on_connected(now, stats);
                    self.on_play_started(now, published, stats);
                }
                LinkEvent::ErrorStatus => {
                    if self.phase != Phase::Playing {
                        return Err(Ended::Error("play_rejected"));
                    }
                }
            }
        }
        Ok(())
    }

    fn on_media(&mut self, type_id: u8, payload: &[u8], now: u64, stats: &mut ThreadStats) {
        stats.payload_bytes += payload.len() as u64;
        if type_id == 9 {
            self.on_video(payload, now, stats);
        }
    }

    fn on_connected(&mut self, now: u64, stats: &mut ThreadStats) {
        self.rtmp_connected = now;
        record_ns(&mut stats.handshake, now.saturating_sub(self.tcp_connected));
    }

    fn on_play_started(&mut self, now: u64, published: u64, stats: &mut ThreadStats) {
        if self.phase != Phase::Playing {
            self.phase = Phase::Playing;
            self.play_started = now;
            self.published_at_play = published;
            stats.players_connected += 1;
        }
    }

    fn on_video(&mut self, payload: &[u8], now: u64, stats: &mut ThreadStats) {
        let Some(facts) = video_facts(payload) else {
            return;
        };
        let avc = facts.codec == VideoCodec::Avc && !facts.ex_header;
        if facts.sequence_header {
            self.avc_header = true;
            if avc {
                self.nal_length = nal_length_size(payload).unwrap_or(4);
            }
            return;
        }
        if facts.command_frame {
            return;
        }
        if !self.first_video_seen {
            self.first_video_seen = true;
            stats.first_video += 1;
            if facts.keyframe && self.avc_header {
                stats.first_video_keyframe += 1;
            }
            record_ns(
                &mut stats.first_frame,
                now.saturating_sub(self.connect_start),
            );
        }
        let stamp = if avc {
            find_stamp(payload, self.nal_length)
        } else {
            None
        };
        let Some(stamp) = stamp else {
            stats.frames_unstamped += 1;
            return;
        };
        match self.first_seq {
            None => {
                self.first_seq = Some(stamp.sequence);
                self.last_seq = stamp.sequence;
                stats.frames_received += 1;
            }
            Some(_) if stamp.sequence > self.last_seq => {
                stats.frames_lost_gaps += stamp.sequence - self.last_seq - 1;
                self.last_seq = stamp.sequence;
                stats.frames_received += 1;
            }
            Some(_) => stats.frames_duplicate += 1,
        }
        if stamp.scheduled_ns >= self.rtmp_connected {
            let latency = now.saturating_sub(stamp.scheduled_ns);
            record_ns(&mut stats.latency, latency);
            record_ns(&mut stats.recent_latency, latency);
        } else {
            stats.frames_cached += 1;
        }
    }
}
