//! Bit-level writing for H.264 and AAC syntax: an MSB-first bit writer with Exp-Golomb codes,
//! and the H.264 emulation prevention that turns an RBSP into NAL unit bytes (and back).
//!
//! Pure buffer work; nothing here knows about frames or time.

/// MSB-first bit writer.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits already used in the last byte of `bytes` (0 = byte aligned).
    used: u8,
}

impl BitWriter {
    pub fn new() -> Self {
        BitWriter::default()
    }

    /// Writes the low `count` bits of `value`, most significant first (`count` <= 64).
    pub fn bits(&mut self, count: u32, value: u64) {
        debug_assert!(count <= 64);
        for i in (0..count).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    pub fn bit(&mut self, one: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if one {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> self.used;
            }
        }
        self.used = (self.used + 1) % 8;
    }

    /// ue(v): unsigned Exp-Golomb.
    pub fn ue(&mut self, value: u32) {
        let v = u64::from(value) + 1;
        let len = 64 - v.leading_zeros();
        self.bits(len - 1, 0);
        self.bits(len, v);
    }

    /// se(v): signed Exp-Golomb (k > 0 maps to 2k - 1, k <= 0 to -2k).
    pub fn se(&mut self, value: i32) {
        let mapped = if value > 0 {
            (i64::from(value) * 2 - 1) as u32
        } else {
            (-i64::from(value) * 2) as u32
        };
        self.ue(mapped);
    }

    /// rbsp_trailing_bits: a one bit then zeros up to the byte boundary.
    pub fn trailing_bits(&mut self) {
        self.bit(true);
        self.align_zero();
    }

    /// Zero bits up to the next byte boundary.
    pub fn align_zero(&mut self) {
        self.used = 0;
    }

    #[cfg(test)]
    pub fn is_aligned(&self) -> bool {
        self.used == 0
    }

    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8
            - if self.used == 0 {
                0
            } else {
                8 - usize::from(self.used)
            }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Appends `rbsp` to `out` with emulation prevention: a 0x03 goes in after any two zero bytes
/// that would otherwise be followed by 0x00..=0x03 (or end the payload), so no start code can
/// appear inside a NAL unit.
pub fn escape_into(rbsp: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    if zeros >= 2 {
        // A NAL unit may not end in 0x00: protect a trailing zero pair as well.
        out.push(3);
    }
}

/// Removes emulation prevention bytes from `nal` into `out`, stopping once `out` is full.
/// Returns how many bytes were written.
pub fn unescape_prefix(nal: &[u8], out: &mut [u8]) -> usize {
    let mut zeros = 0;
    let mut n = 0;
    for &b in nal {
        if n == out.len() {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out[n] = b;
        n += 1;
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        let mut w = BitWriter::new();
        // ue: 0 -> 1, 1 -> 010, 2 -> 011, 3 -> 00100
        w.ue(0);
        w.ue(1);
        w.ue(2);
        w.ue(3);
        assert_eq!(w.bit_len(), 1 + 3 + 3 + 5);
        w.trailing_bits();
        assert_eq!(w.as_bytes(), &[0b1010_0110, 0b0100_1000]);

        let mut w = BitWriter::new();
        // se: 0 -> 1, 1 -> 010, -1 -> 011, 2 -> 00100
        w.se(0);
        w.se(1);
        w.se(-1);
        w.se(2);
        w.trailing_bits();
        assert_eq!(w.into_bytes(), vec![0b1010_0110, 0b0100_1000]);
    }

    #[test]
    fn fixed_bits_and_alignment() {
        let mut w = BitWriter::new();
        w.bits(3, 0b101);
        assert!(!w.is_aligned());
        w.align_zero();
        assert!(w.is_aligned());
        w.bits(16, 0xabcd);
        assert_eq!(w.as_bytes(), &[0xa0, 0xab, 0xcd]);
        assert_eq!(w.bit_len(), 24);
    }

    #[test]
    fn emulation_prevention_round_trip() {
        let cases: &[(&[u8], &[u8])] = &[
            (&[0, 0, 0], &[0, 0, 3, 0]),
            (&[0, 0, 1], &[0, 0, 3, 1]),
            (&[0, 0, 2, 0, 0, 3], &[0, 0, 3, 2, 0, 0, 3, 3]),
            (&[0, 0, 4], &[0, 0, 4]),
            (&[1, 0, 0], &[1, 0, 0, 3]),
            (&[0, 0, 0, 0], &[0, 0, 3, 0, 0, 3]),
        ];
        for (rbsp, nal) in cases {
            let mut out = Vec::new();
            escape_into(rbsp, &mut out);
            assert_eq!(&out[..], *nal, "escape {rbsp:?}");
            let mut back = [0u8; 16];
            let n = unescape_prefix(nal, &mut back);
            // A trailing protection byte is dropped by unescaping too.
            assert_eq!(&back[..n], *rbsp, "unescape {nal:?}");
        }
    }

    #[test]
    fn unescape_stops_when_full() {
        let mut out = [0u8; 2];
        assert_eq!(unescape_prefix(&[0, 0, 3, 1, 2], &mut out), 2);
        assert_eq!(out, [0, 0]);
    }
}
