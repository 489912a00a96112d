//! Accounts and the people in them, set up through the operator API: accounts, users, SSO
//! settings, and reading the audit log back.

use reqwest::Method;
use serde_json::{json, Value};

use super::{TestApp, PASSWORD};

impl TestApp {
    pub async fn create_account(&self, name: &str) -> Value {
        let res = self
            .api(
                Method::POST,
                "/api/v1/accounts",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(res.status(), 201, "create account {name}");
        res.json().await.unwrap()
    }

    /// Replaces the SSO settings of `account` through the operator API; returns the response.
    pub async fn put_sso(&self, account: &str, settings: Value) -> reqwest::Response {
        self.api(
            Method::PUT,
            &format!("/api/v1/accounts/{account}/sso"),
            Some(settings),
        )
        .await
    }

    /// Turns SSO on for `account` (not enforced, no JIT, no MFA requirement).
    pub async fn enable_sso(&self, account: &str) -> Value {
        let res = self.put_sso(account, sso_settings(true, false)).await;
        assert_eq!(res.status(), 200, "enable SSO for {account}");
        res.json().await.unwrap()
    }

    /// Creates `username` (role `user`) with `PASSWORD` in `account`.
    pub async fn create_user(&self, account: &str, username: &str, email: &str) -> Value {
        let body =
            json!({ "email": email, "username": username, "role": "user", "password": PASSWORD });
        let res = self
            .api(
                Method::POST,
                &format!("/api/v1/accounts/{account}/users"),
                Some(body),
            )
            .await;
        assert_eq!(res.status(), 201, "create user {username}");
        res.json().await.unwrap()
    }

    /// An account `acme` with user `ada` (password `PASSWORD`).
    pub async fn with_user(&self) {
        self.create_account("acme").await;
        self.create_user("acme", "ada", "ada@acme.example.com")
            .await;
    }

    /// The account's audit log (up to 500 events), as the operator API lists it.
    pub async fn audit(&self, account: &str) -> Vec<Value> {
        let res = self
            .api(
                Method::GET,
                &format!("/api/v1/accounts/{account}/audit?limit=500"),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

/// An SSO settings body with JIT off and no MFA requirement.
pub fn sso_settings(enabled: bool, enforced: bool) -> Value {
    json!({
        "enabled": enabled,
        "enforced": enforced,
        "allow_admin_password_login": false,
        "require_idp_mfa": false,
        "jit": { "enabled": false, "default_role": "user", "accounts": [] },
    })
}

/// The reasons of the account's `login.sso` audit events (the frozen clock gives them one
/// timestamp, so their order is not asserted).
pub async fn sso_reasons(app: &TestApp, account: &str) -> Vec<String> {
    app.audit(account)
        .await
        .into_iter()
        .filter(|e| e["action"] == "login.sso")
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect()
}
