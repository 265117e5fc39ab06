//! The latency stamp: an H.264 SEI NAL unit (payload type 5, user_data_unregistered) carrying
//! the project's UUID, the frame's scheduled send time and its sequence number.
//!
//! Layout of the SEI RBSP (before emulation prevention):
//! `05 20 | UUID (16) | scheduled send time, CLOCK_MONOTONIC ns, u64 BE | sequence, u64 BE | 80`.
//! The UUID is [`STAMP_UUID`] = 6272df18-aaf0-46ac-957f-d616e4f4235f (random, fixed).
//! Decoders skip user data they do not know, and servers relay NAL units untouched.
//!
//! [`write_stamp_nal`] builds the NAL unit (publisher side); [`find_stamp`] finds it in an FLV
//! AVC video payload (player side) without allocating. No clock, no I/O.
use crate::h264::bits::{escape_into, unescape_prefix};
use crate::h264::{NalIter, FLV_AVC_HEADER_LEN, NAL_SEI};

/// 6272df18-aaf0-46ac-957f-d616e4f4235f
pub const STAMP_UUID: [u8; 16] = [
    0x62, 0x72, 0xdf, 0x18, 0xaa, 0xf0, 0x46, 0xac, 0x95, 0x7f, 0xd6, 0x16, 0xe4, 0xf4, 0x23, 0x5f,
];

const PAYLOAD_TYPE_USER_DATA_UNREGISTERED: u8 = 5;
/// UUID + time + sequence.
const PAYLOAD_LEN: usize = 16 + 8 + 8;
/// Unescaped bytes we need to read: payload type, payload size, payload.
const STAMP_RBSP_LEN: usize = 2 + PAYLOAD_LEN;
/// Largest escaped stamp NAL: header, RBSP with an emulation byte per two input bytes, trailer.
#[cfg(test)]
pub const MAX_STAMP_NAL_LEN: usize = 1 + (STAMP_RBSP_LEN + 1) * 3 / 2 + 1;

/// What a player reads back from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Scheduled send time, CLOCK_MONOTONIC ns.
    pub scheduled_ns: u64,
    pub sequence: u64,
}

/// Writes the stamp SEI NAL unit (header byte and escaped RBSP, no length prefix) into `out`
/// (cleared first).
pub fn write_stamp_nal(stamp: Stamp, out: &mut Vec<u8>) {
    let mut rbsp = [0u8; STAMP_RBSP_LEN + 1];
    rbsp[0] = PAYLOAD_TYPE_USER_DATA_UNREGISTERED;
    rbsp[1] = PAYLOAD_LEN as u8;
    rbsp[2..18].copy_from_slice(&STAMP_UUID);
    rbsp[18..26].copy_from_slice(&stamp.scheduled_ns.to_be_bytes());
    rbsp[26..34].copy_from_slice(&stamp.sequence.to_be_bytes());
    rbsp[34] = 0x80; // rbsp_trailing_bits
    out.clear();
    out.push(NAL_SEI);
    escape_into(&rbsp, out);
}

/// Reads a stamp from one NAL unit (header byte included), if it is our SEI.
pub fn read_stamp_nal(nal: &[u8]) -> Option<Stamp> {
    let (&header, body) = nal.split_first()?;
    if header & 0x1f != NAL_SEI {
        return None;
    }
    let mut rbsp = [0u8; STAMP_RBSP_LEN];
    if unescape_prefix(body, &mut rbsp) < STAMP_RBSP_LEN {
        return None;
    }
    if rbsp[0] != PAYLOAD_TYPE_USER_DATA_UNREGISTERED
        || usize::from(rbsp[1]) < PAYLOAD_LEN
        || rbsp[2..18] != STAMP_UUID
    {
        return None;
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rbsp[i..i + 8]);
        u64::from_be_bytes(b)
    };
    Some(Stamp {
        scheduled_ns: u64_at(18),
        sequence: u64_at(26),
    })
}

/// Finds the stamp in an FLV AVC video payload (VideoTagHeader included) whose NAL units
/// have `length_size`-byte prefixes. We put it first, so this normally reads one NAL unit.
pub fn find_stamp(video_payload: &[u8], length_size: usize) -> Option<Stamp> {
    let data = video_payload.get(FLV_AVC_HEADER_LEN..)?;
    NalIter::new(data, length_size).find_map(read_stamp_nal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::{push_nal, SyntheticVideo};

    #[test]
    fn round_trip_with_emulation_prevention() {
        // Values full of zero pairs and small bytes force emulation prevention.
        let cases = [
            Stamp {
                scheduled_ns: 0,
                sequence: 0,
            },
            Stamp {
                scheduled_ns: 1,
                sequence: 3,
            },
            Stamp {
                scheduled_ns: 0x0000_0100_0000_0200,
                sequence: 0x0000_0003_0000_0001,
            },
            Stamp {
                scheduled_ns: u64::MAX,
                sequence: u64::MAX,
            },
            Stamp {
                scheduled_ns: 1_234_567_890_123,
                sequence: 42,
            },
        ];
        let mut nal = Vec::new();
        for stamp in cases {
            write_stamp_nal(stamp, &mut nal);
            assert!(nal.len() <= MAX_STAMP_NAL_LEN);
            assert!(!nal.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] < 3));
            assert_eq!(read_stamp_nal(&nal), Some(stamp));
        }
        // Zero time and sequence: 16 zero bytes need emulation prevention bytes.
        write_stamp_nal(
            Stamp {
                scheduled_ns: 0,
                sequence: 0,
            },
            &mut nal,
        );
        assert!(nal.len() > 1 + STAMP_RBSP_LEN + 1);
        assert_eq!(&nal[..4], &[0x06, 0x05, 0x20, 0x62]);
        assert_eq!(nal.last(), Some(&0x80));
    }

    #[test]
    fn rejects_other_sei_and_short_input() {
        let mut nal = Vec::new();
        write_stamp_nal(
            Stamp {
                scheduled_ns: 7,
                sequence: 8,
            },
            &mut nal,
        );
        let mut other = nal.clone();
        other[5] ^= 0xff; // UUID byte
        assert_eq!(read_stamp_nal(&other), None);
        let mut not_sei = nal.clone();
        not_sei[0] = 0x65;
        assert_eq!(read_stamp_nal(&not_sei), None);
        for cut in 0..nal.len() - 1 {
            assert_eq!(read_stamp_nal(&nal[..cut]), None, "cut at {cut}");
        }
        // Only the trailing bits may be missing.
        let stamp = Some(Stamp {
            scheduled_ns: 7,
            sequence: 8,
        });
        assert_eq!(read_stamp_nal(&nal[..nal.len() - 1]), stamp);
    }

    #[test]
    fn found_in_a_frame() {
        let stamp = Stamp {
            scheduled_ns: 99_000_000_000,
            sequence: 12,
        };
        let mut nal = Vec::new();
        write_stamp_nal(stamp, &mut nal);
        let mut video = SyntheticVideo::new(64, 64);
        let mut frame = Vec::new();
        video.frame(false, &nal, 500, &mut frame);
        assert_eq!(find_stamp(&frame, 4), Some(stamp));
        // Behind another NAL unit, too (FLV sources may have their own SEI first).
        let mut late = frame[..5].to_vec();
        push_nal(&mut late, &[0x06, 0x05, 0x01, 0x00, 0x80]);
        late.extend_from_slice(&frame[5..]);
        assert_eq!(find_stamp(&late, 4), Some(stamp));
        // Without a stamp, or with garbage, nothing.
        video.frame(false, &[], 100, &mut frame);
        assert_eq!(find_stamp(&frame, 4), None);
        assert_eq!(
            find_stamp(&[0x27, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 6], 4),
            None
        );
        assert_eq!(find_stamp(&[0x27], 4), None);
    }
}
