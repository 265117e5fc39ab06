//! Tests of `SendQueue` over a `FrameLog`: delivery order with control bytes interleaved, the
//! slow-player policy (skip to a resume point within the bounds, headers kept, positions that
//! fell behind the log, waiting for a keyframe), kicks across the 2^32 ms wrap, committed
//! bytes never changed by the policy, receiveAudio/receiveVideo, per-player memory, and a
//! randomized model check over many seeds.
//!
//! Every wire starts with an 8-byte id (a frame's sequence number in its log, or `CONTROL + n`
//! for control bytes), so the bytes a player wrote can be parsed back into whole entries.

use std::collections::HashMap;

use super::*;
use crate::media::log::LogLimits;

/// Ids of control entries start here; frame ids are their log sequence numbers.
const CONTROL: u64 = 1 << 40;

fn wire(id: u64, len: usize) -> Bytes {
    let mut v = vec![id as u8; len.max(8)];
    v[..8].copy_from_slice(&id.to_be_bytes());
    Bytes::from(v)
}

fn id_of(entry: &[u8]) -> u64 {
    u64::from_be_bytes(entry[..8].try_into().unwrap())
}

fn limits(max_span_ms: u32, max_bytes: usize, kick_after_ms: u32) -> QueueLimits {
    QueueLimits {
        max_span_ms,
        max_bytes,
        kick_after_ms,
    }
}

/// A log with the window of `queue` (as the shard core builds it).
fn log_for(queue: QueueLimits, gop_cache: bool) -> FrameLog {
    FrameLog::new(LogLimits {
        queue,
        gop_cache,
        max_gop_bytes: queue.max_bytes,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    Key,
    Inter,
    Audio,
    Meta,
    VSeq,
    ASeq,
}

/// A stream's log plus every frame ever pushed to it, by sequence number.
struct Stream {
    log: FrameLog,
    frames: Vec<Frame>,
    /// Resume points as the test models them (checked against the log on every push).
    resume: Vec<bool>,
    seen_video: bool,
}

impl Stream {
    fn new(log: FrameLog) -> Self {
        Stream {
            log,
            frames: Vec::new(),
            resume: Vec::new(),
            seen_video: false,
        }
    }

    fn push(&mut self, kind: K, ts: u32, len: usize) -> u64 {
        let seq = self.log.end();
        assert_eq!(seq as usize, self.frames.len());
        let (media, key, header) = match kind {
            K::Key => (MediaKind::Video, true, false),
            K::Inter => (MediaKind::Video, false, false),
            K::Audio => (MediaKind::Audio, false, false),
            K::Meta => (MediaKind::Data, false, true),
            K::VSeq => (MediaKind::Video, true, true),
            K::ASeq => (MediaKind::Audio, false, true),
        };
        let frame = Frame::new(media, ts, key, header, wire(seq, len));
        assert_eq!(self.log.push(frame.clone()), seq);
        self.seen_video |= matches!(kind, K::Key | K::Inter);
        let resume = kind == K::Key || (kind == K::Audio && !self.seen_video);
        assert_eq!(self.log.is_resume(seq), resume, "resume point at {seq}");
        self.frames.push(frame);
        self.resume.push(resume);
        seq
    }

    /// The publisher left: the log forgets its frames (sequence numbers go on).
    fn clear(&mut self) {
        self.log.clear();
        self.seen_video = false;
    }

    fn frame(&self, seq: u64) -> &Frame {
        &self.frames[seq as usize]
    }

    /// 25 fps video from `from`, a keyframe every `gop` frames (counting from `first`).
    fn video(&mut self, from: u32, first: u32, frames: u32, gop: u32, len: usize) -> Vec<u64> {
        (first..first + frames)
            .map(|i| {
                let kind = if i % gop == 0 { K::Key } else { K::Inter };
                self.push(kind, from.wrapping_add(i * 40), len)
            })
            .collect()
    }
}

/// A connection: its queue, the bytes it wrote, and the sum of the policy's verdicts.
struct Player {
    q: SendQueue,
    out: Vec<u8>,
    dropped: u64,
    controls: HashMap<u64, Bytes>,
    control_order: Vec<u64>,
}

impl Player {
    fn new(limits: QueueLimits) -> Self {
        Player {
            q: SendQueue::new(limits),
            out: Vec::new(),
            dropped: 0,
            controls: HashMap::new(),
            control_order: Vec::new(),
        }
    }

    fn note(&mut self, verdict: Verdict) -> Verdict {
        if let Verdict::Keep { dropped } = verdict {
            self.dropped += dropped;
        }
        verdict
    }

    fn prepare(&mut self, log: &FrameLog) -> Verdict {
        let verdict = self.q.prepare(Some(log));
        self.note(verdict)
    }

    fn check(&mut self, log: &FrameLog) -> Verdict {
        let verdict = self.q.check_lag(Some(log));
        self.note(verdict)
    }

    fn control(&mut self, len: usize) -> u64 {
        let id = CONTROL + self.control_order.len() as u64;
        let bytes = wire(id, len);
        self.q.push_control(bytes.clone());
        self.controls.insert(id, bytes);
        self.control_order.push(id);
        id
    }

    /// One vectored send of at most `max` bytes over at most 16 slices; returns what it wrote.
    fn send(&mut self, log: &FrameLog, max: usize) -> usize {
        let mut iov = Vec::new();
        let avail = self.q.fill_iovecs(&mut iov, 16);
        let n = avail.min(max);
        let mut left = n;
        for slice in &iov {
            let take = left.min(slice.len());
            self.out.extend_from_slice(&slice[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        drop(iov);
        self.q.advance(n, Some(log));
        n
    }

    /// A fast socket, as the core drives it: prepare, send everything, until `prepare`
    /// commits nothing (then the core parks the player, without an `advance`). Returns the
    /// verdicts summed.
    fn drain(&mut self, log: &FrameLog) -> Verdict {
        let mut total = 0;
        loop {
            let Verdict::Keep { dropped } = self.prepare(log) else {
                return Verdict::Kick;
            };
            total += dropped;
            if self.q.committed_bytes() == 0 {
                return Verdict::Keep { dropped: total };
            }
            while self.q.committed_bytes() > 0 {
                self.send(log, usize::MAX);
            }
        }
    }

    /// Parses the written bytes back into entry ids, checking every byte; an entry may be cut
    /// short only at the end (returned as `true`).
    fn entries(&self, stream: &Stream) -> (Vec<u64>, bool) {
        let (mut ids, mut pos) = (Vec::new(), 0);
        while pos < self.out.len() {
            assert!(self.out.len() - pos >= 8, "a cut id at {pos}");
            let id = id_of(&self.out[pos..]);
            let expected = match self.controls.get(&id) {
                Some(bytes) => bytes,
                None => {
                    assert!((id as usize) < stream.frames.len(), "unknown entry {id}");
                    &stream.frame(id).wire
                }
            };
            let end = (pos + expected.len()).min(self.out.len());
            assert_eq!(&self.out[pos..end], &expected[..end - pos], "entry {id}");
            ids.push(id);
            if end < pos + expected.len() {
                return (ids, true);
            }
            pos = end;
        }
        (ids, false)
    }

    /// Written frames (controls left out), checked whole.
    fn frames(&self, stream: &Stream) -> Vec<u64> {
        let (ids, partial) = self.entries(stream);
        assert!(!partial, "a frame cut short");
        ids.into_iter().filter(|&id| id < CONTROL).collect()
    }

    /// The committed part, as handles (shared memory, not copies).
    fn committed(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.q.clone_chunks(&mut out, usize::MAX);
        out
    }
}

// ---- delivery ----

/// A player that keeps up, writing in random pieces (every split point, partial entries),
/// gets every frame exactly once in log order, control bytes exactly where they were queued.
#[test]
fn a_player_that_keeps_up_gets_every_frame_once_in_order() {
    let lim = limits(5_000, 16 << 20, 15_000);
    let mut s = Stream::new(log_for(lim, true));
    let mut p = Player::new(lim);
    let mut rng = fastrand::Rng::with_seed(7);
    s.push(K::Meta, 0, 40);
    s.push(K::VSeq, 0, 30);
    s.push(K::ASeq, 0, 12);
    p.control(20);
    p.q.follow(0, false);
    // Controls go after every frame committed when they were queued, i.e. the position.
    let mut expected_controls = vec![(0u64, CONTROL)];
    let start = u32::MAX - 3_000; // crosses the wrap after 3 s
    for i in 0..600u32 {
        let ts = start.wrapping_add(i * 20);
        if i % 2 == 0 {
            let kind = if i % 50 == 0 { K::Key } else { K::Inter };
            s.push(kind, ts, rng.usize(200..2_000));
        } else {
            s.push(K::Audio, ts, rng.usize(20..100));
        }
        match rng.u32(0..6) {
            0 => assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 }),
            1 | 2 => {
                assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 0 });
                p.send(&s.log, rng.usize(1..3_000));
            }
            3 => {
                let at = p.q.position().unwrap();
                let id = p.control(rng.usize(8..40));
                expected_controls.push((at, id));
            }
            _ => {}
        }
    }
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    let mut expected = Vec::new();
    let mut controls = expected_controls.iter().peekable();
    for seq in 0..s.log.end() {
        while let Some(&(_, id)) = controls.next_if(|(at, _)| *at <= seq) {
            expected.push(id);
        }
        expected.push(seq);
    }
    expected.extend(controls.map(|&(_, id)| id));
    assert_eq!(p.entries(&s), (expected, false));
    assert_eq!((p.q.dropped_frames(), p.dropped), (0, 0));
    assert!(!p.q.is_kicked());
    assert!(p.q.is_idle(Some(&s.log)));
    assert_eq!(p.q.queued_bytes(Some(&s.log)), 0);
}

/// Minutes of a realistic stream, drained every third video frame, across the wrap: never a
/// skip, never a kick, although kick_after_ms is short.
#[test]
fn keeping_up_for_minutes_across_the_wrap_is_never_touched() {
    let lim = limits(1_000, 64 << 10, 2_000);
    for start in [0u32, u32::MAX - 60_000] {
        let mut s = Stream::new(log_for(lim, true));
        let mut p = Player::new(lim);
        s.push(K::VSeq, 0, 30);
        s.push(K::ASeq, 0, 10);
        p.q.follow(0, false);
        let mut audio_ts = start;
        for i in 0..3 * 60 * 25u32 {
            let ts = start.wrapping_add(i * 40);
            s.push(if i % 50 == 0 { K::Key } else { K::Inter }, ts, 900);
            while ts.wrapping_sub(audio_ts) as i32 >= 0 {
                s.push(K::Audio, audio_ts, 40);
                audio_ts = audio_ts.wrapping_add(21);
            }
            if i % 3 == 2 {
                assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 }, "at {ts}");
                assert!(p.q.is_idle(Some(&s.log)));
            }
        }
        assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
        assert_eq!(p.frames(&s), (0..s.log.end()).collect::<Vec<_>>());
        assert_eq!(p.q.dropped_frames(), 0);
        assert!(!p.q.is_kicked());
    }
}

// ---- the slow-player policy ----

/// A stalled player whose backlog passes max_span_ms (or max_bytes) skips to the first
/// keyframe that brings it within both; metadata and sequence headers in the skipped range
/// still arrive, after what was already committed; the skipped video frames are counted.
///
/// The log's window is wider than the player's here, so the skipped range is still in the log
/// and only the queue's rule is at work (see the next test for a position the log evicted).
#[test]
fn a_stalled_player_skips_to_a_keyframe_within_the_bounds_keeping_headers() {
    // (player limits, index of the keyframe it must resume at)
    let cases = [
        // 37 * 40 = 1480 ms newest: keyframe 10 spans 1080 ms, keyframe 20 spans 680.
        (limits(1_000, 1 << 20, 60_000), 20),
        // By bytes: 28 / 18 frames of 100 bytes after keyframes 10 / 20; 8 after 30.
        (limits(60_000, 1_000, 60_000), 30),
    ];
    for (lim, resume_index) in cases {
        let mut s = Stream::new(log_for(limits(60_000, 1 << 30, 60_000), false));
        let mut p = Player::new(lim);
        p.q.follow(0, false);
        let mut video = Vec::new();
        let mut headers = Vec::new();
        for i in 0..38u32 {
            if i == 5 {
                headers.push(s.push(K::Meta, 0, 30));
                headers.push(s.push(K::VSeq, 0, 20));
            }
            if i == 15 {
                headers.push(s.push(K::ASeq, 0, 10));
            }
            video.push(s.push(if i % 10 == 0 { K::Key } else { K::Inter }, i * 40, 100));
            if i == 0 {
                assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
            }
        }
        // Then it stops writing; a control message is committed meanwhile.
        let control = p.control(16);
        let before = p.committed();
        let skipped = resume_index as u64 - 1; // video frames 1 ..= resume_index - 1
        assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: skipped });
        assert_eq!(p.q.dropped_frames(), skipped);
        assert!(!p.q.is_waiting_keyframe());
        let target = video[resume_index];
        assert!(s.log.span_from(target) <= lim.max_span_ms);
        assert!(s.log.bytes_from(target) <= lim.max_bytes as u64);
        // The committed part is intact, the headers follow it, then the keyframe.
        let after = p.committed();
        assert_eq!(after[..before.len()], before[..]);
        let header_wires: Vec<Bytes> = headers.iter().map(|&h| s.frame(h).wire.clone()).collect();
        assert_eq!(after[before.len()..before.len() + 3], header_wires[..]);
        assert_eq!(after[before.len() + 3], s.frame(target).wire);
        assert!(s.frame(target).is_video_keyframe());
        assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
        let (ids, partial) = p.entries(&s);
        assert!(!partial);
        let mut expected = vec![video[0], control];
        expected.extend(&headers);
        expected.extend(&video[resume_index..]);
        assert_eq!(ids, expected);
    }
}

/// With the production window (the log's is the player's), a stalled player's position is
/// evicted from the log: it resumes at the first keyframe the log still has within bounds,
/// and the evicted frames count as dropped.
#[test]
fn a_position_behind_the_log_resumes_at_a_keyframe() {
    for gop_cache in [false, true] {
        let lim = limits(1_000, 1 << 20, 60_000);
        let mut s = Stream::new(log_for(lim, gop_cache));
        let mut p = Player::new(lim);
        p.q.follow(0, false);
        let video = s.video(0, 0, 1, 10, 50);
        assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
        let video: Vec<u64> = video.into_iter().chain(s.video(0, 1, 99, 10, 50)).collect();
        // Newest at 3960 ms: the log starts within the last second (keyframe 90 is its GOP).
        assert!(s.log.base() > 1, "position 1 was evicted");
        assert_eq!(s.log.gop_start().is_some(), gop_cache);
        // Keyframe 80 (760 ms before the newest) is the first within the window.
        assert_eq!(p.check(&s.log), Verdict::Keep { dropped: 79 });
        assert_eq!(p.q.position(), Some(video[80]));
        assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
        let got = p.frames(&s);
        assert_eq!(got[0], video[0]);
        assert_eq!(got[1..], video[80..]);
        assert!(s.frame(got[1]).is_video_keyframe());
        assert_eq!(p.q.dropped_frames(), 79);
    }
}

/// Without a keyframe within the bounds, the player skips to the log's end and waits.
#[test]
fn no_keyframe_within_the_bounds_waits_for_the_next_one() {
    let lim = limits(1_000, 1 << 20, 60_000);
    let mut s = Stream::new(log_for(lim, true));
    let mut p = Player::new(lim);
    p.q.follow(0, false);
    s.video(0, 0, 1, 1_000, 50);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    // One long GOP: the log keeps it all (GOP cache), but only its keyframe is a resume point.
    s.video(0, 1, 39, 1_000, 50);
    assert_eq!(s.log.base(), 0);
    s.push(K::VSeq, 0, 20);
    assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 39 });
    assert!(p.q.is_waiting_keyframe());
    assert_eq!(p.q.position(), Some(s.log.end()));
    s.push(K::Inter, 1_600, 50);
    s.push(K::Audio, 1_610, 50);
    let key = s.push(K::Key, 1_640, 50);
    let audio = s.push(K::Audio, 1_650, 50);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 2 });
    assert!(!p.q.is_waiting_keyframe());
    assert_eq!(p.frames(&s), vec![0, 40, key, audio]);
    assert_eq!((p.q.dropped_frames(), p.dropped), (41, 41));
}

/// After `follow(pos, true)`, inter frames and audio are skipped until a keyframe; metadata
/// and sequence headers on the way are sent.
#[test]
fn waiting_for_a_keyframe_skips_inter_frames_and_audio() {
    let lim = limits(5_000, 1 << 20, 15_000);
    let mut s = Stream::new(log_for(lim, false));
    let mut p = Player::new(lim);
    s.push(K::Key, 0, 10);
    s.push(K::Inter, 40, 10);
    p.q.follow(s.log.end(), true);
    s.push(K::Inter, 80, 10);
    s.push(K::Audio, 90, 10);
    let meta = s.push(K::Meta, 0, 10);
    let aseq = s.push(K::ASeq, 0, 10);
    s.push(K::Audio, 100, 10);
    s.push(K::Inter, 120, 10);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 4 });
    assert!(p.q.is_waiting_keyframe());
    assert_eq!(p.frames(&s), vec![meta, aseq]);
    let key = s.push(K::Key, 160, 10);
    let audio = s.push(K::Audio, 170, 10);
    let inter = s.push(K::Inter, 200, 10);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    assert!(!p.q.is_waiting_keyframe());
    assert_eq!(p.frames(&s), vec![meta, aseq, key, audio, inter]);
    assert_eq!((p.q.dropped_frames(), p.dropped), (4, 4));
}

/// An audio-only stream resumes at audio frames, both after a wait and after a skip.
#[test]
fn audio_only_streams_resume_at_audio_frames() {
    let lim = limits(1_000, 1 << 20, 60_000);
    let mut s = Stream::new(log_for(lim, true));
    let mut p = Player::new(lim);
    let aseq = s.push(K::ASeq, 0, 10);
    s.push(K::Audio, 0, 10);
    p.q.follow(s.log.end(), true);
    let first = s.push(K::Audio, 23, 10);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    assert!(!p.q.is_waiting_keyframe());
    assert_eq!(p.frames(&s), vec![first]);
    // Stalled for 2 s of audio: it resumes at the first audio frame within the second.
    let audio: Vec<u64> = (2..=90).map(|i| s.push(K::Audio, i * 23, 10)).collect();
    assert_eq!(s.log.gop_start(), None);
    let verdict = p.prepare(&s.log);
    let Verdict::Keep { dropped } = verdict else {
        panic!("{verdict:?}")
    };
    assert!(dropped > 0);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    let got = p.frames(&s);
    let resumed = got[1];
    assert_eq!(resumed, audio[dropped as usize]);
    // The first audio frame within the second before the newest (at 90 * 23 ms).
    assert!(s.log.span_from(resumed) <= 1_000);
    assert!(90 * 23 - s.frame(resumed - 1).timestamp > 1_000);
    assert_eq!(got[1..], audio[dropped as usize..]);
    assert!(!got.contains(&aseq)); // sent before it joined (by the header cache in the core)
}

/// Waiting for a keyframe is not lagging: the player has nothing to send and is caught up,
/// however long the GOP. (`prepare` used to leave the lag reference set when it committed
/// nothing, and the core parks such a player without an `advance`: kicked after
/// kick_after_ms of a long GOP.)
#[test]
fn a_long_wait_for_a_keyframe_is_not_a_lag() {
    let lim = limits(5_000, 16 << 20, 5_000);
    let mut s = Stream::new(log_for(lim, false));
    let mut p = Player::new(lim);
    s.push(K::Key, 0, 10);
    p.q.follow(s.log.end(), true);
    // A 12 s GOP.
    for i in 1..300u32 {
        s.push(K::Inter, i * 40, 10);
        s.push(K::Audio, i * 40 + 20, 10);
        assert!(
            matches!(p.drain(&s.log), Verdict::Keep { .. }),
            "at {} ms",
            i * 40
        );
        assert!(matches!(p.check(&s.log), Verdict::Keep { .. }));
    }
    let key = s.push(K::Key, 12_000, 10);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    assert_eq!(p.frames(&s), vec![key]);
    assert_eq!((p.q.dropped_frames(), p.dropped), (598, 598));
    assert!(!p.q.is_kicked());
}

/// A player that turned video off and waits for a keyframe resumes at the keyframe's place
/// (audio from there on), although it does not want the keyframe itself. (The wait used to
/// end only on a wanted resume point: such a player never got audio again.)
#[test]
fn a_player_with_video_off_stops_waiting_at_a_keyframe() {
    let lim = limits(5_000, 1 << 20, 15_000);
    let mut s = Stream::new(log_for(lim, false));
    let mut p = Player::new(lim);
    p.q.set_wanted(MediaKind::Video, false);
    s.push(K::Key, 0, 10);
    p.q.follow(s.log.end(), true);
    s.push(K::Audio, 10, 10);
    s.push(K::Inter, 40, 10);
    s.push(K::Key, 80, 10);
    let a1 = s.push(K::Audio, 90, 10);
    s.push(K::Inter, 120, 10);
    let a2 = s.push(K::Audio, 130, 10);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 1 });
    assert!(!p.q.is_waiting_keyframe());
    assert_eq!(p.frames(&s), vec![a1, a2]);
}

/// A player none of whose frames are wanted (video off, video-only stream) is caught up, not
/// lagging: never kicked, and metadata still arrives.
#[test]
fn a_player_that_wants_none_of_the_frames_is_not_kicked() {
    let lim = limits(5_000, 16 << 20, 5_000);
    let mut s = Stream::new(log_for(lim, true));
    let mut p = Player::new(lim);
    p.q.set_wanted(MediaKind::Video, false);
    p.q.follow(0, false);
    let mut metas = Vec::new();
    for i in 0..500u32 {
        s.push(if i % 50 == 0 { K::Key } else { K::Inter }, i * 40, 10);
        if i % 250 == 249 {
            metas.push(s.push(K::Meta, 0, 10));
        }
        assert!(
            matches!(p.drain(&s.log), Verdict::Keep { .. }),
            "at {} ms",
            i * 40
        );
    }
    assert!(!p.q.is_kicked());
    assert_eq!(p.frames(&s), metas);
    assert_eq!(p.q.dropped_frames(), 0);
}

/// Metadata and sequence headers a publisher sends before its first audio or video frame,
/// with timestamps far from it (here 0, then media from 3,000,000 ms), are the start of the
/// stream for a player waiting for it: they must not count as a huge span (the log evicted
/// them at the first keyframe, so the player never got the sequence headers), nor as a huge
/// lag (kick).
#[test]
fn headers_before_a_sessions_first_frame_are_not_out_of_its_timeline() {
    let lim = limits(5_000, 16 << 20, 15_000);
    for prepare_between in [false, true] {
        let mut s = Stream::new(log_for(lim, true));
        let mut p = Player::new(lim);
        p.q.follow(s.log.end(), true);
        let mut expected = vec![s.push(K::Meta, 0, 30), s.push(K::VSeq, 0, 20)];
        if prepare_between {
            // Committed, but not written yet when the media arrives.
            assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 0 });
        }
        expected.push(s.push(K::ASeq, 0, 10));
        expected.push(s.push(K::Key, 3_000_000, 100));
        expected.push(s.push(K::Audio, 3_000_010, 10));
        assert_eq!(s.log.base(), 0, "headers evicted");
        assert_eq!(s.log.span_from(0), 10);
        assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
        assert_eq!(p.frames(&s), expected);
        assert_eq!(p.q.dropped_frames(), 0);
    }
}

/// A player that does not catch up is kicked once kick_after_ms of media time passed since
/// the first frame it had not sent, across the 2^32 ms wrap; partial writes do not count as
/// catching up; the kick is sticky.
#[test]
fn kicked_after_kick_after_ms_without_catching_up() {
    let lim = limits(u32::MAX / 4, usize::MAX / 4, 5_000);
    for start in [0u32, u32::MAX - 2_000] {
        let mut s = Stream::new(log_for(lim, false));
        let mut p = Player::new(lim);
        p.q.follow(0, false);
        for i in 0..=126u32 {
            s.push(K::Inter, start.wrapping_add(i * 40), 10);
            let verdict = p.prepare(&s.log);
            if i < 126 {
                // The lag is 40 * i ms: 5000 at i = 125 is not more than kick_after_ms.
                assert_eq!(verdict, Verdict::Keep { dropped: 0 }, "i = {i}");
            } else {
                assert_eq!(verdict, Verdict::Kick);
            }
            p.send(&s.log, 3);
        }
        // Sticky, whatever happens next.
        while p.q.committed_bytes() > 0 {
            p.send(&s.log, usize::MAX);
        }
        assert_eq!(p.prepare(&s.log), Verdict::Kick);
        assert_eq!(p.check(&s.log), Verdict::Kick);
        p.q.follow(s.log.end(), false);
        assert_eq!(p.prepare(&s.log), Verdict::Kick);
        assert!(p.q.is_kicked());
    }
}

/// The periodic sweep's `check_lag` alone kicks a player the socket keeps from writing; the
/// skips of the window do not reset the lag, catching up does.
#[test]
fn check_lag_kicks_without_prepare_and_catching_up_resets_the_lag() {
    let lim = limits(1_000, 1 << 20, 5_000);
    let mut s = Stream::new(log_for(lim, false));
    let mut p = Player::new(lim);
    p.q.follow(0, false);
    // Caught up at 4 s...
    for i in 0..100u32 {
        s.push(if i % 25 == 0 { K::Key } else { K::Inter }, i * 40, 10);
        assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    }
    assert!(p.q.is_idle(Some(&s.log)));
    // ...then never again: the lag counts from the first frame it missed (4000 ms).
    let mut kicked_at = None;
    for i in 100..300u32 {
        s.push(if i % 25 == 0 { K::Key } else { K::Inter }, i * 40, 10);
        if p.check(&s.log) == Verdict::Kick {
            kicked_at = Some(i * 40);
            break;
        }
    }
    assert_eq!(kicked_at, Some(9_040));
    assert!(p.q.dropped_frames() > 100, "the window skipped meanwhile");
    // What the kicking call skipped is counted by the queue; a `Kick` carries no count.
    assert!(p.dropped <= p.q.dropped_frames());
    assert_eq!(p.prepare(&s.log), Verdict::Kick);
}

/// Committed bytes past twice max_bytes (control output the peer does not read) kick.
#[test]
fn committed_bytes_past_twice_max_bytes_kick() {
    let lim = limits(1_000, 100, 60_000);
    let s = Stream::new(log_for(lim, false));
    let mut p = Player::new(lim);
    p.control(150);
    assert_eq!(p.check(&s.log), Verdict::Keep { dropped: 0 });
    p.control(60);
    assert_eq!(p.check(&s.log), Verdict::Kick);
}

/// Whatever the policy does, the committed part handed to a send (slices or handles) stays
/// as it was: same bytes, same memory, same order; `advance` then goes on from it.
#[test]
fn committed_bytes_are_never_changed_by_the_policy() {
    for sweep in [false, true] {
        // The log keeps more than the player's window, so the skipped header is still there.
        let lim = limits(1_000, 4_000, 60_000);
        let mut s = Stream::new(log_for(limits(60_000, 1 << 30, 60_000), false));
        let mut p = Player::new(lim);
        p.q.follow(0, false);
        s.push(K::Meta, 0, 30);
        s.video(0, 0, 20, 10, 100);
        assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 0 });
        p.control(20);
        p.send(&s.log, 150); // the front entry is partly written
        let handed = p.committed();
        let mut iov = Vec::new();
        let total = p.q.fill_iovecs(&mut iov, usize::MAX);
        let slices: Vec<(usize, usize)> =
            iov.iter().map(|s| (s.as_ptr() as usize, s.len())).collect();
        let copy: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
        drop(iov);
        assert_eq!(total, p.q.committed_bytes());
        // Far past both bounds, with headers to keep on the way.
        s.push(K::VSeq, 0, 20);
        s.video(0, 20, 100, 10, 100);
        let verdict = if sweep {
            p.check(&s.log)
        } else {
            p.prepare(&s.log)
        };
        assert!(matches!(verdict, Verdict::Keep { dropped } if dropped > 0));
        let now = p.committed();
        assert!(now.len() > handed.len());
        for (a, b) in handed.iter().zip(&now) {
            assert_eq!((a.as_ptr(), &a[..]), (b.as_ptr(), &b[..]));
        }
        let mut iov = Vec::new();
        p.q.fill_iovecs(&mut iov, slices.len());
        let again: Vec<(usize, usize)> =
            iov.iter().map(|s| (s.as_ptr() as usize, s.len())).collect();
        assert_eq!(again, slices);
        drop(iov);
        // The send of the handed bytes completes (in two parts).
        let mark = p.out.len();
        p.send(&s.log, total / 3);
        p.send(&s.log, total - total / 3);
        assert_eq!(p.out[mark..], copy[..]);
        assert!(matches!(p.drain(&s.log), Verdict::Keep { .. }));
        let (ids, partial) = p.entries(&s);
        assert!(!partial);
        // Everything committed first, then the kept header, then keyframe 100 (760 ms).
        let header_at = ids
            .iter()
            .position(|&id| id == 21)
            .expect("the VSeq header");
        assert_eq!(
            ids[..header_at],
            (0..=20).chain([CONTROL]).collect::<Vec<_>>()[..]
        );
        assert_eq!(ids[header_at + 1], 102);
        assert!(s.frame(102).is_video_keyframe());
        assert_eq!(p.q.dropped_frames(), 80);
    }
}

/// receiveAudio / receiveVideo filter the log's frames when they are taken out (`prepare`),
/// not what was committed before; headers pushed for a kind turned off are not queued.
#[test]
fn set_wanted_filters_frames_at_prepare() {
    let lim = limits(5_000, 1 << 20, 15_000);
    let mut s = Stream::new(log_for(lim, true));
    let mut p = Player::new(lim);
    p.q.follow(0, false);
    let key = s.push(K::Key, 0, 10);
    let a0 = s.push(K::Audio, 10, 10);
    assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 0 });
    p.q.set_wanted(MediaKind::Audio, false);
    let a1 = s.push(K::Audio, 30, 10);
    let v1 = s.push(K::Inter, 40, 10);
    let meta = s.push(K::Meta, 0, 10);
    p.q.push_frame(&Frame::new(MediaKind::Audio, 0, false, true, wire(a1, 10)));
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    assert_eq!(p.frames(&s), vec![key, a0, v1, meta]);
    p.q.set_wanted(MediaKind::Audio, true);
    p.q.set_wanted(MediaKind::Video, false);
    let a2 = s.push(K::Audio, 50, 10);
    s.push(K::Inter, 80, 10);
    s.push(K::VSeq, 0, 10);
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    assert_eq!(p.frames(&s), vec![key, a0, v1, meta, a2]);
    assert_eq!(p.q.dropped_frames(), 0);
}

/// Per-player memory does not follow the log: with 10,000 frames in it and a player that
/// never writes, the committed part holds at most one send's worth of entries.
#[test]
fn a_lagging_player_holds_one_send_of_entries_whatever_the_log() {
    let lim = limits(600_000, 1 << 30, u32::MAX / 4);
    let mut s = Stream::new(log_for(lim, false));
    let mut p = Player::new(lim);
    p.q.follow(0, false);
    s.push(K::Meta, 0, 30);
    s.push(K::VSeq, 0, 30);
    for i in 0..10_000u32 {
        s.push(if i % 50 == 0 { K::Key } else { K::Inter }, i * 40, 100);
        if i % 7 == 0 {
            assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 0 });
            assert!(p.q.committed_len() <= MAX_PREPARED_ENTRIES);
        }
    }
    assert_eq!(s.log.len(), 10_002);
    assert_eq!(p.prepare(&s.log), Verdict::Keep { dropped: 0 });
    assert_eq!(p.q.committed_len(), MAX_PREPARED_ENTRIES);
    assert_eq!(p.q.committed_bytes(), 60 + 62 * 100);
    assert_eq!(p.q.queued_bytes(Some(&s.log)), s.log.bytes());
    // Its bytes all arrive, in order, as it writes.
    assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 });
    assert_eq!(p.frames(&s), (0..s.log.end()).collect::<Vec<_>>());
}

// ---- randomized model check ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A fast socket: drains everything, often.
    All,
    /// A slow socket: writes up to this many bytes per frame.
    Part(usize),
    /// A blocked socket: only the sweep's `check_lag` runs.
    Stall,
}

/// Checks what the policy guarantees right after it ran.
fn check_bounds(p: &Player, s: &Stream, lim: QueueLimits, max_frame: usize, seed: u64) {
    if p.q.is_kicked() {
        return;
    }
    let log = &s.log;
    if let Some(pos) = p.q.position() {
        assert!(
            pos >= log.base() || pos == log.end(),
            "seed {seed}: position evicted"
        );
        if pos < log.end() {
            assert!(log.span_from(pos) <= lim.max_span_ms, "seed {seed}: span");
            assert!(
                log.bytes_from(pos) <= lim.max_bytes as u64,
                "seed {seed}: bytes"
            );
        }
    }
    // What the committed part holds: frames taken out by `prepare`, and the rest (controls,
    // metadata and headers, which the policy never drops).
    let (mut media, mut other, mut other_entries) = (0, 0, 0);
    for (index, entry) in p.q.committed.iter().enumerate() {
        let unwritten = entry.bytes.len() - if index == 0 { p.q.offset } else { 0 };
        let id = id_of(&entry.bytes);
        match s.frames.get(id as usize) {
            Some(frame) if id < CONTROL && frame.is_droppable() => media += unwritten,
            _ => {
                other += unwritten;
                other_entries += 1;
            }
        }
    }
    assert!(
        media <= MAX_PREPARED_BYTES + max_frame,
        "seed {seed}: prepared {media}"
    );
    assert!(
        p.q.committed_len() <= MAX_PREPARED_ENTRIES + other_entries,
        "seed {seed}: {} entries",
        p.q.committed_len()
    );
    let bound = lim.max_bytes + MAX_PREPARED_BYTES + max_frame + other;
    let queued = p.q.queued_bytes(Some(log));
    assert!(
        queued <= bound as u64,
        "seed {seed}: queued {queued} > {bound}"
    );
    assert_eq!(p.dropped, p.q.dropped_frames(), "seed {seed}: verdicts");
}

/// One random stream (25 fps video with a keyframe every N frames, ~45 fps audio, occasional
/// metadata and sequence headers at timestamp 0, media timestamps crossing 2^32, now and then
/// a publisher restart) and one random player (fast, slow or blocked, in phases). Checked:
/// - the bytes written are whole entries, byte for byte; frames in log order, none twice;
///   every control entry, in order;
/// - after any skip (or a wait for a keyframe), the first audio/video frame written is a
///   resume point;
/// - right after the policy ran: the position is within both bounds of the log, the frames
///   taken out are at most one prepare budget, so queued bytes stay under max_bytes + one
///   prepare budget + the headers and controls committed (unless kicked);
/// - every verdict's `dropped` sums to `dropped_frames`, which lies between the skipped
///   audio/video frames and all frames not written;
/// - a player that always writes everything gets every frame: never a skip, never a kick.
fn run_seed(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let keeps_up = seed % 4 == 0;
    let (audio, video) = match seed % 7 {
        3 => (true, false),
        5 => (false, true),
        _ => (true, true),
    };
    let big = seed % 8 == 1;
    let (key_len, inter_len) = if big {
        (100_000..300_000, 5_000..40_000)
    } else {
        (2_000..40_000, 200..6_000)
    };
    let max_frame = key_len.end;
    // max_bytes holds a few keyframes: a player that keeps up is never over it.
    let lim = limits(
        rng.u32(500..=3_000),
        rng.usize(256 << 10..=3 << 20).max(4 * max_frame),
        rng.u32(3_000..=20_000),
    );
    // Mostly the production window; sometimes the log keeps more than the player may lag.
    let wide = if rng.u32(0..3) == 0 {
        rng.u32(2..=4)
    } else {
        1
    };
    let mut s = Stream::new(FrameLog::new(LogLimits {
        queue: limits(
            lim.max_span_ms * wide,
            lim.max_bytes * wide as usize,
            lim.kick_after_ms,
        ),
        gop_cache: rng.bool(),
        max_gop_bytes: lim.max_bytes,
    }));
    let mut p = Player::new(lim);
    let gop = rng.u32(10..=100);
    let frames_total = rng.usize(1_000..2_500);
    let join_at = if keeps_up { 0 } else { rng.usize(0..200) };
    let origin = u32::MAX - rng.u32(0..40_000);
    let (mut video_t, mut audio_t, mut video_n) = (0u32, rng.u32(0..40), 0u32);
    // (start position, waiting for a keyframe, position when the next segment began)
    let mut segments: Vec<(u64, bool, u64)> = Vec::new();
    let mut mode = Mode::All;
    let mut mode_left = 0usize;
    let mut since_drain = 0;
    let headers = |s: &mut Stream, rng: &mut fastrand::Rng| {
        s.push(K::Meta, 0, rng.usize(20..200));
        if video {
            s.push(K::VSeq, 0, rng.usize(20..100));
        }
        if audio {
            s.push(K::ASeq, 0, rng.usize(8..20));
        }
    };
    headers(&mut s, &mut rng);
    for n in 0..frames_total {
        // The next frame: whichever of video and audio is due, now and then a header.
        let header_roll = rng.u32(0..400);
        if header_roll == 0 {
            headers(&mut s, &mut rng);
        } else if header_roll == 1 && !keeps_up && n > join_at {
            // The publisher restarts: players wait for the new one's keyframe.
            s.clear();
            if let Some(last) = segments.last_mut() {
                last.2 = p.q.position().unwrap();
            }
            segments.push((s.log.end(), true, u64::MAX));
            p.q.follow(s.log.end(), true);
            headers(&mut s, &mut rng);
        }
        if video && (!audio || video_t <= audio_t) {
            let kind = if video_n % gop == 0 { K::Key } else { K::Inter };
            let len = if kind == K::Key {
                rng.usize(key_len.clone())
            } else {
                rng.usize(inter_len.clone())
            };
            s.push(kind, origin.wrapping_add(video_t), len);
            video_n += 1;
            video_t += 40;
        } else {
            s.push(K::Audio, origin.wrapping_add(audio_t), rng.usize(50..300));
            audio_t += rng.u32(21..=23);
        }
        if n == join_at {
            // As the core does: at the GOP cache's keyframe, else wait for the next one.
            let (at, wait) = match s.log.gop_start() {
                _ if keeps_up => (0, false),
                Some(start) => (start, false),
                None => (s.log.end(), true),
            };
            p.q.follow(at, wait);
            segments.push((at, wait, u64::MAX));
        }
        if n < join_at {
            continue;
        }
        if rng.u32(0..200) == 0 {
            p.control(rng.usize(8..64));
        }
        if keeps_up {
            since_drain += 1;
            if since_drain == 3 || rng.bool() {
                since_drain = 0;
                assert_eq!(p.drain(&s.log), Verdict::Keep { dropped: 0 }, "seed {seed}");
            }
            continue;
        }
        if mode_left == 0 {
            mode = match rng.u32(0..3) {
                0 => Mode::All,
                1 => Mode::Part(rng.usize(500..60_000)),
                _ => Mode::Stall,
            };
            mode_left = rng.usize(10..200);
        }
        mode_left -= 1;
        let verdict = match mode {
            Mode::All if rng.bool() => {
                if rng.bool() {
                    let _ = p.check(&s.log);
                    check_bounds(&p, &s, lim, max_frame, seed);
                }
                p.drain(&s.log)
            }
            Mode::All => continue,
            Mode::Part(cap) => {
                if rng.u32(0..4) == 0 {
                    let _ = p.check(&s.log);
                    check_bounds(&p, &s, lim, max_frame, seed);
                }
                let verdict = p.prepare(&s.log);
                check_bounds(&p, &s, lim, max_frame, seed);
                if verdict != Verdict::Kick {
                    p.send(&s.log, rng.usize(0..=cap));
                }
                verdict
            }
            Mode::Stall if rng.u32(0..25) == 0 => p.check(&s.log),
            Mode::Stall => continue,
        };
        check_bounds(&p, &s, lim, max_frame, seed);
        if verdict == Verdict::Kick {
            assert!(p.q.is_kicked());
            assert_eq!(p.prepare(&s.log), Verdict::Kick, "seed {seed}: sticky");
            assert_eq!(p.check(&s.log), Verdict::Kick, "seed {seed}: sticky");
            break;
        }
    }
    if !p.q.is_kicked() {
        assert!(
            matches!(p.drain(&s.log), Verdict::Keep { .. }),
            "seed {seed}"
        );
        assert!(p.q.is_idle(Some(&s.log)));
    }
    // A kicked player's committed bytes are accounted as written (they were not dropped).
    while p.q.committed_bytes() > 0 {
        p.send(&s.log, usize::MAX);
    }
    if let Some(last) = segments.last_mut() {
        last.2 = p.q.position().unwrap();
    }

    let (ids, partial) = p.entries(&s);
    assert!(!partial, "seed {seed}");
    let controls: Vec<u64> = ids.iter().copied().filter(|&id| id >= CONTROL).collect();
    assert_eq!(controls, p.control_order, "seed {seed}: controls");
    let frames: Vec<u64> = ids.into_iter().filter(|&id| id < CONTROL).collect();
    assert!(frames.windows(2).all(|w| w[0] < w[1]), "seed {seed}: order");
    // droppable[i]: audio/video frames before sequence number i.
    let mut droppable = vec![0u64];
    for f in &s.frames {
        droppable.push(droppable.last().unwrap() + u64::from(f.is_droppable()));
    }
    let av_between = |from: u64, to: u64| droppable[to as usize] - droppable[from as usize];
    let (mut skipped_av, mut not_written) = (0, 0);
    for &(start, wait, end) in &segments {
        let written: Vec<u64> = frames
            .iter()
            .copied()
            .filter(|&f| f >= start && f < end)
            .collect();
        let mut prev: Option<u64> = None;
        for &f in &written {
            if !s.frame(f).is_droppable() {
                continue;
            }
            let from = prev.map_or(start, |a| a + 1);
            if av_between(from, f) > 0 || (prev.is_none() && wait) {
                assert!(s.resume[f as usize], "seed {seed}: resumed at {f}");
            }
            prev = Some(f);
        }
        let written_av = written
            .iter()
            .filter(|&&f| s.frame(f).is_droppable())
            .count() as u64;
        skipped_av += av_between(start, end) - written_av;
        not_written += end - start - written.len() as u64;
    }
    let dropped = p.q.dropped_frames();
    assert!(
        skipped_av <= dropped && dropped <= not_written,
        "seed {seed}: {skipped_av} <= {dropped} <= {not_written}"
    );
    if !p.q.is_kicked() {
        assert_eq!(p.dropped, dropped, "seed {seed}: verdicts");
    }
    if keeps_up {
        assert!(!p.q.is_kicked(), "seed {seed}");
        assert_eq!(dropped, 0, "seed {seed}");
        assert_eq!(frames, (0..s.log.end()).collect::<Vec<_>>(), "seed {seed}");
    }
}

#[test]
fn random_streams_and_players_keep_the_invariants() {
    for seed in 0..200 {
        run_seed(seed);
    }
}

#[test]
fn completed_frames_report_their_arrival_once_and_control_bytes_none() {
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let mut q = SendQueue::new(limits(5000, 1 << 20, 15_000));
    q.push_control(wire(CONTROL, 10));
    let mut frame = Frame::new(MediaKind::Video, 0, true, true, wire(1, 100));
    frame.arrival = Some(t0 + Duration::from_millis(7));
    q.push_frame(&frame);
    let mut seen = Vec::new();
    // Control bytes and part of the frame: nothing completes.
    q.advance_with(60, None, |a| seen.push(a));
    assert!(seen.is_empty());
    // The rest of the frame: its arrival, once.
    q.advance_with(50, None, |a| seen.push(a));
    assert_eq!(seen, vec![t0 + Duration::from_millis(7)]);
    assert_eq!(q.committed_bytes(), 0);
}
