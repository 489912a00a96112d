//! The user lifecycle on the account admin's `/admin/users` (SPEC §3.7, §3.8): role, status,
//! sessions, membership, two-step verification and invitations, each action behind a
//! confirmation; the last active admin stays, and nobody but the account's admin may do any of
//! it. The same actions through the operator API are in `user_lifecycle.rs`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    add_user, audit_actions, csrf_from, invitation_link, invite_from, location, me_status, member,
    signed_in_browser, spawn_app, TestApp, PASSWORD,
};

/// Opens the confirmation of `action` for `username`, checks it names them, then confirms.
async fn confirm_and_apply(
    app: &TestApp,
    admin: &reqwest::Client,
    action: &str,
    query: &str,
    expect: &str,
) -> reqwest::Response {
    let res = admin
        .get(app.url(&format!("/admin/users/{action}?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{action} confirmation");
    let html = res.text().await.unwrap();
    assert!(html.contains(expect), "{action}: {html}");
    let csrf = csrf_from(&html);
    let mut form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    form.push(("csrf_token".into(), csrf));
    admin
        .post(app.url(&format!("/admin/users/{action}")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_changes_role_and_status_on_the_users_page_after_confirming() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    let alan = signed_in_browser(&app, "alan").await;
    let ada = signed_in_browser(&app, "ada").await;
    let list = app.get_html_from(&alan, "/admin/users").await;
    assert!(list.contains("action=\"/admin/users/disable\""), "{list}");

    let res = confirm_and_apply(
        &app,
        &alan,
        "role",
        "username=ada&role=read_only",
        "from user to read_only",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=role");
    assert_eq!(
        member(&app, "acme", "ada").await.unwrap()["role"],
        "read_only"
    );
    let page = app.get_html_from(&alan, "/admin/users?done=role").await;
    assert!(page.contains("The role is changed."));

    // The confirmation alone changes nothing.
    let res = alan
        .get(app.url("/admin/users/disable?username=ada"))
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("Disable ada?"));
    assert_eq!(
        member(&app, "acme", "ada").await.unwrap()["status"],
        "active"
    );
    let res = confirm_and_apply(
        &app,
        &alan,
        "disable",
        "username=ada",
        "can no longer sign in",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=disable");
    assert_eq!(
        member(&app, "acme", "ada").await.unwrap()["status"],
        "disabled"
    );
    assert_eq!(me_status(&app, &ada).await, 401);
    let res = confirm_and_apply(&app, &alan, "enable", "username=ada", "Enable ada?").await;
    assert_eq!(location(&res), "/admin/users?done=enable");
    assert_eq!(
        member(&app, "acme", "ada").await.unwrap()["status"],
        "active"
    );

    let ada = signed_in_browser(&app, "ada").await;
    let res = confirm_and_apply(
        &app,
        &alan,
        "end-sessions",
        "username=ada",
        "signed out everywhere",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=end-sessions");
    assert_eq!(me_status(&app, &ada).await, 401);

    let ada = signed_in_browser(&app, "ada").await;
    let res = confirm_and_apply(
        &app,
        &alan,
        "remove",
        "username=ada",
        "Remove ada from acme?",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=remove");
    assert!(member(&app, "acme", "ada").await.is_none());
    assert_eq!(me_status(&app, &ada).await, 401);

    let audit = audit_actions(&app.audit("acme").await);
    for action in [
        "user.role_change",
        "user.disable",
        "user.enable",
        "user.sessions_revoke",
        "membership.remove",
    ] {
        assert!(
            audit.contains(&format!("{action} user:alan")),
            "{action}: {audit:?}"
        );
    }
    // A notice comes from known codes only.
    let page = app
        .get_html_from(&alan, "/admin/users?done=%3Cb%3Ehi%3C%2Fb%3E")
        .await;
    assert!(!page.contains("hi</b>") && !page.contains("&lt;b&gt;"));
}

#[tokio::test]
async fn the_last_admin_rule_holds_on_the_users_page() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    let alan = signed_in_browser(&app, "alan").await;
    for (action, query) in [
        ("disable", "username=alan"),
        ("remove", "username=alan"),
        ("role", "username=alan&role=user"),
    ] {
        let res = confirm_and_apply(&app, &alan, action, query, "alan").await;
        assert_eq!(res.status(), 409, "{action}");
        let html = res.text().await.unwrap();
        assert!(html.contains("last active admin"), "{action}: {html}");
    }
    let me = member(&app, "acme", "alan").await.unwrap();
    assert_eq!(
        (me["status"].clone(), me["role"].clone()),
        (json!("active"), json!("admin"))
    );
}

#[tokio::test]
async fn an_admin_resets_two_step_verification_and_resends_an_invitation() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    // ada (in the app's own browser) turns on TOTP.
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    app.enroll_totp().await;
    assert_eq!(member(&app, "acme", "ada").await.unwrap()["totp"], true);
    let alan = signed_in_browser(&app, "alan").await;
    let res = confirm_and_apply(
        &app,
        &alan,
        "reset-two-step",
        "username=ada",
        "recovery codes stop working",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=reset-two-step");
    assert_eq!(member(&app, "acme", "ada").await.unwrap()["totp"], false);
    // ada signs in with the password alone now.
    let fresh = app.new_browser();
    let res = app.sign_in_from(&fresh, "ada", PASSWORD, &[]).await;
    assert_eq!(location(&res), "/");

    let res = invite_from(&app, &alan, "ivy@acme.example", "user").await;
    assert_eq!(res.status(), 303);
    let first = invitation_link(&app, "ivy@acme.example").await;
    let res = confirm_and_apply(
        &app,
        &alan,
        "resend-invitation",
        "username=ivy@acme.example",
        "The link sent before stops working.",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=resend-invitation");
    let second = invitation_link(&app, "ivy@acme.example").await;
    assert_ne!(first, second);
    let old = app.new_browser().get(app.url(&first)).send().await.unwrap();
    let old = old.text().await.unwrap();
    let new = app
        .new_browser()
        .get(app.url(&second))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
    let new = new.text().await.unwrap();
    assert!(new.contains("csrf_token"), "the new link works: {new}");
    assert!(!old.contains("csrf_token"), "the old link is spent: {old}");
    let audit = audit_actions(&app.audit("acme").await);
    assert!(audit.contains(&"user.totp_reset user:alan".to_string()));
    assert!(audit.contains(&"user.invite_resend user:alan".to_string()));
}

const ACTIONS: [(&str, &str); 7] = [
    ("role", "username=ada&role=admin"),
    ("disable", "username=ada"),
    ("enable", "username=ada"),
    ("remove", "username=ada"),
    ("resend-invitation", "username=ada"),
    ("end-sessions", "username=ada"),
    ("reset-two-step", "username=ada"),
];

#[tokio::test]
async fn user_actions_are_refused_to_anyone_but_the_accounts_admin() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    add_user(&app, "acme", "uma", "user").await;
    add_user(&app, "acme", "rory", "read_only").await;
    app.create_account("globex").await;
    add_user(&app, "globex", "gina", "admin").await;
    let ada = signed_in_browser(&app, "ada").await;

    let anonymous = app.new_browser();
    let csrf = csrf_from(&app.get_html_from(&anonymous, "/login").await);
    for (action, query) in ACTIONS {
        let res = anonymous
            .get(app.url(&format!("/admin/users/{action}?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login", "anonymous GET {action}");
        let mut form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        form.push(("csrf_token".into(), csrf.clone()));
        let res = anonymous
            .post(app.url(&format!("/admin/users/{action}")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login", "anonymous POST {action}");
    }
    for (name, expected) in [("uma", 403), ("rory", 403), ("gina", 404)] {
        let browser = signed_in_browser(&app, name).await;
        let csrf = csrf_from(&app.get_html_from(&browser, "/account/security").await);
        for (action, query) in ACTIONS {
            let res = browser
                .get(app.url(&format!("/admin/users/{action}?{query}")))
                .send()
                .await
                .unwrap();
            let got = res.status().as_u16();
            assert!(got == 403 || got == expected, "{name} GET {action}: {got}");
            let mut form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            form.push(("csrf_token".into(), csrf.clone()));
            let res = browser
                .post(app.url(&format!("/admin/users/{action}")))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), expected, "{name} POST {action}");
        }
    }
    let ada_now = member(&app, "acme", "ada").await.unwrap();
    assert_eq!(ada_now["status"], "active");
    assert_eq!(ada_now["role"], "user");
    assert_eq!(me_status(&app, &ada).await, 200, "ada is still signed in");
    let audit = audit_actions(&app.audit("acme").await);
    assert!(
        !audit.iter().any(|a| a.starts_with("user.disable")
            || a.starts_with("membership.remove")
            || a.starts_with("user.role_change")
            || a.starts_with("user.sessions_revoke")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_admin_does_not_change_a_member_whose_home_is_another_account() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    app.create_account("globex").await;
    add_user(&app, "globex", "gina", "admin").await;
    add_user(&app, "globex", "gus", "user").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/acme/members",
            Some(json!({"username": "gus", "role": "user"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let alan = signed_in_browser(&app, "alan").await;
    let csrf = csrf_from(&app.get_html_from(&alan, "/admin/users").await);
    for action in ["disable", "end-sessions", "reset-two-step"] {
        let res = alan
            .post(app.url(&format!("/admin/users/{action}")))
            .form(&[("csrf_token", csrf.as_str()), ("username", "gus")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{action}");
    }
    assert_eq!(
        member(&app, "globex", "gus").await.unwrap()["status"],
        "active"
    );
    // The membership in acme is acme's to end.
    let res = confirm_and_apply(
        &app,
        &alan,
        "remove",
        "username=gus",
        "Remove gus from acme?",
    )
    .await;
    assert_eq!(location(&res), "/admin/users?done=remove");
    assert_eq!(
        member(&app, "globex", "gus").await.unwrap()["status"],
        "active"
    );
}
