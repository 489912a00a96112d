//! Use cases of the OpenID Provider the broker serves to portal applications (SPEC §7): its
//! registered clients and its signing keys. Protocol code is `oidc_provider`; endpoints are
//! `routes::oidc` and the operator API `routes::api::oidc_clients`.

pub mod authorize;
pub mod backchannel;
pub mod clients;
pub mod codes;
pub mod introspection;
pub mod logout;
pub mod minting;
pub mod presented_tokens;
pub mod refresh;
pub mod revocation;
pub mod signing_keys;
pub mod token;
pub mod userinfo;
