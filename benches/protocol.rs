//! Protocol hot-path benchmarks: chunk decoding of a publisher stream, chunk encoding of one
//! message, the per-message `FrameBuilder::build`, and AMF0 decoding of real captures.
//!
//! Run: `cargo bench --bench protocol -- --warm-up-time 1 --measurement-time 3`.
//! Never does network I/O; every input is built in memory before the timed loops.
//!
//! Groups:
//! - `chunk_decode/{4096,128}`: 4 s (1.1 MB) of a ~2.2 Mbit/s publisher stream (25 fps H.264
//!   video of 3-30 kB per frame, keyframe every 2 s, AAC audio of ~370 B at 43 fps interleaved
//!   by timestamp) written the way FFmpeg writes it (first message of a chunk stream fmt 0,
//!   later ones fmt 1 with a timestamp delta, continuations fmt 3), fed in 64 KiB reads, as
//!   the server reads its sockets. Throughput in bytes of that stream.
//! - `encode`: `ChunkEncoder::encode` of a 10 kB video message at chunk size 4096 into a reused
//!   buffer, and `FrameBuilder::build` of the same message (what the server does once per
//!   media message: facts, timestamp, allocation and encoding).
//! - `amf0_decode`: FFmpeg's connect command (as `amf0::decode_all` and as `Command::decode`)
//!   and FFmpeg's onMetaData.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rtmp_edge::media::ingest::{FrameBuilder, Timeline};
use rtmp_edge::protocol::amf::captures::{hex, FFMPEG_CONNECT, FFMPEG_METADATA};
use rtmp_edge::protocol::amf::{amf0, Limits};
use rtmp_edge::protocol::chunk::{ChunkDecoder, ChunkEncoder, MessageHeader};
use rtmp_edge::protocol::command::Command;

/// Chunk streams FFmpeg's muxer uses for audio and video.
const CSID_AUDIO: u32 = 4;
const CSID_VIDEO: u32 = 6;
/// How much the server reads from a socket at once.
const READ_SIZE: usize = 64 * 1024;

/// One media message of the synthetic publisher stream.
struct Media {
    csid: u32,
    type_id: u8,
    timestamp: u32,
    payload: Vec<u8>,
}

/// `seconds` of 25 fps video (keyframe every 50 frames) and 44.1 kHz AAC (1024 samples per
/// frame), ordered by timestamp like a muxer writes them. About 2.2 Mbit/s in all.
fn publisher_messages(seconds: u32) -> Vec<Media> {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut out = Vec::new();
    let video_frames = seconds * 25;
    let audio_frames = seconds * 44_100 / 1024;
    let (mut v, mut a) = (0, 0);
    while v < video_frames || a < audio_frames {
        let video_ts = v * 40;
        let audio_ts = a * 1024 * 1000 / 44_100;
        if v < video_frames && (a >= audio_frames || video_ts <= audio_ts) {
            let key = v % 50 == 0;
            let len = if key {
                30_000
            } else {
                rng.usize(3_000..=18_000)
            };
            let mut payload = vec![0u8; len];
            // AVC NALU packet header: frame type + codec id, packet type 1, composition time 0.
            payload[0] = if key { 0x17 } else { 0x27 };
            payload[1] = 1;
            rng.fill(&mut payload[5..]);
            out.push(Media {
                csid: CSID_VIDEO,
                type_id: 9,
                timestamp: video_ts,
                payload,
            });
            v += 1;
        } else {
            let mut payload = vec![0u8; rng.usize(340..=400)];
            payload[0] = 0xAF; // AAC, 44 kHz, 16 bit, stereo
            payload[1] = 1; // raw frame
            rng.fill(&mut payload[2..]);
            out.push(Media {
                csid: CSID_AUDIO,
                type_id: 8,
                timestamp: audio_ts,
                payload,
            });
            a += 1;
        }
    }
    out
}

/// Writes `messages` as chunks of `chunk_size` the way FFmpeg's `ff_rtmp_packet_write` does:
/// fmt 0 for the first message of a chunk stream, fmt 1 (timestamp delta, length, type) for
/// the following ones on the same message stream, fmt 3 for continuation chunks. A chunk size
/// other than the default 128 is announced first with Set Chunk Size, as a publisher does.
fn publisher_stream(messages: &[Media], chunk_size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if chunk_size != 128 {
        out.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]);
        out.extend_from_slice(&(chunk_size as u32).to_be_bytes());
    }
    let mut last_ts: [Option<u32>; 8] = [None; 8];
    for m in messages {
        let len = (m.payload.len() as u32).to_be_bytes();
        match last_ts[m.csid as usize] {
            None => {
                out.push(m.csid as u8);
                out.extend_from_slice(&m.timestamp.to_be_bytes()[1..]);
                out.extend_from_slice(&len[1..]);
                out.push(m.type_id);
                out.extend_from_slice(&1u32.to_le_bytes());
            }
            Some(prev) => {
                out.push(0x40 | m.csid as u8);
                out.extend_from_slice(&(m.timestamp - prev).to_be_bytes()[1..]);
                out.extend_from_slice(&len[1..]);
                out.push(m.type_id);
            }
        }
        last_ts[m.csid as usize] = Some(m.timestamp);
        for (i, chunk) in m.payload.chunks(chunk_size).enumerate() {
            if i > 0 {
                out.push(0xC0 | m.csid as u8);
            }
            out.extend_from_slice(chunk);
        }
    }
    out
}

/// Decodes the whole stream in `READ_SIZE` reads; returns the number of messages.
fn decode_stream(stream: &[u8]) -> usize {
    let mut decoder = ChunkDecoder::new(16 << 20, 16);
    let mut messages = 0;
    for read in stream.chunks(READ_SIZE) {
        let mut rest = read;
        loop {
            let (used, message) = decoder.decode(rest).expect("valid stream");
            rest = &rest[used..];
            match message {
                Some(m) => {
                    black_box(&m);
                    messages += 1;
                }
                None => break,
            }
        }
    }
    messages
}

fn chunk_decode(c: &mut Criterion) {
    let messages = publisher_messages(4);
    let mut group = c.benchmark_group("chunk_decode");
    for chunk_size in [4096usize, 128] {
        let stream = publisher_stream(&messages, chunk_size);
        let expected = messages.len() + usize::from(chunk_size != 128);
        assert_eq!(decode_stream(&stream), expected, "stream must decode whole");
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(chunk_size),
            &stream,
            |b, stream| b.iter(|| decode_stream(stream)),
        );
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut payload = vec![0u8; 10_000];
    payload[0] = 0x27;
    payload[1] = 1;
    fastrand::Rng::with_seed(3).fill(&mut payload[5..]);
    let header = MessageHeader {
        timestamp: 123_456,
        length: payload.len() as u32,
        type_id: 9,
        stream_id: 1,
    };
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(payload.len() as u64));

    let encoder = ChunkEncoder::new(4096);
    let mut out = BytesMut::with_capacity(16 * 1024);
    group.bench_function("chunk_encoder_10k_cs4096", |b| {
        b.iter(|| {
            out.clear();
            encoder.encode(
                CSID_VIDEO,
                black_box(&header),
                black_box(&payload),
                &mut out,
            );
            black_box(out.len())
        })
    });

    let mut builder = FrameBuilder::new(4096, Timeline::Publisher);
    let mut timestamp = 0u32;
    group.bench_function("frame_builder_10k_cs4096", |b| {
        b.iter(|| {
            timestamp = timestamp.wrapping_add(40);
            builder.build(9, timestamp, black_box(&payload), false)
        })
    });
    group.finish();
}

fn amf0_decode(c: &mut Criterion) {
    let limits = Limits::default();
    let connect = hex(FFMPEG_CONNECT);
    let metadata = hex(FFMPEG_METADATA);
    assert_eq!(amf0::decode_all(&connect, &limits).map(|v| v.len()), Ok(3));
    assert_eq!(amf0::decode_all(&metadata, &limits).map(|v| v.len()), Ok(2));

    let mut group = c.benchmark_group("amf0_decode");
    group.throughput(Throughput::Bytes(connect.len() as u64));
    group.bench_function("ffmpeg_connect", |b| {
        b.iter(|| amf0::decode_all(black_box(&connect), &limits))
    });
    group.bench_function("ffmpeg_connect_command", |b| {
        b.iter(|| Command::decode(black_box(&connect), false, &limits))
    });
    group.throughput(Throughput::Bytes(metadata.len() as u64));
    group.bench_function("ffmpeg_onmetadata", |b| {
        b.iter(|| amf0::decode_all(black_box(&metadata), &limits))
    });
    group.finish();
}

criterion_group!(benches, chunk_decode, encode, amf0_decode);
criterion_main!(benches);
