//! The one integration-test binary. Every test gets its own database and port
//! (`helpers::spawn_app`). Backend: SQLite by default; PostgreSQL when
//! `SSO_BROKER_TEST_DATABASE_URL` is set; Redis sessions when `SSO_BROKER_TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_consent;
mod admin_pages;
mod admin_users_page;
mod bad_input;
mod cli;
mod csrf;
mod demo_portal;
mod domains;
mod enforcement_scope;
mod entra;
mod entra_auth_context;
mod entra_sign_in;
mod helpers;
mod hot_paths;
mod interop_oidc_provider;
mod interop_openid_client;
mod interop_pysaml2;
mod invitations;
mod mail;
mod migrations;
mod oidc_authorize;
mod oidc_client_metadata;
mod oidc_clients;
mod oidc_flow;
mod oidc_keys;
mod oidc_token;
mod operations;
mod operator_api;
mod password_login;
mod password_pool;
mod saml_admin;
mod saml_sign_in;
mod sessions;
mod sso_available;
mod sso_policies;
mod sub_account_sign_in;
mod throttling;
mod totp;
mod trust_between_accounts;
mod user_lifecycle;
