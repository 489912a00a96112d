//! The OpenID Provider's discovery document, JWKS and signing keys (SPEC §7.2, §7.4): keys made
//! once for every instance, sealed at rest, rotated on demand and on schedule, published until
//! the tokens they signed have expired.

use std::sync::Arc;

use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sso_broker::services::provider::signing_keys;
use sso_broker::services::RequestMeta;
use sso_broker::AppState;

use crate::helpers::{run_cli, spawn_app, spawn_app_with, TestApp};

/// Another broker instance on the same database and installation key, with its own memory.
async fn another_instance(app: &TestApp) -> AppState {
    AppState::build((*app.state.settings).clone(), Arc::new(app.clock.clone()))
        .await
        .unwrap()
}

async fn jwks(app: &TestApp) -> Value {
    let res = app.get("/oauth2/jwks").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=60");
    res.json().await.unwrap()
}

fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Verifies `token` with the key of its `kid` in `set`, as a relying party would.
fn verify(set: &Value, token: &str) -> Result<Value, String> {
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|t| t.claims)
        .map_err(|e| e.to_string())
}

async fn sign(state: &AppState, sub: &str) -> String {
    signing_keys::sign(state, "JWT", &json!({ "sub": sub }))
        .await
        .unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn the_discovery_document_is_exactly_the_spec_s() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=3600");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();
    let issuer = "http://127.0.0.1:8080";
    assert_eq!(
        doc,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "jwks_uri": format!("{issuer}/oauth2/jwks"),
            "end_session_endpoint": format!("{issuer}/oauth2/logout"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "sid", "at_hash",
                "amr", "account", "roles", "idp", "mfa", "name", "preferred_username",
                "given_name", "family_name", "email", "email_verified"
            ],
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "authorization_response_iss_parameter_supported": true,
        })
    );
}

#[tokio::test]
async fn the_issuer_is_the_public_url_byte_for_byte_without_a_trailing_slash() {
    let app = spawn_app_with(|env| {
        env.insert(
            "SSO_BROKER_PUBLIC_URL".into(),
            "http://127.0.0.1:8080/sso/".into(),
        );
    })
    .await;
    let body = app
        .get("/.well-known/openid-configuration")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.starts_with(r#"{"issuer":"http://127.0.0.1:8080/sso","authorization_endpoint":"http://127.0.0.1:8080/sso/oauth2/authorize","#),
        "{body}"
    );
    assert!(body.contains(r#""jwks_uri":"http://127.0.0.1:8080/sso/oauth2/jwks""#));
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key_and_it_verifies_the_tokens_signed() {
    let app = spawn_app().await;
    assert!(
        signing_keys::list(&app.state).await.unwrap().is_empty(),
        "no key before first use"
    );
    let set = jwks(&app).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    let mut fields: Vec<&str> = key.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["alg", "e", "kid", "kty", "n", "use"],
        "public parts only"
    );
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(key["n"].as_str().unwrap().len(), 342, "a 2048-bit modulus");

    let token = signing_keys::sign(&app.state, "at+jwt", &json!({"sub": "u1", "aud": "c1"}))
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    assert_eq!(verify(&set, &token).unwrap()["sub"], "u1");
    // An altered payload does not verify.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = data_encoding::BASE64URL_NOPAD.encode(br#"{"sub":"admin","aud":"c1"}"#);
    assert!(verify(&set, &parts.join(".")).is_err());
}

#[tokio::test]
async fn the_private_key_is_sealed_with_the_installation_key() {
    let app = spawn_app().await;
    let token = sign(&app.state, "u1").await;
    let sealed = app
        .state
        .db
        .run(|conn| {
            Ok::<_, sso_broker::db::DbError>(
                sso_broker::db::oidc_signing_key::OidcSigningKey::current(conn)?.unwrap(),
            )
        })
        .await
        .unwrap()
        .private_key_sealed;
    assert!(sealed.starts_with("v1."), "sealed, not PEM or DER");
    let der = app.state.keys.secret_box.open(&sealed).unwrap();
    // It is the key that signed: the same DER signs what the JWKS verifies.
    let again = sso_broker::oidc_provider::signing::SigningKey::from_der(kid_of(&token), &der)
        .sign("JWT", &json!({"sub": "u2"}))
        .unwrap();
    assert_eq!(verify(&jwks(&app).await, &again).unwrap()["sub"], "u2");
    let other = sso_broker::crypto::InstallationKey::from_secret(&secrecy::SecretString::from(
        "another installation key of forty characters".to_string(),
    ))
    .keys();
    assert!(other.secret_box.open(&sealed).is_err());
}

#[tokio::test]
async fn starting_the_server_makes_the_first_key_and_a_restart_keeps_it() {
    let app = spawn_app().await;
    let mut settings = (*app.state.settings).clone();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    let server = sso_broker::Application::build(settings.clone(), Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let keys = signing_keys::list(server.state()).await.unwrap();
    assert_eq!(keys.len(), 1);
    let again = sso_broker::Application::build(settings, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let kept = signing_keys::list(again.state()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kid, keys[0].kid);
    assert_eq!(kid_of(&sign(&app.state, "u1").await), keys[0].kid);
}

#[tokio::test]
async fn a_rotated_key_stays_in_the_jwks_until_every_token_it_signed_has_expired() {
    // Access tokens outlive ID tokens here: the longer lifetime must decide.
    let app = spawn_app_with(|env| {
        env.insert("SSO_BROKER_OIDC_ACCESS_TOKEN_SECONDS".into(), "900".into());
        env.insert("SSO_BROKER_OIDC_ID_TOKEN_SECONDS".into(), "120".into());
    })
    .await;
    let old_token = sign(&app.state, "before").await;
    let old_kid = kid_of(&old_token);
    let rotated_at = sso_broker::clock::Clock::now_naive(&app.clock);
    let new = signing_keys::rotate(&app.state, "cli", RequestMeta::cli())
        .await
        .unwrap();
    assert_ne!(new.kid, old_kid);
    let new_token = sign(&app.state, "after").await;
    assert_eq!(
        kid_of(&new_token),
        new.kid,
        "the new key signs at once here"
    );
    let set = jwks(&app).await;
    assert_eq!(kids(&set), [new.kid.clone(), old_kid.clone()]);
    assert_eq!(verify(&set, &old_token).unwrap()["sub"], "before");
    assert_eq!(verify(&set, &new_token).unwrap()["sub"], "after");

    let keys = signing_keys::list(&app.state).await.unwrap();
    let old = keys.iter().find(|k| k.kid == old_kid).unwrap();
    assert_eq!(old.retired_at, Some(rotated_at));
    // 60 s for other instances to notice + 900 s token lifetime + 60 s verifier leeway.
    let until = rotated_at + Duration::seconds(1020);
    assert_eq!(old.published_until, Some(until));

    // The last token the old key could sign (900 s) is valid up to `until`.
    app.clock.advance(Duration::seconds(1019));
    let set = jwks(&app).await;
    assert_eq!(kids(&set), [new.kid.clone(), old_kid.clone()]);
    assert!(verify(&set, &old_token).is_ok());
    app.clock.advance(Duration::seconds(1));
    let set = jwks(&app).await;
    assert_eq!(
        kids(&set),
        [new.kid.as_str()],
        "gone once its tokens expired"
    );
    assert!(verify(&set, &old_token).is_err());
    assert!(verify(&set, &new_token).is_ok());

    // The next rotation deletes the key that left the JWKS: its private key is not kept.
    signing_keys::rotate(&app.state, "cli", RequestMeta::cli())
        .await
        .unwrap();
    let keys = signing_keys::list(&app.state).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.kid != old_kid));
}

#[tokio::test]
async fn the_signing_key_rotates_itself_after_the_rotation_period() {
    let app = spawn_app_with(|env| {
        env.insert("SSO_BROKER_OIDC_KEY_ROTATION_DAYS".into(), "7".into());
    })
    .await;
    let first = kid_of(&sign(&app.state, "u").await);
    app.clock.advance(Duration::days(7) - Duration::minutes(1));
    assert_eq!(kid_of(&sign(&app.state, "u").await), first, "not due yet");
    app.clock.advance(Duration::minutes(1));
    let second = kid_of(&sign(&app.state, "u").await);
    assert_ne!(second, first, "due after 7 days");
    assert_eq!(kids(&jwks(&app).await), [second.clone(), first.clone()]);
    let keys = signing_keys::list(&app.state).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].generation, keys[1].generation + 1);
    let events = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use sso_broker::db::schema::audit_events as a;
            Ok::<_, sso_broker::db::DbError>(
                a::table
                    .filter(a::action.like("oidc.signing_key.%"))
                    .order(a::at.asc())
                    .select((a::actor, a::action, a::reason.assume_not_null()))
                    .load::<(String, String, String)>(conn)?,
            )
        })
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            (
                "system".to_string(),
                "oidc.signing_key.create".to_string(),
                format!("first key: kid={first}")
            ),
            (
                "system".to_string(),
                "oidc.signing_key.rotate".to_string(),
                format!("scheduled: kid={second} replaces kid={first}")
            ),
        ]
    );
}

#[tokio::test]
async fn every_instance_signs_with_a_key_rotated_elsewhere_within_a_minute() {
    let app = spawn_app().await;
    let other = another_instance(&app).await;
    let first = kid_of(&sign(&app.state, "u").await);
    assert_eq!(
        kid_of(&sign(&other, "u").await),
        first,
        "one key for every instance"
    );
    let new = signing_keys::rotate(&other, "cli", RequestMeta::cli())
        .await
        .unwrap();
    assert_eq!(kid_of(&sign(&other, "u").await), new.kid);
    app.clock.advance(Duration::seconds(59));
    assert_eq!(
        kid_of(&sign(&app.state, "u").await),
        first,
        "not reloaded yet"
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(kid_of(&sign(&app.state, "u").await), new.kid);
}

/// Counts the stored keys and those that sign (not retired).
async fn key_counts(app: &TestApp) -> (usize, usize) {
    let keys = signing_keys::list(&app.state).await.unwrap();
    let signing = keys.iter().filter(|k| k.retired_at.is_none()).count();
    (keys.len(), signing)
}

#[tokio::test]
async fn instances_starting_or_rotating_together_make_one_signing_key() {
    let app = spawn_app_with(|env| {
        env.insert("SSO_BROKER_OIDC_KEY_ROTATION_DAYS".into(), "30".into());
    })
    .await;
    let mut instances = vec![app.state.clone()];
    for _ in 0..3 {
        instances.push(another_instance(&app).await);
    }
    // First start everywhere at once.
    let started =
        futures_util::future::join_all(instances.iter().map(signing_keys::ensure_current)).await;
    let kids: Vec<String> = started.into_iter().map(|k| k.unwrap().kid).collect();
    assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
    assert_eq!(key_counts(&app).await, (1, 1));

    // The key falls due everywhere at once.
    app.clock.advance(Duration::days(30));
    let signed = futures_util::future::join_all(instances.iter().map(|s| sign(s, "u"))).await;
    let rotated: Vec<String> = signed.iter().map(|t| kid_of(t)).collect();
    assert!(rotated.iter().all(|k| *k == rotated[0]), "{rotated:?}");
    assert_ne!(rotated[0], kids[0]);
    assert_eq!(key_counts(&app).await, (2, 1));
}

#[tokio::test]
async fn oidc_rotate_keys_replaces_the_signing_key() {
    let app = spawn_app().await;
    let first = kid_of(&sign(&app.state, "u").await);
    let out = run_cli(&app, &["oidc", "rotate-keys"], None, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let keys = signing_keys::list(&app.state).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0].kid, first);
    assert!(
        stdout.contains(&format!("key {} signs from now on", keys[0].kid)),
        "{stdout}"
    );
    assert_eq!(keys[1].kid, first);
    assert!(keys[1].retired_at.is_some());
    app.clock.advance(Duration::seconds(60));
    assert_eq!(kid_of(&sign(&app.state, "u").await), keys[0].kid);
    assert!(kids(&jwks(&app).await).contains(&keys[0].kid));
}

#[tokio::test]
async fn the_database_refuses_a_second_key_of_one_generation() {
    let app = spawn_app().await;
    sign(&app.state, "u").await;
    let result = app
        .state
        .db
        .run(|conn| {
            let mut twin =
                sso_broker::db::oidc_signing_key::OidcSigningKey::current(conn)?.unwrap();
            twin.kid = "another-kid".into();
            twin.insert(conn)
        })
        .await;
    assert!(result.unwrap_err().is_unique_violation());
}
