//! AMF3 decoding (values reached through AMF0's avmplus marker 0x11, as in type 17/15 messages).
//!
//! Decodes one AMF3 value into the shared [`AmfValue`] tree: integers become numbers, dense
//! arrays strict arrays, arrays with named keys ECMA arrays, XML an XML document. Never does I/O
//! and never panics on peer bytes; lengths and counts are checked against the remaining input
//! and [`Limits`] before allocating. The three reference tables (strings, traits, objects) live
//! for one call and only grow by entries read from that call's input, so they stay bounded by
//! it. Object references are resolved by decoding the referenced bytes again under a per-call
//! budget; references to an enclosing object (cycles) are rejected. Vectors, dictionaries and
//! externalizable objects are reported as [`DecodeError::Unsupported`].
//!
//! Call order: [`decode`] once per value. The encoder side is only the byte array, which is
//! how the AMF0 encoder writes [`AmfValue::ByteArray`].

use std::borrow::Cow;
use std::rc::Rc;

use super::{wire, AmfValue, DecodeError, Limits};

/// AMF3 type markers.
pub mod marker {
    pub const UNDEFINED: u8 = 0x00;
    pub const NULL: u8 = 0x01;
    pub const FALSE: u8 = 0x02;
    pub const TRUE: u8 = 0x03;
    pub const INTEGER: u8 = 0x04;
    pub const DOUBLE: u8 = 0x05;
    pub const STRING: u8 = 0x06;
    pub const XML_DOC: u8 = 0x07;
    pub const DATE: u8 = 0x08;
    pub const ARRAY: u8 = 0x09;
    pub const OBJECT: u8 = 0x0A;
    pub const XML: u8 = 0x0B;
    pub const BYTE_ARRAY: u8 = 0x0C;
    pub const VECTOR_INT: u8 = 0x0D;
    pub const VECTOR_UINT: u8 = 0x0E;
    pub const VECTOR_DOUBLE: u8 = 0x0F;
    pub const VECTOR_OBJECT: u8 = 0x10;
    pub const DICTIONARY: u8 = 0x11;
}
use marker::*;

/// Decodes one AMF3 value from the front of `input`, advancing it. Reference tables (strings,
/// objects, traits) live for this one call. On error `input` is left where it was.
pub fn decode(input: &mut &[u8], limits: &Limits) -> Result<AmfValue, DecodeError> {
    let mut budget = wire::reference_budget(input.len());
    decode_nested(input, limits, 0, &mut budget)
}

/// Decodes one AMF3 value found `depth` containers deep in an AMF0 value, spending the
/// caller's reference budget.
pub(crate) fn decode_nested(
    input: &mut &[u8],
    limits: &Limits,
    depth: usize,
    budget: &mut usize,
) -> Result<AmfValue, DecodeError> {
    let mut decoder = Decoder {
        whole: input,
        rest: input,
        limits: *limits,
        strings: Vec::new(),
        traits: Vec::new(),
        objects: Vec::new(),
        replaying: false,
        budget: *budget,
    };
    let value = decoder.value(depth)?;
    *input = decoder.rest;
    *budget = decoder.budget;
    Ok(value)
}

/// The largest value a U29 can carry.
const U29_MAX: u32 = (1 << 29) - 1;

/// Appends an AMF3 byte array (marker, U29 length, bytes), cut at the longest length a U29
/// header can carry (256 MiB - 1).
pub(crate) fn encode_byte_array(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len().min(wire::count(U29_MAX >> 1));
    out.push(BYTE_ARRAY);
    // Low bit 1: an inline value, not a reference. `len` fits in 28 bits, so no overflow.
    encode_u29(u32::try_from(len).unwrap_or(0) << 1 | 1, out);
    out.extend_from_slice(bytes.get(..len).unwrap_or_default());
}

/// Appends a U29 (values above 2^29 - 1 are masked to 29 bits).
pub(crate) fn encode_u29(n: u32, out: &mut Vec<u8>) {
    let n = n & U29_MAX;
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x4000 {
        out.extend_from_slice(&[(n >> 7) as u8 | 0x80, (n & 0x7F) as u8]);
    } else if n < 0x20_0000 {
        out.extend_from_slice(&[
            (n >> 14) as u8 | 0x80,
            (n >> 7) as u8 | 0x80,
            (n & 0x7F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (n >> 22) as u8 | 0x80,
            (n >> 15) as u8 | 0x80,
            (n >> 8) as u8 | 0x80,
            n as u8,
        ]);
    }
}

/// Reads a U29: up to three bytes of 7 bits with a continuation flag, then one of 8 bits.
fn u29(input: &mut &[u8]) -> Result<u32, DecodeError> {
    let mut n = 0u32;
    for _ in 0..3 {
        let b = wire::u8(input)?;
        if b & 0x80 == 0 {
            return Ok(n << 7 | u32::from(b));
        }
        n = n << 7 | u32::from(b & 0x7F);
    }
    Ok(n << 8 | u32::from(wire::u8(input)?))
}

/// An AMF3 integer: the U29 sign-extended from 29 bits.
fn sign_extend(n: u32) -> i32 {
    ((n << 3) as i32) >> 3
}

/// A class description: shared by every object that references it.
#[derive(Debug)]
struct Traits<'a> {
    class: Cow<'a, str>,
    sealed: Vec<Cow<'a, str>>,
    dynamic: bool,
}

/// Where one object-table value sits in the input; `end` is `None` while it is being decoded.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    end: Option<usize>,
}

struct Decoder<'a> {
    whole: &'a [u8],
    rest: &'a [u8],
    limits: Limits,
    strings: Vec<Cow<'a, str>>,
    traits: Vec<Rc<Traits<'a>>>,
    objects: Vec<Slot>,
    /// Set while a reference is being decoded again: the first decoding already filled the
    /// tables with everything it contains, so nothing may be added twice.
    replaying: bool,
    budget: usize,
}

impl<'a> Decoder<'a> {
    /// Offset of the cursor in `whole`; meaningful only when not replaying.
    fn offset(&self) -> usize {
        self.whole.len().saturating_sub(self.rest.len())
    }

    fn value(&mut self, depth: usize) -> Result<AmfValue, DecodeError> {
        let start = self.offset();
        let marker = wire::u8(&mut self.rest)?;
        match marker {
            UNDEFINED => Ok(AmfValue::Undefined),
            NULL => Ok(AmfValue::Null),
            FALSE => Ok(AmfValue::Boolean(false)),
            TRUE => Ok(AmfValue::Boolean(true)),
            INTEGER => Ok(AmfValue::Number(f64::from(sign_extend(u29(
                &mut self.rest
            )?)))),
            DOUBLE => Ok(AmfValue::Number(wire::f64(&mut self.rest)?)),
            STRING => Ok(AmfValue::String(self.string()?.into_owned())),
            XML_DOC | XML | DATE | BYTE_ARRAY | ARRAY | OBJECT => {
                // All of these share the object table: low bit 0 means a reference.
                let header = u29(&mut self.rest)?;
                if header & 1 == 0 {
                    return self.reference(wire::count(header >> 1), depth);
                }
                let slot = self.open(start);
                let value = match marker {
                    XML_DOC | XML => {
                        let text = wire::str(&mut self.rest, wire::count(header >> 1))?;
                        AmfValue::XmlDocument(text.into_owned())
                    }
                    // The rest of a date header is unused; the time zone is always UTC.
                    DATE => AmfValue::Date {
                        millis: wire::f64(&mut self.rest)?,
                        timezone: 0,
                    },
                    BYTE_ARRAY => {
                        let bytes = wire::take(&mut self.rest, wire::count(header >> 1))?;
                        AmfValue::ByteArray(bytes.to_vec())
                    }
                    ARRAY => self.array(header, depth)?,
                    _ => self.object(header, depth)?,
                };
                self.close(slot);
                Ok(value)
            }
            VECTOR_INT | VECTOR_UINT | VECTOR_DOUBLE | VECTOR_OBJECT => {
                Err(DecodeError::Unsupported("AMF3 vector"))
            }
            DICTIONARY => Err(DecodeError::Unsupported("AMF3 dictionary")),
            _ => Err(DecodeError::UnknownMarker { version: 3, marker }),
        }
    }

    /// Reads a string or a string reference. The empty string is never put in the table.
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let header = u29(&mut self.rest)?;
        if header & 1 == 0 {
            let index = wire::count(header >> 1);
            let s = self
                .strings
                .get(index)
                .cloned()
                .ok_or(DecodeError::BadReference(index))?;
            wire::charge(&mut self.budget, s.len())?;
            return Ok(s);
        }
        let s = wire::str(&mut self.rest, wire::count(header >> 1))?;
        if !s.is_empty() && !self.replaying {
            self.strings.push(s.clone());
        }
        Ok(s)
    }

    /// Numbers a new object-table value (none when replaying: it already has its number).
    /// The number is taken before the members are read, as the format says.
    fn open(&mut self, start: usize) -> Option<usize> {
        if self.replaying {
            return None;
        }
        self.objects.push(Slot { start, end: None });
        Some(self.objects.len() - 1)
    }

    fn close(&mut self, slot: Option<usize>) {
        let end = self.offset();
        if let Some(slot) = slot.and_then(|index| self.objects.get_mut(index)) {
            slot.end = Some(end);
        }
    }

    fn enter(&self, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep(self.limits.max_depth));
        }
        Ok(())
    }

    fn too_many(&self) -> DecodeError {
        DecodeError::TooManyElements(self.limits.max_elements)
    }

    /// An array: named (associative) members up to an empty key, then the dense members.
    /// Dense only -> StrictArray; otherwise EcmaArray with the named members first and the
    /// dense ones keyed "0", "1", ... after them, in wire order.
    fn array(&mut self, header: u32, depth: usize) -> Result<AmfValue, DecodeError> {
        self.enter(depth)?;
        let dense = wire::count(header >> 1);
        let mut named = Vec::new();
        loop {
            let key = self.string()?;
            if key.is_empty() {
                break;
            }
            if named.len() >= self.limits.max_elements {
                return Err(self.too_many());
            }
            let value = self.value(depth + 1)?;
            named.push((key.into_owned(), value));
        }
        // Each dense member takes at least its marker byte.
        if dense > self.rest.len() {
            return Err(DecodeError::UnexpectedEnd);
        }
        if dense.saturating_add(named.len()) > self.limits.max_elements {
            return Err(self.too_many());
        }
        if named.is_empty() {
            let mut items = Vec::with_capacity(dense);
            for _ in 0..dense {
                items.push(self.value(depth + 1)?);
            }
            return Ok(AmfValue::StrictArray(items));
        }
        named.reserve(dense);
        for index in 0..dense {
            let value = self.value(depth + 1)?;
            named.push((index.to_string(), value));
        }
        Ok(AmfValue::EcmaArray(named))
    }

    /// An object: traits (inline or a reference), the sealed members in traits order, then
    /// dynamic members up to an empty key. A class name makes it a TypedObject.
    fn object(&mut self, header: u32, depth: usize) -> Result<AmfValue, DecodeError> {
        self.enter(depth)?;
        let traits = if header & 0b10 == 0 {
            let index = wire::count(header >> 2);
            let traits = Rc::clone(
                self.traits
                    .get(index)
                    .ok_or(DecodeError::BadReference(index))?,
            );
            let weight = traits
                .sealed
                .iter()
                .map(|name| name.len() + 1)
                .sum::<usize>();
            wire::charge(&mut self.budget, traits.class.len().saturating_add(weight))?;
            traits
        } else if header & 0b100 != 0 {
            return Err(DecodeError::Unsupported("AMF3 externalizable object"));
        } else {
            let dynamic = header & 0b1000 != 0;
            let count = wire::count(header >> 4);
            let class = self.string()?;
            // Each sealed name takes at least one byte.
            if count > self.rest.len() {
                return Err(DecodeError::UnexpectedEnd);
            }
            if count > self.limits.max_elements {
                return Err(self.too_many());
            }
            let mut sealed = Vec::with_capacity(count);
            for _ in 0..count {
                sealed.push(self.string()?);
            }
            let traits = Rc::new(Traits {
                class,
                sealed,
                dynamic,
            });
            if !self.replaying {
                self.traits.push(Rc::clone(&traits));
            }
            traits
        };
        let mut properties = Vec::with_capacity(traits.sealed.len());
        for name in &traits.sealed {
            let value = self.value(depth + 1)?;
            properties.push((name.to_string(), value));
        }
        if traits.dynamic {
            loop {
                let key = self.string()?;
                if key.is_empty() {
                    break;
                }
                if properties.len() >= self.limits.max_elements {
                    return Err(self.too_many());
                }
                let value = self.value(depth + 1)?;
                properties.push((key.into_owned(), value));
            }
        }
        if traits.class.is_empty() {
            Ok(AmfValue::Object(properties))
        } else {
            Ok(AmfValue::TypedObject {
                class: traits.class.to_string(),
                properties,
            })
        }
    }

    /// Decodes the bytes of an earlier object-table value again, in place of the reference.
    fn reference(&mut self, index: usize, depth: usize) -> Result<AmfValue, DecodeError> {
        let slot = *self
            .objects
            .get(index)
            .ok_or(DecodeError::BadReference(index))?;
        let end = slot.end.ok_or(DecodeError::Unsupported(
            "AMF3 reference to an enclosing object",
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

#[cfg(test)]
mod tests;
