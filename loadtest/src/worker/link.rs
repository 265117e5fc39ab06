//! How a player plays: an RTMP client session or an HTTP-FLV GET, behind one [`Link`] whose
//! input comes out as the same [`LinkEvent`]s for both protocols, so the player reads and
//! counts frames with one loop.
//!
//! Sans-IO: bytes in (`handle_input`), events out (`poll_event`) until None, bytes to send
//! (`poll_transmit`). Errors are the player's error counter names.
use crate::http_flv::{FlvEvent, FlvReadError, FlvReader};
use bytes::Bytes;
use rtmp_edge::session::{ClientEvent, ClientSession, SessionError};

/// How a player plays. (The RTMP session is kept inline: boxing it would add an allocation
/// and an indirection to every RTMP player for a few hundred bytes per HTTP-FLV player.)
#[allow(clippy::large_enum_variant)]
pub enum Link {
    Rtmp(ClientSession),
    /// An HTTP-FLV GET; the request is sent once.
    HttpFlv {
        reader: FlvReader,
        request: Option<Bytes>,
    },
}

/// What a link's input brought, whatever the protocol.
#[derive(Debug)]
pub enum LinkEvent {
    /// RTMP connect answered.
    Connected,
    /// RTMP play started.
    PlayStarted,
    /// The HTTP-FLV response head: the HTTP counterpart of connect and play at once.
    Started,
    /// An audio, video or data message (RTMP metadata counts as data: type 18).
    Media { type_id: u8, payload: Bytes },
    /// An RTMP status of level "error".
    ErrorStatus,
}

impl Link {
    /// Bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        match self {
            Link::Rtmp(session) => session.poll_transmit(),
            Link::HttpFlv { request, .. } => request.take(),
        }
    }

    /// Ends the play politely (RTMP deleteStream; HTTP just closes).
    pub fn close(&mut self) {
        if let Link::Rtmp(session) = self {
            session.close();
        }
    }

    /// Feeds received bytes; `connected` says whether the RTMP connect was answered (it
    /// tells a refused connect from a refused play).
    pub fn handle_input(&mut self, data: &[u8], connected: bool) -> Result<(), &'static str> {
        match self {
            Link::Rtmp(session) => session
                .handle_input(data)
                .map(drop)
                .map_err(|e| rtmp_error_kind(&e, connected)),
            Link::HttpFlv { reader, .. } => {
                reader.handle_input(data).map_err(|e| http_error_kind(&e))
            }
        }
    }

    /// The next event of the input so far; events a player does not count are skipped.
    pub fn poll_event(&mut self) -> Result<Option<LinkEvent>, &'static str> {
        match self {
            Link::Rtmp(session) => {
                while let Some(event) = session.poll_event() {
                    let event = match event {
                        ClientEvent::Media {
                            type_id, payload, ..
                        } => LinkEvent::Media { type_id, payload },
                        ClientEvent::Metadata { payload, .. } => LinkEvent::Media {
                            type_id: 18,
                            payload,
                        },
                        ClientEvent::Connected => LinkEvent::Connected,
                        ClientEvent::PlayStarted => LinkEvent::PlayStarted,
                        ClientEvent::Status { level, .. } if level == "error" => {
                            LinkEvent::ErrorStatus
                        }
                        ClientEvent::Status { .. } | ClientEvent::PublishStarted => continue,
                    };
                    return Ok(Some(event));
                }
                Ok(None)
            }
            Link::HttpFlv { reader, .. } => match reader.poll_event() {
                Ok(None) => Ok(None),
                Err(e) => Err(http_error_kind(&e)),
                Ok(Some(FlvEvent::Started)) => Ok(Some(LinkEvent::Started)),
                Ok(Some(FlvEvent::Tag { tag_type, payload })) => Ok(Some(LinkEvent::Media {
                    type_id: tag_type,
                    payload,
                })),
            },
        }
    }
}

/// The error counter of a failed RTMP play.
fn rtmp_error_kind(e: &SessionError, connected: bool) -> &'static str {
    match (e, connected) {
        (SessionError::Handshake(_), _) => "handshake",
        (SessionError::Refused(_), false) => "connect_rejected",
        (SessionError::Refused(_), true) => "play_rejected",
        (_, false) => "handshake",
        _ => "protocol",
    }
}

/// The error counter of a failed HTTP-FLV play.
fn http_error_kind(e: &FlvReadError) -> &'static str {
    match e {
        FlvReadError::Status(_) => "play_rejected",
        _ => "protocol",
    }
}
