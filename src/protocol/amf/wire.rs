//! Byte-level reading shared by the AMF0 and AMF3 decoders, and the reference budget.
//!
//! Every read takes from the front of a `&mut &[u8]` cursor and fails with
//! [`DecodeError::UnexpectedEnd`] instead of panicking; nothing here allocates. Decoders call
//! these helpers for each field, and [`charge`] before they expand a back-reference.

use super::DecodeError;
use std::borrow::Cow;

/// How many bytes of output one decode call may produce from back-references, per byte of
/// input. References let a few bytes stand for an earlier value, so without a bound a crafted
/// message of nested references could expand exponentially.
const REFERENCE_EXPANSION: usize = 8;
/// The smallest reference budget, so short messages that reuse a long string still decode.
const MIN_REFERENCE_BUDGET: usize = 64 * 1024;

/// The reference budget of one decode call over `input_len` bytes.
pub(crate) fn reference_budget(input_len: usize) -> usize {
    input_len
        .saturating_mul(REFERENCE_EXPANSION)
        .max(MIN_REFERENCE_BUDGET)
}

/// The error of a decode call whose references expanded past its budget.
pub(crate) const BUDGET_SPENT: DecodeError =
    DecodeError::Unsupported("AMF references expand beyond the reference budget");

/// Takes `cost` from the reference budget, or fails once it is spent.
pub(crate) fn charge(budget: &mut usize, cost: usize) -> Result<(), DecodeError> {
    *budget = budget.checked_sub(cost).ok_or(BUDGET_SPENT)?;
    Ok(())
}

#[inline]
pub(crate) fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if n > input.len() {
        return Err(DecodeError::UnexpectedEnd);
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

#[inline]
fn array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let (head, tail) = input
        .split_first_chunk::<N>()
        .ok_or(DecodeError::UnexpectedEnd)?;
    *input = tail;
    Ok(*head)
}

#[inline]
pub(crate) fn u8(input: &mut &[u8]) -> Result<u8, DecodeError> {
    let (&b, tail) = input.split_first().ok_or(DecodeError::UnexpectedEnd)?;
    *input = tail;
    Ok(b)
}

#[inline]
pub(crate) fn peek(input: &[u8]) -> Result<u8, DecodeError> {
    input.first().copied().ok_or(DecodeError::UnexpectedEnd)
}

#[inline]
pub(crate) fn u16(input: &mut &[u8]) -> Result<u16, DecodeError> {
    array(input).map(u16::from_be_bytes)
}

#[inline]
pub(crate) fn i16(input: &mut &[u8]) -> Result<i16, DecodeError> {
    array(input).map(i16::from_be_bytes)
}

#[inline]
pub(crate) fn u32(input: &mut &[u8]) -> Result<u32, DecodeError> {
    array(input).map(u32::from_be_bytes)
}

#[inline]
pub(crate) fn f64(input: &mut &[u8]) -> Result<f64, DecodeError> {
    array(input).map(f64::from_be_bytes)
}

/// Takes `len` bytes of text; the length is checked before anything else happens.
///
/// Text that is not UTF-8 (encoders that write Latin-1 titles into onMetaData exist) does not
/// fail the whole message and, with it, the publisher: each invalid sequence becomes U+FFFD,
/// which keeps the rest of the text and marks the string, so that names (which must be
/// UTF-8) are refused by `session::names` instead of being silently renamed.
#[inline]
pub(crate) fn str<'a>(input: &mut &'a [u8], len: usize) -> Result<Cow<'a, str>, DecodeError> {
    let bytes = take(input, len)?;
    Ok(String::from_utf8_lossy(bytes))
}

/// A count read from the wire, as usize without overflow on any target.
#[inline]
pub(crate) fn count(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_utf8_is_kept_with_replacement_characters() {
        let mut input: &[u8] = b"cam\xffx!";
        assert_eq!(str(&mut input, 5).unwrap(), "cam\u{fffd}x");
        assert_eq!(input, b"!");
        let mut valid: &[u8] = b"caf\xc3\xa9";
        assert!(matches!(
            str(&mut valid, 5).unwrap(),
            Cow::Borrowed("caf\u{e9}")
        ));
    }

    #[test]
    fn reads_fail_cleanly_at_end() {
        let mut empty: &[u8] = &[];
        assert_eq!(u8(&mut empty), Err(DecodeError::UnexpectedEnd));
        let mut three: &[u8] = &[1, 2, 3];
        assert_eq!(u32(&mut three), Err(DecodeError::UnexpectedEnd));
        assert_eq!(three.len(), 3, "a failed read consumes nothing");
        assert_eq!(
            take(&mut three, usize::MAX),
            Err(DecodeError::UnexpectedEnd)
        );
        assert_eq!(u16(&mut three), Ok(0x0102));
        assert_eq!(three, &[3]);
    }

    #[test]
    fn budget_is_spent_and_then_refused() {
        let mut budget = 10;
        assert!(charge(&mut budget, 7).is_ok());
        assert_eq!(charge(&mut budget, 4), Err(BUDGET_SPENT));
        assert!(charge(&mut budget, 3).is_ok());
        assert_eq!(budget, 0);
        assert!(reference_budget(usize::MAX) == usize::MAX);
    }
}
