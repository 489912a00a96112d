//! Argon2id password hashing with OWASP parameters (m=19 MiB, t=2, p=1: `Argon2::default()`).

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};

/// A hash of a random password, verified against when the user is unknown or has no password.
///
/// # Security
/// Without it an unknown username answers in microseconds and a known one in tens of
/// milliseconds: a timing oracle for which usernames exist (user enumeration).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = SecretString::from(crate::crypto::tokens::random_token(24));
    hash_password(&random).unwrap_or_default()
});

/// Computes the dummy hash ahead of the first sign-in (startup).
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

/// PHC-format Argon2id hash of `password` with a random salt.
pub fn hash_password(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)?
        .to_string())
}

/// True when `candidate` matches `stored`. With no stored hash it still spends the same time
/// (against the dummy hash) and returns false.
pub fn verify_password(stored: Option<&str>, candidate: &SecretString) -> bool {
    let parsed = stored.and_then(|h| PasswordHash::new(h).ok());
    match parsed {
        Some(hash) => Argon2::default()
            .verify_password(candidate.expose_secret().as_bytes(), &hash)
            .is_ok(),
        None => {
            if let Ok(dummy) = PasswordHash::new(&DUMMY_HASH) {
                let _ =
                    Argon2::default().verify_password(candidate.expose_secret().as_bytes(), &dummy);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pw = SecretString::from("correct horse battery");
        let hash = hash_password(&pw).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(Some(&hash), &pw));
        assert!(!verify_password(Some(&hash), &SecretString::from("wrong")));
    }

    #[test]
    fn missing_or_corrupt_hash_never_verifies() {
        let pw = SecretString::from("anything at all");
        assert!(!verify_password(None, &pw));
        assert!(!verify_password(Some("not-a-hash"), &pw));
    }
}
