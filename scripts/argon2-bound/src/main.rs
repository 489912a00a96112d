//! Prints how many Argon2id verifies (OWASP m=19456, t=2, p=1: `Argon2::default()`, as
//! `auth::password` in the broker) one thread does per CPU-second, the bound of the password
//! login row of `scripts/load.py`. Usage: `argon2-bound [cpu-seconds]` (default 2).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// CPU seconds (user + system) of this process, from /proc (Linux, 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn main() {
    let budget: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2.0);
    let password = b"demo-password-123";
    let salt = SaltString::encode_b64(b"sso-broker-load!").unwrap_or_else(|e| panic!("{e}"));
    let stored = Argon2::default()
        .hash_password(password, &salt)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    let hash = PasswordHash::new(&stored).unwrap_or_else(|e| panic!("{e}"));
    let start = cpu_seconds();
    let mut n = 0u64;
    while cpu_seconds() - start < budget {
        assert!(Argon2::default().verify_password(password, &hash).is_ok());
        n += 1;
    }
    println!("{:.2}", n as f64 / (cpu_seconds() - start));
}
