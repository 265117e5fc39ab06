//! The router against hand-made snapshots (status codes, the token, kicks), and the listener
//! over a real loopback socket (bad and oversized requests).
use super::request::Request;
use super::router::route;
use super::*;
use crate::control::metrics::tests::sample;
use std::io::Read;
use std::sync::Mutex;

#[derive(Default)]
struct Fake {
    snapshots: Vec<Option<Arc<ShardSnapshot>>>,
    kicked: Mutex<Vec<ClientId>>,
}

impl ShardView for Fake {
    fn shards(&self) -> usize {
        self.snapshots.len()
    }
    fn snapshots(&self) -> Vec<Option<Arc<ShardSnapshot>>> {
        self.snapshots.clone()
    }
    fn kick(&self, id: ClientId) -> bool {
        self.kicked.lock().unwrap().push(id);
        true
    }
}

fn state(snapshots: Vec<Option<Arc<ShardSnapshot>>>, token: &str) -> ControlState {
    let config = HttpConfig {
        api_token: token.to_owned(),
        ..HttpConfig::default()
    };
    ControlState::new(
        Box::new(Fake {
            snapshots,
            ..Fake::default()
        }),
        &config,
    )
}

fn req(method: &str, path: &str, auth: Option<&str>) -> Request {
    Request {
        method: method.to_owned(),
        path: path.to_owned(),
        authorization: auth.map(str::to_owned),
    }
}

fn status(s: &ControlState, method: &str, path: &str, auth: Option<&str>) -> u16 {
    route(&req(method, path, auth), s).status
}

fn body(s: &ControlState, path: &str) -> serde_json::Value {
    serde_json::from_slice(&route(&req("GET", path, None), s).body).unwrap()
}

#[test]
fn health_readiness_and_unknown_paths() {
    let starting = state(vec![Some(Arc::new(sample(0))), None], "");
    assert_eq!(status(&starting, "GET", "/healthz", None), 200);
    assert_eq!(status(&starting, "GET", "/readyz", None), 503);
    assert_eq!(status(&starting, "POST", "/metrics", None), 405);
    assert_eq!(status(&starting, "GET", "/nope", None), 404);
    assert_eq!(status(&starting, "GET", "/api/nope", None), 404);
    assert_eq!(status(&starting, "PUT", "/api/streams", None), 405);
    assert_eq!(status(&starting, "GET", "/api/clients/0-1-2", None), 405);
    let ready = state(vec![Some(Arc::new(sample(0)))], "");
    assert_eq!(status(&ready, "GET", "/readyz", None), 200);
    ready.draining.store(true, Ordering::Relaxed);
    assert_eq!(status(&ready, "GET", "/healthz", None), 503);
    assert_eq!(status(&ready, "GET", "/readyz", None), 503);
    let m = route(&req("GET", "/metrics", None), &ready);
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("text/plain; version=0.0.4"));
}

#[test]
fn api_json_and_kicks() {
    let s = state(
        vec![Some(Arc::new(sample(0))), Some(Arc::new(sample(1)))],
        "",
    );
    let streams = body(&s, "/api/streams");
    let list = streams["streams"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["stream"], "s1");
    assert_eq!(list[1]["players"], 2);
    assert_eq!(list[1]["home_shard"], 1);
    assert_eq!(list[1]["publisher"]["address"], "10.0.0.9:5000");
    let one = body(&s, "/api/streams/live/s0");
    assert_eq!(one["health"]["keyframe_interval_seconds"], 2.0);
    assert_eq!(status(&s, "GET", "/api/streams/live/none", None), 404);
    let clients = body(&s, "/api/clients");
    assert_eq!(clients["clients"][1]["id"], "1-1-2");
    assert_eq!(clients["clients"][1]["role"], "player");
    assert_eq!(status(&s, "DELETE", "/api/clients/1-1-2", None), 202);
    assert_eq!(status(&s, "DELETE", "/api/clients/1-1-3", None), 404);
    assert_eq!(status(&s, "DELETE", "/api/clients/banana", None), 400);
}

#[test]
fn the_token_guards_the_api_only() {
    let s = state(vec![Some(Arc::new(sample(0)))], "s3cret");
    assert_eq!(status(&s, "GET", "/api/streams", None), 401);
    assert_eq!(
        status(&s, "GET", "/api/streams", Some("Bearer wrong!")),
        401
    );
    assert_eq!(status(&s, "GET", "/api/streams", Some("s3cret")), 401);
    assert_eq!(
        status(&s, "GET", "/api/streams", Some("Bearer s3cret")),
        200
    );
    assert_eq!(status(&s, "DELETE", "/api/clients/0-1-2", None), 401);
    assert_eq!(status(&s, "GET", "/metrics", None), 200);
    assert_eq!(status(&s, "GET", "/healthz", None), 200);
}

fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it read everything (oversized heads).
    let _ = c.write_all(request);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_listener_answers_good_bad_and_oversized_requests() {
    let s = Arc::new(state(vec![Some(Arc::new(sample(0)))], ""));
    let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), s).unwrap();
    let addr = server.local_addr();
    let ok = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains("Content-Length: 3\r\n") && ok.ends_with("\r\n\r\nok\n"),
        "{ok}"
    );
    let head = exchange(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    let bad = exchange(addr, b"NOT HTTP AT ALL\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    let too_big = exchange(addr, &big);
    assert!(too_big.starts_with("HTTP/1.1 431 "), "{too_big}");
}
