//! Verifies the JWTs the provider signed itself (SPEC §7.2): access tokens presented at
//! userinfo, introspection and revocation, and the `id_token_hint` of an authorization request.
//! Pure: the caller passes the published JWK set and `now` (the broker's clock); signatures are
//! checked by jsonwebtoken, never here.
//!
//! # Security
//! Only RS256 is accepted and the header's `alg` must say so (no `none`, no HMAC with a public
//! key as secret: the algorithm-confusion attacks on JWT libraries). The JOSE `typ` is checked so
//! that an ID token cannot pass for an access token and back (RFC 9068 §4, RFC 8725 §3.11).

use std::collections::HashSet;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

/// Why a token is not one of ours, or no longer valid. Never shown beyond its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("OP0101 the token is not a JWT of the expected type")]
    Malformed,
    #[error("OP0102 the token was not signed by a published key of this provider")]
    Signature,
    #[error("OP0103 the token was issued by someone else")]
    Issuer,
    #[error("OP0104 the token has expired")]
    Expired,
}

/// What a token must be.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// The JOSE header `typ` (`claims::ACCESS_TOKEN_TYP`, `claims::ID_TOKEN_TYP`).
    pub typ: &'a str,
    /// Unix time to check `exp` against; `None` when expiry does not matter (a hint).
    pub now: Option<i64>,
}

/// The claims of `token` when it is an RS256 JWT of type `expected.typ`, signed by a key of
/// `keys`, issued by `expected.issuer` and (when `now` is given) not expired.
pub fn verify<C: DeserializeOwned>(
    token: &str,
    keys: &JwkSet,
    expected: Expected<'_>,
) -> Result<C, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some(expected.typ) {
        return Err(VerifyError::Malformed);
    }
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| keys.find(kid))
        .ok_or(VerifyError::Signature)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| VerifyError::Signature)?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Expiry is checked below against the broker's clock, not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::from(["iss".to_string()]);
    validation.set_issuer(&[expected.issuer]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidIssuer
            | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => VerifyError::Issuer,
            jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::Signature,
            _ => VerifyError::Malformed,
        })?
        .claims;
    if let Some(now) = expected.now {
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or(VerifyError::Malformed)?;
        if exp <= now {
            return Err(VerifyError::Expired);
        }
    }
    serde_json::from_value(claims).map_err(|_| VerifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::{json, Value};

    use super::*;
    use crate::oidc_provider::signing::{generate_key, jwk_set, SigningKey};

    const ISSUER: &str = "https://sso.example.com";

    fn signer_and_keys() -> (SigningKey, JwkSet) {
        let key = generate_key().unwrap();
        let json = serde_json::to_string(&key.public_jwk).unwrap();
        let signer = SigningKey::from_der(key.kid.clone(), key.private_der.expose_secret());
        (signer, jwk_set([json.as_str()]).unwrap())
    }

    fn expected(now: Option<i64>) -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            typ: "at+jwt",
            now,
        }
    }

    #[test]
    fn a_token_we_signed_verifies_until_it_expires() {
        let (signer, keys) = signer_and_keys();
        let token = signer
            .sign(
                "at+jwt",
                &json!({"iss": ISSUER, "sub": "u-1", "exp": 1_300}),
            )
            .unwrap();
        let claims: Value = verify(&token, &keys, expected(Some(1_299))).unwrap();
        assert_eq!(claims["sub"], "u-1");
        let late = verify::<Value>(&token, &keys, expected(Some(1_300)));
        assert_eq!(late.unwrap_err(), VerifyError::Expired);
        // A hint is verified without looking at its expiry.
        assert!(verify::<Value>(&token, &keys, expected(None)).is_ok());
    }

    #[test]
    fn another_type_issuer_key_or_an_altered_token_is_refused() {
        let (signer, keys) = signer_and_keys();
        let claims = json!({"iss": ISSUER, "sub": "u-1", "exp": 1_300});
        let id_token = signer.sign("JWT", &claims).unwrap();
        let err = verify::<Value>(&id_token, &keys, expected(None)).unwrap_err();
        assert_eq!(err, VerifyError::Malformed);
        let foreign = signer
            .sign(
                "at+jwt",
                &json!({"iss": "https://evil.example", "exp": 1_300}),
            )
            .unwrap();
        let err = verify::<Value>(&foreign, &keys, expected(None)).unwrap_err();
        assert_eq!(err, VerifyError::Issuer);
        let (other_signer, _) = signer_and_keys();
        let token = other_signer.sign("at+jwt", &claims).unwrap();
        assert!(verify::<Value>(&token, &keys, expected(None)).is_err());
        let token = signer.sign("at+jwt", &claims).unwrap();
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let altered = format!("{rest}.{flipped}{}", &signature[1..]);
        let err = verify::<Value>(&altered, &keys, expected(None)).unwrap_err();
        assert_eq!(err, VerifyError::Signature);
        assert!(verify::<Value>("not.a.jwt", &keys, expected(None)).is_err());
    }
}
