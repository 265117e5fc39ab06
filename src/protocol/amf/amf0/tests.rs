use super::*;
use crate::protocol::amf::captures::{hex, FFMPEG_CONNECT, FFMPEG_METADATA};

fn limits() -> Limits {
    Limits::default()
}

fn one(bytes: &[u8]) -> Result<AmfValue, DecodeError> {
    let mut input = bytes;
    let value = decode(&mut input, &limits())?;
    assert!(
        input.is_empty(),
        "{} bytes left after the value",
        input.len()
    );
    Ok(value)
}

fn encoded(value: &AmfValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

fn s(text: &str) -> AmfValue {
    AmfValue::string(text)
}

fn n(x: f64) -> AmfValue {
    AmfValue::Number(x)
}

/// The connect command rtmpdump (librtmp) sends when playing, captured on loopback.
const RTMPDUMP_CONNECT: &str = "
    02 0007 'connect' 00 3ff0000000000000 03
    0003 'app' 02 0003 'vod'
    0008 'flashVer' 02 000e 'LNX 10,0,32,18'
    0005 'tcUrl' 02 001a 'rtmp://127.0.0.1:46772/vod'
    0004 'fpad' 01 00
    000c 'capabilities' 00 402e000000000000
    000b 'audioCodecs' 00 40a8ee0000000000
    000b 'videoCodecs' 00 406f800000000000
    000d 'videoFunction' 00 3ff0000000000000
    0000 09";

/// One value of every type the encoder writes.
fn every_type() -> Vec<AmfValue> {
    vec![
        n(0.0),
        n(-1.5),
        n(f64::INFINITY),
        AmfValue::Boolean(true),
        AmfValue::Boolean(false),
        s(""),
        s("héllo ✓"),
        s(&"x".repeat(0x1_0000)),
        AmfValue::object([
            ("a", n(1.0)),
            ("b", AmfValue::object([("c", AmfValue::Null)])),
        ]),
        AmfValue::Object(vec![]),
        AmfValue::TypedObject {
            class: "Point".into(),
            properties: vec![("x".into(), n(2.0))],
        },
        AmfValue::Null,
        AmfValue::Undefined,
        AmfValue::EcmaArray(vec![
            ("duration".into(), n(3.5)),
            ("".into(), s("empty key")),
        ]),
        AmfValue::StrictArray(vec![n(1.0), s("two"), AmfValue::StrictArray(vec![])]),
        AmfValue::Date {
            millis: 1_700_000_000_000.0,
            timezone: -60,
        },
        AmfValue::XmlDocument("<a b='c'/>".into()),
        AmfValue::ByteArray(vec![0, 1, 2, 255]),
    ]
}

#[test]
fn every_type_round_trips() {
    for value in every_type() {
        let bytes = encoded(&value);
        assert_eq!(one(&bytes), Ok(value.clone()), "bytes {bytes:02x?}");
    }
    // And all of them as one payload, as a data message carries them.
    let all = every_type();
    let mut bytes = Vec::new();
    all.iter().for_each(|v| encode(v, &mut bytes));
    assert_eq!(decode_all(&bytes, &limits()), Ok(all));
}

#[test]
fn encodes_exact_bytes() {
    assert_eq!(encoded(&n(1.0)), hex("00 3ff0000000000000"));
    assert_eq!(encoded(&AmfValue::Boolean(true)), hex("01 01"));
    assert_eq!(encoded(&s("app")), hex("02 0003 'app'"));
    assert_eq!(
        encoded(&AmfValue::object([("a", AmfValue::Null)])),
        hex("03 0001 'a' 05 000009")
    );
    assert_eq!(
        encoded(&AmfValue::EcmaArray(vec![])),
        hex("08 00000000 000009")
    );
    assert_eq!(
        encoded(&AmfValue::StrictArray(vec![n(0.0)])),
        hex("0a 00000001 00 0000000000000000")
    );
    assert_eq!(
        encoded(&AmfValue::Date {
            millis: 0.0,
            timezone: 1
        }),
        hex("0b 0000000000000000 0001")
    );
    assert_eq!(
        encoded(&AmfValue::XmlDocument("x".into())),
        hex("0f 00000001 'x'")
    );
    assert_eq!(encoded(&AmfValue::ByteArray(vec![7])), hex("11 0c 03 07"));
    let typed = AmfValue::TypedObject {
        class: "C".into(),
        properties: vec![],
    };
    assert_eq!(encoded(&typed), hex("10 0001 'C' 000009"));
}

#[test]
fn string_switches_to_long_form_only_past_u16() {
    let at_limit = encoded(&s(&"a".repeat(0xFFFF)));
    assert_eq!(&at_limit[..3], &[STRING, 0xFF, 0xFF]);
    let over = encoded(&s(&"a".repeat(0x1_0000)));
    assert_eq!(&over[..5], &[LONG_STRING, 0, 1, 0, 0]);
    assert_eq!(over.len(), 5 + 0x1_0000);
}

#[test]
fn oversized_key_is_cut_at_a_char_boundary() {
    // 'é' is two bytes, so 0xFFFF bytes cannot end on a boundary: one byte less is written.
    let key = "é".repeat(0x8000);
    let bytes = encoded(&AmfValue::object([(key.as_str(), AmfValue::Null)]));
    let AmfValue::Object(properties) = one(&bytes).unwrap() else {
        panic!("not an object")
    };
    assert_eq!(properties[0].0.len(), 0xFFFE);
}

#[test]
fn decodes_ffmpeg_publish_connect() {
    let bytes = hex(FFMPEG_CONNECT);
    let values = decode_all(&bytes, &limits()).unwrap();
    let expected_object = AmfValue::object([
        ("app", s("live")),
        ("type", s("nonprivate")),
        ("flashVer", s("FMLE/3.0 (compatible; Lavf59.27.100)")),
        ("tcUrl", s("rtmp://127.0.0.1:48475/live")),
    ]);
    assert_eq!(values, vec![s("connect"), n(1.0), expected_object]);
    // Our encoder writes the same canonical bytes.
    let mut again = Vec::new();
    values.iter().for_each(|v| encode(v, &mut again));
    assert_eq!(again, bytes);
}

#[test]
fn decodes_rtmpdump_play_connect() {
    let bytes = hex(RTMPDUMP_CONNECT);
    let values = decode_all(&bytes, &limits()).unwrap();
    assert_eq!(values.len(), 3);
    let object = &values[2];
    assert_eq!(object.get("app"), Some(&s("vod")));
    assert_eq!(object.get("fpad"), Some(&AmfValue::Boolean(false)));
    assert_eq!(object.get("capabilities"), Some(&n(15.0)));
    assert_eq!(object.get("audioCodecs"), Some(&n(3191.0)));
    assert_eq!(object.get("videoCodecs"), Some(&n(252.0)));
    assert_eq!(object.get("videoFunction"), Some(&n(1.0)));
    let mut again = Vec::new();
    values.iter().for_each(|v| encode(v, &mut again));
    assert_eq!(again, bytes);
}

#[test]
fn decodes_ffmpeg_metadata() {
    let bytes = hex(FFMPEG_METADATA);
    let values = decode_all(&bytes, &limits()).unwrap();
    assert_eq!(values[0], s("onMetaData"));
    let AmfValue::EcmaArray(entries) = &values[1] else {
        panic!("not an ECMA array")
    };
    assert_eq!(entries.len(), 12);
    assert_eq!(values[1].get("width"), Some(&n(64.0)));
    assert_eq!(values[1].get("audiosamplerate"), Some(&n(8000.0)));
    assert_eq!(values[1].get("stereo"), Some(&AmfValue::Boolean(false)));
    let mut again = Vec::new();
    values.iter().for_each(|v| encode(v, &mut again));
    assert_eq!(again, bytes);
}

#[test]
fn ecma_array_count_is_only_a_hint() {
    let expected = AmfValue::EcmaArray(vec![("a".into(), n(1.0))]);
    for count in ["00000000", "00000001", "00000005", "ffffffff"] {
        let bytes = hex(&format!("08 {count} 0001 'a' 00 3ff0000000000000 000009"));
        assert_eq!(one(&bytes), Ok(expected.clone()), "count {count}");
    }
}

#[test]
fn empty_key_without_end_marker_is_a_property() {
    let bytes = hex("03 0000 05 000009");
    assert_eq!(
        one(&bytes),
        Ok(AmfValue::Object(vec![(String::new(), AmfValue::Null)]))
    );
}

#[test]
fn huge_claimed_lengths_fail_without_allocating() {
    for bytes in [
        "0a ffffffff 05",    // strict array of 4 billion
        "0a 00000003 05 05", // one element short
        "0c ffffffff 'abc'", // long string
        "0f ffffffff 'abc'", // XML document
        "02 ffff 'abc'",     // short string
        "03 ffff 'k'",       // object key
        "10 ff00 'Cls'",     // typed object class name
        "08 ffffffff",       // ECMA array with no body
    ] {
        assert_eq!(one(&hex(bytes)), Err(DecodeError::UnexpectedEnd), "{bytes}");
    }
}

#[test]
fn element_limit() {
    let tight = Limits {
        max_elements: 2,
        ..Limits::default()
    };
    let three = AmfValue::object([("a", n(1.0)), ("b", n(2.0)), ("c", n(3.0))]);
    let too_many = Err(DecodeError::TooManyElements(2));
    assert_eq!(decode(&mut &encoded(&three)[..], &tight), too_many);
    let array = AmfValue::StrictArray(vec![AmfValue::Null; 3]);
    assert_eq!(decode(&mut &encoded(&array)[..], &tight), too_many);
    let ecma = AmfValue::EcmaArray(vec![("k".into(), AmfValue::Null); 3]);
    assert_eq!(decode(&mut &encoded(&ecma)[..], &tight), too_many);
    let two = AmfValue::object([("a", n(1.0)), ("b", n(2.0))]);
    assert_eq!(decode(&mut &encoded(&two)[..], &tight), Ok(two));
}

fn nested_objects(levels: usize) -> Vec<u8> {
    let mut value = AmfValue::Null;
    for _ in 0..levels {
        value = AmfValue::object([("o", value)]);
    }
    encoded(&value)
}

#[test]
fn depth_limit() {
    let max = limits().max_depth;
    assert!(one(&nested_objects(max)).is_ok());
    assert_eq!(
        one(&nested_objects(max + 1)),
        Err(DecodeError::TooDeep(max))
    );
    // A deep attack far beyond the limit stops at the limit, not at the stack's end.
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend_from_slice(&hex("0a 00000001"));
    }
    assert_eq!(one(&deep), Err(DecodeError::TooDeep(max)));
    let flat = Limits {
        max_depth: 0,
        ..Limits::default()
    };
    assert_eq!(
        decode(&mut &hex("03 000009")[..], &flat),
        Err(DecodeError::TooDeep(0))
    );
    assert_eq!(decode(&mut &hex("05")[..], &flat), Ok(AmfValue::Null));
}

#[test]
fn markers_without_values() {
    assert_eq!(
        one(&hex("04 0000")),
        Err(DecodeError::Unsupported("AMF0 movieclip"))
    );
    assert_eq!(one(&hex("0d")), Ok(AmfValue::Undefined));
    assert_eq!(
        one(&hex("0e")),
        Err(DecodeError::Unsupported("AMF0 recordset"))
    );
    assert_eq!(
        one(&hex("12")),
        Err(DecodeError::UnknownMarker {
            version: 0,
            marker: 0x12
        })
    );
    assert_eq!(
        one(&hex("09")),
        Err(DecodeError::UnknownMarker {
            version: 0,
            marker: 0x09
        })
    );
    assert_eq!(
        one(&hex("0a 00000001 09")),
        Err(DecodeError::UnknownMarker {
            version: 0,
            marker: 9
        })
    );
    // Not UTF-8 (a truncated sequence): kept, with U+FFFD marking it, not cut short.
    assert_eq!(
        one(&hex("02 0003 41c328")),
        Ok(AmfValue::string("A\u{fffd}("))
    );
    assert_eq!(one(&hex("01 02")), Ok(AmfValue::Boolean(true)));
}

#[test]
fn references_resolve_to_earlier_objects() {
    // [ {a: 1}, ref 1 ]: the strict array itself is object 0, the inner object is object 1.
    let bytes = hex("0a 00000002 03 0001 'a' 00 3ff0000000000000 000009 07 0001");
    let inner = AmfValue::object([("a", n(1.0))]);
    assert_eq!(
        one(&bytes),
        Ok(AmfValue::StrictArray(vec![inner.clone(), inner.clone()]))
    );
    // Across the values of one payload, as in a command: name, object, reference to it.
    let bytes = hex("02 0001 'x' 03 0001 'a' 00 3ff0000000000000 000009 07 0000");
    assert_eq!(
        decode_all(&bytes, &limits()),
        Ok(vec![s("x"), inner.clone(), inner])
    );
    // Nested references replay with the right depth and without adding slots.
    // [ {}, [ref 1], ref 2, ref 1 ]: slots are 0 outer, 1 {}, 2 [ref 1].
    let bytes = hex("0a 00000004 03 000009 0a 00000001 07 0001 07 0002 07 0001");
    let empty = AmfValue::Object(vec![]);
    let single = AmfValue::StrictArray(vec![empty.clone()]);
    let expected = vec![empty.clone(), single.clone(), single, empty];
    assert_eq!(one(&bytes), Ok(AmfValue::StrictArray(expected)));
}

#[test]
fn bad_and_cyclic_references_are_rejected() {
    assert_eq!(one(&hex("07 0000")), Err(DecodeError::BadReference(0)));
    assert_eq!(
        one(&hex("0a 00000001 07 0001")),
        Err(DecodeError::BadReference(1))
    );
    assert_eq!(
        one(&hex("03 0004 'self' 07 0000 000009")),
        Err(DecodeError::Unsupported(
            "AMF0 reference to an enclosing object"
        ))
    );
}

#[test]
fn reference_chains_cannot_expand_without_bound() {
    // Object 1 holds a string; each next array holds two references to the one before, so
    // level k would expand to 2^k copies. 60 levels are about 700 bytes of input.
    let mut bytes = hex("0a 0000003d 03 0001 'a' 02 0008 'aaaaaaaa' 000009");
    for previous in 1u16..=60 {
        bytes.extend_from_slice(&hex("0a 00000002 07"));
        bytes.extend_from_slice(&previous.to_be_bytes());
        bytes.push(REFERENCE);
        bytes.extend_from_slice(&previous.to_be_bytes());
    }
    assert_eq!(one(&bytes), Err(crate::protocol::amf::wire::BUDGET_SPENT));
}

#[test]
fn avmplus_switches_to_amf3_for_one_value() {
    // AMF3 integer 127, then back in AMF0 for the next value.
    let bytes = hex("11 04 7f 05");
    assert_eq!(
        decode_all(&bytes, &limits()),
        Ok(vec![n(127.0), AmfValue::Null])
    );
    // Inside an object property, an AMF3 string.
    let bytes = hex("03 0001 'k' 11 06 05 'hi' 000009");
    assert_eq!(one(&bytes), Ok(AmfValue::object([("k", s("hi"))])));
    // The AMF3 value counts toward the depth of the AMF0 value around it.
    let shallow = Limits {
        max_depth: 1,
        ..Limits::default()
    };
    let bytes = hex("03 0001 'k' 11 09 01 01 000009");
    assert_eq!(
        decode(&mut &bytes[..], &shallow),
        Err(DecodeError::TooDeep(1))
    );
}

#[test]
fn decode_advances_input_only_on_success() {
    let bytes = hex("05 02 0001 'x' 02 0005 'ab'");
    let mut input = &bytes[..];
    assert_eq!(decode(&mut input, &limits()), Ok(AmfValue::Null));
    assert_eq!(decode(&mut input, &limits()), Ok(s("x")));
    let before = input;
    assert_eq!(
        decode(&mut input, &limits()),
        Err(DecodeError::UnexpectedEnd)
    );
    assert_eq!(input, before);
}

#[test]
fn every_truncation_of_one_value_fails_cleanly() {
    let mut samples: Vec<Vec<u8>> = every_type().iter().map(encoded).collect();
    samples.push(hex(
        "0a 00000002 03 0001 'a' 00 3ff0000000000000 000009 07 0001",
    ));
    samples.push(hex("11 0a 0b 01 03 'a' 04 01 01"));
    for bytes in &samples {
        for cut in 0..bytes.len() {
            let result = decode(&mut &bytes[..cut], &limits());
            assert_eq!(
                result,
                Err(DecodeError::UnexpectedEnd),
                "{bytes:02x?} cut at {cut}"
            );
        }
    }
}

#[test]
fn every_truncation_of_a_payload_fails_or_stops_at_a_value() {
    for sample in [FFMPEG_CONNECT, RTMPDUMP_CONNECT, FFMPEG_METADATA] {
        let bytes = hex(sample);
        let full = decode_all(&bytes, &limits()).unwrap();
        for cut in 0..bytes.len() {
            if let Ok(values) = decode_all(&bytes[..cut], &limits()) {
                assert!(
                    values.len() < full.len() && full.starts_with(&values),
                    "cut {cut}"
                );
            }
        }
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0x00A3F0);
    let seeds = [
        hex(FFMPEG_CONNECT),
        hex(RTMPDUMP_CONNECT),
        hex(FFMPEG_METADATA),
    ];
    for round in 0..20_000 {
        let mut bytes = if round % 2 == 0 {
            seeds[round % seeds.len()].clone()
        } else {
            (0..rng.usize(0..64)).map(|_| rng.u8(..0x14)).collect()
        };
        for _ in 0..rng.usize(1..4) {
            if !bytes.is_empty() {
                let at = rng.usize(..bytes.len());
                bytes[at] = rng.u8(..);
            }
        }
        let _ = decode_all(&bytes, &limits());
    }
}
