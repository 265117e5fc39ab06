//! End-to-end tests of the relay with the project's own client: publish and play across shards,
//! instant start, waiting players, refused and replaced publishers, slow players, bad input.
#[path = "support/rtmp_client.rs"]
mod rtmp_client;

use rtmp_client::{Media, TestClient};
use rtmp_edge::media::queue::QueueLimits;
use rtmp_edge::shard::{IoMode, Server, ShardSettings};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn start(shards: usize, tune: impl FnOnce(&mut ShardSettings)) -> (Server, SocketAddr) {
    let mut settings = ShardSettings {
        shards,
        io: test_io(),
        ..ShardSettings::listening_on(&["127.0.0.1:0".parse().unwrap()])
    };
    tune(&mut settings);
    let server = Server::start(settings).expect("server starts");
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// The driver under test: `RTMP_EDGE_TEST_IO` (epoll or uring), else the default (auto).
fn test_io() -> IoMode {
    match std::env::var("RTMP_EDGE_TEST_IO").as_deref() {
        Ok("epoll") => IoMode::Epoll,
        Ok("uring") => IoMode::Uring,
        Ok("auto") | Err(_) => IoMode::Auto,
        Ok(other) => panic!("RTMP_EDGE_TEST_IO={other}: expected epoll, uring or auto"),
    }
}

/// Publishes headers, then `frames` video frames at 25 fps timestamps (a keyframe every
/// `gop`), each followed by an audio frame.
fn publish_frames(publisher: &mut TestClient, first: u32, frames: u32, gop: u32, size: usize) {
    for n in first..first + frames {
        publisher.send_video(n * 40, n, n % gop == 0, size).unwrap();
        publisher.send_audio(n * 40 + 5).unwrap();
    }
}

/// Reads media until `count` video frames arrived (or the timeout); returns everything read.
fn read_video(player: &mut TestClient, count: usize) -> Vec<Media> {
    let mut all = Vec::new();
    let deadline = Instant::now() + WAIT;
    while all
        .iter()
        .filter(|m: &&Media| m.is_video() && !m.is_avc_header())
        .count()
        < count
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match player.next_media(left).expect("player connection alive") {
            Some(m) => all.push(m),
            None => break,
        }
    }
    all
}

fn frame_numbers(media: &[Media]) -> Vec<u32> {
    media
        .iter()
        .filter(|m| m.is_video() && !m.is_avc_header())
        .filter_map(Media::frame_number)
        .collect()
}

#[test]
fn players_on_every_shard_get_every_frame_in_order() {
    let (server, addr) = start(2, |_| {});
    let mut publisher = TestClient::publish(addr, "live", "fan").unwrap();
    publisher.send_metadata().unwrap();
    publisher.send_headers().unwrap();
    publish_frames(&mut publisher, 0, 1, 25, 2000);
    // Enough players that both shards get some (the kernel spreads them by 4-tuple hash).
    let mut players: Vec<_> = (0..16)
        .map(|_| TestClient::play(addr, "live", "fan").unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    publish_frames(&mut publisher, 1, 60, 25, 2000);
    for (i, player) in players.iter_mut().enumerate() {
        let media = read_video(player, 61);
        assert!(
            media[0].type_id == 18,
            "player {i}: metadata first, got type {}",
            media[0].type_id
        );
        assert!(media[1].is_avc_header(), "player {i}: AVC header second");
        assert_eq!(
            frame_numbers(&media),
            (0..61).collect::<Vec<_>>(),
            "player {i}"
        );
        let audio = media.iter().filter(|m| m.type_id == 8).count();
        assert!(audio >= 60, "player {i}: audio frames {audio}");
    }
    server.stop();
    let stats = server.join();
    assert_eq!(stats.len(), 2);
    assert!(
        stats.iter().all(|s| s.plays > 0),
        "players on both shards: {stats:?}"
    );
    assert_eq!(stats.iter().map(|s| s.publishes).sum::<u64>(), 1);
}

#[test]
fn late_joiner_starts_on_a_keyframe_with_sequence_headers_first() {
    let (server, addr) = start(2, |_| {});
    let mut publisher = TestClient::publish(addr, "live", "late").unwrap();
    publisher.send_metadata().unwrap();
    publisher.send_headers().unwrap();
    publish_frames(&mut publisher, 0, 37, 10, 1500);
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..4 {
        let mut player = TestClient::play(addr, "live", "late").unwrap();
        let media = read_video(&mut player, 7);
        let kinds: Vec<_> = media
            .iter()
            .take(4)
            .map(|m| (m.type_id, m.is_avc_header()))
            .collect();
        assert_eq!(
            kinds[..3],
            [(18, false), (9, true), (8, false)],
            "metadata, AVC header, AAC header"
        );
        let first_frame = media
            .iter()
            .find(|m| m.is_video() && !m.is_avc_header())
            .unwrap();
        assert!(first_frame.is_keyframe(), "first video frame is a keyframe");
        assert_eq!(frame_numbers(&media), (30..37).collect::<Vec<_>>());
    }
    server.stop();
    server.join();
}

#[test]
fn a_player_waiting_for_a_stream_starts_when_it_is_published() {
    let (server, addr) = start(2, |_| {});
    let mut players: Vec<_> = (0..6)
        .map(|_| TestClient::play(addr, "live", "soon").unwrap())
        .collect();
    let mut publisher = TestClient::publish(addr, "live", "soon").unwrap();
    publisher.send_headers().unwrap();
    publish_frames(&mut publisher, 0, 20, 10, 1000);
    for player in &mut players {
        let media = read_video(player, 20);
        assert!(media[0].is_avc_header());
        assert_eq!(frame_numbers(&media), (0..20).collect::<Vec<_>>());
        let codes = player.take_status_codes();
        assert!(
            codes.iter().any(|c| c == "NetStream.Play.PublishNotify"),
            "{codes:?}"
        );
    }
    // The publisher leaves: players are told, and a new publisher's timeline continues.
    drop(publisher);
    for player in &mut players {
        player
            .wait_for(WAIT, |e| {
                matches!(e, rtmp_edge::session::ClientEvent::Status { code, .. }
            if code == "NetStream.Play.UnpublishNotify")
            })
            .unwrap();
    }
    let mut publisher = TestClient::publish(addr, "live", "soon").unwrap();
    publisher.send_headers().unwrap();
    publish_frames(&mut publisher, 0, 10, 10, 1000);
    for player in &mut players {
        let media = read_video(player, 10);
        let stamps: Vec<_> = media
            .iter()
            .filter(|m| m.is_video() && !m.is_avc_header())
            .map(|m| m.timestamp)
            .collect();
        assert_eq!(stamps.len(), 10);
        // The first session ended at 19 * 40 ms; the second starts right after, not at 0.
        assert!(stamps[0] > 19 * 40, "timeline restarted: {stamps:?}");
        assert!(
            stamps.windows(2).all(|w| w[1] > w[0]),
            "monotonic: {stamps:?}"
        );
    }
    server.stop();
    server.join();
}

#[test]
fn a_second_publisher_is_refused_and_the_first_goes_on() {
    let (server, addr) = start(2, |_| {});
    let mut first = TestClient::publish(addr, "live", "one").unwrap();
    first.send_headers().unwrap();
    let mut player = TestClient::play(addr, "live", "one").unwrap();
    for _ in 0..4 {
        match TestClient::publish(addr, "live", "one") {
            Err(rtmp_client::ClientError::Status(code)) => {
                assert_eq!(code, "NetStream.Publish.BadName")
            }
            other => panic!(
                "second publisher must be refused, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    publish_frames(&mut first, 0, 10, 10, 500);
    assert_eq!(
        frame_numbers(&read_video(&mut player, 10)),
        (0..10).collect::<Vec<_>>()
    );
    server.stop();
    server.join();
}

#[test]
fn with_takeover_a_new_publisher_replaces_a_stale_one() {
    let (server, addr) = start(2, |s| s.takeover = true);
    let mut stale = TestClient::publish(addr, "live", "take").unwrap();
    stale.send_headers().unwrap();
    publish_frames(&mut stale, 0, 10, 10, 500);
    let mut player = TestClient::play(addr, "live", "take").unwrap();
    let before = read_video(&mut player, 10);
    let mut fresh = TestClient::publish(addr, "live", "take").unwrap();
    fresh.send_headers().unwrap();
    publish_frames(&mut fresh, 100, 10, 10, 500);
    let after = read_video(&mut player, 10);
    assert_eq!(frame_numbers(&after), (100..110).collect::<Vec<_>>());
    let codes = player.take_status_codes();
    assert!(
        !codes.iter().any(|c| c == "NetStream.Play.UnpublishNotify"),
        "a takeover is seamless: {codes:?}"
    );
    let last_before = before
        .iter()
        .rev()
        .find(|m| m.is_video())
        .unwrap()
        .timestamp;
    assert!(after
        .iter()
        .filter(|m| m.is_video())
        .all(|m| m.timestamp > last_before));
    // The stale publisher was disconnected.
    let deadline = Instant::now() + WAIT;
    while stale.pump(Duration::from_millis(50)).unwrap_or(false) {
        assert!(Instant::now() < deadline, "stale publisher still connected");
    }
    server.stop();
    server.join();
}

#[test]
fn a_slow_player_is_dropped_to_keyframes_then_kicked_while_others_get_everything() {
    let (server, addr) = start(1, |s| {
        s.queue = QueueLimits {
            max_span_ms: 400,
            max_bytes: 4 << 20,
            kick_after_ms: 4000,
        };
        s.send_buffer = 64 * 1024;
    });
    let mut publisher = TestClient::publish(addr, "live", "slow").unwrap();
    publisher.send_headers().unwrap();
    let mut fast = TestClient::play(addr, "live", "slow").unwrap();
    let mut slow = TestClient::play_with(addr, "live", "slow", |s| {
        socket2::SockRef::from(s)
            .set_recv_buffer_size(16 * 1024)
            .unwrap();
    })
    .unwrap();
    // 4 s of 25 fps with 20 kB frames (~4 Mbit/s); the slow player reads about 100 kB/s.
    let frames = 100;
    let reader = std::thread::spawn(move || {
        let mut received = Vec::new();
        let mut kicked = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            match slow.next_media(Duration::from_millis(1)) {
                Ok(Some(m)) => received.push(m),
                Ok(None) => {}
                Err(_) => {
                    kicked = true;
                    break;
                }
            }
        }
        (received, kicked)
    });
    let fast_reader = std::thread::spawn(move || read_video_for(&mut fast, frames as usize));
    for n in 0..frames {
        publisher
            .send_video(n * 40, n, n % 10 == 0, 20_000)
            .unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    // Keep the stream going so the slow player stays behind until it is kicked.
    for n in frames..frames + 150 {
        publisher
            .send_video(n * 40, n, n % 10 == 0, 20_000)
            .unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    let fast_frames = fast_reader.join().unwrap();
    assert_eq!(
        fast_frames,
        (0..frames).collect::<Vec<_>>(),
        "the fast player gets every frame"
    );
    let (received, kicked) = reader.join().unwrap();
    assert!(kicked, "the slow player is disconnected");
    let numbers = frame_numbers(&received);
    let gap = numbers.windows(2).position(|w| w[1] != w[0] + 1);
    let gap = gap.expect("the slow player missed frames");
    assert_eq!(
        numbers[gap + 1] % 10,
        0,
        "after a drop the player resumes on a keyframe: {numbers:?}"
    );
    server.stop();
    let stats = server.join();
    assert!(
        stats[0].frames_dropped > 0 && stats[0].players_kicked == 1,
        "{stats:?}"
    );
}

fn read_video_for(player: &mut TestClient, count: usize) -> Vec<u32> {
    let mut numbers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while numbers.len() < count && Instant::now() < deadline {
        if let Some(m) = player.next_media(Duration::from_millis(200)).unwrap() {
            if m.is_video() && !m.is_avc_header() {
                numbers.extend(m.frame_number());
            }
        }
    }
    numbers
}

#[test]
fn bad_input_closes_only_that_connection() {
    let (server, addr) = start(1, |s| s.session.max_message_size = 1 << 20);
    let mut publisher = TestClient::publish(addr, "live", "safe").unwrap();
    publisher.send_headers().unwrap();
    let mut player = TestClient::play(addr, "live", "safe").unwrap();
    let attacks: Vec<Vec<u8>> = vec![
        vec![9; 2000],                             // wrong RTMP version
        garbage_after_handshake(&[0xC5, 1, 2, 3]), // fmt 3 with no previous header
        garbage_after_handshake(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0]), // 16 MB message
        garbage_after_handshake(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x80, 0, 0, 0]), // chunk size 2^31
        garbage_after_handshake(&[
            0x03, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0, 0x02, 0xFF, 0xFF, 0, 0,
        ]), // truncated AMF
    ];
    for attack in attacks {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let _ = s.write_all(&attack);
        let mut sink = Vec::new();
        // The server closes the connection (EOF or reset), not hang or crash.
        let _ = s.read_to_end(&mut sink);
    }
    publish_frames(&mut publisher, 0, 10, 10, 500);
    assert_eq!(
        frame_numbers(&read_video(&mut player, 10)),
        (0..10).collect::<Vec<_>>()
    );
    server.stop();
    let stats = server.join();
    assert!(stats[0].protocol_errors >= 4, "{stats:?}");
}

/// C0+C1, a C2, then `bytes` as the chunk stream.
fn garbage_after_handshake(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![3u8];
    out.extend_from_slice(&[0u8; 1536]);
    out.extend_from_slice(&[0u8; 1536]);
    out.extend_from_slice(bytes);
    out
}

#[test]
fn write_merge_window_still_delivers_every_frame_in_order() {
    let (server, addr) = start(2, |s| s.write_merge = Duration::from_millis(50));
    let mut publisher = TestClient::publish(addr, "live", "merge").unwrap();
    publisher.send_headers().unwrap();
    let mut players: Vec<_> = (0..4)
        .map(|_| TestClient::play(addr, "live", "merge").unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    for n in 0..30 {
        publisher.send_video(n * 40, n, n % 10 == 0, 3000).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    for player in &mut players {
        assert_eq!(
            frame_numbers(&read_video(player, 30)),
            (0..30).collect::<Vec<_>>()
        );
    }
    server.stop();
    server.join();
}

#[test]
fn timestamps_crossing_extended_and_32_bit_wrap_pass_through_unchanged() {
    let (server, addr) = start(2, |_| {});
    let mut publisher = TestClient::publish(addr, "live", "wrap").unwrap();
    let mut players: Vec<_> = (0..4)
        .map(|_| TestClient::play(addr, "live", "wrap").unwrap())
        .collect();
    publisher.send_headers().unwrap();
    // Around 0xFFFFFF (extended timestamps begin) and around 2^32 (they wrap), with frames
    // bigger than a chunk so fmt-3 continuations carry the extended timestamp too.
    let starts = [0x00FF_FF00u32, u32::MAX - 200];
    let mut sent = Vec::new();
    for (i, start) in starts.into_iter().enumerate() {
        for k in 0..10u32 {
            let ts = start.wrapping_add(k * 40);
            let n = i as u32 * 10 + k;
            publisher.send_video(ts, n, k == 0, 10_000).unwrap();
            sent.push(ts);
        }
    }
    for player in &mut players {
        let media = read_video(player, 20);
        let got: Vec<_> = media
            .iter()
            .filter(|m| m.is_video() && !m.is_avc_header())
            .map(|m| m.timestamp)
            .collect();
        assert_eq!(got, sent);
    }
    server.stop();
    server.join();
}

#[test]
fn without_gop_cache_a_joining_player_still_starts_on_a_keyframe() {
    let (server, addr) = start(1, |s| s.gop_cache = false);
    let mut publisher = TestClient::publish(addr, "live", "nogop").unwrap();
    publisher.send_headers().unwrap();
    publish_frames(&mut publisher, 0, 5, 10, 500);
    let mut player = TestClient::play(addr, "live", "nogop").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    publish_frames(&mut publisher, 5, 20, 10, 500);
    let media = read_video(&mut player, 15);
    assert!(media[0].is_avc_header(), "sequence header first");
    assert_eq!(
        frame_numbers(&media),
        (10..25).collect::<Vec<_>>(),
        "inter frames before the keyframe are skipped"
    );
    server.stop();
    server.join();
}
