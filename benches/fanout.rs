//! Fan-out benchmark of fan-out by position: one stream's `FrameLog` on a shard, followed by
//! in-memory `SendQueue`s (one per local player). It measures the two halves of the home
//! shard's work: what a new frame costs on the publisher's path (append to the log, whatever
//! the number of players), and what a player costs when it is written (take its frames out of
//! the log, fill the iovecs, advance).
//!
//! Run: `cargo bench --bench fanout -- --warm-up-time 1 --measurement-time 3`.
//! Never does I/O: no socket, no driver; "writing" is `fill_iovecs` then `advance` over all
//! of it, as a send that wrote everything would.
//!
//! Frames cycle through a realistic stream (25 fps video of ~10 kB with a keyframe every 50
//! frames, AAC audio between, encoded once by `FrameBuilder`), with timestamps that keep
//! rising; the log has the default window (5 s, 16 MiB, GOP cache on), so it is in its
//! steady state (every push also evicts).
//!
//! Groups (criterion ids under `fanout/`):
//! - `append_10k/{100,1000,10000}`: `FrameLog::push` of one frame for a stream with that many
//!   players parked (each a `SendQueue` following the log, untouched). The player count only
//!   enters as the core handing the stream's pre-built list of parked players to the write
//!   schedule, modelled as a `Vec` swap. Time per frame: flat across the parameter (O(1)).
//! - `drain_10k`: one frame pushed, then every one of 10,000 queues `prepare`, `fill_iovecs`
//!   and `advance` (the per-player work at write time). `Throughput::Elements(10_000)`: criterion
//!   reports players per second; ns per player = time / 10,000.
//! - `batch_drain_10k`: 10 frames pushed, then each queue prepared and drained once (the
//!   write-merge case: one send carries 10 frames). Per player as above; per player and frame
//!   = time / 100,000.

use std::hint::black_box;
use std::io::IoSlice;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rtmp_edge::media::{
    Frame, FrameBuilder, FrameLog, LogLimits, QueueLimits, SendQueue, Timeline, Verdict,
};

const PLAYERS: usize = 10_000;
/// Frames per batch in `batch_drain_10k`.
const BATCH: usize = 10;
/// Media time covered by one pass over `frames()`.
const CYCLE_MS: u32 = 2_000;
/// Slices per send, as the core's `MAX_IOVECS`.
const IOVECS: usize = 64;

/// The configuration's defaults (`control::Config`): 5 s, 16 MiB, kick after 15 s.
fn queue_limits() -> QueueLimits {
    QueueLimits {
        max_span_ms: 5_000,
        max_bytes: 16 << 20,
        kick_after_ms: 15_000,
    }
}

fn new_log() -> FrameLog {
    FrameLog::new(LogLimits {
        queue: queue_limits(),
        gop_cache: true,
        max_gop_bytes: 16 << 20,
    })
}

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
        out.push(builder.build(9, i * 40, &video, false).frame);
        let mut audio = vec![0u8; 370];
        audio[0] = 0xAF;
        audio[1] = 1;
        out.push(builder.build(8, i * 40 + 20, &audio, false).frame);
    }
    out
}

/// The `n`th frame of an endless stream: `frames` repeated with timestamps that keep rising.
/// A clone: a reference-count bump, no copy.
fn frame_at(frames: &[Frame], n: usize) -> Frame {
    let mut frame = frames[n % frames.len()].clone();
    frame.timestamp = frame
        .timestamp
        .wrapping_add((n / frames.len()) as u32 * CYCLE_MS);
    frame
}

/// A stream in its steady state: 10 s of frames pushed (the log evicts on every push).
fn warm_log(frames: &[Frame], next: &mut usize) -> FrameLog {
    let mut log = new_log();
    for _ in 0..5 * frames.len() {
        log.push(frame_at(frames, *next));
        *next += 1;
    }
    log
}

/// Players that joined at the log's keyframe, as the core starts them with the GOP cache.
fn players(log: &FrameLog, n: usize) -> Vec<SendQueue> {
    let start = log.gop_start().expect("a keyframe in the log");
    (0..n)
        .map(|_| {
            let mut q = SendQueue::new(queue_limits());
            q.follow(start, false);
            q
        })
        .collect()
}

/// An empty `Vec` of slices with another lifetime, same allocation (in-place collect): a
/// driver's iovec buffer reused from send to send.
fn recycle<'a, 'b>(mut v: Vec<IoSlice<'a>>) -> Vec<IoSlice<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// Write every queue once: take its frames out of the log, one send of all of it.
fn drain_all(queues: &mut [SendQueue], log: &FrameLog, iov: &mut Vec<IoSlice<'static>>) {
    for q in queues {
        let verdict = q.prepare(Some(log));
        debug_assert_eq!(verdict, Verdict::Keep { dropped: 0 });
        let mut slices = recycle(std::mem::take(iov));
        let n = q.fill_iovecs(&mut slices, IOVECS);
        black_box(&slices);
        *iov = recycle(slices);
        q.advance(n, Some(log));
        let _ = black_box(verdict);
    }
}

fn fanout(c: &mut Criterion) {
    let frames = frames();
    let mut group = c.benchmark_group("fanout");
    group.sample_size(30);

    // ---- the publisher's path: append, for 100 to 10,000 parked players ----
    group.throughput(Throughput::Elements(1));
    for n in [100usize, 1_000, PLAYERS] {
        let mut next = 0usize;
        let mut log = warm_log(&frames, &mut next);
        let queues = players(&log, n);
        let mut parked: Vec<usize> = (0..n).collect();
        let mut due: Vec<usize> = Vec::with_capacity(n);
        group.bench_with_input(BenchmarkId::new("append_10k", n), &n, |b, _| {
            b.iter(|| {
                let seq = log.push(frame_at(&frames, next));
                next += 1;
                // The parked players become due: the schedule takes the pre-built list.
                std::mem::swap(&mut parked, &mut due);
                black_box((seq, due.len()));
            })
        });
        // Appending touched no player.
        assert!(queues.iter().all(|q| q.committed_len() == 0));
    }

    // ---- the write path: every player takes its frames out of the log ----
    group.throughput(Throughput::Elements(PLAYERS as u64));
    let mut next = 0usize;
    let mut log = warm_log(&frames, &mut next);
    let mut queues = players(&log, PLAYERS);
    let mut iov = Vec::with_capacity(IOVECS);
    // Every player catches up with the GOP it joined at, outside the timed sections.
    drain_all(&mut queues, &log, &mut iov);
    group.bench_function("drain_10k", |b| {
        b.iter(|| {
            log.push(frame_at(&frames, next));
            next += 1;
            drain_all(&mut queues, &log, &mut iov);
        })
    });
    group.bench_function("batch_drain_10k", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                log.push(frame_at(&frames, next));
                next += 1;
            }
            drain_all(&mut queues, &log, &mut iov);
        })
    });
    group.finish();
    // Every player kept up: nothing skipped, nobody kicked, nothing left to write.
    assert!(queues
        .iter()
        .all(|q| !q.is_kicked() && q.dropped_frames() == 0 && q.is_idle(Some(&log))));
}

criterion_group!(benches, fanout);
criterion_main!(benches);
