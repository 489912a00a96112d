//! Recovery codes: 10 single-use codes shown once at TOTP enrollment, stored as keyed hashes.

use data_encoding::HEXLOWER;
use rand::Rng;

use crate::crypto::installation_key::HmacKey;

pub const CODE_COUNT: usize = 10;
/// Unambiguous lowercase alphabet (no 0/o, 1/l/i): 32 symbols, 5 bits each, 50 bits a code.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten fresh codes formatted `xxxxx-xxxxx`.
pub fn generate_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..CODE_COUNT)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// Canonical form of a typed code: lowercase, without separators or spaces.
/// `None` when it cannot be a recovery code.
pub fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 10 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Keyed hash of a normalized code (HMAC: a stolen table alone cannot be brute-forced).
pub fn hash_code(key: &HmacKey, normalized: &str) -> String {
    HEXLOWER.encode(&key.sign(normalized.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_distinct_and_normalize() {
        let codes = generate_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for code in &codes {
            assert_eq!(
                normalize(&code.to_uppercase()).unwrap(),
                code.replace('-', "")
            );
        }
        assert_eq!(normalize("123456"), None);
    }
}
