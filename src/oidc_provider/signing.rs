//! The provider's RS256 keys (SPEC §7.4): generation (OpenSSL, as for the SAML SP keys), the
//! public JWK each is published as, signing with jsonwebtoken, and how long a replaced key
//! stays published. Storage, sealing and rotation are `services::provider::signing_keys`.

use chrono::Duration;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretSlice};
use serde::Serialize;

/// The one algorithm the provider signs with.
pub const ALGORITHM: &str = "RS256";
const RSA_BITS: u32 = 2048;

/// How long an instance keeps signing with the key it loaded before it looks again: after a
/// rotation by another instance (or the CLI) an instance may sign with the old key this long.
pub const SIGNER_RELOAD_SECONDS: i64 = 60;
/// Clock skew a verifier may allow past `exp`.
pub const VERIFIER_LEEWAY_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("OP0001 cannot generate a signing key")]
    Generate(#[source] openssl::error::ErrorStack),
    #[error("OP0002 cannot sign or describe a key")]
    Jwt(#[source] jsonwebtoken::errors::Error),
    #[error("OP0003 a stored public key is not a JWK")]
    StoredJwk(#[source] serde_json::Error),
}

/// A fresh key: its id, public JWK and private key (PKCS#1 DER, to be sealed before storage).
pub struct GeneratedKey {
    pub kid: String,
    pub public_jwk: Jwk,
    pub private_der: SecretSlice<u8>,
}

/// A new RSA-2048 key. Its `kid` is the RFC 7638 thumbprint of the public key, so an id always
/// names one key. Takes a noticeable fraction of a second: run it off the async executor.
pub fn generate_key() -> Result<GeneratedKey, SigningError> {
    let rsa = openssl::rsa::Rsa::generate(RSA_BITS).map_err(SigningError::Generate)?;
    let der = SecretSlice::from(rsa.private_key_to_der().map_err(SigningError::Generate)?);
    let encoding = EncodingKey::from_rsa_der(der.expose_secret());
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(SigningError::Jwt)?;
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let kid = jwk.thumbprint(ThumbprintHash::SHA256);
    jwk.common.key_id = Some(kid.clone());
    Ok(GeneratedKey {
        kid,
        public_jwk: jwk,
        private_der: der,
    })
}

/// A private key ready to sign, with its `kid`.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key `kid` from its PKCS#1 DER.
    pub fn from_der(kid: String, der: &[u8]) -> Self {
        Self {
            kid,
            encoding: EncodingKey::from_rsa_der(der),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWS of `claims`: RS256, this key's `kid`, and `typ` (`JWT`, `at+jwt`,
    /// `logout+jwt`).
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, SigningError> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(typ.to_string());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(SigningError::Jwt)
    }
}

/// The JWK set of stored public keys (each the JSON `generate_key` produced).
pub fn jwk_set<'a>(public_jwks: impl IntoIterator<Item = &'a str>) -> Result<JwkSet, SigningError> {
    let keys = public_jwks
        .into_iter()
        .map(|json| serde_json::from_str::<Jwk>(json).map_err(SigningError::StoredJwk))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JwkSet { keys })
}

/// How long a key stays in the JWKS after it stopped signing: a token it signed at the last
/// moment — up to `SIGNER_RELOAD_SECONDS` late on an instance that had not reloaded yet — lives
/// `longest_token_lifetime`, and verifiers allow `VERIFIER_LEEWAY_SECONDS` of skew.
pub fn publication_after_retirement(longest_token_lifetime: Duration) -> Duration {
    Duration::seconds(SIGNER_RELOAD_SECONDS)
        + longest_token_lifetime
        + Duration::seconds(VERIFIER_LEEWAY_SECONDS)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::AlgorithmParameters;
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    #[test]
    fn a_generated_key_signs_tokens_its_published_jwk_verifies() {
        let key = generate_key().unwrap();
        let json = serde_json::to_string(&key.public_jwk).unwrap();
        let published: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(published["kty"], "RSA");
        assert_eq!(published["use"], "sig");
        assert_eq!(published["alg"], "RS256");
        assert_eq!(published["kid"], key.kid.as_str());
        assert_eq!(published["e"], "AQAB");
        let AlgorithmParameters::RSA(rsa) = &key.public_jwk.algorithm else {
            panic!("not an RSA JWK");
        };
        // 2048 bits: 256 bytes, 342 characters of unpadded base64url.
        assert_eq!(rsa.n.len(), 342);
        assert!(!json.contains("\"d\""), "no private part in the JWK");

        let signer = SigningKey::from_der(key.kid.clone(), key.private_der.expose_secret());
        let token = signer
            .sign(
                "JWT",
                &serde_json::json!({"sub": "u1", "exp": 4_000_000_000u64}),
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let set = jwk_set([json.as_str()]).unwrap();
        let decoding = DecodingKey::from_jwk(set.find(&key.kid).unwrap()).unwrap();
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &decoding,
            &Validation::new(Algorithm::RS256),
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], "u1");

        let other = generate_key().unwrap();
        assert_ne!(other.kid, key.kid);
        let other_decoding = DecodingKey::from_jwk(&other.public_jwk).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &other_decoding,
            &Validation::new(Algorithm::RS256)
        )
        .is_err());
    }

    #[test]
    fn a_retired_key_outlives_every_token_it_signed() {
        let window = publication_after_retirement(Duration::seconds(300));
        assert_eq!(window, Duration::seconds(60 + 300 + 60));
    }

    #[test]
    fn signing_keys_never_print_their_private_part() {
        let key = generate_key().unwrap();
        let signer = SigningKey::from_der(key.kid.clone(), key.private_der.expose_secret());
        assert_eq!(
            format!("{signer:?}"),
            format!("SigningKey {{ kid: {:?}, .. }}", key.kid)
        );
    }
}
