//! The JWTs of logging out (SPEC §7.2): the claims of a Back-Channel Logout 1.0
//! `logout_token`, and the check of an RP-Initiated Logout `id_token_hint` — an ID token we
//! signed, possibly expired. Pure: keys, issuer and `now` are parameters; no actix, no database.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::claims::ID_TOKEN_TYP;

/// JOSE `typ` of a logout token (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The one event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid: only for its delivery.
pub const LOGOUT_TOKEN_SECONDS: i64 = 120;

/// The claims of a logout token: never a `nonce` (§2.4, so it cannot pass for an ID token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: serde_json::Map<String, serde_json::Value>,
}

/// The logout token telling `client_id` that the session `sid` of `sub` ended, at unix `now`.
pub fn logout_token_claims(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
    jti: &str,
    now: i64,
) -> LogoutTokenClaims {
    let mut events = serde_json::Map::new();
    events.insert(
        BACKCHANNEL_LOGOUT_EVENT.to_string(),
        serde_json::Value::Object(serde_json::Map::new()),
    );
    LogoutTokenClaims {
        iss: issuer.to_string(),
        aud: client_id.to_string(),
        iat: now,
        exp: now + LOGOUT_TOKEN_SECONDS,
        jti: jti.to_string(),
        sub: sub.to_string(),
        sid: sid.to_string(),
        events,
    }
}

/// What an `id_token_hint` tells about the session it was issued in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    pub sid: String,
}

/// Why an `id_token_hint` is not ours.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HintError {
    #[error("the id_token_hint is not a JWT")]
    Malformed,
    #[error("the id_token_hint is not an ID token signed by this provider")]
    NotOurs,
}

/// Checks that `token` is an ID token this provider signed (RS256, a `kid` of `keys`, `typ`
/// `JWT`, `iss` = `issuer`). Expiry is not checked: RP-Initiated Logout 1.0 §2 accepts an
/// expired ID token as a hint.
///
/// # Security
/// Only RS256 with a published key is accepted (no `alg: none`, no HMAC keyed with the public
/// key: algorithm confusion), and the `typ` keeps an access token or a logout token — also
/// signed by us — from passing for an ID token.
pub fn verify_id_token_hint(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
) -> Result<IdTokenHint, HintError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| HintError::Malformed)?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some(ID_TOKEN_TYP) {
        return Err(HintError::NotOurs);
    }
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| keys.find(kid))
        .ok_or(HintError::NotOurs)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| HintError::NotOurs)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<IdTokenHint>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|_| HintError::NotOurs)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::oidc_provider::signing::{generate_key, jwk_set, SigningKey};

    const ISSUER: &str = "https://broker.example";

    fn key_and_set() -> (SigningKey, JwkSet) {
        let key = generate_key().unwrap();
        let json = serde_json::to_string(&key.public_jwk).unwrap();
        let set = jwk_set([json.as_str()]).unwrap();
        (
            SigningKey::from_der(key.kid.clone(), key.private_der.expose_secret()),
            set,
        )
    }

    fn id_token(signer: &SigningKey, typ: &str, exp: i64) -> String {
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "u1", "aud": "c1", "sid": "s1", "exp": exp, "iat": exp - 300,
        });
        signer.sign(typ, &claims).unwrap()
    }

    #[test]
    fn a_logout_token_has_exactly_the_back_channel_claims() {
        let claims = logout_token_claims(ISSUER, "c1", "u1", "s1", "j1", 1_000);
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "iss": ISSUER, "aud": "c1", "iat": 1_000, "exp": 1_120, "jti": "j1",
                "sub": "u1", "sid": "s1",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            })
        );
    }

    #[test]
    fn an_expired_id_token_we_signed_is_a_valid_hint() {
        let (signer, set) = key_and_set();
        let hint = verify_id_token_hint(&id_token(&signer, "JWT", 10), &set, ISSUER).unwrap();
        assert_eq!(hint.sub, "u1");
        assert_eq!(hint.aud, "c1");
        assert_eq!(hint.sid, "s1");
    }

    #[test]
    fn a_hint_signed_by_another_key_altered_or_of_another_type_is_refused() {
        let (signer, set) = key_and_set();
        let (stranger, _) = key_and_set();
        let foreign = id_token(&stranger, "JWT", 4_000_000_000);
        assert_eq!(
            verify_id_token_hint(&foreign, &set, ISSUER),
            Err(HintError::NotOurs)
        );
        let access = id_token(&signer, "at+jwt", 4_000_000_000);
        assert_eq!(
            verify_id_token_hint(&access, &set, ISSUER),
            Err(HintError::NotOurs)
        );
        let good = id_token(&signer, "JWT", 4_000_000_000);
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let payload = serde_json::json!({
            "iss": ISSUER, "sub": "admin", "aud": "c1", "sid": "s1", "exp": 4_000_000_000u64,
        });
        parts[1] = data_encoding::BASE64URL_NOPAD.encode(payload.to_string().as_bytes());
        assert_eq!(
            verify_id_token_hint(&parts.join("."), &set, ISSUER),
            Err(HintError::NotOurs)
        );
        assert_eq!(
            verify_id_token_hint("not-a-jwt", &set, ISSUER),
            Err(HintError::Malformed)
        );
        assert!(verify_id_token_hint(&good, &set, "https://other.example").is_err());
    }
}
