//! The OpenID Provider's clients (SPEC §7.1): the operator API, the CLI, secrets shown once and
//! kept hashed, and client authentication for the token endpoint.

use diesel::prelude::*;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use sso_broker::crypto::tokens::sha256_hex;
use sso_broker::db::schema::{audit_events, oidc_clients};
use sso_broker::services::provider::clients::{authenticate_client, ClientAuthError};

use crate::helpers::{run_cli, spawn_app, TestApp};

const CLIENTS: &str = "/api/v1/oidc/clients";

fn portal(name: &str) -> Value {
    json!({
        "name": name,
        "type": "confidential",
        "redirect_uris": ["https://portal.example.com/oidc/callback"],
    })
}

async fn create(app: &TestApp, body: Value) -> Value {
    let res = app.api(Method::POST, CLIENTS, Some(body)).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn authenticate(
    app: &TestApp,
    client_id: &str,
    secret: Option<&str>,
) -> Result<sso_broker::services::provider::clients::AuthenticatedClient, ClientAuthError> {
    let secret = secret.map(|s| SecretString::from(s.to_string()));
    authenticate_client(&app.state, client_id, secret.as_ref()).await
}

/// Every stored column of every client, as text.
async fn stored_clients(app: &TestApp) -> Vec<String> {
    app.state
        .db
        .run(|conn| {
            let rows: Vec<sso_broker::db::oidc_client::OidcClient> = oidc_clients::table
                .select(sso_broker::db::oidc_client::OidcClient::as_select())
                .load(conn)?;
            Ok::<_, sso_broker::db::DbError>(rows.iter().map(|r| format!("{r:?}")).collect())
        })
        .await
        .unwrap()
}

/// `(actor, action, reason)` of the audit events about clients, oldest first.
async fn client_audit(app: &TestApp) -> Vec<(String, String, String)> {
    app.state
        .db
        .run(|conn| {
            Ok::<_, sso_broker::db::DbError>(
                audit_events::table
                    .filter(audit_events::action.like("oidc_client.%"))
                    .order(audit_events::at.asc())
                    .select((
                        audit_events::actor,
                        audit_events::action,
                        audit_events::reason.assume_not_null(),
                    ))
                    .load::<(String, String, String)>(conn)?,
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_confidential_client_gets_a_secret_once_which_is_stored_hashed() {
    let app = spawn_app().await;
    let res = app.api(Method::POST, CLIENTS, Some(portal("Portal"))).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&client_id).is_ok(), "{client_id}");
    assert_eq!(secret.len(), 43, "256 random bits, base64url");
    let mut shown = created.clone();
    shown.as_object_mut().unwrap().remove("created_at");
    shown.as_object_mut().unwrap().remove("updated_at");
    assert_eq!(
        shown,
        json!({
            "client_id": client_id,
            "client_secret": secret,
            "name": "Portal",
            "type": "confidential",
            "redirect_uris": ["https://portal.example.com/oidc/callback"],
            "post_logout_redirect_uris": [],
            "backchannel_logout_uri": null,
            "accounts": [],
        })
    );

    // Never again: not in GET, not in the list, not in the database, not in the audit log.
    let got: Value = app
        .api(Method::GET, &format!("{CLIENTS}/{client_id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get("client_secret").is_none(), "{got}");
    assert_eq!(got["name"], "Portal");
    let list: Value = app
        .api(Method::GET, CLIENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    let stored = stored_clients(&app).await;
    assert!(stored[0].contains(&sha256_hex(&secret)), "the hash is kept");
    assert!(!stored[0].contains(&secret), "the secret is not");
    let audit = client_audit(&app).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "api-token:tests");
    assert_eq!(audit[0].1, "oidc_client.create");
    assert_eq!(audit[0].2, format!("client_id={client_id} name=Portal"));

    // Client authentication for the token endpoint.
    let client = authenticate(&app, &client_id, Some(&secret)).await.unwrap();
    assert_eq!(client.client_id.as_str(), client_id);
    let last = if secret.ends_with('A') { 'B' } else { 'A' };
    let wrong = format!("{}{last}", &secret[..42]);
    assert!(matches!(
        authenticate(&app, &client_id, Some(&wrong)).await,
        Err(ClientAuthError::WrongSecret)
    ));
    assert!(matches!(
        authenticate(&app, &client_id, None).await,
        Err(ClientAuthError::SecretRequired)
    ));
    assert!(matches!(
        authenticate(&app, &uuid::Uuid::new_v4().to_string(), Some(&secret)).await,
        Err(ClientAuthError::UnknownClient)
    ));
    assert_eq!(
        authenticate(&app, &client_id, Some(""))
            .await
            .unwrap_err()
            .oauth_error(),
        "invalid_client"
    );
}

#[tokio::test]
async fn a_public_client_has_no_secret_and_authenticates_with_its_id_alone() {
    let app = spawn_app().await;
    let mut body = portal("SPA");
    body["type"] = json!("public");
    body["redirect_uris"] = json!([
        "http://127.0.0.1:5173/callback",
        "https://spa.example.com/cb"
    ]);
    let created = create(&app, body).await;
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["type"], "public");
    let client_id = created["client_id"].as_str().unwrap();
    let client = authenticate(&app, client_id, None).await.unwrap();
    assert_eq!(
        client.redirect_uris,
        [
            "http://127.0.0.1:5173/callback",
            "https://spa.example.com/cb"
        ]
    );
    assert!(matches!(
        authenticate(&app, client_id, Some("anything")).await,
        Err(ClientAuthError::UnexpectedSecret)
    ));
    let res = app
        .api(Method::POST, &format!("{CLIENTS}/{client_id}/secret"), None)
        .await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "public_client");
    assert!(body["message"].as_str().unwrap().contains("no secret"));
}

#[tokio::test]
async fn a_new_secret_is_shown_once_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let created = create(&app, portal("Portal")).await;
    let client_id = created["client_id"].as_str().unwrap();
    let old = created["client_secret"].as_str().unwrap();
    let res = app
        .api(Method::POST, &format!("{CLIENTS}/{client_id}/secret"), None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let rotated: Value = res.json().await.unwrap();
    let new = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["client_id"], client_id);
    assert_eq!(rotated["redirect_uris"], created["redirect_uris"]);
    assert!(matches!(
        authenticate(&app, client_id, Some(old)).await,
        Err(ClientAuthError::WrongSecret)
    ));
    authenticate(&app, client_id, Some(new)).await.unwrap();
    let audit = client_audit(&app).await;
    assert_eq!(audit.last().unwrap().1, "oidc_client.secret_rotate");
    for (_, _, reason) in &audit {
        assert!(!reason.contains(old) && !reason.contains(new), "{reason}");
    }
    assert!(!stored_clients(&app).await[0].contains(new));
}

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
        let mut body = portal("Portal");
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
    let mut body = portal("Portal");
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
    let mut body = portal("Portal");
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
    let mut body = portal("Portal");
    body["type"] = json!("hybrid");
    let err: Value = app
        .api(Method::POST, CLIENTS, Some(body))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(err["error"], "invalid_client_metadata");
    let mut body = portal("Portal");
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
    let mut body = portal("Portal");
    body["grant_types"] = json!(["implicit"]);
    let res = app.api(Method::POST, CLIENTS, Some(body)).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_body");
    let created = create(&app, portal("Portal")).await;
    let mut body = portal("Portal");
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
    let mut body = portal("Portal");
    body["accounts"] = json!(["acme", "beta", "acme"]);
    let created = create(&app, body).await;
    assert_eq!(created["accounts"], json!(["acme", "beta"]));
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let client = authenticate(&app, client_id, Some(secret)).await.unwrap();
    assert_eq!(client.accounts.len(), 2);
    assert_eq!(client.accounts[0].as_str(), acme["id"].as_str().unwrap());
    assert!(stored_clients(&app).await[0].contains(acme["id"].as_str().unwrap()));

    let mut body = portal("Portal");
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
    let mut body = portal("Portal");
    body["post_logout_redirect_uris"] = json!(["https://portal.example.com/bye"]);
    body["accounts"] = json!(["acme"]);
    let created = create(&app, body).await;
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
    authenticate(&app, client_id, Some(secret)).await.unwrap();

    let mut body = portal("Portal");
    body["type"] = json!("public");
    let res = app.api(Method::PUT, &path, Some(body)).await;
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_client_metadata");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("type cannot change"));
    let mut body = portal("Portal");
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

#[tokio::test]
async fn a_deleted_client_is_gone_and_cannot_authenticate() {
    let app = spawn_app().await;
    let created = create(&app, portal("Portal")).await;
    let kept = create(&app, portal("Other")).await;
    let client_id = created["client_id"].as_str().unwrap();
    let path = format!("{CLIENTS}/{client_id}");
    let res = app.api(Method::DELETE, &path, None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.api(Method::GET, &path, None).await.status(), 404);
    assert_eq!(app.api(Method::DELETE, &path, None).await.status(), 404);
    assert!(matches!(
        authenticate(&app, client_id, created["client_secret"].as_str()).await,
        Err(ClientAuthError::UnknownClient)
    ));
    let list: Value = app
        .api(Method::GET, CLIENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["client_id"], kept["client_id"]);
    let actions: Vec<String> = client_audit(&app).await.into_iter().map(|a| a.1).collect();
    assert_eq!(
        actions,
        [
            "oidc_client.create",
            "oidc_client.create",
            "oidc_client.delete"
        ]
    );
}

#[tokio::test]
async fn an_unknown_client_is_404_on_every_path() {
    let app = spawn_app().await;
    let path = format!("{CLIENTS}/{}", uuid::Uuid::new_v4());
    let secret_path = format!("{path}/secret");
    let cases = [
        (Method::GET, path.as_str(), None),
        (Method::PUT, path.as_str(), Some(portal("Portal"))),
        (Method::DELETE, path.as_str(), None),
        (Method::POST, secret_path.as_str(), None),
    ];
    for (method, path, body) in cases {
        let res = app.api(method.clone(), path, body).await;
        assert_eq!(res.status(), 404, "{method} {path}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "client_not_found", "{method} {path}");
    }
}

#[tokio::test]
async fn the_client_api_needs_an_operator_token() {
    let app = spawn_app().await;
    let created = create(&app, portal("Portal")).await;
    let path = format!("{CLIENTS}/{}", created["client_id"].as_str().unwrap());
    let secret_path = format!("{path}/secret");
    let cases = [
        (Method::POST, CLIENTS),
        (Method::GET, CLIENTS),
        (Method::GET, path.as_str()),
        (Method::PUT, path.as_str()),
        (Method::DELETE, path.as_str()),
        (Method::POST, secret_path.as_str()),
    ];
    for (method, path) in cases {
        for token in [None, Some("ssob_not-a-token")] {
            let mut req = app
                .client
                .request(method.clone(), app.url(path))
                .json(&portal("Intruder"));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} with {token:?}");
        }
    }
    let list: Value = app
        .api(Method::GET, CLIENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing changed");
    assert_eq!(list[0]["name"], "Portal");
}

#[tokio::test]
async fn oidc_client_create_prints_the_client_as_json_on_the_last_line() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let out = run_cli(
        &app,
        &[
            "oidc",
            "client",
            "create",
            "--name",
            "Billing portal",
            "--redirect-uri",
            "https://billing.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1:3000/cb",
            "--post-logout-redirect-uri",
            "https://billing.example.com/",
            "--backchannel-logout-uri",
            "https://billing.example.com/bc",
            "--account",
            "acme",
        ],
        None,
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let created: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(created["name"], "Billing portal");
    assert_eq!(created["type"], "confidential");
    assert_eq!(
        created["redirect_uris"],
        json!(["https://billing.example.com/cb", "http://127.0.0.1:3000/cb"])
    );
    assert_eq!(
        created["post_logout_redirect_uris"],
        json!(["https://billing.example.com/"])
    );
    assert_eq!(
        created["backchannel_logout_uri"],
        "https://billing.example.com/bc"
    );
    assert_eq!(created["accounts"], json!(["acme"]));
    let client_id = created["client_id"].as_str().unwrap();
    authenticate(&app, client_id, created["client_secret"].as_str())
        .await
        .unwrap();
    let audit = client_audit(&app).await;
    assert_eq!(
        (audit[0].0.as_str(), audit[0].1.as_str()),
        ("cli", "oidc_client.create")
    );

    let out = run_cli(
        &app,
        &[
            "oidc",
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example.com/cb",
        ],
        None,
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let public: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(public["type"], "public");
    assert!(public.get("client_secret").is_none());

    let out = run_cli(
        &app,
        &[
            "oidc",
            "client",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://bad.example.com/cb",
        ],
        None,
        &[],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must use https"), "{stderr}");
    let list: Value = app
        .api(Method::GET, CLIENTS, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
}
