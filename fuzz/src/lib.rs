//! Helpers shared by the fuzz targets: splitting one input into pieces (decoders must give the
//! same result however the bytes arrive), the AMF round-trip check, and drivers for both sides
//! of the handshake and of a session.
use rtmp_edge::protocol::amf::{AmfValue, Limits};
use rtmp_edge::protocol::command::Command;
use rtmp_edge::protocol::handshake::{
    ClientHandshake, HandshakeError, ServerHandshake, HANDSHAKE_SIZE,
};
use rtmp_edge::session::SessionError;

/// `input` cut into pieces of `1 + selector % 61` bytes, plus a cut in two at the position
/// `selector` picks (as a fraction of 255): the two ways the targets feed one input again.
pub fn splits(selector: u8, input: &[u8]) -> [Vec<&[u8]>; 2] {
    let at = usize::from(selector) * input.len() / 255;
    let (a, b) = input.split_at(at);
    let pieces = input.chunks(usize::from(selector % 61) + 1).collect();
    [vec![a, b], pieces]
}

/// Whether AMF0 carries `value` exactly, so a decode of its encoding must give it back: no
/// NaN (NaN != NaN), and keys and class names that fit a u16 length (AMF3 allows longer ones,
/// which the AMF0 encoder cuts).
pub fn amf0_exact(value: &AmfValue) -> bool {
    fn short(key: &str) -> bool {
        key.len() <= usize::from(u16::MAX)
    }
    match value {
        AmfValue::Number(n) | AmfValue::Date { millis: n, .. } => !n.is_nan(),
        AmfValue::Object(props) | AmfValue::EcmaArray(props) => {
            props.iter().all(|(k, v)| short(k) && amf0_exact(v))
        }
        AmfValue::TypedObject { class, properties } => {
            short(class) && properties.iter().all(|(k, v)| short(k) && amf0_exact(v))
        }
        AmfValue::StrictArray(items) => items.iter().all(amf0_exact),
        _ => true,
    }
}

/// Decodes `payload` as a command (AMF3 framing with `amf3`); a decoded command re-encodes
/// (always as AMF0) to bytes that decode again, to the same command where AMF0 is exact.
pub fn command_round_trip(payload: &[u8], amf3: bool, limits: &Limits) {
    let Ok(command) = Command::decode(payload, amf3, limits) else {
        return;
    };
    let mut out = Vec::new();
    command.encode(&mut out);
    let again = Command::decode(&out, false, limits).expect("a re-encoded command decodes");
    let exact = !command.transaction_id.is_nan()
        && amf0_exact(&command.object)
        && command.args.iter().all(amf0_exact);
    if exact {
        assert_eq!(again, command);
    }
}

/// Keeps freed memory in the process (glibc only), to call once before the first run. A run of
/// the shard core allocates some 200 KB that it frees at its end (four latency histograms of
/// 21 KB, their copies in the first snapshots, the connection slab); glibc handed it back to
/// the kernel every time (heap trim, munmap), and the page faults of taking it again were more
/// than half of a short run. Large message buffers of the session targets went the same way.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two thresholds of glibc's allocator; it is called before
    // the first run, on the fuzzer's one thread.
    unsafe {
        // Buffers up to 32 MiB (the most glibc takes) come from the heap, and the heap keeps
        // up to 1 GiB of free memory at its top.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Asserts that two runs gave the same events: equal lists, or lists whose text is the same (a
/// NaN, a play's start say, is never equal to itself). Only lists that differ are formatted.
pub fn assert_same_events<E: std::fmt::Debug + PartialEq>(split: &[E], whole: &[E]) {
    if split != whole {
        assert_eq!(format!("{split:?}"), format!("{whole:?}"));
    }
}

/// The two sides of the handshake, driven alike.
pub trait HandshakeSide {
    fn handle_input(&mut self, input: &[u8]) -> Result<usize, HandshakeError>;
    fn poll_transmit(&mut self, out: &mut Vec<u8>);
    fn is_complete(&self) -> bool;
}

macro_rules! handshake_side {
    ($side:ty) => {
        impl HandshakeSide for $side {
            fn handle_input(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
                <$side>::handle_input(self, input)
            }
            fn poll_transmit(&mut self, out: &mut Vec<u8>) {
                <$side>::poll_transmit(self, out)
            }
            fn is_complete(&self) -> bool {
                <$side>::is_complete(self)
            }
        }
    };
}
handshake_side!(ServerHandshake);
handshake_side!(ClientHandshake);

/// What one handshake run amounts to.
#[derive(Debug, PartialEq)]
pub struct HandshakeOutcome {
    pub consumed: usize,
    pub sent: Vec<u8>,
    pub complete: bool,
    pub error: Option<HandshakeError>,
}

/// The whole of one handshake fed `pieces` in order, sending what it queues after each. Checks
/// the contract on the way: input is only left over once the handshake is complete, it never
/// takes or sends more than C0+C1+C2, and an error is sticky.
pub fn run_handshake(mut handshake: impl HandshakeSide, pieces: &[&[u8]]) -> HandshakeOutcome {
    let mut sent = Vec::new();
    handshake.poll_transmit(&mut sent);
    let mut consumed = 0;
    for piece in pieces {
        let used = match handshake.handle_input(piece) {
            Ok(used) => used,
            Err(error) => {
                assert_eq!(handshake.handle_input(piece), Err(HandshakeError::Failed));
                let complete = false;
                return HandshakeOutcome {
                    consumed,
                    sent,
                    complete,
                    error: Some(error),
                };
            }
        };
        assert!(used <= piece.len());
        consumed += used;
        handshake.poll_transmit(&mut sent);
        if used < piece.len() {
            assert!(
                handshake.is_complete(),
                "input left over before the handshake's end"
            );
        }
    }
    let complete = handshake.is_complete();
    assert!(consumed <= 1 + 2 * HANDSHAKE_SIZE);
    assert!(sent.len() <= 1 + 2 * HANDSHAKE_SIZE);
    if complete {
        assert_eq!(consumed, 1 + 2 * HANDSHAKE_SIZE);
    }
    HandshakeOutcome {
        consumed,
        sent,
        complete,
        error: None,
    }
}

/// A server or client session as the session targets drive it: bytes in, events and bytes out,
/// and what the application answers to each event.
pub trait SessionSide {
    type Event: std::fmt::Debug + PartialEq + Clone;
    fn handle_input(&mut self, input: &[u8]) -> Result<usize, SessionError>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn poll_transmit(&mut self) -> Option<bytes::Bytes>;
    /// What the application does on `event` (accept, reject, send media, ...), as `policy`
    /// (a byte of the input) picks.
    fn respond(&mut self, event: &Self::Event, policy: u8);
}

/// What one session run amounts to: every event, the error if any, and the bytes it sent.
#[derive(Debug, PartialEq)]
pub struct SessionOutcome<E> {
    pub events: Vec<E>,
    pub error: Option<SessionError>,
    pub sent: usize,
}

/// Feeds `pieces` in order, answering events and draining output after each. Checks that all
/// input is consumed and that an error is sticky (later input gets the same error back, while
/// the output that explains it still drains).
pub fn run_session<S: SessionSide>(
    mut session: S,
    pieces: &[&[u8]],
    policy: u8,
) -> SessionOutcome<S::Event> {
    let mut outcome = SessionOutcome {
        events: Vec::new(),
        error: None,
        sent: 0,
    };
    let drain = |session: &mut S, outcome: &mut SessionOutcome<S::Event>| {
        while let Some(event) = session.poll_event() {
            session.respond(&event, policy);
            outcome.events.push(event);
        }
        while let Some(bytes) = session.poll_transmit() {
            outcome.sent += bytes.len();
        }
    };
    drain(&mut session, &mut outcome);
    for piece in pieces {
        match session.handle_input(piece) {
            Ok(used) => assert_eq!(used, piece.len(), "input left over"),
            Err(error) => {
                assert_eq!(
                    session.handle_input(b"\x03").as_ref(),
                    Err(&error),
                    "not sticky"
                );
                outcome.error = Some(error);
                drain(&mut session, &mut outcome);
                return outcome;
            }
        }
        drain(&mut session, &mut outcome);
    }
    outcome
}
