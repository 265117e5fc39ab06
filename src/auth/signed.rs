//! Signed URLs: `?expires=UNIX_SECONDS&token=T`, where `T` is
//! `base64url(HMAC-SHA256(secret, string_to_sign))` without padding and the string to sign is
//! `"{action}\n{app}\n{stream}\n{expires}"` (action `publish` or `play`, the stream name
//! without its query string).
//!
//! Pure functions; the caller passes the current unix time. Tokens are compared in constant
//! time (`Mac::verify_slice`).
use super::{Action, DenyReason};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The exact bytes the HMAC covers.
pub fn string_to_sign(action: Action, app: &str, stream: &str, expires: u64) -> String {
    format!("{}\n{app}\n{stream}\n{expires}", action.as_str())
}

fn mac(secret: &[u8], action: Action, app: &str, stream: &str, expires: u64) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(string_to_sign(action, app, stream, expires).as_bytes());
    mac
}

/// The token for these fields.
pub fn token(secret: &[u8], action: Action, app: &str, stream: &str, expires: u64) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(secret, action, app, stream, expires)
            .finalize()
            .into_bytes(),
    )
}

/// The query string (`expires=...&token=...`) `rtmp-edge sign` prints.
pub fn query(secret: &[u8], action: Action, app: &str, stream: &str, expires: u64) -> String {
    let token = token(secret, action, app, stream, expires);
    format!("expires={expires}&token={token}")
}

/// Checks `token` and `expires` against every secret (several at once while rotating).
pub fn verify(
    secrets: &[Vec<u8>],
    action: Action,
    app: &str,
    stream: &str,
    expires: Option<&str>,
    token: &str,
    unix_now: u64,
) -> Result<(), DenyReason> {
    let expires: u64 = expires
        .and_then(|e| e.parse().ok())
        .ok_or(DenyReason::TokenInvalid)?;
    let Ok(given) = URL_SAFE_NO_PAD.decode(token) else {
        return Err(DenyReason::TokenInvalid);
    };
    let valid = secrets.iter().any(|secret| {
        mac(secret, action, app, stream, expires)
            .verify_slice(&given)
            .is_ok()
    });
    if !valid {
        return Err(DenyReason::TokenInvalid);
    }
    if expires < unix_now {
        return Err(DenyReason::TokenExpired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_is_the_documented_one() {
        assert_eq!(
            string_to_sign(Action::Publish, "live", "cam", 1700000000),
            "publish\nlive\ncam\n1700000000"
        );
    }

    #[test]
    fn known_answer_matches_an_independent_hmac() {
        // printf 'play\nlive\ncam\n100' | openssl dgst -sha256 -hmac k -binary | basenc --base64url
        assert_eq!(
            token(b"k", Action::Play, "live", "cam", 100),
            "BDOQlyAWjLbysj3epl4pWjJETd816gJ0ga_2th3mQyU"
        );
    }

    #[test]
    fn good_expired_tampered_and_rotated_tokens() {
        let secrets = vec![b"old".to_vec(), b"new".to_vec()];
        let t = token(b"new", Action::Publish, "live", "cam", 1000);
        let ok = |t: &str, exp: &str, now| {
            verify(&secrets, Action::Publish, "live", "cam", Some(exp), t, now)
        };
        assert_eq!(ok(&t, "1000", 999), Ok(()));
        assert_eq!(ok(&t, "1000", 1000), Ok(()));
        assert_eq!(ok(&t, "1000", 1001), Err(DenyReason::TokenExpired));
        // A longer expiry is not covered by the signature.
        assert_eq!(ok(&t, "2000", 999), Err(DenyReason::TokenInvalid));
        assert_eq!(ok("!!", "1000", 999), Err(DenyReason::TokenInvalid));
        let old = token(b"old", Action::Publish, "live", "cam", 1000);
        assert_eq!(ok(&old, "1000", 999), Ok(()));
        let other = token(b"other", Action::Publish, "live", "cam", 1000);
        assert_eq!(ok(&other, "1000", 999), Err(DenyReason::TokenInvalid));
        // The action, app and stream are signed.
        let play = verify(&secrets, Action::Play, "live", "cam", Some("1000"), &t, 9);
        assert_eq!(play, Err(DenyReason::TokenInvalid));
        let app = verify(&secrets, Action::Publish, "x", "cam", Some("1000"), &t, 9);
        assert_eq!(app, Err(DenyReason::TokenInvalid));
        let missing = verify(&secrets, Action::Publish, "live", "cam", None, &t, 9);
        assert_eq!(missing, Err(DenyReason::TokenInvalid));
    }
}
