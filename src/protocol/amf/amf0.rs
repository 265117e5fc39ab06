//! AMF0 encoding and decoding: the format of RTMP commands (type 20) and data messages (type 18).
//!
//! Decoding reads from a borrowed slice and builds an [`AmfValue`] tree; it never does I/O and
//! never panics on peer bytes. Every length and count read from the wire is checked against the
//! bytes that remain (and against [`Limits`]) before anything is allocated. The avmplus marker
//! (0x11) hands one value to [`amf3`]. References (0x07) are resolved by decoding the referenced
//! bytes again, so the common case pays nothing for them; a per-call budget keeps crafted
//! reference chains from expanding without bound, and a reference to an enclosing object (a
//! cycle, which a tree cannot hold) is rejected.
//!
//! Call order: [`decode`] for one value, [`decode_all`] for a whole payload, or a [`Decoder`]
//! when values are taken one by one but must share one reference table (a command payload).
//! [`encode`] appends one value; [`encode_str`] and [`encode_number`] write a value without
//! building an [`AmfValue`] first.

use super::{amf3, wire, AmfValue, DecodeError, Limits};
use std::borrow::Cow;

/// AMF0 type markers.
pub mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const MOVIECLIP: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const REFERENCE: u8 = 0x07;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0A;
    pub const DATE: u8 = 0x0B;
    pub const LONG_STRING: u8 = 0x0C;
    pub const UNSUPPORTED: u8 = 0x0D;
    pub const RECORDSET: u8 = 0x0E;
    pub const XML_DOCUMENT: u8 = 0x0F;
    pub const TYPED_OBJECT: u8 = 0x10;
    pub const AVMPLUS: u8 = 0x11;
}
use marker::*;

/// Decodes one value from the front of `input`, advancing it past the value. On error `input`
/// is left where it was.
pub fn decode(input: &mut &[u8], limits: &Limits) -> Result<AmfValue, DecodeError> {
    let mut decoder = Decoder::new(input, limits);
    let value = decoder.decode()?;
    *input = decoder.remaining();
    Ok(value)
}

/// Decodes values until `input` is exhausted. References may point at objects of earlier
/// values, as the format allows within one message.
pub fn decode_all(input: &[u8], limits: &Limits) -> Result<Vec<AmfValue>, DecodeError> {
    let mut decoder = Decoder::new(input, limits);
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode()?);
    }
    Ok(values)
}

/// Where one complex value (object, typed object, ECMA or strict array) sits in the input.
/// `end` stays `None` while the value is being decoded, which is how cycles are spotted.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    end: Option<usize>,
}

/// Decodes AMF0 values one at a time from one message, sharing the reference table between
/// them. [`Decoder::decode`] until [`Decoder::is_empty`].
#[derive(Debug)]
pub struct Decoder<'a> {
    /// The whole input: slot offsets index it.
    whole: &'a [u8],
    rest: &'a [u8],
    limits: Limits,
    complex: Vec<Slot>,
    /// Set while a reference is being decoded again: its objects already have their slots.
    replaying: bool,
    budget: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8], limits: &Limits) -> Self {
        Decoder {
            whole: input,
            rest: input,
            limits: *limits,
            complex: Vec::new(),
            replaying: false,
            budget: wire::reference_budget(input.len()),
        }
    }

    /// True once every byte has been decoded.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not decoded yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Decodes the next value. After an error the decoder's position is unspecified.
    pub fn decode(&mut self) -> Result<AmfValue, DecodeError> {
        self.value(0)
    }

    /// Offset of the cursor in `whole`; meaningful only when not replaying.
    fn offset(&self) -> usize {
        self.whole.len().saturating_sub(self.rest.len())
    }

    /// `depth` counts the containers around the value being decoded.
    fn value(&mut self, depth: usize) -> Result<AmfValue, DecodeError> {
        let start = self.offset();
        let marker = wire::u8(&mut self.rest)?;
        match marker {
            NUMBER => Ok(AmfValue::Number(wire::f64(&mut self.rest)?)),
            BOOLEAN => Ok(AmfValue::Boolean(wire::u8(&mut self.rest)? != 0)),
            STRING => Ok(AmfValue::String(self.short_str()?.into_owned())),
            OBJECT => {
                let slot = self.open(start, depth)?;
                let properties = self.properties(depth, 0)?;
                self.close(slot);
                Ok(AmfValue::Object(properties))
            }
            MOVIECLIP => Err(DecodeError::Unsupported("AMF0 movieclip")),
            NULL => Ok(AmfValue::Null),
            UNDEFINED | UNSUPPORTED => Ok(AmfValue::Undefined),
            REFERENCE => {
                let index = usize::from(wire::u16(&mut self.rest)?);
                self.reference(index, depth)
            }
            ECMA_ARRAY => {
                // The count is only a hint: encoders are known to write wrong ones, and the
                // object-end marker is what really ends the array.
                let hint = wire::count(wire::u32(&mut self.rest)?);
                let slot = self.open(start, depth)?;
                let properties = self.properties(depth, hint)?;
                self.close(slot);
                Ok(AmfValue::EcmaArray(properties))
            }
            STRICT_ARRAY => {
                let count = wire::count(wire::u32(&mut self.rest)?);
                let slot = self.open(start, depth)?;
                // Each element takes at least its marker byte.
                if count > self.rest.len() {
                    return Err(DecodeError::UnexpectedEnd);
                }
                if count > self.limits.max_elements {
                    return Err(DecodeError::TooManyElements(self.limits.max_elements));
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                self.close(slot);
                Ok(AmfValue::StrictArray(items))
            }
            DATE => {
                let millis = wire::f64(&mut self.rest)?;
                let timezone = wire::i16(&mut self.rest)?;
                Ok(AmfValue::Date { millis, timezone })
            }
            LONG_STRING => Ok(AmfValue::String(self.long_str()?.into_owned())),
            RECORDSET => Err(DecodeError::Unsupported("AMF0 recordset")),
            XML_DOCUMENT => Ok(AmfValue::XmlDocument(self.long_str()?.into_owned())),
            TYPED_OBJECT => {
                let class = self.short_str()?;
                let slot = self.open(start, depth)?;
                let properties = self.properties(depth, 0)?;
                self.close(slot);
                Ok(AmfValue::TypedObject {
                    class: class.into_owned(),
                    properties,
                })
            }
            AVMPLUS => amf3::decode_nested(&mut self.rest, &self.limits, depth, &mut self.budget),
            _ => Err(DecodeError::UnknownMarker { version: 0, marker }),
        }
    }

    fn short_str(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let len = usize::from(wire::u16(&mut self.rest)?);
        wire::str(&mut self.rest, len)
    }

    fn long_str(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let len = wire::count(wire::u32(&mut self.rest)?);
        wire::str(&mut self.rest, len)
    }

    /// Checks the depth and gives a new complex value its reference slot (none when replaying:
    /// the first decoding already numbered it).
    fn open(&mut self, start: usize, depth: usize) -> Result<Option<usize>, DecodeError> {
        if depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep(self.limits.max_depth));
        }
        if self.replaying {
            return Ok(None);
        }
        self.complex.push(Slot { start, end: None });
        Ok(Some(self.complex.len() - 1))
    }

    fn close(&mut self, slot: Option<usize>) {
        let end = self.offset();
        if let Some(slot) = slot.and_then(|index| self.complex.get_mut(index)) {
            slot.end = Some(end);
        }
    }

    /// Reads key/value pairs up to the object-end marker (empty key, then 0x09).
    fn properties(
        &mut self,
        depth: usize,
        hint: usize,
    ) -> Result<Vec<(String, AmfValue)>, DecodeError> {
        // A property takes at least 3 bytes; the hint is trusted no further than that, and
        // only up to a small bound, so a lying count costs nothing.
        let capacity = hint.min(self.rest.len() / 3).min(64);
        let mut properties = Vec::with_capacity(capacity);
        loop {
            let key = self.short_str()?;
            if key.is_empty() && wire::peek(self.rest)? == OBJECT_END {
                wire::u8(&mut self.rest)?;
                return Ok(properties);
            }
            if properties.len() >= self.limits.max_elements {
                return Err(DecodeError::TooManyElements(self.limits.max_elements));
            }
            let value = self.value(depth + 1)?;
            properties.push((key.into_owned(), value));
        }
    }

    /// Decodes the bytes of an earlier complex value again, in place of the reference.
    fn reference(&mut self, index: usize, depth: usize) -> Result<AmfValue, DecodeError> {
        let slot = *self
            .complex
            .get(index)
            .ok_or(DecodeError::BadReference(index))?;
        let end = slot.end.ok_or(DecodeError::Unsupported(
            "AMF0 reference to an enclosing object",
        ))?;
        let bytes = self
            .whole
            .get(slot.start..end)
            .ok_or(DecodeError::BadReference(index))?;
        wire::charge(&mut self.budget, bytes.len())?;
        let saved = std::mem::replace(&mut self.rest, bytes);
        let was_replaying = std::mem::replace(&mut self.replaying, true);
        let value = self.value(depth);
        self.rest = saved;
        self.replaying = was_replaying;
        value
    }
}

/// Appends the AMF0 encoding of `value` to `out`.
///
/// AMF0 has no byte array, so [`AmfValue::ByteArray`] is written as an avmplus (0x11) switch to
/// an AMF3 byte array. Lengths the format cannot carry (keys over 65535 bytes, texts over 4 GiB,
/// byte arrays over 256 MiB) are cut short rather than written corrupt.
pub fn encode(value: &AmfValue, out: &mut Vec<u8>) {
    match value {
        AmfValue::Number(n) => encode_number(*n, out),
        AmfValue::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        AmfValue::String(s) => encode_str(s, out),
        AmfValue::Object(properties) => {
            out.push(OBJECT);
            encode_properties(properties, out);
        }
        AmfValue::TypedObject { class, properties } => {
            out.push(TYPED_OBJECT);
            put_short_str(class, out);
            encode_properties(properties, out);
        }
        AmfValue::Null => out.push(NULL),
        AmfValue::Undefined => out.push(UNDEFINED),
        AmfValue::EcmaArray(properties) => {
            out.push(ECMA_ARRAY);
            put_u32_len(properties.len(), out);
            encode_properties(properties, out);
        }
        AmfValue::StrictArray(items) => {
            out.push(STRICT_ARRAY);
            let count = put_u32_len(items.len(), out);
            for item in items.iter().take(count) {
                encode(item, out);
            }
        }
        AmfValue::Date { millis, timezone } => {
            out.push(DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
        AmfValue::XmlDocument(s) => {
            out.push(XML_DOCUMENT);
            put_long_str(s, out);
        }
        AmfValue::ByteArray(bytes) => {
            out.push(AVMPLUS);
            amf3::encode_byte_array(bytes, out);
        }
    }
}

/// Appends a number value.
pub fn encode_number(n: f64, out: &mut Vec<u8>) {
    out.push(NUMBER);
    out.extend_from_slice(&n.to_be_bytes());
}

/// Appends a string value: the short form, or the long form (0x0C) past 65535 bytes.
pub fn encode_str(s: &str, out: &mut Vec<u8>) {
    if s.len() <= usize::from(u16::MAX) {
        out.push(STRING);
        put_short_str(s, out);
    } else {
        out.push(LONG_STRING);
        put_long_str(s, out);
    }
}

fn encode_properties(properties: &[(String, AmfValue)], out: &mut Vec<u8>) {
    for (key, value) in properties {
        put_short_str(key, out);
        encode(value, out);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn put_short_str(s: &str, out: &mut Vec<u8>) {
    let s = prefix(s, usize::from(u16::MAX));
    // `prefix` bounds the length, so the conversion cannot fail.
    out.extend_from_slice(&u16::try_from(s.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_long_str(s: &str, out: &mut Vec<u8>) {
    let s = prefix(s, wire::count(u32::MAX));
    put_u32_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a u32 count (saturated) and returns the count written.
fn put_u32_len(len: usize, out: &mut Vec<u8>) -> usize {
    let n = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    wire::count(n)
}

#[cfg(test)]
mod tests;
