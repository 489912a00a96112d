//! The demo portal (`sso-broker demo`, issue 12): registered idempotently as `demo-portal`, it
//! signs a user in through the OpenID Provider with `openidconnect`, shows the verified ID
//! token's claims, refuses a callback this browser did not start, and signs out through the
//! broker's `end_session_endpoint`.

use sso_broker::demo::portal;

use crate::helpers::{csrf_from, location, spawn_reachable_app, TestApp, PASSWORD};
use crate::oidc_flow::query_of;

/// Registers the portal twice (as two demo starts would) and serves the second registration.
async fn start_portal(app: &TestApp) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let first = portal::register(&app.state, &origin).await.unwrap();
    let second = portal::register(&app.state, &origin).await.unwrap();
    assert_eq!(first.client_id, second.client_id, "registered once");
    let clients = sso_broker::services::provider::clients::list(&app.state)
        .await
        .unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].redirect_uris, [format!("{origin}/callback")]);
    assert_eq!(clients[0].post_logout_redirect_uris, [format!("{origin}/")]);
    tokio::spawn(portal::serve(second, listener).unwrap());
    origin
}

async fn get(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.unwrap()
}

/// Signs `username` in at the portal: portal → broker → login form → broker → callback → portal.
async fn sign_in_at_portal(app: &TestApp, browser: &reqwest::Client, origin: &str, username: &str) {
    let res = get(browser, &format!("{origin}/login")).await;
    assert_eq!(res.status(), 303);
    let authorize = location(&res);
    assert!(authorize.starts_with(&format!("{}/oauth2/authorize?", app.address)));
    let request = query_of(&authorize);
    assert_eq!(request["code_challenge_method"], "S256");
    assert!(request.contains_key("nonce") && request.contains_key("state"));
    let res = get(browser, &authorize).await;
    let login = location(&res);
    let return_to = query_of(&login)["return_to"].clone();
    // An SSO user leaves the login page through "Log in with SSO": the authorization goes along.
    let html = app.get_html_from(browser, &login).await;
    let sso_link = format!(
        "href=\"/login/sso?return_to={}\"",
        url::form_urlencoded::byte_serialize(return_to.as_bytes())
            .collect::<String>()
            .replace("%2F", "/")
    );
    assert!(html.contains(&sso_link), "{sso_link} in {html}");
    let sso_page = app
        .get_html_from(
            browser,
            &format!(
                "/login/sso?return_to={}",
                &login["/login?return_to=".len()..]
            ),
        )
        .await;
    assert!(
        sso_page.contains(&format!("name=\"return_to\" value=\"{return_to}\"")),
        "{sso_page}"
    );
    let csrf = csrf_from(&app.get_html_from(browser, "/login/sso").await);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", username),
        ("password", PASSWORD),
        ("return_to", &return_to),
    ];
    let res = browser
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let res = get(browser, &app.url(&location(&res))).await;
    let callback = location(&res);
    assert!(
        callback.starts_with(&format!("{origin}/callback?")),
        "{callback}"
    );
    let res = get(browser, &callback).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn demo_portal_signs_in_through_the_op_shows_the_claims_and_signs_out_at_the_broker() {
    let (app, issuer) = spawn_reachable_app().await;
    app.create_account("acme").await;
    let user = app.create_user("acme", "ada", "ada@acme.example").await;
    let origin = start_portal(&app).await;
    let browser = app.new_browser();
    let html = get(&browser, &format!("{origin}/"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(">Sign in</a>"), "{html}");

    sign_in_at_portal(&app, &browser, &origin, "ada").await;
    let html = get(&browser, &format!("{origin}/"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("You are signed in"), "{html}");
    for claim in [
        user["id"].as_str().unwrap(),
        "<code class=\"wrap\">acme</code>",
        "<code class=\"wrap\">pwd</code>",
        "<code class=\"wrap\">no</code>",
        "<code>sid</code>",
    ] {
        assert!(html.contains(claim), "{claim} in {html}");
    }

    let csrf = csrf_from(&html);
    let res = browser
        .post(format!("{origin}/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let logout = location(&res);
    assert!(
        logout.starts_with(&format!("{issuer}/oauth2/logout?")),
        "{logout}"
    );
    let params = query_of(&logout);
    assert_eq!(params["post_logout_redirect_uri"], format!("{origin}/"));
    assert!(params["id_token_hint"].starts_with("eyJ"));
    let html = get(&browser, &format!("{origin}/"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(">Sign in</a>"), "signed out of the portal");
}

#[tokio::test]
async fn demo_portal_refuses_a_callback_its_browser_did_not_start() {
    let (app, _issuer) = spawn_reachable_app().await;
    let origin = start_portal(&app).await;
    let res = get(
        &app.new_browser(),
        &format!("{origin}/callback?code=x&state=y"),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("no sign-in in progress"));

    // A state other than the one this browser was sent with.
    let browser = app.new_browser();
    get(&browser, &format!("{origin}/login")).await;
    let res = get(&browser, &format!("{origin}/callback?code=x&state=forged")).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("state does not match"));
}
