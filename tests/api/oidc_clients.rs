//! The OpenID Provider's clients (SPEC §7.1): the operator API, the CLI, secrets shown once and
//! kept hashed, and client authentication for the token endpoint.

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::crypto::tokens::sha256_hex;
use sso_broker::services::provider::clients::ClientAuthError;

use crate::helpers::{
    authenticate_oidc_client, create_oidc_client, oidc_client_audit, portal_client, run_cli,
    spawn_app, stored_oidc_clients, OIDC_CLIENTS as CLIENTS,
};

#[tokio::test]
async fn a_confidential_client_gets_a_secret_once_which_is_stored_hashed() {
    let app = spawn_app().await;
    let res = app
        .api(Method::POST, CLIENTS, Some(portal_client("Portal")))
        .await;
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
    let stored = stored_oidc_clients(&app).await;
    assert!(stored[0].contains(&sha256_hex(&secret)), "the hash is kept");
    assert!(!stored[0].contains(&secret), "the secret is not");
    let audit = oidc_client_audit(&app).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "api-token:tests");
    assert_eq!(audit[0].1, "oidc_client.create");
    assert_eq!(audit[0].2, format!("client_id={client_id} name=Portal"));

    // Client authentication for the token endpoint.
    let client = authenticate_oidc_client(&app, &client_id, Some(&secret))
        .await
        .unwrap();
    assert_eq!(client.client_id.as_str(), client_id);
    let last = if secret.ends_with('A') { 'B' } else { 'A' };
    let wrong = format!("{}{last}", &secret[..42]);
    assert!(matches!(
        authenticate_oidc_client(&app, &client_id, Some(&wrong)).await,
        Err(ClientAuthError::WrongSecret)
    ));
    assert!(matches!(
        authenticate_oidc_client(&app, &client_id, None).await,
        Err(ClientAuthError::SecretRequired)
    ));
    assert!(matches!(
        authenticate_oidc_client(&app, &uuid::Uuid::new_v4().to_string(), Some(&secret)).await,
        Err(ClientAuthError::UnknownClient)
    ));
    assert_eq!(
        authenticate_oidc_client(&app, &client_id, Some(""))
            .await
            .unwrap_err()
            .oauth_error(),
        "invalid_client"
    );
}

#[tokio::test]
async fn a_public_client_has_no_secret_and_authenticates_with_its_id_alone() {
    let app = spawn_app().await;
    let mut body = portal_client("SPA");
    body["type"] = json!("public");
    body["redirect_uris"] = json!([
        "http://127.0.0.1:5173/callback",
        "https://spa.example.com/cb"
    ]);
    let created = create_oidc_client(&app, body).await;
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["type"], "public");
    let client_id = created["client_id"].as_str().unwrap();
    let client = authenticate_oidc_client(&app, client_id, None)
        .await
        .unwrap();
    assert_eq!(
        client.redirect_uris,
        [
            "http://127.0.0.1:5173/callback",
            "https://spa.example.com/cb"
        ]
    );
    assert!(matches!(
        authenticate_oidc_client(&app, client_id, Some("anything")).await,
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
    let created = create_oidc_client(&app, portal_client("Portal")).await;
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
        authenticate_oidc_client(&app, client_id, Some(old)).await,
        Err(ClientAuthError::WrongSecret)
    ));
    authenticate_oidc_client(&app, client_id, Some(new))
        .await
        .unwrap();
    let audit = oidc_client_audit(&app).await;
    assert_eq!(audit.last().unwrap().1, "oidc_client.secret_rotate");
    for (_, _, reason) in &audit {
        assert!(!reason.contains(old) && !reason.contains(new), "{reason}");
    }
    assert!(!stored_oidc_clients(&app).await[0].contains(new));
}

#[tokio::test]
async fn a_deleted_client_is_gone_and_cannot_authenticate() {
    let app = spawn_app().await;
    let created = create_oidc_client(&app, portal_client("Portal")).await;
    let kept = create_oidc_client(&app, portal_client("Other")).await;
    let client_id = created["client_id"].as_str().unwrap();
    let path = format!("{CLIENTS}/{client_id}");
    let res = app.api(Method::DELETE, &path, None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.api(Method::GET, &path, None).await.status(), 404);
    assert_eq!(app.api(Method::DELETE, &path, None).await.status(), 404);
    assert!(matches!(
        authenticate_oidc_client(&app, client_id, created["client_secret"].as_str()).await,
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
    let actions: Vec<String> = oidc_client_audit(&app)
        .await
        .into_iter()
        .map(|a| a.1)
        .collect();
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
        (Method::PUT, path.as_str(), Some(portal_client("Portal"))),
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
    let created = create_oidc_client(&app, portal_client("Portal")).await;
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
                .json(&portal_client("Intruder"));
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
    authenticate_oidc_client(&app, client_id, created["client_secret"].as_str())
        .await
        .unwrap();
    let audit = oidc_client_audit(&app).await;
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
