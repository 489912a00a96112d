//! The OpenID Provider's endpoints (SPEC §7.2). Thin: the documents come from
//! `oidc_provider`, the keys from `services::provider::signing_keys`.

pub mod discovery;
