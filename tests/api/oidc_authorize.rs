//! `/oauth2/authorize` (SPEC §7.2): every parameter and error, the sign-in it waits for and
//! resumes, `prompt`, `max_age`, the `account` parameter, the client's allow-list and §3.8.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{location, spawn_app, sso_settings, PASSWORD};
use crate::oidc_flow::{
    answer_of, authorize_path, pkce, query_of, register, sign_in_at, ISSUER, REDIRECT_URI,
};

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_a_page_never_a_redirect() {
    let app = spawn_app().await;
    let client = register(&app, true, &[]).await;
    let (_, challenge) = pkce();
    let unknown = crate::oidc_flow::Client {
        id: "no-such-client".into(),
        secret: None,
    };
    for path in [
        authorize_path(&unknown, &challenge, &[]),
        authorize_path(
            &client,
            &challenge,
            &[("redirect_uri", "https://evil.example/cb")],
        ),
        authorize_path(
            &client,
            &challenge,
            &[("redirect_uri", "http://127.0.0.1:9999/cb/")],
        ),
        authorize_path(&client, &challenge, &[("redirect_uri", "")]),
        // Even with another error in the request, the bad redirect_uri decides.
        authorize_path(
            &client,
            &challenge,
            &[
                ("redirect_uri", "https://evil.example/cb"),
                ("response_type", "token"),
            ],
        ),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 400, "{path}");
        assert!(res.headers().get("location").is_none(), "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("cannot be used"), "{path}");
    }
}

#[tokio::test]
async fn every_other_error_goes_back_to_the_client_with_state_and_iss() {
    let app = spawn_app().await;
    let public = register(&app, true, &[]).await;
    let (_, challenge) = pkce();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "profile email")], "invalid_scope"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "bogus")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
        (vec![("response_mode", "fragment")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (vec![("prompt", "none")], "login_required"),
    ];
    for (extra, error) in cases {
        let path = authorize_path(&public, &challenge, &extra);
        let answer = answer_of(&app, &path).await;
        assert_eq!(answer["error"], error, "{extra:?}");
        assert!(!answer["error_description"].is_empty());
        assert_eq!(answer["state"], "st-1");
        assert_eq!(answer["iss"], ISSUER);
        assert!(!answer.contains_key("code"));
    }
}

#[tokio::test]
async fn a_password_sign_in_resumes_the_authorization_without_another_click() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let (_, challenge) = pkce();
    let res = app
        .get(&authorize_path(
            &client,
            &challenge,
            &[("login_hint", "ada")],
        ))
        .await;
    assert_eq!(res.status(), 303);
    let login = location(&res);
    let query = query_of(&login);
    assert!(login.starts_with("/login?"), "{login}");
    assert_eq!(query["username"], "ada");
    let return_to = query["return_to"].clone();
    assert!(
        return_to.starts_with("/oauth2/authorize/continue?request="),
        "{return_to}"
    );
    // The login page carries the continuation in its form.
    let page = app.get_html(&login).await;
    assert!(page.contains(&crate::helpers::escaped(&return_to)) || page.contains(&return_to));
    let next = sign_in_at(&app, &login, "ada").await;
    assert_eq!(next, return_to);
    let answer = answer_of(&app, &next).await;
    assert_eq!(answer["state"], "st-1");
    assert_eq!(answer["iss"], ISSUER);
    assert!(answer["code"].len() >= 40);
    // The stored request was answered: it cannot be resumed again.
    let again = app.get(&next).await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn prompt_none_answers_with_a_code_when_signed_in() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    app.sign_in("ada", PASSWORD).await;
    let (_, challenge) = pkce();
    let answer = answer_of(
        &app,
        &authorize_path(&client, &challenge, &[("prompt", "none")]),
    )
    .await;
    assert!(answer.contains_key("code"), "{answer:?}");
    // A confidential client may leave PKCE out.
    let answer = answer_of(
        &app,
        &authorize_path(&client, "", &[("code_challenge_method", "")]),
    )
    .await;
    assert!(answer.contains_key("code"), "{answer:?}");
}

#[tokio::test]
async fn prompt_login_and_max_age_need_a_sign_in_made_after_the_request() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    app.sign_in("ada", PASSWORD).await;
    let (_, challenge) = pkce();
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        app.clock.advance(chrono::Duration::seconds(5));
        let res = app.get(&authorize_path(&client, &challenge, &extra)).await;
        let login = location(&res);
        assert!(login.starts_with("/login?"), "{extra:?}: {login}");
        let return_to = query_of(&login)["return_to"].clone();
        // Coming back without signing in again is sent to sign in again, not given a code.
        let res = app.get(&return_to).await;
        assert!(location(&res).starts_with("/login?"), "{extra:?}");
        let next = sign_in_at(&app, &login, "ada").await;
        let answer = answer_of(&app, &next).await;
        assert!(answer.contains_key("code"), "{extra:?}: {answer:?}");
    }
    // max_age that the session meets needs no new sign-in; prompt=none with a stale one fails.
    let answer = answer_of(
        &app,
        &authorize_path(&client, &challenge, &[("max_age", "600")]),
    )
    .await;
    assert!(answer.contains_key("code"));
    app.clock.advance(chrono::Duration::seconds(30));
    let answer = answer_of(
        &app,
        &authorize_path(
            &client,
            &challenge,
            &[("max_age", "10"), ("prompt", "none")],
        ),
    )
    .await;
    assert_eq!(answer["error"], "login_required");
}

#[tokio::test]
async fn the_account_parameter_needs_a_membership_and_the_client_its_allow_list() {
    let app = spawn_app().await;
    app.with_user().await;
    app.create_account("globex").await;
    app.create_account("initech").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts/globex/members",
            Some(json!({"username": "ada", "role": "user"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let any = register(&app, true, &[]).await;
    let only_globex = register(&app, true, &["globex"]).await;
    app.sign_in("ada", PASSWORD).await;
    let (_, challenge) = pkce();
    let answer = answer_of(
        &app,
        &authorize_path(&any, &challenge, &[("account", "initech")]),
    )
    .await;
    assert_eq!(answer["error"], "access_denied");
    let answer = answer_of(
        &app,
        &authorize_path(&any, &challenge, &[("account", "nowhere")]),
    )
    .await;
    assert_eq!(answer["error"], "access_denied");
    let answer = answer_of(
        &app,
        &authorize_path(&any, &challenge, &[("account", "globex")]),
    )
    .await;
    assert!(answer.contains_key("code"));
    // The active account stays acme.
    let me: serde_json::Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "acme");
    // The allow-list: acme (the active account) is not on it; globex is.
    let answer = answer_of(&app, &authorize_path(&only_globex, &challenge, &[])).await;
    assert_eq!(answer["error"], "access_denied");
    let answer = answer_of(
        &app,
        &authorize_path(&only_globex, &challenge, &[("account", "globex")]),
    )
    .await;
    assert!(answer.contains_key("code"));
}

#[tokio::test]
async fn an_account_that_would_not_admit_the_session_sends_the_user_to_its_own_idp() {
    let app = spawn_app().await;
    app.with_user().await;
    app.create_account("globex").await;
    app.api(
        Method::POST,
        "/api/v1/accounts/globex/members",
        Some(json!({"username": "ada", "role": "user"})),
    )
    .await;
    let res = app.put_sso("globex", sso_settings(true, true)).await;
    assert_eq!(res.status(), 200);
    let client = register(&app, true, &[]).await;
    app.sign_in("ada", PASSWORD).await;
    let (_, challenge) = pkce();
    let path = authorize_path(
        &client,
        &challenge,
        &[
            ("account", "globex"),
            ("login_hint", "ada@acme.example.com"),
        ],
    );
    let res = app.get(&path).await;
    let to = location(&res);
    assert!(to.starts_with("/login/sso?"), "{to}");
    let query = query_of(&to);
    assert_eq!(query["account"], "globex");
    assert_eq!(query["email"], "ada@acme.example.com");
    assert!(query["return_to"].starts_with("/oauth2/authorize/continue?request="));
    let answer = answer_of(
        &app,
        &authorize_path(
            &client,
            &challenge,
            &[("account", "globex"), ("prompt", "none")],
        ),
    )
    .await;
    assert_eq!(answer["error"], "login_required");
}

#[tokio::test]
async fn form_post_answers_with_a_self_submitting_form() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    app.sign_in("ada", PASSWORD).await;
    let (_, challenge) = pkce();
    let res = app
        .get(&authorize_path(
            &client,
            &challenge,
            &[("response_mode", "form_post")],
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "action=\"{}\"",
            crate::helpers::escaped(REDIRECT_URI)
        )) || html.contains(REDIRECT_URI)
    );
    assert!(html.contains("name=\"code\""));
    assert!(html.contains("name=\"state\" value=\"st-1\""));
    assert!(html.contains("name=\"iss\""));
    assert!(html.contains("<noscript>"));
    assert!(html.contains("document.forms[0].submit()"));
    assert!(!html.contains("https://"), "no CDN");
    // POST works like GET.
    let (_, challenge) = pkce();
    let res = app
        .post_form(
            "/oauth2/authorize",
            &[
                ("response_type", "code"),
                ("client_id", &client.id),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(REDIRECT_URI));
}

#[tokio::test]
async fn id_token_hint_must_be_ours_and_name_the_sessions_user() {
    let app = spawn_app().await;
    app.with_user().await;
    app.create_user("acme", "bob", "bob@acme.example.com").await;
    let client = register(&app, true, &[]).await;
    let ada = crate::oidc_userinfo::tokens_for(&app, &client, "openid").await;
    let hint = ada["id_token"].as_str().unwrap();
    // bob signs in in the same browser.
    let csrf = crate::helpers::csrf_from(&app.get_html("/logout").await);
    app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    crate::oidc_flow::code_for(&app, &client, "bob", &[]).await;
    let (_, challenge) = pkce();
    let with_hint = |extra: &[(&str, &str)]| {
        let mut params = vec![("id_token_hint", hint)];
        params.extend_from_slice(extra);
        authorize_path(&client, &challenge, &params)
    };
    let answer = answer_of(&app, &with_hint(&[("prompt", "none")])).await;
    assert_eq!(answer["error"], "login_required");
    assert_eq!(answer["state"], "st-1");
    // Without prompt=none the hinted user signs in.
    let res = app.get(&with_hint(&[])).await;
    let login = location(&res);
    assert!(login.starts_with("/login?"), "{login}");
    let next = sign_in_at(&app, &login, "ada").await;
    assert!(answer_of(&app, &next).await.contains_key("code"));
    // The hinted user's session passes, even after the hint expired.
    app.clock.advance(chrono::Duration::seconds(400));
    let answer = answer_of(&app, &with_hint(&[("prompt", "none")])).await;
    assert!(answer.contains_key("code"), "{answer:?}");
    // An altered hint, or an access token as hint, is an invalid request.
    let (rest, signature) = hint.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let altered = format!("{rest}.{flipped}{}", &signature[1..]);
    let access = ada["access_token"].as_str().unwrap();
    for bad in [altered.as_str(), access, "not-a-jwt"] {
        let path = authorize_path(&client, &challenge, &[("id_token_hint", bad)]);
        let answer = answer_of(&app, &path).await;
        assert_eq!(answer["error"], "invalid_request", "{bad}");
        assert_eq!(answer["iss"], ISSUER);
    }
}
