//! Entra tenants approved by admin consent, with the Graph proof (SPEC §3.3), re-check and
//! revocation, and `POST /api/v1/entra/validate` (SPEC §6.3), against the development IdP.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::clock::Clock;
use sso_broker::domain::messages;

use crate::helpers::{
    approve_tenant, check_tenant, dev_user, entra_env, entra_tenants, spawn_app, spawn_app_with,
    spawn_entra_app, TestApp, CONTOSO, ENTRA_CLIENT_ID, FABRIKAM,
};

async fn validate(app: &TestApp, body: Value) -> reqwest::Response {
    app.api(Method::POST, "/api/v1/entra/validate", Some(body))
        .await
}

#[tokio::test]
async fn approving_a_consented_tenant_stores_what_graph_says() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["tenant_id"], CONTOSO);
    assert_eq!(body["display_name"], "Contoso");
    assert_eq!(body["verified_domains"], json!(["contoso.example"]));
    assert_eq!(body["status"], "approved");
    let listed = entra_tenants(&app, "acme").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["last_checked_at"], "2026-11-22T10:00:00Z");
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "entra.tenant.approve" && e["outcome"] == "success"));
}

#[tokio::test]
async fn a_tenant_that_did_not_consent_is_refused_and_nothing_is_recorded() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    let res = approve_tenant(&app, "acme", FABRIKAM).await;
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "consent_not_proven"
    );
    assert!(entra_tenants(&app, "acme").await.is_empty());
    let audit = app.audit("acme").await;
    let failure = audit
        .iter()
        .find(|e| e["action"] == "entra.tenant.approve")
        .unwrap();
    assert_eq!(failure["outcome"], "failure");
    assert!(
        failure["reason"]
            .as_str()
            .unwrap()
            .contains("AADSTS7000229"),
        "{failure}"
    );
}

#[tokio::test]
async fn graph_naming_another_tenant_is_refused() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    idp.update_tenant(CONTOSO, |t| t.graph_id_override = Some(FABRIKAM.into()));
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 502);
    assert!(entra_tenants(&app, "acme").await.is_empty());
    let audit = app.audit("acme").await;
    assert!(audit.iter().any(|e| e["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("graph_tenant_mismatch")));
}

#[tokio::test]
async fn tenant_ids_must_be_organization_guids() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    for bad in [
        "common",
        "organizations",
        "9188040d-6c67-4c5b-b112-36a304b66dad",
        "11111111-2222-4333-8444-55555555555",
    ] {
        let res = approve_tenant(&app, "acme", bad).await;
        assert_eq!(res.status(), 422, "{bad}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_tenant_id"
        );
    }
}

#[tokio::test]
async fn a_recheck_revokes_a_tenant_that_removed_the_app_and_restores_it_later() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    assert_eq!(approve_tenant(&app, "acme", CONTOSO).await.status(), 201);
    idp.update_tenant(CONTOSO, |t| t.consented = false);
    app.clock.advance(Duration::hours(1));
    let res = check_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "revoked");
    let listed = entra_tenants(&app, "acme").await;
    assert_eq!(listed[0]["status"], "revoked");
    assert_eq!(listed[0]["last_checked_at"], "2026-11-22T11:00:00Z");
    idp.update_tenant(CONTOSO, |t| t.consented = true);
    let res = check_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "approved");
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_a_502_with_the_spec_message() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let app = spawn_app_with(|env| entra_env(env, &authority)).await;
    app.create_account("acme").await;
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "idp_unreachable");
    assert_eq!(body["message"], messages::IDP_UNREACHABLE);
    assert!(entra_tenants(&app, "acme").await.is_empty());
}

#[tokio::test]
async fn without_entra_credentials_entra_endpoints_say_so() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "entra_not_configured"
    );
}

#[tokio::test]
async fn an_account_gets_one_entra_connection() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    let path = "/api/v1/accounts/acme/connections";
    let res = app
        .api(Method::POST, path, Some(json!({ "kind": "entra" })))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["kind"], "entra");
    assert_eq!(
        app.api(Method::POST, path, Some(json!({ "kind": "entra" })))
            .await
            .status(),
        409
    );
    assert_eq!(
        app.api(Method::POST, path, Some(json!({ "kind": "ldap" })))
            .await
            .status(),
        422
    );
}

#[tokio::test]
async fn validate_accepts_a_token_of_an_approved_tenant_and_names_its_accounts() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    app.create_account("globex").await;
    approve_tenant(&app, "acme", CONTOSO).await;
    let ada = dev_user(
        "0000aaaa-0000-4000-8000-000000000001",
        "ada@contoso.example",
    );
    let token = idp.id_token(CONTOSO, &ada, None, app.clock.now(), json!({}));
    let res = validate(&app, json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accounts"], json!(["acme"]));
    assert_eq!(body["tenant_id"], CONTOSO);
    assert_eq!(body["oid"], ada.oid);
    assert_eq!(body["email"], "ada@contoso.example");
    // An access token for `api://<client id>` is accepted too.
    let api_token = idp.id_token(
        CONTOSO,
        &ada,
        None,
        app.clock.now(),
        json!({ "aud": format!("api://{ENTRA_CLIENT_ID}") }),
    );
    assert_eq!(
        validate(&app, json!({ "token": api_token })).await.status(),
        200
    );
    // Narrowed to an account the tenant is not approved for: refused.
    let res = validate(&app, json!({ "token": token, "account": "globex" })).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_token");
    // Narrowed to an empty name (no account has it): refused too, although the answer for "no
    // account" is in memory; narrowed to " ACME ", the account's answer.
    for _ in 0..2 {
        let res = validate(&app, json!({ "token": token, "account": "" })).await;
        assert_eq!(res.status(), 401, "an empty account name approves nothing");
    }
    let res = validate(&app, json!({ "token": token, "account": " ACME " })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["accounts"],
        json!(["acme"])
    );
}

#[tokio::test]
async fn validate_refuses_unapproved_and_revoked_tenants_and_untrusted_emails() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    approve_tenant(&app, "acme", CONTOSO).await;
    let eve = dev_user(
        "0000bbbb-0000-4000-8000-000000000002",
        "eve@fabrikam.example",
    );
    let foreign = idp.id_token(FABRIKAM, &eve, None, app.clock.now(), json!({}));
    let res = validate(&app, json!({ "token": foreign })).await;
    assert_eq!(res.status(), 401);
    assert!(res.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("SS0008"));

    // nOAuth: a Contoso user whose unverified email names someone else's domain.
    let spoof = idp.id_token(
        CONTOSO,
        &eve,
        None,
        app.clock.now(),
        json!({ "email": "ceo@globex.example", "xms_edov": false }),
    );
    let body: Value = validate(&app, json!({ "token": spoof }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["email"], Value::Null);

    idp.update_tenant(CONTOSO, |t| t.consented = false);
    check_tenant(&app, "acme", CONTOSO).await;
    let token = idp.id_token(CONTOSO, &eve, None, app.clock.now(), json!({}));
    assert_eq!(
        validate(&app, json!({ "token": token })).await.status(),
        401,
        "revoked tenant"
    );
}

#[tokio::test]
async fn validate_refuses_expired_and_garbage_tokens() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    approve_tenant(&app, "acme", CONTOSO).await;
    let ada = dev_user(
        "0000aaaa-0000-4000-8000-000000000001",
        "ada@contoso.example",
    );
    let old = idp.id_token(
        CONTOSO,
        &ada,
        None,
        app.clock.now() - Duration::hours(3),
        json!({}),
    );
    let res = validate(&app, json!({ "token": old })).await;
    assert_eq!(res.status(), 401);
    assert!(res.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("SS0011"));
    for garbage in ["", "abc", "a.b.c"] {
        assert_eq!(
            validate(&app, json!({ "token": garbage })).await.status(),
            401,
            "{garbage}"
        );
    }
}

#[tokio::test]
async fn the_periodic_check_revokes_tenants_whose_consent_was_removed() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    assert_eq!(approve_tenant(&app, "acme", CONTOSO).await.status(), 201);
    assert_eq!(
        sso_broker::services::connections::entra_tenants::recheck_all(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(entra_tenants(&app, "acme").await[0]["status"], "approved");
    idp.update_tenant(CONTOSO, |t| t.consented = false);
    assert_eq!(
        sso_broker::services::connections::entra_tenants::recheck_all(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(entra_tenants(&app, "acme").await[0]["status"], "revoked");
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "entra.tenant.check" && e["actor"] == "system:periodic-check"));
}

#[tokio::test]
async fn our_own_expired_client_secret_is_an_outage_not_a_revocation() {
    let (app, idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    assert_eq!(approve_tenant(&app, "acme", CONTOSO).await.status(), 201);
    idp.rotate_client_secret("a-secret-the-broker-does-not-know");
    let res = check_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "idp_unreachable"
    );
    assert_eq!(
        sso_broker::services::connections::entra_tenants::recheck_all(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        entra_tenants(&app, "acme").await[0]["status"],
        "approved",
        "customers keep working"
    );
}

#[tokio::test]
async fn a_tenant_removed_during_a_check_stays_removed() {
    let (app, _idp) = spawn_entra_app().await;
    app.create_account("acme").await;
    assert_eq!(approve_tenant(&app, "acme", CONTOSO).await.status(), 201);
    let row = {
        let state = app.state.clone();
        state
            .db
            .run(|conn| {
                let account =
                    sso_broker::db::account::Account::find_by_name(conn, "acme")?.unwrap();
                sso_broker::db::approved_tenant::ApprovedTenant::find(conn, &account.id, CONTOSO)
                    .map(Option::unwrap)
            })
            .await
            .unwrap()
    };
    // The row is gone; a check's late "granted" refresh must not bring it back.
    let id = row.id.clone();
    app.state
        .db
        .run(move |conn| sso_broker::db::approved_tenant::ApprovedTenant::delete(conn, &id))
        .await
        .unwrap();
    app.state
        .db
        .run(move |conn| {
            sso_broker::db::approved_tenant::ApprovedTenant::update_profile(
                conn, &row.id, "Contoso", "[]",
            )
        })
        .await
        .unwrap();
    assert!(entra_tenants(&app, "acme").await.is_empty());
}
