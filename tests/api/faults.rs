//! Faults of what the broker depends on (issue 13): Redis going away and coming back, and
//! Microsoft unreachable when an instance starts. Each is reached through a TCP proxy the test
//! can cut (`helpers::CuttableProxy`), so the shared servers stay up for the other tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sso_broker::clock::{Clock, ManualClock};
use sso_broker::db::entra_key_set::EntraKeySet;
use sso_broker::sso::devidp::{DevIdp, DevTenant};
use sso_broker::{AppState, Application};

use crate::helpers::{
    approve_tenant, dev_user, entra_env, spawn_app_with, test_start, CuttableProxy, CONTOSO,
    ENTRA_CLIENT_ID, PASSWORD,
};

fn redis_under_test() -> Option<SocketAddr> {
    let url = std::env::var("SSO_BROKER_TEST_REDIS_URL").ok()?;
    let url = url::Url::parse(&url).ok()?;
    let host = url.host_str()?.to_string();
    let port = url.port().unwrap_or(6379);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()?
        .next()
}

#[tokio::test]
async fn redis_going_away_fails_closed_with_a_clear_answer_and_the_broker_recovers() {
    let Some(redis) = redis_under_test() else {
        eprintln!("skipped: SSO_BROKER_TEST_REDIS_URL is not set");
        return;
    };
    let proxy = CuttableProxy::start(redis).await;
    let url = format!("redis://{}", proxy.addr);
    let app = spawn_app_with(move |env| {
        env.insert("SSO_BROKER_REDIS_URL".into(), url);
    })
    .await;
    app.with_user().await;
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    assert_eq!(app.me().await.status(), 200);

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Signed-in requests fail closed: no answer from memory, no 500.
    let res = app.me().await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    eprintln!("/api/v1/me with Redis down: {status} {body}");
    assert_eq!(status, 503, "{body}");
    let res = app.get("/").await;
    let status = res.status().as_u16();
    let page = res.text().await.unwrap();
    assert_eq!(status, 503, "{page}");
    assert!(
        page.contains("Sign-in is temporarily unavailable"),
        "{page}"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);

    proxy.restore();
    // The connection manager reconnects on its own; the session was never lost.
    let mut back = false;
    for _ in 0..100 {
        if app.me().await.status() == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        back,
        "the broker serves the session again once Redis is back"
    );
}

/// A broker whose Entra authority is a development IdP reached through a cuttable proxy.
async fn entra_behind_a_proxy() -> (crate::helpers::TestApp, Arc<DevIdp>, CuttableProxy) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let proxy = CuttableProxy::start(target).await;
    let authority = format!("http://{}", proxy.addr);
    let idp = Arc::new(DevIdp::new(&authority, ENTRA_CLIENT_ID, "dev-client-secret").unwrap());
    idp.add_tenant(
        CONTOSO,
        DevTenant {
            display_name: "Contoso".into(),
            verified_domains: vec!["contoso.example".into()],
            consented: true,
            users: vec![],
            graph_id_override: None,
        },
    );
    let clock = Arc::new(ManualClock::new(test_start()));
    tokio::spawn(sso_broker::routes::devidp::serve(idp.clone(), clock, listener).unwrap());
    let app = spawn_app_with(|env| entra_env(env, &authority)).await;
    (app, idp, proxy)
}

async fn validate(address: &str, api_token: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{address}/api/v1/entra/validate"))
        .bearer_auth(api_token)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_instance_started_while_microsoft_is_unreachable_validates_with_the_kept_keys() {
    let (app, idp, proxy) = entra_behind_a_proxy().await;
    app.create_account("acme").await;
    assert_eq!(approve_tenant(&app, "acme", CONTOSO).await.status(), 201);
    let ada = dev_user(
        "0000aaaa-0000-4000-8000-000000000001",
        "ada@contoso.example",
    );
    let token = |n: i64| {
        idp.id_token(
            CONTOSO,
            &ada,
            None,
            app.clock.now() - chrono::Duration::seconds(n),
            json!({}),
        )
    };
    assert_eq!(validate(&app.address, &app.api_token, &token(1)).await, 200);

    proxy.cut();
    let other = AppState::build((*app.state.settings).clone(), Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let server = Application::with_state(other).unwrap();
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    // A token this new instance never saw, while the key set cannot be fetched.
    assert_eq!(
        validate(&address, &app.api_token, &token(2)).await,
        200,
        "the instance validates with the last good keys kept in the database"
    );
}

#[tokio::test]
async fn one_refresh_for_unknown_keys_per_tenant_every_five_minutes_across_instances() {
    let (app, _idp, _proxy) = entra_behind_a_proxy().await;
    let now = app.clock.now().naive_utc();
    let claim = |at: chrono::NaiveDateTime| {
        let db = app.state.db.clone();
        async move {
            db.run(move |conn| {
                EntraKeySet::claim_refresh(conn, CONTOSO, at, chrono::Duration::minutes(5))
            })
            .await
            .unwrap()
        }
    };
    assert!(claim(now).await, "a tenant never fetched is not limited");
    app.state
        .db
        .run(move |conn| EntraKeySet::save(conn, CONTOSO, r#"{"keys":[]}"#, now))
        .await
        .unwrap();
    assert!(claim(now).await, "the first refresh is claimed");
    // Any instance asking within five minutes is refused; after them, one is allowed again.
    assert!(!claim(now + chrono::Duration::minutes(4)).await);
    assert!(claim(now + chrono::Duration::minutes(5)).await);
    assert!(!claim(now + chrono::Duration::minutes(6)).await);
}

fn postgres_under_test() -> Option<SocketAddr> {
    let url = std::env::var("SSO_BROKER_TEST_DATABASE_URL").ok()?;
    let url = url::Url::parse(&url).ok()?;
    let host = url.host_str()?.to_string();
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), url.port().unwrap_or(5432)))
        .ok()?
        .next()
}

#[tokio::test]
async fn a_database_restart_in_the_middle_of_a_login_gets_a_clear_answer_and_loses_nothing() {
    let Some(postgres) = postgres_under_test() else {
        eprintln!("skipped: SSO_BROKER_TEST_DATABASE_URL is not set");
        return;
    };
    let proxy = CuttableProxy::start(postgres).await;
    let through_proxy = proxy.addr;
    let app = spawn_app_with(move |env| {
        // The test's own database, reached through the proxy.
        let mut url = url::Url::parse(&env["SSO_BROKER_DATABASE_URL"]).unwrap();
        url.set_ip_host(through_proxy.ip()).unwrap();
        url.set_port(Some(through_proxy.port())).unwrap();
        env.insert("SSO_BROKER_DATABASE_URL".into(), url.to_string());
    })
    .await;
    app.with_user().await;
    let sessions_before = sessions_of(&app).await;

    // Ada opens the login page; the database goes away as she submits her password.
    let browser = app.new_browser();
    let csrf = crate::helpers::csrf_from(&app.get_html_from(&browser, "/login").await);
    proxy.cut();
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "ada"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").cloned();
    let page = res.text().await.unwrap();
    assert_eq!(status, 503, "{page}");
    assert!(
        page.contains("Sign-in is temporarily unavailable. Please try again in a moment."),
        "{page}"
    );
    assert!(retry.is_some());
    assert_eq!(app.get("/readyz").await.status(), 503);

    // Back: nothing was half-written, and the next login works.
    proxy.restore();
    let mut back = false;
    for _ in 0..100 {
        if app.get("/readyz").await.status() == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "the broker reconnects once the database is back");
    assert_eq!(
        sessions_of(&app).await,
        sessions_before,
        "no session was left behind"
    );
    let res = app.sign_in_from(&browser, "ada", PASSWORD, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        browser
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Rows in the session table (the database session store of the PostgreSQL run).
async fn sessions_of(app: &crate::helpers::TestApp) -> i64 {
    use diesel::prelude::*;
    let mut conn = app.state.db.get().unwrap();
    sso_broker::db::schema::sessions::table
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

/// What the misbehaving IdP answers to every request.
const GARBAGE: [&str; 4] = [
    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 24\r\nconnection: close\r\n\r\n<html>maintenance</html>",
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{\"unexpected\": true}",
    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 40\r\nconnection: close\r\n\r\n{\"access_token\": \"eyJ",
];

const NO_KEYS: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"keys\":[]}";

/// An "identity provider" on loopback that answers every request with `GARBAGE[kind]`, except
/// its OpenID discovery document and key set (so that a sign-in gets as far as the code
/// exchange, where the garbage then meets it).
fn garbage_idp(kind: Arc<std::sync::atomic::AtomicUsize>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://{}", listener.local_addr().unwrap());
    // The development IdP's own discovery document for this authority.
    let twin = DevIdp::new(&authority, ENTRA_CLIENT_ID, "unused").unwrap();
    twin.add_tenant(
        CONTOSO,
        DevTenant {
            display_name: "Contoso".into(),
            verified_domains: vec![],
            consented: true,
            users: vec![],
            graph_id_override: None,
        },
    );
    let discovery = twin.discovery(CONTOSO).unwrap().to_string();
    let discovery = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{discovery}",
        discovery.len()
    );
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (kind, discovery) = (kind.clone(), discovery.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let read = stream.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..read]);
                let answer = if request.contains("/v2.0/.well-known/openid-configuration") {
                    discovery.as_str()
                } else if request.contains("/discovery/v2.0/keys") {
                    NO_KEYS
                } else {
                    GARBAGE[kind.load(std::sync::atomic::Ordering::SeqCst)]
                };
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    authority
}

#[tokio::test]
async fn an_identity_provider_answering_garbage_gets_the_spec_message_and_signs_nobody_in() {
    let kind = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let authority = garbage_idp(kind.clone());
    let app = spawn_app_with(|env| entra_env(env, &authority)).await;
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    app.create_user("acme", "ada", "ada@contoso.example").await;
    let res = app
        .api(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/connections",
            Some(json!({ "kind": "entra" })),
        )
        .await;
    assert_eq!(res.status(), 201);
    for garbage in 0..GARBAGE.len() {
        kind.store(garbage, std::sync::atomic::Ordering::SeqCst);
        // Approving a tenant asks Microsoft for an app token and Graph for the organization:
        // garbage is an IdP that cannot be reached, or a consent it did not prove (a well-formed
        // answer of the wrong shape); either way a 502 with its message, and nothing stored.
        let res = approve_tenant(&app, "acme", CONTOSO).await;
        assert_eq!(res.status(), 502, "garbage {garbage}");
        let body: serde_json::Value = res.json().await.unwrap();
        let code = body["error"].as_str().unwrap();
        assert!(
            ["idp_unreachable", "consent_not_proven"].contains(&code),
            "garbage {garbage}: {body}"
        );
        assert!(crate::helpers::entra_tenants(&app, "acme").await.is_empty());
    }
    crate::helpers::approve_directly(&app, "acme", CONTOSO).await;
    for garbage in 0..GARBAGE.len() {
        kind.store(garbage, std::sync::atomic::Ordering::SeqCst);
        let browser = app.new_browser();
        let html = app.get_html_from(&browser, "/login/sso").await;
        let csrf = crate::helpers::csrf_from(&html);
        let res = browser
            .post(app.url("/login/sso"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("account", "acme"),
                ("email", "ada@contoso.example"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "garbage {garbage}: sent to the IdP");
        let page = {
            // The IdP's answer comes back to the callback: a code only garbage can redeem.
            let authorize = url::Url::parse(&crate::helpers::location(&res)).unwrap();
            let state = authorize
                .query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            let callback = format!("/sso/oidc/callback?code=abc&state={state}");
            let res = browser.get(app.url(&callback)).send().await.unwrap();
            assert_eq!(res.status(), 502, "garbage {garbage} at the code exchange");
            res.text().await.unwrap()
        };
        assert!(
            page.contains(&crate::helpers::escaped(
                sso_broker::domain::messages::IDP_UNREACHABLE
            )),
            "garbage {garbage}: {page}"
        );
        let me = browser.get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(me.status(), 401, "nobody is signed in");
    }
}
