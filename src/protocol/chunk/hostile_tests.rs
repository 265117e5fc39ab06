//! Tests of the decoder's bounds against hostile peers: the memory all partial messages may
//! hold together, chunk sizes at the ends of the range, and message types RTMP does not have
//! (what a message sent as one oversized chunk looks like once it is misread as headers).
use super::*;

/// A fmt-0 chunk header on `csid` (2..=63) for a message of `length` bytes.
fn fmt0(csid: u8, length: u32, type_id: u8) -> Vec<u8> {
    let mut h = vec![csid];
    h.extend_from_slice(&[0, 0, 0]);
    h.extend_from_slice(&length.to_be_bytes()[1..]);
    h.push(type_id);
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

fn decode_all(d: &mut ChunkDecoder, mut input: &[u8]) -> Result<Vec<RawMessage>, ChunkError> {
    let mut out = Vec::new();
    loop {
        let (used, msg) = d.decode(input)?;
        input = &input[used..];
        match msg {
            Some(m) => out.push(m),
            None => return Ok(out),
        }
    }
}

#[test]
fn partial_messages_are_bounded_together() {
    let mut d = ChunkDecoder::new(1 << 20, 64).with_reassembly_limit(3 << 20);
    let mut input = Vec::new();
    // Three partial maximum-size messages fit; the fourth would pass the limit.
    for csid in 3..7 {
        input.extend(fmt0(csid, 1 << 20, 9));
        // One whole first chunk (the default chunk size), then the next header.
        input.extend([0xAA; 128]);
    }
    let err = decode_all(&mut d, &input).unwrap_err();
    assert_eq!(
        err,
        ChunkError::ReassemblyTooLarge {
            wanted: 4 << 20,
            limit: 3 << 20
        }
    );
    assert!(d.reassembly_bytes() <= 3 << 20);
}

#[test]
fn finished_and_replaced_messages_give_their_bytes_back() {
    let mut d = ChunkDecoder::new(1000, 8).with_reassembly_limit(1000);
    for _ in 0..20 {
        // A partial message, replaced by a new one on the same chunk stream, then completed.
        let mut input = fmt0(3, 1000, 9);
        input.extend([1; 128]);
        input.extend(fmt0(3, 10, 9));
        input.extend([2; 10]);
        let msgs = decode_all(&mut d, &input).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(d.reassembly_bytes(), 0);
    }
}

#[test]
fn chunk_size_zero_is_an_error_and_the_largest_is_accepted() {
    let set = |size: u32| {
        let mut input = fmt0(2, 4, 1);
        input.extend(size.to_be_bytes());
        input
    };
    let mut d = ChunkDecoder::new(1 << 20, 8);
    assert_eq!(
        decode_all(&mut d, &set(0)),
        Err(ChunkError::InvalidChunkSize(0))
    );
    let mut d = ChunkDecoder::new(1 << 20, 8);
    let mut input = set(0x7FFF_FFFF);
    // With the largest chunk size a message comes in one chunk, however long.
    input.extend(fmt0(3, 5000, 9));
    input.extend([7; 5000]);
    let msgs = decode_all(&mut d, &input).unwrap();
    assert_eq!(d.chunk_size(), 0x7FFF_FFFF);
    assert_eq!(msgs.last().map(|m| m.payload.len()), Some(5000));
    let mut d = ChunkDecoder::new(1 << 20, 8);
    assert_eq!(
        decode_all(&mut d, &set(0x8000_0000)),
        Err(ChunkError::InvalidChunkSize(0x8000_0000))
    );
}

#[test]
fn message_types_rtmp_lacks_fail_at_once() {
    for type_id in [0, 23, 0x61, 0xFF] {
        let mut d = ChunkDecoder::new(1 << 20, 8);
        assert_eq!(
            decode_all(&mut d, &fmt0(3, 100, type_id)),
            Err(ChunkError::UnknownMessageType { csid: 3, type_id })
        );
    }
}

#[test]
fn a_message_sent_as_one_oversized_chunk_fails_instead_of_waiting() {
    // A connect whose AMF nests objects 1,000 deep, written as one chunk while the chunk
    // size is still 128: past the first 128 bytes the decoder reads payload as headers.
    let mut payload = vec![0x02, 0, 7];
    payload.extend(b"connect");
    payload.extend([0; 9]);
    for _ in 0..1000 {
        payload.extend([0x03, 0x00, 0x01, b'a']);
    }
    let mut input = fmt0(3, payload.len() as u32, 20);
    input.extend(&payload);
    let mut d = ChunkDecoder::new(1 << 24, 64);
    assert!(matches!(
        decode_all(&mut d, &input),
        Err(ChunkError::UnknownMessageType { .. })
    ));
}
