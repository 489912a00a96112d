//! Seed data for `sso-broker demo`: a password + TOTP account a person can click through.

use secrecy::{ExposeSecret, SecretString};

use super::accounts::{self, NewAccount, NewUser};
use super::audit::RequestMeta;
use super::{api_tokens, ServiceError};
use crate::db::account::Account;
use crate::AppState;

/// The demo users' password. The demo runs on loopback only.
pub const DEMO_PASSWORD: &str = "demo-password-123";
pub const DEMO_ACCOUNT: &str = "demo";

#[derive(Debug)]
pub struct DemoInfo {
    pub api_token: SecretString,
}

/// Creates the demo account and users when missing; always makes a fresh operator token.
pub async fn seed(state: &AppState) -> Result<DemoInfo, ServiceError> {
    let exists = state
        .db
        .run(|conn| Account::find_by_name(conn, DEMO_ACCOUNT))
        .await?
        .is_some();
    if !exists {
        accounts::create_account(
            state,
            NewAccount {
                name: DEMO_ACCOUNT.into(),
                display_name: Some("Demo Company (password + TOTP)".into()),
                parent: None,
            },
            "demo".into(),
            RequestMeta::cli(),
        )
        .await?;
        for (username, email, role) in [
            ("demo-admin", "admin@demo.example.com", "admin"),
            ("demo-user", "user@demo.example.com", "user"),
        ] {
            accounts::create_user(
                state,
                NewUser {
                    account: DEMO_ACCOUNT.into(),
                    email: email.into(),
                    username: Some(username.into()),
                    role: role.into(),
                    password: Some(SecretString::from(DEMO_PASSWORD)),
                },
                "demo".into(),
                RequestMeta::cli(),
            )
            .await?;
        }
    }
    let suffix = crate::crypto::tokens::random_token(4);
    let api_token =
        api_tokens::create(state, &format!("demo-{suffix}"), RequestMeta::cli()).await?;
    debug_assert!(api_token.expose_secret().starts_with("ssob_"));
    Ok(DemoInfo { api_token })
}
