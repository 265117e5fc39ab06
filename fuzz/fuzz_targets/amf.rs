//! Fuzzes the AMF decoders and the command decoder with arbitrary message payloads.
//!
//! Every input must decode or fail with an error: no panic, no unbounded allocation, no
//! runaway recursion. Successful decodes are re-encoded and decoded again, which must give the
//! same command whenever AMF0 can carry it exactly (no NaN, keys and class names that fit a
//! u16 length: AMF3 allows longer ones, which the AMF0 encoder cuts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_edge::protocol::amf::{amf0, amf3, Limits};
use rtmp_edge::protocol::command::Command;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = amf0::decode_all(data, &limits);
    let _ = amf3::decode(&mut &data[..], &limits);
    for amf3 in [false, true] {
        if let Ok(command) = Command::decode(data, amf3, &limits) {
            let mut out = Vec::new();
            command.encode(&mut out);
            let again = Command::decode(&out, false, &limits).expect("re-encoded command decodes");
            if exact(&command) {
                assert_eq!(again, command);
            }
        }
    }
});

fn exact(command: &Command) -> bool {
    use rtmp_edge::protocol::amf::AmfValue;
    fn short(key: &str) -> bool {
        key.len() <= usize::from(u16::MAX)
    }
    fn exact(value: &AmfValue) -> bool {
        match value {
            AmfValue::Number(n) | AmfValue::Date { millis: n, .. } => !n.is_nan(),
            AmfValue::Object(props) | AmfValue::EcmaArray(props) => {
                props.iter().all(|(k, v)| short(k) && exact(v))
            }
            AmfValue::TypedObject { class, properties } => {
                short(class) && properties.iter().all(|(k, v)| short(k) && exact(v))
            }
            AmfValue::StrictArray(items) => items.iter().all(exact),
            _ => true,
        }
    }
    !command.transaction_id.is_nan() && exact(&command.object) && command.args.iter().all(exact)
}
