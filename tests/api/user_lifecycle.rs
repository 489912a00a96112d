//! The user lifecycle (SPEC §6.3, §3.7, §3.8): the operator API lists members, disables and
//! enables users, changes roles, removes and adds memberships and ends sessions; the account
//! admin does the same on `/admin/users`, each action behind a confirmation. Live sessions end at
//! the next request, the last active admin stays, and nobody else may do any of it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, PASSWORD};

async fn add_user(app: &TestApp, account: &str, username: &str, role: &str) {
    let body = json!({
        "email": format!("{username}@{account}.example"),
        "username": username,
        "role": role,
        "password": PASSWORD,
    });
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{account}/users"),
            Some(body),
        )
        .await;
    assert_eq!(res.status(), 201, "create {username}");
}

async fn signed_in_browser(app: &TestApp, username: &str) -> reqwest::Client {
    let browser = app.new_browser();
    let res = app.sign_in_from(&browser, username, PASSWORD, &[]).await;
    assert_eq!(res.status(), 303, "{username} signs in");
    browser
}

async fn me_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    browser
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The member `username` of `account` as the operator API lists them.
async fn member(app: &TestApp, account: &str, username: &str) -> Option<Value> {
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

async fn patch(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.api(Method::PATCH, path, Some(body)).await
}

async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_string()
}

fn actions(audit: &[Value]) -> Vec<String> {
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

/// acme with admin alan and user ada.
async fn acme(app: &TestApp) {
    app.create_account("acme").await;
    add_user(app, "acme", "alan", "admin").await;
    add_user(app, "acme", "ada", "user").await;
}

#[tokio::test]
async fn the_operator_lists_an_accounts_members_with_their_lifecycle_fields() {
    let app = spawn_app().await;
    acme(&app).await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/users",
            Some(json!({"email": "ivy@acme.example", "role": "read_only"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let ada = member(&app, "acme", "ada").await.unwrap();
    let keys: Vec<&str> = ada
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "email",
            "has_password",
            "home_account",
            "id",
            "role",
            "sso_linked",
            "status",
            "totp",
            "username"
        ]
    );
    assert_eq!(ada["status"], "active");
    assert_eq!(ada["role"], "user");
    assert_eq!(ada["home_account"], "acme");
    assert_eq!(ada["has_password"], true);
    assert_eq!(ada["totp"], false);
    assert_eq!(ada["sso_linked"], false);
    let ivy = member(&app, "acme", "ivy@acme.example").await.unwrap();
    assert_eq!(ivy["status"], "invited");
    assert_eq!(ivy["has_password"], false);
    let res = app
        .api(Method::GET, "/api/v1/accounts/nope/users", None)
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "account_not_found");
}

#[tokio::test]
async fn disabling_a_user_signs_out_their_live_browser_at_the_next_request() {
    let app = spawn_app().await;
    acme(&app).await;
    let ada = signed_in_browser(&app, "ada").await;
    assert_eq!(me_status(&app, &ada).await, 200);
    let res = patch(
        &app,
        "/api/v1/accounts/acme/users/ada",
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "disabled");
    assert_eq!(body["username"], "ada");
    assert_eq!(me_status(&app, &ada).await, 401, "signed out at once");
    let again = app.new_browser();
    let res = app.sign_in_from(&again, "ada", PASSWORD, &[]).await;
    assert_ne!(res.status(), 303, "a disabled user cannot sign in");

    let res = patch(
        &app,
        "/api/v1/accounts/acme/users/ada",
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "active");
    signed_in_browser(&app, "ada").await;
    let audit = actions(&app.audit("acme").await);
    assert!(
        audit.contains(&"user.disable api-token:tests".to_string()),
        "{audit:?}"
    );
    assert!(
        audit.contains(&"user.enable api-token:tests".to_string()),
        "{audit:?}"
    );
}

#[tokio::test]
async fn patch_changes_the_role_and_refuses_what_it_cannot_set() {
    let app = spawn_app().await;
    acme(&app).await;
    let path = "/api/v1/accounts/acme/users/ada";
    let res = patch(&app, path, json!({"role": "read_only"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "read_only");
    let audit = actions(&app.audit("acme").await);
    assert!(audit.contains(&"user.role_change api-token:tests".to_string()));

    let res = patch(&app, path, json!({"status": "active", "nickname": "x"})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_body");
    let res = patch(&app, path, json!({"status": "invited"})).await;
    assert_eq!(res.status(), 422);
    let res = patch(&app, path, json!({"status": "gone"})).await;
    assert_eq!(res.status(), 422);
    let res = patch(&app, path, json!({"role": "owner"})).await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "invalid_role");
    let res = patch(&app, "/api/v1/accounts/acme/users/nobody", json!({})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "user_not_found");
    let res = patch(&app, "/api/v1/accounts/nope/users/ada", json!({})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "account_not_found");
    let ada = member(&app, "acme", "ada").await.unwrap();
    assert_eq!(ada["status"], "active");
    assert_eq!(ada["role"], "read_only");
}

#[tokio::test]
async fn an_invited_user_is_not_activated_by_patch() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/users",
            Some(json!({"email": "ivy@acme.example", "role": "user"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let path = "/api/v1/accounts/acme/users/ivy@acme.example";
    let res = patch(&app, path, json!({"status": "active"})).await;
    assert_eq!(res.status(), 422);
    // Disabled, then enabled again: back to invited, never active without an invitation.
    let res = patch(&app, path, json!({"status": "disabled"})).await;
    assert_eq!(res.status(), 200);
    let res = patch(&app, path, json!({"status": "active"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "invited");
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_removed_disabled_or_demoted() {
    let app = spawn_app().await;
    acme(&app).await;
    let path = "/api/v1/accounts/acme/users/alan";
    for res in [
        patch(&app, path, json!({"status": "disabled"})).await,
        patch(&app, path, json!({"role": "user"})).await,
        app.api(Method::DELETE, path, None).await,
    ] {
        assert_eq!(res.status(), 409);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "last_admin");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("last active admin"));
    }
    let alan = member(&app, "acme", "alan").await.unwrap();
    assert_eq!(
        (alan["status"].clone(), alan["role"].clone()),
        (json!("active"), json!("admin"))
    );
    // With a second admin, alan may step down.
    let res = patch(
        &app,
        "/api/v1/accounts/acme/users/ada",
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = patch(&app, path, json!({"role": "user"})).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn removing_a_membership_ends_the_session_in_that_account() {
    let app = spawn_app().await;
    acme(&app).await;
    app.create_account("globex").await;
    add_user(&app, "globex", "gina", "admin").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/globex/members",
            Some(json!({"username": "ada", "role": "read_only"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let added: Value = res.json().await.unwrap();
    assert_eq!(added["role"], "read_only");
    assert_eq!(added["home_account"], "acme");
    let ada = signed_in_browser(&app, "ada").await;
    assert_eq!(me_status(&app, &ada).await, 200);

    let res = app
        .api(Method::DELETE, "/api/v1/accounts/acme/users/ada", None)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(me_status(&app, &ada).await, 401, "the acme session ended");
    assert!(member(&app, "acme", "ada").await.is_none());
    let in_globex = member(&app, "globex", "ada").await.unwrap();
    assert_eq!(in_globex["status"], "active", "still a member elsewhere");

    // The last membership gone, the user is disabled.
    let res = app
        .api(Method::DELETE, "/api/v1/accounts/globex/users/ada", None)
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/members",
            Some(json!({"username": "ada", "role": "user"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "disabled");
    let res = app
        .api(Method::DELETE, "/api/v1/accounts/acme/users/ada", None)
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .api(Method::DELETE, "/api/v1/accounts/acme/users/ada", None)
        .await;
    assert_eq!(res.status(), 404);
    let audit = actions(&app.audit("globex").await);
    assert!(audit.contains(&"membership.add api-token:tests".to_string()));
    assert!(audit.contains(&"membership.remove api-token:tests".to_string()));
    assert!(
        audit.contains(&"user.disable api-token:tests".to_string()),
        "{audit:?}"
    );
}

#[tokio::test]
async fn adding_a_member_refuses_duplicates_and_unknown_names() {
    let app = spawn_app().await;
    acme(&app).await;
    let add = |account: &'static str, username: &'static str, role: &'static str| {
        let app = &app;
        async move {
            app.api(
                Method::POST,
                &format!("/api/v1/accounts/{account}/members"),
                Some(json!({"username": username, "role": role})),
            )
            .await
        }
    };
    let res = add("acme", "ada", "user").await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "member_exists");
    let res = add("acme", "nobody", "user").await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "user_not_found");
    let res = add("nope", "ada", "user").await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "account_not_found");
    app.create_account("globex").await;
    let res = add("globex", "ada", "owner").await;
    assert_eq!(res.status(), 422);
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/globex/members",
            Some(json!({"username": "ada", "role": "user", "extra": 1})),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(member(&app, "globex", "ada").await.is_none());
}

#[tokio::test]
async fn the_operator_ends_a_users_sessions() {
    let app = spawn_app().await;
    acme(&app).await;
    let ada = signed_in_browser(&app, "ada").await;
    let res = app
        .api(
            Method::DELETE,
            "/api/v1/accounts/acme/users/ada/sessions",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"revoked": 1}));
    assert_eq!(me_status(&app, &ada).await, 401);
    let res = app
        .api(
            Method::DELETE,
            "/api/v1/accounts/acme/users/nobody/sessions",
            None,
        )
        .await;
    assert_eq!(res.status(), 404);
    let audit = actions(&app.audit("acme").await);
    assert!(audit.contains(&"user.sessions_revoke api-token:tests".to_string()));
}
