//! Pure domain types and rules: validated names, roles, the user-facing messages of SPEC §3.
//! No I/O, no actix, no diesel here.

pub mod account;
pub mod after_sign_in;
pub mod client_address;
pub mod domain_verification;
pub mod error;
pub mod ids;
pub mod messages;
pub mod oidc_client;
pub mod return_url;
pub mod saml_certificates;
pub mod sign_in;
pub mod sso_policy;
pub mod sso_transition;
pub mod trust;
pub mod user;
pub mod user_lifecycle;

pub use account::{AccountName, DomainName};
pub use after_sign_in::AfterSignIn;
pub use error::DomainError;
pub use ids::{AccountId, ClientId, UserId};
pub use return_url::safe_return_url;
pub use sign_in::{AuthMethod, IdpKind, MfaEvidence};
pub use sso_policy::{EnforcementScope, PasswordLogin, PolicySubject, SsoPolicy};
pub use user::{Email, Password, Role, UserStatus, Username};
