//! Several instances on one database (issue 13): what one instance changes, the others see at
//! once, although each keeps sessions, profiles and operator tokens in memory. The channel is
//! PostgreSQL `LISTEN/NOTIFY` on the PostgreSQL runs (sessions in Redis or not) and the event
//! file beside the database on SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sso_broker::services::admin::api_tokens;
use sso_broker::services::RequestMeta;
use sso_broker::{AppState, Application};

use crate::helpers::{create_oidc_client, portal_client, OIDC_CLIENTS};
use crate::helpers::{spawn_app, TestApp, PASSWORD};

/// Another instance of `app`'s broker, listening on the invalidation channel (same settings, database, Redis and key), serving on a
/// port of its own. Browsers send their cookies to both: cookies do not care for ports, like
/// a load balancer in front of both.
struct Other {
    address: String,
    state: AppState,
}

async fn other_instance(app: &TestApp) -> Other {
    let mut settings = (*app.state.settings).clone();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    let state = AppState::build(settings, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let server = Application::with_state(state.clone()).unwrap();
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    let other = Other { address, state };
    other.wait_until_listening().await;
    other
}

/// Changes Ada's membership in acme through the first instance's operator API.
async fn patch_ada(app: &TestApp, change: serde_json::Value) {
    let res = app
        .api(
            Method::PATCH,
            "/api/v1/accounts/acme/users/ada",
            Some(change),
        )
        .await;
    assert_eq!(res.status(), 200);
}

impl Other {
    async fn status(&self, browser: &reqwest::Client, path: &str, bearer: Option<&str>) -> u16 {
        let mut req = browser.get(format!("{}{path}", self.address));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// Waits until the channel is up (at start, caches stay off until it is).
    async fn wait_until_listening(&self) {
        let health = self.state.caches.invalidator.health();
        within_a_second("the channel comes up", || async { health.is_up() }).await;
    }
}

/// Polls `check` until it holds and returns how long that took. Real time on purpose: it
/// measures how long a change takes to travel between instances. It fails past a second, far
/// below the caches' ten-second floor, so only the channel can have brought the change.
async fn within_a_second<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    loop {
        if check().await {
            let took = start.elapsed();
            eprintln!("{what}: {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not within a second: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn an_api_token_revoked_on_one_instance_is_refused_by_the_other() {
    let app = spawn_app().await;
    let other = other_instance(&app).await;
    let token = api_tokens::create(&app.state, "ops", RequestMeta::cli())
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    let token = token.expose_secret().to_string();
    let path = "/api/v1/accounts/nope/audit";
    let browser = app.new_browser();
    assert_eq!(other.status(&browser, path, Some(&token)).await, 404);
    assert_eq!(other.status(&browser, path, Some(&token)).await, 404);
    assert!(
        other.state.caches.api_tokens.entry_count() > 0,
        "the other instance answers from memory"
    );

    api_tokens::revoke(&app.state, "ops", RequestMeta::cli())
        .await
        .unwrap();
    within_a_second(
        "the revoked token is refused on the other instance",
        || async { other.status(&browser, path, Some(&token)).await == 401 },
    )
    .await;
}

#[tokio::test]
async fn a_user_disabled_on_one_instance_is_signed_out_on_the_other() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    let other = other_instance(&app).await;
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    // Signed in through the first instance, the browser is served by the second.
    assert_eq!(other.status(&app.client, "/api/v1/me", None).await, 200);
    assert_eq!(other.status(&app.client, "/api/v1/me", None).await, 200);
    assert!(other.state.caches.profiles.entry_count() > 0);

    patch_ada(&app, json!({"status": "disabled"})).await;
    within_a_second(
        "the disabled user is signed out on the other instance",
        || async { other.status(&app.client, "/api/v1/me", None).await == 401 },
    )
    .await;
}

#[tokio::test]
async fn a_role_changed_on_one_instance_shows_on_the_other() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    let other = other_instance(&app).await;
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    let role = || async {
        let me: serde_json::Value = app
            .client
            .get(format!("{}/api/v1/me", other.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        me["role"].as_str().unwrap().to_string()
    };
    assert_eq!(role().await, "user");
    patch_ada(&app, json!({"role": "read_only"})).await;
    within_a_second("the new role shows on the other instance", || async {
        role().await == "read_only"
    })
    .await;
}

#[tokio::test]
async fn signing_out_on_one_instance_ends_the_session_on_the_other() {
    let app = spawn_app().await;
    app.with_admin_and_user().await;
    let other = other_instance(&app).await;
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    // The cookie as a thief (or a tab that missed the sign-out) would still present it.
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sso_broker_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let bare = reqwest::Client::new();
    let me_with_cookie = || async {
        bare.get(format!("{}/api/v1/me", other.address))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(me_with_cookie().await, 200);
    assert_eq!(me_with_cookie().await, 200);
    if other.state.session_store.backend_name() == "database" {
        // Sessions in the database are kept in memory (those in Redis are read each time).
        assert!(other.state.session_store.cached_sessions() > 0);
    }

    let res = app.submit("/logout", "/logout", &[]).await;
    assert_eq!(res.status(), 303);
    within_a_second(
        "the signed-out session is refused on the other instance",
        || async { me_with_cookie().await == 401 },
    )
    .await;
}

#[tokio::test]
async fn a_client_secret_rotated_or_a_client_deleted_on_one_instance_is_refused_by_the_other() {
    use secrecy::SecretString;
    use sso_broker::services::provider::clients::{authenticate_client, ClientAuthError};

    let app = spawn_app().await;
    let other = other_instance(&app).await;
    let created = create_oidc_client(&app, portal_client("Portal")).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let old = SecretString::from(created["client_secret"].as_str().unwrap().to_string());
    let on_other = |secret: SecretString| {
        let (state, id) = (other.state.clone(), client_id.clone());
        async move { authenticate_client(&state, &id, Some(&secret)).await }
    };
    on_other(old.clone()).await.unwrap();
    on_other(old.clone()).await.unwrap();
    assert!(
        other.state.caches.oidc_clients.entry_count() > 0,
        "the other instance answers from memory"
    );

    let res = app
        .api(
            Method::POST,
            &format!("{OIDC_CLIENTS}/{client_id}/secret"),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let rotated: serde_json::Value = res.json().await.unwrap();
    let new = SecretString::from(rotated["client_secret"].as_str().unwrap().to_string());
    within_a_second("the old secret is refused on the other instance", || {
        let attempt = on_other(old.clone());
        async { matches!(attempt.await, Err(ClientAuthError::WrongSecret)) }
    })
    .await;
    on_other(new.clone()).await.unwrap();

    let res = app
        .api(Method::DELETE, &format!("{OIDC_CLIENTS}/{client_id}"), None)
        .await;
    assert_eq!(res.status(), 204);
    within_a_second(
        "the deleted client is unknown on the other instance",
        || {
            let attempt = on_other(new.clone());
            async { matches!(attempt.await, Err(ClientAuthError::UnknownClient)) }
        },
    )
    .await;
}

/// The Entra callback reads the tenant's approval and the account's connection through a cache.
/// A tenant removed on one instance while a user is at the IdP refuses that user's callback on
/// the other, although the other had the approval in memory from an earlier sign-in.
#[tokio::test]
async fn a_tenant_removed_on_one_instance_refuses_the_entra_callback_on_the_other() {
    use crate::helpers::{
        broker_path, contoso_account, flow_to_callback, location, oid_of, spawn_entra_app, CONTOSO,
    };
    use sso_broker::db::account::Account;
    use sso_broker::services::connections::entra_tenants;
    use sso_broker::sso::entra::TenantId;

    let (app, idp) = spawn_entra_app().await;
    contoso_account(&app).await;
    let other = other_instance(&app).await;
    let oid = oid_of(&idp, CONTOSO, "ada@contoso.example");
    let callback_on_other = |url: String| {
        let url = format!("{}{}", other.address, broker_path(&url));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };

    // A first sign-in (it makes the identity link) leaves the approval in memory.
    let first = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    let res = callback_on_other(first).await;
    assert_eq!(res.status(), 303, "signed in through the other instance");
    assert_eq!(location(&res), "/");
    assert!(
        other.state.caches.entra_sign_in_trust.entry_count() > 0,
        "the other instance keeps the approval in memory"
    );

    let second = flow_to_callback(&app, "ada@contoso.example", &oid).await;
    entra_tenants::remove_tenant(
        &app.state,
        "acme".into(),
        CONTOSO,
        "operator".into(),
        RequestMeta::cli(),
    )
    .await
    .unwrap();
    let account_id = other
        .state
        .db
        .run(|conn| Account::find_by_name(conn, "acme"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let tenant = TenantId::parse(CONTOSO).unwrap();
    within_a_second("the other instance drops the approval", || async {
        entra_tenants::sign_in_trust(&other.state, &account_id, &tenant)
            .await
            .unwrap()
            .approved_domains
            .is_none()
    })
    .await;
    let res = callback_on_other(second).await;
    assert_eq!(res.status(), 401, "the removed tenant's token is refused");
    let audit = app.audit("acme").await;
    assert!(
        audit.iter().any(|e| e["action"] == "login.sso"
            && e["outcome"] == "failure"
            && e["reason"] == "SS0008"),
        "the refusal is audited with the tenant's code: {audit:?}"
    );
}
