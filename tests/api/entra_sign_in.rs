//! "Log in with SSO" through Microsoft Entra ID (SPEC §3.2), end to end against the development
//! IdP: each of SPEC's messages in its situation, flow expiry and replay, login CSRF, nOAuth.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{
    add_dev_user, approve_directly, approve_tenant, at_idp, broker_path, check_tenant,
    connect_entra, contoso_account, entra_env, flow_to_callback, location, me_status, oid_of,
    spawn_app_with, spawn_entra_app, start_sso, CONTOSO, FABRIKAM, PASSWORD,
};

#[tokio::test]
async fn an_entra_user_signs_in_end_to_end() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let res = start_sso(&app, "acme", "Ada@Contoso.example").await;
    assert_eq!(res.status(), 303);
    let authorize = location(&res);
    assert!(
        authorize.contains(&format!("/{CONTOSO}/oauth2/v2.0/authorize?")),
        "{authorize}"
    );
    for param in [
        "code_challenge_method=S256",
        "login_hint=ada%40contoso.example",
        "nonce=",
        "state=",
        "response_type=code",
    ] {
        assert!(authorize.contains(param), "{param} in {authorize}");
    }
    let callback = at_idp(
        &authorize,
        Ok(&oid_of(&idp, CONTOSO, "ada@contoso.example")),
    )
    .await;
    assert!(
        callback.starts_with("http://127.0.0.1:8080/sso/oidc/callback?"),
        "{callback}"
    );
    let path = &broker_path(&callback);
    let res = app.get(path).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let me = app.me_json().await;
    assert_eq!(me["username"], "ada");
    assert_eq!(me["account"], "acme");
    assert_eq!(me["auth_method"], "sso");
    assert_eq!(me["idp"], "entra");
    assert_eq!(me["mfa"], "unknown", "Entra v2.0 ID tokens carry no amr");
    let audit = app.audit("acme").await;
    assert!(audit.iter().any(|e| e["action"] == "login.sso"
        && e["outcome"] == "success"
        && e["actor"] == "user:ada"));
}

#[tokio::test]
async fn an_invited_user_without_password_signs_in_with_sso_and_becomes_active() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let body = json!({ "email": "grace@contoso.example", "username": "grace", "role": "user" });
    assert_eq!(
        app.api(Method::POST, "/api/v1/accounts/acme/users", Some(body))
            .await
            .status(),
        201
    );
    add_dev_user(&idp, CONTOSO, "grace@contoso.example", "Grace", true);
    let callback = flow_to_callback(
        &app,
        "grace@contoso.example",
        &oid_of(&idp, CONTOSO, "grace@contoso.example"),
    )
    .await;
    assert_eq!(location(&app.get(&broker_path(&callback)).await), "/");
    let home = app.get("/").await;
    assert_eq!(home.status(), 200, "no redirect loop");
    assert!(home.text().await.unwrap().contains("Welcome, grace"));
    assert_eq!(app.me_json().await["username"], "grace");
    // Her session cannot give her a local password that would outlive the IdP.
    let res = app
        .submit(
            "/account/security",
            "/account/security/password",
            &[
                ("current_password", ""),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    // While SSO is on, the IdP owns credentials: no password is set.
    assert_eq!(res.status(), 409);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(sso_broker::domain::messages::RESET_PASSWORD_SSO));
    app.submit("/logout", "/logout", &[]).await;
    assert_eq!(
        app.sign_in("grace", "a brand new password").await.status(),
        401
    );
}

#[tokio::test]
async fn a_session_of_a_user_disabled_meanwhile_ends_without_a_redirect_loop() {
    let (app, _idp) = spawn_entra_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    let user_id = app.me_json().await["user"].as_str().unwrap().to_string();
    let now = sso_broker::clock::Clock::now_naive(&app.clock);
    app.state
        .db
        .run(move |conn| sso_broker::db::user::User::set_status(conn, &user_id, "disabled", now))
        .await
        .unwrap();
    assert_eq!(location(&app.get("/").await), "/login?expired=1");
    assert_eq!(
        app.get("/login?expired=1").await.status(),
        200,
        "the login page shows, no loop"
    );
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn accounts_without_a_usable_connection_are_not_configured() {
    let (app, idp) = spawn_entra_app().await;
    // Unknown account.
    let html = start_sso(&app, "no-such-account", "ada@contoso.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(messages::SSO_NOT_CONFIGURED));
    // Known account, no connection.
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    app.create_user("acme", "ada", "ada@contoso.example").await;
    assert!(start_sso(&app, "acme", "ada@contoso.example")
        .await
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_NOT_CONFIGURED));
    // Connected and approved, then the customer removed the app: revoked, not usable.
    connect_entra(&app, "acme", CONTOSO).await;
    assert_eq!(
        start_sso(&app, "acme", "ada@contoso.example")
            .await
            .status(),
        303
    );
    idp.update_tenant(CONTOSO, |t| t.consented = false);
    check_tenant(&app, "acme", CONTOSO).await;
    assert!(start_sso(&app, "acme", "ada@contoso.example")
        .await
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_NOT_CONFIGURED));
}

#[tokio::test]
async fn unknown_and_shared_emails_get_their_messages() {
    let (app, _idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let html = start_sso(&app, "acme", "nobody@contoso.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(messages::EMAIL_NOT_CONFIGURED));
    app.create_user("acme", "twin-a", "twins@contoso.example")
        .await;
    app.create_user("acme", "twin-b", "twins@contoso.example")
        .await;
    let html = start_sso(&app, "acme", "twins@contoso.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("It seems that multiple user names are associated with this email ID."),
        "{html}"
    );
}

#[tokio::test]
async fn a_stale_or_replayed_callback_says_the_session_expired() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let oid = oid_of(&idp, CONTOSO, "ada@contoso.example");
    // Older than ten minutes.
    let callback = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    app.clock.advance(Duration::minutes(11));
    let html = app.get(&broker_path(&callback)).await.text().await.unwrap();
    assert!(html.contains(messages::SESSION_EXPIRED));
    assert_eq!(app.me().await.status(), 401);
    // Used once already.
    let callback = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    let path = broker_path(&callback);
    assert_eq!(app.get(&path).await.status(), 303);
    app.submit("/logout", "/logout", &[]).await;
    let html = app.get(&path).await.text().await.unwrap();
    assert!(html.contains(messages::SESSION_EXPIRED));
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let callback = flow_to_callback(
        &app,
        "ada@contoso.example",
        &oid_of(&idp, CONTOSO, "ada@contoso.example"),
    )
    .await;
    // Login CSRF: the attacker's callback URL opened in the victim's browser.
    let victim = app.new_browser();
    let res = victim
        .get(app.url(&broker_path(&callback)))
        .send()
        .await
        .unwrap();
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SESSION_EXPIRED));
    assert_eq!(me_status(&app, &victim).await, 401);
}

#[tokio::test]
async fn cancelling_at_the_idp_shows_a_friendly_message() {
    let (app, _idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    let callback = at_idp(&location(&res), Err(())).await;
    let html = app.get(&broker_path(&callback)).await.text().await.unwrap();
    assert!(html.contains("Sign-in was cancelled."), "{html}");
    assert!(!html.contains("AADSTS"), "no raw IdP text");
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn signing_in_at_the_idp_as_someone_else_is_refused() {
    let (app, idp) = spawn_entra_app().await;
    add_dev_user(&idp, CONTOSO, "bob@contoso.example", "Bob", true);
    contoso_account(&app).await;
    let callback = flow_to_callback(
        &app,
        "ada@contoso.example",
        &oid_of(&idp, CONTOSO, "bob@contoso.example"),
    )
    .await;
    let res = app.get(&broker_path(&callback)).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_INCORRECT_CREDENTIALS));
    assert_eq!(app.me().await.status(), 401);
    let audit = app.audit("acme").await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "login.sso" && e["reason"] == "email_mismatch"));
}

#[tokio::test]
async fn an_unverified_email_from_another_tenant_cannot_take_over_a_user_noauth() {
    let (app, idp) = spawn_entra_app().await;
    // Globex approved Fabrikam; Globex also has a legacy user whose email is at contoso.example.
    idp.update_tenant(FABRIKAM, |t| t.consented = true);
    add_dev_user(&idp, FABRIKAM, "ada@contoso.example", "Mallory", false);
    app.create_account("globex").await;
    app.enable_sso("globex").await;
    app.create_user("globex", "ada-legacy", "ada@contoso.example")
        .await;
    connect_entra(&app, "globex", FABRIKAM).await;
    let res = start_sso(&app, "globex", "ada@contoso.example").await;
    assert_eq!(res.status(), 303);
    let callback = at_idp(
        &location(&res),
        Ok(&oid_of(&idp, FABRIKAM, "ada@contoso.example")),
    )
    .await;
    let res = app.get(&broker_path(&callback)).await;
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_INCORRECT_CREDENTIALS));
    assert_eq!(app.me().await.status(), 401);
    let audit = app.audit("globex").await;
    assert!(audit.iter().any(|e| e["reason"] == "email_not_trusted"));
}

#[tokio::test]
async fn a_linked_user_is_matched_by_the_link_next_time() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let oid = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let callback = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    assert_eq!(app.get(&broker_path(&callback)).await.status(), 303);
    app.submit("/logout", "/logout", &[]).await;
    // A second account member with the same email appears later; the link still decides.
    app.create_user("acme", "ada-2", "ada@contoso.example")
        .await;
    let html = start_sso(&app, "acme", "ada@contoso.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("multiple user names"),
        "step 2 still refuses ambiguous emails before the IdP"
    );
}

#[tokio::test]
async fn a_slow_identity_provider_gets_the_spec_message_not_a_hang_or_500() {
    // A server that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let app = spawn_app_with(|env| {
        entra_env(env, &authority);
        env.insert("SSO_BROKER_IDP_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    // The consent proof times out: 502 with the SPEC text.
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    let res = approve_tenant(&app, "acme", CONTOSO).await;
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        messages::IDP_UNREACHABLE
    );
    // A sign-in to a tenant approved earlier: discovery times out.
    app.create_user("acme", "ada", "ada@contoso.example").await;
    app.api(
        Method::POST,
        "/api/v1/accounts/acme/connections",
        Some(json!({ "kind": "entra" })),
    )
    .await;
    approve_directly(&app, "acme", CONTOSO).await;
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    assert_eq!(res.status(), 502);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::IDP_UNREACHABLE));
    drop(silent);
}

#[tokio::test]
async fn a_used_authorization_code_replayed_into_a_new_flow_is_refused() {
    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let oid = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let first = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    assert_eq!(app.get(&broker_path(&first)).await.status(), 303);
    app.submit("/logout", "/logout", &[]).await;
    let used_code = url::Url::parse(&first)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    // A fresh flow in this browser, answered with the old code.
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    let fresh_state = url::Url::parse(&location(&res))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let replay = format!("/sso/oidc/callback?code={used_code}&state={fresh_state}");
    let res = app.get(&replay).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_INCORRECT_CREDENTIALS));
    assert_eq!(app.me().await.status(), 401);
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["reason"] == "SS0018"));
}

#[tokio::test]
async fn probing_accounts_and_emails_is_throttled_per_address() {
    let (app, _idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    for i in 0..30 {
        let res = start_sso(&app, "acme", &format!("guess{i}@contoso.example")).await;
        assert!(res
            .text()
            .await
            .unwrap()
            .contains(messages::EMAIL_NOT_CONFIGURED));
    }
    // Even a real user is now answered with the throttle message, until the window passes.
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains(messages::THROTTLED));
    app.clock.advance(Duration::minutes(16));
    assert_eq!(
        start_sso(&app, "acme", "ada@contoso.example")
            .await
            .status(),
        303
    );
}

/// A refused Entra callback counts like a refused SAML response (issue 11: one attempt recorder):
/// in the address's SSO budget, so thirty of them throttle `/login/sso`, and in the metric.
#[tokio::test]
async fn refused_entra_callbacks_count_in_the_sso_throttle_and_the_metric() {
    let (app, _idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    for _ in 0..30 {
        let res = start_sso(&app, "acme", "ada@contoso.example").await;
        assert_eq!(res.status(), 303);
        let callback = at_idp(&location(&res), Err(())).await;
        let res = app.get(&broker_path(&callback)).await;
        assert_eq!(res.status(), 401, "cancelled at the IdP");
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("sso_broker_sign_in_attempts_total{method=\"sso\",outcome=\"failure\"} 30"),
        "{text}"
    );
    let res = start_sso(&app, "acme", "ada@contoso.example").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains(messages::THROTTLED));
}
