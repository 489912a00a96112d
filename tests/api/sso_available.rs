//! SSO offered per account by the operator (SPEC §3.5 first bullet, §6.3): `GET`/`PATCH
//! /api/v1/accounts/{name}`, the installation default `SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT`,
//! the SSO, Entra and SAML pages and API calls closed where SSO is not offered, and sign-in
//! through a connection configured earlier kept working when the offer is withdrawn.

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{
    approve_tenant, broker_path, check_tenant, contoso_account, escaped, flow_to_callback,
    location, oid_of, sign_in_admin, spawn_app, spawn_app_with, spawn_entra_app, spawn_saml_app,
    sso_settings, TestApp, CONTOSO, SAML_ACCOUNT, SAML_EMAIL,
};

const SSO_PAGES: [&str; 4] = [
    "/admin/sso",
    "/admin/entra",
    "/admin/saml",
    "/admin-consent/start",
];

/// A broker whose accounts are not offered SSO unless the operator says so.
async fn spawn_app_without_sso_offer() -> TestApp {
    spawn_app_with(|env| {
        env.insert("SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT".into(), "false".into());
    })
    .await
}

async fn get_account(app: &TestApp, name: &str) -> reqwest::Response {
    app.api(Method::GET, &format!("/api/v1/accounts/{name}"), None)
        .await
}

async fn patch_account(app: &TestApp, name: &str, body: Value) -> reqwest::Response {
    app.api(
        Method::PATCH,
        &format!("/api/v1/accounts/{name}"),
        Some(body),
    )
    .await
}

/// Offers SSO to `account` (or withdraws it); the account as the API answers.
async fn offer_sso(app: &TestApp, account: &str, available: bool) -> Value {
    let res = patch_account(app, account, json!({ "sso_available": available })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["sso_available"], available);
    body
}

async fn assert_error(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status(), status, "{code}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn assert_sso_not_available(res: reqwest::Response) {
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "sso_not_available");
    assert_eq!(body["message"], messages::SSO_NOT_AVAILABLE);
}

/// The "SSO is not available" page.
async fn assert_not_available_page(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), 404, "{what}");
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&escaped(messages::SSO_NOT_AVAILABLE)),
        "{what}: {html}"
    );
}

fn links_to_sso_pages(html: &str) -> bool {
    ["/admin/sso", "/admin/entra", "/admin/saml"]
        .iter()
        .any(|path| html.contains(&format!("href=\"{path}\"")))
}

async fn put_saml_connection(app: &TestApp, account: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/api/v1/accounts/{account}/connections"),
        Some(json!({ "kind": "saml", "idp_metadata_xml": "<x/>" })),
    )
    .await
}

#[tokio::test]
async fn an_account_is_read_and_patched_with_its_parent_and_sso_offer() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let created = app.create_sub_account("acme-eu", "acme").await;

    let res = get_account(&app, "ACME-EU").await;
    assert_eq!(res.status(), 200);
    let account: Value = res.json().await.unwrap();
    assert_eq!(
        account,
        json!({
            "id": created["id"],
            "name": "acme-eu",
            "display_name": "acme-eu",
            "parent": "acme",
            "sso_available": true,
        })
    );
    let parent: Value = get_account(&app, "acme").await.json().await.unwrap();
    assert_eq!(parent["parent"], Value::Null);
    assert_eq!(parent["sso_available"], true, "the installation default");

    let res = patch_account(
        &app,
        "acme-eu",
        json!({ "display_name": "  Acme Europe ", "sso_available": false }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    let expected = json!({
        "id": created["id"],
        "name": "acme-eu",
        "display_name": "Acme Europe",
        "parent": "acme",
        "sso_available": false,
    });
    assert_eq!(patched, expected);
    let read: Value = get_account(&app, "acme-eu").await.json().await.unwrap();
    assert_eq!(read, expected, "GET answers what PATCH stored");

    // A field left out stays as it is.
    let res = patch_account(&app, "acme-eu", json!({ "sso_available": true })).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["display_name"], "Acme Europe");
    assert_eq!(body["sso_available"], true);
    let res = patch_account(&app, "acme-eu", json!({})).await;
    assert_eq!(res.status(), 200);

    let updates: Vec<Value> = app
        .audit("acme-eu")
        .await
        .into_iter()
        .filter(|e| e["action"] == "account.update")
        .collect();
    let reasons: Vec<&str> = updates
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(
        updates.len(),
        2,
        "one event per change, none for an empty patch"
    );
    assert!(
        reasons.contains(&"display_name sso_available=false"),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"sso_available=true"), "{reasons:?}");
    assert!(updates
        .iter()
        .all(|e| e["actor"] == "api-token:tests" && e["outcome"] == "success"));
}

#[tokio::test]
async fn patching_an_account_with_a_bad_body_is_refused_as_json_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    for body in [
        json!({ "sso_avaliable": false }),
        json!({ "sso_available": "no" }),
        json!({ "display_name": 7 }),
        json!({ "parent": "other" }),
        json!(["sso_available"]),
    ] {
        assert_error(patch_account(&app, "acme", body).await, 400, "invalid_body").await;
    }
    let res = app
        .client
        .patch(app.url("/api/v1/accounts/acme"))
        .bearer_auth(&app.api_token)
        .body("sso_available=false")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    for name in ["x".repeat(201), "Acme\nCorp".to_string()] {
        let res = patch_account(
            &app,
            "acme",
            json!({ "display_name": name, "sso_available": false }),
        )
        .await;
        assert!(res.status().is_client_error(), "{}", res.status());
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_display_name"
        );
    }
    let account: Value = get_account(&app, "acme").await.json().await.unwrap();
    assert_eq!(account["display_name"], "acme");
    assert_eq!(account["sso_available"], true, "nothing was half-applied");
}

#[tokio::test]
async fn unknown_accounts_are_404_and_the_operator_token_is_required() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    assert_error(get_account(&app, "nobody").await, 404, "account_not_found").await;
    assert_error(
        patch_account(&app, "nobody", json!({ "sso_available": false })).await,
        404,
        "account_not_found",
    )
    .await;
    let url = app.url("/api/v1/accounts/acme");
    let res = app.client.get(&url).send().await.unwrap();
    assert_error(res, 401, "invalid_token").await;
    let res = app
        .client
        .patch(&url)
        .bearer_auth("ssob_forged")
        .json(&json!({ "sso_available": false }))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "invalid_token").await;
    let account: Value = get_account(&app, "acme").await.json().await.unwrap();
    assert_eq!(
        account["sso_available"], true,
        "the refused patch changed nothing"
    );
}

#[tokio::test]
async fn without_the_offer_an_admin_has_no_sso_pages_until_the_operator_offers_it() {
    let app = spawn_app_without_sso_offer().await;
    app.create_account("acme").await;
    let account: Value = get_account(&app, "acme").await.json().await.unwrap();
    assert_eq!(account["sso_available"], false, "the installation default");
    sign_in_admin(&app, "acme", "acme-admin").await;

    let home = app.get_html("/").await;
    assert!(
        home.contains("href=\"/admin/users\""),
        "other admin pages stay"
    );
    assert!(!links_to_sso_pages(&home), "{home}");
    for page in ["/admin/users", "/admin/audit", "/admin/domains"] {
        let res = app.get(page).await;
        assert_eq!(res.status(), 200, "{page}");
        assert!(!links_to_sso_pages(&res.text().await.unwrap()), "{page}");
    }
    for page in SSO_PAGES {
        assert_not_available_page(app.get(page).await, page).await;
    }
    for (action, form) in [
        ("/admin/sso/enable", &[][..]),
        ("/admin/sso/policy", &[("enforced", "on")][..]),
        ("/admin/saml", &[("idp_metadata_xml", "<x/>")][..]),
    ] {
        let res = app.submit("/account/security", action, form).await;
        assert_not_available_page(res, action).await;
    }
    assert_sso_not_available(app.put_sso("acme", sso_settings(true, false)).await).await;
    assert_sso_not_available(put_saml_connection(&app, "acme").await).await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/connections",
            Some(json!({ "kind": "entra" })),
        )
        .await;
    assert_sso_not_available(res).await;
    // Reading the settings still answers.
    let res = app
        .api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["enabled"], false);

    offer_sso(&app, "acme", true).await;
    let home = app.get_html("/").await;
    for path in ["/admin/sso", "/admin/entra", "/admin/saml"] {
        assert!(home.contains(&format!("href=\"{path}\"")), "{path}");
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    assert!(links_to_sso_pages(&app.get_html("/admin/users").await));
    let res = app.put_sso("acme", sso_settings(true, false)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["enabled"], true);
    // The connection is judged on its merits now.
    assert_error(
        put_saml_connection(&app, "acme").await,
        422,
        "invalid_saml_settings",
    )
    .await;
}

#[tokio::test]
async fn an_account_offer_overrides_the_installation_default_both_ways() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    offer_sso(&app, "acme", false).await;
    assert_sso_not_available(app.put_sso("acme", sso_settings(true, false)).await).await;
    sign_in_admin(&app, "acme", "acme-admin").await;
    assert!(!links_to_sso_pages(&app.get_html("/").await));
    assert_not_available_page(app.get("/admin/sso").await, "/admin/sso").await;

    let app = spawn_app_without_sso_offer().await;
    app.create_account("acme").await;
    offer_sso(&app, "acme", true).await;
    assert_eq!(
        app.put_sso("acme", sso_settings(true, false))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_sub_account_has_its_own_offer_not_its_parents() {
    let app = spawn_app_without_sso_offer().await;
    app.create_account("acme").await;
    app.create_sub_account("acme-eu", "acme").await;
    offer_sso(&app, "acme", true).await;
    let child: Value = get_account(&app, "acme-eu").await.json().await.unwrap();
    assert_eq!(child["sso_available"], false);
    assert_sso_not_available(app.put_sso("acme-eu", sso_settings(true, false)).await).await;
    assert_eq!(
        app.put_sso("acme", sso_settings(true, false))
            .await
            .status(),
        200,
        "SSO is configured on the parent"
    );
}

#[tokio::test]
async fn turning_sso_off_stays_possible_after_the_offer_is_withdrawn() {
    let app = spawn_app().await;
    app.with_user().await;
    app.enable_sso("acme").await;
    offer_sso(&app, "acme", false).await;
    assert_sso_not_available(app.put_sso("acme", sso_settings(true, true)).await).await;
    let res = app.put_sso("acme", sso_settings(false, false)).await;
    assert_eq!(res.status(), 200, "the operator may wind SSO down");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["enabled"], false);
    assert!(body["rollback"].is_object(), "{body}");
}

#[tokio::test]
async fn withdrawing_the_offer_keeps_configured_saml_sign_in_working() {
    let saml = spawn_saml_app(false).await;
    let app = &saml.app;
    assert_eq!(
        app.put_sso(SAML_ACCOUNT, sso_settings(true, true))
            .await
            .status(),
        200,
        "SSO enforced"
    );
    let (request_id, relay_state) = saml.start(SAML_EMAIL).await;
    let res = saml
        .post(
            &saml.response(Some(&request_id), SAML_EMAIL),
            Some(&relay_state),
        )
        .await;
    assert_eq!(res.status(), 303);

    offer_sso(app, SAML_ACCOUNT, false).await;
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["auth_method"], "sso", "the session stands");

    app.submit("/logout", "/logout", &[]).await;
    assert_eq!(app.me().await.status(), 401);
    let (request_id, relay_state) = saml.start(SAML_EMAIL).await;
    let res = saml
        .post(
            &saml.response(Some(&request_id), SAML_EMAIL),
            Some(&relay_state),
        )
        .await;
    assert_eq!(res.status(), 303, "a new SSO sign-in works");
    assert_eq!(location(&res), "/");
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["auth_method"], "sso");
    assert_eq!(me["idp"], "saml");

    // Only the configuration is closed; the settings stay as they were.
    let settings: Value = app
        .api(
            Method::GET,
            &format!("/api/v1/accounts/{SAML_ACCOUNT}/sso"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["enabled"], true);
    assert_eq!(settings["enforced"], true);
    assert_sso_not_available(put_saml_connection(app, SAML_ACCOUNT).await).await;
    assert_sso_not_available(app.put_sso(SAML_ACCOUNT, sso_settings(true, false)).await).await;
}

#[tokio::test]
async fn entra_tenants_and_admin_consent_are_closed_without_the_offer() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    sign_in_admin(&app, "acme", "acme-admin").await;
    offer_sso(&app, "acme", false).await;
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_sso_not_available(res).await;
    let res = check_tenant(&app, "acme", CONTOSO).await;
    assert_sso_not_available(res).await;
    let res = app
        .submit("/account/security", "/admin-consent/start", &[])
        .await;
    assert_not_available_page(res, "POST /admin-consent/start").await;
    let res = app
        .submit(
            "/account/security",
            &format!("/admin/entra/tenants/{CONTOSO}/check"),
            &[],
        )
        .await;
    assert_not_available_page(res, "check on the Entra page").await;

    offer_sso(&app, "acme", true).await;
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 201, "the consent proof runs once offered");
    let res = app
        .submit("/account/security", "/admin-consent/start", &[])
        .await;
    assert_eq!(res.status(), 303, "to Microsoft");
}

#[tokio::test]
async fn withdrawing_the_offer_keeps_configured_entra_sign_in_working() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    offer_sso(&app, "acme", false).await;
    let oid = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let callback = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let me = app.me_json().await;
    assert_eq!(me["username"], "ada");
    assert_eq!(me["idp"], "entra");
}
