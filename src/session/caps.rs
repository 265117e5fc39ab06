//! Enhanced RTMP v2 capability negotiation in `connect`: what a client announced it can decode
//! (`fourCcList`, `videoFourCcInfoMap`, `audioFourCcInfoMap`, `capsEx`) and what rtmp-edge
//! answers with in its `_result`.
//!
//! A client that announced any of those properties is an enhanced player and gets a stream's
//! every track untouched; one that announced none is a legacy player and gets the stream's
//! legacy variant (see `media::variants`). Pure functions over AMF values: no I/O, no clock.
use crate::protocol::amf::AmfValue;
use crate::protocol::flv::tracks::{audio_fourcc, video_fourcc};

/// `capsEx` bits (Enhanced RTMP v2).
pub mod caps_ex {
    /// NetConnection.Connect.ReconnectRequest: sent to clients that announced it when the
    /// server drains (SIGTERM).
    pub const RECONNECT: u32 = 0x01;
    pub const MULTITRACK: u32 = 0x02;
    pub const MOD_EX: u32 = 0x04;
    pub const TIMESTAMP_NANO_OFFSET: u32 = 0x08;
}

/// FourCcInfoMap flags.
pub mod fourcc_info {
    pub const CAN_DECODE: u32 = 0x01;
    pub const CAN_ENCODE: u32 = 0x02;
    pub const CAN_FORWARD: u32 = 0x04;
}

/// What rtmp-edge announces: Multitrack and ModEx (relayed as published, removed from the
/// legacy variant), and Reconnect (a drain asks capable clients to reconnect).
pub const SERVER_CAPS_EX: u32 = caps_ex::RECONNECT | caps_ex::MULTITRACK | caps_ex::MOD_EX;

/// Most FourCCs kept from one client's announcement (the rest are ignored).
const MAX_FOURCCS: usize = 32;

/// What one client announced in its connect command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// Any of the Enhanced RTMP properties was present.
    pub announced: bool,
    /// FourCCs from `fourCcList` and both info maps (`*` is kept as `****`), at most 32.
    pub fourccs: Vec<[u8; 4]>,
    pub caps_ex: u32,
}

impl ClientCaps {
    /// Reads the connect command object.
    pub fn from_connect(object: &AmfValue) -> Self {
        let mut caps = ClientCaps::default();
        if let Some(AmfValue::StrictArray(list)) = object.get("fourCcList") {
            caps.announced = true;
            for name in list.iter().filter_map(AmfValue::as_str) {
                caps.add(name);
            }
        }
        for key in ["videoFourCcInfoMap", "audioFourCcInfoMap"] {
            if let Some(AmfValue::Object(map) | AmfValue::EcmaArray(map)) = object.get(key) {
                caps.announced = true;
                for (name, _) in map {
                    caps.add(name);
                }
            }
        }
        if let Some(bits) = object.get("capsEx").and_then(AmfValue::as_f64) {
            caps.announced = true;
            if bits.is_finite() && bits >= 0.0 {
                caps.caps_ex = bits.min(f64::from(u32::MAX)) as u32;
            }
        }
        caps
    }

    fn add(&mut self, name: &str) {
        let name = if name == "*" { "****" } else { name };
        let Ok(fourcc) = <[u8; 4]>::try_from(name.as_bytes()) else {
            return;
        };
        if self.fourccs.len() < MAX_FOURCCS && !self.fourccs.contains(&fourcc) {
            self.fourccs.push(fourcc);
        }
    }

    /// Whether the client speaks Enhanced RTMP (announced anything at all).
    pub fn is_enhanced(&self) -> bool {
        self.announced
    }
}

/// The Enhanced RTMP properties of rtmp-edge's connect `_result`: every FourCC it relays, each
/// marked CanForward (it never decodes or encodes), and [`SERVER_CAPS_EX`].
pub fn server_properties() -> Vec<(String, AmfValue)> {
    let name = |f: &[u8; 4]| String::from_utf8_lossy(f).into_owned();
    let info = |list: &[[u8; 4]]| {
        AmfValue::Object(
            list.iter()
                .map(|f| {
                    (
                        name(f),
                        AmfValue::Number(f64::from(fourcc_info::CAN_FORWARD)),
                    )
                })
                .collect(),
        )
    };
    let all: Vec<AmfValue> = video_fourcc::ALL
        .iter()
        .chain(audio_fourcc::ALL.iter())
        .map(|f| AmfValue::String(name(f)))
        .collect();
    vec![
        ("fourCcList".into(), AmfValue::StrictArray(all)),
        ("videoFourCcInfoMap".into(), info(&video_fourcc::ALL)),
        ("audioFourCcInfoMap".into(), info(&audio_fourcc::ALL)),
        ("capsEx".into(), AmfValue::Number(f64::from(SERVER_CAPS_EX))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_clients_announce_nothing() {
        let connect = AmfValue::object([
            ("app", AmfValue::string("live")),
            ("flashVer", AmfValue::string("LNX 9,0,124,2")),
        ]);
        let caps = ClientCaps::from_connect(&connect);
        assert!(!caps.is_enhanced());
        assert_eq!(caps, ClientCaps::default());
    }

    #[test]
    fn ffmpeg_style_announcements_are_read() {
        // FFmpeg 9's rtmpproto sends fourCcList; OBS sends the info maps and capsEx.
        let connect = AmfValue::object([
            ("app", AmfValue::string("live")),
            (
                "fourCcList",
                AmfValue::StrictArray(vec![
                    AmfValue::string("av01"),
                    AmfValue::string("hvc1"),
                    AmfValue::string("toolong"),
                    AmfValue::Number(1.0),
                ]),
            ),
        ]);
        let caps = ClientCaps::from_connect(&connect);
        assert!(caps.is_enhanced());
        assert_eq!(caps.fourccs, vec![*b"av01", *b"hvc1"]);

        let connect = AmfValue::object([
            (
                "videoFourCcInfoMap",
                AmfValue::object([("*", AmfValue::Number(4.0))]),
            ),
            (
                "audioFourCcInfoMap",
                AmfValue::EcmaArray(vec![("Opus".into(), AmfValue::Number(1.0))]),
            ),
            ("capsEx", AmfValue::Number(2.0)),
        ]);
        let caps = ClientCaps::from_connect(&connect);
        assert!(caps.is_enhanced());
        assert_eq!(caps.fourccs, vec![*b"****", *b"Opus"]);
        assert_eq!(caps.caps_ex, caps_ex::MULTITRACK);
        // capsEx alone is an announcement too; nonsense numbers are no capabilities.
        let caps =
            ClientCaps::from_connect(&AmfValue::object([("capsEx", AmfValue::Number(-1.0))]));
        assert!(caps.is_enhanced() && caps.caps_ex == 0);
    }

    #[test]
    fn the_server_announces_what_it_implements() {
        let props = server_properties();
        let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("capsEx"),
            Some(AmfValue::Number(f64::from(
                caps_ex::RECONNECT | caps_ex::MULTITRACK | caps_ex::MOD_EX
            )))
        );
        let Some(AmfValue::StrictArray(list)) = get("fourCcList") else {
            panic!("no fourCcList");
        };
        assert_eq!(list.len(), 12);
        assert!(
            list.contains(&AmfValue::string("hvc1")) && list.contains(&AmfValue::string("Opus"))
        );
        // Read back by a client: it is an enhanced peer.
        let back = ClientCaps::from_connect(&AmfValue::Object(props));
        assert!(back.is_enhanced() && back.caps_ex & caps_ex::RECONNECT != 0);
    }
}
