//! The value tree shared by the AMF0 and AMF3 decoders, and decode errors.

/// One AMF value. AMF3 values map onto the nearest AMF0 shape (integer -> Number, dense array
/// -> StrictArray, associative array -> EcmaArray, XML -> XmlDocument) so callers see one tree.
#[derive(Debug, Clone, PartialEq)]
pub enum AmfValue {
    Number(f64),
    Boolean(bool),
    /// AMF0 string (u16 length) or long string (u32 length) on decode; the encoder chooses
    /// the long form only when the text does not fit in a u16 length.
    String(String),
    /// Anonymous object: ordered key/value pairs.
    Object(Vec<(String, AmfValue)>),
    /// Typed object (AMF0 0x10 / AMF3 sealed with class name).
    TypedObject {
        class: String,
        properties: Vec<(String, AmfValue)>,
    },
    Null,
    Undefined,
    /// ECMA (associative) array: ordered key/value pairs.
    EcmaArray(Vec<(String, AmfValue)>),
    StrictArray(Vec<AmfValue>),
    /// Milliseconds since the epoch and the (unused, reserved) time zone.
    Date {
        millis: f64,
        timezone: i16,
    },
    XmlDocument(String),
    /// AMF3 ByteArray.
    ByteArray(Vec<u8>),
}

impl AmfValue {
    /// The string if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AmfValue::String(s) | AmfValue::XmlDocument(s) => Some(s),
            _ => None,
        }
    }

    /// The number if this is a number value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AmfValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Looks up a property of an object, typed object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&AmfValue> {
        match self {
            AmfValue::Object(props)
            | AmfValue::EcmaArray(props)
            | AmfValue::TypedObject {
                properties: props, ..
            } => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Shorthand to build an object from `(&str, AmfValue)` pairs.
    pub fn object<I, K>(pairs: I) -> AmfValue
    where
        I: IntoIterator<Item = (K, AmfValue)>,
        K: Into<String>,
    {
        AmfValue::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn string(s: impl Into<String>) -> AmfValue {
        AmfValue::String(s.into())
    }
}

/// Decoder limits. The defaults suit RTMP commands and metadata.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of objects/arrays accepted.
    pub max_depth: usize,
    /// Most elements accepted in one object/array.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_elements: 65_536,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("AMF input ended early")]
    UnexpectedEnd,
    #[error("unknown AMF{version} type marker 0x{marker:02x}")]
    UnknownMarker { version: u8, marker: u8 },
    #[error("AMF nesting deeper than {0}")]
    TooDeep(usize),
    #[error("AMF container with more than {0} elements")]
    TooManyElements(usize),
    #[error("AMF string is not valid UTF-8")]
    InvalidUtf8,
    #[error("AMF reference {0} does not exist")]
    BadReference(usize),
    #[error("unsupported AMF feature: {0}")]
    Unsupported(&'static str),
}
