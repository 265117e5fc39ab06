//! Commands (types 20 and 17): name, transaction id, command object, arguments.
use super::amf::{AmfValue, DecodeError, Limits};

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
        Command { name: name.to_string(), transaction_id, object, args }
    }

    /// Decodes an AMF0 command payload, or an AMF3 one (type 17) when `amf3` is set: then the
    /// payload starts with a 0 byte that is skipped, and values may switch to AMF3.
    /// A missing transaction id or command object decodes as 0 / Null (some peers omit them).
    pub fn decode(payload: &[u8], amf3: bool, limits: &Limits) -> Result<Command, CommandError> {
        let _ = (payload, amf3, limits);
        todo!()
    }

    /// Writes the command as an AMF0 payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
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
