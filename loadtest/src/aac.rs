//! Synthetic AAC-LC audio for the synthetic source: the AudioSpecificConfig for 44.1 kHz
//! stereo and raw (ADTS-less) silent frames padded to a chosen size with fill elements, so
//! the audio bitrate is what a real 128 kbps encoder would send and every frame still decodes.
//!
//! A frame is one raw_data_block: a channel pair element with max_sfb = 0 (no spectral data:
//! silence), fill elements (EXT_FILL) to reach the size, then ID_END and byte alignment.
//! Pure byte building: no clock, no I/O.
use crate::h264::bits::BitWriter;

pub const SAMPLE_RATE: u32 = 44_100;
pub const SAMPLES_PER_FRAME: u32 = 1024;
/// FLV AudioTagHeader byte: AAC, 44 kHz, 16-bit, stereo.
pub const FLV_AAC_HEADER: u8 = 0xaf;
pub const AAC_SEQUENCE_HEADER: u8 = 0;
pub const AAC_RAW: u8 = 1;
/// AudioSpecificConfig: AAC-LC (2), 44.1 kHz (index 4), 2 channels.
pub const AUDIO_SPECIFIC_CONFIG: [u8; 2] = [0x12, 0x10];
/// Smallest frame [`silent_frame`] can produce.
pub const MIN_FRAME_LEN: usize = 6;

const ID_CPE: u64 = 1;
const ID_FIL: u64 = 6;
const ID_END: u64 = 7;
/// Most payload bytes of one fill element: count 15 plus an escape count of 255, minus one.
const MAX_FILL: usize = 14 + 255;

/// The FLV payload of the AAC sequence header.
pub fn sequence_header() -> [u8; 4] {
    [
        FLV_AAC_HEADER,
        AAC_SEQUENCE_HEADER,
        AUDIO_SPECIFIC_CONFIG[0],
        AUDIO_SPECIFIC_CONFIG[1],
    ]
}

/// A silent raw AAC-LC stereo frame of exactly `len` bytes (at least [`MIN_FRAME_LEN`]).
pub fn silent_frame(len: usize) -> Vec<u8> {
    let len = len.max(MIN_FRAME_LEN);
    let mut w = BitWriter::new();
    w.bits(3, ID_CPE);
    w.bits(4, 0); // element_instance_tag
    w.bit(true); // common_window
                 // ics_info: reserved, ONLY_LONG_SEQUENCE, sine window, max_sfb 0, no prediction.
    w.bit(false);
    w.bits(2, 0);
    w.bit(false);
    w.bits(6, 0);
    w.bit(false);
    w.bits(2, 0); // ms_mask_present
    for _ in 0..2 {
        w.bits(8, 100); // global_gain: irrelevant without spectral data
        w.bit(false); // pulse_data_present
        w.bit(false); // tns_data_present
        w.bit(false); // gain_control_data_present
    }
    // What is left for fill elements once ID_END is accounted for; byte alignment absorbs
    // the last 0..=6 bits.
    let mut left = (len * 8).saturating_sub(w.bit_len() + 3);
    while left >= 7 {
        let count = fill_count_for(left);
        w.bits(3, ID_FIL);
        if count >= 15 {
            w.bits(4, 15);
            w.bits(8, (count - 14) as u64);
        } else {
            w.bits(4, count as u64);
        }
        if count > 0 {
            w.bits(4, 0); // extension_type EXT_FILL
            w.bits(4, 0); // fill_nibble
            for _ in 1..count {
                w.bits(8, 0xa5); // fill_byte
            }
        }
        left -= fill_cost(count);
    }
    w.bits(3, ID_END);
    w.align_zero();
    w.into_bytes()
}

/// Bits taken by a fill element with `count` payload bytes.
fn fill_cost(count: usize) -> usize {
    if count >= 15 {
        15 + 8 * count
    } else {
        7 + 8 * count
    }
}

/// The largest fill count whose element fits in `bits` (at least 7).
fn fill_count_for(bits: usize) -> usize {
    if bits >= fill_cost(15) {
        ((bits - 15) / 8).min(MAX_FILL)
    } else {
        ((bits - 7) / 8).min(14)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sizes() {
        for len in MIN_FRAME_LEN..2000 {
            let frame = silent_frame(len);
            assert_eq!(frame.len(), len, "len {len}");
            // Starts with a CPE, tag 0, common window.
            assert_eq!(frame[0], 0b0010_0001);
        }
        assert_eq!(silent_frame(0).len(), MIN_FRAME_LEN);
    }

    #[test]
    fn minimal_frame_bits() {
        // CPE(3) tag(4) cw(1) ics_info(11) ms(2) 2 x (gain 8 + 3 flags) END(3) = 46 bits.
        let frame = silent_frame(MIN_FRAME_LEN);
        assert_eq!(frame, vec![0x21, 0x00, 0x03, 0x20, 0x64, 0x1c]);
    }
}
