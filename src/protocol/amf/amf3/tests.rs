use super::*;
use crate::protocol::amf::captures::hex;

fn one(bytes: &[u8]) -> Result<AmfValue, DecodeError> {
    let mut input = bytes;
    let value = decode(&mut input, &Limits::default())?;
    assert!(
        input.is_empty(),
        "{} bytes left after the value",
        input.len()
    );
    Ok(value)
}

fn n(x: f64) -> AmfValue {
    AmfValue::Number(x)
}

fn s(text: &str) -> AmfValue {
    AmfValue::string(text)
}

/// A plain AMF3 encoder for the round trips: no references, integers where they fit.
fn enc(value: &AmfValue, out: &mut Vec<u8>) {
    fn text(t: &str, out: &mut Vec<u8>) {
        encode_u29((t.len() as u32) << 1 | 1, out);
        out.extend_from_slice(t.as_bytes());
    }
    fn dynamic(properties: &[(String, AmfValue)], out: &mut Vec<u8>) {
        for (key, value) in properties {
            text(key, out);
            enc(value, out);
        }
        out.push(1);
    }
    match value {
        AmfValue::Undefined => out.push(UNDEFINED),
        AmfValue::Null => out.push(NULL),
        AmfValue::Boolean(b) => out.push(if *b { TRUE } else { FALSE }),
        AmfValue::Number(x)
            if x.fract() == 0.0 && (-(1 << 28) as f64..(1 << 28) as f64).contains(x) =>
        {
            out.push(INTEGER);
            encode_u29(*x as i32 as u32, out);
        }
        AmfValue::Number(x) => {
            out.push(DOUBLE);
            out.extend_from_slice(&x.to_be_bytes());
        }
        AmfValue::String(t) => {
            out.push(STRING);
            text(t, out);
        }
        AmfValue::XmlDocument(t) => {
            out.push(XML);
            text(t, out);
        }
        AmfValue::Date { millis, .. } => {
            out.extend_from_slice(&[DATE, 1]);
            out.extend_from_slice(&millis.to_be_bytes());
        }
        AmfValue::ByteArray(bytes) => encode_byte_array(bytes, out),
        AmfValue::StrictArray(items) => {
            out.push(ARRAY);
            encode_u29((items.len() as u32) << 1 | 1, out);
            out.push(1);
            items.iter().for_each(|item| enc(item, out));
        }
        AmfValue::EcmaArray(properties) => {
            out.extend_from_slice(&[ARRAY, 1]);
            dynamic(properties, out);
        }
        AmfValue::Object(properties) => {
            out.extend_from_slice(&[OBJECT, 0x0b, 1]);
            dynamic(properties, out);
        }
        AmfValue::TypedObject { class, properties } => {
            // All members sealed, not dynamic.
            out.push(OBJECT);
            encode_u29((properties.len() as u32) << 4 | 0b0011, out);
            text(class, out);
            properties.iter().for_each(|(key, _)| text(key, out));
            properties.iter().for_each(|(_, value)| enc(value, out));
        }
    }
}

fn encoded(value: &AmfValue) -> Vec<u8> {
    let mut out = Vec::new();
    enc(value, &mut out);
    out
}

fn every_type() -> Vec<AmfValue> {
    vec![
        AmfValue::Undefined,
        AmfValue::Null,
        AmfValue::Boolean(false),
        AmfValue::Boolean(true),
        n(0.0),
        n(-1.0),
        n(268_435_455.0),
        n(-268_435_456.0),
        n(268_435_456.0),
        n(0.5),
        s(""),
        s("héllo"),
        s(&"y".repeat(20_000)),
        AmfValue::XmlDocument("<x/>".into()),
        AmfValue::Date {
            millis: 1_234_567_890_123.0,
            timezone: 0,
        },
        AmfValue::ByteArray(vec![]),
        AmfValue::ByteArray((0..=255).collect()),
        AmfValue::StrictArray(vec![n(1.0), s("b"), AmfValue::StrictArray(vec![])]),
        AmfValue::EcmaArray(vec![("k".into(), n(2.0))]),
        AmfValue::object([("a", n(1.0)), ("b", AmfValue::object([("c", s("d"))]))]),
        AmfValue::Object(vec![]),
        AmfValue::TypedObject {
            class: "flash.geom.Point".into(),
            properties: vec![("x".into(), n(1.5)), ("y".into(), n(-2.0))],
        },
    ]
}

#[test]
fn every_type_round_trips() {
    for value in every_type() {
        let bytes = encoded(&value);
        assert_eq!(one(&bytes), Ok(value.clone()), "bytes {bytes:02x?}");
    }
}

#[test]
fn integer_edge_encodings() {
    for (bytes, expected) in [
        ("04 00", 0.0),
        ("04 7f", 127.0),
        ("04 81 00", 128.0),
        ("04 ff 7f", 16_383.0),
        ("04 81 80 00", 16_384.0),
        ("04 ff ff 7f", 2_097_151.0),
        ("04 80 c0 80 00", 2_097_152.0),
        ("04 bf ff ff ff", 268_435_455.0),
        ("04 c0 80 80 00", -268_435_456.0),
        ("04 ff ff ff fe", -2.0),
        ("04 ff ff ff ff", -1.0),
    ] {
        assert_eq!(one(&hex(bytes)), Ok(n(expected)), "{bytes}");
    }
    for value in [0, 0x7f, 0x80, 0x3fff, 0x4000, 0x1f_ffff, 0x20_0000, U29_MAX] {
        let mut out = Vec::new();
        encode_u29(value, &mut out);
        assert_eq!(u29(&mut &out[..]), Ok(value), "{value:#x} as {out:02x?}");
    }
}

#[test]
fn double_and_constants() {
    assert_eq!(
        one(&hex("05 400921fb54442d18")),
        Ok(n(std::f64::consts::PI))
    );
    assert_eq!(one(&hex("00")), Ok(AmfValue::Undefined));
    assert_eq!(one(&hex("01")), Ok(AmfValue::Null));
    assert_eq!(one(&hex("02")), Ok(AmfValue::Boolean(false)));
    assert_eq!(one(&hex("03")), Ok(AmfValue::Boolean(true)));
}

#[test]
fn string_references() {
    // Dense array ["hello", ref 0, "", ""]: header 4 dense (0x09), no named members (0x01).
    let bytes = hex("09 09 01 06 0b 'hello' 06 00 06 01 06 01");
    let expected = vec![s("hello"), s("hello"), s(""), s("")];
    assert_eq!(one(&bytes), Ok(AmfValue::StrictArray(expected)));
    // The empty string never enters the table, so ref 0 is still "hello".
    let bytes = hex("09 07 01 06 01 06 0b 'hello' 06 00");
    assert_eq!(
        one(&bytes),
        Ok(AmfValue::StrictArray(vec![s(""), s("hello"), s("hello")]))
    );
    // Keys share the table with values.
    let bytes = hex("0a 0b 01 07 'key' 06 00 01");
    assert_eq!(one(&bytes), Ok(AmfValue::object([("key", s("key"))])));
    assert_eq!(one(&hex("06 02")), Err(DecodeError::BadReference(1)));
}

#[test]
fn anonymous_object_with_dynamic_members() {
    // Header 0x0b: inline object, inline traits, dynamic, no sealed members; class "".
    let bytes = hex("0a 0b 01 03 'a' 04 01 03 'b' 06 03 'x' 01");
    assert_eq!(
        one(&bytes),
        Ok(AmfValue::object([("a", n(1.0)), ("b", s("x"))]))
    );
}

#[test]
fn typed_objects_with_sealed_members_and_traits_references() {
    // [Point{x:1, y:2}, Point{x:3, y:4} via traits ref 0, ref to object 1].
    let bytes = hex("09 07 01
         0a 23 0b 'Point' 03 'x' 03 'y' 04 01 04 02
         0a 01 04 03 04 04
         0a 02");
    let point = |x: f64, y: f64| AmfValue::TypedObject {
        class: "Point".into(),
        properties: vec![("x".into(), n(x)), ("y".into(), n(y))],
    };
    assert_eq!(
        one(&bytes),
        Ok(AmfValue::StrictArray(vec![
            point(1.0, 2.0),
            point(3.0, 4.0),
            point(1.0, 2.0)
        ]))
    );
}

#[test]
fn sealed_and_dynamic_members_together() {
    // Header 0x1b: one sealed member, dynamic. Class "C", sealed "id", then dynamic "extra".
    let bytes = hex("0a 1b 03 'C' 05 'id' 04 2a 0b 'extra' 03 01");
    let expected = AmfValue::TypedObject {
        class: "C".into(),
        properties: vec![
            ("id".into(), n(42.0)),
            ("extra".into(), AmfValue::Boolean(true)),
        ],
    };
    assert_eq!(one(&bytes), Ok(expected));
}

#[test]
fn array_with_named_members_is_an_ecma_array() {
    let bytes = hex("09 05 03 'a' 04 05 01 04 07 04 08");
    let expected = vec![
        ("a".into(), n(5.0)),
        ("0".into(), n(7.0)),
        ("1".into(), n(8.0)),
    ];
    assert_eq!(one(&bytes), Ok(AmfValue::EcmaArray(expected)));
}

#[test]
fn object_table_values() {
    assert_eq!(
        one(&hex("07 09 '<a/>'")),
        Ok(AmfValue::XmlDocument("<a/>".into()))
    );
    assert_eq!(
        one(&hex("0b 03 'x'")),
        Ok(AmfValue::XmlDocument("x".into()))
    );
    assert_eq!(
        one(&hex("08 01 0000000000000000")),
        Ok(AmfValue::Date {
            millis: 0.0,
            timezone: 0
        })
    );
    assert_eq!(
        one(&hex("0c 07 010203")),
        Ok(AmfValue::ByteArray(vec![1, 2, 3]))
    );
    // Byte array, date and XML are numbered like objects: [bytes, date, ref 1, ref 2].
    let bytes = hex("09 09 01 0c 03 ff 08 01 3ff0000000000000 0c 02 08 04");
    let date = AmfValue::Date {
        millis: 1.0,
        timezone: 0,
    };
    let blob = AmfValue::ByteArray(vec![0xff]);
    assert_eq!(
        one(&bytes),
        Ok(AmfValue::StrictArray(vec![
            blob.clone(),
            date.clone(),
            blob,
            date
        ]))
    );
}

#[test]
fn unsupported_and_unknown() {
    assert_eq!(
        one(&hex("0a 07 03 'C'")),
        Err(DecodeError::Unsupported("AMF3 externalizable object"))
    );
    for marker in [0x0d, 0x0e, 0x0f, 0x10] {
        assert_eq!(
            one(&[marker, 1]),
            Err(DecodeError::Unsupported("AMF3 vector"))
        );
    }
    assert_eq!(
        one(&hex("11 01")),
        Err(DecodeError::Unsupported("AMF3 dictionary"))
    );
    assert_eq!(
        one(&hex("12")),
        Err(DecodeError::UnknownMarker {
            version: 3,
            marker: 0x12
        })
    );
    // Not UTF-8 (a truncated sequence): kept, with U+FFFD marking it, not cut short.
    assert_eq!(
        one(&hex("06 07 41c328")),
        Ok(AmfValue::string("A\u{fffd}("))
    );
}

#[test]
fn bad_and_cyclic_references() {
    assert_eq!(one(&hex("0a 00")), Err(DecodeError::BadReference(0)));
    assert_eq!(one(&hex("0a 05")), Err(DecodeError::BadReference(1)));
    // An object whose member is itself.
    assert_eq!(
        one(&hex("0a 0b 01 03 'a' 0a 00 01")),
        Err(DecodeError::Unsupported(
            "AMF3 reference to an enclosing object"
        ))
    );
}

#[test]
fn huge_claimed_lengths_fail_without_allocating() {
    for bytes in [
        "06 ff ff ff ff",       // string of 2^28 - 1 bytes
        "0c ff ff ff ff 00",    // byte array
        "07 ff ff ff ff",       // XML document
        "09 ff ff ff ff 01",    // dense array of 2^28 - 1 members
        "0a ff ff ff f3 01 01", // object with 2^25 sealed members
        "09 03 01",             // one dense member missing
    ] {
        assert_eq!(one(&hex(bytes)), Err(DecodeError::UnexpectedEnd), "{bytes}");
    }
}

#[test]
fn limits() {
    let max = Limits::default().max_depth;
    let nested = |levels: usize| {
        let mut bytes = hex(&"09 03 01 ".repeat(levels));
        bytes.push(NULL);
        bytes
    };
    assert!(one(&nested(max)).is_ok());
    assert_eq!(one(&nested(max + 1)), Err(DecodeError::TooDeep(max)));
    assert_eq!(one(&nested(50_000)), Err(DecodeError::TooDeep(max)));

    let tight = Limits {
        max_elements: 2,
        ..Limits::default()
    };
    let too_many = Err(DecodeError::TooManyElements(2));
    let dynamic = hex("0a 0b 01 03 'a' 01 03 'b' 01 03 'c' 01 01");
    assert_eq!(decode(&mut &dynamic[..], &tight), too_many);
    let dense = hex("09 07 01 01 01 01");
    assert_eq!(decode(&mut &dense[..], &tight), too_many);
    let mixed = hex("09 03 03 'a' 01 03 'b' 01 01 01");
    assert_eq!(decode(&mut &mixed[..], &tight), too_many);
    let sealed = hex("0a 33 01 03 'a' 03 'b' 03 'c' 01 01 01");
    assert_eq!(decode(&mut &sealed[..], &tight), too_many);
}

#[test]
fn reference_chains_cannot_expand_without_bound() {
    // Object 1 is a 16-byte string in an array; each next array holds its predecessor twice.
    let mut bytes = hex("09 7b 01 09 03 01 06 21 'aaaaaaaaaaaaaaaa'");
    for previous in 1u32..=60 {
        bytes.extend_from_slice(&[ARRAY, 0x05, 0x01]);
        for _ in 0..2 {
            bytes.push(ARRAY);
            encode_u29(previous << 1, &mut bytes);
        }
    }
    assert_eq!(one(&bytes), Err(crate::protocol::amf::wire::BUDGET_SPENT));
}

#[test]
fn every_truncation_fails_cleanly() {
    let mut samples: Vec<Vec<u8>> = every_type().iter().map(encoded).collect();
    samples.push(hex(
        "09 07 01 0a 23 0b 'Point' 03 'x' 03 'y' 04 01 04 02 0a 01 04 03 04 04 0a 02",
    ));
    samples.push(hex("09 09 01 06 0b 'hello' 06 00 06 01 06 01"));
    samples.push(hex("04 ff ff ff ff"));
    for bytes in &samples {
        for cut in 0..bytes.len() {
            let result = decode(&mut &bytes[..cut], &Limits::default());
            assert_eq!(
                result,
                Err(DecodeError::UnexpectedEnd),
                "{bytes:02x?} cut at {cut}"
            );
        }
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0x3A3F);
    let seed = hex("09 07 01 0a 1b 03 'C' 05 'id' 04 2a 0b 'extra' 03 01 0a 01 04 03 01 0a 02");
    for round in 0..20_000 {
        let mut bytes = if round % 2 == 0 {
            seed.clone()
        } else {
            (0..rng.usize(0..48)).map(|_| rng.u8(..0x14)).collect()
        };
        for _ in 0..rng.usize(1..4) {
            if !bytes.is_empty() {
                let at = rng.usize(..bytes.len());
                bytes[at] = rng.u8(..);
            }
        }
        let _ = decode(&mut &bytes[..], &Limits::default());
    }
}
