//! TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), the parameters every authenticator
//! app supports. Accepts ±1 step of skew; a step is accepted once (the caller stores the last).

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;

/// A TOTP seed (20 bytes, RFC 4226's recommended length) with a redacted `Debug`.
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The seed as authenticator apps show it (base32, no padding).
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://` URI an authenticator app scans.
    pub fn otpauth_uri(&self, issuer: &str, account_label: &str) -> String {
        let enc = |s: &str| {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            enc(issuer),
            enc(account_label),
            self.to_base32(),
            enc(issuer)
        )
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let binary = (u32::from(digest[offset] & 0x7f) << 24)
            | (u32::from(digest[offset + 1]) << 16)
            | (u32::from(digest[offset + 2]) << 8)
            | u32::from(digest[offset + 3]);
        format!(
            "{:0width$}",
            binary % 10u32.pow(DIGITS),
            width = DIGITS as usize
        )
    }

    /// Checks `code` at `unix_time`. Returns the matched step when the code belongs to the
    /// current step or a neighbour AND is newer than `last_used_step`; `None` otherwise.
    pub fn verify(&self, code: &str, unix_time: i64, last_used_step: Option<i64>) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_at(unix_time);
        let mut matched = None;
        for step in [current - 1, current, current + 1] {
            let expected = self.code_at_step(step);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(step);
            }
        }
        matched.filter(|step| last_used_step.is_none_or(|last| *step > last))
    }
}

/// The time step of `unix_time`.
pub fn step_at(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn matches_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B gives 8 digits; the 6-digit code is its last six.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ];
        for (t, eight) in vectors {
            assert_eq!(rfc_secret().code_at_step(step_at(t)), eight[2..], "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_no_more() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let prev = s.code_at_step(step_at(t) - 1);
        let two_back = s.code_at_step(step_at(t) - 2);
        assert_eq!(s.verify(&prev, t, None), Some(step_at(t) - 1));
        assert_eq!(s.verify(&two_back, t, None), None);
    }

    #[test]
    fn a_used_step_is_refused() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let code = s.code_at_step(step_at(t));
        let step = s.verify(&code, t, None).unwrap();
        assert_eq!(s.verify(&code, t, Some(step)), None);
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in ["", "12345", "1234567", "abcdef", "12 34 5x"] {
            assert_eq!(rfc_secret().verify(bad, 59, None), None, "{bad}");
        }
    }

    #[test]
    fn otpauth_uri_carries_issuer_and_secret() {
        let uri = rfc_secret().otpauth_uri("sso-broker", "ada@example.com");
        assert!(uri.starts_with("otpauth://totp/sso-broker:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=sso-broker"), "{uri}");
    }
}
