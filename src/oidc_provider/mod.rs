//! The OpenID Provider the broker serves to portal applications (SPEC §7): protocol code only —
//! the discovery document, the authorization request's rules, token claims, signing keys and
//! their JWK set, JWT signing. No actix, no database:
//! the use cases are `services::provider`, the endpoints `routes::oidc`.

pub mod authorize_request;
pub mod claims;
pub mod discovery;
pub mod logout;
pub mod signing;
pub mod token_error;
pub mod verification;
