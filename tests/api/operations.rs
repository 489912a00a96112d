//! Health, readiness, metrics, security headers, request ids (SPEC §6.5).

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn metrics_count_responses_and_sign_ins() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", "wrong password").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("sso_broker_http_responses_total{status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "sso_broker_sign_in_attempts_total{method=\"password\",outcome=\"failure\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_what_the_caches_answered() {
    let app = spawn_app().await;
    app.with_user().await;
    assert_eq!(
        app.sign_in("ada", crate::helpers::PASSWORD).await.status(),
        303
    );
    for _ in 0..3 {
        assert_eq!(app.me().await.status(), 200);
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let count = |cache: &str, result: &str| -> u64 {
        let key =
            format!("sso_broker_cache_lookups_total{{cache=\"{cache}\",result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("{key} missing: {text}"))
            .parse()
            .unwrap()
    };
    // The first /me reads the profile, the next two find it in memory.
    assert!(count("profiles", "miss") >= 1, "{text}");
    assert!(count("profiles", "hit") >= 2, "{text}");
    if app.state.session_store.backend_name() == "database" {
        assert!(count("sessions", "hit") >= 2, "{text}");
    }
    assert_eq!(count("validated_tokens", "hit"), 0);
}

#[tokio::test]
async fn metrics_require_the_metrics_token_when_one_is_set() {
    let app = spawn_app_with(|env| {
        env.insert(
            "SSO_BROKER_METRICS_TOKEN".into(),
            "metrics-scrape-token-0123456789".into(),
        );
    })
    .await;
    let scrape = |auth: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        async move { req.send().await.unwrap() }
    };
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some("Bearer metrics-scrape-token-012345678"),
        Some("Basic metrics-scrape-token-0123456789"),
        Some(format!("Bearer {}", app.api_token)).as_deref(),
    ] {
        let res = scrape(auth).await;
        assert_eq!(res.status(), 401, "{auth:?}");
        assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
        assert!(!res.text().await.unwrap().contains("sso_broker_"));
    }
    let res = scrape(Some("Bearer metrics-scrape-token-0123456789")).await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("sso_broker_http_responses_total"));
}

#[tokio::test]
async fn metrics_are_open_without_a_metrics_token() {
    let app = spawn_app().await;
    assert_eq!(app.get("/metrics").await.status(), 200);
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let res = app.get("/login").await;
    let h = res.headers();
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert_eq!(h.get("x-request-id").unwrap().len(), 32);
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS on plain http"
    );
}

#[tokio::test]
async fn error_pages_show_the_request_id() {
    let app = spawn_app().await;
    let res = app.get("/no-such-page").await;
    assert_eq!(res.status(), 404);
    let id = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(res.text().await.unwrap().contains(&id));
    let api = app.get("/api/v1/no-such-endpoint").await;
    assert_eq!(api.status(), 404);
    assert_eq!(
        api.json::<serde_json::Value>().await.unwrap()["error"],
        "not_found"
    );
}

#[tokio::test]
async fn stylesheet_is_served_locally() {
    let app = spawn_app().await;
    let res = app.get("/static/app.css").await;
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(!app.get_html("/login").await.contains("https://"), "no CDN");
}

#[tokio::test]
async fn log_in_with_sso_refuses_an_account_without_a_connection() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    for account in ["no-such-account", "acme"] {
        let res = app
            .submit(
                "/login/sso",
                "/login/sso",
                &[("account", account), ("email", "ada@acme.example.com")],
            )
            .await;
        let html = res.text().await.unwrap();
        assert!(
            html.contains(sso_broker::domain::messages::SSO_NOT_CONFIGURED),
            "{account}"
        );
    }
    // The account name is remembered for next time.
    assert!(app.get_html("/login/sso").await.contains("value=\"acme\""));
}

async fn audited_ip_of_a_failed_sign_in(app: &crate::helpers::TestApp) -> serde_json::Value {
    app.with_user().await;
    let html = app.get_html("/login").await;
    let csrf = crate::helpers::csrf_from(&html);
    app.client
        .post(app.url("/login"))
        .header("X-Forwarded-For", "198.51.100.23")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "ada"),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap();
    let events = app.audit("acme").await;
    events
        .iter()
        .find(|e| e["action"] == "login.password")
        .unwrap()["ip"]
        .clone()
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = spawn_app().await;
    assert_eq!(audited_ip_of_a_failed_sign_in(&app).await, "127.0.0.1");
}

#[tokio::test]
async fn a_trusted_proxy_passes_on_the_client_address() {
    let app = crate::helpers::spawn_app_with(|env| {
        env.insert("SSO_BROKER_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    })
    .await;
    assert_eq!(audited_ip_of_a_failed_sign_in(&app).await, "198.51.100.23");
}
