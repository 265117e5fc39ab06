//! Access control in the core: refusals with their status and close, signed URLs judged by
//! the wall clock the core was given, and the callback wait (allowed, refused, timed out:
//! fail closed or open, held input bounded) on the simulated clock.
use super::harness::{Harness, UNIX_AT_START};
use super::{CloseReason, SEC};
use crate::auth::callback::{CallbackEvent, CallbackOutcome};
use crate::auth::{signed, AccessPolicy, Action, ActionRules, AppRules, DenyReason};
use crate::session::ClientEvent;
use crate::shard::core::authorize::HOLD_LIMIT;
use crate::shard::ListenerSettings;
use std::sync::Arc;
use std::time::Duration;

const BAD_NAME: &str = "NetStream.Publish.BadName";
const NOT_FOUND: &str = "NetStream.Play.StreamNotFound";

fn with_rules(
    publish: ActionRules,
    play: ActionRules,
    tune: impl FnOnce(&mut AppRules),
) -> Harness {
    let mut app = AppRules {
        name: "*".into(),
        publish,
        play,
        on_done: None,
        callback_timeout: 3 * SEC,
        callback_fail_open: false,
        callback_cache: Duration::from_secs(30),
    };
    tune(&mut app);
    Harness::new(|s| s.access = policy(app))
}

fn policy(app: AppRules) -> Arc<AccessPolicy> {
    Arc::new(AccessPolicy {
        apps: vec![app],
        closed: false,
    })
}

fn callback_rules() -> ActionRules {
    ActionRules {
        callback: Some("http://127.0.0.1:1/auth".into()),
        ..ActionRules::default()
    }
}

fn refused(h: &Harness, shard: usize, action: Action, reason: DenyReason) -> u64 {
    h.cores[shard].stats().auth_refused[action.index()][reason.index()]
}

fn publish(h: &mut Harness, name: &str) -> usize {
    let w = h.connect(0, 0);
    h.client(w).publish(name);
    h.drive();
    w
}

#[test]
fn signed_publish_is_judged_by_the_wall_clock() {
    let secrets = vec![b"s".to_vec()];
    let rules = ActionRules {
        secrets,
        ..ActionRules::default()
    };
    let mut h = with_rules(rules, ActionRules::default(), |_| {});
    let now = UNIX_AT_START.as_secs();
    let good = signed::query(b"s", Action::Publish, "live", "cam", now + 60);
    let w = publish(&mut h, &format!("cam?{good}"));
    assert!(h.wires[w].events.contains(&ClientEvent::PublishStarted));
    h.assert_healthy(w);

    // Valid for 60 s at the start; 61 s later it has expired.
    h.advance(61 * SEC);
    let late = publish(
        &mut h,
        &format!(
            "cam2?{}",
            signed::query(b"s", Action::Publish, "live", "cam2", now + 60)
        ),
    );
    assert_eq!(h.codes(late), [BAD_NAME]);
    assert_eq!(h.wires[late].closed, Some(CloseReason::AccessDenied));
    assert_eq!(refused(&h, 0, Action::Publish, DenyReason::TokenExpired), 1);

    let bad = publish(&mut h, "cam3?expires=9999999999&token=AAAA");
    assert_eq!(h.codes(bad), [BAD_NAME]);
    assert_eq!(h.wires[bad].closed, Some(CloseReason::AccessDenied));
    assert_eq!(refused(&h, 0, Action::Publish, DenyReason::TokenInvalid), 1);
    assert_eq!(
        h.cores[0].stats().closed_by_reason[CloseReason::AccessDenied.index()],
        2
    );
}

#[test]
fn refused_play_gets_stream_not_found_and_a_description_without_secrets() {
    let play = ActionRules {
        keys: vec!["sekrit".into()],
        ..ActionRules::default()
    };
    let mut h = with_rules(ActionRules::default(), play, |_| {});
    let ok = h.connect(1, 0);
    h.client(ok).play("cam?key=sekrit");
    h.drive();
    assert!(h.wires[ok].events.contains(&ClientEvent::PlayStarted));
    let w = h.connect(1, 0);
    h.client(w).play("cam?key=guess");
    h.drive();
    assert_eq!(h.codes(w), [NOT_FOUND]);
    assert_eq!(h.wires[w].closed, Some(CloseReason::AccessDenied));
    let text = String::from_utf8_lossy(&h.wires[w].received).to_string();
    assert!(
        !text.contains("sekrit") && !text.contains("guess"),
        "{text}"
    );
    assert_eq!(refused(&h, 1, Action::Play, DenyReason::KeyInvalid), 1);
}

#[test]
fn callback_allows_and_held_media_is_replayed_in_order() {
    let mut h = with_rules(callback_rules(), ActionRules::default(), |_| {});
    let player = h.player(1, "cam");
    let w = publish(&mut h, "cam?x=1");
    let calls = h.callbacks(0);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.request.event, CallbackEvent::Authorize);
    assert_eq!(
        (call.request.app.as_str(), call.request.stream.as_str()),
        ("live", "cam")
    );
    assert_eq!(call.request.query, "x=1");
    assert!(!h.wires[w].events.contains(&ClientEvent::PublishStarted));
    // An encoder that does not wait for Publish.Start: its media is held, not lost.
    h.headers(w);
    h.video(w, 0, 0, true, 100);
    h.drive();
    assert!(h.media(player).is_empty());
    h.answer(0, call, CallbackOutcome::Allowed);
    assert!(h.wires[w].events.contains(&ClientEvent::PublishStarted));
    h.video(w, 40, 1, false, 100);
    h.drive();
    let sent = h.wires[w].sent.clone();
    let got = h.media(player);
    assert_eq!(got.len(), sent.len());
    assert!(got.iter().zip(&sent).all(|(g, s)| g.same(s)));
    // A stale answer (same ticket again) changes nothing.
    h.answer(0, call, CallbackOutcome::Denied);
    h.assert_healthy(w);
}

#[test]
fn callback_refusal_closes_with_bad_name() {
    let mut h = with_rules(callback_rules(), callback_rules(), |_| {});
    let w = publish(&mut h, "cam");
    let call = h.callbacks(0).remove(0);
    h.answer(0, &call, CallbackOutcome::Denied);
    assert_eq!(h.codes(w), [BAD_NAME]);
    assert_eq!(h.wires[w].closed, Some(CloseReason::AccessDenied));
    assert_eq!(
        refused(&h, 0, Action::Publish, DenyReason::CallbackDenied),
        1
    );

    let p = h.connect(0, 0);
    h.client(p).play("cam");
    h.drive();
    let call = h.callbacks(0).remove(0);
    assert_eq!(call.request.action, Action::Play);
    h.answer(0, &call, CallbackOutcome::Failed);
    assert_eq!(h.codes(p), [NOT_FOUND]);
    assert_eq!(refused(&h, 0, Action::Play, DenyReason::CallbackFailed), 1);
}

#[test]
fn callback_timeout_fails_closed() {
    let mut h = with_rules(callback_rules(), ActionRules::default(), |_| {});
    let w = publish(&mut h, "cam");
    assert_eq!(h.callbacks(0).len(), 1);
    let deadline = h.cores[0].poll_timeout(h.now);
    assert!(deadline <= h.now + 3 * SEC);
    h.advance(2 * SEC);
    h.assert_healthy(w);
    h.advance(SEC + Duration::from_millis(1));
    assert_eq!(h.codes(w), [BAD_NAME]);
    assert_eq!(h.wires[w].closed, Some(CloseReason::AccessDenied));
    assert_eq!(
        refused(&h, 0, Action::Publish, DenyReason::CallbackTimeout),
        1
    );
}

#[test]
fn callback_timeout_fails_open_when_configured() {
    let mut h = with_rules(callback_rules(), ActionRules::default(), |a| {
        a.callback_fail_open = true;
    });
    let w = publish(&mut h, "cam");
    h.advance(3 * SEC + Duration::from_millis(1));
    assert!(h.wires[w].events.contains(&ClientEvent::PublishStarted));
    h.assert_healthy(w);
    // A late answer is stale.
    let call = h.callbacks(0).remove(0);
    h.answer(0, &call, CallbackOutcome::Denied);
    h.assert_healthy(w);
}

#[test]
fn input_held_while_authorizing_is_bounded() {
    let mut h = with_rules(callback_rules(), ActionRules::default(), |_| {});
    let w = publish(&mut h, "cam");
    let before = h.cores[0].stats().bytes_in;
    // Chunks of a video message far beyond the hold's bound.
    let junk = vec![0u8; 64 * 1024];
    for _ in 0..(HOLD_LIMIT / junk.len()) {
        h.inject(w, &junk);
        assert_eq!(h.wires[w].closed, None);
    }
    h.inject(w, &junk);
    h.drive();
    assert_eq!(h.wires[w].closed, Some(CloseReason::AccessDenied));
    assert_eq!(
        refused(&h, 0, Action::Publish, DenyReason::CallbackBufferFull),
        1
    );
    assert!(h.cores[0].stats().bytes_in - before <= (HOLD_LIMIT + 2 * junk.len()) as u64);
}

#[test]
fn on_done_follows_an_allowed_publish_and_play() {
    let mut h = with_rules(ActionRules::default(), ActionRules::default(), |a| {
        a.on_done = Some("http://127.0.0.1:1/done".into());
    });
    let w = h.publisher(0, "cam");
    let p = h.player(0, "cam");
    assert!(h.callbacks(0).is_empty());
    h.hang_up(p);
    h.hang_up(w);
    let done = h.callbacks(0);
    assert_eq!(done.len(), 2);
    assert!(done
        .iter()
        .all(|c| c.ticket.is_none() && c.request.event == CallbackEvent::Done));
    assert_eq!(done[0].request.action, Action::Play);
    assert_eq!(done[1].request.action, Action::Publish);
}

#[test]
fn connect_to_an_unknown_app_is_rejected() {
    let mut h = Harness::new(|s| s.session.known_apps = Some(vec!["other".to_string()].into()));
    let w = h.connect(0, 0);
    h.client(w).publish("cam");
    h.drive();
    let error = h.wires[w].error.clone().unwrap_or_default();
    assert!(error.contains("connect: unknown application"), "{error}");
    let text = String::from_utf8_lossy(&h.wires[w].received).to_string();
    assert!(text.contains("NetConnection.Connect.Rejected"), "{text}");
    assert_eq!(h.wires[w].closed, Some(CloseReason::ProtocolError));
    assert_eq!(h.cores[0].stats().connects_refused, 1);
}

#[test]
fn refusal_logging_is_rate_limited_but_counting_is_not() {
    let rules = ActionRules {
        deny: vec!["127.0.0.0/8".parse().unwrap()],
        ..ActionRules::default()
    };
    let mut h = with_rules(rules, ActionRules::default(), |_| {});
    for _ in 0..30 {
        publish(&mut h, "cam");
    }
    assert_eq!(refused(&h, 0, Action::Publish, DenyReason::IpDenied), 30);
    assert_eq!(h.cores[0].suppressed_refusal_lines(), 30 - 10);
}

#[test]
fn ip_rules_judge_the_proxy_protocol_source() {
    let play = ActionRules {
        deny: vec!["203.0.113.0/24".parse().unwrap()],
        ..ActionRules::default()
    };
    let app = AppRules {
        name: "*".into(),
        play,
        ..AppRules::default()
    };
    let mut h = Harness::new(|s| {
        s.access = policy(app);
        s.listeners.push(ListenerSettings {
            addr: "127.0.0.1:1936".parse().unwrap(),
            proxy_protocol: true,
            trusted_proxies: Vec::new(),
            protocol: Default::default(),
            tls: None,
        });
    });
    let denied = h.connect(0, 1);
    h.inject(denied, b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 1936\r\n");
    h.client(denied).play("cam");
    h.drive();
    assert_eq!(h.codes(denied), [NOT_FOUND]);
    assert_eq!(h.wires[denied].closed, Some(CloseReason::AccessDenied));
    // The socket's own peer (127.0.0.1) is not what is judged: another source passes.
    let allowed = h.connect(0, 1);
    h.inject(allowed, b"PROXY TCP4 198.51.100.1 127.0.0.1 40000 1936\r\n");
    h.client(allowed).play("cam");
    h.drive();
    assert!(h.wires[allowed].events.contains(&ClientEvent::PlayStarted));
    assert_eq!(refused(&h, 0, Action::Play, DenyReason::IpDenied), 1);
}
