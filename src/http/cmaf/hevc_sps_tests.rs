use super::*;
use crate::http::cmaf::fixtures::{X265_SPS_1920X1088_CROPPED, X265_SPS_320X240};

/// libx265, testsrc2 1920x1080 with the default 8x8 minimum CU: coded as 1080 lines directly.
const SPS_1920X1080: &[u8] = &[
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80,
    0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0c, 0x84,
];
/// 1280x720 with `temporal-layers=1`: sps_max_sub_layers_minus1 = 1, so profile_tier_level
/// carries the sub-layer flags and seven reserved 2-bit fillers.
const SPS_1280X720_SUB_LAYERS: &[u8] = &[
    0x42, 0x01, 0x02, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x5d, 0x00, 0x00, 0xa0, 0x02, 0x80, 0x80, 0x2d, 0x16, 0x59, 0x11, 0x88, 0x8d, 0x24, 0x99,
    0x5e, 0x02, 0xd0, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0x90, 0x80,
];
/// 642x362 (coded 648x368) in 4:2:2 (offsets right 3, bottom 6: SubWidthC 2, SubHeightC 1),
/// 4:4:4 (right 6, bottom 6, separate_colour_plane_flag present) and 4:0:0 (right 6, bottom 6).
const SPS_642X362_422: &[u8] = &[
    0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x3f, 0xb0, 0x05, 0x12, 0x01, 0x71, 0xc9, 0x3e, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02,
    0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
];
const SPS_642X362_444: &[u8] = &[
    0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x3f, 0x90, 0x00, 0xa2, 0x40, 0x2e, 0x39, 0xe7, 0xcb, 0x2b, 0x34, 0x92, 0x65, 0x78, 0x0b, 0x40,
    0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x06, 0x42,
];
const SPS_642X362_400: &[u8] = &[
    0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9f, 0xc8, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x3f, 0xc0, 0x14, 0x48, 0x05, 0xc7, 0x3c, 0xf9, 0x65, 0x66, 0x92, 0x4c, 0xaf, 0x01, 0x6c, 0x08,
    0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x40,
];

#[test]
fn libx265_sps_sizes() {
    assert_eq!(hevc_dimensions(X265_SPS_320X240), Some((320, 240)));
    assert_eq!(hevc_dimensions(SPS_1920X1080), Some((1920, 1080)));
    assert_eq!(
        hevc_dimensions(X265_SPS_1920X1088_CROPPED),
        Some((1920, 1080))
    );
    assert_eq!(hevc_dimensions(SPS_1280X720_SUB_LAYERS), Some((1280, 720)));
}

#[test]
fn conformance_window_scales_with_chroma_format() {
    assert_eq!(hevc_dimensions(SPS_642X362_422), Some((642, 362)));
    assert_eq!(hevc_dimensions(SPS_642X362_444), Some((642, 362)));
    assert_eq!(hevc_dimensions(SPS_642X362_400), Some((642, 362)));
}

#[test]
fn truncated_sps_is_none() {
    for sps in [
        X265_SPS_320X240,
        SPS_1920X1080,
        X265_SPS_1920X1088_CROPPED,
        SPS_1280X720_SUB_LAYERS,
        SPS_642X362_422,
    ] {
        let full = hevc_dimensions(sps);
        assert!(full.is_some());
        // A prefix either ends before the conformance window (None) or holds all of it (the
        // full answer); never a wrong size, never a panic.
        let first = (0..sps.len())
            .find(|&end| hevc_dimensions(&sps[..end]).is_some())
            .expect("some prefix holds the size fields");
        assert!(first > 16, "size from {first} bytes");
        for end in 0..sps.len() {
            let want = if end < first { None } else { full };
            assert_eq!(hevc_dimensions(&sps[..end]), want, "prefix {end}");
        }
    }
}

/// Header, VPS id 0 / one sub-layer, an all-zero general profile_tier_level, then the
/// fields from sps_seq_parameter_set_id on as '0'/'1' (spaces ignored), zero-padded.
fn sps_with(fields: &str) -> Vec<u8> {
    let mut sps = vec![0x42, 0x01, 0x01];
    sps.extend_from_slice(&[0; 12]);
    let bits: Vec<u8> = fields
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b - b'0')
        .collect();
    for chunk in bits.chunks(8) {
        let byte = chunk.iter().fold(0u8, |acc, b| acc << 1 | b);
        sps.push(byte << (8 - chunk.len()));
    }
    sps
}

#[test]
fn malformed_sps_is_none() {
    // sps id 0, 4:2:0, 2x2, no window: the smallest even picture, read as it says.
    assert_eq!(hevc_dimensions(&sps_with("1 010 011 011 0")), Some((2, 2)));
    // Width 0.
    assert_eq!(hevc_dimensions(&sps_with("1 010 1 011 0")), None);
    // A conformance window (left 1 chroma sample = 2 luma) as wide as or wider than the picture.
    assert_eq!(
        hevc_dimensions(&sps_with("1 010 011 011 1 010 1 1 1")),
        None
    );
    assert_eq!(
        hevc_dimensions(&sps_with("1 010 010 010 1 010 1 1 1")),
        None
    );
    // chroma_format_idc 4, sps_seq_parameter_set_id 16.
    assert_eq!(hevc_dimensions(&sps_with("1 00101 011 011 0")), None);
    assert_eq!(hevc_dimensions(&sps_with("000010001 010 011 011 0")), None);
    // Exp-Golomb with more than 31 leading zeros.
    let long = format!("1 010 {} 1 011 0", "0".repeat(32));
    assert_eq!(hevc_dimensions(&sps_with(&long)), None);
    // 65535 wide fits the sample entry, 65536 does not.
    let widest = format!("1 010 {}1{} 011 0", "0".repeat(16), "0".repeat(16));
    assert_eq!(hevc_dimensions(&sps_with(&widest)), Some((65535, 2)));
    let too_wide = format!("1 010 {}1{}1 011 0", "0".repeat(16), "0".repeat(15));
    assert_eq!(hevc_dimensions(&sps_with(&too_wide)), None);
    // Not an SPS (a VPS header, a PPS header).
    let mut other = X265_SPS_320X240.to_vec();
    other[0] = 0x40;
    assert_eq!(hevc_dimensions(&other), None);
    other[0] = 0x44;
    assert_eq!(hevc_dimensions(&other), None);
    // sps_max_sub_layers_minus1 = 7 is out of range.
    let mut seven = X265_SPS_320X240.to_vec();
    seven[2] = 0x0f;
    assert_eq!(hevc_dimensions(&seven), None);
    // Six sub-layers, every profile/level present flag set, then far too short for them.
    let mut sub = vec![0x42, 0x01, 0x0d];
    sub.extend_from_slice(&[0; 12]);
    sub.extend_from_slice(&[0xff; 40]);
    assert_eq!(hevc_dimensions(&sub), None);
    for a in 0..=255u8 {
        let mut sps = X265_SPS_320X240.to_vec();
        sps[17] = a;
        sps[19] ^= a;
        sps[21] = a.rotate_left(3);
        let _ = hevc_dimensions(&sps);
    }
}
