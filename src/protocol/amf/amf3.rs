//! AMF3 decoding (values reached through AMF0's avmplus marker 0x11, as in type 17/15 messages).
use super::{AmfValue, DecodeError, Limits};

/// Decodes one AMF3 value from the front of `input`, advancing it. Reference tables (strings,
/// objects, traits) live for this one call.
pub fn decode(input: &mut &[u8], limits: &Limits) -> Result<AmfValue, DecodeError> {
    let _ = (input, limits);
    todo!()
}
