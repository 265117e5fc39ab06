//! The picture size of an H.264 sequence parameter set, for the `tkhd` and `avc1` sample entry
//! (players such as Safari take the presentation size from there, not from the bitstream).
//!
//! [`avc_dimensions`] removes emulation prevention bytes and walks the SPS fields up to the
//! frame cropping (ITU-T H.264 7.3.2.1.1). Every read is bounded: a short or malformed SPS
//! yields None (the sample entry then says 0x0, which decoders ignore), never a panic.

/// Width and height in pixels of the SPS NAL unit `nal` (NAL header byte included).
pub fn avc_dimensions(nal: &[u8]) -> Option<(u16, u16)> {
    let rbsp = unescape(nal.get(1..)?);
    let mut r = Bits::new(&rbsp);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    let mut separate_planes = false;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            separate_planes = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let cycle = r.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_allowed
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field
    }
    r.bit()?; // direct_8x8_inference
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let mut width = width_mbs * 16;
    let mut height = height_units * 16 * field_factor;
    if r.bit()? {
        let (crop_x, crop_y) = match (chroma_format, separate_planes) {
            (0, _) | (3, true) => (1, field_factor),
            (1, _) => (2, 2 * field_factor),
            (2, _) => (2, field_factor),
            _ => (1, field_factor),
        };
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let cut_x = crop_x * (u64::from(left) + u64::from(right));
        let cut_y = crop_y * (u64::from(top) + u64::from(bottom));
        width = width.checked_sub(cut_x)?;
        height = height.checked_sub(cut_y)?;
    }
    Some((u16::try_from(width).ok()?, u16::try_from(height).ok()?))
}

fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + i64::from(r.se()?) + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// The RBSP: 0x000003 becomes 0x0000.
pub(super) fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// An MSB-first bit reader over an RBSP; every read past the end is None.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Skips `n` bits, None (position unchanged) when fewer remain.
    pub(super) fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        if end > self.data.len().checked_mul(8)? {
            return None;
        }
        self.pos = end;
        Some(())
    }

    pub(super) fn bit(&mut self) -> Option<bool> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    pub(super) fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some(acc << 1 | u32::from(self.bit()?)))
    }

    /// Unsigned Exp-Golomb; at most 31 leading zeros (a 32-bit value).
    pub(super) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        ((1u64 << zeros) - 1 + u64::from(rest)).try_into().ok()
    }

    pub(super) fn se(&mut self) -> Option<i32> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::cmaf::fixtures::AVCC;

    #[test]
    fn libx264_sps_sizes() {
        // 1280x720 High profile (from the fixtures' avcC: SPS at bytes 8..34).
        assert_eq!(avc_dimensions(&AVCC[8..34]), Some((1280, 720)));
        // 320x240 High 4:2:0 as FFmpeg's libx264 writes it for testsrc2 (frame cropping off).
        let sps = [
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
        ];
        assert_eq!(avc_dimensions(&sps), Some((320, 240)));
    }

    #[test]
    fn short_or_malformed_sps_is_none() {
        let sps = &AVCC[8..34];
        for end in 0..sps.len() {
            // The size fields end within the first 10 bytes: shorter prefixes cannot have it.
            let got = avc_dimensions(&sps[..end]);
            assert!(got.is_none() || end >= 10, "prefix {end}: {got:?}");
        }
        assert_eq!(avc_dimensions(&[0x67, 0x64, 0, 0x1f, 0, 0, 0, 0, 0]), None);
        for a in 0..=255u8 {
            let _ = avc_dimensions(&[0x67, 0x64, 0, 0x1f, a, a ^ 0x5a, 0xff, a, 0, 0, 3, 1]);
        }
    }
}
