//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662), SPEC §7.2: client
//! authentication as at the token endpoint, family revocation, nothing revealed about another
//! client's tokens; and the RFC 6749 §5.2 answer to a body that is not a form.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::oidc_flow::{refresh, register, Client};
use crate::oidc_userinfo::{assert_invalid_token, tokens_for, userinfo};

/// POSTs `form` to `path`, authenticating as `client` (Basic for confidential clients).
async fn post_as(
    app: &TestApp,
    path: &str,
    client: &Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    let mut req = app.client.post(app.url(path));
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => fields.push(("client_id", &client.id)),
    }
    req.form(&fields).send().await.unwrap()
}

/// `POST /oauth2/revoke` of `token` by `client`.
pub async fn revoke(app: &TestApp, client: &Client, token: &str) -> reqwest::Response {
    post_as(app, "/oauth2/revoke", client, &[("token", token)]).await
}

/// `POST /oauth2/introspect` of `token` by `client`: the answer's JSON.
async fn introspect(app: &TestApp, client: &Client, token: &str) -> Value {
    let res = post_as(app, "/oauth2/introspect", client, &[("token", token)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

fn field<'a>(tokens: &'a Value, name: &str) -> &'a str {
    tokens[name].as_str().unwrap()
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_no_other() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let tokens = tokens_for(&app, &client, "openid offline_access").await;
    let other = tokens_for(&app, &client, "openid offline_access").await;
    let res = revoke(&app, &client, field(&tokens, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    let res = refresh(&app, &client, field(&tokens, "refresh_token")).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_invalid_token(&userinfo(&app, field(&tokens, "access_token")).await);
    // Revoking again is fine.
    let res = revoke(&app, &client, field(&tokens, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    // The user's other family is untouched.
    assert_eq!(
        userinfo(&app, field(&other, "access_token")).await.status(),
        200
    );
    let res = refresh(&app, &client, field(&other, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "oidc.revoke" && e["outcome"] == "success"));
}

#[tokio::test]
async fn revoking_an_access_token_ends_its_family_too() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let res = revoke(&app, &client, field(&tokens, "access_token")).await;
    assert_eq!(res.status(), 200);
    assert_invalid_token(&userinfo(&app, field(&tokens, "access_token")).await);
    let res = refresh(&app, &client, field(&tokens, "refresh_token")).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn another_client_gets_200_but_cannot_revoke_a_token() {
    let app = spawn_app().await;
    app.with_user().await;
    let owner = register(&app, true, &[]).await;
    let thief = register(&app, false, &[]).await;
    let tokens = tokens_for(&app, &owner, "openid").await;
    for name in ["refresh_token", "access_token"] {
        let res = revoke(&app, &thief, field(&tokens, name)).await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        userinfo(&app, field(&tokens, "access_token"))
            .await
            .status(),
        200
    );
    let res = refresh(&app, &owner, field(&tokens, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "oidc.revoke" && e["outcome"] == "failure"));
}

#[tokio::test]
async fn an_unknown_token_is_revoked_with_200_and_a_missing_one_is_invalid_request() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let res = revoke(&app, &client, "no-such-token").await;
    assert_eq!(res.status(), 200);
    let res = post_as(&app, "/oauth2/revoke", &client, &[]).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn revocation_and_introspection_refuse_bad_client_authentication_with_json() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let impostor = Client {
        id: client.id.clone(),
        secret: Some("wrong-secret".into()),
    };
    for path in ["/oauth2/revoke", "/oauth2/introspect"] {
        let res = post_as(
            &app,
            path,
            &impostor,
            &[("token", field(&tokens, "refresh_token"))],
        )
        .await;
        assert_eq!(res.status(), 401, "{path}");
        assert!(res.headers().contains_key("www-authenticate"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{path}");
        // No client at all.
        let res = app
            .client
            .post(app.url(path))
            .form(&[("token", field(&tokens, "refresh_token"))])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    let res = refresh(&app, &client, field(&tokens, "refresh_token")).await;
    assert_eq!(res.status(), 200, "the impostor revoked nothing");
}

#[tokio::test]
async fn introspection_describes_a_live_access_or_refresh_token_of_the_client() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let tokens = tokens_for(&app, &client, "openid email").await;
    let me: Value = app.me().await.json().await.unwrap();
    let access = introspect(&app, &client, field(&tokens, "access_token")).await;
    assert_eq!(access["active"], true);
    assert_eq!(access["sub"], me["user"]);
    assert_eq!(access["client_id"], client.id.as_str());
    assert_eq!(access["scope"], "openid email");
    assert_eq!(access["account"], "acme");
    assert_eq!(access["roles"], json!(["user"]));
    assert!(access["sid"].is_string());
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        300
    );
    let refresh_answer = introspect(&app, &client, field(&tokens, "refresh_token")).await;
    assert_eq!(refresh_answer["active"], true);
    assert_eq!(refresh_answer["sub"], me["user"]);
    assert_eq!(refresh_answer["sid"], access["sid"]);
    assert_eq!(refresh_answer["scope"], "openid email");
    assert!(refresh_answer["iat"].is_i64());
}

#[tokio::test]
async fn introspection_is_inactive_for_another_clients_unknown_spent_revoked_or_expired_token() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let other = register(&app, false, &[]).await;
    let tokens = tokens_for(&app, &client, "openid offline_access").await;
    let inactive = json!({"active": false});
    for name in ["access_token", "refresh_token"] {
        assert_eq!(
            introspect(&app, &other, field(&tokens, name)).await,
            inactive
        );
    }
    assert_eq!(introspect(&app, &client, "no-such-token").await, inactive);
    // A spent refresh token.
    let res = refresh(&app, &client, field(&tokens, "refresh_token")).await;
    let next: Value = res.json().await.unwrap();
    assert_eq!(
        introspect(&app, &client, field(&tokens, "refresh_token")).await,
        inactive
    );
    assert_eq!(
        introspect(&app, &client, field(&next, "refresh_token")).await["active"],
        true
    );
    // An expired access token.
    app.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(
        introspect(&app, &client, field(&next, "access_token")).await,
        inactive
    );
    // A revoked family.
    assert_eq!(
        revoke(&app, &client, field(&next, "refresh_token"))
            .await
            .status(),
        200
    );
    assert_eq!(
        introspect(&app, &client, field(&next, "refresh_token")).await,
        inactive
    );
}

#[tokio::test]
async fn the_token_endpoint_answers_a_body_that_is_not_a_form_with_oauth_json() {
    let app = spawn_app().await;
    for path in ["/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"] {
        // A field twice cannot be read into the form.
        let res = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=refresh_token&grant_type=authorization_code&token=a&token=b")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
        // JSON instead of a form.
        let res = app
            .client
            .post(app.url(path))
            .json(&json!({"grant_type": "refresh_token"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
}
