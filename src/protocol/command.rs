//! Commands (types 20 and 17): name, transaction id, command object, arguments.
//!
//! Turns a command payload into a [`Command`] and back. Sans-IO: never touches sockets or
//! clocks, never panics on peer bytes; all bounds come from [`amf0`] and its [`Limits`]. What a
//! command means (connect, publish, play, ...) is the session's business, not this module's.
//!
//! Call order: [`Command::decode`] on each received type 20/17 payload; [`Command::new`] then
//! [`Command::encode`] to answer (always AMF0, which every peer accepts).
use super::amf::{amf0, AmfValue, DecodeError, Limits};

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction_id: f64,
    /// The command object (often Null).
    pub object: AmfValue,
    /// Everything after the command object.
    pub args: Vec<AmfValue>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("command has no name")]
    MissingName,
    #[error("bad AMF in command: {0}")]
    Amf(#[from] DecodeError),
}

impl Command {
    pub fn new(name: &str, transaction_id: f64, object: AmfValue, args: Vec<AmfValue>) -> Self {
        Command {
            name: name.to_string(),
            transaction_id,
            object,
            args,
        }
    }

    /// Decodes an AMF0 command payload, or an AMF3 one (type 17) when `amf3` is set: then the
    /// payload starts with a 0 byte that is skipped, and values may switch to AMF3.
    /// A missing transaction id or command object decodes as 0 / Null (some peers omit them);
    /// a transaction id that is not a number decodes as 0. All values share one AMF0 reference
    /// table, as they share one message.
    pub fn decode(payload: &[u8], amf3: bool, limits: &Limits) -> Result<Command, CommandError> {
        // The leading byte of a type 17 payload selects the format and is always 0. A command
        // cannot start with 0 (the AMF0 number marker), so a payload without it is taken as is.
        let body = match payload {
            [0, rest @ ..] if amf3 => rest,
            _ => payload,
        };
        let mut values = amf0::Decoder::new(body, limits);
        if values.is_empty() {
            return Err(CommandError::MissingName);
        }
        let name = match values.decode()? {
            AmfValue::String(name) => name,
            _ => return Err(CommandError::MissingName),
        };
        let transaction_id = if values.is_empty() {
            0.0
        } else {
            values.decode()?.as_f64().unwrap_or(0.0)
        };
        let object = if values.is_empty() {
            AmfValue::Null
        } else {
            values.decode()?
        };
        let mut args = Vec::new();
        while !values.is_empty() {
            args.push(values.decode()?);
        }
        Ok(Command {
            name,
            transaction_id,
            object,
            args,
        })
    }

    /// Writes the command as an AMF0 payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        amf0::encode_str(&self.name, out);
        amf0::encode_number(self.transaction_id, out);
        amf0::encode(&self.object, out);
        for arg in &self.args {
            amf0::encode(arg, out);
        }
    }

    /// The string argument at `index` in `args`, if it is a string.
    pub fn arg_str(&self, index: usize) -> Option<&str> {
        self.args.get(index).and_then(AmfValue::as_str)
    }

    /// The number argument at `index` in `args`, if it is a number.
    pub fn arg_f64(&self, index: usize) -> Option<f64> {
        self.args.get(index).and_then(AmfValue::as_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::amf::captures::{hex, FFMPEG_CONNECT};

    fn limits() -> Limits {
        Limits::default()
    }

    fn encoded(command: &Command) -> Vec<u8> {
        let mut out = Vec::new();
        command.encode(&mut out);
        out
    }

    #[test]
    fn decodes_and_reencodes_ffmpeg_connect() {
        let bytes = hex(FFMPEG_CONNECT);
        let command = Command::decode(&bytes, false, &limits()).unwrap();
        assert_eq!(command.name, "connect");
        assert_eq!(command.transaction_id, 1.0);
        assert_eq!(
            command.object.get("app").and_then(AmfValue::as_str),
            Some("live")
        );
        assert_eq!(
            command.object.get("tcUrl").and_then(AmfValue::as_str),
            Some("rtmp://127.0.0.1:48475/live")
        );
        assert!(command.args.is_empty());
        assert_eq!(encoded(&command), bytes);
    }

    #[test]
    fn round_trips_with_arguments() {
        let publish = Command::new(
            "publish",
            5.0,
            AmfValue::Null,
            vec![AmfValue::string("stream"), AmfValue::string("live")],
        );
        let bytes = encoded(&publish);
        assert_eq!(
            bytes,
            hex("02 0007 'publish' 00 4014000000000000 05 02 0006 'stream' 02 0004 'live'")
        );
        let decoded = Command::decode(&bytes, false, &limits()).unwrap();
        assert_eq!(decoded, publish);
        assert_eq!(decoded.arg_str(0), Some("stream"));
        assert_eq!(decoded.arg_str(1), Some("live"));
        assert_eq!(decoded.arg_f64(0), None);
        assert_eq!(decoded.arg_str(2), None);
    }

    #[test]
    fn missing_transaction_id_and_object_default() {
        let name_only = hex("02 000c 'createStream'");
        let command = Command::decode(&name_only, false, &limits()).unwrap();
        assert_eq!(
            command,
            Command::new("createStream", 0.0, AmfValue::Null, vec![])
        );
        let no_object = hex("02 000c 'createStream' 00 4000000000000000");
        let command = Command::decode(&no_object, false, &limits()).unwrap();
        assert_eq!(
            command,
            Command::new("createStream", 2.0, AmfValue::Null, vec![])
        );
        let null_id = hex("02 0004 'play' 05 05 02 0001 's'");
        let command = Command::decode(&null_id, false, &limits()).unwrap();
        assert_eq!(command.transaction_id, 0.0);
        assert_eq!(command.arg_str(0), Some("s"));
    }

    #[test]
    fn name_must_be_a_string() {
        assert_eq!(
            Command::decode(&[], false, &limits()),
            Err(CommandError::MissingName)
        );
        assert_eq!(
            Command::decode(&[0], true, &limits()),
            Err(CommandError::MissingName)
        );
        let number_first = hex("00 3ff0000000000000 05");
        assert_eq!(
            Command::decode(&number_first, false, &limits()),
            Err(CommandError::MissingName)
        );
        assert_eq!(
            Command::decode(&hex("05"), false, &limits()),
            Err(CommandError::MissingName)
        );
        assert_eq!(
            Command::decode(&hex("02 0005 'ab'"), false, &limits()),
            Err(CommandError::Amf(DecodeError::UnexpectedEnd))
        );
        assert_eq!(
            Command::decode(
                &hex("02 0001 'x' 00 3ff0000000000000 05 13"),
                false,
                &limits()
            ),
            Err(CommandError::Amf(DecodeError::UnknownMarker {
                version: 0,
                marker: 0x13
            }))
        );
    }

    #[test]
    fn amf3_command_skips_format_byte_and_follows_switches() {
        // Type 17 as Flash Player writes it: format byte 0, AMF0 name and id, then the
        // command object switched to AMF3 ({app: "live"}, dynamic), then an AMF0 null.
        let bytes =
            hex("00 02 0007 'connect' 00 3ff0000000000000 11 0a 0b 01 07 'app' 06 09 'live' 01 05");
        let command = Command::decode(&bytes, true, &limits()).unwrap();
        assert_eq!(command.name, "connect");
        assert_eq!(command.transaction_id, 1.0);
        assert_eq!(
            command.object,
            AmfValue::object([("app", AmfValue::string("live"))])
        );
        assert_eq!(command.args, vec![AmfValue::Null]);
        // The name itself may be an AMF3 string, and the id an AMF3 integer.
        let bytes = hex("00 11 06 0f 'connect' 11 04 01");
        let command = Command::decode(&bytes, true, &limits()).unwrap();
        assert_eq!(
            (command.name.as_str(), command.transaction_id),
            ("connect", 1.0)
        );
        // A type 17 payload without the format byte is still accepted.
        let plain = hex(FFMPEG_CONNECT);
        assert_eq!(
            Command::decode(&plain, true, &limits()),
            Command::decode(&plain, false, &limits())
        );
        // A type 20 payload keeps a leading 0: it is then a number, not a name.
        let mut prefixed = vec![0];
        prefixed.extend_from_slice(&plain);
        assert!(Command::decode(&prefixed, false, &limits()).is_err());
        assert!(Command::decode(&prefixed, true, &limits()).is_ok());
    }

    #[test]
    fn every_truncation_fails_or_defaults() {
        let bytes = hex(FFMPEG_CONNECT);
        let full = Command::decode(&bytes, false, &limits()).unwrap();
        for cut in 0..bytes.len() {
            match Command::decode(&bytes[..cut], false, &limits()) {
                Ok(command) => {
                    assert_eq!(command.name, full.name, "cut {cut}");
                    assert_eq!(command.object, AmfValue::Null, "cut {cut}");
                }
                Err(CommandError::MissingName) => assert_eq!(cut, 0),
                Err(CommandError::Amf(e)) => assert_eq!(e, DecodeError::UnexpectedEnd),
            }
        }
    }
}
