//! The OpenID Provider's endpoints (SPEC §7.2). Thin: the documents come from
//! `oidc_provider`, the use cases from `services::provider`.

pub mod authorize;
pub mod discovery;
pub mod logout;
pub mod revocation;
pub mod token;
pub mod userinfo;
