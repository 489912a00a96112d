//! Argon2id password hashing with OWASP parameters (m=19 MiB, t=2, p=1: `Argon2::default()`).

use std::sync::{LazyLock, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Argon2's working memory (19 MiB at OWASP parameters), kept for the next hash instead of
/// being allocated and freed each time: at most this many are kept, one per core, which is how
/// many hashes the password pool runs at once. Freed 19 MiB buffers otherwise stay in the
/// allocator's per-thread arenas, and the process grows by tens of MiB per busy thread.
static SPARE_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn kept_buffers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `f` with `blocks` blocks of working memory, reusing a kept buffer when one is free.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let spare = SPARE_MEMORY.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut memory = match spare {
        Some(buffer) if buffer.len() == blocks => buffer,
        _ => vec![Block::default(); blocks],
    };
    let result = f(&mut memory);
    let mut spares = SPARE_MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    if spares.len() < kept_buffers() {
        spares.push(memory);
    }
    result
}

/// The Argon2 output of `password` with `salt` under `argon2`'s parameters, as the crate's
/// `PasswordHasher` computes it, in reused memory.
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_buffer = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buffer)?;
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    with_memory(params.block_count(), |memory| {
        Output::init_with(length, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut *memory)?)
        })
    })
}

/// PHC-format Argon2id hash of `password` with a random salt.
pub fn hash_password(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = compute(
        &argon2,
        &params,
        password.expose_secret().as_bytes(),
        salt.as_salt(),
    )?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// True when `candidate` matches `stored` (whatever Argon2 parameters it was made with). With
/// no stored hash it still spends the same time (against the dummy hash) and returns false.
pub fn verify_password(stored: Option<&str>, candidate: &SecretString) -> bool {
    let candidate = candidate.expose_secret().as_bytes();
    match stored.and_then(|h| PasswordHash::new(h).ok()) {
        Some(hash) => matches(&hash, candidate),
        None => {
            if let Ok(dummy) = PasswordHash::new(&DUMMY_HASH) {
                let _ = matches(&dummy, candidate);
            }
            false
        }
    }
}

/// `PasswordVerifier::verify_password` of the argon2 crate, in reused memory: the same
/// computation, and the same constant-time comparison (`Output`'s `PartialEq`).
fn matches(hash: &PasswordHash<'_>, candidate: &[u8]) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, &hash.hash) else {
        return false;
    };
    let parsed = (
        Algorithm::try_from(hash.algorithm),
        hash.version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(hash),
    );
    let (Ok(algorithm), Ok(version), Ok(params)) = parsed else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    compute(&argon2, &params, candidate, salt).is_ok_and(|computed| computed == *expected)
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
    fn hashes_made_by_the_crate_itself_verify_and_ours_verify_with_the_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let pw = SecretString::from("correct horse battery");
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(pw.expose_secret().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(Some(&theirs), &pw));
        assert!(!verify_password(
            Some(&theirs),
            &SecretString::from("wrong")
        ));
        let ours = hash_password(&pw).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(pw.expose_secret().as_bytes(), &parsed)
            .is_ok());
        // Other parameters (an older or stronger policy) still verify, in memory of their size.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 3, 1, None).unwrap(),
        )
        .hash_password(pw.expose_secret().as_bytes(), &salt)
        .unwrap()
        .to_string();
        assert!(verify_password(Some(&small), &pw));
        assert!(!verify_password(Some(&small), &SecretString::from("wrong")));
    }

    #[test]
    fn missing_or_corrupt_hash_never_verifies() {
        let pw = SecretString::from("anything at all");
        assert!(!verify_password(None, &pw));
        assert!(!verify_password(Some("not-a-hash"), &pw));
    }
}
