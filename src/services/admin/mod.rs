//! What operators and account admins change: accounts, users and their lifecycle, invitations,
//! domains, SSO settings and API tokens.

pub mod accounts;
pub mod api_tokens;
pub mod domains;
pub mod help_desk;
pub mod invitations;
pub mod sso_settings;
pub mod sso_transitions;
pub mod users;
