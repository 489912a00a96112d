//! CSRF protection for forms: a random per-browser cookie, and a form token that is the
//! HMAC of that cookie under the installation's CSRF key (signed double submit, OWASP).
//! Stateless, so it works across instances and before sign-in without creating sessions.

use data_encoding::BASE64URL_NOPAD;

use crate::crypto::installation_key::HmacKey;

pub const COOKIE_NAME: &str = "sso_broker_csrf";
pub const FIELD_NAME: &str = "csrf_token";

/// The token to put in forms for the browser holding `cookie_value`.
pub fn form_token(key: &HmacKey, cookie_value: &str) -> String {
    BASE64URL_NOPAD.encode(&key.sign(cookie_value.as_bytes()))
}

/// True when `token` was made for `cookie_value` with `key`. Missing parts never verify.
pub fn verify(key: &HmacKey, cookie_value: Option<&str>, token: Option<&str>) -> bool {
    let (Some(cookie), Some(token)) = (cookie_value, token) else {
        return false;
    };
    if cookie.len() < 16 {
        return false;
    }
    BASE64URL_NOPAD
        .decode(token.as_bytes())
        .is_ok_and(|tag| key.verify(cookie.as_bytes(), &tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::InstallationKey;
    use secrecy::SecretString;

    #[test]
    fn a_token_verifies_only_with_its_own_cookie() {
        let keys = InstallationKey::from_secret(&SecretString::from("k".repeat(40))).keys();
        let token = form_token(&keys.csrf, "cookie-value-0123456789");
        assert!(verify(
            &keys.csrf,
            Some("cookie-value-0123456789"),
            Some(&token)
        ));
        assert!(!verify(
            &keys.csrf,
            Some("another-cookie-0123456789"),
            Some(&token)
        ));
        assert!(!verify(&keys.csrf, None, Some(&token)));
        assert!(!verify(&keys.csrf, Some("cookie-value-0123456789"), None));
        assert!(!verify(
            &keys.csrf,
            Some("cookie-value-0123456789"),
            Some("forged")
        ));
    }
}
