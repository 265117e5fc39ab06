//! JWT in the query string (`?jwt=...`): HS256 with shared secrets, RS256 / ES256 with
//! public keys from PEM files or a JWKS, checked with the `jsonwebtoken` crate.
//!
//! Claims (all required except `nbf`):
//! - `exp`, `nbf`: unix seconds, checked here against the time the caller passes (the
//!   crate's own clock is turned off: this module reads no clock), with [`LEEWAY_SECS`];
//! - `act`: `"publish"`, `"play"`, `"*"` or a list of those;
//! - `app`, `stream`: patterns in which `*` matches any run of characters (`"*"`, `"cam-*"`).
//!
//! Parsing key material from bytes is here too ([`JwtKeys::add_pem`], [`JwtKeys::add_jwks`]);
//! reading the files is the control side's job.
use super::{glob_match, Action, DenyReason};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Seconds of clock skew accepted on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// One verification key.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys a JWT may be signed with.
#[derive(Clone, Default)]
pub struct JwtKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material (an HS256 secret is one).
        f.debug_struct("JwtKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A key that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a usable HS256 secret (empty?)")]
    Secret,
    #[error("not an RSA or EC (P-256) public key in PEM form")]
    Pem,
    #[error("not a JWKS: {0}")]
    Jwks(String),
}

impl JwtKeys {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// An HS256 shared secret.
    pub fn add_secret(&mut self, secret: &[u8]) -> Result<(), KeyError> {
        let key = DecodingKey::from_secret(secret).map_err(|_| KeyError::Secret)?;
        self.keys.push(Key {
            kid: None,
            alg: Algorithm::HS256,
            key,
        });
        Ok(())
    }

    /// A PEM public key: RSA (RS256) or EC P-256 (ES256).
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), KeyError> {
        let (alg, key) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (Algorithm::RS256, k)
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (Algorithm::ES256, k)
        } else {
            return Err(KeyError::Pem);
        };
        self.keys.push(Key {
            kid: None,
            alg,
            key,
        });
        Ok(())
    }

    /// Every RSA and EC key of a JWKS document; its `kid` picks the key for a token that
    /// names one.
    pub fn add_jwks(&mut self, json: &[u8]) -> Result<(), KeyError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| KeyError::Jwks(e.to_string()))?;
        for jwk in &set.keys {
            let alg = match jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Jwks(e.to_string()))?;
            self.keys.push(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        Ok(())
    }

    /// Checks `token` for `action` on `app`/`stream` at `unix_now`.
    pub fn verify(
        &self,
        token: &str,
        action: Action,
        app: &str,
        stream: &str,
        unix_now: u64,
    ) -> Result<(), DenyReason> {
        let header = decode_header(token).map_err(|_| DenyReason::JwtInvalid)?;
        if !matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256
        ) {
            return Err(DenyReason::JwtInvalid);
        }
        let mut validation = Validation::new(header.alg);
        // Time is ours to pass in: the crate would read the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let candidates = self.keys.iter().filter(|k| {
            k.alg == header.alg
                && match (&header.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                }
        });
        let claims = candidates
            .filter_map(|k| decode::<Claims>(token, &k.key, &validation).ok())
            .map(|data| data.claims)
            .next()
            .ok_or(DenyReason::JwtInvalid)?;
        if claims.exp.saturating_add(LEEWAY_SECS) < unix_now {
            return Err(DenyReason::TokenExpired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > unix_now.saturating_add(LEEWAY_SECS))
        {
            return Err(DenyReason::TokenNotYetValid);
        }
        if claims.grants(action, app, stream) {
            Ok(())
        } else {
            Err(DenyReason::JwtNotGranted)
        }
    }
}

/// The claims this server reads.
#[derive(Debug, Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    act: Acts,
    app: String,
    stream: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Acts {
    One(String),
    Many(Vec<String>),
}

impl Claims {
    fn grants(&self, action: Action, app: &str, stream: &str) -> bool {
        let act_ok = |a: &str| a == "*" || a == action.as_str();
        let acts = match &self.act {
            Acts::One(a) => act_ok(a),
            Acts::Many(list) => list.iter().any(|a| act_ok(a)),
        };
        acts && glob_match(&self.app, app) && glob_match(&self.stream, stream)
    }
}

#[cfg(test)]
mod tests;
