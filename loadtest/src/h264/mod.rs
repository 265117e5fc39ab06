//! A tiny but valid H.264 stream for the synthetic source: Constrained Baseline SPS/PPS, IDR
//! pictures whose macroblocks are all Intra 16x16 DC-predicted with no residual (a flat grey
//! picture every decoder reconstructs exactly), P pictures made of P_Skip macroblocks only, and
//! filler data NAL units that pad frames to the size the bitrate asks for.
//!
//! Output is AVC (length-prefixed) form, wrapped in the FLV VideoTagHeader that RTMP carries.
//! Call order: [`SyntheticVideo::new`], [`SyntheticVideo::sequence_header`] once, then
//! [`SyntheticVideo::frame`] per frame. Pure byte building: no clock, no I/O.
pub mod bits;

use bits::{escape_into, BitWriter};

pub const NAL_SLICE: u8 = 1;
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_FILLER: u8 = 12;

/// Bytes of the FLV AVC VideoTagHeader: frame type/codec, AVCPacketType, composition time.
pub const FLV_AVC_HEADER_LEN: usize = 5;
/// NAL length prefix size we write (lengthSizeMinusOne = 3).
pub const NAL_LENGTH_SIZE: usize = 4;

const PROFILE_BASELINE: u8 = 66;
/// constraint_set0 and constraint_set1: Constrained Baseline.
const CONSTRAINTS: u8 = 0xc0;
const LEVEL_3_0: u8 = 30;
/// frame_num is coded on 16 bits so it wraps rarely (legal either way: no gaps).
const LOG2_MAX_FRAME_NUM: u32 = 16;
const SLICE_TYPE_P_ALL: u32 = 5;
const SLICE_TYPE_I_ALL: u32 = 7;
/// I_16x16 with prediction mode 2 (DC), chroma CBP 0, luma CBP 0.
const MB_TYPE_I16X16_DC_NO_RESIDUAL: u32 = 3;

/// Frame types of the FLV VideoTagHeader, AVC codec id 7.
const FLV_KEY_AVC: u8 = 0x17;
const FLV_INTER_AVC: u8 = 0x27;
const AVC_SEQUENCE_HEADER: u8 = 0;
const AVC_NALU: u8 = 1;

/// Builds the synthetic H.264 stream of `width` x `height` pixels (multiples of 16).
#[derive(Debug, Clone)]
pub struct SyntheticVideo {
    width_mbs: u32,
    height_mbs: u32,
    sps: Vec<u8>,
    pps: Vec<u8>,
    /// Next idr_pic_id; consecutive IDR pictures must differ.
    idr_pic_id: u32,
    frame_num: u32,
    scratch: Vec<u8>,
}

impl SyntheticVideo {
    pub fn new(width: u32, height: u32) -> Self {
        let (width_mbs, height_mbs) = ((width / 16).max(1), (height / 16).max(1));
        SyntheticVideo {
            width_mbs,
            height_mbs,
            sps: nal(3, NAL_SPS, &sps_rbsp(width_mbs, height_mbs)),
            pps: nal(3, NAL_PPS, &pps_rbsp()),
            idr_pic_id: 0,
            frame_num: 0,
            scratch: Vec::new(),
        }
    }

    pub fn width(&self) -> u32 {
        self.width_mbs * 16
    }

    pub fn height(&self) -> u32 {
        self.height_mbs * 16
    }

    #[cfg(test)]
    pub fn sps(&self) -> &[u8] {
        &self.sps
    }

    #[cfg(test)]
    pub fn pps(&self) -> &[u8] {
        &self.pps
    }

    fn mb_count(&self) -> u32 {
        self.width_mbs * self.height_mbs
    }

    /// The FLV payload of the AVC sequence header (AVCDecoderConfigurationRecord).
    pub fn sequence_header(&self) -> Vec<u8> {
        let mut out = vec![FLV_KEY_AVC, AVC_SEQUENCE_HEADER, 0, 0, 0];
        out.extend_from_slice(&[1, PROFILE_BASELINE, CONSTRAINTS, LEVEL_3_0]);
        // 6 reserved bits set, lengthSizeMinusOne = 3; 3 reserved bits set, one SPS.
        out.extend_from_slice(&[0xfc | (NAL_LENGTH_SIZE as u8 - 1), 0xe1]);
        out.extend_from_slice(&(self.sps.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.sps);
        out.push(1);
        out.extend_from_slice(&(self.pps.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.pps);
        out
    }

    /// Appends one frame's FLV payload to `out` (cleared first): the VideoTagHeader, then
    /// `prefix_nal` (the latency SEI, already escaped; may be empty), the slice, and filler
    /// so that the payload is at least `target_len` bytes when there is room for a filler NAL.
    pub fn frame(
        &mut self,
        keyframe: bool,
        prefix_nal: &[u8],
        target_len: usize,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        out.extend_from_slice(&[
            if keyframe { FLV_KEY_AVC } else { FLV_INTER_AVC },
            AVC_NALU,
            0,
            0,
            0,
        ]);
        if !prefix_nal.is_empty() {
            push_nal(out, prefix_nal);
        }
        self.scratch.clear();
        if keyframe {
            self.frame_num = 0;
            let rbsp = idr_slice_rbsp(self.idr_pic_id, self.mb_count());
            self.idr_pic_id = (self.idr_pic_id + 1) % 65_536;
            self.scratch.push(nal_header(3, NAL_IDR));
            escape_into(&rbsp, &mut self.scratch);
        } else {
            self.frame_num = (self.frame_num + 1) % (1 << LOG2_MAX_FRAME_NUM);
            let rbsp = p_skip_slice_rbsp(self.frame_num, self.mb_count());
            self.scratch.push(nal_header(2, NAL_SLICE));
            escape_into(&rbsp, &mut self.scratch);
        }
        push_nal(out, &self.scratch);
        push_filler(out, target_len);
    }
}

fn nal_header(ref_idc: u8, nal_type: u8) -> u8 {
    (ref_idc << 5) | nal_type
}

/// A NAL unit (header byte + escaped RBSP), without length prefix.
pub fn nal(ref_idc: u8, nal_type: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = vec![nal_header(ref_idc, nal_type)];
    escape_into(rbsp, &mut out);
    out
}

/// Appends a NAL unit with its 4-byte length prefix.
pub fn push_nal(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    out.extend_from_slice(nal);
}

/// Pads `out` to `target_len` with one filler data NAL (0xFF bytes and the trailing bits),
/// if the gap fits one (a filler NAL takes at least 6 bytes with its prefix).
pub fn push_filler(out: &mut Vec<u8>, target_len: usize) {
    let gap = target_len.saturating_sub(out.len());
    const OVERHEAD: usize = NAL_LENGTH_SIZE + 2;
    if gap < OVERHEAD {
        return;
    }
    let ff = gap - OVERHEAD;
    out.extend_from_slice(&((ff + 2) as u32).to_be_bytes());
    out.push(nal_header(0, NAL_FILLER));
    out.resize(out.len() + ff, 0xff);
    out.push(0x80);
}

fn sps_rbsp(width_mbs: u32, height_mbs: u32) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.bits(8, u64::from(PROFILE_BASELINE));
    w.bits(8, u64::from(CONSTRAINTS));
    w.bits(8, u64::from(LEVEL_3_0));
    w.ue(0); // seq_parameter_set_id
    w.ue(LOG2_MAX_FRAME_NUM - 4);
    w.ue(2); // pic_order_cnt_type 2: output order = decoding order, nothing to code
    w.ue(1); // max_num_ref_frames
    w.bit(false); // gaps_in_frame_num_value_allowed_flag
    w.ue(width_mbs - 1);
    w.ue(height_mbs - 1);
    w.bit(true); // frame_mbs_only_flag
    w.bit(true); // direct_8x8_inference_flag
    w.bit(false); // frame_cropping_flag
    w.bit(false); // vui_parameters_present_flag
    w.trailing_bits();
    w.into_bytes()
}

fn pps_rbsp() -> Vec<u8> {
    let mut w = BitWriter::new();
    w.ue(0); // pic_parameter_set_id
    w.ue(0); // seq_parameter_set_id
    w.bit(false); // entropy_coding_mode_flag: CAVLC
    w.bit(false); // bottom_field_pic_order_in_frame_present_flag
    w.ue(0); // num_slice_groups_minus1
    w.ue(0); // num_ref_idx_l0_default_active_minus1
    w.ue(0); // num_ref_idx_l1_default_active_minus1
    w.bit(false); // weighted_pred_flag
    w.bits(2, 0); // weighted_bipred_idc
    w.se(0); // pic_init_qp_minus26
    w.se(0); // pic_init_qs_minus26
    w.se(0); // chroma_qp_index_offset
    w.bit(true); // deblocking_filter_control_present_flag
    w.bit(false); // constrained_intra_pred_flag
    w.bit(false); // redundant_pic_cnt_present_flag
    w.trailing_bits();
    w.into_bytes()
}

fn idr_slice_rbsp(idr_pic_id: u32, mb_count: u32) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.ue(0); // first_mb_in_slice
    w.ue(SLICE_TYPE_I_ALL);
    w.ue(0); // pic_parameter_set_id
    w.bits(LOG2_MAX_FRAME_NUM, 0); // frame_num
    w.ue(idr_pic_id);
    w.bit(false); // no_output_of_prior_pics_flag
    w.bit(false); // long_term_reference_flag
    w.se(0); // slice_qp_delta
    w.ue(1); // disable_deblocking_filter_idc: off, nothing to filter anyway
    for _ in 0..mb_count {
        w.ue(MB_TYPE_I16X16_DC_NO_RESIDUAL);
        w.ue(0); // intra_chroma_pred_mode: DC
        w.se(0); // mb_qp_delta
                 // Intra16x16DCLevel coeff_token for TotalCoeff 0 with 0 <= nC < 2 (every
                 // neighbour has no coefficients): the single bit 1.
        w.bit(true);
    }
    w.trailing_bits();
    w.into_bytes()
}

fn p_skip_slice_rbsp(frame_num: u32, mb_count: u32) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.ue(0); // first_mb_in_slice
    w.ue(SLICE_TYPE_P_ALL);
    w.ue(0); // pic_parameter_set_id
    w.bits(LOG2_MAX_FRAME_NUM, u64::from(frame_num));
    w.bit(false); // num_ref_idx_active_override_flag
    w.bit(false); // ref_pic_list_modification_flag_l0
    w.bit(false); // adaptive_ref_pic_marking_mode_flag
    w.se(0); // slice_qp_delta
    w.ue(1); // disable_deblocking_filter_idc
    w.ue(mb_count); // mb_skip_run: every macroblock is P_Skip
    w.trailing_bits();
    w.into_bytes()
}

/// Iterates over the length-prefixed NAL units of an AVC payload (after the FLV header).
/// Stops at the first truncated unit; never panics on malformed input.
pub struct NalIter<'a> {
    data: &'a [u8],
    length_size: usize,
}

impl<'a> NalIter<'a> {
    pub fn new(data: &'a [u8], length_size: usize) -> Self {
        NalIter {
            data,
            length_size: length_size.clamp(1, 4),
        }
    }
}

impl<'a> Iterator for NalIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let prefix = self.data.get(..self.length_size)?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let end = self.length_size.checked_add(len)?;
        let Some(unit) = self.data.get(self.length_size..end) else {
            self.data = &[];
            return None;
        };
        self.data = &self.data[end..];
        Some(unit)
    }
}

/// lengthSizeMinusOne + 1 from an FLV AVC sequence header payload, if it is one.
pub fn nal_length_size(seq_header_payload: &[u8]) -> Option<usize> {
    let b = *seq_header_payload.get(FLV_AVC_HEADER_LEN + 4)?;
    Some(usize::from(b & 3) + 1)
}

#[cfg(test)]
mod tests;
