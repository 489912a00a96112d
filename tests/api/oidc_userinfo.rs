//! `GET|POST /oauth2/userinfo` (SPEC §7.2, §7.3): the claims of a live access token's scopes,
//! the token from the header or the form body, RFC 6750 challenges for everything else.

use serde_json::Value;
use sso_broker::sso::saml::claims as saml_claims;

use crate::helpers::{
    csrf_from, invitation_link, invite_from, location, sign_in_admin, spawn_app, spawn_saml_app,
    TestApp, PASSWORD, SAML_EMAIL,
};
use crate::oidc_flow::{code_for, redeem, register, verify, Client};

/// Signs ada in (if needed) and returns the token answer for `scope`.
pub async fn tokens_for(app: &TestApp, client: &Client, scope: &str) -> Value {
    let (code, verifier) = code_for(app, client, "ada", &[("scope", scope)]).await;
    let res = redeem(app, client, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `GET /oauth2/userinfo` with `Authorization: Bearer <access_token>`.
pub async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// Asserts the RFC 6750 challenge of a refused token.
pub fn assert_invalid_token(res: &reqwest::Response) {
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}

fn access_of(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

#[tokio::test]
async fn userinfo_gives_the_claims_of_each_scope_with_the_id_tokens_sub() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;

    let openid = tokens_for(&app, &client, "openid").await;
    let (id, _) = verify(&app, openid["id_token"].as_str().unwrap(), &client.id).await;
    let res = userinfo(&app, access_of(&openid)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let claims: Value = res.json().await.unwrap();
    assert_eq!(claims["sub"], id["sub"]);
    assert_eq!(claims.as_object().unwrap().len(), 1, "{claims}");

    let profile = tokens_for(&app, &client, "openid profile").await;
    let claims: Value = userinfo(&app, access_of(&profile))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["sub"], id["sub"]);
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["name"], "ada");
    assert!(claims.get("email").is_none());

    let email = tokens_for(&app, &client, "openid email").await;
    let claims: Value = userinfo(&app, access_of(&email))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["email"], "ada@acme.example.com");
    // A password user's email was vouched for by no IdP.
    assert_eq!(claims["email_verified"], false);
    assert!(claims.get("preferred_username").is_none());
}

#[tokio::test]
async fn userinfo_takes_the_token_from_the_header_or_the_form_body() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let token = access_of(&tokens);
    let url = app.url("/oauth2/userinfo");

    let header = app
        .client
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(header.status(), 200);
    let body = app
        .client
        .post(&url)
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    let sub: Value = body.json().await.unwrap();
    assert!(sub["sub"].is_string());

    // No token at all: a bare challenge.
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    // Both ways at once (RFC 6750 §2).
    let both = app
        .client
        .post(&url)
        .bearer_auth(token)
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    assert_eq!(
        both.headers()["www-authenticate"],
        "Bearer error=\"invalid_request\""
    );
    let garbage = app
        .client
        .post(&url)
        .form(&[("access_token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_invalid_token(&garbage);
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let tokens = tokens_for(&app, &client, "openid offline_access").await;
    app.clock.advance(chrono::Duration::seconds(299));
    assert_eq!(userinfo(&app, access_of(&tokens)).await.status(), 200);
    app.clock.advance(chrono::Duration::seconds(2));
    assert_invalid_token(&userinfo(&app, access_of(&tokens)).await);
}

#[tokio::test]
async fn an_access_token_with_an_altered_signature_or_payload_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, true, &[]).await;
    let tokens = tokens_for(&app, &client, "openid").await;
    let token = access_of(&tokens);
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let altered = format!("{rest}.{flipped}{}", &signature[1..]);
    assert_invalid_token(&userinfo(&app, &altered).await);
    // The ID token is signed by us too, but it is not an access token.
    assert_invalid_token(&userinfo(&app, tokens["id_token"].as_str().unwrap()).await);
    // Unsigned (alg none) with the same claims.
    let parts: Vec<&str> = token.split('.').collect();
    let none_header = data_encoding::BASE64URL_NOPAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_invalid_token(&userinfo(&app, &unsigned).await);
}

#[tokio::test]
async fn a_token_of_a_revoked_family_or_an_ended_session_is_refused() {
    let app = spawn_app().await;
    app.with_user().await;
    let client = register(&app, false, &[]).await;
    let online = tokens_for(&app, &client, "openid").await;
    let offline = tokens_for(&app, &client, "openid offline_access").await;
    let revoked = tokens_for(&app, &client, "openid offline_access").await;
    let res = crate::oidc_revoke_introspect::revoke(
        &app,
        &client,
        revoked["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_invalid_token(&userinfo(&app, access_of(&revoked)).await);
    assert_eq!(userinfo(&app, access_of(&online)).await.status(), 200);
    // Logout ends the session: its families without offline_access end with it.
    let csrf = crate::helpers::csrf_from(&app.get_html("/logout").await);
    app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_invalid_token(&userinfo(&app, access_of(&online)).await);
    assert_eq!(userinfo(&app, access_of(&offline)).await.status(), 200);
}

#[tokio::test]
async fn an_offline_token_stops_answering_when_its_user_leaves_the_account() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    app.create_account("globex").await;
    crate::helpers::add_user(&app, "globex", "gina", "admin").await;
    let res = app
        .api(
            reqwest::Method::POST,
            "/api/v1/accounts/globex/members",
            Some(serde_json::json!({"username": "ada", "role": "user"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let client = register(&app, false, &[]).await;
    let offline = tokens_for(&app, &client, "openid offline_access").await;
    assert_eq!(userinfo(&app, access_of(&offline)).await.status(), 200);
    // Removed from acme (the token's account), still a member of globex.
    let res = app
        .api(
            reqwest::Method::DELETE,
            "/api/v1/accounts/acme/users/ada",
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_invalid_token(&userinfo(&app, access_of(&offline)).await);
}

#[tokio::test]
async fn an_email_confirmed_through_an_invitation_is_verified() {
    let mut app = spawn_app().await;
    app.with_user().await;
    sign_in_admin(&app, "acme", "boss").await;
    let res = invite_from(&app, &app.client, "nina@acme.example.com", "user").await;
    assert_eq!(res.status(), 303);
    let link = invitation_link(&app, "nina@acme.example.com").await;
    // Nina's own browser from here on.
    app.client = app.new_browser();
    let csrf = csrf_from(&app.get_html(&link).await);
    let res = app
        .post_form(
            &link,
            &[
                ("csrf_token", csrf.as_str()),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&res), "/login?invited=1");
    let client = register(&app, true, &[]).await;
    let (code, verifier) = code_for(
        &app,
        &client,
        "nina@acme.example.com",
        &[("scope", "openid email")],
    )
    .await;
    let tokens: Value = redeem(&app, &client, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let claims: Value = userinfo(&app, access_of(&tokens))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["email"], "nina@acme.example.com");
    assert_eq!(claims["email_verified"], true, "{claims}");
}

#[tokio::test]
async fn the_profile_carries_the_names_the_users_idp_sent() {
    let saml = spawn_saml_app(false).await;
    let app = &saml.app;
    let names = |given: &str, family: &str| {
        vec![
            (saml_claims::GIVEN_NAME.to_string(), vec![given.to_string()]),
            (saml_claims::SURNAME.to_string(), vec![family.to_string()]),
        ]
    };
    let sign_in = |attributes: Vec<(String, Vec<String>)>| async {
        let (request_id, relay_state) = saml.start(SAML_EMAIL).await;
        let mut spec = saml.response(Some(&request_id), SAML_EMAIL);
        spec.attributes.extend(attributes);
        let res = saml.post(&spec, Some(&relay_state)).await;
        assert_eq!(res.status(), 303);
    };
    let client = register(app, true, &[]).await;
    let profile = || async {
        let (code, verifier) = code_for(
            app,
            &client,
            SAML_EMAIL,
            &[("scope", "openid profile email")],
        )
        .await;
        let tokens: Value = redeem(app, &client, &code, &verifier)
            .await
            .json()
            .await
            .unwrap();
        let claims: Value = userinfo(app, access_of(&tokens))
            .await
            .json()
            .await
            .unwrap();
        claims
    };

    sign_in(names("Alice", "  Liddell\u{7}")).await;
    let claims = profile().await;
    assert_eq!(claims["given_name"], "Alice");
    assert_eq!(
        claims["family_name"], "Liddell",
        "trimmed, control characters dropped"
    );
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["preferred_username"], SAML_EMAIL);
    // An IdP vouched for the email.
    assert_eq!(claims["email_verified"], true);

    // A sign-in without names keeps them; new names replace them.
    sign_in(Vec::new()).await;
    assert_eq!(profile().await["name"], "Alice Liddell");
    sign_in(names("Alice", "Hargreaves")).await;
    assert_eq!(profile().await["family_name"], "Hargreaves");
}
