//! Stream metadata: recognises `@setDataFrame`/`onMetaData` data messages and builds the AMF0
//! payload that a hub caches and sends to every player.
//!
//! Works on already-decoded values (the message layer decodes AMF0/AMF3 data messages) and
//! re-encodes with the AMF0 encoder, so AMF3 metadata reaches players as AMF0. No I/O.
use crate::protocol::amf::{amf0, AmfValue};

const SET_DATA_FRAME: &str = "@setDataFrame";
const ON_META_DATA: &str = "onMetaData";

/// If `values` is stream metadata (`@setDataFrame`, `onMetaData`, ...) or `onMetaData`, ...,
/// returns the AMF0 payload to store and send to players: `onMetaData` and its object, with
/// `@setDataFrame` stripped. Other data messages give None.
///
/// Every value after the name is kept (normally exactly one object or ECMA array); a message
/// with nothing after the name is not metadata.
pub fn metadata_payload(values: &[AmfValue]) -> Option<Vec<u8>> {
    let rest = match values {
        [AmfValue::String(a), AmfValue::String(b), rest @ ..]
            if a == SET_DATA_FRAME && b == ON_META_DATA =>
        {
            rest
        }
        [AmfValue::String(a), rest @ ..] if a == ON_META_DATA => rest,
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    amf0::encode(&AmfValue::string(ON_META_DATA), &mut out);
    for value in rest {
        amf0::encode(value, &mut out);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AMF0 bytes of the string `onMetaData`.
    const ON_META_DATA_AMF0: &[u8] = &[
        0x02, 0x00, 0x0a, b'o', b'n', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a',
    ];

    fn sample_object() -> AmfValue {
        AmfValue::object([
            ("width", AmfValue::Number(1280.0)),
            ("stereo", AmfValue::Boolean(true)),
            ("encoder", AmfValue::string("Lavf61.7.100")),
        ])
    }

    /// The AMF0 encoding of `sample_object()`, written by hand.
    fn sample_object_amf0() -> Vec<u8> {
        let mut v = vec![0x03];
        v.extend_from_slice(&[0x00, 0x05]);
        v.extend_from_slice(b"width");
        v.push(0x00);
        v.extend_from_slice(&1280.0f64.to_be_bytes()); // 40 94 00 00 00 00 00 00
        v.extend_from_slice(&[0x00, 0x06]);
        v.extend_from_slice(b"stereo");
        v.extend_from_slice(&[0x01, 0x01]);
        v.extend_from_slice(&[0x00, 0x07]);
        v.extend_from_slice(b"encoder");
        v.extend_from_slice(&[0x02, 0x00, 0x0c]);
        v.extend_from_slice(b"Lavf61.7.100");
        v.extend_from_slice(&[0x00, 0x00, 0x09]);
        v
    }

    // Needs the AMF0 encoder (amf0::encode).
    #[test]
    fn set_data_frame_is_stripped() {
        let values = [
            AmfValue::string("@setDataFrame"),
            AmfValue::string("onMetaData"),
            sample_object(),
        ];
        let mut expected = ON_META_DATA_AMF0.to_vec();
        expected.extend_from_slice(&sample_object_amf0());
        assert_eq!(metadata_payload(&values), Some(expected));
    }

    // Needs the AMF0 encoder (amf0::encode).
    #[test]
    fn plain_on_meta_data_with_ecma_array() {
        // FFmpeg writes metadata as an ECMA array: count, pairs, end marker.
        let values = [
            AmfValue::string("onMetaData"),
            AmfValue::EcmaArray(vec![("duration".into(), AmfValue::Number(0.0))]),
        ];
        let mut expected = ON_META_DATA_AMF0.to_vec();
        expected.extend_from_slice(&[0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08]);
        expected.extend_from_slice(b"duration");
        expected.push(0x00);
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&[0x00, 0x00, 0x09]);
        assert_eq!(metadata_payload(&values), Some(expected));
    }

    #[test]
    fn other_data_messages_are_not_metadata() {
        let obj = sample_object();
        let cases: Vec<Vec<AmfValue>> = vec![
            vec![],
            vec![AmfValue::string("onMetaData")],
            vec![
                AmfValue::string("@setDataFrame"),
                AmfValue::string("onMetaData"),
            ],
            vec![AmfValue::string("@setDataFrame"), obj.clone()],
            vec![
                AmfValue::string("@setDataFrame"),
                AmfValue::string("onCuePoint"),
                obj.clone(),
            ],
            vec![
                AmfValue::string("@clearDataFrame"),
                AmfValue::string("onMetaData"),
            ],
            vec![AmfValue::string("onTextData"), obj.clone()],
            vec![AmfValue::string("onmetadata"), obj.clone()],
            vec![AmfValue::XmlDocument("onMetaData".into()), obj.clone()],
            vec![obj],
        ];
        for values in cases {
            assert_eq!(metadata_payload(&values), None, "{values:?}");
        }
    }
}
