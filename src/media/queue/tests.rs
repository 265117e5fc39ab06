//! Tests of `PlayerQueue`: ordering, partial writes, the slow-player policy, kicks across the
//! 2^32 ms wrap, and a randomized accounting check.

use std::collections::HashMap;

use super::*;

/// Every entry starts with its 8-byte id, so the written stream can be parsed back.
fn payload(id: u64, len: usize) -> Bytes {
    let mut v = id.to_be_bytes().to_vec();
    v.resize(len.max(8), id as u8);
    Bytes::from(v)
}

/// Fixed-size entries for the simple tests.
const N: usize = 10;

fn media(id: u64, kind: MediaKind, ts: u32, key: bool, seq: bool) -> Frame {
    Frame::new(kind, ts, key, seq, payload(id, N))
}
fn key(id: u64, ts: u32) -> Frame {
    media(id, MediaKind::Video, ts, true, false)
}
fn inter(id: u64, ts: u32) -> Frame {
    media(id, MediaKind::Video, ts, false, false)
}
fn audio(id: u64, ts: u32) -> Frame {
    media(id, MediaKind::Audio, ts, false, false)
}
fn meta(id: u64, ts: u32) -> Frame {
    media(id, MediaKind::Data, ts, false, false)
}
fn vseq(id: u64) -> Frame {
    media(id, MediaKind::Video, 0, true, true)
}
fn aseq(id: u64) -> Frame {
    media(id, MediaKind::Audio, 0, false, true)
}

fn limits(max_span_ms: u32, max_bytes: usize, kick_after_ms: u32) -> QueueLimits {
    QueueLimits {
        max_span_ms,
        max_bytes,
        kick_after_ms,
    }
}

fn flatten(q: &PlayerQueue, max: usize) -> Vec<u8> {
    let mut iov = Vec::new();
    let n = q.fill_iovecs(&mut iov, max);
    let out: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
    assert_eq!(out.len(), n);
    out
}

/// Write everything, a few slices per writev, as a driver would.
fn drain(q: &mut PlayerQueue) -> Vec<u8> {
    let mut out = Vec::new();
    while !q.is_empty() {
        let chunk = flatten(q, 3);
        out.extend_from_slice(&chunk);
        q.advance(chunk.len());
        q.check_invariants();
    }
    out
}

/// Ids of fixed-size entries in a written stream.
fn sent_ids(q: &mut PlayerQueue) -> Vec<u64> {
    let out = drain(q);
    assert_eq!(out.len() % N, 0);
    out.chunks(N)
        .map(|c| u64::from_be_bytes(c[..8].try_into().unwrap()))
        .collect()
}

impl PlayerQueue {
    fn check_invariants(&self) {
        let total: usize = self.entries.iter().map(|e| e.bytes.len()).sum();
        assert_eq!(self.bytes, total - self.offset, "queued_bytes accounting");
        assert!(self.entries.iter().all(|e| !e.bytes.is_empty()));
        match self.entries.front() {
            Some(front) => assert!(self.offset < front.bytes.len()),
            None => assert_eq!(self.offset, 0),
        }
        assert_eq!(self.oldest_ts, self.first_trimmable_ts(), "oldest_ts cache");
    }
}

#[test]
fn order_preserved_with_control_interleaving() {
    let mut q = PlayerQueue::new(QueueLimits::default());
    q.push_control(payload(1, N));
    assert_eq!(q.push_frame(&meta(2, 0)), Push::Queued);
    assert_eq!(q.push_frame(&vseq(3)), Push::Queued);
    assert_eq!(q.push_frame(&aseq(4)), Push::Queued);
    assert_eq!(q.push_frame(&key(5, 0)), Push::Queued);
    q.push_control(payload(6, N));
    assert_eq!(q.push_frame(&audio(7, 10)), Push::Queued);
    assert_eq!(q.push_frame(&inter(8, 40)), Push::Queued);
    q.push_control(payload(9, N));
    q.push_control(Bytes::new());
    assert_eq!(q.queued_bytes(), 9 * N);
    q.check_invariants();
    assert_eq!(sent_ids(&mut q), (1..=9).collect::<Vec<_>>());
    assert_eq!(q.queued_bytes(), 0);
    assert_eq!(q.dropped_frames(), 0);
}

#[test]
fn partial_writes_at_every_offset() {
    let build = || {
        let mut q = PlayerQueue::new(QueueLimits::default());
        q.push_control(payload(1, 9));
        let _ = q.push_frame(&Frame::new(
            MediaKind::Video,
            0,
            true,
            false,
            payload(2, 13),
        ));
        q.push_control(payload(3, 8));
        let _ = q.push_frame(&Frame::new(
            MediaKind::Audio,
            5,
            false,
            false,
            payload(4, 20),
        ));
        q
    };
    let all = flatten(&build(), usize::MAX);
    assert_eq!(all.len(), 50);
    for split in 0..=all.len() {
        let mut q = build();
        q.advance(split);
        q.check_invariants();
        assert_eq!(q.queued_bytes(), all.len() - split);
        assert_eq!(flatten(&q, usize::MAX), all[split..]);
        assert_eq!(q.is_empty(), split == all.len());
    }
    for step in 1..=all.len() {
        let mut q = build();
        let mut out = Vec::new();
        while !q.is_empty() {
            let avail = flatten(&q, 2);
            let n = step.min(avail.len());
            out.extend_from_slice(&avail[..n]);
            q.advance(n);
            q.check_invariants();
        }
        assert_eq!(out, all, "write step {step}");
    }
}

#[test]
fn fill_iovecs_respects_max_and_appends() {
    let mut q = PlayerQueue::new(QueueLimits::default());
    for id in 1..=4 {
        q.push_control(payload(id, N));
    }
    q.advance(3);
    let keep = [0u8; 2];
    let mut iov = vec![IoSlice::new(&keep)];
    assert_eq!(q.fill_iovecs(&mut iov, 2), N - 3 + N);
    assert_eq!(iov.len(), 3);
    assert_eq!(&iov[1][..], &payload(1, N)[3..]);
    assert_eq!(&iov[2][..], &payload(2, N)[..]);
    iov.clear();
    assert_eq!(q.fill_iovecs(&mut iov, 0), 0);
    assert!(iov.is_empty());
    assert_eq!(q.fill_iovecs(&mut iov, 100), 4 * N - 3);
    assert_eq!(iov.len(), 4);
}

/// 25 fps video with a keyframe every `gop` frames, ids = frame index + `base`.
fn push_video(q: &mut PlayerQueue, base: u64, from: u32, frames: u32, gop: u32) -> Vec<Push> {
    (0..frames)
        .map(|i| {
            let ts = from.wrapping_add(i * 40);
            let f = if i % gop == 0 {
                key(base + u64::from(i), ts)
            } else {
                inter(base + u64::from(i), ts)
            };
            q.push_frame(&f)
        })
        .collect()
}

#[test]
fn trims_to_next_keyframe_when_over_span() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 60_000));
    // Keyframes at 0, 400, 800; the frame at 1040 is the first past 1000 ms of span.
    let pushes = push_video(&mut q, 0, 0, 26, 10);
    assert!(pushes.iter().all(|p| *p == Push::Queued));
    assert_eq!(q.span_ms(), 1000);
    assert_eq!(q.push_frame(&inter(26, 1040)), Push::Trimmed { frames: 10 });
    q.check_invariants();
    assert_eq!(q.span_ms(), 640);
    assert_eq!(q.dropped_frames(), 10);
    assert_eq!(q.dropped_bytes(), 10 * N as u64);
    assert!(!q.is_waiting_keyframe());
    assert_eq!(sent_ids(&mut q), (10..=26).collect::<Vec<_>>());
}

#[test]
fn trims_past_several_keyframes_when_still_over_bytes() {
    let mut q = PlayerQueue::new(limits(u32::MAX / 4, 130, 60_000));
    let pushes = push_video(&mut q, 0, 0, 12, 5); // 120 bytes, keyframes 0, 5, 10
    assert!(pushes.iter().all(|p| *p == Push::Queued));
    let big = Frame::new(MediaKind::Video, 480, false, false, payload(12, 80));
    // Cutting at keyframe 5 leaves 150 bytes: still over, so cut at keyframe 10.
    assert_eq!(q.push_frame(&big), Push::Trimmed { frames: 10 });
    q.check_invariants();
    assert_eq!(q.queued_bytes(), 100);
    let out = drain(&mut q);
    assert_eq!(&out[..N], &payload(10, N)[..]);
    assert_eq!(&out[2 * N..], &payload(12, 80)[..]);
}

#[test]
fn waiting_for_keyframe_drops_inter_frames_and_audio_then_resumes() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 60_000));
    let pushes = push_video(&mut q, 0, 0, 26, 100); // one keyframe, at 0
    assert!(pushes.iter().all(|p| *p == Push::Queued));
    // Over span with no keyframe to resume from: everything goes, the queue waits.
    assert_eq!(q.push_frame(&inter(26, 1040)), Push::Trimmed { frames: 27 });
    assert!(q.is_waiting_keyframe());
    assert!(q.is_empty());
    assert_eq!(q.push_frame(&audio(27, 1050)), Push::Dropped);
    assert_eq!(q.push_frame(&inter(28, 1080)), Push::Dropped);
    assert_eq!(q.push_frame(&meta(29, 1090)), Push::Queued);
    assert_eq!(q.push_frame(&aseq(30)), Push::Queued);
    assert_eq!(q.push_frame(&audio(31, 1100)), Push::Dropped);
    assert!(q.is_waiting_keyframe());
    assert_eq!(q.push_frame(&key(32, 1120)), Push::Queued);
    assert!(!q.is_waiting_keyframe());
    assert_eq!(q.push_frame(&audio(33, 1130)), Push::Queued);
    assert_eq!(q.push_frame(&inter(34, 1160)), Push::Queued);
    assert_eq!(q.dropped_frames(), 27 + 3);
    assert_eq!(q.dropped_bytes(), 30 * N as u64);
    assert_eq!(sent_ids(&mut q), vec![29, 30, 32, 33, 34]);
}

#[test]
fn sequence_headers_and_metadata_survive_trimming() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 60_000));
    let _ = q.push_frame(&meta(1000, 0));
    let _ = q.push_frame(&vseq(1001));
    let _ = q.push_frame(&aseq(1002));
    q.push_control(payload(1003, N));
    assert!(push_video(&mut q, 0, 5000, 5, 10)
        .iter()
        .all(|p| *p == Push::Queued));
    // Mid-stream metadata and a new sequence header, with the usual timestamp 0: they must
    // neither be dropped nor count in the span.
    assert_eq!(q.push_frame(&meta(1004, 0)), Push::Queued);
    assert_eq!(q.push_frame(&vseq(1005)), Push::Queued);
    assert_eq!(q.span_ms(), 160);
    assert!(push_video(&mut q, 5, 5200, 21, 5)
        .iter()
        .all(|p| *p == Push::Queued));
    assert_eq!(q.push_frame(&inter(26, 6040)), Push::Trimmed { frames: 5 });
    assert_eq!(q.push_frame(&inter(27, 7040)), Push::Trimmed { frames: 23 });
    assert!(q.is_waiting_keyframe());
    q.check_invariants();
    assert_eq!(sent_ids(&mut q), vec![1000, 1001, 1002, 1003, 1004, 1005]);
}

#[test]
fn audio_only_stream_trims_at_audio_frames() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 60_000));
    let _ = q.push_frame(&aseq(1000));
    for i in 0..44 {
        assert_eq!(q.push_frame(&audio(i, i as u32 * 23)), Push::Queued);
    }
    assert_eq!(q.push_frame(&audio(44, 1012)), Push::Trimmed { frames: 1 });
    assert!(!q.is_waiting_keyframe());
    // A gap: trimming goes on to the first audio frame within the span.
    assert_eq!(q.push_frame(&audio(45, 1500)), Push::Trimmed { frames: 21 });
    q.check_invariants();
    let ids = sent_ids(&mut q);
    assert_eq!(ids[0], 1000);
    assert_eq!(ids[1..], (22..=45).collect::<Vec<_>>());
    // After a reset, the first audio frame resumes an audio-only stream...
    q.reset_wait_keyframe();
    assert_eq!(q.push_frame(&audio(46, 1523)), Push::Queued);
    // ...but once the stream has video, audio waits for a video keyframe.
    q.reset_wait_keyframe();
    assert_eq!(q.push_frame(&vseq(47)), Push::Queued);
    assert_eq!(q.push_frame(&audio(48, 1546)), Push::Dropped);
    assert_eq!(q.push_frame(&key(49, 1560)), Push::Queued);
    assert_eq!(sent_ids(&mut q), vec![46, 47, 49]);
}

#[test]
fn kicked_after_kick_after_ms_without_drains() {
    let mut q = PlayerQueue::new(limits(u32::MAX / 4, usize::MAX / 4, 5000));
    let _ = q.push_frame(&vseq(1000));
    for i in 0..=125u32 {
        assert_eq!(
            q.push_frame(&inter(u64::from(i), i * 40)),
            Push::Queued,
            "ts {}",
            i * 40
        );
        q.advance(3); // partial writes do not count as catching up
    }
    assert_eq!(q.push_frame(&inter(126, 5040)), Push::Kick);
    assert!(q.is_kicked());
    let bytes = q.queued_bytes();
    assert_eq!(q.push_frame(&key(127, 5080)), Push::Kick);
    assert_eq!(q.queued_bytes(), bytes);
}

#[test]
fn kick_lag_is_measured_across_the_wrap() {
    let mut q = PlayerQueue::new(limits(u32::MAX / 4, usize::MAX / 4, 5000));
    let start = u32::MAX - 2000;
    for i in 0..=125u32 {
        assert_eq!(
            q.push_frame(&inter(u64::from(i), start.wrapping_add(i * 40))),
            Push::Queued
        );
    }
    assert_eq!(
        q.push_frame(&inter(126, start.wrapping_add(5040))),
        Push::Kick
    );
}

#[test]
fn lag_restarts_after_each_drain() {
    let mut q = PlayerQueue::new(limits(u32::MAX / 4, usize::MAX / 4, 5000));
    assert!(push_video(&mut q, 0, 0, 120, 50)
        .iter()
        .all(|p| *p == Push::Queued));
    drain(&mut q);
    // The reference is now the first frame queued after the drain (at 10000 ms).
    assert!(push_video(&mut q, 200, 10_000, 126, 50)
        .iter()
        .all(|p| *p == Push::Queued));
    assert_eq!(q.push_frame(&inter(400, 15_040)), Push::Kick);
}

#[test]
fn bytes_kick_when_undroppable_backlog_exceeds_twice_max() {
    let mut q = PlayerQueue::new(limits(1000, 100, 60_000));
    q.push_control(payload(1, 150));
    assert_eq!(q.push_frame(&key(2, 0)), Push::Trimmed { frames: 1 });
    q.push_control(payload(3, 60));
    assert_eq!(q.push_frame(&meta(4, 0)), Push::Kick);
}

/// A player that drains every pass is never trimmed, dropped or kicked, however long the
/// stream, and crossing 2^32 ms changes nothing.
#[test]
fn a_player_that_keeps_up_is_never_touched() {
    let limits = limits(1000, 64 << 10, 2000);
    for start in [0u32, u32::MAX - 60_000] {
        let mut q = PlayerQueue::new(limits);
        let _ = q.push_frame(&vseq(0));
        let _ = q.push_frame(&aseq(0));
        let mut audio_ts = start;
        let minutes = if start == 0 { 10 } else { 2 };
        for i in 0..minutes * 60 * 25u32 {
            let ts = start.wrapping_add(i * 40);
            let v = Frame::new(MediaKind::Video, ts, i % 50 == 0, false, payload(1, 900));
            assert_eq!(q.push_frame(&v), Push::Queued, "video at {ts}");
            while ts.wrapping_sub(audio_ts) as i32 >= 0 {
                let a = Frame::new(MediaKind::Audio, audio_ts, false, false, payload(2, 40));
                assert_eq!(q.push_frame(&a), Push::Queued, "audio at {audio_ts}");
                audio_ts = audio_ts.wrapping_add(21);
            }
            if i % 3 == 2 {
                let all = q.queued_bytes();
                q.advance(all);
                assert!(q.is_empty());
            }
        }
        assert_eq!(q.dropped_frames(), 0);
        assert!(!q.is_kicked());
    }
}

#[test]
fn a_backlog_crossing_the_wrap_is_measured_correctly() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 5000));
    let start = u32::MAX - 200;
    assert!(push_video(&mut q, 0, start, 25, 10)
        .iter()
        .all(|p| *p == Push::Queued));
    assert_eq!(q.span_ms(), 960);
    assert_eq!(
        q.push_frame(&inter(25, start.wrapping_add(1040))),
        Push::Trimmed { frames: 10 }
    );
    assert_eq!(q.span_ms(), 640);
}

#[test]
fn partly_written_front_is_never_dropped() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 60_000));
    assert!(push_video(&mut q, 0, 0, 26, 100)
        .iter()
        .all(|p| *p == Push::Queued));
    q.advance(3);
    // Span now counts from the first frame that could still be dropped.
    assert_eq!(q.span_ms(), 960);
    assert_eq!(q.push_frame(&inter(26, 1080)), Push::Trimmed { frames: 26 });
    assert!(q.is_waiting_keyframe());
    q.check_invariants();
    assert_eq!(q.queued_bytes(), N - 3);
    assert_eq!(flatten(&q, 8), payload(0, N)[3..]);
    // clear_media keeps it too, and the control bytes, but drops metadata.
    q.push_control(payload(50, N));
    let _ = q.push_frame(&meta(51, 0));
    let _ = q.push_frame(&key(52, 1200));
    assert_eq!(q.clear_media(), 2);
    q.check_invariants();
    let out = drain(&mut q);
    assert_eq!(&out[..N - 3], &payload(0, N)[3..]);
    assert_eq!(&out[N - 3..], &payload(50, N)[..]);
}

#[test]
fn clear_media_then_new_publisher() {
    let mut q = PlayerQueue::new(limits(1000, 1 << 20, 5000));
    let _ = q.push_frame(&vseq(100));
    assert!(push_video(&mut q, 0, 3_000_000, 20, 10)
        .iter()
        .all(|p| *p == Push::Queued));
    q.push_control(payload(101, N)); // e.g. NetStream.Play.UnpublishNotify
    assert_eq!(q.clear_media(), 21);
    assert_eq!(q.dropped_frames(), 0);
    q.reset_wait_keyframe();
    // The new publisher's timestamps start over: no kick, no trim.
    let _ = q.push_frame(&vseq(102));
    assert_eq!(q.push_frame(&inter(103, 0)), Push::Dropped);
    assert!(push_video(&mut q, 200, 40, 20, 10)
        .iter()
        .all(|p| *p == Push::Queued));
    let ids = sent_ids(&mut q);
    assert_eq!(ids[..2], [101, 102]);
    assert_eq!(ids[2..], (200..220).collect::<Vec<_>>());
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random pushes, partial writes, clears and resets: the accounting always matches the
/// entries, and the written stream is whole entries in push order with every control entry.
#[test]
fn accounting_and_order_hold_over_random_sequences() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let lim = limits(300, 2000, 3000 + rng.below(3000) as u32);
        let mut q = PlayerQueue::new(lim);
        let mut ts = (rng.next() as u32) | 0xffff_0000; // near the wrap
        let mut lens = HashMap::new();
        let mut controls = Vec::new();
        let (mut accepted_bytes, mut cleared_bytes, mut cleared_frames) = (0u64, 0u64, 0u64);
        let mut accepted_frames = 0u64;
        let mut out = Vec::new();
        // Fast players (mostly trimming) and slow ones (kicked sooner or later).
        let writes = if seed % 2 == 0 { 240 } else { 40 };
        for id in 0..3000u64 {
            ts = ts.wrapping_add(rng.below(30) as u32).wrapping_sub(3);
            let len = 8 + rng.below(120) as usize;
            let roll = rng.below(1000);
            let frame = match roll {
                0..=349 => Some((MediaKind::Video, rng.below(15) == 0, rng.below(100) == 0)),
                350..=649 => Some((MediaKind::Audio, false, rng.below(100) == 0)),
                650..=699 => Some((MediaKind::Data, false, false)),
                _ => None,
            };
            if let Some((kind, k, s)) = frame {
                let was_kicked = q.is_kicked();
                let p = q.push_frame(&Frame::new(kind, ts, k, s, payload(id, len)));
                if !was_kicked {
                    lens.insert(id, len);
                    accepted_frames += 1;
                    accepted_bytes += len as u64;
                } else {
                    assert_eq!(p, Push::Kick);
                }
            } else if roll < 750 {
                q.push_control(payload(id, len));
                lens.insert(id, len);
                controls.push(id);
            } else if roll < 750 + writes {
                let avail = flatten(&q, 1 + rng.below(8) as usize);
                let n = match avail.len() {
                    0 => 0,
                    all if rng.below(2) == 0 => all,
                    all => rng.below(all as u64 + 1) as usize,
                };
                out.extend_from_slice(&avail[..n]);
                q.advance(n);
            } else if roll < 995 {
                // idle
            } else if roll < 998 {
                let before = q.queued_bytes();
                cleared_frames += q.clear_media() as u64;
                cleared_bytes += (before - q.queued_bytes()) as u64;
            } else {
                q.reset_wait_keyframe();
            }
            q.check_invariants();
        }
        out.extend_from_slice(&drain(&mut q));
        // Parse the written stream back into entries.
        let (mut pos, mut last) = (0, None);
        let (mut sent_frames, mut sent_bytes) = (0u64, 0u64);
        let mut sent_controls = Vec::new();
        while pos < out.len() {
            let id = u64::from_be_bytes(out[pos..pos + 8].try_into().unwrap());
            let len = lens[&id];
            assert_eq!(&out[pos..pos + len], &payload(id, len)[..], "seed {seed}");
            assert!(last < Some(id), "seed {seed}: order");
            last = Some(id);
            if controls.contains(&id) {
                sent_controls.push(id);
            } else {
                sent_frames += 1;
                sent_bytes += len as u64;
            }
            pos += len;
        }
        assert_eq!(
            sent_controls, controls,
            "seed {seed}: control bytes are never dropped"
        );
        assert_eq!(
            accepted_frames,
            sent_frames + q.dropped_frames() + cleared_frames
        );
        assert_eq!(
            accepted_bytes,
            sent_bytes + q.dropped_bytes() + cleared_bytes
        );
    }
}
