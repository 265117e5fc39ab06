//! The decision: each rule, and the order they combine in.
use super::*;

const NOW: u64 = 1_000_000;

fn req<'a>(action: Action, app: &'a str, query: &'a str, peer: &str) -> AccessRequest<'a> {
    AccessRequest {
        action,
        app,
        stream: "cam",
        query,
        peer: peer.parse().unwrap(),
        unix_now: NOW,
    }
}

fn policy(app: AppRules) -> AccessPolicy {
    AccessPolicy {
        apps: vec![app],
        closed: false,
    }
}

fn app(name: &str, publish: ActionRules) -> AppRules {
    AppRules {
        name: name.into(),
        publish,
        ..AppRules::default()
    }
}

#[test]
fn no_rules_allow_everything() {
    let p = AccessPolicy::default();
    let r = req(Action::Publish, "live", "", "10.0.0.1");
    assert_eq!(p.decide(&r), Decision::Allow);
}

#[test]
fn ip_deny_then_allow_lists() {
    let rules = ActionRules {
        allow: vec!["10.0.0.0/8".parse().unwrap()],
        deny: vec!["10.9.0.0/16".parse().unwrap()],
        ..ActionRules::default()
    };
    let p = policy(app("live", rules));
    let d = |peer| p.decide(&req(Action::Publish, "live", "", peer));
    assert_eq!(d("10.1.1.1"), Decision::Allow);
    assert_eq!(d("::ffff:10.1.1.1"), Decision::Allow);
    assert_eq!(d("10.9.1.1"), Decision::Deny(DenyReason::IpDenied));
    assert_eq!(d("192.168.1.1"), Decision::Deny(DenyReason::IpNotAllowed));
    // Play has rules of its own (none here).
    let play = p.decide(&req(Action::Play, "live", "", "192.168.1.1"));
    assert_eq!(play, Decision::Allow);
}

#[test]
fn signed_urls_with_rotation() {
    let rules = ActionRules {
        secrets: vec![b"a".to_vec(), b"b".to_vec()],
        ..ActionRules::default()
    };
    let p = policy(app("*", rules));
    for secret in [&b"a"[..], b"b"] {
        let q = signed::query(secret, Action::Publish, "live", "cam", NOW + 10);
        let r = req(Action::Publish, "live", &q, "127.0.0.1");
        assert_eq!(p.decide(&r), Decision::Allow);
    }
    let q = signed::query(b"c", Action::Publish, "live", "cam", NOW + 10);
    let r = req(Action::Publish, "live", &q, "127.0.0.1");
    assert_eq!(p.decide(&r), Decision::Deny(DenyReason::TokenInvalid));
    let q = signed::query(b"a", Action::Publish, "live", "cam", NOW - 1);
    let r = req(Action::Publish, "live", &q, "127.0.0.1");
    assert_eq!(p.decide(&r), Decision::Deny(DenyReason::TokenExpired));
    let r = req(Action::Publish, "live", "hops=1", "127.0.0.1");
    assert_eq!(p.decide(&r), Decision::Deny(DenyReason::CredentialsMissing));
}

#[test]
fn stream_keys() {
    let rules = ActionRules {
        keys: vec!["k1".into(), "k2".into()],
        ..ActionRules::default()
    };
    let p = policy(app("live", rules));
    let d = |q| p.decide(&req(Action::Publish, "live", q, "127.0.0.1"));
    assert_eq!(d("key=k2"), Decision::Allow);
    assert_eq!(d("hops=1&key=k1"), Decision::Allow);
    assert_eq!(d("key=k"), Decision::Deny(DenyReason::KeyInvalid));
    assert_eq!(d("key=k12"), Decision::Deny(DenyReason::KeyInvalid));
    assert_eq!(d(""), Decision::Deny(DenyReason::CredentialsMissing));
}

#[test]
fn any_configured_kind_of_credential_suffices() {
    let rules = ActionRules {
        keys: vec!["k".into()],
        secrets: vec![b"s".to_vec()],
        ..ActionRules::default()
    };
    let p = policy(app("live", rules));
    let d = |q: &str| p.decide(&req(Action::Publish, "live", q, "127.0.0.1"));
    assert_eq!(d("token=bad&expires=1&key=k"), Decision::Allow);
    // The first kind presented that failed is the reason.
    assert_eq!(
        d("token=bad&expires=1&key=x"),
        Decision::Deny(DenyReason::TokenInvalid)
    );
}

#[test]
fn order_ip_then_credentials_then_callback() {
    let rules = ActionRules {
        deny: vec!["127.0.0.1/32".parse().unwrap()],
        keys: vec!["k".into()],
        callback: Some("http://127.0.0.1:1/".into()),
        ..ActionRules::default()
    };
    let p = policy(app("live", rules));
    let d = |q, peer| p.decide(&req(Action::Publish, "live", q, peer));
    // A good key does not get past an IP deny.
    assert_eq!(
        d("key=k", "127.0.0.1"),
        Decision::Deny(DenyReason::IpDenied)
    );
    // A bad key never reaches the callback.
    assert_eq!(
        d("key=x", "127.0.0.2"),
        Decision::Deny(DenyReason::KeyInvalid)
    );
    assert_eq!(d("key=k", "127.0.0.2"), Decision::AskCallback);
}

#[test]
fn unknown_apps_are_refused_when_apps_are_named() {
    let p = AccessPolicy {
        apps: vec![app("live", ActionRules::default())],
        closed: true,
    };
    assert!(p.knows_app("live"));
    assert!(!p.knows_app("other"));
    let r = req(Action::Play, "other", "", "127.0.0.1");
    assert_eq!(p.decide(&r), Decision::Deny(DenyReason::UnknownApp));
    let r = req(Action::Play, "live", "", "127.0.0.1");
    assert_eq!(p.decide(&r), Decision::Allow);
}

#[test]
fn glob_patterns() {
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "abc"));
    assert!(glob_match("abc", "abc"));
    assert!(!glob_match("abc", "abcd"));
    assert!(glob_match("cam-*", "cam-7"));
    assert!(!glob_match("cam-*", "cat-7"));
    assert!(glob_match("*-hd", "cam-hd"));
    assert!(glob_match("a*c*e", "abcde"));
    assert!(!glob_match("a*c*e", "abcd"));
    assert!(!glob_match("ab*ba", "aba"));
}

#[test]
fn query_params_are_taken_verbatim() {
    assert_eq!(query_param("a=1&b=2", "b"), Some("2"));
    assert_eq!(query_param("a=1&a=2", "a"), Some("1"));
    assert_eq!(query_param("ab=1", "a"), None);
    assert_eq!(query_param("", "a"), None);
}

#[test]
fn credential_query_keeps_only_what_the_policy_reads() {
    assert_eq!(
        credential_query("_HLS_msn=5&expires=10&x=1&token=ab-c_&_HLS_part=2"),
        "expires=10&token=ab-c_"
    );
    assert_eq!(credential_query("jwt=a.b.c&key=k"), "jwt=a.b.c&key=k");
    assert_eq!(credential_query("_HLS_msn=1"), "");
    assert_eq!(credential_query(""), "");
    // Values that could break out of a quoted URI or XML are dropped.
    assert_eq!(credential_query("key=a\"b&token=<x>&jwt=ok"), "jwt=ok");
}
