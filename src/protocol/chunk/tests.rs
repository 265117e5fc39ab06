//! Tests of the chunk decoder against spec vectors and hand-built chunks, and of encoder and
//! decoder against each other. Every input is also fed byte by byte and in two halves split at
//! each position (a sample of positions for inputs over [`FULL_SPLIT_LIMIT`] bytes).
use super::*;
use bytes::BytesMut;

const MAX: u32 = 1 << 20;
/// Inputs up to this size are split at every position; longer ones at a sample of positions.
const FULL_SPLIT_LIMIT: usize = 4096;

fn dec() -> ChunkDecoder {
    ChunkDecoder::new(MAX, 16)
}

/// Feeds each piece in turn the way a caller must: call again on the rest after every message,
/// stop when no message comes back. Checks the consumed counts on the way.
fn feed(dec: &mut ChunkDecoder, pieces: &[&[u8]]) -> Result<Vec<RawMessage>, ChunkError> {
    let mut out = Vec::new();
    for piece in pieces {
        let mut pos = 0;
        loop {
            let (used, msg) = dec.decode(&piece[pos..])?;
            pos += used;
            assert!(pos <= piece.len());
            match msg {
                Some(msg) => out.push(msg),
                None => {
                    assert_eq!(pos, piece.len(), "no message but input left over");
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// Decodes `input` whole, byte by byte, and in two halves at every split position; all must
/// give the same messages (or the same error). Returns what they gave.
fn decode_split(
    make: impl Fn() -> ChunkDecoder,
    input: &[u8],
) -> Result<Vec<RawMessage>, ChunkError> {
    let whole = feed(&mut make(), &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(feed(&mut make(), &bytes), whole, "fed byte by byte");
    let len = input.len();
    let positions: Vec<usize> = if len <= FULL_SPLIT_LIMIT {
        (0..=len).collect()
    } else {
        // Both ends, where headers and the first and last chunks are, plus a spread between.
        let step = len / 8;
        (0..8)
            .chain(len - 8..=len)
            .chain((1..8).map(|i| i * step + i))
            .collect()
    };
    for at in positions {
        let (a, b) = input.split_at(at);
        assert_eq!(feed(&mut make(), &[a, b]), whole, "split at {at}");
    }
    whole
}

fn basic(fmt: u8, csid: u32) -> Vec<u8> {
    let fmt = fmt << 6;
    match csid {
        0..=63 => vec![fmt | csid as u8],
        64..=319 => vec![fmt, (csid - 64) as u8],
        _ => vec![fmt | 1, (csid - 64) as u8, ((csid - 64) >> 8) as u8],
    }
}

fn be24(v: u32) -> [u8; 3] {
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A fmt-0 chunk header; `ts` at or over 0xFFFFFF gets an extended timestamp.
fn fmt0(csid: u32, ts: u32, len: u32, type_id: u8, msid: u32) -> Vec<u8> {
    let mut v = basic(0, csid);
    v.extend(be24(ts.min(EXTENDED_TIMESTAMP)));
    v.extend(be24(len));
    v.push(type_id);
    v.extend(msid.to_le_bytes());
    if ts >= EXTENDED_TIMESTAMP {
        v.extend(ts.to_be_bytes());
    }
    v
}

fn fmt1(csid: u32, delta: u32, len: u32, type_id: u8) -> Vec<u8> {
    let mut v = basic(1, csid);
    v.extend(be24(delta.min(EXTENDED_TIMESTAMP)));
    v.extend(be24(len));
    v.push(type_id);
    if delta >= EXTENDED_TIMESTAMP {
        v.extend(delta.to_be_bytes());
    }
    v
}

fn fmt2(csid: u32, delta: u32) -> Vec<u8> {
    let mut v = basic(2, csid);
    v.extend(be24(delta.min(EXTENDED_TIMESTAMP)));
    if delta >= EXTENDED_TIMESTAMP {
        v.extend(delta.to_be_bytes());
    }
    v
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> RawMessage {
    RawMessage {
        csid,
        header: MessageHeader {
            timestamp,
            length: payload.len() as u32,
            type_id,
            stream_id,
        },
        payload: Bytes::copy_from_slice(payload),
    }
}

fn set_chunk_size(size: u32) -> Vec<u8> {
    let mut v = fmt0(2, 0, 4, 1, 0);
    v.extend(size.to_be_bytes());
    v
}

#[test]
fn spec_example_1_audio_fmt_0_2_3_3() {
    // RTMP spec 5.3.2.1: 32-byte audio messages on chunk stream 3, message stream 12345,
    // timestamps 1000, 1033, 1066, 1099.
    let p: Vec<Vec<u8>> = (0..4).map(|i| pattern(32, i)).collect();
    let mut input = vec![
        0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x20, 0x08, 0x39, 0x30, 0, 0,
    ];
    input.extend(&p[0]);
    input.extend([0x83, 0x00, 0x00, 0x21]);
    input.extend(&p[1]);
    input.push(0xC3);
    input.extend(&p[2]);
    input.push(0xC3);
    input.extend(&p[3]);
    let want: Vec<RawMessage> = (0..4)
        .map(|i| msg(3, 1000 + 33 * i as u32, 8, 12345, &p[i]))
        .collect();
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn spec_example_2_video_fmt_0_3_3() {
    // RTMP spec 5.3.2.2: one 307-byte video message on chunk stream 4 at chunk size 128.
    let p = pattern(307, 9);
    let mut input = vec![
        0x04, 0x00, 0x03, 0xE8, 0x00, 0x01, 0x33, 0x09, 0x3A, 0x30, 0, 0,
    ];
    input.extend(&p[..128]);
    input.push(0xC4);
    input.extend(&p[128..256]);
    input.push(0xC4);
    input.extend(&p[256..]);
    assert_eq!(
        decode_split(dec, &input),
        Ok(vec![msg(4, 1000, 9, 12346, &p)])
    );
}

#[test]
fn basic_header_sizes() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, csid) in [2u32, 63, 64, 319, 320, 65599].into_iter().enumerate() {
        let p = pattern(200, i as u8);
        input.extend(fmt0(csid, 7, 200, 9, 1));
        input.extend(&p[..128]);
        input.extend(basic(3, csid));
        input.extend(&p[128..]);
        want.push(msg(csid, 7, 9, 1, &p));
    }
    // Spot-check the hand-built forms: 2 bytes for 64..=319, 3 (little-endian id) above.
    assert_eq!(basic(0, 319), [0x00, 0xFF]);
    assert_eq!(basic(3, 320), [0xC1, 0x00, 0x01]);
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn fmt3_after_fmt0_adds_the_fmt0_timestamp() {
    // Spec 5.3.1.2.4: the delta of a fmt-3 chunk after fmt 0 is the fmt-0 timestamp.
    let mut input = fmt0(5, 40, 1, 8, 1);
    input.push(0xAA);
    input.extend([0xC5, 0xBB]);
    let want = vec![msg(5, 40, 8, 1, &[0xAA]), msg(5, 80, 8, 1, &[0xBB])];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

/// A 300-byte message at chunk size 128 with an extended timestamp, with or without the
/// timestamp repeated on its two fmt-3 chunks, followed by a small message on another stream.
fn extended_fmt0_input(repeat: bool) -> (Vec<u8>, Vec<RawMessage>) {
    let ts = 0x0123_4567;
    let p = pattern(300, 1);
    let mut input = fmt0(6, ts, 300, 9, 1);
    for (i, part) in p.chunks(128).enumerate() {
        if i > 0 {
            input.push(0xC6);
            if repeat {
                input.extend(ts.to_be_bytes());
            }
        }
        input.extend(part);
    }
    input.extend(fmt0(4, 1, 2, 8, 1));
    input.extend([1, 2]);
    (input, vec![msg(6, ts, 9, 1, &p), msg(4, 1, 8, 1, &[1, 2])])
}

#[test]
fn extended_timestamp_on_fmt0_repeated_on_fmt3() {
    let (input, want) = extended_fmt0_input(true);
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn extended_timestamp_on_fmt0_not_repeated_on_fmt3() {
    let (input, want) = extended_fmt0_input(false);
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn encoder_output_with_extended_timestamp_decodes() {
    let enc = ChunkEncoder::new(128);
    let mut out = BytesMut::new();
    let p = pattern(1000, 3);
    let header = MessageHeader {
        timestamp: 0xFF_FFFF,
        length: 0,
        type_id: 9,
        stream_id: 1,
    };
    enc.encode(6, &header, &p, &mut out);
    assert_eq!(
        decode_split(dec, &out),
        Ok(vec![msg(6, 0xFF_FFFF, 9, 1, &p)])
    );
}

#[test]
fn short_last_chunk_without_repeated_timestamp_waits_for_more_bytes() {
    // The last chunk holds 2 bytes, fewer than the 4 the peek needs: the message completes
    // only when the next chunk's bytes arrive.
    let ts = 0x0200_0000;
    let p = pattern(130, 5);
    let mut first = fmt0(6, ts, 130, 9, 1);
    first.extend(&p[..128]);
    first.push(0xC6);
    first.extend(&p[128..]);
    let mut second = fmt0(4, 0, 1, 8, 1);
    second.push(0x77);

    let mut d = dec();
    assert_eq!(feed(&mut d, &[&first]), Ok(vec![]));
    let want = vec![msg(6, ts, 9, 1, &p), msg(4, 0, 8, 1, &[0x77])];
    assert_eq!(feed(&mut d, &[&second]), Ok(want.clone()));

    let mut both = first.clone();
    both.extend(&second);
    assert_eq!(decode_split(dec, &both), Ok(want));
}

#[test]
fn fmt3_new_message_after_extended_header_reads_the_timestamp() {
    let ts = 0x0100_0000;
    let mut input = fmt0(7, ts, 3, 8, 1);
    input.extend([1, 2, 3]);
    // A new message on fmt 3: the 4 bytes are always there and are its delta.
    input.push(0xC7);
    input.extend(0x0100_0000u32.to_be_bytes());
    input.extend([4, 5, 6]);
    let want = vec![
        msg(7, ts, 8, 1, &[1, 2, 3]),
        msg(7, 0x0200_0000, 8, 1, &[4, 5, 6]),
    ];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn extended_delta_on_fmt1_repeated_on_fmt3() {
    // FFmpeg repeats the field's value (here a delta) on continuations.
    let p = pattern(200, 2);
    let mut input = fmt0(8, 5, 1, 9, 1);
    input.push(0);
    input.extend(fmt1(8, 0x0100_0000, 200, 9));
    input.extend(&p[..128]);
    input.push(0xC8);
    input.extend(0x0100_0000u32.to_be_bytes());
    input.extend(&p[128..]);
    let want = vec![msg(8, 5, 9, 1, &[0]), msg(8, 0x0100_0005, 9, 1, &p)];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn timestamp_deltas_wrap_at_2_pow_32() {
    let mut input = fmt0(3, 0xFFFF_FFF0, 1, 8, 1);
    input.push(1);
    input.extend(fmt2(3, 0x20));
    input.push(2);
    input.extend(fmt1(3, 0x10, 1, 8));
    input.push(3);
    input.push(0xC3);
    input.push(4);
    let want = vec![
        msg(3, 0xFFFF_FFF0, 8, 1, &[1]),
        msg(3, 0x10, 8, 1, &[2]),
        msg(3, 0x20, 8, 1, &[3]),
        msg(3, 0x30, 8, 1, &[4]),
    ];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk() {
    // A message on stream 3 is half received when the chunk size grows; its continuation and
    // the next message use the new size.
    let a = pattern(300, 4);
    let b = pattern(3000, 6);
    let mut input = fmt0(3, 0, 300, 9, 1);
    input.extend(&a[..128]);
    input.extend(set_chunk_size(4096));
    input.push(0xC3);
    input.extend(&a[128..]);
    input.extend(fmt0(4, 0, 3000, 9, 1));
    input.extend(&b);
    let want = vec![
        msg(2, 0, 1, 0, &4096u32.to_be_bytes()),
        msg(3, 0, 9, 1, &a),
        msg(4, 0, 9, 1, &b),
    ];
    assert_eq!(decode_split(dec, &input), Ok(want));
    let mut d = dec();
    feed(&mut d, &[&input]).unwrap();
    assert_eq!(d.chunk_size(), 4096);
}

#[test]
fn invalid_chunk_sizes() {
    for (payload, err) in [
        (0u32.to_be_bytes().to_vec(), ChunkError::InvalidChunkSize(0)),
        (
            0x8000_0000u32.to_be_bytes().to_vec(),
            ChunkError::InvalidChunkSize(0x8000_0000),
        ),
        (vec![0, 1], ChunkError::InvalidChunkSize(0)),
    ] {
        let mut input = fmt0(2, 0, payload.len() as u32, 1, 0);
        input.extend(&payload);
        assert_eq!(decode_split(dec, &input), Err(err));
    }
    let mut d = dec();
    feed(&mut d, &[&set_chunk_size(MAX_CHUNK_SIZE)]).unwrap();
    assert_eq!(d.chunk_size(), MAX_CHUNK_SIZE);
}

#[test]
fn abort_discards_the_partial_message() {
    let p = pattern(307, 8);
    let mut input = fmt0(4, 1000, 307, 9, 1);
    input.extend(&p[..128]);
    input.extend(fmt0(2, 0, 4, 2, 0));
    input.extend(4u32.to_be_bytes());
    // After the Abort a fmt-3 chunk starts a new message with the previous header.
    input.push(0xC4);
    input.extend(&p[..128]);
    input.push(0xC4);
    input.extend(&p[128..256]);
    input.push(0xC4);
    input.extend(&p[256..]);
    let want = vec![msg(2, 0, 2, 0, &[0, 0, 0, 4]), msg(4, 2000, 9, 1, &p)];
    assert_eq!(decode_split(dec, &input), Ok(want));

    let mut d = dec();
    let abort_end = 12 + 128 + 16;
    feed(&mut d, &[&input[..abort_end]]).unwrap();
    assert_eq!(d.allocated(), 0);
}

#[test]
fn new_header_drops_a_partial_message() {
    let mut input = fmt0(4, 0, 300, 9, 1);
    input.extend(pattern(128, 0));
    input.extend(fmt0(4, 50, 2, 9, 1));
    input.extend([8, 9]);
    assert_eq!(
        decode_split(dec, &input),
        Ok(vec![msg(4, 50, 9, 1, &[8, 9])])
    );
}

#[test]
fn interleaved_chunk_streams() {
    let v = pattern(307, 10);
    let a1 = pattern(32, 11);
    let a2 = pattern(32, 12);
    let mut input = fmt0(4, 1000, 307, 9, 1);
    input.extend(&v[..128]);
    input.extend(fmt0(6, 1000, 32, 8, 1));
    input.extend(&a1);
    input.push(0xC4);
    input.extend(&v[128..256]);
    input.extend(fmt2(6, 23));
    input.extend(&a2);
    input.push(0xC4);
    input.extend(&v[256..]);
    let want = vec![
        msg(6, 1000, 8, 1, &a1),
        msg(6, 1023, 8, 1, &a2),
        msg(4, 1000, 9, 1, &v),
    ];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn too_large_message_is_rejected_before_allocating() {
    let make = || ChunkDecoder::new(1000, 4);
    let header = fmt0(3, 0, 0xFF_FFFF, 9, 1);
    let mut d = make();
    let err = ChunkError::MessageTooLarge {
        length: 0xFF_FFFF,
        limit: 1000,
    };
    assert_eq!(d.decode(&header), Err(err.clone()));
    assert_eq!(d.allocated(), 0);
    // The error is sticky.
    assert_eq!(d.decode(&[]), Err(err.clone()));
    assert_eq!(decode_split(make, &header), Err(err));

    // Exactly at the limit is fine.
    let mut input = fmt0(3, 0, 1000, 9, 1);
    let p = pattern(1000, 0);
    for (i, part) in p.chunks(128).enumerate() {
        if i > 0 {
            input.push(0xC3);
        }
        input.extend(part);
    }
    assert_eq!(decode_split(make, &input), Ok(vec![msg(3, 0, 9, 1, &p)]));
}

#[test]
fn too_many_chunk_streams() {
    let make = || ChunkDecoder::new(MAX, 2);
    let mut input = Vec::new();
    for csid in [3, 4, 3, 5] {
        input.extend(fmt0(csid, 0, 1, 8, 1));
        input.push(0);
    }
    assert_eq!(
        decode_split(make, &input),
        Err(ChunkError::TooManyChunkStreams(2))
    );
}

#[test]
fn chunks_without_a_previous_header() {
    assert_eq!(
        decode_split(dec, &fmt2(3, 1)),
        Err(ChunkError::NoPreviousHeader { csid: 3, fmt: 2 })
    );
    assert_eq!(
        decode_split(dec, &[0xC0, 0x10]),
        Err(ChunkError::NoPreviousHeader { csid: 80, fmt: 3 })
    );
}

#[test]
fn librtmp_ping_on_a_fresh_stream_with_fmt1() {
    // librtmp's ping request, as SRS issue #98 recorded it: fmt 1 on a fresh chunk stream 2.
    let input = [
        0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x04, 0x00, 0x06, 0x00, 0x00, 0x0D, 0x0F,
    ];
    let want = vec![msg(2, 0, 4, 0, &[0x00, 0x06, 0x00, 0x00, 0x0D, 0x0F])];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn zero_length_messages_complete_at_once() {
    let mut input = fmt0(3, 10, 0, 18, 1);
    input.push(0xC3);
    input.extend(fmt2(3, 5));
    input.push(0xC3);
    let want = vec![
        msg(3, 10, 18, 1, &[]),
        msg(3, 20, 18, 1, &[]),
        msg(3, 25, 18, 1, &[]),
        msg(3, 30, 18, 1, &[]),
    ];
    assert_eq!(decode_split(dec, &input), Ok(want));
}

#[test]
fn round_trips_at_several_chunk_sizes() {
    let enc128 = ChunkEncoder::new(DEFAULT_CHUNK_SIZE);
    for cs in [1u32, 128, 4096, 65536] {
        let enc = ChunkEncoder::new(cs);
        for len in [0usize, 1, 127, 128, 129, 70_000] {
            let mut out = BytesMut::new();
            let payload = cs.to_be_bytes();
            let scs_header = MessageHeader {
                timestamp: 0,
                length: 4,
                type_id: 1,
                stream_id: 0,
            };
            enc128.encode(CONTROL_CSID, &scs_header, &payload, &mut out);
            let mut want = vec![msg(2, 0, 1, 0, &payload)];
            let streams = [(3u32, 0u32), (300, 0x0100_0000), (70, 0xFF_FFFF), (3, 40)];
            // Two large messages cover the same cases as four, in half the test time.
            let count = if len > 129 { 2 } else { 4 };
            for (i, &(csid, ts)) in streams.iter().take(count).enumerate() {
                let p = pattern(len, i as u8);
                let header = MessageHeader {
                    timestamp: ts,
                    length: 0,
                    type_id: 9,
                    stream_id: 1,
                };
                enc.encode(csid, &header, &p, &mut out);
                want.push(msg(csid, ts, 9, 1, &p));
            }
            assert_eq!(
                decode_split(dec, &out),
                Ok(want),
                "chunk size {cs}, payload {len}"
            );
        }
    }
}
