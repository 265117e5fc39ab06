//! Fan-out benchmark: one media `Frame` pushed into 10,000 in-memory `PlayerQueue`s, the
//! home shard's per-message work for 10,000 local players (a reference-count bump and a queue
//! entry each, plus the slow-player checks).
//!
//! Run: `cargo bench --bench fanout -- --warm-up-time 1 --measurement-time 3`.
//! Never does I/O. Criterion reports time per frame for all players and, through
//! `Throughput::Elements(PLAYERS)`, players per second; ns per player = time / 10,000.
//!
//! Groups:
//! - `fanout/push_10k`: `push_frame` into every queue. Frames cycle through a realistic
//!   stream (25 fps video of ~10 kB with a keyframe every 50 frames, AAC audio between). Every
//!   `DRAIN_EVERY` frames the queues are emptied with `advance`, outside the timed section, so
//!   they hold at most about one second of media and never hit the slow-player limits.
//! - `fanout/push_advance_10k`: `push_frame` then `advance` over the whole frame into every
//!   queue, the queue bookkeeping of a player that keeps up (one frame per flush), timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rtmp_edge::media::{Frame, FrameBuilder, PlayerQueue, Push, QueueLimits, Timeline};

const PLAYERS: usize = 10_000;
/// Frames between untimed drains: about one second of media (25 video + 25 audio frames).
const DRAIN_EVERY: usize = 50;
/// Media time covered by one pass over `frames()`.
const CYCLE_MS: u32 = 2_000;

/// Two seconds of alternating video and audio frames, encoded once like the home shard does.
fn frames() -> Vec<Frame> {
    let mut builder = FrameBuilder::new(4096, Timeline::Publisher);
    let mut rng = fastrand::Rng::with_seed(11);
    let mut out = Vec::new();
    for i in 0..50u32 {
        let key = i % 50 == 0;
        let mut video = vec![
            0u8;
            if key {
                30_000
            } else {
                rng.usize(6_000..=14_000)
            }
        ];
        video[0] = if key { 0x17 } else { 0x27 };
        video[1] = 1;
        out.push(builder.build(9, i * 40, &video, false));
        let mut audio = vec![0u8; 370];
        audio[0] = 0xAF;
        audio[1] = 1;
        out.push(builder.build(8, i * 40 + 20, &audio, false));
    }
    out
}

/// The `n`th frame of an endless stream: `frames` repeated with timestamps that keep rising.
fn frame_at(frames: &[Frame], n: usize) -> Frame {
    let mut frame = frames[n % frames.len()].clone();
    frame.timestamp = frame
        .timestamp
        .wrapping_add((n / frames.len()) as u32 * CYCLE_MS);
    frame
}

fn drain(queues: &mut [PlayerQueue]) {
    for q in queues {
        let n = q.queued_bytes();
        q.advance(n);
    }
}

fn push_all(queues: &mut [PlayerQueue], frame: &Frame) {
    for q in queues {
        let outcome = q.push_frame(frame);
        debug_assert!(matches!(outcome, Push::Queued));
        let _ = black_box(outcome);
    }
}

fn fanout(c: &mut Criterion) {
    let frames = frames();
    let mut queues: Vec<PlayerQueue> = (0..PLAYERS)
        .map(|_| PlayerQueue::new(QueueLimits::default()))
        .collect();
    // Players joined at a keyframe: prime every queue so nothing waits or drops.
    push_all(&mut queues, &frames[0]);
    drain(&mut queues);

    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(PLAYERS as u64));
    group.sample_size(30);

    let mut next = 0usize;
    let mut since_drain = 0usize;
    group.bench_function("push_10k", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                if since_drain == DRAIN_EVERY {
                    drain(&mut queues);
                    since_drain = 0;
                }
                let frame = frame_at(&frames, next);
                next += 1;
                since_drain += 1;
                let start = Instant::now();
                push_all(&mut queues, &frame);
                timed += start.elapsed();
            }
            timed
        })
    });
    drain(&mut queues);

    group.bench_function("push_advance_10k", |b| {
        b.iter(|| {
            let frame = frame_at(&frames, next);
            next += 1;
            for q in queues.iter_mut() {
                let _ = black_box(q.push_frame(&frame));
                q.advance(frame.len());
            }
        })
    });
    group.finish();
    // Every push was accepted: the drains kept the queues inside their limits.
    assert!(queues
        .iter()
        .all(|q| !q.is_kicked() && q.dropped_frames() == 0));
}

criterion_group!(benches, fanout);
criterion_main!(benches);
