//! Account SSO policies from the seed documents (SPEC §3.1, §3.4–§3.6): SSO off, enforcement
//! with the break-glass admin login, sessions kept, the reset-password tooltip, the enable step
//! (usernames → emails, duplicates, invitations), rollback with temporary passwords, the outage
//! switch, JIT provisioning and "require IdP MFA". SSO sign-ins go through the development SAML
//! IdP, which signs with a real key.

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{
    delivered_mails, location, outbox_rows, password_attempt, refused_with, spawn_app,
    spawn_saml_app, sso_settings, start_sso, verify_domain, TestApp, PASSWORD,
    SAML_ACCOUNT as ACCOUNT, SAML_EMAIL as EMAIL, SAML_IDP_SSO,
};

/// Every queued email, once delivered: `(to, subject, body)`.
async fn mails(app: &TestApp) -> Vec<(String, String, String)> {
    delivered_mails(app)
        .await
        .into_iter()
        .map(|m| (m.to, m.subject, m.body))
        .collect()
}

fn policy(enforced: bool, break_glass: bool, require_mfa: bool, jit: bool) -> Value {
    json!({
        "enabled": true,
        "enforced": enforced,
        "allow_admin_password_login": break_glass,
        "require_idp_mfa": require_mfa,
        "jit": { "enabled": jit, "default_role": "read_only", "accounts": [] },
    })
}

#[tokio::test]
async fn enforced_sso_refuses_password_login_keeps_sessions_and_allows_the_break_glass_admin() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_user_with_role("acme", "ada", "ada@acme.example", "user")
        .await;
    app.create_user_with_role("acme", "boss", "boss@acme.example", "admin")
        .await;
    // ada is signed in before enforcement.
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    let res = app.put_sso("acme", policy(true, false, false, false)).await;
    assert_eq!(res.status(), 200);
    let settings: Value = res.json().await.unwrap();
    assert_eq!(settings["enforced"], true);
    // "Active user sessions stay logged in until they expire."
    assert_eq!(app.me().await.status(), 200, "the session is kept");

    let (status, html) = password_attempt(&app, "ada@acme.example").await;
    assert_eq!(status, 403);
    assert!(html.contains(messages::PASSWORD_LOGIN_DISABLED), "{html}");
    assert!(
        html.contains("/login/sso"),
        "the page offers Log in with SSO"
    );
    // A wrong password learns nothing about enforcement.
    let res = app
        .sign_in_from(
            &app.new_browser(),
            "ada@acme.example",
            "not the password",
            &[],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::INVALID_CREDENTIALS));
    // The admin is refused too unless the account allows the admin login.
    let (status, _) = password_attempt(&app, "boss").await;
    assert_eq!(status, 403);
    let res = app.put_sso("acme", policy(true, true, false, false)).await;
    assert_eq!(res.status(), 200);
    let (status, _) = password_attempt(&app, "boss").await;
    assert_eq!(status, 303, "break-glass admin login");
    let (status, _) = password_attempt(&app, "ada@acme.example").await;
    assert_eq!(status, 403, "users stay refused");
    let reasons: Vec<String> = app
        .audit("acme")
        .await
        .into_iter()
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect();
    assert!(reasons.iter().any(|r| r == "sso_enforced"));
    assert!(reasons.iter().any(|r| r == "break_glass"));
}

#[tokio::test]
async fn enforced_sso_skips_local_two_factor() {
    let app = spawn_app().await;
    app.with_totp_user().await;
    app.submit("/logout", "/logout", &[]).await;
    app.put_sso("acme", policy(true, false, false, false)).await;
    let res = app.sign_in("ada@acme.example.com", PASSWORD).await;
    assert_eq!(res.status(), 403, "refused before any code is asked");
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::PASSWORD_LOGIN_DISABLED));
}

#[tokio::test]
async fn enforcing_needs_sso_on_and_jit_admins_are_refused() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let res = app.put_sso("acme", sso_settings(false, true)).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "sso_not_enabled");
    let mut admin_jit = policy(false, false, false, true);
    admin_jit["jit"]["default_role"] = json!("admin");
    let res = app.put_sso("acme", admin_jit).await;
    assert_eq!(res.status(), 422);
    app.create_account("globex").await;
    let mut foreign = policy(false, false, false, true);
    foreign["jit"]["accounts"] = json!(["globex"]);
    let res = app.put_sso("acme", foreign).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "jit_account_not_allowed");
    let res = app.put_sso("acme", json!({ "enabled": true })).await;
    assert_eq!(res.status(), 400, "the whole settings object is required");
    // Nothing was stored by the refused calls.
    let res = app
        .api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await;
    let now: Value = res.json().await.unwrap();
    assert_eq!(now["enabled"], false);
}

#[tokio::test]
async fn enabling_sso_renames_users_lists_duplicates_and_sends_invitations() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_user_with_role("acme", "boss", "boss@acme.example", "admin")
        .await;
    app.create_user_with_role("acme", "bob", "bob@acme.example", "user")
        .await;
    app.create_user_with_role("acme", "carol1", "carol@acme.example", "user")
        .await;
    app.create_user_with_role("acme", "carol2", "carol@acme.example", "read_only")
        .await;
    let res = app.put_sso("acme", sso_settings(true, false)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["enable"]["renamed"],
        json!([["bob", "bob@acme.example"]])
    );
    assert_eq!(
        body["enable"]["duplicates"],
        json!([{ "email": "carol@acme.example", "usernames": ["carol1", "carol2"] }])
    );
    // The admin keeps the username; bob signs in by email now.
    assert_eq!(app.sign_in("boss", PASSWORD).await.status(), 303);
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["username"], "boss");
    let sent = mails(&app).await;
    for to in [
        "boss@acme.example",
        "bob@acme.example",
        "carol@acme.example",
    ] {
        assert!(
            sent.iter()
                .any(|(t, s, b)| t == to && s.contains("Sign in to") && b.contains("/login/sso")),
            "invitation to {to}"
        );
    }
    let bob = sent
        .iter()
        .find(|(t, _, _)| t == "bob@acme.example")
        .unwrap();
    assert!(bob.2.contains("Your username is bob@acme.example."));
    // Turning it on again is not a second enable: nothing is renamed or sent again.
    let res = app.put_sso("acme", sso_settings(true, false)).await;
    let body: Value = res.json().await.unwrap();
    assert!(body.get("enable").is_none());
    assert_eq!(mails(&app).await.len(), sent.len());
}

#[tokio::test]
async fn the_security_page_disables_reset_password_with_the_tooltip_while_sso_is_on() {
    let app = spawn_app().await;
    app.with_user().await;
    app.enable_sso("acme").await;
    assert_eq!(
        app.sign_in("ada@acme.example.com", PASSWORD).await.status(),
        303
    );
    let html = app.get_html("/account/security").await;
    assert!(
        html.contains(&format!("title=\"{}\"", messages::RESET_PASSWORD_SSO)),
        "{html}"
    );
    assert!(html.contains("disabled"), "the button is disabled");
    assert!(
        !html.contains("action=\"/account/security/password\""),
        "no password form"
    );
    let res = app
        .submit(
            "/account/security",
            "/account/security/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 409, "the form is refused even when posted");
}

#[tokio::test]
async fn rollback_emails_temporary_passwords_that_must_be_changed_at_first_login() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_user_with_role("acme", "boss", "boss@acme.example", "admin")
        .await;
    app.enable_sso("acme").await;
    // An SSO-only user (no password), as SSO accounts have.
    let body = json!({ "email": "dora@acme.example", "role": "user" });
    let res = app
        .api(Method::POST, "/api/v1/accounts/acme/users", Some(body))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = app.put_sso("acme", sso_settings(false, false)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["enabled"], false);
    assert_eq!(
        body["rollback"]["temporary_passwords"],
        json!(["dora@acme.example"])
    );
    assert!(body["disabled_at"].is_string(), "kept for history");
    let sent = mails(&app).await;
    let (_, subject, text) = sent
        .iter()
        .find(|(to, s, _)| to == "dora@acme.example" && s.contains("temporary password"))
        .expect("a temporary password email")
        .clone();
    assert!(subject.contains("temporary password"));
    let temporary = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("temporary password: "))
        .unwrap()
        .to_string();
    // The stored rows never held the password in clear, and lost the body once sent.
    for row in outbox_rows(&app).await {
        assert!(!row.body_text.contains(&temporary));
        assert_eq!(row.body_text, "");
    }
    assert!(
        !sent
            .iter()
            .any(|(to, s, _)| to == "boss@acme.example" && s.contains("temporary")),
        "the admin keeps the own password"
    );
    // First sign-in: every page sends the user to choose a new password.
    let res = app.sign_in("dora@acme.example", &temporary).await;
    assert_eq!(res.status(), 303);
    let res = app.get("/").await;
    assert_eq!(location(&res), "/account/security?change_password=1");
    let html = app.get_html("/account/security?change_password=1").await;
    assert!(html.contains("Choose a new password to continue."));
    let res = app
        .submit(
            "/account/security",
            "/account/security/password",
            &[
                ("current_password", temporary.as_str()),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get("/").await.status(), 200, "the home page opens now");
}

#[tokio::test]
async fn sso_that_is_off_is_not_configured_even_with_a_connection() {
    let saml = spawn_saml_app(false).await;
    let res = saml.app.put_sso(ACCOUNT, sso_settings(false, false)).await;
    assert_eq!(res.status(), 200);
    let res = start_sso(&saml.app, ACCOUNT, EMAIL).await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_NOT_CONFIGURED));
}

/// Starts Log in with SSO and returns the refusal page's status and text.
async fn sso_refusal(app: &TestApp, account: &str, email: &str) -> (u16, String) {
    let res = start_sso(app, account, email).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn users_sharing_an_email_get_the_multiple_usernames_message() {
    let saml = spawn_saml_app(false).await;
    saml.app
        .create_user_with_role(ACCOUNT, "alice-two", EMAIL, "user")
        .await;
    let (status, html) = sso_refusal(&saml.app, ACCOUNT, EMAIL).await;
    assert_eq!(status, 422);
    assert!(html.contains(messages::MULTIPLE_USERNAMES), "{html}");
}

#[tokio::test]
async fn jit_creates_a_user_only_when_on_and_for_a_verified_domain() {
    let saml = spawn_saml_app(false).await;
    let newcomer = "nora@okta-co.example";
    // JIT off: the email is not configured.
    let (status, html) = sso_refusal(&saml.app, ACCOUNT, newcomer).await;
    assert_eq!(status, 422);
    assert!(html.contains(messages::EMAIL_NOT_CONFIGURED));
    // JIT on, but the domain is not verified: still refused.
    saml.app
        .put_sso(ACCOUNT, policy(false, false, false, true))
        .await;
    let (_, html) = sso_refusal(&saml.app, ACCOUNT, newcomer).await;
    assert!(html.contains(messages::EMAIL_NOT_CONFIGURED));
    // A verified domain: the sign-in creates the user with the default role.
    verify_domain(&saml.app, ACCOUNT, "okta-co.example").await;
    let (request_id, relay_state) = saml.start(newcomer).await;
    let res = saml
        .post(
            &saml.response(Some(&request_id), newcomer),
            Some(&relay_state),
        )
        .await;
    assert_eq!(res.status(), 303);
    let me: Value = saml.app.me().await.json().await.unwrap();
    assert_eq!(me["username"], newcomer);
    assert_eq!(me["role"], "read_only");
    let audit = saml.app.audit(ACCOUNT).await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "user.jit_create"
            && e["reason"].as_str().unwrap().contains(newcomer)));
    // Another domain is never provisioned, even when asserted by the IdP.
    let (_, html) = sso_refusal(&saml.app, ACCOUNT, "eve@elsewhere.example").await;
    assert!(html.contains(messages::EMAIL_NOT_CONFIGURED));
}

#[tokio::test]
async fn require_idp_mfa_refuses_a_sign_in_without_mfa_evidence() {
    let saml = spawn_saml_app(false).await;
    saml.app
        .put_sso(ACCOUNT, policy(false, false, true, false))
        .await;
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let mut spec = saml.response(Some(&request_id), EMAIL);
    spec.attributes.clear();
    let res = saml.post(&spec, Some(&relay_state)).await;
    saml.assert_refused(res, messages::IDP_MFA_MISSING, "idp_mfa_missing")
        .await;
    // With the IdP's MFA claim the same user signs in.
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let res = saml
        .post(&saml.response(Some(&request_id), EMAIL), Some(&relay_state))
        .await;
    assert_eq!(res.status(), 303);
    let me: Value = saml.app.me().await.json().await.unwrap();
    assert_eq!(me["mfa"], "yes");
}

#[tokio::test]
async fn a_refused_mfa_page_reads_like_the_other_sso_messages() {
    let saml = spawn_saml_app(false).await;
    saml.app
        .put_sso(ACCOUNT, policy(false, false, true, false))
        .await;
    let (request_id, relay_state) = saml.start(EMAIL).await;
    let mut spec = saml.response(Some(&request_id), EMAIL);
    spec.attributes = vec![(
        "http://schemas.microsoft.com/claims/authnmethodsreferences".into(),
        vec!["pwd".into()],
    )];
    let res = saml.post(&spec, Some(&relay_state)).await;
    refused_with(res, messages::IDP_MFA_MISSING).await;
}

#[tokio::test]
async fn an_admin_enables_and_enforces_sso_on_the_page_after_confirming_and_others_cannot() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_user_with_role("acme", "boss", "boss@acme.example", "admin")
        .await;
    app.create_user_with_role("acme", "bob", "bob@acme.example", "user")
        .await;
    app.create_user_with_role("acme", "rita", "rita@acme.example", "read_only")
        .await;
    // A user and a read-only user get 403; anonymous goes to the login page.
    let anonymous = app.new_browser();
    let res = anonymous.get(app.url("/admin/sso")).send().await.unwrap();
    assert_eq!(location(&res), "/login");
    for name in ["bob", "rita"] {
        let browser = app.new_browser();
        app.sign_in_from(&browser, name, PASSWORD, &[]).await;
        let res = browser.get(app.url("/admin/sso")).send().await.unwrap();
        assert_eq!(res.status(), 403, "{name}");
        let res = browser
            .post(app.url("/admin/sso/enable/confirm"))
            .form(&[("csrf_token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{name} cannot enable");
    }
    assert_eq!(app.sign_in("boss", PASSWORD).await.status(), 303);
    // The first step only shows what will change.
    let res = app.submit("/admin/sso", "/admin/sso/enable", &[]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Confirm and enable SSO"));
    assert!(
        html.contains("<code>bob</code> → <code>bob@acme.example</code>"),
        "{html}"
    );
    let now: Value = app
        .api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["enabled"], false, "nothing changed before confirming");
    let res = app
        .submit("/admin/sso", "/admin/sso/enable/confirm", &[])
        .await;
    assert_eq!(location(&res), "/admin/sso?saved=enabled");
    let res = app
        .submit(
            "/admin/sso",
            "/admin/sso/policy",
            &[
                ("enforced", "on"),
                ("allow_admin_password_login", "on"),
                ("jit_default_role", "user"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/admin/sso?saved=policy");
    let now: Value = app
        .api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["enabled"], true);
    assert_eq!(now["enforced"], true);
    assert_eq!(now["allow_admin_password_login"], true);
    let (status, _) = password_attempt(&app, "bob@acme.example").await;
    assert_eq!(status, 403);
    // A bad value is refused on the page and nothing is stored.
    let res = app
        .submit(
            "/admin/sso",
            "/admin/sso/policy",
            &[
                ("enforced", "on"),
                ("entra_auth_context", "c100"),
                ("jit_default_role", "user"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let now: Value = app
        .api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["allow_admin_password_login"], true);
    assert!(now["entra_auth_context"].is_null());
}

#[tokio::test]
async fn an_empty_account_name_is_found_by_the_verified_email_domain() {
    let saml = spawn_saml_app(false).await;
    // Not verified yet: nothing names the account.
    let res = start_sso(&saml.app, "", EMAIL).await;
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(messages::SSO_NOT_CONFIGURED));
    verify_domain(&saml.app, ACCOUNT, "okta-co.example").await;
    let res = start_sso(&saml.app, "", EMAIL).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(SAML_IDP_SSO), "to the IdP");
}
