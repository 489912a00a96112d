//! The user lifecycle through the operator API (SPEC §6.3, §3.7, §3.8): it lists members,
//! disables and enables users, changes roles, removes and adds memberships and ends sessions.
//! Live sessions end at the next request and the last active admin stays. The same actions on
//! the account admin's `/admin/users` are in `admin_users_page.rs`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    add_user, audit_actions, me_status, member, signed_in_browser, spawn_app, TestApp, PASSWORD,
};

async fn patch(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.api(Method::PATCH, path, Some(body)).await
}

async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_operator_lists_an_accounts_members_with_their_lifecycle_fields() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
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
    app.with_admin_and_user().await;
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
    let audit = audit_actions(&app.audit("acme").await);
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
    app.with_admin_and_user().await;
    let path = "/api/v1/accounts/acme/users/ada";
    let res = patch(&app, path, json!({"role": "read_only"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "read_only");
    let audit = audit_actions(&app.audit("acme").await);
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
    app.with_admin_and_user().await;
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
    app.with_admin_and_user().await;
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
    let audit = audit_actions(&app.audit("globex").await);
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
    app.with_admin_and_user().await;
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
    app.with_admin_and_user().await;
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
    let audit = audit_actions(&app.audit("acme").await);
    assert!(audit.contains(&"user.sessions_revoke api-token:tests".to_string()));
}

/// Two admins demoting (or disabling) each other at the same moment: one of them must stay. On
/// PostgreSQL (READ COMMITTED) both checks would see the other still an admin unless the account
/// is locked first.
#[tokio::test]
async fn two_admins_stepping_down_at_once_leave_one_admin() {
    let app = spawn_app().await;
    for round in 0..6 {
        let account = format!("duo{round}");
        app.create_account(&account).await;
        let (first, second) = (format!("first{round}"), format!("second{round}"));
        add_user(&app, &account, &first, "admin").await;
        add_user(&app, &account, &second, "admin").await;
        let change = if round % 2 == 0 {
            json!({"role": "user"})
        } else {
            json!({"status": "disabled"})
        };
        let path = |who: &str| format!("/api/v1/accounts/{account}/users/{who}");
        let (path_a, path_b) = (path(&first), path(&second));
        let (a, b) = tokio::join!(
            patch(&app, &path_a, change.clone()),
            patch(&app, &path_b, change.clone())
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}");
        let admins = app
            .api(
                Method::GET,
                &format!("/api/v1/accounts/{account}/users"),
                None,
            )
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u["role"] == "admin" && u["status"] == "active")
            .count();
        assert_eq!(admins, 1, "round {round}");
    }
}
