//! The commands a server answers with: connect `_result`, `onStatus` info objects, `_error`.
//! Pure builders; the session decides when to send them.
use crate::protocol::amf::AmfValue;
use crate::protocol::command::Command;

/// The status codes this server sends (NetStream.* and NetConnection.*).
pub(crate) mod code {
    pub const CONNECT_SUCCESS: &str = "NetConnection.Connect.Success";
    pub const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
    pub const CONNECT_RECONNECT_REQUEST: &str = "NetConnection.Connect.ReconnectRequest";
    pub const CALL_FAILED: &str = "NetConnection.Call.Failed";
    pub const PUBLISH_START: &str = "NetStream.Publish.Start";
    pub const PUBLISH_BAD_NAME: &str = "NetStream.Publish.BadName";
    pub const UNPUBLISH_SUCCESS: &str = "NetStream.Unpublish.Success";
    pub const PLAY_RESET: &str = "NetStream.Play.Reset";
    pub const PLAY_START: &str = "NetStream.Play.Start";
    pub const PLAY_STREAM_NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
    pub const PLAY_UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
    pub const PLAY_PUBLISH_NOTIFY: &str = "NetStream.Play.PublishNotify";
}

/// An info object: `{level, code, description}` plus extra properties.
pub(crate) fn info(level: &str, code: &str, description: &str) -> AmfValue {
    AmfValue::object([
        ("level", AmfValue::string(level)),
        ("code", AmfValue::string(code)),
        ("description", AmfValue::string(description)),
    ])
}

pub(crate) fn on_status(level: &str, code: &str, description: &str) -> Command {
    Command::new(
        "onStatus",
        0.0,
        AmfValue::Null,
        vec![info(level, code, description)],
    )
}

pub(crate) fn connect_result(transaction_id: f64, object_encoding: f64) -> Command {
    let properties = AmfValue::object([
        ("fmsVer", AmfValue::string("FMS/3,0,1,123")),
        ("capabilities", AmfValue::Number(31.0)),
        ("mode", AmfValue::Number(1.0)),
    ]);
    let mut properties = properties;
    if let AmfValue::Object(props) = &mut properties {
        props.extend(super::caps::server_properties());
    }
    let mut information = info("status", code::CONNECT_SUCCESS, "Connection succeeded.");
    if let AmfValue::Object(props) = &mut information {
        props.push(("objectEncoding".into(), AmfValue::Number(object_encoding)));
    }
    Command::new("_result", transaction_id, properties, vec![information])
}

/// A `_result` whose only argument is `value`.
pub(crate) fn result(transaction_id: f64, value: AmfValue) -> Command {
    Command::new("_result", transaction_id, AmfValue::Null, vec![value])
}

pub(crate) fn error(transaction_id: f64, code: &str, description: &str) -> Command {
    Command::new(
        "_error",
        transaction_id,
        AmfValue::Null,
        vec![info("error", code, description)],
    )
}

/// `onFCPublish` / `onFCUnpublish`, which OBS-era clients expect after FCPublish/FCUnpublish.
pub(crate) fn on_fc(name: &str, code: &str, stream: &str) -> Command {
    let info = AmfValue::object([
        ("code", AmfValue::string(code)),
        ("description", AmfValue::string(stream)),
    ]);
    Command::new(name, 0.0, AmfValue::Null, vec![info])
}

/// Enhanced RTMP v2: asks the client to reconnect to `tc_url` (its next keyframe is a good
/// moment), sent on stream 0 when the server starts to drain.
pub(crate) fn reconnect_request(tc_url: &str) -> Command {
    let mut information = info(
        "status",
        code::CONNECT_RECONNECT_REQUEST,
        "The server is draining; please reconnect.",
    );
    if let AmfValue::Object(props) = &mut information {
        props.push(("tcUrl".into(), AmfValue::string(tc_url)));
    }
    Command::new("onStatus", 0.0, AmfValue::Null, vec![information])
}
