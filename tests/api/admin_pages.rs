//! Roles on every admin page and the operator API (a `user` or `read_only` member, an anonymous
//! browser and another account's admin are all refused), switching the active account among
//! memberships without signing in again (SPEC §3.7), and the audit-log page with filters.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{
    add_membership, add_user, csrf_from, invitation_link, location, signed_in_browser, spawn_app,
    TestApp, PASSWORD,
};

const ADMIN_PAGES: [&str; 6] = [
    "/admin/users",
    "/admin/sso",
    "/admin/entra",
    "/admin/saml",
    "/admin/domains",
    "/admin/audit",
];

/// Every admin form, with a field that would change something if it were accepted.
const ADMIN_POSTS: [(&str, &[(&str, &str)]); 9] = [
    (
        "/admin/users/invite",
        &[("email", "mal@acme.example"), ("role", "admin")],
    ),
    ("/admin/sso/enable", &[]),
    ("/admin/sso/enable/confirm", &[]),
    ("/admin/sso/policy", &[("enforced", "on")]),
    ("/admin/sso/disable/confirm", &[]),
    ("/admin/saml", &[("idp_metadata_xml", "<x/>")]),
    ("/admin/domains", &[("domain", "acme.example")]),
    ("/admin/domains/verify", &[("domain", "acme.example")]),
    ("/admin/domains/remove", &[("domain", "acme.example")]),
];

async fn sso_enabled(app: &TestApp, account: &str) -> bool {
    let res = app
        .api(
            Method::GET,
            &format!("/api/v1/accounts/{account}/sso"),
            None,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    body["enabled"] == true
}

#[tokio::test]
async fn admin_pages_refuse_anonymous_users_and_read_only_members() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    add_user(&app, "acme", "uma", "user").await;
    add_user(&app, "acme", "rory", "read_only").await;
    let anonymous = app.new_browser();
    for page in ADMIN_PAGES {
        let res = anonymous.get(app.url(page)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{page}");
        assert_eq!(location(&res), "/login", "{page}");
    }
    for name in ["uma", "rory"] {
        let browser = signed_in_browser(&app, name).await;
        for page in ADMIN_PAGES {
            let res = browser.get(app.url(page)).send().await.unwrap();
            assert_eq!(res.status(), 403, "{name} {page}");
        }
        // A form with a valid CSRF token is still refused.
        let csrf = csrf_from(&app.get_html_from(&browser, "/account/security").await);
        for (action, fields) in ADMIN_POSTS {
            let mut form = vec![("csrf_token", csrf.as_str())];
            form.extend_from_slice(fields);
            let res = browser
                .post(app.url(action))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403, "{name} {action}");
            let text = res.text().await.unwrap();
            assert!(
                text.contains("You do not have permission to do this."),
                "refused for the role, not the form: {name} {action}"
            );
        }
    }
    assert!(!sso_enabled(&app, "acme").await, "nothing changed");
    let res = app
        .api(Method::GET, "/api/v1/accounts/acme/domains", None)
        .await;
    let domains: Value = res.json().await.unwrap();
    assert_eq!(domains, serde_json::json!([]));
}

#[tokio::test]
async fn another_accounts_admin_only_ever_changes_their_own_account() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_account("globex").await;
    add_user(&app, "acme", "alan", "admin").await;
    add_user(&app, "globex", "gina", "admin").await;
    let gina = signed_in_browser(&app, "gina").await;
    let html = app.get_html_from(&gina, "/admin/sso").await;
    assert!(
        html.contains("<strong>globex</strong>"),
        "the page is globex's"
    );
    assert!(!html.contains("acme"));
    // Naming acme in a switch is refused: gina has no membership there.
    let csrf = csrf_from(&html);
    let res = gina
        .post(app.url("/account/switch"))
        .form(&[("csrf_token", csrf.as_str()), ("account", "acme")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = gina
        .post(app.url("/admin/sso/enable/confirm"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(sso_enabled(&app, "globex").await);
    assert!(!sso_enabled(&app, "acme").await, "acme is untouched");
    let audit = app_audit_page(&app, &gina, "").await;
    assert!(!audit.contains("user:alan"), "acme's events are not shown");
}

async fn app_audit_page(app: &TestApp, browser: &reqwest::Client, query: &str) -> String {
    app.get_html_from(browser, &format!("/admin/audit{query}"))
        .await
}

#[tokio::test]
async fn operator_api_calls_need_the_operator_token_not_a_session() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    add_user(&app, "acme", "alan", "admin").await;
    let admin = signed_in_browser(&app, "alan").await;
    let calls: [(Method, &str); 12] = [
        (Method::POST, "/api/v1/accounts"),
        (Method::POST, "/api/v1/accounts/acme/users"),
        (Method::POST, "/api/v1/accounts/acme/domains"),
        (Method::GET, "/api/v1/accounts/acme/domains"),
        (
            Method::POST,
            "/api/v1/accounts/acme/domains/acme.example/verify",
        ),
        (Method::PUT, "/api/v1/accounts/acme/sso"),
        (Method::GET, "/api/v1/accounts/acme/sso"),
        (Method::GET, "/api/v1/accounts/acme/audit"),
        (Method::POST, "/api/v1/accounts/acme/connections"),
        (Method::POST, "/api/v1/accounts/acme/entra/tenants"),
        (Method::GET, "/api/v1/accounts/acme/entra/tenants"),
        (Method::DELETE, "/api/v1/accounts/acme/users/alan/sessions"),
    ];
    for (method, path) in calls {
        for (who, client, token) in [
            ("anonymous", app.new_browser(), None),
            ("an admin's session", admin.clone(), None),
            ("a wrong token", app.new_browser(), Some("not-a-token")),
        ] {
            let mut req = client
                .request(method.clone(), app.url(path))
                .header("content-type", "application/json")
                .body("{}");
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{who}: {method} {path}");
        }
    }
    assert!(!sso_enabled(&app, "acme").await);
}

#[tokio::test]
async fn a_member_of_several_accounts_switches_without_signing_in_again() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    app.create_sub_account("acme-eu", "acme").await;
    app.create_account("acme-us").await;
    add_user(&app, "acme", "ada", "user").await;
    add_membership(&app, "ada", "acme-eu", "admin").await;
    add_membership(&app, "ada", "acme-us", "user").await;
    // acme-us enforces SSO: a password sign-in cannot carry into it.
    app.create_user("acme-us", "usher", "usher@acme-us.example")
        .await;
    let res = app
        .put_sso("acme-us", crate::helpers::sso_settings(true, true))
        .await;
    assert_eq!(res.status(), 200);

    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    let home = app.get_html("/").await;
    assert!(home.contains("Switch to acme-eu"), "{home}");
    let res = app
        .submit("/", "/account/switch", &[("account", "acme-eu")])
        .await;
    assert_eq!(location(&res), "/");
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme-eu");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["auth_method"], "password", "the same sign-in");
    assert_eq!(
        app.get("/admin/sso").await.status(),
        200,
        "admin in acme-eu"
    );
    let res = app
        .submit("/", "/account/switch", &[("account", "acme-us")])
        .await;
    assert_eq!(res.status(), 403);
    // SPEC §3.8: the account needs its own sign-in, offered prefilled.
    let html = res.text().await.unwrap();
    assert!(html.contains(&crate::helpers::escaped(
        sso_broker::domain::messages::OWN_SSO_REQUIRED
    )));
    assert!(
        html.replace("&#38;", "&")
            .contains("href=\"/login/sso?account=acme-us&email=ada%40acme.example\""),
        "{html}"
    );
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme-eu", "unchanged");
    let res = app
        .submit("/", "/account/switch", &[("account", "acme")])
        .await;
    assert_eq!(location(&res), "/");
    let me: Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme");
    assert_eq!(app.get("/admin/sso").await.status(), 403, "a user in acme");
}

#[tokio::test]
async fn the_audit_page_filters_by_action_outcome_and_actor() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    add_user(&app, "acme", "alan", "admin").await;
    add_user(&app, "acme", "uma", "user").await;
    let _ = app
        .sign_in_from(&app.new_browser(), "uma", "wrong password!", &[])
        .await;
    let admin = signed_in_browser(&app, "alan").await;
    let all = app_audit_page(&app, &admin, "").await;
    assert!(all.contains("user.create") && all.contains("login.password"));
    let failures = app_audit_page(&app, &admin, "?action=login.password&outcome=failure").await;
    assert!(failures.contains("wrong_password"), "{failures}");
    assert!(!failures.contains("user.create"));
    assert!(
        !failures.contains("<td>user:alan</td>"),
        "alan's success is filtered out"
    );
    let by_actor = app_audit_page(&app, &admin, "?actor=alan").await;
    assert!(by_actor.contains("user:alan"));
    assert!(!by_actor.contains("user:uma"));
    // LIKE wildcards in the filter are literal.
    let wildcard = app_audit_page(&app, &admin, "?actor=%25").await;
    assert!(wildcard.contains("No events match."), "{wildcard}");
}

#[tokio::test]
async fn an_admin_invites_a_user_who_sets_a_password_once() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    add_user(&app, "acme", "alan", "admin").await;
    assert_eq!(app.sign_in("alan", PASSWORD).await.status(), 303);
    let res = app
        .submit(
            "/admin/users",
            "/admin/users/invite",
            &[("email", "Nina@Acme.example"), ("role", "read_only")],
        )
        .await;
    assert_eq!(location(&res), "/admin/users?invited=nina%40acme.example");
    let html = app.get_html("/admin/users").await;
    let row = html
        .split("<tr>")
        .find(|r| r.contains("<td>nina@acme.example</td>"))
        .unwrap_or_default();
    assert!(
        row.contains("<td>read_only</td>") && row.contains("<span class=\"badge\">invited</span>"),
        "{html}"
    );
    // The same email again is refused on the page.
    let res = app
        .submit(
            "/admin/users",
            "/admin/users/invite",
            &[("email", "nina@acme.example"), ("role", "user")],
        )
        .await;
    assert_eq!(res.status(), 409);
    let link = invitation_link(&app, "nina@acme.example").await;
    let nina = app.new_browser();
    let page = app.get_html_from(&nina, &link).await;
    assert!(page.contains("Choose a password for <strong>nina@acme.example</strong>"));
    let csrf = csrf_from(&page);
    let res = nina
        .post(app.url(&link))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("new_password", "short"),
            ("confirm_password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "a weak password is refused");
    let res = nina
        .post(app.url(&link))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("new_password", "nina's new password"),
            ("confirm_password", "nina's new password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?invited=1");
    let res = app
        .sign_in_from(
            &app.new_browser(),
            "nina@acme.example",
            "nina's new password",
            &[],
        )
        .await;
    assert_eq!(res.status(), 303, "the invited user signs in");
    // The link works once.
    let res = nina.get(app.url(&link)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["action"] == "user.invite" && e["actor"] == "user:alan"));
}

#[tokio::test]
async fn on_an_sso_account_the_invitation_leads_to_log_in_with_sso() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    add_user(&app, "acme", "alan", "admin").await;
    app.enable_sso("acme").await;
    assert_eq!(app.sign_in("alan", PASSWORD).await.status(), 303);
    let res = app
        .submit(
            "/admin/users",
            "/admin/users/invite",
            &[("email", "sam@acme.example"), ("role", "user")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let link = invitation_link(&app, "sam@acme.example").await;
    let page = app.get_html_from(&app.new_browser(), &link).await;
    assert!(
        page.contains("/login/sso?account=acme&#38;email=sam%40acme.example"),
        "{page}"
    );
    assert!(
        !page.contains("new_password"),
        "no password on an SSO account"
    );
    let sso = app
        .get_html_from(
            &app.new_browser(),
            "/login/sso?account=acme&email=sam%40acme.example",
        )
        .await;
    assert!(
        sso.contains("value=\"sam@acme.example\""),
        "the SSO form is filled in"
    );
}

#[tokio::test]
async fn admin_notices_never_echo_text_from_the_link() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    add_user(&app, "acme", "alan", "admin").await;
    assert_eq!(app.sign_in("alan", PASSWORD).await.status(), 303);
    let bait = "wire-the-money-to-evil.example";
    for path in [
        format!("/admin/users?invited={bait}"),
        format!("/admin/entra?connected={bait}"),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert!(!html.contains(bait), "{path} echoes the query");
    }
    // A real invitation is still announced by name.
    let res = app
        .submit(
            "/admin/users",
            "/admin/users/invite",
            &[("email", "nina@acme.example"), ("role", "user")],
        )
        .await;
    let html = app.get_html(&location(&res)).await;
    assert!(html.contains("nina@acme.example is invited."));
}
