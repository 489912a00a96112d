//! jsonwebtoken's crypto provider for this process: its own aws-lc-rs backend, except that
//! RS256 keys are parsed once and kept.
//!
//! jsonwebtoken parses the RSA key for every signature (`RsaKeyPair::from_der`, which checks
//! the private key and costs more than the signature itself) and every verification (the
//! public key from `n` and `e`). The OpenID Provider signs two tokens per grant with one key;
//! `/api/v1/entra/validate` verifies with a few Microsoft keys. This provider keeps the parsed
//! keys, keyed by the SHA-256 of their bytes; the cryptography is aws-lc-rs's, and every other
//! algorithm goes to jsonwebtoken's own aws-lc provider unchanged.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256,
};
use jsonwebtoken::crypto::{aws_lc, CryptoProvider, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use sha2::{Digest, Sha256};

/// Parsed keys kept at most (signing keys of the OP and Microsoft's keys are a handful).
const KEPT_KEYS: u64 = 1024;

static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
static PRIVATE_KEYS: OnceLock<moka::sync::Cache<[u8; 32], Arc<RsaKeyPair>>> = OnceLock::new();
static PUBLIC_KEYS: OnceLock<moka::sync::Cache<[u8; 32], Arc<ParsedPublicKey>>> = OnceLock::new();

/// Makes this the process's jsonwebtoken provider; call before the first token is signed or
/// verified (a later call changes nothing, and jsonwebtoken's own provider stays).
pub fn install() {
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: new_signer,
        verifier_factory: new_verifier,
        jwk_utils: aws_lc::DEFAULT_PROVIDER.jwk_utils.clone(),
    });
    let _ = provider.install_default();
}

fn fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

fn kept<V: Send + Sync + 'static>(
    cache: &'static OnceLock<moka::sync::Cache<[u8; 32], Arc<V>>>,
) -> &'static moka::sync::Cache<[u8; 32], Arc<V>> {
    cache.get_or_init(|| moka::sync::Cache::new(KEPT_KEYS))
}

fn invalid_key(e: impl std::fmt::Display) -> Error {
    ErrorKind::InvalidRsaKey(e.to_string()).into()
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if *algorithm != Algorithm::RS256 {
        return (aws_lc::DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    let der = key.inner();
    let pair = kept(&PRIVATE_KEYS).try_get_with(fingerprint(&[der]), || {
        RsaKeyPair::from_der(der).map(Arc::new).map_err(invalid_key)
    });
    let pair = pair.map_err(|e| Error::clone(&e))?;
    Ok(Box::new(Rs256Signer(pair)))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if *algorithm != Algorithm::RS256 {
        return (aws_lc::DEFAULT_PROVIDER.verifier_factory)(algorithm, key);
    }
    // As jsonwebtoken's own verifier: an HMAC secret or an EC key is never read as RSA.
    if key.family() != AlgorithmFamily::Rsa {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let parsed = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            kept(&PUBLIC_KEYS).try_get_with(fingerprint(&[b"n-e", n, e]), || {
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                    .map(Arc::new)
                    .map_err(invalid_key)
            })
        }
        DecodingKeyKind::SecretOrDer(der) => {
            kept(&PUBLIC_KEYS).try_get_with(fingerprint(&[b"der", der]), || {
                ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
                    .map(Arc::new)
                    .map_err(invalid_key)
            })
        }
    };
    let parsed = parsed.map_err(|e| Error::clone(&e))?;
    Ok(Box::new(Rs256Verifier(parsed)))
}

struct Rs256Signer(Arc<RsaKeyPair>);

impl signature::Signer<Vec<u8>> for Rs256Signer {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut out)
            .map_err(signature::Error::from_source)?;
        Ok(out)
    }
}

impl JwtSigner for Rs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

struct Rs256Verifier(Arc<ParsedPublicKey>);

impl signature::Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, message: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        self.0
            .verify_sig(message, sig)
            .map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, encode, Header, Validation};

    use super::*;

    /// A PKCS#1 DER private key (as the OP stores them) and its public `n` and `e`.
    fn key() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        (
            rsa.private_key_to_der().unwrap(),
            rsa.n().to_vec(),
            rsa.e().to_vec(),
        )
    }

    #[test]
    fn tokens_signed_and_verified_with_kept_keys_agree_with_aws_lc_and_refuse_tampering() {
        install();
        let (der, n, e) = key();
        let signing = EncodingKey::from_rsa_der(&der);
        let claims = serde_json::json!({"sub": "ada", "exp": 4_000_000_000u64});
        let token = encode(&Header::new(Algorithm::RS256), &claims, &signing).unwrap();
        let again = encode(&Header::new(Algorithm::RS256), &claims, &signing).unwrap();
        // PKCS#1 v1.5 is deterministic: the kept key signs exactly as a fresh parse would.
        assert_eq!(token, again);
        assert!(
            kept(&PRIVATE_KEYS).contains_key(&fingerprint(&[&der])),
            "signed through this provider, with the key kept"
        );
        // The same signature as aws-lc-rs gives with a key parsed for this one call.
        let (message, signature) = token.rsplit_once('.').unwrap();
        let pair = RsaKeyPair::from_der(&der).unwrap();
        let mut fresh = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message.as_bytes(),
            &mut fresh,
        )
        .unwrap();
        assert_eq!(signature, data_encoding::BASE64URL_NOPAD.encode(&fresh));
        let verifying = DecodingKey::from_rsa_raw_components(&n, &e);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let ok = decode::<serde_json::Value>(&token, &verifying, &validation);
        assert_eq!(ok.unwrap().claims["sub"], "ada");
        // Any change to the payload is refused, by the kept public key as by a fresh one.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = data_encoding::BASE64URL_NOPAD.encode(br#"{"sub":"eve","exp":4000000000}"#);
        let forged = parts.join(".");
        assert!(decode::<serde_json::Value>(&forged, &verifying, &validation).is_err());
        // Another key's signature is refused.
        let other = EncodingKey::from_rsa_der(&key().0);
        let foreign = encode(&Header::new(Algorithm::RS256), &claims, &other).unwrap();
        assert!(decode::<serde_json::Value>(&foreign, &verifying, &validation).is_err());
    }
}
