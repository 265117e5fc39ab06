//! JWT checks with HS256, RS256 and ES256 (test keys under tests/fixtures/auth/).
use super::*;
use jsonwebtoken::{encode, EncodingKey, Header};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap()
}

fn token(
    alg: Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, &claims, key).unwrap()
}

fn claims(exp: u64, act: serde_json::Value, app: &str, stream: &str) -> serde_json::Value {
    serde_json::json!({"exp": exp, "act": act, "app": app, "stream": stream})
}

const NOW: u64 = 1_800_000_000;

#[test]
fn hs256_exp_nbf_and_leeway() {
    let mut keys = JwtKeys::default();
    keys.add_secret(b"shared").unwrap();
    let enc = EncodingKey::from_secret(b"shared").unwrap();
    let check = |c| {
        let t = token(Algorithm::HS256, None, &enc, c);
        keys.verify(&t, Action::Publish, "live", "cam", NOW)
    };
    assert_eq!(
        check(claims(NOW + 60, "publish".into(), "live", "cam")),
        Ok(())
    );
    // Within the leeway, then beyond it.
    assert_eq!(
        check(claims(NOW - 10, "publish".into(), "live", "cam")),
        Ok(())
    );
    assert_eq!(
        check(claims(
            NOW - LEEWAY_SECS - 1,
            "publish".into(),
            "live",
            "cam"
        )),
        Err(DenyReason::TokenExpired)
    );
    let mut future = claims(NOW + 600, "publish".into(), "live", "cam");
    future["nbf"] = (NOW + 300).into();
    assert_eq!(check(future), Err(DenyReason::TokenNotYetValid));
    let mut soon = claims(NOW + 600, "publish".into(), "live", "cam");
    soon["nbf"] = (NOW + 5).into();
    assert_eq!(check(soon), Ok(()));
    // Missing claims: not granted.
    assert_eq!(
        check(serde_json::json!({"exp": NOW + 60})),
        Err(DenyReason::JwtInvalid)
    );
    let other = token(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"other").unwrap(),
        claims(NOW + 60, "publish".into(), "live", "cam"),
    );
    assert_eq!(
        keys.verify(&other, Action::Publish, "live", "cam", NOW),
        Err(DenyReason::JwtInvalid)
    );
    assert_eq!(
        keys.verify("not.a.jwt", Action::Publish, "live", "cam", NOW),
        Err(DenyReason::JwtInvalid)
    );
}

#[test]
fn claims_grant_actions_apps_and_streams_with_wildcards() {
    let mut keys = JwtKeys::default();
    keys.add_secret(b"s").unwrap();
    let enc = EncodingKey::from_secret(b"s").unwrap();
    let t = |act: serde_json::Value, app: &str, stream: &str| {
        token(
            Algorithm::HS256,
            None,
            &enc,
            claims(NOW + 60, act, app, stream),
        )
    };
    let play_any = t("play".into(), "*", "*");
    assert_eq!(keys.verify(&play_any, Action::Play, "x", "y", NOW), Ok(()));
    assert_eq!(
        keys.verify(&play_any, Action::Publish, "x", "y", NOW),
        Err(DenyReason::JwtNotGranted)
    );
    let both = t(serde_json::json!(["publish", "play"]), "live", "cam-*");
    assert_eq!(
        keys.verify(&both, Action::Publish, "live", "cam-1", NOW),
        Ok(())
    );
    assert_eq!(
        keys.verify(&both, Action::Play, "live", "cam-", NOW),
        Ok(())
    );
    assert_eq!(
        keys.verify(&both, Action::Play, "live", "other", NOW),
        Err(DenyReason::JwtNotGranted)
    );
    assert_eq!(
        keys.verify(&both, Action::Play, "vod", "cam-1", NOW),
        Err(DenyReason::JwtNotGranted)
    );
    let star = t("*".into(), "live", "cam");
    assert_eq!(
        keys.verify(&star, Action::Publish, "live", "cam", NOW),
        Ok(())
    );
}

#[test]
fn rs256_and_es256_from_pem_files() {
    let mut keys = JwtKeys::default();
    keys.add_pem(&fixture("rsa_public.pem")).unwrap();
    keys.add_pem(&fixture("ec_public.pem")).unwrap();
    assert!(keys
        .add_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
        .is_err());
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&fixture("ec_private.pem")).unwrap();
    let c = || claims(NOW + 60, "play".into(), "live", "*");
    let rs = token(Algorithm::RS256, None, &rsa, c());
    let es = token(Algorithm::ES256, None, &ec, c());
    assert_eq!(keys.verify(&rs, Action::Play, "live", "a", NOW), Ok(()));
    assert_eq!(keys.verify(&es, Action::Play, "live", "a", NOW), Ok(()));
    let expired = token(
        Algorithm::ES256,
        None,
        &ec,
        claims(NOW - 3600, "play".into(), "live", "*"),
    );
    assert_eq!(
        keys.verify(&expired, Action::Play, "live", "a", NOW),
        Err(DenyReason::TokenExpired)
    );
    // An HS256 token signed with the public key's bytes must not pass (algorithm confusion).
    let confused = token(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(&fixture("rsa_public.pem")).unwrap(),
        c(),
    );
    assert_eq!(
        keys.verify(&confused, Action::Play, "live", "a", NOW),
        Err(DenyReason::JwtInvalid)
    );
}

#[test]
fn jwks_keys_are_picked_by_kid() {
    let mut keys = JwtKeys::default();
    keys.add_jwks(&fixture("jwks.json")).unwrap();
    assert!(keys.add_jwks(b"{\"nope\": 1}").is_err());
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&fixture("ec_private.pem")).unwrap();
    let c = || claims(NOW + 60, "publish".into(), "*", "*");
    let rs = token(Algorithm::RS256, Some("rsa-1"), &rsa, c());
    let es = token(Algorithm::ES256, Some("ec-1"), &ec, c());
    assert_eq!(keys.verify(&rs, Action::Publish, "a", "b", NOW), Ok(()));
    assert_eq!(keys.verify(&es, Action::Publish, "a", "b", NOW), Ok(()));
    let wrong_kid = token(Algorithm::RS256, Some("ec-1"), &rsa, c());
    assert_eq!(
        keys.verify(&wrong_kid, Action::Publish, "a", "b", NOW),
        Err(DenyReason::JwtInvalid)
    );
}
