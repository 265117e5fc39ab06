//! A blocking RTMP client for tests, built on the relay's own sans-IO client session: connect,
//! publish or play, send synthetic media, read media with timeouts.
use bytes::Bytes;
use rtmp_edge::protocol::amf::AmfValue;
use rtmp_edge::session::{ClientConfig, ClientEvent, ClientSession};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One received media message.
#[derive(Debug, Clone)]
pub struct Media {
    pub type_id: u8,
    pub timestamp: u32,
    pub payload: Bytes,
}

impl Media {
    pub fn is_video(&self) -> bool {
        self.type_id == 9
    }
    pub fn is_keyframe(&self) -> bool {
        self.is_video()
            && self.payload.first().is_some_and(|b| b >> 4 == 1)
            && self.payload.get(1) == Some(&1)
    }
    pub fn is_avc_header(&self) -> bool {
        self.is_video() && self.payload.get(1) == Some(&0)
    }
    /// The frame number a synthetic frame carries (see [`TestClient::send_video`]).
    pub fn frame_number(&self) -> Option<u32> {
        let b = self.payload.get(5..9)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

pub struct TestClient {
    stream: TcpStream,
    session: ClientSession,
    events: VecDeque<ClientEvent>,
    /// Status codes already taken out of `events` by a wait for something else.
    seen_status: Vec<String>,
    buf: Vec<u8>,
    /// Every byte read from the server.
    bytes_read: u64,
}

#[derive(Debug)]
#[allow(dead_code)] // fields are read through Debug in test failures
pub enum ClientError {
    Io(io::Error),
    Timeout(&'static str),
    Status(String),
    Session(String),
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

const STEP: Duration = Duration::from_millis(20);

impl TestClient {
    pub fn connect(addr: SocketAddr, app: &str) -> Result<TestClient, ClientError> {
        Self::connect_with(addr, app, |_| {})
    }

    /// Connects and lets `tune` adjust the socket (e.g. a tiny receive buffer) first.
    pub fn connect_with(
        addr: SocketAddr,
        app: &str,
        tune: impl FnOnce(&TcpStream),
    ) -> Result<TestClient, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        tune(&stream);
        let config = ClientConfig::new(app, &format!("rtmp://{addr}/{app}"));
        Self::over(stream, config)
    }

    /// Connects from `local` (a loopback address such as 127.0.0.7, so a server or a proxy
    /// sees a recognisable client) with `config` (e.g. `caps_ex`), and starts playing `name`.
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn play_from(
        local: std::net::IpAddr,
        addr: SocketAddr,
        config: ClientConfig,
        name: &str,
    ) -> Result<TestClient, ClientError> {
        let domain = socket2::Domain::for_address(addr);
        let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
        socket.bind(&SocketAddr::new(local, 0).into())?;
        socket.connect_timeout(&addr.into(), Duration::from_secs(5))?;
        let mut c = Self::over(socket.into(), config)?;
        c.session.play(name);
        c.flush()?;
        c.wait_for(Duration::from_secs(5), |e| {
            matches!(e, ClientEvent::PlayStarted)
        })?;
        Ok(c)
    }

    /// A client session over a connected socket.
    fn over(stream: TcpStream, config: ClientConfig) -> Result<TestClient, ClientError> {
        stream.set_nodelay(true)?;
        let session = ClientSession::new(config, fastrand::u64(..), 0);
        let mut client = TestClient {
            stream,
            session,
            events: VecDeque::new(),
            seen_status: Vec::new(),
            buf: vec![0; 64 * 1024],
            bytes_read: 0,
        };
        client.flush()?;
        Ok(client)
    }

    pub fn publish(addr: SocketAddr, app: &str, name: &str) -> Result<TestClient, ClientError> {
        let mut c = Self::connect(addr, app)?;
        c.session.publish(name);
        c.flush()?;
        c.wait_for(Duration::from_secs(5), |e| {
            matches!(e, ClientEvent::PublishStarted)
        })?;
        Ok(c)
    }

    /// Starts playing; returns once the server said NetStream.Play.Start.
    pub fn play(addr: SocketAddr, app: &str, name: &str) -> Result<TestClient, ClientError> {
        Self::play_with(addr, app, name, |_| {})
    }

    pub fn play_with(
        addr: SocketAddr,
        app: &str,
        name: &str,
        tune: impl FnOnce(&TcpStream),
    ) -> Result<TestClient, ClientError> {
        let mut c = Self::connect_with(addr, app, tune)?;
        c.session.play(name);
        c.flush()?;
        c.wait_for(Duration::from_secs(5), |e| {
            matches!(e, ClientEvent::PlayStarted)
        })?;
        Ok(c)
    }

    /// Waits for an event matching `want`, failing on an error-level status.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        want: impl Fn(&ClientEvent) -> bool,
    ) -> Result<ClientEvent, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(event) = self.events.pop_front() {
                if want(&event) {
                    return Ok(event);
                }
                if let ClientEvent::Status { level, code, .. } = &event {
                    self.seen_status.push(code.clone());
                    if level == "error" {
                        return Err(ClientError::Status(code.clone()));
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout("event"));
            }
            if !self.pump(STEP)? {
                return Err(ClientError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Reads once (up to `wait`). Returns false when the server closed the connection.
    pub fn pump(&mut self, wait: Duration) -> Result<bool, ClientError> {
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match self.stream.read(&mut self.buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                self.bytes_read += n as u64;
                self.session
                    .handle_input(&self.buf[..n])
                    .map_err(|e| ClientError::Session(e.to_string()))?;
                while let Some(e) = self.session.poll_event() {
                    self.events.push_back(e);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    // EINTR: io_uring shard threads of an in-process server signal their
                    // process's threads at times; a read just goes on.
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.flush()?;
        Ok(true)
    }

    /// The next media message, or None on timeout. Errors if the connection closed.
    pub fn next_media(&mut self, timeout: Duration) -> Result<Option<Media>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(event) = self.events.pop_front() {
                match event {
                    ClientEvent::Media {
                        type_id,
                        timestamp,
                        payload,
                    } => {
                        return Ok(Some(Media {
                            type_id,
                            timestamp,
                            payload,
                        }));
                    }
                    ClientEvent::Metadata { timestamp, payload } => {
                        return Ok(Some(Media {
                            type_id: 18,
                            timestamp,
                            payload,
                        }));
                    }
                    ClientEvent::Status { code, .. } => self.seen_status.push(code),
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            if !self.pump(STEP)? {
                return Err(ClientError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Bytes read from the server so far.
    #[allow(dead_code)] // not every test crate that includes this file needs it
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The client's end of the connection (the address the server sees).
    #[allow(dead_code)]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Status codes seen so far and not taken before.
    pub fn take_status_codes(&mut self) -> Vec<String> {
        let mut codes = std::mem::take(&mut self.seen_status);
        self.events.retain(|e| match e {
            ClientEvent::Status { code, .. } => {
                codes.push(code.clone());
                false
            }
            _ => true,
        });
        codes
    }

    pub fn flush(&mut self) -> io::Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes)?;
        }
        Ok(())
    }

    pub fn send_metadata(&mut self) -> io::Result<()> {
        self.session.send_metadata(AmfValue::EcmaArray(vec![
            ("width".into(), AmfValue::Number(320.0)),
            ("height".into(), AmfValue::Number(240.0)),
        ]));
        self.flush()
    }

    /// AVC and AAC sequence headers.
    pub fn send_headers(&mut self) -> io::Result<()> {
        self.session.send_media(
            9,
            0,
            &[0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0],
        );
        self.session.send_media(8, 0, &[0xAF, 0, 0x12, 0x10]);
        self.flush()
    }

    /// A synthetic AVC frame of `size` bytes whose bytes 5..9 carry `number`.
    pub fn send_video(
        &mut self,
        timestamp: u32,
        number: u32,
        keyframe: bool,
        size: usize,
    ) -> io::Result<()> {
        let mut payload = vec![0u8; size.max(9)];
        payload[0] = if keyframe { 0x17 } else { 0x27 };
        payload[1] = 1;
        payload[5..9].copy_from_slice(&number.to_be_bytes());
        self.session.send_media(9, timestamp, &payload);
        self.flush()
    }

    pub fn send_audio(&mut self, timestamp: u32) -> io::Result<()> {
        self.session
            .send_media(8, timestamp, &[0xAF, 1, 0x21, 0, 0x49, 0x90]);
        self.flush()
    }
}

impl TestClient {
    /// A publisher's feed on its own thread: headers, then 25 fps synthetic video (a keyframe
    /// every 25 frames) with audio, until `stop` is set or the connection fails. The thread
    /// returns how many video frames went out.
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn feed(
        mut self,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> std::thread::JoinHandle<u32> {
        std::thread::spawn(move || {
            if self
                .send_metadata()
                .and_then(|()| self.send_headers())
                .is_err()
            {
                return 0;
            }
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ts = n * 40;
                let sent = self
                    .send_video(ts, n, n % 25 == 0, 2000)
                    .and_then(|()| self.send_audio(ts));
                if sent.is_err() {
                    break;
                }
                // Answers (acknowledgements) from the server are read and dropped.
                let _ = self.pump(Duration::from_millis(1));
                n += 1;
                std::thread::sleep(Duration::from_millis(40));
            }
            n
        })
    }
}
