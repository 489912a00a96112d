//! The fixtures test modules share, one file a topic. Everything is re-exported here, so a test
//! imports `crate::helpers::{…}` without knowing which file holds it:
//! - `app`: `spawn_app()`, `TestApp`, its browser and operator API client;
//! - `pages`: CSRF tokens, form posts, signing in (password, TOTP, "Log in with SSO"), redirects;
//! - `accounts`: accounts, users, admins, memberships, domains, SSO settings, the audit log;
//! - `entra`: the development Entra IdP, its tenants and users, connecting and approving tenants;
//! - `saml`: the development SAML IdP, SAML connections, signed responses;
//! - `mail`: the outbox and the delivered emails (invitation links);
//! - `oidc_clients`: registering and authenticating the OpenID Provider's clients;
//! - `command_line`: running the `sso-broker` binary against the test's database;
//! - `load_balancer`: nginx in front of two instances (`make test-scale`);
//! - `proxy`: a TCP proxy a test can cut (Redis or an IdP going away).

mod accounts;
mod app;
mod command_line;
mod entra;
mod load_balancer;
mod mail;
mod oidc_clients;
mod pages;
mod proxy;
mod saml;

pub use accounts::*;
pub use app::*;
pub use command_line::*;
pub use entra::*;
pub use mail::*;
pub use oidc_clients::*;
pub use pages::*;
pub use proxy::*;
pub use saml::*;
