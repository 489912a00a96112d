//! Operator API (SPEC §6.3): accounts, users, domains, audit.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/accounts"))
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_token");
    let res = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth("ssob_forged")
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Nothing was created: the name is still free.
    app.create_account("acme").await;
}

#[tokio::test]
async fn accounts_are_created_once_per_name() {
    let app = spawn_app().await;
    let created = app.create_account("Acme").await;
    assert_eq!(created["name"], "acme");
    assert!(created["id"].as_str().unwrap().len() >= 32);
    let dup = app
        .api(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"name": "ACME"})),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let body: Value = dup.json().await.unwrap();
    assert_eq!(body["error"], "account_exists");
    assert!(body["message"].as_str().unwrap().contains("exists"));
}

#[tokio::test]
async fn invalid_account_names_are_refused() {
    let app = spawn_app().await;
    for name in ["a", "-x", "has space", "ünï"] {
        let res = app
            .api(
                Method::POST,
                "/api/v1/accounts",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(res.status(), 422, "{name}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_account_name"
        );
    }
}

#[tokio::test]
async fn sub_accounts_need_an_existing_parent_and_nothing_is_half_written() {
    let app = spawn_app().await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"name": "acme-eu", "parent": "acme"})),
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "parent_not_found"
    );
    app.create_account("acme").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"name": "acme-eu", "parent": "acme", "display_name": "Acme Europe"})),
        )
        .await;
    assert_eq!(res.status(), 201, "the failed attempt left nothing behind");
}

#[tokio::test]
async fn users_get_their_email_as_username_by_default() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/users",
            Some(json!({"email": "Bob@Acme.example.com", "role": "admin", "password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "bob@acme.example.com");
    assert_eq!(
        app.sign_in("bob@acme.example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(
        app.me().await.json::<Value>().await.unwrap()["role"],
        "admin"
    );
}

#[tokio::test]
async fn bad_user_input_gets_a_clear_answer_and_creates_nothing() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let cases = [
        (
            json!({"email": "not-an-email", "role": "user"}),
            422,
            "invalid_email",
        ),
        (
            json!({"email": "x@acme.example.com", "role": "owner"}),
            422,
            "invalid_role",
        ),
        (
            json!({"email": "x@acme.example.com", "role": "user", "password": "short"}),
            422,
            "weak_password",
        ),
        (
            json!({"email": "x@acme.example.com", "role": "user", "username": "a b"}),
            422,
            "invalid_username",
        ),
    ];
    for (body, status, code) in cases {
        let res = app
            .api(
                Method::POST,
                "/api/v1/accounts/acme/users",
                Some(body.clone()),
            )
            .await;
        assert_eq!(res.status(), status, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], code, "{body}");
    }
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/nope/users",
            Some(json!({"email": "x@acme.example.com", "role": "user"})),
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "account_not_found"
    );
    // None of the refused requests created x@acme.example.com.
    app.create_user("acme", "x@acme.example.com", "x@acme.example.com")
        .await;
    let dup = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/users",
            Some(json!({"email": "x@acme.example.com", "role": "user"})),
        )
        .await;
    assert_eq!(dup.status(), 409);
    assert_eq!(
        dup.json::<Value>().await.unwrap()["error"],
        "username_taken"
    );
}

#[tokio::test]
async fn a_verified_domain_belongs_to_one_account_in_the_installation() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_account("globex").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/domains",
            Some(json!({"domain": "Acme.Example.com"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["domain"], "acme.example.com");
    assert_eq!(body["verified"], false);
    assert_eq!(
        body["verification_record"],
        "_sso-broker-verification.acme.example.com"
    );
    assert!(body["verification_value"]
        .as_str()
        .unwrap()
        .starts_with("sso-broker-verification="));
    // acme's pending claim does not block the operator verifying the domain for globex, and
    // goes with that verification (issue 10: the first to verify wins).
    let won = app
        .api(
            Method::POST,
            "/api/v1/accounts/globex/domains",
            Some(json!({"domain": "acme.example.com", "verified": true})),
        )
        .await;
    assert_eq!(won.status(), 201);
    let taken = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/domains",
            Some(json!({"domain": "acme.example.com"})),
        )
        .await;
    assert_eq!(taken.status(), 409);
    assert_eq!(
        taken.json::<Value>().await.unwrap()["error"],
        "domain_taken"
    );
    let bad = app
        .api(
            Method::POST,
            "/api/v1/accounts/globex/domains",
            Some(json!({"domain": "not a domain"})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let verified = app
        .api(
            Method::POST,
            "/api/v1/accounts/globex/domains",
            Some(json!({"domain": "globex.example.com", "verified": true})),
        )
        .await;
    assert_eq!(verified.json::<Value>().await.unwrap()["verified"], true);
}

#[tokio::test]
async fn audit_lists_sign_ins_and_admin_changes_with_request_ids() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", "wrong password").await;
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let events = app.audit("acme").await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("account.create", "success"),
        ("user.create", "success"),
        ("login.password", "failure"),
        ("login.password", "success"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    let success = events
        .iter()
        .find(|e| e["action"] == "login.password" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(success["actor"], "user:ada");
    assert_eq!(success["ip"], "127.0.0.1");
    assert_eq!(success["request_id"].as_str().unwrap().len(), 32);
    assert!(success["at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-22T10:00:00"));
    let created = events
        .iter()
        .find(|e| e["action"] == "account.create")
        .unwrap();
    assert_eq!(created["actor"], "api-token:tests");
    let limited = app
        .api(Method::GET, "/api/v1/accounts/acme/audit?limit=1", None)
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
}
