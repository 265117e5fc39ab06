//! Counters and histograms of one event-loop thread, merged across threads at the end, and
//! the small snapshot each thread shares for the once-a-second progress line.
//!
//! Histograms hold microseconds (1 us .. 1 h, 3 significant digits). A thread records into
//! its own histograms only; merging happens once per progress tick and once at the end, so
//! there is no shared state per frame. No I/O, no clock.
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

const MAX_US: u64 = 3_600_000_000;

/// A histogram of microseconds, 1 us to 1 hour.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// Records `us` clamped into the histogram's range.
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    // Clamped, so recording cannot fail.
    let _ = h.record(us.clamp(1, MAX_US));
}

/// Records a nanosecond interval as microseconds.
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    record_us(h, ns / 1000);
}

/// What the publisher did.
#[derive(Debug, Clone, Default)]
pub struct PublisherStats {
    /// The server accepted the publish.
    pub published: bool,
    /// Why publishing failed or stopped early.
    pub failure: Option<String>,
    /// Stamped video frames sent.
    pub frames: u64,
    /// Media payload bytes sent (FLV tag bodies).
    pub payload_bytes: u64,
    pub start_ns: u64,
    pub stop_ns: u64,
    /// Sequence number of the last stamped frame sent.
    pub last_sequence: Option<u64>,
}

/// Everything one thread measured.
#[derive(Debug, Clone)]
pub struct ThreadStats {
    pub latency: Histogram<u64>,
    /// Latencies since the last progress snapshot (not merged: progress only).
    pub recent_latency: Histogram<u64>,
    pub first_frame: Histogram<u64>,
    pub connect: Histogram<u64>,
    pub handshake: Histogram<u64>,
    /// Players whose play was accepted.
    pub players_connected: u64,
    /// Players that never got to play (errors, or not started before the end).
    pub players_failed: u64,
    /// Players that received a coded video frame, and those whose first one was a keyframe
    /// with the AVC sequence header before it.
    pub first_video: u64,
    pub first_video_keyframe: u64,
    pub frames_expected: u64,
    pub frames_received: u64,
    pub frames_lost_gaps: u64,
    pub frames_lost_tail: u64,
    pub frames_duplicate: u64,
    /// Stamped frames older than the player (served from the server's startup cache):
    /// received and counted, but not in the latency histogram.
    pub frames_cached: u64,
    pub frames_unstamped: u64,
    /// Media payload bytes received by players (FLV tag bodies).
    pub payload_bytes: u64,
    /// Bytes read from player sockets.
    pub wire_bytes: u64,
    /// Sum over players of the time they played within the run, ns.
    pub player_ns: u64,
    /// Players the server disconnected while they were playing.
    pub disconnects: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub publisher: Option<PublisherStats>,
}

impl Default for ThreadStats {
    fn default() -> Self {
        ThreadStats {
            latency: histogram(),
            recent_latency: histogram(),
            first_frame: histogram(),
            connect: histogram(),
            handshake: histogram(),
            players_connected: 0,
            players_failed: 0,
            first_video: 0,
            first_video_keyframe: 0,
            frames_expected: 0,
            frames_received: 0,
            frames_lost_gaps: 0,
            frames_lost_tail: 0,
            frames_duplicate: 0,
            frames_cached: 0,
            frames_unstamped: 0,
            payload_bytes: 0,
            wire_bytes: 0,
            player_ns: 0,
            disconnects: 0,
            errors: BTreeMap::new(),
            publisher: None,
        }
    }
}

impl ThreadStats {
    pub fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_insert(0) += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &ThreadStats) {
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.first_frame.add(&other.first_frame);
        let _ = self.connect.add(&other.connect);
        let _ = self.handshake.add(&other.handshake);
        self.players_connected += other.players_connected;
        self.players_failed += other.players_failed;
        self.first_video += other.first_video;
        self.first_video_keyframe += other.first_video_keyframe;
        self.frames_expected += other.frames_expected;
        self.frames_received += other.frames_received;
        self.frames_lost_gaps += other.frames_lost_gaps;
        self.frames_lost_tail += other.frames_lost_tail;
        self.frames_duplicate += other.frames_duplicate;
        self.frames_cached += other.frames_cached;
        self.frames_unstamped += other.frames_unstamped;
        self.payload_bytes += other.payload_bytes;
        self.wire_bytes += other.wire_bytes;
        self.player_ns += other.player_ns;
        self.disconnects += other.disconnects;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind).or_insert(0) += n;
        }
        if other.publisher.is_some() {
            self.publisher.clone_from(&other.publisher);
        }
    }
}

/// What a thread shares for the progress line (cumulative counters, plus the latencies
/// recorded since the main thread last took them).
#[derive(Debug, Clone)]
pub struct Progress {
    pub players_up: u64,
    pub payload_bytes: u64,
    pub lost: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            players_up: 0,
            payload_bytes: 0,
            lost: 0,
            errors: 0,
            latency: histogram(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_everything() {
        let mut a = ThreadStats::default();
        let mut b = ThreadStats::default();
        for us in 1..=1000 {
            record_us(&mut a.latency, us);
            record_us(&mut b.latency, us + 1000);
        }
        a.frames_received = 10;
        b.frames_received = 5;
        a.error("connect_refused");
        b.error("connect_refused");
        b.error("handshake");
        b.publisher = Some(PublisherStats {
            frames: 7,
            ..Default::default()
        });
        a.merge(&b);
        assert_eq!(a.latency.len(), 2000);
        assert_eq!(a.latency.max(), a.latency.highest_equivalent(2000));
        assert!((a.latency.value_at_quantile(0.5) as i64 - 1000).abs() <= 1);
        assert_eq!(a.frames_received, 15);
        assert_eq!(a.errors["connect_refused"], 2);
        assert_eq!(a.errors["handshake"], 1);
        assert_eq!(a.error_count(), 3);
        assert_eq!(a.publisher.unwrap().frames, 7);
    }

    #[test]
    fn records_are_clamped() {
        let mut h = histogram();
        record_us(&mut h, 0);
        record_us(&mut h, u64::MAX);
        record_ns(&mut h, 2_500);
        assert_eq!(h.len(), 3);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_US);
    }
}
