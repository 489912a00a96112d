//! Microsoft Entra ID (OpenID Connect, one multi-tenant app): tenant ids and issuers, the
//! per-tenant signing-key cache, and ID/access token validation exactly as SPEC §4 states.

pub mod admin_roles;
pub mod consent_proof;
pub mod id_token;
pub mod jwks;
pub mod oidc_client;
pub mod tenant;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod validation_tests;

pub use consent_proof::{ConsentProof, EntraApp, TenantProfile};
pub use id_token::{validate_token, TokenRules, VerifiedToken};
pub use jwks::{HttpJwksSource, JwksSource, KeyCache};
pub use tenant::TenantId;
