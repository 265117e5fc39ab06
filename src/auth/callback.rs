//! What an HTTP access callback carries, sans-IO: the shard core emits a
//! [`CallbackRequest`], a worker off the shard threads POSTs [`CallbackRequest::body`] to its
//! URL, and the core takes a [`CallbackOutcome`] back.
//!
//! The body is one JSON object (like nginx-rtmp's `on_publish` and SRS's `on_publish`
//! hooks): `{"event":"publish","action":"publish","client":"ADDR:PORT","app":"live",
//! "stream":"cam","query":"key=..."}`; `event` is `publish`, `play` or `done` (then `action`
//! says what ended). A 2xx answer allows; anything else refuses.
use super::Action;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// Which hook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackEvent {
    /// `on_publish` / `on_play`: the answer decides.
    Authorize,
    /// `on_done`: an allowed publish or play ended; nobody waits for the answer.
    Done,
}

/// One callback to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    pub url: String,
    pub event: CallbackEvent,
    pub action: Action,
    pub client: SocketAddr,
    pub app: String,
    pub stream: String,
    pub query: String,
    /// How long the worker waits for the answer.
    pub timeout: Duration,
}

#[derive(Serialize)]
struct Body<'a> {
    event: &'a str,
    action: &'a str,
    client: String,
    app: &'a str,
    stream: &'a str,
    query: &'a str,
}

impl CallbackRequest {
    /// The JSON body to POST.
    pub fn body(&self) -> String {
        let event = match self.event {
            CallbackEvent::Authorize => self.action.as_str(),
            CallbackEvent::Done => "done",
        };
        let body = Body {
            event,
            action: self.action.as_str(),
            client: self.client.to_string(),
            app: &self.app,
            stream: &self.stream,
            query: &self.query,
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

/// How a callback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// A 2xx answer.
    Allowed,
    /// Any other status.
    Denied,
    /// No answer within the timeout.
    TimedOut,
    /// Not reachable, or the request failed.
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_the_documented_fields() {
        let req = CallbackRequest {
            url: "http://127.0.0.1:1/auth".into(),
            event: CallbackEvent::Authorize,
            action: Action::Play,
            client: "10.1.2.3:5000".parse().unwrap(),
            app: "live".into(),
            stream: "cam".into(),
            query: "a=\"b\"".into(),
            timeout: Duration::from_secs(1),
        };
        let v: serde_json::Value = serde_json::from_str(&req.body()).unwrap();
        assert_eq!(v["event"], "play");
        assert_eq!(v["action"], "play");
        assert_eq!(v["client"], "10.1.2.3:5000");
        assert_eq!(v["app"], "live");
        assert_eq!(v["stream"], "cam");
        assert_eq!(v["query"], "a=\"b\"");
        let done = CallbackRequest {
            event: CallbackEvent::Done,
            ..req
        };
        let v: serde_json::Value = serde_json::from_str(&done.body()).unwrap();
        assert_eq!(v["event"], "done");
    }
}
