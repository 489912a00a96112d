//! The installation key (`SSO_BROKER_SECRET_KEY`, or generated once into the data directory)
//! and the purpose-bound subkeys derived from it with HMAC-SHA256.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox as Zeroizing, SecretString};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("KY0001 cannot read or write the key file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("KY0002 the key file {0} is not a valid key")]
    Malformed(String),
    #[error("KY0003 the stored secret cannot be decrypted")]
    Decrypt,
}

/// Raw key material with a redacted `Debug`.
pub struct InstallationKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for InstallationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstallationKey(<redacted>)")
    }
}

impl InstallationKey {
    const FILE_NAME: &'static str = "secret.key";

    /// Derives the key from a configured secret (any string of 32+ characters).
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"sso-broker installation key")
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(secret.expose_secret().as_bytes());
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        Self(Zeroizing::new(Box::new(bytes)))
    }

    /// Reads `<data_dir>/secret.key`, creating it (mode 0600) on first start.
    pub fn load_or_generate(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(Self::FILE_NAME);
        let io_err = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            std::fs::create_dir_all(data_dir).map_err(io_err)?;
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            write_private(&path, BASE64URL_NOPAD.encode(&bytes).as_bytes()).map_err(io_err)?;
        }
        let text = std::fs::read_to_string(&path).map_err(io_err)?;
        let bytes = BASE64URL_NOPAD
            .decode(text.trim().as_bytes())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| KeyError::Malformed(path.display().to_string()))?;
        Ok(Self(Zeroizing::new(Box::new(bytes))))
    }

    /// A 32-byte subkey bound to `purpose`.
    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Splits the installation key into the subkeys the broker uses.
    pub fn keys(&self) -> Keys {
        let mut cookie = [0u8; 64];
        cookie[..32].copy_from_slice(&self.derive("sso-broker/cookie/sign"));
        cookie[32..].copy_from_slice(&self.derive("sso-broker/cookie/encrypt"));
        Keys {
            cookie: actix_web::cookie::Key::from(&cookie),
            csrf: HmacKey(self.derive("sso-broker/csrf")),
            recovery_codes: HmacKey(self.derive("sso-broker/recovery-codes")),
            device_cookie: HmacKey(self.derive("sso-broker/device-cookie")),
            secret_box: SecretBox(self.derive("sso-broker/secret-box")),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The subkeys of one installation.
pub struct Keys {
    /// Signs and encrypts the session cookie.
    pub cookie: actix_web::cookie::Key,
    pub csrf: HmacKey,
    pub recovery_codes: HmacKey,
    /// Signs device cookies (`auth::device_cookie`).
    pub device_cookie: HmacKey,
    /// Encrypts secrets at rest (TOTP seeds, later IdP client secrets).
    pub secret_box: SecretBox,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

/// An HMAC-SHA256 key for one purpose.
pub struct HmacKey([u8; 32]);

impl HmacKey {
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of `tag` against `data`.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }
}

/// Authenticated encryption of small secrets at rest (XChaCha20-Poly1305, random nonce).
/// The stored form is `v1.<nonce>.<ciphertext>` in unpadded base64url.
pub struct SecretBox([u8; 32]);

impl SecretBox {
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .unwrap_or_else(|_| unreachable!("encryption of an in-memory buffer cannot fail"));
        format!(
            "v1.{}.{}",
            BASE64URL_NOPAD.encode(&nonce),
            BASE64URL_NOPAD.encode(&sealed)
        )
    }

    pub fn open(&self, stored: &str) -> Result<Vec<u8>, KeyError> {
        let mut parts = stored.split('.');
        let (Some("v1"), Some(nonce), Some(sealed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::Decrypt);
        };
        let nonce = BASE64URL_NOPAD
            .decode(nonce.as_bytes())
            .map_err(|_| KeyError::Decrypt)?;
        let sealed = BASE64URL_NOPAD
            .decode(sealed.as_bytes())
            .map_err(|_| KeyError::Decrypt)?;
        if nonce.len() != 24 {
            return Err(KeyError::Decrypt);
        }
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(XNonce::from_slice(&nonce), sealed.as_slice())
            .map_err(|_| KeyError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let keys = InstallationKey::from_secret(&SecretString::from("a".repeat(40))).keys();
        let other = InstallationKey::from_secret(&SecretString::from("b".repeat(40))).keys();
        let sealed = keys.secret_box.seal(b"totp seed");
        assert_eq!(keys.secret_box.open(&sealed).unwrap(), b"totp seed");
        assert!(other.secret_box.open(&sealed).is_err());
        assert!(keys.secret_box.open("v1.AAAA.BBBB").is_err());
    }

    #[test]
    fn generated_key_file_is_reused() {
        let dir = std::env::temp_dir().join(format!("ssob-key-{}", uuid::Uuid::new_v4()));
        let first = InstallationKey::load_or_generate(&dir).unwrap().keys();
        let second = InstallationKey::load_or_generate(&dir).unwrap().keys();
        let sealed = first.secret_box.seal(b"x");
        assert_eq!(second.secret_box.open(&sealed).unwrap(), b"x");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
