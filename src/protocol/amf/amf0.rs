//! AMF0 encoding and decoding.
use super::{AmfValue, DecodeError, Limits};

/// Decodes one value from the front of `input`, advancing it.
pub fn decode(input: &mut &[u8], limits: &Limits) -> Result<AmfValue, DecodeError> {
    let _ = (input, limits);
    todo!()
}

/// Decodes values until `input` is exhausted.
pub fn decode_all(input: &[u8], limits: &Limits) -> Result<Vec<AmfValue>, DecodeError> {
    let _ = (input, limits);
    todo!()
}

/// Appends the AMF0 encoding of `value` to `out`.
pub fn encode(value: &AmfValue, out: &mut Vec<u8>) {
    let _ = (value, out);
    todo!()
}
