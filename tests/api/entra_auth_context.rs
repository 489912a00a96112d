//! The Entra authentication context (SPEC §3.6): the account's Conditional Access context id is
//! requested with the `claims` parameter and required in the ID token's `acrs`; without one,
//! "require IdP MFA" refuses the unknown evidence of Entra v2.0 ID tokens.

use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{
    at_idp, broker_path, contoso_account, flow_to_callback, location, oid_of, spawn_entra_app,
    start_sso, CONTOSO,
};

#[tokio::test]
async fn an_entra_authentication_context_is_requested_and_required_in_acrs() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let mut settings = crate::helpers::sso_settings(true, false);
    settings["require_idp_mfa"] = json!(true);
    settings["entra_auth_context"] = json!("c3");
    assert_eq!(app.put_sso("acme", settings).await.status(), 200);
    let oid = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    let authorize = location(&res);
    let query: std::collections::HashMap<String, String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let claims: Value = serde_json::from_str(&query["claims"]).unwrap();
    assert_eq!(
        claims,
        json!({ "id_token": { "acrs": { "essential": true, "value": "c3" } } })
    );
    // The tenant's policy was met: `acrs` carries c3, which counts as MFA evidence.
    let callback = at_idp(&authorize, Ok(&oid)).await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me_json().await["mfa"], "yes");
    app.submit("/logout", "/logout", &[]).await;
    // Not met: no `acrs` in the ID token, and the account requires MFA.
    idp.satisfies_auth_context
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let callback = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(&crate::helpers::escaped(messages::IDP_MFA_MISSING)));
    assert_eq!(app.me().await.status(), 401);
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["reason"] == "auth_context_missing"));
}

#[tokio::test]
async fn without_an_authentication_context_require_idp_mfa_refuses_unknown_evidence() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let mut settings = crate::helpers::sso_settings(true, false);
    settings["require_idp_mfa"] = json!(true);
    assert_eq!(app.put_sso("acme", settings).await.status(), 200);
    let callback = flow_to_callback(
        &app,
        "ada@contoso.example",
        &oid_of(&idp, CONTOSO, "ada@contoso.example"),
    )
    .await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(
        res.status(),
        401,
        "v2.0 ID tokens carry no amr: evidence unknown"
    );
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(&crate::helpers::escaped(messages::IDP_MFA_MISSING)));
}
