//! Enforcement scoped to the account's verified domains (SPEC §3.5, the Sinch seed's "users
//! logging in with credentials matching your nominated email domains will be forced to log in
//! using SSO only"): emails in a verified domain lose password login, the others keep it.

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::domain::messages;

use crate::helpers::{
    location, password_attempt, spawn_app, sso_settings, verify_domain, TestApp, PASSWORD,
};

const STAFF: &str = "ada@acme.example";
const CONTRACTOR: &str = "carl@contractor.example";

fn scoped(scope: Option<&str>) -> Value {
    let mut body = sso_settings(true, true);
    if let Some(scope) = scope {
        body["enforcement_scope"] = json!(scope);
    }
    body
}

async fn settings(app: &TestApp) -> Value {
    app.api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await
        .json()
        .await
        .unwrap()
}

/// `acme` with a verified `acme.example`, a staff user in it and a contractor outside it, and
/// an admin (outside the domain) signed in in the test's own browser.
async fn acme() -> TestApp {
    let app = spawn_app().await;
    app.create_account("acme").await;
    verify_domain(&app, "acme", "acme.example").await;
    app.create_user("acme", STAFF, STAFF).await;
    app.create_user("acme", CONTRACTOR, CONTRACTOR).await;
    app.create_user_with_role("acme", "it-admin", "it@partner.example", "admin")
        .await;
    assert_eq!(app.sign_in("it-admin", PASSWORD).await.status(), 303);
    app
}

#[tokio::test]
async fn domain_scoped_enforcement_refuses_only_emails_in_the_verified_domains() {
    let app = acme().await;
    let res = app.put_sso("acme", scoped(Some("domains"))).await;
    assert_eq!(res.status(), 200);
    let now: Value = res.json().await.unwrap();
    assert_eq!(now["enforced"], true);
    assert_eq!(now["enforcement_scope"], "domains");

    let (status, html) = password_attempt(&app, STAFF).await;
    assert_eq!(status, 403, "staff in acme.example: SSO only");
    assert!(html.contains(messages::PASSWORD_LOGIN_DISABLED), "{html}");
    let contractor = app.new_browser();
    let res = app
        .sign_in_from(&contractor, CONTRACTOR, PASSWORD, &[])
        .await;
    assert_eq!(
        res.status(),
        303,
        "a contractor outside the domains keeps the password"
    );
    // They keep password reset too: the IdP does not know them.
    let page = app.get_html_from(&contractor, "/account/security").await;
    assert!(!page.contains(messages::RESET_PASSWORD_SSO), "{page}");

    // Scope `all` (also what an omitted scope means: PUT replaces) reaches the contractor.
    let res = app.put_sso("acme", scoped(None)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(settings(&app).await["enforcement_scope"], "all");
    let (status, _) = password_attempt(&app, CONTRACTOR).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_unknown_enforcement_scope_is_refused_and_nothing_changes() {
    let app = acme().await;
    assert_eq!(
        app.put_sso("acme", scoped(Some("domains"))).await.status(),
        200
    );
    for bad in [json!("everyone"), json!("DOMAINS"), json!(7), json!(null)] {
        let mut body = scoped(None);
        body["enabled"] = json!(true);
        body["enforced"] = json!(false);
        body["enforcement_scope"] = bad.clone();
        let res = app.put_sso("acme", body).await;
        if bad.is_null() {
            // `null` is the omitted value: scope `all`.
            assert_eq!(res.status(), 200);
            assert_eq!(settings(&app).await["enforcement_scope"], "all");
            continue;
        }
        assert!(
            res.status() == 400 || res.status() == 422,
            "{bad}: {}",
            res.status()
        );
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        let now = settings(&app).await;
        assert_eq!(now["enforced"], true, "{bad}: nothing changed");
        assert_eq!(
            now["enforcement_scope"], "domains",
            "{bad}: nothing changed"
        );
    }
    let res = app.put_sso("acme", scoped(Some("everyone"))).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_enforcement_scope", "{body}");
}

#[tokio::test]
async fn the_admin_page_sets_the_enforcement_scope() {
    let app = acme().await;
    app.enable_sso("acme").await;
    let html = app.get_html("/admin/sso").await;
    assert!(
        html.contains("name=\"enforcement_scope\" value=\"domains\""),
        "{html}"
    );
    let res = app
        .submit(
            "/admin/sso",
            "/admin/sso/policy",
            &[
                ("enforced", "on"),
                ("enforcement_scope", "domains"),
                ("jit_default_role", "user"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/admin/sso?saved=policy");
    let now = settings(&app).await;
    assert_eq!(now["enforced"], true);
    assert_eq!(now["enforcement_scope"], "domains");
    assert_eq!(password_attempt(&app, STAFF).await.0, 403);
    assert_eq!(password_attempt(&app, CONTRACTOR).await.0, 303);
    let html = app.get_html("/admin/sso").await;
    assert!(
        html.contains("name=\"enforcement_scope\" value=\"domains\" checked"),
        "the page shows the saved scope"
    );
    // A forged value is refused on the page; the stored scope stays.
    let res = app
        .submit(
            "/admin/sso",
            "/admin/sso/policy",
            &[
                ("enforced", "on"),
                ("enforcement_scope", "nobody"),
                ("jit_default_role", "user"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(settings(&app).await["enforcement_scope"], "domains");
}
