//! Keys and primitives: the installation key and the subkeys derived from it, encryption of
//! secrets at rest, random tokens and their hashes. Never logs key material.

pub mod installation_key;
pub mod jwt_keys;
pub mod self_signed;
pub mod tokens;

pub use installation_key::{InstallationKey, KeyError, Keys, SecretBox};
