//! What an OpenID Provider client's registration may say (SPEC §7.1): the rules for redirect
//! URIs, unknown fields, accounts by name, and a PUT that replaces the registration but keeps
//! the client's type and secret.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    authenticate_oidc_client, create_oidc_client, portal_client, spawn_app, stored_oidc_clients,
    OIDC_CLIENTS as CLIENTS,
};

#[tokio::test]
async fn redirect_uris_that_break_a_rule_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let cases = [
        (json!(["http://portal.example.com/cb"]), "must use https"),
        (json!(["http://localhost:3000/cb"]), "must use https"),
        (json!(["https://portal.example.com/cb#done"]), "fragment"),
        (json!(["https://*.example.com/cb"]), "wildcards"),
        (json!(["/oidc/callback"]), "is not an absolute URL"),
        (json!(["custom.app:/cb"]), "must be an https URL"),
        (
            json!(["https://Portal.example.com/cb"]),
            "register 'https://portal.example.com/cb'",
        ),
        (
            json!(["https://a.example.com/cb", "https://a.example.com/cb"]),
            "listed twice",
        ),
        (json!([]), "at least one"),
    ];
    for (uris, reason) in cases {
        let mut body = portal_client("Portal");
        body["redirect_uris"] = uris.clone();
        let res = app.api(Method::POST, CLIENTS, Some(body)).await;
        assert_eq!(res.status(), 422, "{uris}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "invalid_client_metadata", "{uris}");
        assert!(
            err["message"].as_str().unwrap().contains(reason),
            "{uris}: {err}"
        );
    }
    let mut body = portal_client("Portal");
    body["post_logout_redirect_uris"] = json!(["http://portal.example.com/bye"]);
    let err: Value = app
        .api(Method::POST, CLIENTS, Some(body))
        .await
        .json()
        .await
        .unwrap();
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("post_logout_redirect_uris[0]"));
    let mut body = portal_client("Portal");
    body["backchannel_logout_uri"] = json!("https://portal.example.com/bc#x");
    let err: Value = app
        .api(Method::POST, CLIENTS, Some(body))
        .await
        .json()
        .await
        .unwrap();
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("backchannel_logout_uri"));
    let mut body = portal_client("Portal");
    body["type"] = json!("hybrid");
    let err: Value = app
        .api(Method::POST, CLIENTS, Some(body))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(err["error"], "invalid_client_metadata");
    let mut body = portal_client("Portal");
    body.as_object_mut().unwrap().remove("type");
    let res = app.api(Method::POST, CLIENTS, Some(body)).await;
    assert_eq!(res.status(), 422, "type is required when registering");
    let list: Value = app
        .api(Method::GET, CLIENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "nothing was registered");
}

#[tokio::test]
async fn unknown_fields_are_refused_like_everywhere_in_the_api() {
    let app = spawn_app().await;
    let mut body = portal_client("Portal");
    body["grant_types"] = json!(["implicit"]);
    let res = app.api(Method::POST, CLIENTS, Some(body)).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_body");
    let created = create_oidc_client(&app, portal_client("Portal")).await;
    let mut body = portal_client("Portal");
    body["client_secret"] = json!("chosen-by-me");
    let res = app
        .api(
            Method::PUT,
            &format!("{CLIENTS}/{}", created["client_id"].as_str().unwrap()),
            Some(body),
        )
        .await;
    assert_eq!(res.status(), 400, "a secret cannot be chosen");
}

#[tokio::test]
async fn accounts_are_names_in_and_out_and_an_unknown_name_is_refused() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    app.create_account("beta").await;
    let mut body = portal_client("Portal");
    body["accounts"] = json!(["acme", "beta", "acme"]);
    let created = create_oidc_client(&app, body).await;
    assert_eq!(created["accounts"], json!(["acme", "beta"]));
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let client = authenticate_oidc_client(&app, client_id, Some(secret))
        .await
        .unwrap();
    assert_eq!(client.accounts.len(), 2);
    assert_eq!(client.accounts[0].as_str(), acme["id"].as_str().unwrap());
    assert!(stored_oidc_clients(&app).await[0].contains(acme["id"].as_str().unwrap()));

    let mut body = portal_client("Portal");
    body["accounts"] = json!(["acme", "nope"]);
    let res = app.api(Method::POST, CLIENTS, Some(body)).await;
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_client_metadata");
    assert_eq!(err["message"], "accounts: no account is named 'nope'");
}

#[tokio::test]
async fn put_replaces_the_registration_but_keeps_the_type_and_the_secret() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let mut body = portal_client("Portal");
    body["post_logout_redirect_uris"] = json!(["https://portal.example.com/bye"]);
    body["accounts"] = json!(["acme"]);
    let created = create_oidc_client(&app, body).await;
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let path = format!("{CLIENTS}/{client_id}");

    app.clock.advance(chrono::Duration::minutes(5));
    let res = app
        .api(
            Method::PUT,
            &path,
            Some(json!({
                "name": "Portal 2",
                "redirect_uris": ["https://portal.example.com/cb2", "http://[::1]:8080/cb"],
                "backchannel_logout_uri": "https://portal.example.com/backchannel",
            })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert!(updated.get("client_secret").is_none());
    assert_eq!(updated["name"], "Portal 2");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://portal.example.com/cb2", "http://[::1]:8080/cb"])
    );
    assert_eq!(
        updated["post_logout_redirect_uris"],
        json!([]),
        "replaced, not merged"
    );
    assert_eq!(updated["accounts"], json!([]));
    assert_eq!(
        updated["backchannel_logout_uri"],
        "https://portal.example.com/backchannel"
    );
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_ne!(updated["updated_at"], created["updated_at"]);
    let got: Value = app
        .api(Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, updated);
    authenticate_oidc_client(&app, client_id, Some(secret))
        .await
        .unwrap();

    let mut body = portal_client("Portal");
    body["type"] = json!("public");
    let res = app.api(Method::PUT, &path, Some(body)).await;
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_client_metadata");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("type cannot change"));
    let mut body = portal_client("Portal");
    body["redirect_uris"] = json!(["http://portal.example.com/cb"]);
    assert_eq!(app.api(Method::PUT, &path, Some(body)).await.status(), 422);
    let got: Value = app
        .api(Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, updated, "a refused PUT changes nothing");
}
