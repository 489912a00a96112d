//! Use cases: who may sign in, what an operator may change, what is audited. Handlers call
//! these; they take the state, an explicit request context and read time from the `Clock`.

pub mod accounts;
pub mod admin_consent;
pub mod api_tokens;
pub mod audit;
pub mod connections;
pub mod demo;
pub mod domains;
pub mod entra;
pub mod error;
pub mod invitations;
pub mod jit;
pub mod login;
pub mod mail;
pub mod profile;
pub mod provider;
pub mod saml_acs;
pub mod saml_connections;
pub mod security;
pub mod sso_callback;
pub mod sso_identity;
pub mod sso_login;
pub mod sso_settings;
pub mod trust;
pub mod users;

pub use audit::RequestMeta;
pub use error::ServiceError;
