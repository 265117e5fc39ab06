//! Routing one parsed request to its answer: `/metrics`, `/healthz`, `/readyz` (open) and
//! `/api/*` (behind the optional bearer token). Works on the shards' latest snapshots through
//! [`ShardView`], so it is tested without a running server. No I/O besides `/proc` for the
//! process metrics.
use super::request::Request;
use super::ControlState;
use crate::control::api;
use crate::control::metrics::{self, text::CONTENT_TYPE, ProcessStats};
use crate::shard::snapshot::ClientId;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: format!("{body}\n").into_bytes(),
        }
    }

    fn json(status: u16, value: &Value) -> Self {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Response::json(status, &json!({ "error": message }))
    }

    /// The answer to a request that could not be read (400, 431, ...).
    pub fn for_status(status: u16) -> Self {
        Response::text(status, reason(status))
    }
}

/// The reason phrase of a status this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn method_not_allowed(allow: &str) -> Response {
    let mut r = Response::error(405, "method not allowed");
    r.headers.push(("Allow", allow.to_owned()));
    r
}

/// The answer to `req`.
pub fn route(req: &Request, state: &ControlState) -> Response {
    let path = req.path.as_str();
    let get = req.method == "GET" || req.method == "HEAD";
    match path {
        "/metrics" | "/healthz" | "/readyz" if !get => return method_not_allowed("GET, HEAD"),
        "/metrics" => return metrics(state),
        "/healthz" => {
            return if state.draining.load(Ordering::Relaxed) {
                Response::text(503, "draining")
            } else {
                Response::text(200, "ok")
            };
        }
        "/readyz" => {
            let ready = state.shards.snapshots().iter().all(Option::is_some);
            return if state.draining.load(Ordering::Relaxed) {
                Response::text(503, "draining")
            } else if ready {
                Response::text(200, "ready")
            } else {
                Response::text(503, "starting")
            };
        }
        _ => {}
    }
    let Some(api_path) = path.strip_prefix("/api/") else {
        return Response::error(404, "not found");
    };
    if !authorized(req, state) {
        let mut r = Response::error(401, "missing or wrong bearer token");
        r.headers
            .push(("WWW-Authenticate", "Bearer realm=\"rtmp-edge\"".to_owned()));
        return r;
    }
    let snapshots: Vec<Arc<_>> = state.shards.snapshots().into_iter().flatten().collect();
    let parts: Vec<&str> = api_path.split('/').collect();
    match parts.as_slice() {
        ["streams"] | ["streams", ""] if get => Response::json(200, &api::streams_json(&snapshots)),
        ["streams", app, name] if get && !app.is_empty() && !name.is_empty() => {
            match api::stream_by_key_json(&snapshots, &format!("{app}/{name}")) {
                Some(v) => Response::json(200, &v),
                None => Response::error(404, "no such stream"),
            }
        }
        ["clients"] | ["clients", ""] if get => Response::json(200, &api::clients_json(&snapshots)),
        ["clients", id] if req.method == "DELETE" => kick(id, state, &snapshots),
        ["streams"] | ["streams", ""] | ["streams", _, _] | ["clients"] | ["clients", ""] => {
            method_not_allowed("GET, HEAD")
        }
        ["clients", _] => method_not_allowed("DELETE"),
        _ => Response::error(404, "not found"),
    }
}

fn authorized(req: &Request, state: &ControlState) -> bool {
    let Some(token) = state.api_token.as_deref() else {
        return true;
    };
    let Some(given) = req
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compare in time independent of where the first difference is.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn kick(
    id: &str,
    state: &ControlState,
    snapshots: &[Arc<crate::shard::snapshot::ShardSnapshot>],
) -> Response {
    let Ok(id) = id.parse::<ClientId>() else {
        return Response::error(
            400,
            "a client id is SHARD-CONN-GENERATION, as /api/clients lists it",
        );
    };
    let known = snapshots
        .iter()
        .filter(|s| s.shard == id.shard)
        .flat_map(|s| s.clients.iter())
        .any(|c| c.id == id);
    if !known {
        return Response::error(404, "no such client");
    }
    if !state.shards.kick(id) {
        return Response::error(503, "the client's shard is not running");
    }
    Response::json(202, &json!({ "kicked": id.to_string() }))
}

fn metrics(state: &ControlState) -> Response {
    let snapshots: Vec<Arc<_>> = state.shards.snapshots().into_iter().flatten().collect();
    let mut body = metrics::render(
        &snapshots,
        state.shards.shards(),
        state.metrics,
        &ProcessStats::read(),
    );
    body.push_str(&metrics::record::text(&state.shards.recording()));
    Response {
        status: 200,
        content_type: CONTENT_TYPE,
        headers: Vec::new(),
        body: body.into_bytes(),
    }
}
