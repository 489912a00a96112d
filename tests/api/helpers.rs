//! `spawn_app()` and the helpers tests share.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use reqwest::header::LOCATION;
use serde_json::{json, Value};
use sso_broker::auth::totp::{self, TotpSecret};
use sso_broker::clock::ManualClock;
use sso_broker::config::Settings;
use sso_broker::services::admin::api_tokens;
use sso_broker::services::RequestMeta;
use sso_broker::{AppState, Application};

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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                let _ =
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
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
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap());
    let state = AppState::build(settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let api_token = api_tokens::create(&state, "tests", RequestMeta::cli())
        .await
        .unwrap();
    let app = Application::with_state(state.clone()).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
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
    }
}

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
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

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Fetches `page` for its CSRF token, then posts `form` (with the token) to `action`.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = csrf_from(&self.get_html(page).await);
        let mut fields: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_form(action, &fields).await
    }

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

    pub async fn create_account(&self, name: &str) -> Value {
        let res = self
            .api(
                reqwest::Method::POST,
                "/api/v1/accounts",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(res.status(), 201, "create account {name}");
        res.json().await.unwrap()
    }

    /// Replaces the SSO settings of `account` through the operator API; returns the response.
    pub async fn put_sso(&self, account: &str, settings: Value) -> reqwest::Response {
        self.api(
            reqwest::Method::PUT,
            &format!("/api/v1/accounts/{account}/sso"),
            Some(settings),
        )
        .await
    }

    /// Turns SSO on for `account` (not enforced, no JIT, no MFA requirement).
    pub async fn enable_sso(&self, account: &str) -> Value {
        let res = self.put_sso(account, sso_settings(true, false)).await;
        assert_eq!(res.status(), 200, "enable SSO for {account}");
        res.json().await.unwrap()
    }

    /// Creates `username` (role `user`) with `PASSWORD` in `account`.
    pub async fn create_user(&self, account: &str, username: &str, email: &str) -> Value {
        let body =
            json!({ "email": email, "username": username, "role": "user", "password": PASSWORD });
        let res = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/accounts/{account}/users"),
                Some(body),
            )
            .await;
        assert_eq!(res.status(), 201, "create user {username}");
        res.json().await.unwrap()
    }

    /// An account `acme` with user `ada` (password `PASSWORD`).
    pub async fn with_user(&self) {
        self.create_account("acme").await;
        self.create_user("acme", "ada", "ada@acme.example.com")
            .await;
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    pub async fn me(&self) -> reqwest::Response {
        self.get("/api/v1/me").await
    }

    /// Enrolls TOTP for the signed-in user; returns the secret and the recovery codes.
    pub async fn enroll_totp(&self) -> (TotpSecret, Vec<String>) {
        let html = self.get_html("/account/security").await;
        let start = html.find("otpauth://").expect("otpauth URI on the page");
        let uri = html[start..]
            .split('<')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#x3D;", "=");
        let parsed = url::Url::parse(&uri).unwrap();
        let secret = parsed
            .query_pairs()
            .find(|(k, _)| k == "secret")
            .unwrap()
            .1
            .to_string();
        let secret = TotpSecret::from_bytes(
            data_encoding::BASE32_NOPAD
                .decode(secret.as_bytes())
                .unwrap(),
        );
        let code = self.current_code(&secret);
        let res = self
            .submit(
                "/account/security",
                "/account/security/totp",
                &[("code", &code)],
            )
            .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        let codes = recovery_codes_in(&html);
        assert_eq!(codes.len(), 10, "ten recovery codes shown");
        (secret, codes)
    }

    pub fn current_code(&self, secret: &TotpSecret) -> String {
        secret.code_at_step(totp::step_at(
            sso_broker::clock::Clock::now(&self.clock).timestamp(),
        ))
    }

    pub async fn audit(&self, account: &str) -> Vec<Value> {
        let res = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/accounts/{account}/audit?limit=500"),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
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

    /// Signs `username` in from `browser` (another browser than `self.client`).
    pub async fn sign_in_from(
        &self,
        browser: &reqwest::Client,
        username: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get_html_from(browser, "/login").await;
        let csrf = csrf_from(&html);
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ];
        form.extend_from_slice(extra);
        browser
            .post(self.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// A second browser against the same server.
    pub fn new_browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap()
    }
}

/// The `xxxxx-xxxxx` codes listed on a page.
/// An SSO settings body with JIT off and no MFA requirement.
pub fn sso_settings(enabled: bool, enforced: bool) -> Value {
    json!({
        "enabled": enabled,
        "enforced": enforced,
        "allow_admin_password_login": false,
        "require_idp_mfa": false,
        "jit": { "enabled": false, "default_role": "user", "accounts": [] },
    })
}

/// `text` as askama escapes it in a page.
pub fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

pub fn recovery_codes_in(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .filter_map(|part| part.split("</code>").next())
        .filter(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        .map(str::to_string)
        .collect()
}

pub const ENTRA_CLIENT_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
pub const CONTOSO: &str = "11111111-2222-4333-8444-555555555555";
pub const FABRIKAM: &str = "99999999-8888-4777-8666-555555555555";

/// A broker whose Entra authority and Graph are a development IdP on its own loopback port,
/// with tenant Contoso (consented, user ada) and Fabrikam (no consent).
pub async fn spawn_entra_app() -> (TestApp, Arc<sso_broker::sso::devidp::DevIdp>) {
    use sso_broker::sso::devidp::{DevIdp, DevTenant, DevUser};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = Arc::new(DevIdp::new(&authority, ENTRA_CLIENT_ID, "dev-client-secret").unwrap());
    let user = |name: &str, domain: &str| DevUser {
        oid: uuid::Uuid::new_v4().to_string(),
        email: format!("{name}@{domain}"),
        name: name.to_string(),
        email_verified: true,
        wids: vec![],
    };
    idp.add_tenant(
        CONTOSO,
        DevTenant {
            display_name: "Contoso".into(),
            verified_domains: vec!["contoso.example".into()],
            consented: true,
            users: vec![user("ada", "contoso.example")],
            graph_id_override: None,
        },
    );
    idp.add_tenant(
        FABRIKAM,
        DevTenant {
            display_name: "Fabrikam".into(),
            verified_domains: vec!["fabrikam.example".into()],
            consented: false,
            users: vec![user("eve", "fabrikam.example")],
            graph_id_override: None,
        },
    );
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
    ));
    tokio::spawn(sso_broker::routes::devidp::serve(idp.clone(), clock, listener).unwrap());
    let app = spawn_app_with(|env| entra_env(env, &authority)).await;
    (app, idp)
}

pub fn entra_env(env: &mut HashMap<String, String>, authority: &str) {
    env.insert("SSO_BROKER_ENTRA_CLIENT_ID".into(), ENTRA_CLIENT_ID.into());
    env.insert(
        "SSO_BROKER_ENTRA_CLIENT_SECRET".into(),
        "dev-client-secret".into(),
    );
    env.insert("SSO_BROKER_ENTRA_AUTHORITY".into(), authority.into());
    env.insert("SSO_BROKER_GRAPH_URL".into(), authority.into());
    env.insert("SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP".into(), "1".into());
}

/// Answers a development-IdP page: posts the page URL's query parameters plus `extra` to it, as
/// its forms do. Returns where the IdP sends the browser next.
pub async fn post_idp_form(page_url: &str, extra: &[(&str, &str)]) -> String {
    let url = url::Url::parse(page_url).unwrap();
    let mut form: HashMap<String, String> = url.query_pairs().into_owned().collect();
    for (k, v) in extra {
        form.insert(k.to_string(), v.to_string());
    }
    let mut target = url.clone();
    target.set_query(None);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(target)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    location(&res)
}

/// The path and query of a URL on the broker's public URL (http://127.0.0.1:8080).
pub fn broker_path(url: &str) -> String {
    url.strip_prefix("http://127.0.0.1:8080")
        .unwrap_or_else(|| panic!("not a broker URL: {url}"))
        .to_string()
}

/// Records `tenant` as approved for `account` straight in the database (for peers that are not
/// Microsoft Graph, or IdPs that are down; the consent proof has its own tests).
pub async fn approve_directly(app: &TestApp, account: &str, tenant: &str) {
    let (account, tenant) = (account.to_string(), tenant.to_string());
    let now = sso_broker::clock::Clock::now_naive(&app.clock);
    app.state
        .db
        .run(move |conn| {
            let account = sso_broker::db::account::Account::find_by_name(conn, &account)?.unwrap();
            sso_broker::db::approved_tenant::ApprovedTenant {
                id: uuid::Uuid::new_v4().to_string(),
                account_id: account.id,
                tenant_id: tenant,
                display_name: "Contoso".into(),
                verified_domains: "[\"contoso.example\"]".into(),
                status: "approved".into(),
                approved_at: now,
                last_checked_at: now,
            }
            .upsert(conn)
        })
        .await
        .unwrap();
}
