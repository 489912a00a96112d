//! Test fixtures: real RSA signing keys and a key source that counts its fetches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use data_encoding::BASE64URL_NOPAD;
use futures_util::future::BoxFuture;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::jwks::JwksSource;
use super::tenant::TenantId;
use crate::sso::SsoError;

/// An RSA key pair that signs tokens as a tenant's key `kid`.
pub struct SigningKey {
    pub kid: String,
    pub public_pem: Vec<u8>,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": BASE64URL_NOPAD.encode(&rsa.n().to_vec()),
            "e": BASE64URL_NOPAD.encode(&rsa.e().to_vec()),
        });
        Self {
            kid: kid.to_string(),
            public_pem: rsa.public_key_to_pem().unwrap(),
            encoding: EncodingKey::from_rsa_pem(&rsa.private_key_to_pem().unwrap()).unwrap(),
            jwk,
        }
    }

    /// Signs `claims` with RS256 and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, &self.kid)
    }

    /// Signs with this key but names another `kid` in the header.
    pub fn sign_as(&self, claims: &Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// Two keys made once for the whole test run (RSA generation is the slow part).
pub static KEY_1: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate("key-1"));
pub static KEY_2: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate("key-2"));

pub fn jwk_set(keys: &[&SigningKey]) -> JwkSet {
    serde_json::from_value(
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
    )
    .unwrap()
}

/// Serves a configurable key set (or an outage) and counts fetches.
pub struct FakeSource {
    pub set: Mutex<Option<JwkSet>>,
    pub fetches: AtomicUsize,
}

impl FakeSource {
    pub fn serving(keys: &[&SigningKey]) -> Self {
        Self {
            set: Mutex::new(Some(jwk_set(keys))),
            fetches: AtomicUsize::new(0),
        }
    }

    pub fn serve(&self, keys: &[&SigningKey]) {
        *self.set.lock().unwrap() = Some(jwk_set(keys));
    }

    pub fn go_down(&self) {
        *self.set.lock().unwrap() = None;
    }

    pub fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl JwksSource for FakeSource {
    fn fetch<'a>(&'a self, _tenant: &'a TenantId) -> BoxFuture<'a, Result<JwkSet, SsoError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let set = self.set.lock().unwrap().clone();
        Box::pin(async move {
            set.ok_or_else(|| SsoError::IdpUnreachable(anyhow::anyhow!("key endpoint down")))
        })
    }
}
