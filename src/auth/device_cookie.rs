//! Device cookies (OWASP "Slow down online guessing attacks with device cookies"): after a
//! successful sign-in the browser gets a cookie naming the user, signed with a key derived from
//! the installation key. A password attempt for that user that carries a valid cookie for them
//! is counted against the cookie's own small budget instead of the user's, so failures from
//! elsewhere (an attacker locking the user out) do not lock out the user's own browser (SPEC
//! §3.1). Knows nothing about HTTP: the routes set and read the cookie.
//!
//! # Security
//! The cookie carries no secret and grants nothing but a separate throttle budget: the password
//! (and second factor) is still checked. Forging one for another user needs the key; a stolen
//! one gives its holder only `throttle::PER_DEVICE` guesses per window, like its owner.

use chrono::Duration;
use data_encoding::BASE64URL_NOPAD;

use crate::crypto::installation_key::HmacKey;
use crate::crypto::tokens::random_token;

pub const COOKIE_NAME: &str = "sso_broker_device";

/// How long a browser stays trusted after its last sign-in.
pub const LIFETIME: Duration = Duration::days(90);

/// A verified device cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCookie {
    pub user_id: String,
    pub issued_at: i64,
    /// Random per issue: names the cookie's throttle bucket.
    pub nonce: String,
}

impl DeviceCookie {
    /// The throttle bucket of this cookie.
    pub fn bucket(&self) -> String {
        format!("device:{}", self.nonce)
    }
}

fn signed_part(user_id: &str, issued_at: i64, nonce: &str) -> String {
    format!("v1.{user_id}.{issued_at}.{nonce}")
}

/// A new cookie value for `user_id`, issued at `now` (unix seconds).
pub fn issue(key: &HmacKey, user_id: &str, now: i64) -> String {
    let data = signed_part(user_id, now, &random_token(16));
    let tag = BASE64URL_NOPAD.encode(&key.sign(data.as_bytes()));
    format!("{data}.{tag}")
}

/// The cookie, when `value` is a cookie this installation issued for `user_id` within its
/// lifetime.
pub fn verify(key: &HmacKey, value: &str, user_id: &str, now: i64) -> Option<DeviceCookie> {
    let (data, tag) = value.rsplit_once('.')?;
    let tag = BASE64URL_NOPAD.decode(tag.as_bytes()).ok()?;
    if !key.verify(data.as_bytes(), &tag) {
        return None;
    }
    let mut parts = data.split('.');
    let (Some("v1"), Some(uid), Some(issued_at), Some(nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let issued_at: i64 = issued_at.parse().ok()?;
    let fresh = issued_at <= now && now - issued_at < LIFETIME.num_seconds();
    (uid == user_id && fresh).then(|| DeviceCookie {
        user_id: uid.to_string(),
        issued_at,
        nonce: nonce.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::InstallationKey;
    use secrecy::SecretString;

    fn key(seed: &str) -> crate::crypto::Keys {
        InstallationKey::from_secret(&SecretString::from(seed.repeat(40))).keys()
    }

    #[test]
    fn a_cookie_verifies_for_its_user_only_and_within_its_lifetime() {
        let keys = key("a");
        let value = issue(&keys.device_cookie, "user-1", 1_000);
        let cookie = verify(&keys.device_cookie, &value, "user-1", 2_000).unwrap();
        assert_eq!(cookie.user_id, "user-1");
        assert_eq!(cookie.issued_at, 1_000);
        assert!(verify(&keys.device_cookie, &value, "user-2", 2_000).is_none());
        let expired = 1_000 + LIFETIME.num_seconds();
        assert!(verify(&keys.device_cookie, &value, "user-1", expired).is_none());
    }

    #[test]
    fn a_forged_or_foreign_cookie_does_not_verify() {
        let keys = key("a");
        let value = issue(&keys.device_cookie, "user-1", 1_000);
        assert!(verify(&key("b").device_cookie, &value, "user-1", 2_000).is_none());
        let forged = value.replacen("user-1", "user-2", 1);
        assert!(verify(&keys.device_cookie, &forged, "user-2", 2_000).is_none());
        assert!(verify(&keys.device_cookie, "garbage", "user-1", 2_000).is_none());
    }
}
