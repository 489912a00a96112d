//! `spawn_app()`: one broker per test, on its own database and port, with its frozen clock, an
//! operator API token and a browser (`reqwest` with a cookie store, no redirect following).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;
use sso_broker::clock::ManualClock;
use sso_broker::config::Settings;
use sso_broker::services::admin::api_tokens;
use sso_broker::services::RequestMeta;
use sso_broker::{AppState, Application};

/// The password of every user the fixtures create with one.
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: ManualClock,
    pub api_token: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    postgres: Option<(String, String)>,
    /// In `make test-scale`: the second instance and the nginx in front of both.
    pub scale: Option<(AppState, super::load_balancer::LoadBalancer)>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.scale = None;
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                let _ =
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The moment every test's clock starts at (and the development IdPs' clocks stay at).
pub fn test_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

/// A new database for one test: a temporary SQLite file, or a fresh PostgreSQL database.
fn test_database(data_dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("SSO_BROKER_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            sso_broker::db::prepare_tls();
            let name = format!("ssob_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin_url)
                .expect("PostgreSQL reachable at SSO_BROKER_TEST_DATABASE_URL");
            conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .unwrap();
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&format!("/{name}"));
            (url.to_string(), Some((admin_url, name)))
        }
        _ => (
            format!("sqlite://{}", data_dir.join("test.db").display()),
            None,
        ),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, with extra configuration.
pub async fn spawn_app_with(customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let data_dir =
        std::env::temp_dir().join(format!("sso-broker-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let (database_url, postgres) = test_database(&data_dir);
    let mut env: HashMap<String, String> = [
        (
            "SSO_BROKER_DATA_DIR",
            data_dir.to_string_lossy().to_string(),
        ),
        ("SSO_BROKER_DATABASE_URL", database_url.clone()),
        ("SSO_BROKER_BIND", "127.0.0.1:0".to_string()),
        ("SSO_BROKER_PUBLIC_URL", "http://127.0.0.1:8080".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Ok(redis) = std::env::var("SSO_BROKER_TEST_REDIS_URL") {
        if !redis.is_empty() {
            env.insert("SSO_BROKER_REDIS_URL".into(), redis);
            env.insert(
                "SSO_BROKER_REDIS_PREFIX".into(),
                format!("ssob-test-{}", uuid::Uuid::new_v4().simple()),
            );
        }
    }
    customize(&mut env);
    let settings = Settings::from_sources(&env).unwrap();
    let clock = ManualClock::new(test_start());
    let state = AppState::build(settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let api_token = api_tokens::create(&state, "tests", RequestMeta::cli())
        .await
        .unwrap();
    let app = Application::with_state(state.clone()).unwrap();
    let mut address = format!("http://127.0.0.1:{}", app.port());
    let first_port = app.port();
    tokio::spawn(app.run_until_stopped());
    let mut scale = None;
    if super::load_balancer::scale_mode() {
        // A second instance on the same settings; nginx alternates between the two.
        let second = AppState::build((*state.settings).clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let server = Application::with_state(second.clone()).unwrap();
        let ports = [first_port, server.port()];
        tokio::spawn(server.run_until_stopped());
        let lb = super::load_balancer::LoadBalancer::start(&data_dir, &ports);
        address = format!("http://127.0.0.1:{}", lb.port);
        scale = Some((second, lb));
    }
    let client = browser();
    use secrecy::ExposeSecret;
    TestApp {
        address,
        client,
        state,
        clock,
        api_token: api_token.expose_secret().to_string(),
        data_dir,
        database_url,
        postgres,
        scale,
    }
}

/// A broker whose public URL is the address it listens on, so that a relying party, which
/// checks the issuer byte for byte, talks to it directly. The clock starts at the real time: such a
/// peer judges `iat` and `exp` by it.
pub async fn spawn_reachable_app() -> (TestApp, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let public = issuer.clone();
    let app = spawn_app_with(move |env| {
        env.insert("SSO_BROKER_BIND".into(), format!("127.0.0.1:{port}"));
        env.insert("SSO_BROKER_PUBLIC_URL".into(), public);
    })
    .await;
    // The RP judges iat and exp by the real time; the broker must stamp tokens with it.
    app.clock.set(sso_broker::clock::Clock::now(
        &sso_broker::clock::SystemClock,
    ));
    (app, issuer)
}

/// A browser: a cookie store, and redirects are answers to assert, not to follow.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn get_html_from(&self, browser: &reqwest::Client, path: &str) -> String {
        browser
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A call to the operator API with the test's API token.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.api_token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// `GET /api/v1/me` in the test's own browser.
    pub async fn me(&self) -> reqwest::Response {
        self.get("/api/v1/me").await
    }

    /// `GET /api/v1/me` in the test's own browser, as JSON.
    pub async fn me_json(&self) -> Value {
        self.me().await.json().await.unwrap()
    }

    /// A second browser against the same server.
    pub fn new_browser(&self) -> reqwest::Client {
        browser()
    }
}
