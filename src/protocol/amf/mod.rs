//! AMF0 and AMF3 values: the encoding of RTMP commands and data messages.
//!
//! Both wire formats decode into one [`AmfValue`] tree; the encoder writes AMF0, which every
//! RTMP peer accepts. Decoding is bounded by nesting depth and by the input length: a count or
//! length read from the wire is checked against the bytes that remain before anything is allocated.

pub mod amf0;
pub mod amf3;
#[doc(hidden)]
pub mod captures;
mod value;
pub(crate) mod wire;

pub use value::{AmfValue, DecodeError, Limits};
