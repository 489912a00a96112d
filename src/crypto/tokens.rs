//! Random tokens and their one-way hashes (what the database keeps instead of the token).

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `bytes` random bytes from the OS, unpadded base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    BASE64URL_NOPAD.encode(&buf)
}

/// SHA-256 in lowercase hex. Enough for high-entropy tokens (API tokens, session keys);
/// never use it for passwords.
pub fn sha256_hex(data: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(data.as_bytes()))
}
