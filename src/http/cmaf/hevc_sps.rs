//! The picture size of an H.265 sequence parameter set, for the `tkhd` and `hvc1` sample entry
//! (players such as Safari take the presentation size from there, not from the bitstream).
//!
//! [`hevc_dimensions`] removes emulation prevention bytes and walks the SPS fields up to the
//! conformance window (ITU-T H.265 7.3.2.2.1, profile_tier_level 7.3.3). Every read is
//! bounded: a short, malformed or out-of-range SPS yields None (the sample entry then says
//! 0x0, which decoders ignore), never a panic.

use super::sps::{unescape, Bits};

/// NAL unit type of a sequence parameter set.
pub const SPS_NUT: u8 = 33;

/// general_profile_space .. general_level_idc: 2+1+5 + 32 + 48 + 8 bits.
const PROFILE_TIER_LEVEL_BITS: usize = 96;

/// Cropped width and height in pixels of the SPS NAL unit `nal` (two-byte NAL header
/// included).
pub fn hevc_dimensions(nal: &[u8]) -> Option<(u16, u16)> {
    let header = nal.first()?;
    if (header >> 1) & 0x3f != SPS_NUT {
        return None;
    }
    let rbsp = unescape(nal.get(2..)?);
    let mut r = Bits::new(&rbsp);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    if max_sub_layers_minus1 > 6 {
        return None; // 7 is out of range (at most 7 temporal sub-layers)
    }
    r.bit()?; // sps_temporal_id_nesting_flag
    skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
    if r.ue()? > 15 {
        return None; // sps_seq_parameter_set_id
    }
    let chroma_format = r.ue()?;
    if chroma_format > 3 {
        return None;
    }
    // SubWidthC / SubHeightC (table 6-1); with separate colour planes 4:4:4 stays 1x1.
    let (sub_w, sub_h) = match chroma_format {
        1 => (2, 2),
        2 => (2, 1),
        3 => {
            r.bit()?; // separate_colour_plane_flag
            (1, 1)
        }
        _ => (1, 1),
    };
    let mut width = u64::from(r.ue()?);
    let mut height = u64::from(r.ue()?);
    if r.bit()? {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let cut_x = sub_w * (u64::from(left) + u64::from(right));
        let cut_y = sub_h * (u64::from(top) + u64::from(bottom));
        width = width.checked_sub(cut_x)?;
        height = height.checked_sub(cut_y)?;
    }
    if width == 0 || height == 0 {
        return None;
    }
    Some((u16::try_from(width).ok()?, u16::try_from(height).ok()?))
}

/// profile_tier_level(profilePresentFlag = 1, maxNumSubLayersMinus1): the general part, the
/// per-sub-layer present flags, the reserved 2-bit fillers up to eight entries (only when there
/// are sub-layers), then each present sub-layer profile (88 bits) and level (8 bits).
fn skip_profile_tier_level(r: &mut Bits<'_>, max_sub_layers_minus1: usize) -> Option<()> {
    r.skip(PROFILE_TIER_LEVEL_BITS)?;
    let mut present = [(false, false); 6];
    for flags in present.iter_mut().take(max_sub_layers_minus1) {
        *flags = (r.bit()?, r.bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?; // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    Some(())
}

#[cfg(test)]
#[path = "hevc_sps_tests.rs"]
mod tests;
