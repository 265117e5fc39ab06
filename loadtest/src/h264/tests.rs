use super::*;

fn nal_types(frame: &[u8]) -> Vec<u8> {
    NalIter::new(&frame[FLV_AVC_HEADER_LEN..], 4)
        .map(|n| n[0] & 0x1f)
        .collect()
}

#[test]
fn parameter_sets_64x64() {
    let v = SyntheticVideo::new(64, 64);
    // Worked out by hand from 7.3.2.1.1: 66, constraint_set0+1, level 30, sps id 0,
    // log2_max_frame_num_minus4 12, poc type 2, 1 ref frame, 4x4 MBs, frame MBs only.
    assert_eq!(v.sps(), &[0x67, 0x42, 0xc0, 0x1e, 0x8d, 0x68, 0x42, 0x64]);
    // The classic CAVLC baseline PPS with deblocking control present.
    assert_eq!(v.pps(), &[0x68, 0xce, 0x3c, 0x80]);
    assert_eq!((v.width(), v.height()), (64, 64));
}

#[test]
fn sequence_header_record() {
    let v = SyntheticVideo::new(64, 64);
    let sh = v.sequence_header();
    assert_eq!(&sh[..5], &[0x17, 0, 0, 0, 0]);
    assert_eq!(&sh[5..11], &[1, 66, 0xc0, 30, 0xff, 0xe1]);
    assert_eq!(nal_length_size(&sh), Some(4));
    let sps_len = usize::from(u16::from_be_bytes([sh[11], sh[12]]));
    assert_eq!(&sh[13..13 + sps_len], v.sps());
    let rest = &sh[13 + sps_len..];
    assert_eq!(rest[0], 1);
    let pps_len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
    assert_eq!(&rest[3..], v.pps());
    assert_eq!(pps_len, v.pps().len());
}

#[test]
fn idr_then_p_frames() {
    let mut v = SyntheticVideo::new(64, 64);
    let mut frame = Vec::new();
    let sei = [0x06, 0x05, 0x00, 0x80];
    v.frame(true, &sei, 0, &mut frame);
    assert_eq!(&frame[..5], &[0x17, 1, 0, 0, 0]);
    assert_eq!(nal_types(&frame), vec![NAL_SEI, NAL_IDR]);
    let idr: Vec<Vec<u8>> = NalIter::new(&frame[5..], 4).map(<[u8]>::to_vec).collect();
    // Slice header then 16 macroblocks of ue(3) ue(0) se(0) coeff_token "1" = 0x27 each
    // (not byte aligned in the slice, so just check the size: 16 x 8 bits of MB data).
    assert_eq!(idr[1][0], 0x65);
    assert!(idr[1].len() > 16);

    v.frame(false, &sei, 0, &mut frame);
    assert_eq!(&frame[..5], &[0x27, 1, 0, 0, 0]);
    assert_eq!(nal_types(&frame), vec![NAL_SEI, NAL_SLICE]);
    let p: Vec<&[u8]> = NalIter::new(&frame[5..], 4).collect();
    assert_eq!(p[1][0], 0x41);
    // first_mb 0 (1), slice_type 5 (0000110), pps 0 (1), frame_num 1 on 16 bits,
    // three flags 0, qp delta 0 (1), deblocking idc 1 (010), skip run 16 (000010001), trailing.
    let mut w = BitWriter::new();
    w.ue(0);
    w.ue(5);
    w.ue(0);
    w.bits(16, 1);
    w.bits(3, 0);
    w.se(0);
    w.ue(1);
    w.ue(16);
    w.trailing_bits();
    let mut expect = vec![0x41];
    escape_into(w.as_bytes(), &mut expect);
    assert_eq!(p[1], &expect[..]);
    // The IDR after a GOP resets frame_num and changes idr_pic_id.
    v.frame(true, &[], 0, &mut frame);
    let idr2: Vec<&[u8]> = NalIter::new(&frame[5..], 4).collect();
    assert_ne!(idr2[0], &idr[1][..]);
}

#[test]
fn filler_pads_to_target() {
    let mut v = SyntheticVideo::new(64, 64);
    let mut frame = Vec::new();
    v.frame(false, &[], 0, &mut frame);
    let bare = frame.len();
    for target in [bare, bare + 5, bare + 6, bare + 7, bare + 1000, 25_000] {
        v.frame(false, &[], target, &mut frame);
        if target - bare < 6 {
            assert_eq!(frame.len(), bare);
        } else {
            assert_eq!(frame.len(), target);
            assert_eq!(nal_types(&frame), vec![NAL_SLICE, NAL_FILLER]);
            let filler = NalIter::new(&frame[5..], 4).nth(1).unwrap();
            assert_eq!(filler[0], 0x0c);
            assert_eq!(*filler.last().unwrap(), 0x80);
            assert!(filler[1..filler.len() - 1].iter().all(|&b| b == 0xff));
        }
    }
}

#[test]
fn nal_iter_never_panics() {
    let frame = [0, 0, 0, 2, 0x41, 0x9a, 0, 0, 0, 9, 1];
    let units: Vec<&[u8]> = NalIter::new(&frame, 4).collect();
    assert_eq!(units, vec![&[0x41, 0x9a][..]]);
    assert_eq!(NalIter::new(&[0xff; 3], 4).count(), 0);
    assert_eq!(NalIter::new(&[0, 0, 0, 0], 4).count(), 1);
    let two = [1, 0x09, 2, 0x09, 0xf0];
    assert_eq!(NalIter::new(&two, 1).count(), 2);
    assert_eq!(nal_length_size(&[0x17, 0, 0, 0]), None);
}
