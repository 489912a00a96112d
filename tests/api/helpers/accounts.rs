//! Accounts and the people in them, set up through the operator API (or, where the API has no
//! call for it, straight in the database): accounts and sub-accounts, users and admins,
//! memberships, verified domains, SSO settings, and reading the audit log and identity links
//! back.

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::db::identity_link::IdentityLink;
use sso_broker::db::membership::Membership;

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

    /// Creates account `name` under `parent`.
    pub async fn create_sub_account(&self, name: &str, parent: &str) -> Value {
        let res = self
            .api(
                Method::POST,
                "/api/v1/accounts",
                Some(json!({ "name": name, "parent": parent })),
            )
            .await;
        assert_eq!(res.status(), 201, "create {name}");
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
        self.create_user_with_role(account, username, email, "user")
            .await
    }

    /// Creates `username` with `role` and `PASSWORD` in `account`.
    pub async fn create_user_with_role(
        &self,
        account: &str,
        username: &str,
        email: &str,
        role: &str,
    ) -> Value {
        let body =
            json!({ "email": email, "username": username, "role": role, "password": PASSWORD });
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

    /// An account `acme` with admin `alan` and user `ada` (`add_user`'s emails).
    pub async fn with_admin_and_user(&self) {
        self.create_account("acme").await;
        add_user(self, "acme", "alan", "admin").await;
        add_user(self, "acme", "ada", "user").await;
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

/// Creates `username` with `role`, email `{username}@{account}.example` and `PASSWORD`.
pub async fn add_user(app: &TestApp, account: &str, username: &str, role: &str) {
    let email = format!("{username}@{account}.example");
    app.create_user_with_role(account, username, &email, role)
        .await;
}

/// Creates `username`, an admin of `account` (`add_user`), and signs them in in the test's own
/// browser.
pub async fn sign_in_admin(app: &TestApp, account: &str, username: &str) {
    add_user(app, account, username, "admin").await;
    assert_eq!(app.sign_in(username, PASSWORD).await.status(), 303);
}

/// Makes `username` a member of `account` too, with `role` (straight in the database).
pub async fn add_membership(app: &TestApp, username: &str, account: &str, role: &str) {
    let (username, account, role) = (username.to_string(), account.to_string(), role.to_string());
    let now = sso_broker::clock::Clock::now_naive(&app.clock);
    app.state
        .db
        .run(move |conn| {
            let user = sso_broker::db::user::User::find_by_username(conn, &username)?.unwrap();
            let account = sso_broker::db::account::Account::find_by_name(conn, &account)?.unwrap();
            Membership {
                user_id: user.id,
                account_id: account.id,
                role,
                created_at: now,
            }
            .insert(conn)
        })
        .await
        .unwrap();
}

/// Records `domain` as verified for `account` (the operator's shortcut past the DNS check).
pub async fn verify_domain(app: &TestApp, account: &str, domain: &str) {
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{account}/domains"),
            Some(json!({ "domain": domain, "verified": true })),
        )
        .await;
    assert_eq!(res.status(), 201);
}

/// The member `username` of `account` as the operator API lists them.
pub async fn member(app: &TestApp, account: &str, username: &str) -> Option<Value> {
    let res = app
        .api(
            Method::GET,
            &format!("/api/v1/accounts/{account}/users"),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let list: Vec<Value> = res.json().await.unwrap();
    list.into_iter().find(|u| u["username"] == username)
}

/// `"{action} {actor}"` of each audit event.
pub fn audit_actions(audit: &[Value]) -> Vec<String> {
    audit
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap()
            )
        })
        .collect()
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

/// The identity links of the user `username`, straight from the database.
pub async fn identity_links(app: &TestApp, username: &str) -> Vec<IdentityLink> {
    let username = username.to_string();
    app.state
        .db
        .run(move |conn| {
            let user = sso_broker::db::user::User::find_by_username(conn, &username)?.unwrap();
            IdentityLink::list_for_user(conn, &user.id)
        })
        .await
        .unwrap()
}
